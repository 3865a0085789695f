//! Assembling the disk image from partition images, without loop mounts: FAT by
//! mkfs.vfat + mcopy, ext4 by `mke2fs -d`, the table by sfdisk, then each partition
//! copied in at its offset (zero blocks skipped, so the image stays sparse and bmaptool
//! maps only real data).

use crate::partition::{Layout, MIB, Part};
use crate::tools::{self, run};
use crate::units::{BOOT_LABEL, DATA_LABEL, ROOT_LABEL};
use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;

/// Makes a FAT32 file system of `mib` MiB in `file` holding the folder `stage`.
pub fn make_fat(file: &Path, mib: u64, stage: &Path, epoch: u64) -> Result<()> {
    let _ = std::fs::remove_file(file);
    run(Command::new("mkfs.vfat")
        .args(["-F", "32", "-n", BOOT_LABEL, "--invariant", "-C"])
        .arg(file)
        .arg((mib * 1024).to_string()))?;
    let mut entries: Vec<_> = std::fs::read_dir(stage)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    if entries.is_empty() {
        return Ok(());
    }
    // -s recursive, -p keep attributes, -m keep times (made reproducible below).
    let mut c = tools::mtools("mcopy");
    c.arg("-i").arg(file).args(["-s", "-p", "-m", "-Q"]).args(&entries).arg("::/");
    c.env("SOURCE_DATE_EPOCH", epoch.to_string());
    run(&mut c).context("mcopy could not fill the boot partition (is it large enough? raise size.boot_mib)")?;
    Ok(())
}

/// What a build writes next to the image, for `content` bytes of files: the root
/// partition image, the disk image (sparse, so about the content again), the compressed
/// copy (at worst the content once more, before compression wins) and slack for metadata.
pub fn bytes_needed_on_disk(content: u64) -> u64 {
    3 * content + 256 * MIB
}

/// Refuses to start writing partition images into a folder whose file system cannot
/// hold them: otherwise mke2fs fails half-way with an error that looks like a too small
/// root partition.
pub fn check_free_space(dir: &Path, needed: u64) -> Result<()> {
    let out = Command::new("df").args(["--output=avail", "-B1"]).arg(dir).output().context("running df")?;
    let free = parse_df_avail(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("df gave no free space for {}", dir.display()))?;
    if free < needed {
        bail!(
            "not enough free space for the image in {}: {} MiB free, about {} MiB needed; free some space or choose another --out",
            dir.display(),
            free / MIB,
            needed.div_ceil(MIB)
        );
    }
    Ok(())
}

/// The byte count of `df --output=avail -B1`: a header line, then the number.
fn parse_df_avail(text: &str) -> Option<u64> {
    text.lines().nth(1)?.trim().parse().ok()
}

/// Makes an ext4 file system of `mib` MiB in `file`, filled from `dir` when given.
pub fn make_ext4(file: &Path, mib: u64, label: &str, dir: Option<&Path>, uuid: &str, epoch: u64) -> Result<()> {
    let _ = std::fs::remove_file(file);
    File::create(file)?.set_len(mib * MIB)?;
    let mut c = Command::new("mke2fs");
    c.args(["-q", "-F", "-t", "ext4", "-b", "4096", "-L", label, "-U", uuid, "-m", "1"]);
    // The data partition starts small and grows online at first boot: reserve room in
    // the group descriptor table for up to 2 TiB.
    if label == DATA_LABEL {
        c.args(["-E", "resize=536870912"]);
    }
    c.arg("-E").arg(format!("hash_seed={uuid}"));
    if let Some(d) = dir {
        c.arg("-d").arg(d);
    }
    c.arg(file);
    // Makes the file system's own time stamps reproducible.
    c.env("E2FSPROGS_FAKE_TIME", epoch.to_string());
    run(&mut c).with_context(|| {
        if label == ROOT_LABEL {
            format!("mke2fs could not fill the root partition of {mib} MiB: raise size.root_mib (or leave it out)")
        } else {
            format!("mke2fs failed for {label}")
        }
    })?;
    Ok(())
}

/// Writes the table and copies the partition images in.
pub fn assemble(out: &Path, layout: &Layout, boot: &Path, root: &Path, data: &Path) -> Result<()> {
    let _ = std::fs::remove_file(out);
    File::create(out)?.set_len(layout.image_size)?;
    let mut c = Command::new("sfdisk");
    c.args(["--quiet", "--no-reread", "--no-tell-kernel", "--wipe", "always"]).arg(out);
    sfdisk_stdin(&mut c, &layout.sfdisk_script())?;
    for (file, part) in [(boot, layout.boot), (root, layout.root), (data, layout.data)] {
        copy_into(file, out, part)?;
    }
    Ok(())
}

fn sfdisk_stdin(c: &mut Command, script: &str) -> Result<()> {
    let shown = format!("{c:?}");
    let mut child = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {shown}"))?;
    child.stdin.take().expect("piped").write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{shown} failed: {}\nscript:\n{script}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Copies a partition image into the disk image at its offset, skipping zero blocks.
fn copy_into(src: &Path, image: &Path, part: Part) -> Result<()> {
    let len = std::fs::metadata(src)?.len();
    if len > part.size {
        bail!("{} is {len} bytes but its partition holds {}", src.display(), part.size);
    }
    let mut input = File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let mut output = std::fs::OpenOptions::new().write(true).open(image)?;
    let mut buf = vec![0u8; MIB as usize];
    let mut at = 0u64;
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != 0) {
            output.seek(SeekFrom::Start(part.offset + at))?;
            output.write_all(&buf[..n])?;
        }
        at += n as u64;
    }
    output.sync_all()?;
    Ok(())
}

fn read_full(f: &mut File, buf: &mut [u8]) -> Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads a file back out of an ext4 partition of an image (for tests and checks).
pub fn debugfs_cat(image: &Path, part: Part, path: &str) -> Result<String> {
    let fs = extract_part(image, part)?;
    let out = run(Command::new("debugfs").arg("-R").arg(format!("cat {path}")).arg(fs.path()))?;
    Ok(out)
}

/// Copies one partition out of an image into a temporary file.
pub fn extract_part(image: &Path, part: Part) -> Result<tempfile_lite::TempFile> {
    let tmp = tempfile_lite::TempFile::new(image, "part")?;
    let mut input = File::open(image)?;
    input.seek(SeekFrom::Start(part.offset))?;
    let mut out = File::create(tmp.path())?;
    std::io::copy(&mut input.take(part.size), &mut out)?;
    Ok(tmp)
}

/// A file next to another one, removed when dropped (no extra dependency).
pub mod tempfile_lite {
    use std::path::{Path, PathBuf};

    pub struct TempFile(PathBuf);

    impl TempFile {
        pub fn new(beside: &Path, tag: &str) -> std::io::Result<TempFile> {
            let name = format!(
                ".{}.{tag}.{}.tmp",
                beside.file_name().and_then(|n| n.to_str()).unwrap_or("image"),
                std::process::id()
            );
            Ok(TempFile(beside.with_file_name(name)))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_output_is_read_and_a_full_disk_is_named() {
        assert_eq!(parse_df_avail("    Avail\n12345678\n"), Some(12_345_678));
        assert_eq!(parse_df_avail("Avail\n"), None);
        let dir = tempfile::tempdir().unwrap();
        check_free_space(dir.path(), 1).unwrap();
        let err = check_free_space(dir.path(), u64::MAX / 2).unwrap_err().to_string();
        assert!(err.contains("not enough free space") && err.contains("MiB needed"), "{err}");
    }
}
