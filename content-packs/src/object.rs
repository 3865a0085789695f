//! Stored objects: every object file is one zstd frame.
//!
//! Compressible content is stored zstd-compressed (window at most 8 MiB, so any browser
//! or Pi can decode it). When compression does not pay (JPEG, PNG, MP4, ZIP…) the bytes
//! are stored *raw*, wrapped in a zstd frame made only of raw blocks: 3 bytes of header
//! per 128 KiB plus a 13-byte frame header. Readers therefore decode every object the
//! same way, and an object's name is always the BLAKE3 of its decoded bytes.

use crate::hash::Hash;
use crate::limits::MAX_WINDOW_LOG;
use crate::{Error, Result};

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const RAW_BLOCK_MAX: usize = 128 * 1024;

/// How to store an object.
#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    /// zstd level (1..=22). Publishing uses a high level (19).
    pub level: i32,
    /// Try compression at all. False for media types that are already compressed.
    pub try_compress: bool,
}

/// Encodes `data` as a zstd frame, compressed when it saves at least 3 %.
pub fn encode(data: &[u8], enc: Encoding) -> Vec<u8> {
    if enc.try_compress && data.len() >= 64 {
        let compressed = compress(data, enc.level);
        if (compressed.len() as u64) * 100 < (data.len() as u64) * 97 {
            return compressed;
        }
    }
    raw_frame(data)
}

fn compress(data: &[u8], level: i32) -> Vec<u8> {
    use zstd::zstd_safe::CParameter;
    let mut c = zstd::bulk::Compressor::new(level).expect("valid zstd level");
    c.set_parameter(CParameter::WindowLog(window_log_for(data.len()))).expect("window log within zstd's range");
    c.set_parameter(CParameter::ChecksumFlag(false)).expect("checksum flag");
    c.compress(data).expect("in-memory zstd compression does not fail")
}

/// The smallest window that covers `len`, capped at 8 MiB (and at least 1 KiB).
fn window_log_for(len: usize) -> u32 {
    let needed = usize::BITS - len.max(1).leading_zeros();
    needed.clamp(10, MAX_WINDOW_LOG)
}

/// A zstd frame of raw blocks: the data as it is, readable by any zstd decoder.
pub fn raw_frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16 + 3 * (data.len() / RAW_BLOCK_MAX + 1));
    out.extend_from_slice(&ZSTD_MAGIC);
    // Frame header descriptor: 8-byte frame content size (flag 3), single segment
    // (no window descriptor: the window is the content size), no checksum, no dictionary.
    out.push(0b1110_0000);
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let mut blocks = data.chunks(RAW_BLOCK_MAX).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&block_header(0, true));
    }
    while let Some(block) = blocks.next() {
        out.extend_from_slice(&block_header(block.len(), blocks.peek().is_none()));
        out.extend_from_slice(block);
    }
    out
}

/// The length of [`raw_frame`] of `len` bytes: the frame header, then 3 bytes per raw
/// block of at most 128 KiB (one empty block for no data).
/// Whether stored bytes are a frame made by [`raw_frame`] (uncompressed).
pub fn is_raw_frame(stored: &[u8]) -> bool {
    stored.len() >= 5 && stored[..4] == ZSTD_MAGIC && stored[4] == 0b1110_0000
}

pub fn raw_frame_len(len: u64) -> u64 {
    13 + len + 3 * len.div_ceil(RAW_BLOCK_MAX as u64).max(1)
}

fn block_header(len: usize, last: bool) -> [u8; 3] {
    // Block type 0 (raw) in bits 1-2, the size in bits 3-23.
    let v = ((len as u32) << 3) | last as u32;
    [v as u8, (v >> 8) as u8, (v >> 16) as u8]
}

/// Decodes a stored object, refusing more than `expected_len` bytes of output, and checks
/// that the result has exactly that length and hashes to `hash`.
pub fn decode_verified(stored: &[u8], hash: &Hash, expected_len: u64) -> Result<Vec<u8>> {
    let data = decode_bounded(stored, expected_len).map_err(|detail| Error::CorruptObject { hash: *hash, detail })?;
    if data.len() as u64 != expected_len {
        return Err(Error::CorruptObject {
            hash: *hash,
            detail: format!("decodes to {} bytes, expected {expected_len}", data.len()),
        });
    }
    let got = Hash::of(&data);
    if got != *hash {
        return Err(Error::CorruptObject { hash: *hash, detail: format!("content hashes to {got}") });
    }
    Ok(data)
}

