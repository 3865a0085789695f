//! Pack paths and pack ids: what is allowed, and collisions that would break on some disks.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use crate::limits::{MAX_ID_BYTES, MAX_PATH_BYTES, MAX_PATH_COMPONENT_BYTES};
use crate::{Error, Result};

/// Checks a path inside a pack: relative, `/`-separated, UTF-8, no `.`/`..`/empty
/// components, no backslash or control characters, bounded length.
pub fn check_pack_path(path: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::BadPath { path: path.chars().take(200).collect(), why: why.into() });
    if path.is_empty() {
        return bad("empty path");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad("path longer than 1024 bytes");
    }
    if path.starts_with('/') {
        return bad("absolute path");
    }
    if path.contains('\\') {
        return bad("backslash in path");
    }
    if path.chars().any(|c| c.is_control()) {
        return bad("control character in path");
    }
    for part in path.split('/') {
        match part {
            "" => return bad("empty path component (`//` or trailing `/`)"),
            "." | ".." => return bad("`.` or `..` component"),
            _ if part.len() > MAX_PATH_COMPONENT_BYTES => {
                return bad("path component longer than 255 bytes");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Turns a relative OS path with any separators into a pack path and checks it.
pub fn normalize(path: &str) -> Result<String> {
    let joined: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let p = joined.join("/");
    check_pack_path(&p)?;
    Ok(p)
}

/// Refuses two paths that differ only by case or Unicode normalisation: they would
/// overwrite each other on a FAT USB stick, on macOS or on Windows.
pub fn check_collisions<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen: HashMap<String, &'a str> = HashMap::new();
    for p in paths {
        let key: String = p.nfc().collect::<String>().to_lowercase();
        if let Some(other) = seen.insert(key, p) {
            return Err(Error::PathCollision { a: other.to_string(), b: p.to_string() });
        }
    }
    Ok(())
}

/// Checks a pack id: 1..=64 bytes of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or digit.
pub fn check_pack_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok { Ok(()) } else { Err(Error::BadPackId(id.chars().take(100).collect())) }
}

/// Makes a pack id out of any name: lowercase ASCII, accents dropped, other characters as `-`.
pub fn slugify_id(name: &str) -> String {
    let mut out = String::new();
    for c in name.nfd() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii() && !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut s = out.trim_matches('-').to_string();
    s.truncate(MAX_ID_BYTES);
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() { "pack".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escapes_and_accepts_unicode() {
        for bad in ["", "/etc/passwd", "a/../b", "a//b", "a/", "./a", "a\\b", "a\nb"] {
            assert!(check_pack_path(bad).is_err(), "{bad:?} accepted");
        }
        check_pack_path("cours/Chapitre été/image 1.png").unwrap();
        assert_eq!(normalize("./a//b/./c").unwrap(), "a/b/c");
    }

    #[test]
    fn collisions_by_case_and_normalisation() {
        assert!(check_collisions(["a/B.txt", "a/b.txt"]).is_err());
        assert!(check_collisions(["\u{e9}.md", "e\u{301}.md"]).is_err());
        check_collisions(["a.txt", "b.txt"]).unwrap();
    }

    #[test]
    fn ids() {
        assert_eq!(slugify_id("Cours de Python — Éléa 2025!"), "cours-de-python-elea-2025");
        check_pack_id("cours-python").unwrap();
        assert!(check_pack_id("Cours").is_err());
        assert!(check_pack_id("-a").is_err());
    }
}
