//! The files a build leaves next to the image: compressed copy, bmap, checksums and an
//! os_list entry for Raspberry Pi Imager's custom repository.

use crate::profile::{Board, Compression};
use crate::tools::run;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("{:x}", h.finalize()))
}

pub fn compress(img: &Path, how: Compression) -> Result<PathBuf> {
    let out = PathBuf::from(format!("{}.{}", img.display(), how.extension()));
    match how {
        Compression::Xz => run(Command::new("xz").args(["-T0", "-6", "-k", "-f", "-q"]).arg(img))?,
        Compression::Zstd => {
            run(Command::new("zstd").args(["-T0", "-3", "-q", "-f", "--sparse"]).arg(img).arg("-o").arg(&out))?
        }
    };
    Ok(out)
}

pub fn bmap(img: &Path) -> Result<PathBuf> {
    let out = img.with_extension("bmap");
    run(Command::new("bmaptool").arg("create").arg("-o").arg(&out).arg(img))?;
    Ok(out)
}

/// One entry of Raspberry Pi Imager's os_list (custom repository: `rpi-imager --repo FILE`).
pub struct OsEntry<'a> {
    pub board: Board,
    pub version: &'a str,
    pub url: String,
    pub extract_size: u64,
    pub extract_sha256: String,
    pub download_size: u64,
    pub download_sha256: String,
    pub release_date: String,
}

pub fn os_list(e: &OsEntry) -> serde_json::Value {
    // Only the boards the image runs on. Not the Pi 5: Debian 13's kernel (6.12) has a
    // minimal bcm2712-rpi-5-b.dtb (debug UART, SD card, GPIO): no PCIe, hence no RP1
    // (Ethernet, USB), and no Wi-Fi node; firmware-brcm80211 has no Pi 5 NVRAM file.
    // A Pi 5 would boot to a console with no network at all (README: "Boards").
    let devices: &[&str] = match e.board {
        Board::RpiArm64 => &["pi3-64bit", "pi4-64bit"],
        Board::PcAmd64 => &[],
    };
    serde_json::json!({
        "os_list": [{
            "name": format!("Préau {} ({})", e.version, e.board.name()),
            "description": "Offline classroom box: serves content packs over its own Wi-Fi. Edit preau.toml on the boot partition after writing.",
            "url": e.url,
            "icon": "",
            "release_date": e.release_date,
            "extract_size": e.extract_size,
            "extract_sha256": e.extract_sha256,
            "image_download_size": e.download_size,
            "image_download_sha256": e.download_sha256,
            "devices": devices,
        }]
    })
}

/// YYYY-MM-DD of a Unix time (civil-from-days, proleptic Gregorian).
pub fn date_of(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(1_795_000_000), "2026-11-18");
        assert_eq!(date_of(951_782_400), "2000-02-29");
    }

    #[test]
    fn os_list_has_what_the_imager_reads() {
        let v = os_list(&OsEntry {
            board: Board::RpiArm64,
            version: "1.0",
            url: "https://x/preau.img.xz".into(),
            extract_size: 10,
            extract_sha256: "aa".into(),
            download_size: 5,
            download_sha256: "bb".into(),
            release_date: "2026-11-28".into(),
        });
        let e = &v["os_list"][0];
        assert_eq!(e["url"], "https://x/preau.img.xz");
        assert_eq!(e["extract_size"], 10);
        assert_eq!(e["image_download_sha256"], "bb");
        assert_eq!(e["devices"], serde_json::json!(["pi3-64bit", "pi4-64bit"]));
    }

    #[test]
    fn sha256_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "abc").unwrap();
        assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
