//! Local git repositories (a La Forge project cloned by the operator), read with gix.
//!
//! The pack is made from the tree of one commit (the ref given, default `HEAD`), never
//! from the working copy, so uncommitted files cannot leak into a pack. Symbolic links
//! and submodules are left out and reported. The tree then goes through
//! [`crate::markdown::build_site`]. Metadata comes from the repository: title (MkDocs
//! `site_name`, first heading of the README, or the folder name), licence file, the
//! `origin` remote URL (without credentials) and the commit id.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{ImportError, Result};
use crate::report::{ImportReport, Status};
use crate::{ImportLimits, Imported};

pub fn is_bare_repository(p: &Path) -> bool {
    p.join("HEAD").is_file() && p.join("objects").is_dir() && p.join("refs").is_dir()
}

/// A git bundle file (`git bundle create`) starts with its signature line.
pub fn is_bundle(head: &[u8]) -> bool {
    head.starts_with(b"# v2 git bundle\n") || head.starts_with(b"# v3 git bundle\n")
}

/// How long cloning a bundle may take before it is stopped.
const CLONE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// A bare clone of a bundle, removed when dropped.
pub struct BundleClone {
    /// The clone; its folder name is the bundle's name (the title when nothing better).
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// Clones the bundle `src` with the `git` command into a temporary folder: bare (no
/// working copy to write, no hook run), with no user or system configuration, stopped
/// after [`CLONE_TIMEOUT`]. Its size is bounded by the bundle's, which the caller
/// bounded; what is read from it is bounded by [`read_commit`]'s limits.
pub fn clone_bundle(src: &Path) -> Result<BundleClone> {
    let dir = tempfile::tempdir().map_err(|e| git_err(src, format!("temporary folder: {e}")))?;
    let name = src.file_stem().and_then(|s| s.to_str()).filter(|s| !s.is_empty() && *s != "..").unwrap_or("bundle");
    let path = dir.path().join(format!("{name}.git"));
    let mut child = std::process::Command::new("git")
        .args(["clone", "--bare", "--quiet", "--"])
        .arg(src)
        .arg(&path)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| git_err(src, format!("a git bundle needs the git command to be read: {e}")))?;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| git_err(src, format!("git clone: {e}")))? {
            break status;
        }
        if started.elapsed() > CLONE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(git_err(src, format!("cloning the bundle took more than {} s", CLONE_TIMEOUT.as_secs())));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.by_ref().take(4096).read_to_string(&mut err);
        }
        return Err(git_err(src, format!("not a usable git bundle ({}): {}", status, err.trim())));
    }
    Ok(BundleClone { path, _dir: dir })
}

fn git_err(path: &Path, detail: impl std::fmt::Display) -> ImportError {
    ImportError::Git { path: path.to_path_buf(), detail: detail.to_string() }
}

/// The files of one commit of a repository, with what the pack's metadata needs.
pub struct Commit {
    pub files: BTreeMap<String, Vec<u8>>,
    pub id: String,
    /// The `origin` remote, without credentials.
    pub source_url: String,
    /// The repository's folder name (without `.git`).
    pub folder: String,
    /// What reading left out (links, submodules, oversized images).
    pub report: ImportReport,
}

/// Reads the tree of `git_ref` (default `HEAD`: the default branch's head, in a working
/// copy or a bare repository).
pub fn read_commit(src: &Path, git_ref: Option<&str>, limits: &ImportLimits) -> Result<Commit> {
    let repo = gix::open(src).map_err(|e| git_err(src, format!("cannot open: {e}")))?;
    let commit = find_commit(&repo, src, git_ref)?;
    let commit_id = commit.id.to_string();
    let tree = commit.tree().map_err(|e| git_err(src, format!("tree of {commit_id}: {e}")))?;
    let mut report = ImportReport::new("git");
    report.source_version = commit_id.clone();
    let mut files = BTreeMap::new();
    let mut budget = (0u64, 0u64);
    walk(&repo, src, tree, "", limits, &mut files, &mut budget, &mut report, 0)?;
    let folder = src
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().trim_end_matches(".git").to_string()))
        .unwrap_or_else(|| "depot".into());
    let source_url = repo
        .config_snapshot()
        .string("remote.origin.url")
        .map(|u| strip_credentials(&u.to_string()))
        .unwrap_or_default();
    Ok(Commit { files, id: commit_id, source_url, folder, report })
}

