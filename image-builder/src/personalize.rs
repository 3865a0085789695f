//! `preau-image personalize IMAGE --config preau.toml`: puts a school's config on an
//! already built image by rewriting the file in its FAT partition with mtools. No
//! rebuild, no mount, no root.

use crate::config::BoxConfig;
use crate::tools::{self, run};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// The byte offset of the first partition (the FAT boot partition), from sfdisk.
pub fn boot_offset(image: &Path) -> Result<u64> {
    let out = run(Command::new("sfdisk").arg("--json").arg(image)).with_context(|| {
        format!("{} has no partition table: is it a preau image (not compressed)?", image.display())
    })?;
    let v: serde_json::Value = serde_json::from_str(&out)?;
    let table = &v["partitiontable"];
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    let start = table["partitions"][0]["start"].as_u64().context("the image has no first partition")?;
    Ok(start * sector)
}

pub fn personalize(image: &Path, config: &Path) -> Result<()> {
    tools::require(&[&tools::MCOPY, &tools::SFDISK])?;
    let name = image.to_string_lossy();
    if name.ends_with(".xz") || name.ends_with(".zst") {
        bail!("{name} is compressed: personalize the .img (or decompress it first: xz -dk / zstd -d)");
    }
    BoxConfig::load(config)?;
    let offset = boot_offset(image)?;
    let target = format!("{}@@{offset}", image.display());
    let mut c = tools::mtools("mcopy");
    c.args(["-o", "-i"]).arg(&target).arg(config).arg("::/preau.toml");
    run(&mut c).context("cannot write preau.toml into the boot partition")?;
    Ok(())
}

/// Reads a file from the image's FAT partition (tests, and checking a card image).
pub fn read_boot_file(image: &Path, path: &str) -> Result<String> {
    let offset = boot_offset(image)?;
    let mut c = tools::mtools("mtype");
    c.arg("-i").arg(format!("{}@@{offset}", image.display())).arg(format!("::/{path}"));
    run(&mut c)
}
