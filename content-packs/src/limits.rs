//! Bounds on every input the pack format reads. A reader refuses anything larger with
//! [`crate::Error::TooLarge`] instead of allocating without limit ("endless data").

/// FastCDC parameters: about 64 KiB chunks; files under `MIN_CHUNK_BYTES` stay whole.
pub const MIN_CHUNK_BYTES: u32 = 16 * 1024;
pub const AVG_CHUNK_BYTES: u32 = 64 * 1024;
pub const MAX_CHUNK_BYTES: u64 = 256 * 1024;

/// zstd window for stored chunks: at most 8 MiB, so that any browser or Pi can decode.
pub const MAX_WINDOW_LOG: u32 = 23;

pub const MAX_ROOT_BYTES: u64 = 64 * 1024;
pub const MAX_CATALOG_BYTES: u64 = 8 * 1024 * 1024;
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
pub const MAX_FILES_PER_PACK: usize = 200_000;
pub const MAX_PACKS_PER_CATALOG: usize = 20_000;
/// Default largest file accepted into a pack (4 GiB); `pack build --max-file-size` changes it.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
pub const MAX_PATH_BYTES: usize = 1024;
pub const MAX_PATH_COMPONENT_BYTES: usize = 255;
pub const MAX_ID_BYTES: usize = 64;
/// Largest stored object (a chunk, a manifest or a delta), compressed or not.
pub const MAX_OBJECT_BYTES: u64 = MAX_MANIFEST_BYTES + 1024;
/// Signatures and keys on one root or catalog.
pub const MAX_SIGNATURES: usize = 32;

/// How a bounded copy ended (see [`copy_bounded`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Copied {
    /// The reader ended: `total` bytes (with those the sink held before).
    Ended { total: u64 },
    /// The reader failed (a connection cut): what came before it was written.
    Cut { total: u64 },
    /// More than the bound came: the copy stopped at the first chunk past it.
    TooLarge,
}

/// Copies `from` into `to` in 64 KiB chunks, stopping as soon as the total (counting
/// `already`, the bytes the sink held before) passes `max`: a body is never trusted to
/// end where it says. `each` sees every chunk's length once written (rate limits,
/// counters). Errors are the sink's; a failing reader ends the copy as `Cut`. The one
/// bounded body reader of the downloads (`preau-sync`'s HTTP source, `preau-offline`).
pub fn copy_bounded(
    from: &mut dyn std::io::Read,
    to: &mut dyn std::io::Write,
    already: u64,
    max: u64,
    mut each: impl FnMut(usize),
) -> std::io::Result<Copied> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = already;
    loop {
        match from.read(&mut buf) {
            Ok(0) => return Ok(Copied::Ended { total }),
            Ok(n) => {
                total += n as u64;
                if total > max {
                    return Ok(Copied::TooLarge);
                }
                to.write_all(&buf[..n])?;
                each(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(Copied::Cut { total }),
        }
    }
}

#[cfg(test)]
mod copy_tests {
    use super::*;

    #[test]
    fn copy_stops_past_the_bound_and_reports_cuts() {
        let mut out = Vec::new();
        assert_eq!(copy_bounded(&mut &[1u8; 100][..], &mut out, 0, 100, |_| {}).unwrap(), Copied::Ended { total: 100 });
        assert_eq!(copy_bounded(&mut &[1u8; 101][..], &mut Vec::new(), 0, 100, |_| {}).unwrap(), Copied::TooLarge);
        assert_eq!(copy_bounded(&mut &[1u8; 10][..], &mut Vec::new(), 95, 100, |_| {}).unwrap(), Copied::TooLarge);
        struct Cut(bool);
        impl std::io::Read for Cut {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    Err(std::io::ErrorKind::ConnectionReset.into())
                } else {
                    b[..3].copy_from_slice(b"abc");
                    Ok(3)
                }
            }
        }
        let mut seen = 0;
        assert_eq!(copy_bounded(&mut Cut(false), &mut out, 0, 100, |n| seen += n).unwrap(), Copied::Cut { total: 3 });
        assert_eq!(seen, 3);
    }
}
