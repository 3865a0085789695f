//! Importers: Moodle `.mbz`, GIFT / Moodle XML question files, git repositories, Kiwix
//! ZIM files, folders and tars. Each turns a source into a [`preau_pack::SourceTree`] that the pack builder
//! chunks and signs, plus an [`ImportReport`].
//!
//! The kind of a source is found from its content ([`detect`]), never from its name.
//! Importers never write anywhere: a failed import leaves every repository untouched.
//! They do no network I/O. Every input is bounded by [`ImportLimits`].
//!
//! Correct answers only ever go to `_preau/quiz/<id>.json`, which the box never serves;
//! rendered pages link quizzes as `_quiz/<id>` and assignments as `_assign/<id>`.

pub mod archive;
pub mod error;
pub mod gift;
pub mod git;
pub mod markdown;
pub mod moodle;
pub mod moodle_xml;
pub mod render;
pub mod report;
pub mod sanitize;
pub mod site;
pub mod xml;
pub mod zim;

use std::io::Read;
use std::path::Path;

pub use error::{ImportError, Result};
pub use report::{Counts, ImportReport, OfflineChange, SiteReport, Status, Unrendered};

/// Bounds on everything an importer reads.
#[derive(Debug, Clone)]
pub struct ImportLimits {
    /// Members of an archive, files of a folder or entries of a git tree.
    pub max_entries: u64,
    /// Sum of the decompressed sizes of all members.
    pub max_total_bytes: u64,
    /// One member or file.
    pub max_file_bytes: u64,
    /// Length of a member path.
    pub max_path_bytes: usize,
    /// Nesting of XML elements.
    pub max_xml_depth: usize,
    /// One XML document (or GIFT file).
    pub max_xml_bytes: u64,
    /// One image; larger images are left out and reported.
    pub max_image_bytes: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_entries: 100_000,
            max_total_bytes: 4 * 1024 * 1024 * 1024,
            max_file_bytes: 1024 * 1024 * 1024,
            max_path_bytes: 1024,
            max_xml_depth: 64,
            max_xml_bytes: 256 * 1024 * 1024,
            max_image_bytes: 32 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// For git sources: the branch, tag or commit to import (default `HEAD`).
    pub git_ref: Option<String>,
    pub limits: ImportLimits,
    /// Keep a folder, tar or zip file for file (`preau pack build --verbatim`): a Markdown
    /// course is not rendered into pages.
    pub verbatim: bool,
}

/// What an import produced.
#[derive(Debug)]
pub struct Imported {
    pub tree: preau_pack::SourceTree,
    pub report: ImportReport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Folder,
    Tar,
    /// A ZIP archive that is not a Moodle backup (a site or a folder, zipped).
    Zip,
    MoodleBackup,
    Gift,
    MoodleXml,
    /// A git repository: a working copy, a bare repository, or a bundle file
    /// (`git bundle create`).
    Git,
    Zim,
}

/// Bytes read from the head of a file to recognise it.
const SNIFF_BYTES: usize = 4096;

