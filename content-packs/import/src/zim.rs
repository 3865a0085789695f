//! Kiwix ZIM files (openZIM format, major version 5 and 6): the articles become the
//! files of a pack, so that an offline Wikipedia-like dump browses on the box.
//!
//! Layout read here: an 80-byte header, the MIME type list, the URL pointer list, the
//! directory entries and the clusters (uncompressed or zstd; xz/LZMA clusters are refused
//! with a clear error). Content entries (namespace `C` in the new layout; `A`, `I`, `-`
//! in the old one, kept as folders) become files; redirects become copies of their
//! target; metadata (`M/Title`, `M/Description`, `M/Language`…) fills the pack metadata.
//! HTML entries whose name has no `.html` suffix get one (the box serves a file's media
//! type from its name), and `href`/`src` links to them are rewritten.
//! Every offset, count and size is checked against the file and the limits; the MD5
//! checksum at the end is not verified (pack signatures protect the result).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{ImportError, Result};
use crate::report::{ImportReport, Status};
use crate::{ImportLimits, Imported};

const MAGIC: u32 = 0x044D_495A;

fn corrupt(detail: impl Into<String>) -> ImportError {
    ImportError::Corrupt { what: "ZIM file".into(), detail: detail.into() }
}

struct Zim {
    file: std::fs::File,
    len: u64,
}

impl Zim {
    fn read_at(&mut self, pos: u64, n: usize) -> Result<Vec<u8>> {
        if pos.checked_add(n as u64).is_none_or(|end| end > self.len) {
            return Err(corrupt(format!(
                "reads {n} bytes at offset {pos}, past the end of the file ({} bytes)",
                self.len
            )));
        }
        self.file.seek(SeekFrom::Start(pos)).map_err(|e| corrupt(e.to_string()))?;
        let mut buf = vec![0u8; n];
        self.file.read_exact(&mut buf).map_err(|e| corrupt(format!("truncated: {e}")))?;
        Ok(buf)
    }

    fn u64_at(&mut self, pos: u64) -> Result<u64> {
        Ok(u64::from_le_bytes(self.read_at(pos, 8)?.try_into().expect("8 bytes")))
    }

    /// A NUL-terminated string of at most `max` bytes.
    fn cstr_at(&mut self, pos: u64, max: usize) -> Result<(String, u64)> {
        let avail = (self.len.saturating_sub(pos)).min(max as u64 + 1) as usize;
        let buf = self.read_at(pos, avail)?;
        let end =
            buf.iter().position(|b| *b == 0).ok_or_else(|| corrupt(format!("unterminated string at offset {pos}")))?;
        Ok((String::from_utf8_lossy(&buf[..end]).into_owned(), pos + end as u64 + 1))
    }
}

#[derive(Debug, Clone)]
enum Target {
    Blob { cluster: u32, blob: u32 },
    Redirect(u32),
}

#[derive(Debug, Clone)]
struct Entry {
    mime: Option<String>,
    namespace: char,
    url: String,
    target: Target,
}

