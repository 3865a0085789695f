//! What a pack is built from: a list of files with their final pack paths, plus metadata.
//!
//! Importers (folder, tar, Moodle, git, …) produce a [`SourceTree`]; the builder chunks,
//! hashes, compresses and signs it. An importer never writes to a repository itself, so a
//! failed import leaves the repository untouched.

use std::path::PathBuf;

use crate::manifest::PackMeta;

/// Where the bytes of one source file are.
#[derive(Debug, Clone)]
pub enum SourceData {
    /// Bytes produced in memory (rendered HTML, converted quiz JSON, small archive members).
    Bytes(Vec<u8>),
    /// A regular file on disk (large media read from a folder or a temporary directory).
    File(PathBuf),
}

/// One file of the future pack.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path inside the pack: relative, `/`-separated, UTF-8. Checked by the builder
    /// with [`crate::path::check_pack_path`].
    pub path: String,
    pub data: SourceData,
}

/// Everything a pack version is built from.
#[derive(Debug, Clone, Default)]
pub struct SourceTree {
    pub meta: PackMeta,
    pub files: Vec<SourceFile>,
}

impl SourceTree {
    pub fn add_bytes(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.push(SourceFile { path: path.into(), data: SourceData::Bytes(bytes.into()) });
    }

    pub fn add_file(&mut self, path: impl Into<String>, on_disk: impl Into<PathBuf>) {
        self.files.push(SourceFile { path: path.into(), data: SourceData::File(on_disk.into()) });
    }
}

/// Bounds on what a folder or tar source may hold.
#[derive(Debug, Clone, Copy)]
pub struct SourceLimits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_entries: usize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_file_bytes: crate::limits::DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: 64 * 1024 * 1024 * 1024,
            max_entries: crate::limits::MAX_FILES_PER_PACK,
        }
    }
}

/// Reads a folder as it is: every regular file, byte for byte, with its relative path.
///
/// Symbolic links are followed only when they stay inside the folder and point to a
/// regular file; anything else (links leading outside, devices, sockets, FIFOs,
/// non-UTF-8 names, unreadable files) is an error that names the path.
pub fn from_folder(dir: &std::path::Path, limits: SourceLimits) -> crate::Result<SourceTree> {
    use crate::{Error, IoContext};
    let root = dir.canonicalize().context(|| format!("reading source folder {}", dir.display()))?;
    if !root.is_dir() {
        return Err(Error::BadSource { path: dir.to_path_buf(), why: "not a folder".into() });
    }
    let mut tree = SourceTree::default();
    let mut total = 0u64;
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).context(|| format!("reading folder {}", d.display()))?;
        for e in entries {
            let e = e.context(|| format!("reading folder {}", d.display()))?;
            let p = e.path();
            let rel = p.strip_prefix(&root).expect("inside the root");
            let Some(rel_str) = rel.to_str() else {
                return Err(Error::BadSource { path: p.clone(), why: "file name is not valid UTF-8".into() });
            };
            let ft = e.file_type().context(|| format!("reading {}", p.display()))?;
            let target = if ft.is_symlink() {
                let t = p
                    .canonicalize()
                    .map_err(|_| Error::BadSource { path: p.clone(), why: "broken symbolic link".into() })?;
                if !t.starts_with(&root) {
                    return Err(Error::BadSource {
                        path: p.clone(),
                        why: format!("symbolic link leads outside the source folder (to {})", t.display()),
                    });
                }
                if !t.is_file() {
                    return Err(Error::BadSource {
                        path: p.clone(),
                        why: "symbolic link to something other than a regular file".into(),
                    });
                }
                t
            } else if ft.is_dir() {
                stack.push(p);
                continue;
            } else if ft.is_file() {
                p.clone()
            } else {
                return Err(Error::BadSource {
                    path: p.clone(),
                    why: "not a regular file (device, socket or FIFO)".into(),
                });
            };
            let len = std::fs::metadata(&target).context(|| format!("reading {}", target.display()))?.len();
            if len > limits.max_file_bytes {
                return Err(Error::TooLarge { what: format!("file {}", p.display()), limit: limits.max_file_bytes });
            }
            total += len;
            if total > limits.max_total_bytes {
                return Err(Error::TooLarge {
                    what: format!("source folder {}", dir.display()),
                    limit: limits.max_total_bytes,
                });
            }
            // Fail now, not half-way through the build, on files we cannot read.
            std::fs::File::open(&target).context(|| format!("reading {}", target.display()))?;
            tree.add_file(crate::path::normalize(rel_str)?, target);
            if tree.files.len() > limits.max_entries {
                return Err(Error::Other(format!("{} holds more than {} files", dir.display(), limits.max_entries)));
            }
        }
    }
    tree.files.sort_by(|a, b| a.path.cmp(&b.path));
    tree.meta.kind = "folder".into();
    let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    tree.meta.title = name.clone();
    tree.meta.id = crate::path::slugify_id(&name);
    tree.meta.entry = default_entry(&tree);
    Ok(tree)
}

/// Reads a tar archive (plain or gzip-compressed). When every entry sits under one top
/// folder, that folder is dropped from the pack paths.
///
/// Entries with `..` or absolute paths, symbolic links, devices and FIFOs are errors;
/// hard links to an earlier regular file of the archive are kept as a copy.
/// Decompressed bytes allowed per compressed byte of a gzip tar, past the floor (real
/// course material is near 1:1 for media, 10-30:1 for text; deflate bombs near 1000:1).
const TAR_MAX_RATIO: u64 = 200;
const TAR_RATIO_FLOOR: u64 = 8 * 1024 * 1024;