/// The files of the site a `gh-pages` branch holds (local or `origin`'s), if any.
pub fn read_pages_branch(src: &Path, limits: &ImportLimits) -> Option<BTreeMap<String, Vec<u8>>> {
    let repo = gix::open(src).ok()?;
    let name =
        ["gh-pages", "origin/gh-pages"].into_iter().find(|n| repo.try_find_reference(*n).ok().flatten().is_some())?;
    let commit = find_commit(&repo, src, Some(name)).ok()?;
    let tree = commit.tree().ok()?;
    let mut files = BTreeMap::new();
    let mut report = ImportReport::new("git");
    walk(&repo, src, tree, "", limits, &mut files, &mut (0, 0), &mut report, 0).ok()?;
    files.contains_key("index.html").then_some(files)
}

fn find_commit<'r>(repo: &'r gix::Repository, src: &Path, git_ref: Option<&str>) -> Result<gix::Commit<'r>> {
    match git_ref {
        None | Some("HEAD") => repo.head_commit().map_err(|e| git_err(src, format!("HEAD has no commit: {e}"))),
        Some(r) => {
            let by_name = repo.try_find_reference(r).ok().flatten();
            match by_name {
                Some(mut reference) => {
                    reference.peel_to_commit().map_err(|e| git_err(src, format!("ref {r:?} is not a commit: {e}")))
                }
                None => {
                    let id: gix::ObjectId =
                        r.parse().map_err(|_| git_err(src, format!("no branch, tag or full commit id named {r:?}")))?;
                    repo.find_commit(id).map_err(|e| git_err(src, format!("commit {r}: {e}")))
                }
            }
        }
    }
}

/// A repository that holds no site project: every Markdown file rendered (or the
/// prebuilt site it holds), as [`crate::markdown::build_site`] does.
pub fn import(src: &Path, git_ref: Option<&str>, limits: &ImportLimits) -> Result<Imported> {
    Ok(from_commit(read_commit(src, git_ref, limits)?))
}

pub(crate) fn from_commit(c: Commit) -> Imported {
    let Commit { files, id: commit_id, source_url, folder, report } = c;
    let mut imported = rendered(files, &folder, report, "git");
    imported.tree.meta.source_revision = commit_id;
    imported.tree.meta.source_url = source_url;
    imported
}

/// Every Markdown file of `files` rendered into pages with a start page and navigation
/// ([`crate::markdown::build_site`]), the other files kept: the pack of a Markdown course
/// (a git repository, or a folder, tar or zip of one without a site project).
pub(crate) fn rendered(
    files: BTreeMap<String, Vec<u8>>,
    folder: &str,
    mut report: ImportReport,
    kind: &str,
) -> Imported {
    let site = crate::markdown::build_site(&files, folder);
    report.pages = site.pages;
    report.title = site.title.clone();
    if site.layout == "static" {
        report.warn("site déjà construit trouvé (public/ ou site/), servi tel quel / a prebuilt site (public/ or site/) was found and is served as it is");
    }
    let mut tree = preau_pack::SourceTree::default();
    for (path, bytes) in site.files {
        tree.add_bytes(path, bytes);
    }
    tree.meta.title = site.title;
    tree.meta.description = site.description;
    tree.meta.kind = kind.into();
    tree.meta.entry = "index.html".into();
    tree.meta.licence = licence(&files);
    tree.meta.language = "fr".into();
    tree.meta.id = preau_pack::path::slugify_id(folder);
    report.files = tree.files.len() as u32 + 1;
    tree.add_bytes(preau_pack::course::IMPORT_REPORT_PATH, report.to_json());
    Imported { tree, report }
}

