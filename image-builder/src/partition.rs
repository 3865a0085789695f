//! Partition arithmetic: where each partition starts and how big the image is, and the
//! `sfdisk` script that writes the table. Pure code, no I/O.
//!
//! Layout (both boards): 1 MiB of room for the table and alignment, then
//! boot (FAT), root (ext4), data (ext4, last so it can grow to fill the card), then 1 MiB
//! at the end for GPT's backup header. Every partition starts on a MiB boundary, which
//! suits SD cards' erase blocks.

use crate::profile::Board;
use anyhow::{Result, bail};

pub const MIB: u64 = 1024 * 1024;
pub const SECTOR: u64 = 512;

/// GPT type of an EFI system partition.
const GPT_ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// GPT type "Linux filesystem" (generic: systemd's auto-mounting stays out of the way).
const GPT_LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Offset in bytes from the start of the image.
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub board: Board,
    pub boot: Part,
    pub root: Part,
    pub data: Part,
    pub image_size: u64,
}

impl Layout {
    /// Lays out partitions of the given sizes (MiB). `image_mib`, when given, must hold
    /// them all; the data partition then takes whatever room is left.
    pub fn new(board: Board, boot_mib: u64, root_mib: u64, data_mib: u64, image_mib: Option<u64>) -> Result<Layout> {
        let needed_mib = 1 + boot_mib + root_mib + data_mib + 1;
        let image_mib = match image_mib {
            None => needed_mib,
            Some(m) if m < needed_mib => bail!(
                "the image is too small: size.image_mib = {m}, but boot {boot_mib} + root \
                 {root_mib} + data {data_mib} + 2 MiB of tables need {needed_mib}; set \
                 size.image_mib = {needed_mib} or more (or leave it out)"
            ),
            Some(m) => m,
        };
        let boot = Part { offset: MIB, size: boot_mib * MIB };
        let root = Part { offset: boot.offset + boot.size, size: root_mib * MIB };
        let data_offset = root.offset + root.size;
        let data = Part { offset: data_offset, size: (image_mib - 1) * MIB - data_offset };
        Ok(Layout { board, boot, root, data, image_size: image_mib * MIB })
    }

    /// The script for `sfdisk IMAGE`: GPT with an ESP on PCs; MBR on the Pi, whose
    /// firmware only reads a FAT partition of type 0x0c from an MBR.
    pub fn sfdisk_script(&self) -> String {
        let s = |p: Part| (p.offset / SECTOR, p.size / SECTOR);
        let (bs, bn) = s(self.boot);
        let (rs, rn) = s(self.root);
        let (ds, dn) = s(self.data);
        match self.board {
            Board::PcAmd64 => format!(
                "label: gpt\n\
                 label-id: 50524541-5500-4000-8000-000000000001\n\
                 start={bs}, size={bn}, type={GPT_ESP}, name=\"PREAU-BOOT\"\n\
                 start={rs}, size={rn}, type={GPT_LINUX}, name=\"preau-root\"\n\
                 start={ds}, size={dn}, type={GPT_LINUX}, name=\"preau-data\"\n"
            ),
            Board::RpiArm64 => format!(
                "label: dos\n\
                 label-id: 0x50524541\n\
                 start={bs}, size={bn}, type=c, bootable\n\
                 start={rs}, size={rn}, type=83\n\
                 start={ds}, size={dn}, type=83\n"
            ),
        }
    }
}

/// The root partition size (MiB) for a root filesystem holding `content_bytes` in
/// `files` files: ext4 needs room for inodes, the journal and reserved blocks, and the
/// box needs slack for logs and package updates.
pub fn root_mib_for(content_bytes: u64, files: u64) -> u64 {
    let blocks = content_bytes / 4096 + files; // a partly used block per file
    let bytes = blocks * 4096 + files * 256; // 256-byte inodes
    let with_overhead = bytes + bytes / 5 + 64 * MIB + 256 * MIB; // 20 %, journal, slack
    with_overhead.div_ceil(MIB)
}

/// Rounds up to the next power of two (QEMU's raspi SD card wants such a size).
pub fn next_power_of_two(bytes: u64) -> u64 {
    bytes.next_power_of_two()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_aligned_contiguous_and_fit() {
        let l = Layout::new(Board::PcAmd64, 256, 1000, 128, None).unwrap();
        assert_eq!(l.boot.offset, MIB);
        assert_eq!(l.root.offset, l.boot.offset + l.boot.size);
        assert_eq!(l.data.offset, l.root.offset + l.root.size);
        assert_eq!(l.data.size, 128 * MIB);
        assert_eq!(l.image_size, (1 + 256 + 1000 + 128 + 1) * MIB);
        // 1 MiB is left after the data partition for GPT's backup header (33 sectors).
        assert!(l.image_size - (l.data.offset + l.data.size) >= 33 * SECTOR);
        for p in [l.boot, l.root, l.data] {
            assert_eq!(p.offset % MIB, 0);
        }
    }

    #[test]
    fn a_larger_image_gives_the_rest_to_data() {
        let l = Layout::new(Board::RpiArm64, 256, 1000, 128, Some(2048)).unwrap();
        assert_eq!(l.image_size, 2048 * MIB);
        assert_eq!(l.data.offset + l.data.size, 2047 * MIB);
        assert_eq!(l.data.size, (2047 - 1 - 256 - 1000) * MIB);
    }

    #[test]
    fn too_small_image_names_the_size_needed() {
        let err = Layout::new(Board::PcAmd64, 256, 1000, 128, Some(1000)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("too small") && msg.contains("size.image_mib = 1386"), "{msg}");
    }

    #[test]
    fn sfdisk_scripts() {
        let l = Layout::new(Board::PcAmd64, 256, 1000, 128, None).unwrap();
        let s = l.sfdisk_script();
        assert!(s.starts_with("label: gpt\n"));
        assert!(s.contains("start=2048, size=524288, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"));
        assert!(s.contains(&format!("start={}, size=2048000", 2048 + 524288)));
        let l = Layout::new(Board::RpiArm64, 256, 1000, 128, None).unwrap();
        let s = l.sfdisk_script();
        assert!(s.starts_with("label: dos\n"));
        assert!(s.contains("start=2048, size=524288, type=c, bootable"));
    }

    #[test]
    fn root_size_has_room() {
        let mib = root_mib_for(600 * MIB, 30_000);
        assert!(mib > 600 + 256 && mib < 1400, "{mib}");
        assert_eq!(next_power_of_two(1500 * MIB), 2048 * MIB);
    }
}
