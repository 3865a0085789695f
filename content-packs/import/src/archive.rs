//! Reading a whole archive (gzip tar, ZIP, or an already extracted folder) into memory,
//! with every bound checked *before* the bytes are kept: entry count, path length, file
//! size, total decompressed size. Unsafe members (`..`, absolute paths, links, devices)
//! are refused by name. The declared sizes in headers are never trusted: each member is
//! read through a `take(limit + 1)` so that a zip or tar bomb stops at the limit.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ImportLimits;
use crate::error::{ImportError, Result};

/// The regular files of an archive, by their normalised `/`-separated path.
#[derive(Debug, Default)]
pub struct Archive {
    pub members: BTreeMap<String, Vec<u8>>,
}

impl Archive {
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.members.get(path).map(Vec::as_slice)
    }

    /// The paths directly below `dir/` whose next component starts with `prefix`, deduplicated.
    pub fn subdirs(&self, dir: &str) -> Vec<String> {
        let base = format!("{dir}/");
        let mut out: Vec<String> = self
            .members
            .keys()
            .filter_map(|k| k.strip_prefix(&base))
            .filter_map(|rest| rest.split_once('/').map(|(d, _)| d.to_string()))
            .collect();
        out.dedup();
        out
    }
}

/// Decompressed bytes allowed per compressed byte read, once [`RATIO_FLOOR`] bytes came
/// out. Real Moodle backups are compressed media (about 1:1) and XML (10-30:1); gzip
/// and deflate top out near 1030:1, which is what bombs use.
const MAX_RATIO: u64 = 200;
/// Below this many decompressed bytes the ratio is not checked (small, very regular
/// files compress well).
const RATIO_FLOOR: u64 = 8 * 1024 * 1024;
/// Bytes copied at a time from a member, so a bomb is seen before memory grows.
const CHUNK: usize = 64 * 1024;

/// Counts the compressed bytes read from the archive file, for the ratio check.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: std::io::Seek> std::io::Seek for Counting<R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Counts what has been accepted so far against the limits.
struct Budget<'a> {
    limits: &'a ImportLimits,
    entries: u64,
    total: u64,
    /// Compressed bytes read so far (`None`: not compressed, or not counted).
    compressed: Option<Arc<AtomicU64>>,
}

impl Budget<'_> {
    fn admit(&mut self, name: &str, declared: u64) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(ImportError::limit(
                "archive entry count",
                format!("more than {} entries", self.limits.max_entries),
            ));
        }
        check_member_path(name, self.limits)?;
        if declared > self.limits.max_file_bytes {
            return Err(ImportError::limit(
                format!("size of {name:?}"),
                format!("{declared} bytes, more than {}", self.limits.max_file_bytes),
            ));
        }
        Ok(())
    }

    fn read(&mut self, name: &str, reader: impl Read) -> Result<Vec<u8>> {
        let per_file = self.limits.max_file_bytes;
        let left = self.limits.max_total_bytes.saturating_sub(self.total);
        let cap = per_file.min(left);
        let mut buf = Vec::new();
        let mut reader = reader.take(cap.saturating_add(1));
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ImportError::corrupt(format!("archive member {name:?}"), e)),
            };
            buf.extend_from_slice(&chunk[..n]);
            // A bomb is refused while its output is still small: memory stays bounded by
            // the floor, not by the archive's claimed sizes or the total limit.
            let out = self.total + buf.len() as u64;
            if let Some(read) = &self.compressed
                && out > RATIO_FLOOR
                && out / read.load(Ordering::Relaxed).max(1) > MAX_RATIO
            {
                return Err(ImportError::limit(
                    "compression ratio",
                    format!(
                        "{out} bytes out of {} compressed bytes, more than {MAX_RATIO} to 1 (zip or tar bomb?)",
                        read.load(Ordering::Relaxed)
                    ),
                ));
            }
        }
        if buf.len() as u64 > cap {
            return Err(if cap == per_file {
                ImportError::limit(format!("size of {name:?}"), format!("more than {per_file} bytes"))
            } else {
                ImportError::limit(
                    "total decompressed size",
                    format!("more than {} bytes (zip or tar bomb?)", self.limits.max_total_bytes),
                )
            });
        }
        self.total += buf.len() as u64;
        Ok(buf)
    }
}

/// Refuses member names that would escape the extraction root or that are absurd.
pub fn check_member_path(name: &str, limits: &ImportLimits) -> Result<()> {
    let bad = |why: &str| Err(ImportError::UnsafePath { member: name.chars().take(200).collect(), why: why.into() });
    if name.len() > limits.max_path_bytes {
        return bad(&format!("path longer than {} bytes", limits.max_path_bytes));
    }
    if name.starts_with('/') || name.starts_with('\\') || name.get(1..2) == Some(":") {
        return bad("absolute path");
    }
    if name.contains('\0') {
        return bad("NUL byte in path");
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return bad("`..` component escapes the archive");
    }
    Ok(())
}

fn normalise(name: &str) -> String {
    name.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/")
}

/// Reads a gzip-compressed tar (Moodle 2.6+ `.mbz`).
pub fn read_tar_gz(path: &Path, limits: &ImportLimits) -> Result<Archive> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io { path: path.into(), source })?;
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counting { inner: file, read: read.clone() };
    read_tar_counted(flate2::read::GzDecoder::new(std::io::BufReader::new(counted)), limits, Some(read))
}

