//! Flashable SD/disk images for the Préau box (`preau-image`). One job per module:
//!
//! - `profile`: the build profile (board, Debian, sizes).
//! - `config`: `preau.toml`, validated here without depending on the box crate.
//! - `firstboot`: what the box does with `preau.toml` at every boot (hostapd, dnsmasq);
//!   `passphrase`: the hotspot passphrase the box makes when the file has none.
//! - `rootfs`: mmdebstrap and the files the image adds; `units`: their text.
//! - `boot`: the FAT boot partition's content; `partition`: the arithmetic and table.
//! - `image`: assembling partitions without loop mounts; `outputs`: xz/zstd, bmap,
//!   checksums, os_list.
//! - `personalize`: a new `preau.toml` into a built image; `cross`: the aarch64 build.
//! - `elf`, `tools`: binary architecture checks, host tools; `binfmt`: arm64 programs
//!   through QEMU on an x86 build machine, set up before a Pi build starts.

pub mod binfmt;
pub mod boot;
pub mod config;
pub mod cross;
pub mod elf;
pub mod firstboot;
pub mod image;
pub mod outputs;
pub mod partition;
pub mod passphrase;
pub mod personalize;
pub mod pipeline;
pub mod profile;
pub mod rootfs;
pub mod tools;
pub mod units;