/// Finds what kind of source `src` is from its content: magic bytes and layout.
pub fn detect(src: &Path) -> Result<SourceKind> {
    let io = |source| ImportError::Io { path: src.to_path_buf(), source };
    let meta = std::fs::metadata(src).map_err(io)?;
    if meta.is_dir() {
        if src.join(".git").exists() || git::is_bare_repository(src) {
            return Ok(SourceKind::Git);
        }
        if src.join("moodle_backup.xml").is_file() {
            return Ok(SourceKind::MoodleBackup);
        }
        return Ok(SourceKind::Folder);
    }
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(src).map_err(io)?.take(SNIFF_BYTES as u64).read_to_end(&mut head).map_err(io)?;
    let unknown = |why: &str| ImportError::UnknownKind { path: src.to_path_buf(), why: why.into() };
    if head.is_empty() {
        return Err(unknown("the file is empty"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        // A gzip tar: a Moodle backup when it holds moodle_backup.xml.
        return if moodle::gzip_tar_has_backup_xml(src)? {
            Ok(SourceKind::MoodleBackup)
        } else {
            // Any other gzip file is read as a compressed tar (the pack reader checks it).
            Ok(SourceKind::Tar)
        };
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return if moodle::zip_has_backup_xml(src)? { Ok(SourceKind::MoodleBackup) } else { Ok(SourceKind::Zip) };
    }
    if git::is_bundle(&head) {
        return Ok(SourceKind::Git);
    }
    if head.starts_with(&[0x5a, 0x49, 0x4d, 0x04]) {
        return Ok(SourceKind::Zim);
    }
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Ok(SourceKind::Tar);
    }
    if head.len() >= 512 && head[..512].iter().all(|b| *b == 0) {
        return Ok(SourceKind::Tar);
    }
    let text = match std::str::from_utf8(&head) {
        Ok(t) => t,
        // The sniffed prefix may end inside a multi-byte character.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).expect("valid prefix"),
        Err(_) => return Err(unknown("binary data of an unknown format")),
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        return if moodle_xml::looks_like_quiz_xml(trimmed) {
            Ok(SourceKind::MoodleXml)
        } else {
            Err(unknown("an XML document whose root is not <quiz> (not a Moodle XML question export)"))
        };
    }
    if gift::looks_like_gift(text) {
        return Ok(SourceKind::Gift);
    }
    Err(unknown("text that is neither GIFT nor Moodle XML"))
}

/// Imports `src` into a source tree, detecting its kind from its content.
pub fn import(src: &Path, opts: &ImportOptions) -> Result<Imported> {
    let kind = detect(src)?;
    let mut imported = match kind {
        SourceKind::Folder | SourceKind::Tar | SourceKind::Zip | SourceKind::Git => {
            let reasons =
                vec!["preau-import runs no site generator (`preau pack build` does, with preau-sitegen)".into()];
            site::import(site::load(src, kind, opts)?, reasons)?
        }
        SourceKind::MoodleBackup => moodle::import(src, &opts.limits)?,
        SourceKind::Gift => gift::import(src, &opts.limits)?,
        SourceKind::MoodleXml => moodle_xml::import(src, &opts.limits)?,
        SourceKind::Zim => zim::import(src, &opts.limits)?,
    };
    if imported.tree.meta.id.is_empty() {
        imported.tree.meta.id = preau_pack::path::slugify_id(&imported.tree.meta.title);
    }
    imported.report.files = imported.tree.files.len() as u32;
    if imported.report.title.is_empty() {
        imported.report.title = imported.tree.meta.title.clone();
    }
    Ok(imported)
}

pub(crate) fn source_limits(l: &ImportLimits) -> preau_pack::source::SourceLimits {
    preau_pack::source::SourceLimits {
        max_file_bytes: l.max_file_bytes,
        max_total_bytes: l.max_total_bytes,
        max_entries: usize::try_from(l.max_entries).unwrap_or(usize::MAX),
    }
}

/// A folder, tar or zip kept byte-exact: only metadata is added. `name` is the title
/// when the source gave none.
pub(crate) fn plain(mut tree: preau_pack::SourceTree, kind: &str, name: &str) -> Imported {
    if tree.meta.kind.is_empty() {
        tree.meta.kind = kind.into();
    }
    if tree.meta.title.is_empty() {
        tree.meta.title = name.to_string();
    }
    if tree.meta.entry.is_empty() && tree.files.iter().any(|f| f.path == "index.html") {
        tree.meta.entry = "index.html".into();
    }
    let mut report = ImportReport::new(kind);
    report.title = tree.meta.title.clone();
    Imported { tree, report }
}

/// Reads a whole file, refusing more than `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let io = |source| ImportError::Io { path: path.to_path_buf(), source };
    let mut buf = Vec::new();
    std::fs::File::open(path).map_err(io)?.take(max.saturating_add(1)).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > max {
        return Err(ImportError::limit(format!("size of {what}"), format!("more than {max} bytes")));
    }
    Ok(buf)
}