pub fn read_tar(reader: impl Read, limits: &ImportLimits) -> Result<Archive> {
    read_tar_counted(reader, limits, None)
}

fn read_tar_counted(reader: impl Read, limits: &ImportLimits, compressed: Option<Arc<AtomicU64>>) -> Result<Archive> {
    let mut archive = tar::Archive::new(reader);
    let mut budget = Budget { limits, entries: 0, total: 0, compressed };
    let mut out = Archive::default();
    let entries = archive.entries().map_err(|e| ImportError::corrupt("tar archive", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| ImportError::corrupt("tar archive (truncated?)", e))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        budget.admit(&name, entry.size())?;
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(ImportError::UnsafePath { member: name, why: "links are not accepted in archives".into() });
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() || kind.is_gnu_longname() {
                continue;
            }
            return Err(ImportError::UnsafePath { member: name, why: format!("unsupported entry type {kind:?}") });
        }
        let key = normalise(&name);
        let bytes = budget.read(&name, entry)?;
        if !key.is_empty() {
            out.members.insert(key, bytes);
        }
    }
    Ok(out)
}

/// Reads a ZIP archive (Moodle before 2.6 and some re-zipped backups).
pub fn read_zip(path: &Path, limits: &ImportLimits) -> Result<Archive> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io { path: path.into(), source })?;
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counting { inner: file, read: read.clone() };
    let mut zip =
        zip::ZipArchive::new(std::io::BufReader::new(counted)).map_err(|e| ImportError::corrupt("ZIP archive", e))?;
    if zip.len() as u64 > limits.max_entries {
        return Err(ImportError::limit(
            "archive entry count",
            format!("{} entries, more than {}", zip.len(), limits.max_entries),
        ));
    }
    let mut budget = Budget { limits, entries: 0, total: 0, compressed: Some(read) };
    let mut out = Archive::default();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| ImportError::corrupt("ZIP archive", e))?;
        let name = entry.name().map_err(|e| ImportError::corrupt("ZIP member name", e))?.into_owned();
        budget.admit(&name, entry.size())?;
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(ImportError::UnsafePath { member: name, why: "links are not accepted in archives".into() });
        }
        let key = normalise(&name.replace('\\', "/"));
        let bytes = budget.read(&name, entry)?;
        if !key.is_empty() {
            out.members.insert(key, bytes);
        }
    }
    Ok(out)
}

/// Reads an extracted backup folder. Symbolic links are refused, like in archives.
pub fn read_folder(root: &Path, limits: &ImportLimits) -> Result<Archive> {
    let mut budget = Budget { limits, entries: 0, total: 0, compressed: None };
    let mut out = Archive::default();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|source| ImportError::Io { path: dir.clone(), source })?;
        for entry in rd {
            let entry = entry.map_err(|source| ImportError::Io { path: dir.clone(), source })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let meta = std::fs::symlink_metadata(entry.path())
                .map_err(|source| ImportError::Io { path: entry.path(), source })?;
            budget.admit(&rel, meta.len())?;
            if meta.file_type().is_symlink() {
                return Err(ImportError::UnsafePath { member: rel, why: "symbolic links are not accepted".into() });
            } else if meta.is_dir() {
                stack.push((entry.path(), rel));
            } else if meta.is_file() {
                let f = std::fs::File::open(entry.path())
                    .map_err(|source| ImportError::Io { path: entry.path(), source })?;
                let bytes = budget.read(&rel, f)?;
                out.members.insert(rel, bytes);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name like a hostile archive would.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn refuses_escapes_bombs_and_truncation() {
        let limits = ImportLimits::default();
        let err = read_tar(&tar_with(&[("../evil", b"x")])[..], &limits).unwrap_err();
        assert!(matches!(err, ImportError::UnsafePath { .. }), "{err}");
        let err = read_tar(&tar_with(&[("/etc/passwd", b"x")])[..], &limits).unwrap_err();
        assert!(err.to_string().contains("absolute"), "{err}");

        let small = ImportLimits { max_total_bytes: 10, ..ImportLimits::default() };
        let err = read_tar(&tar_with(&[("a", b"123456"), ("b", b"123456")])[..], &small).unwrap_err();
        assert!(err.to_string().contains("total decompressed size"), "{err}");

        let few = ImportLimits { max_entries: 1, ..ImportLimits::default() };
        let err = read_tar(&tar_with(&[("a", b"1"), ("b", b"2")])[..], &few).unwrap_err();
        assert!(err.to_string().contains("entry count"), "{err}");

        let whole = tar_with(&[("a", &[7u8; 2000])]);
        let err = read_tar(&whole[..1024], &limits).unwrap_err();
        assert!(err.to_string().contains("corrupt or truncated"), "{err}");

        let ok = read_tar(&tar_with(&[("./x/y.xml", b"<a/>")])[..], &limits).unwrap();
        assert_eq!(ok.get("x/y.xml"), Some(&b"<a/>"[..]));
    }

    #[test]
    fn refuses_symlinks() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "link", "/etc/passwd").unwrap();
        let bytes = b.into_inner().unwrap();
        let err = read_tar(&bytes[..], &ImportLimits::default()).unwrap_err();
        assert!(err.to_string().contains("links are not accepted"), "{err}");
    }
}