pub fn import(src: &Path, limits: &ImportLimits) -> Result<Imported> {
    let file = std::fs::File::open(src).map_err(|source| ImportError::Io { path: src.into(), source })?;
    let len = file.metadata().map_err(|source| ImportError::Io { path: src.into(), source })?.len();
    let mut z = Zim { file, len };
    let h = z.read_at(0, 80)?;
    let u32_at = |o: usize| u32::from_le_bytes(h[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
    if u32_at(0) != MAGIC {
        return Err(corrupt("wrong magic number"));
    }
    let major = u16::from_le_bytes([h[4], h[5]]);
    if major != 5 && major != 6 {
        return Err(corrupt(format!("unsupported ZIM major version {major}")));
    }
    let (article_count, cluster_count) = (u32_at(24) as u64, u32_at(28) as u64);
    let (url_ptr_pos, cluster_ptr_pos, mime_list_pos) = (u64_at(32), u64_at(48), u64_at(56));
    let main_page = u32_at(64);
    if article_count > limits.max_entries || cluster_count > limits.max_entries {
        return Err(ImportError::limit(
            "ZIM entries",
            format!("{article_count} entries and {cluster_count} clusters, more than {}", limits.max_entries),
        ));
    }
    // MIME types.
    let mut mimes = Vec::new();
    let mut pos = mime_list_pos;
    loop {
        let (s, next) = z.cstr_at(pos, 256)?;
        if s.is_empty() {
            break;
        }
        mimes.push(s);
        pos = next;
        if mimes.len() > 1000 {
            return Err(corrupt("more than 1000 MIME types"));
        }
    }
    // Directory entries.
    let ptrs = z.read_at(url_ptr_pos, (article_count * 8) as usize)?;
    let mut entries = Vec::with_capacity(article_count as usize);
    for i in 0..article_count as usize {
        let off = u64::from_le_bytes(ptrs[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let head = z.read_at(off, 12)?;
        let mime_idx = u16::from_le_bytes([head[0], head[1]]);
        let namespace = head[3] as char;
        let (target, url_pos, mime) = if mime_idx == 0xffff {
            (Target::Redirect(u32::from_le_bytes(head[8..12].try_into().expect("4"))), off + 12, None)
        } else {
            let more = z.read_at(off + 8, 8)?;
            let cluster = u32::from_le_bytes(more[0..4].try_into().expect("4"));
            let blob = u32::from_le_bytes(more[4..8].try_into().expect("4"));
            let mime = mimes.get(mime_idx as usize).cloned();
            (Target::Blob { cluster, blob }, off + 16, mime)
        };
        let (url, _) = z.cstr_at(url_pos, limits.max_path_bytes)?;
        entries.push(Entry { mime, namespace, url, target });
    }

    let mut report = ImportReport::new("zim");
    report.source_version = format!("ZIM {major}");
    // Which entries become files, and under which path.
    let new_layout = entries.iter().any(|e| e.namespace == 'C');
    let content_ns = |c: char| if new_layout { c == 'C' } else { matches!(c, 'A' | 'I' | '-' | 'J') };
    let mut path_of: HashMap<usize, String> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        if !content_ns(e.namespace) || e.url.is_empty() {
            continue;
        }
        let base = if new_layout { e.url.clone() } else { format!("{}/{}", e.namespace, e.url) };
        let html = final_mime(&entries, i).is_some_and(|m| m.starts_with("text/html"));
        let lower = base.to_ascii_lowercase();
        let path = if html && !lower.ends_with(".html") && !lower.ends_with(".htm") {
            let p = format!("{base}.html");
            renamed.insert(base.clone(), p.clone());
            p
        } else {
            base
        };
        if let Err(e) = preau_pack::path::check_pack_path(&path) {
            report.file(&path, Status::Skipped, &e.to_string());
            continue;
        }
        path_of.insert(i, path);
    }
    // Read the clusters that hold the wanted blobs, each once.
    let mut wanted: BTreeMap<u32, Vec<(usize, u32)>> = BTreeMap::new();
    for (i, _) in path_of.iter() {
        if let Some((cluster, blob)) = resolve(&entries, *i) {
            wanted.entry(cluster).or_default().push((*i, blob));
        } else {
            report.file(
                &path_of[i],
                Status::Skipped,
                "redirection en boucle ou sans cible / redirect loop or dangling redirect",
            );
        }
    }
    let mut tree = preau_pack::SourceTree::default();
    let mut total = 0u64;
    for (cluster, items) in wanted {
        if cluster as u64 >= cluster_count {
            return Err(corrupt(format!("entry points to cluster {cluster} of {cluster_count}")));
        }
        let start = z.u64_at(cluster_ptr_pos + cluster as u64 * 8)?;
        let end = if (cluster as u64) + 1 < cluster_count {
            z.u64_at(cluster_ptr_pos + (cluster as u64 + 1) * 8)?
        } else {
            len.min(u64_at(72))
        };
        if end <= start || end > len {
            return Err(corrupt(format!("cluster {cluster} has bad bounds {start}..{end}")));
        }
        if end - start > limits.max_file_bytes {
            return Err(ImportError::limit(
                format!("ZIM cluster {cluster}"),
                format!("more than {} bytes", limits.max_file_bytes),
            ));
        }
        let raw = z.read_at(start, (end - start) as usize)?;
        let data = decompress(&raw, limits.max_file_bytes, cluster)?;
        let extended = raw[0] & 0x10 != 0;
        for (i, blob) in items {
            let bytes = blob_of(&data, extended, blob)
                .ok_or_else(|| corrupt(format!("blob {blob} of cluster {cluster} is out of range")))?;
            total += bytes.len() as u64;
            if total > limits.max_total_bytes {
                return Err(ImportError::limit(
                    "total size of the ZIM articles",
                    format!("more than {} bytes", limits.max_total_bytes),
                ));
            }
            let path = &path_of[&i];
            let is_html = final_mime(&entries, i).is_some_and(|m| m.starts_with("text/html"));
            let out =
                if is_html && !renamed.is_empty() { rewrite_links(bytes, path, &renamed) } else { bytes.to_vec() };
            tree.add_bytes(path.clone(), out);
        }
    }
    // Metadata.
    let meta = |name: &str, z: &mut Zim| -> String {
        entries
            .iter()
            .position(|e| e.namespace == 'M' && e.url == name)
            .and_then(|i| resolve(&entries, i))
            .and_then(|(cluster, blob)| {
                let start = z.u64_at(cluster_ptr_pos + cluster as u64 * 8).ok()?;
                let end = if (cluster as u64) + 1 < cluster_count {
                    z.u64_at(cluster_ptr_pos + (cluster as u64 + 1) * 8).ok()?
                } else {
                    len
                };
                if end <= start || end - start > 16 * 1024 * 1024 {
                    return None;
                }
                let raw = z.read_at(start, (end - start) as usize).ok()?;
                let data = decompress(&raw, 16 * 1024 * 1024, cluster).ok()?;
                blob_of(&data, raw[0] & 0x10 != 0, blob).map(|b| String::from_utf8_lossy(b).chars().take(500).collect())
            })
            .unwrap_or_default()
    };
    let title = meta("Title", &mut z);
    tree.meta.title = if title.is_empty() {
        src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
    } else {
        title
    };
    tree.meta.description = meta("Description", &mut z);
    let lang = meta("Language", &mut z);
    tree.meta.language = iso639_1(&lang);
    tree.meta.source_url = meta("Source", &mut z);
    tree.meta.licence = meta("License", &mut z);
    tree.meta.kind = "zim".into();
    let main = if main_page != u32::MAX {
        Some(main_page as usize)
    } else {
        entries.iter().position(|e| e.namespace == 'W' && e.url == "mainPage")
    };
    let main_path = main.and_then(|m| {
        let mut i = m;
        for _ in 0..8 {
            if let Some(p) = path_of.get(&i) {
                return Some(p.clone());
            }
            match entries.get(i)?.target {
                Target::Redirect(t) => i = t as usize,
                Target::Blob { .. } => return None,
            }
        }
        None
    });
    tree.meta.entry = main_path.unwrap_or_default();
    if tree.meta.entry.is_empty() || !tree.files.iter().any(|f| f.path == tree.meta.entry) {
        report.warn("pas de page principale : le paquet n'a pas de page d'entrée / no main page found; the pack has no entry page");
        tree.meta.entry.clear();
    }
    tree.meta.id = preau_pack::path::slugify_id(&tree.meta.title);
    report.title = tree.meta.title.clone();
    report.pages = tree.files.iter().filter(|f| f.path.ends_with(".html") || f.path.ends_with(".htm")).count() as u32;
    report.files = tree.files.len() as u32 + 1;
    tree.add_bytes(preau_pack::course::IMPORT_REPORT_PATH, report.to_json());
    Ok(Imported { tree, report })
}

/// Follows redirects (at most 8) to a blob.
fn resolve(entries: &[Entry], mut i: usize) -> Option<(u32, u32)> {
    for _ in 0..8 {
        match entries.get(i)?.target {
            Target::Blob { cluster, blob } => return Some((cluster, blob)),
            Target::Redirect(t) => i = t as usize,
        }
    }
    None
}

fn final_mime(entries: &[Entry], mut i: usize) -> Option<&str> {
    for _ in 0..8 {
        let e = entries.get(i)?;
        match e.target {
            Target::Blob { .. } => return e.mime.as_deref(),
            Target::Redirect(t) => i = t as usize,
        }
    }
    None
}

fn decompress(raw: &[u8], max: u64, cluster: u32) -> Result<Vec<u8>> {
    let body = &raw[1..];
    match raw[0] & 0x0f {
        0 | 1 => Ok(body.to_vec()),
        5 => {
            let dec = zstd::stream::read::Decoder::new(body).map_err(|e| corrupt(format!("cluster {cluster}: {e}")))?;
            let mut out = Vec::new();
            dec.take(max + 1)
                .read_to_end(&mut out)
                .map_err(|e| corrupt(format!("cluster {cluster}: bad zstd data: {e}")))?;
            if out.len() as u64 > max {
                return Err(ImportError::limit(
                    format!("decompressed ZIM cluster {cluster}"),
                    format!("more than {max} bytes"),
                ));
            }
            Ok(out)
        }
        4 => Err(corrupt(format!(
            "cluster {cluster} is xz/LZMA-compressed; only zstd ZIM files are supported (recompress with zimrecreate)"
        ))),
        other => Err(corrupt(format!("cluster {cluster} has unknown compression {other}"))),
    }
}

/// The bytes of blob `n` of a decompressed cluster (offsets are u32, or u64 when extended).
fn blob_of(data: &[u8], extended: bool, n: u32) -> Option<&[u8]> {
    let w = if extended { 8 } else { 4 };
    let read = |i: usize| -> Option<u64> {
        let b = data.get(i * w..i * w + w)?;
        Some(if extended {
            u64::from_le_bytes(b.try_into().ok()?)
        } else {
            u32::from_le_bytes(b.try_into().ok()?) as u64
        })
    };
    let first = read(0)?;
    let count = (first / w as u64).checked_sub(1)?;
    if n as u64 >= count {
        return None;
    }
    let (a, b) = (read(n as usize)? as usize, read(n as usize + 1)? as usize);
    if a > b {
        return None;
    }
    data.get(a..b)
}

fn iso639_1(lang: &str) -> String {
    let first = lang.split(',').next().unwrap_or("").trim();
    match first {
        "fra" => "fr",
        "eng" => "en",
        "bel" => "be",
        "deu" => "de",
        "spa" => "es",
        "ita" => "it",
        "por" => "pt",
        "ara" => "ar",
        other => other,
    }
    .to_string()
}

/// Adds `.html` to relative `href`/`src` links that point to renamed articles.
fn rewrite_links(html: &[u8], from: &str, renamed: &HashMap<String, String>) -> Vec<u8> {
    let text = String::from_utf8_lossy(html);
    let dir: Vec<&str> = from.split('/').collect();
    let dir = &dir[..dir.len() - 1];
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(at) = rest.find(['h', 's']) {
        let (attr_len, quote) = if rest[at..].starts_with("href=\"") {
            (6, '"')
        } else if rest[at..].starts_with("src=\"") {
            (5, '"')
        } else if rest[at..].starts_with("href='") {
            (6, '\'')
        } else {
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
            continue;
        };
        out.push_str(&rest[..at + attr_len]);
        let after = &rest[at + attr_len..];
        let end = after.find(quote).unwrap_or(after.len());
        let link = &after[..end];
        let (target, frag) = link.split_once('#').map(|(t, f)| (t, format!("#{f}"))).unwrap_or((link, String::new()));
        let mut replaced = None;
        if !target.is_empty() && !target.contains(':') && !target.starts_with('/') {
            let mut parts: Vec<String> = dir.iter().map(|s| s.to_string()).collect();
            let decoded = crate::sanitize::percent_decode(target);
            for seg in decoded.split('/') {
                match seg {
                    "." | "" => {}
                    ".." => {
                        parts.pop();
                    }
                    s => parts.push(s.to_string()),
                }
            }
            if renamed.contains_key(&parts.join("/")) {
                replaced = Some(format!("{target}.html{frag}"));
            }
        }
        out.push_str(replaced.as_deref().unwrap_or(link));
        rest = &after[end..];
    }
    out.push_str(rest);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_renamed_articles() {
        let renamed: HashMap<String, String> = [("A/Paris".to_string(), "A/Paris.html".to_string())].into();
        let out = rewrite_links(
            b"<a href=\"Paris#x\">P</a><img src=\"../I/a.png\"><a href=\"https://x/Paris\">",
            "A/Lyon.html",
            &renamed,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<a href=\"Paris.html#x\">P</a><img src=\"../I/a.png\"><a href=\"https://x/Paris\">"
        );
    }

    #[test]
    fn blobs() {
        // Two blobs: "ab" and "c"; offsets 12, 14, 15.
        let mut d = Vec::new();
        for o in [12u32, 14, 15] {
            d.extend_from_slice(&o.to_le_bytes());
        }
        d.extend_from_slice(b"abc");
        assert_eq!(blob_of(&d, false, 0), Some(&b"ab"[..]));
        assert_eq!(blob_of(&d, false, 1), Some(&b"c"[..]));
        assert_eq!(blob_of(&d, false, 2), None);
        assert_eq!(blob_of(&[1, 0, 0, 0], false, 0), None);
    }
}