/// Counts the bytes read from the archive file.
struct CountingReader<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

pub fn from_tar(path: &std::path::Path, limits: SourceLimits) -> crate::Result<SourceTree> {
    use std::io::Read;

    use crate::{Error, IoContext};
    let bad = |why: String| Error::BadSource { path: path.to_path_buf(), why };
    let mut file = std::fs::File::open(path).context(|| format!("reading {}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).context(|| format!("reading {}", path.display()))?;
    drop(file);
    let file = std::fs::File::open(path).context(|| format!("reading {}", path.display()))?;
    // Bytes read from the file, to refuse a gzip bomb by its ratio while its output is
    // small (the size limits alone let it fill memory up to the total limit first).
    let compressed = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let gzip = n == 2 && magic == [0x1f, 0x8b];
    let counted = CountingReader { inner: file, read: compressed.clone() };
    let reader: Box<dyn Read> =
        if gzip { Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(counted))) } else { Box::new(counted) };
    let mut archive = tar::Archive::new(reader);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut total = 0u64;
    let entries = archive.entries().map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("damaged or truncated tar archive: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| bad("an entry name is not valid UTF-8".into()))?;
        if name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return Err(bad(format!("entry {name:?} has an absolute path or `..`: refusing to import it")));
        }
        let kind = entry.header().entry_type();
        let data = if kind.is_file() {
            let size = entry.header().size().map_err(|e| bad(format!("entry {name:?}: {e}")))?;
            if size > limits.max_file_bytes {
                return Err(Error::TooLarge { what: format!("tar entry {name:?}"), limit: limits.max_file_bytes });
            }
            total += size;
            if total > limits.max_total_bytes {
                return Err(Error::TooLarge {
                    what: format!("tar archive {}", path.display()),
                    limit: limits.max_total_bytes,
                });
            }
            // Never reserve the declared size: read in chunks and watch the ratio.
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            let mut member = (&mut entry).take(size + 1);
            loop {
                let got = match member.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(got) => got,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(bad(format!("damaged or truncated tar archive at {name:?}: {e}"))),
                };
                buf.extend_from_slice(&chunk[..got]);
                let out = total - size + buf.len() as u64;
                if gzip && out > TAR_RATIO_FLOOR && out / compressed.get().max(1) > TAR_MAX_RATIO {
                    return Err(bad(format!(
                        "{out} bytes out of {} compressed bytes, more than {TAR_MAX_RATIO} to 1: refusing a decompression bomb",
                        compressed.get()
                    )));
                }
            }
            if buf.len() as u64 != size {
                return Err(bad(format!("truncated tar archive: entry {name:?} is cut short")));
            }
            buf
        } else if kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .and_then(|b| String::from_utf8(b.into_owned()).ok())
                .ok_or_else(|| bad(format!("hard link {name:?} without a valid target")))?;
            let target = target.trim_start_matches("./").to_string();
            match files.iter().find(|(p, _)| p.trim_start_matches("./") == target) {
                Some((_, d)) => d.clone(),
                None => {
                    return Err(bad(format!("hard link {name:?} points to {target:?}, which is not an earlier file")));
                }
            }
        } else if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        } else if kind.is_symlink() {
            return Err(bad(format!("entry {name:?} is a symbolic link; links are not imported")));
        } else {
            return Err(bad(format!("entry {name:?} is not a regular file (device, FIFO or unknown type)")));
        };
        files.push((name, data));
        if files.len() > limits.max_entries {
            return Err(bad(format!("more than {} entries", limits.max_entries)));
        }
    }
    if files.is_empty() {
        return Err(bad("the archive holds no file".into()));
    }
    let mut normalized: Vec<(String, Vec<u8>)> = Vec::with_capacity(files.len());
    for (name, data) in files {
        normalized.push((crate::path::normalize(&name)?, data));
    }
    // Drop a single top folder shared by every entry (`cours-python/…`).
    let top = normalized[0].0.split('/').next().unwrap_or("").to_string();
    let strip = normalized.iter().all(|(p, _)| p.starts_with(&format!("{top}/")));
    let mut tree = SourceTree::default();
    for (p, data) in normalized {
        let p = if strip { p[top.len() + 1..].to_string() } else { p };
        tree.add_bytes(p, data);
    }
    tree.files.sort_by(|a, b| a.path.cmp(&b.path));
    tree.meta.kind = "tar".into();
    let stem = if strip {
        top
    } else {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        name.trim_end_matches(".gz").trim_end_matches(".tgz").trim_end_matches(".tar").to_string()
    };
    tree.meta.title = stem.clone();
    tree.meta.id = crate::path::slugify_id(&stem);
    tree.meta.entry = default_entry(&tree);
    Ok(tree)
}

/// The page a pupil opens first: `index.html`, else `README.md`, else nothing.
pub fn default_entry(tree: &SourceTree) -> String {
    for candidate in ["index.html", "index.htm", "README.md", "readme.md", "index.md"] {
        if tree.files.iter().any(|f| f.path == candidate) {
            return candidate.into();
        }
    }
    String::new()
}