/// Decodes one zstd frame into at most `max_len` bytes.
pub fn decode_bounded(stored: &[u8], max_len: u64) -> std::result::Result<Vec<u8>, String> {
    if stored.len() < 4 || stored[..4] != ZSTD_MAGIC {
        return Err("not a zstd frame (bad magic)".into());
    }
    let cap = usize::try_from(max_len).map_err(|_| "expected length too large".to_string())?;
    // One decompression context per thread, reused: making one (ZSTD_createDCtx) cost
    // more than decoding a 64 KiB raw chunk, and a video streams a chunk per read.
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(|_| "zstd: decompressor in use".to_string())?;
        if slot.is_none() {
            let mut d = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
            // Raw frames declare a single segment as large as the content, which is within
            // the object bounds; compressed chunks never need more than the 8 MiB window.
            d.set_parameter(zstd::zstd_safe::DParameter::WindowLogMax(31)).map_err(|e| e.to_string())?;
            *slot = Some(d);
        }
        let d = slot.as_mut().expect("set above");
        let mut out = Vec::with_capacity(cap);
        // Each call decodes one whole frame from the start; the window limit stays set.
        d.decompress_to_buffer(stored, &mut out)
            .map_err(|e| format!("zstd: {e} (larger than {max_len} bytes or damaged)"))?;
        Ok(out)
    })
}

/// Whether a media type is worth trying to compress.
pub fn is_compressible(media_type: &str) -> bool {
    let already = [
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "video/",
        "audio/",
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/zstd",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/vnd.openxmlformats",
        "application/vnd.oasis.opendocument",
        "application/epub+zip",
        "font/woff",
        "font/woff2",
    ];
    !already.iter().any(|p| media_type.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_frames_are_recognised() {
        assert!(is_raw_frame(&raw_frame(b"abc")));
        assert!(!is_raw_frame(&zstd::encode_all(&b"abcabcabcabc"[..], 3).unwrap()));
        assert!(!is_raw_frame(b"PREA"));
    }

    #[test]
    fn raw_frame_len_is_exact() {
        for len in [0usize, 1, 1000, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, 300_000] {
            assert_eq!(raw_frame(&vec![7u8; len]).len() as u64, raw_frame_len(len as u64), "{len}");
        }
    }

    #[test]
    fn raw_frames_decode_with_real_zstd() {
        for len in [0usize, 1, 1000, RAW_BLOCK_MAX, RAW_BLOCK_MAX + 1, 3 * RAW_BLOCK_MAX + 7] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 3) as u8).collect();
            let frame = raw_frame(&data);
            assert_eq!(zstd::decode_all(&frame[..]).unwrap(), data, "len {len}");
            assert_eq!(decode_verified(&frame, &Hash::of(&data), len as u64).unwrap(), data);
        }
    }

    #[test]
    fn compresses_text_and_refuses_bombs_and_flips() {
        let text = "Le préau abrite la classe quand il pleut. ".repeat(2000).into_bytes();
        let stored = encode(&text, Encoding { level: 19, try_compress: true });
        assert!(stored.len() < text.len() / 10);
        let h = Hash::of(&text);
        assert_eq!(decode_verified(&stored, &h, text.len() as u64).unwrap(), text);
        // Asking for fewer bytes than the frame holds is refused, not truncated.
        assert!(decode_verified(&stored, &h, 100).is_err());
        let mut flipped = stored.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        assert!(decode_verified(&flipped, &h, text.len() as u64).is_err());
    }

    #[test]
    fn incompressible_stays_raw() {
        let mut data = vec![0u8; 50_000];
        getrandom::fill(&mut data).unwrap();
        let stored = encode(&data, Encoding { level: 3, try_compress: true });
        assert_eq!(stored.len(), data.len() + 13 + 3);
    }
}