#[allow(clippy::too_many_arguments)]
fn walk(
    repo: &gix::Repository,
    src: &Path,
    tree: gix::Tree<'_>,
    prefix: &str,
    limits: &ImportLimits,
    files: &mut BTreeMap<String, Vec<u8>>,
    budget: &mut (u64, u64),
    report: &mut ImportReport,
    depth: usize,
) -> Result<()> {
    if depth > 64 {
        return Err(ImportError::limit("git tree depth", "more than 64 nested folders"));
    }
    let entries: Vec<_> = tree
        .iter()
        .map(|e| e.map(|e| (e.kind(), e.filename().to_string(), e.object_id())))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| git_err(src, format!("corrupt tree: {e}")))?;
    for (kind, name, id) in entries {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        budget.0 += 1;
        if budget.0 > limits.max_entries {
            return Err(ImportError::limit("git tree entries", format!("more than {}", limits.max_entries)));
        }
        crate::archive::check_member_path(&path, limits)?;
        use gix::object::tree::EntryKind;
        match kind {
            EntryKind::Tree => {
                let sub = repo.find_tree(id).map_err(|e| git_err(src, format!("tree {path}: {e}")))?;
                walk(repo, src, sub, &path, limits, files, budget, report, depth + 1)?;
            }
            EntryKind::Blob | EntryKind::BlobExecutable => {
                let size = repo.find_header(id).map_err(|e| git_err(src, format!("object of {path}: {e}")))?.size();
                if size > limits.max_file_bytes {
                    return Err(ImportError::limit(
                        format!("size of {path}"),
                        format!("{size} bytes, more than {}", limits.max_file_bytes),
                    ));
                }
                if is_image(&path) && size > limits.max_image_bytes {
                    report.file(
                        &path,
                        Status::Skipped,
                        &format!("image de plus de {0} octets / image larger than {0} bytes", limits.max_image_bytes),
                    );
                    continue;
                }
                budget.1 += size;
                if budget.1 > limits.max_total_bytes {
                    return Err(ImportError::limit(
                        "total size of the commit's files",
                        format!("more than {}", limits.max_total_bytes),
                    ));
                }
                let obj = repo.find_object(id).map_err(|e| git_err(src, format!("object of {path}: {e}")))?;
                files.insert(path, obj.data.clone());
            }
            EntryKind::Link => {
                report.file(&path, Status::Skipped, "lien symbolique, non suivi / symbolic link (not followed)")
            }
            EntryKind::Commit => {
                report.file(&path, Status::Skipped, "sous-module git, non inclus / git submodule (not included)")
            }
        }
    }
    Ok(())
}

fn is_image(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".tif", ".tiff"].iter().any(|e| lower.ends_with(e))
}

/// `https://user:token@host/x` → `https://host/x`.
pub fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) =
                rest.split_once('/').map(|(a, p)| (a, format!("/{p}"))).unwrap_or((rest, String::new()));
            let host = authority.rsplit_once('@').map(|x| x.1).unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// An SPDX-like name from the licence file's text.
pub fn licence(files: &BTreeMap<String, Vec<u8>>) -> String {
    let Some(text) = ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "COPYING", "LICENSE.rst"]
        .iter()
        .find_map(|n| files.get(*n))
    else {
        return String::new();
    };
    let t = String::from_utf8_lossy(&text[..text.len().min(4000)]).to_lowercase();
    let checks = [
        ("attribution-sharealike 4.0", "CC-BY-SA-4.0"),
        ("attribution-noncommercial-sharealike 4.0", "CC-BY-NC-SA-4.0"),
        ("attribution 4.0", "CC-BY-4.0"),
        ("cc0", "CC0-1.0"),
        ("licence ouverte", "etalab-2.0"),
        ("gnu affero general public license", "AGPL-3.0"),
        ("gnu general public license\n                       version 3", "GPL-3.0"),
        ("gnu general public license", "GPL"),
        ("mit license", "MIT"),
        ("permission is hereby granted, free of charge", "MIT"),
        ("apache license", "Apache-2.0"),
        ("mozilla public license", "MPL-2.0"),
    ];
    checks
        .iter()
        .find(|(needle, _)| t.contains(needle))
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| "see LICENSE".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed() {
        assert_eq!(
            strip_credentials("https://oauth2:secret@forge.apps.education.fr/a/b.git"),
            "https://forge.apps.education.fr/a/b.git"
        );
        assert_eq!(strip_credentials("git@host:a/b.git"), "git@host:a/b.git");
    }
}
