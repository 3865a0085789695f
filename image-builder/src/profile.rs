//! The build profile (`--profile PROFILE.toml`): which board, which Debian, which sizes.
//!
//! Unknown keys are errors, so a typo never silently builds the wrong image.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::Path;

/// The boards an image can be built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Board {
    /// Raspberry Pi 3, 4, 5 and Zero 2 W (64-bit), MBR + FAT firmware partition.
    #[serde(rename = "rpi-arm64")]
    RpiArm64,
    /// PCs with UEFI (and QEMU): GPT, an EFI system partition with systemd-boot.
    #[serde(rename = "pc-amd64")]
    PcAmd64,
}

impl Board {
    pub fn name(self) -> &'static str {
        match self {
            Board::RpiArm64 => "rpi-arm64",
            Board::PcAmd64 => "pc-amd64",
        }
    }
    /// Debian's architecture name.
    pub fn debian_arch(self) -> &'static str {
        match self {
            Board::RpiArm64 => "arm64",
            Board::PcAmd64 => "amd64",
        }
    }
    /// Rust's target triple for the `preau` binary.
    pub fn rust_target(self) -> &'static str {
        match self {
            Board::RpiArm64 => "aarch64-unknown-linux-gnu",
            Board::PcAmd64 => "x86_64-unknown-linux-gnu",
        }
    }
}

/// Output compression for the flashable copy of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `.img.xz`: what Raspberry Pi Imager expects in an os_list.
    #[default]
    Xz,
    /// `.img.zst`: much faster to make; bmaptool and `zstd -d` read it.
    Zstd,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Zstd => "zst",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub board: Board,
    /// Goes into the file names (`preau-<board>-<version>.img`); defaults to this tool's version.
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default)]
    pub compression: Compression,
    #[serde(default)]
    pub debian: Debian,
    #[serde(default)]
    pub size: Sizes,
    /// Enables SSH (key login only; host keys are made at first boot).
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Debian {
    pub suite: String,
    pub mirror: String,
    pub security_mirror: String,
    /// Extra Debian packages to install into the root filesystem.
    pub extra_packages: Vec<String>,
}

impl Default for Debian {
    fn default() -> Self {
        Debian {
            suite: "trixie".into(),
            mirror: "http://deb.debian.org/debian".into(),
            security_mirror: "http://deb.debian.org/debian-security".into(),
            extra_packages: Vec::new(),
        }
    }
}

/// Partition sizes in MiB. `root_mib` and `image_mib` are computed from the content when
/// absent; when given and too small, the build fails and names the size it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sizes {
    pub boot_mib: u64,
    pub root_mib: Option<u64>,
    /// The data partition as built; it grows to fill the card at first boot.
    pub data_mib: u64,
    pub image_mib: Option<u64>,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes { boot_mib: 256, root_mib: None, data_mib: 128, image_mib: None }
    }
}

fn default_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

impl Profile {
    pub fn parse(text: &str) -> Result<Profile> {
        let profile: Profile = toml::from_str(text)?;
        profile.validate()?;
        Ok(profile)
    }

    pub fn load(path: &Path) -> Result<Profile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the profile {}", path.display()))?;
        Profile::parse(&text).with_context(|| {
            format!(
                "invalid profile {} (keys: board, version, compression, ssh_authorized_keys, \
                 [debian] suite/mirror/security_mirror/extra_packages, \
                 [size] boot_mib/root_mib/data_mib/image_mib)",
                path.display()
            )
        })
    }

    fn validate(&self) -> Result<()> {
        let ok = |c: char| c.is_ascii_alphanumeric() || "._+-~".contains(c);
        if self.version.is_empty() || !self.version.chars().all(ok) {
            bail!("version {:?} must be non-empty and use only letters, digits and ._+-~", self.version);
        }
        // FAT32 needs at least 65525 clusters; 64 MiB with 512-byte clusters is safe and the
        // kernel, initrd and Pi firmware need about 60 MiB anyway.
        if self.size.boot_mib < 64 {
            bail!("size.boot_mib = {} is too small: use at least 64", self.size.boot_mib);
        }
        if self.size.data_mib < 16 {
            bail!("size.data_mib = {} is too small: use at least 16", self.size.data_mib);
        }
        for p in &self.debian.extra_packages {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || ".+-:".contains(c)) {
                bail!("debian.extra_packages: {p:?} is not a Debian package name");
            }
        }
        for k in &self.ssh_authorized_keys {
            if !k.starts_with("ssh-") && !k.starts_with("ecdsa-") || k.contains('\n') {
                bail!("ssh_authorized_keys: {k:?} is not one OpenSSH public key line");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_profile_takes_defaults() {
        let p = Profile::parse("board = \"pc-amd64\"").unwrap();
        assert_eq!(p.board, Board::PcAmd64);
        assert_eq!(p.compression, Compression::Xz);
        assert_eq!(p.debian.suite, "trixie");
        assert_eq!(p.size.boot_mib, 256);
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn full_profile() {
        let p = Profile::parse(
            r#"
            board = "rpi-arm64"
            version = "2026.11-1"
            compression = "zstd"
            ssh_authorized_keys = ["ssh-ed25519 AAAA tech@school"]
            [debian]
            suite = "bookworm"
            mirror = "http://deb.debian.org/debian"
            security_mirror = "http://deb.debian.org/debian-security"
            extra_packages = ["htop"]
            [size]
            boot_mib = 128
            root_mib = 1024
            data_mib = 64
            image_mib = 2048
            "#,
        )
        .unwrap();
        assert_eq!(p.board, Board::RpiArm64);
        assert_eq!(p.compression, Compression::Zstd);
        assert_eq!(p.size.root_mib, Some(1024));
        assert_eq!(p.debian.extra_packages, ["htop"]);
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Profile::parse("board = \"pc-amd64\"\nboard_size = 3").unwrap_err();
        assert!(format!("{err:#}").contains("board_size"), "{err:#}");
        let err = Profile::parse("board = \"pc-amd64\"\n[size]\nroot = 3").unwrap_err();
        assert!(format!("{err:#}").contains("root"), "{err:#}");
    }

    #[test]
    fn unknown_board_lists_the_known_ones() {
        let err = Profile::parse("board = \"rpi-armhf\"").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("rpi-arm64") && msg.contains("pc-amd64"), "{msg}");
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Profile::parse("board = \"pc-amd64\"\nversion = \"1 2\"").is_err());
        assert!(Profile::parse("board = \"pc-amd64\"\n[size]\nboot_mib = 8").is_err());
        let err = Profile::parse("board = \"pc-amd64\"\n[debian]\nextra_packages = [\"a;b\"]").unwrap_err();
        assert!(format!("{err:#}").contains("a;b"));
        assert!(Profile::parse("board = \"pc-amd64\"\nssh_authorized_keys = [\"hunter2\"]").is_err());
    }
}
