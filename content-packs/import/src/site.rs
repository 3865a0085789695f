//! Sources that are web-site projects (MkDocs, Sphinx, Jupyter Book, Hugo, Quarto),
//! recognised by their content in every source form: a folder, a tar, a zip or a git
//! repository, at the top or inside a single top folder.
//!
//! This crate never runs a site generator (no process, no network: `preau-sitegen`
//! does that on the publisher's machine). For a MkDocs project it takes the next paths
//! of the chain, in order, and says in the report which one it took and why:
//! a built site the source already holds (`site/`, `public/`, a `gh-pages` branch),
//! then its own Markdown rendering ([`crate::markdown::build_site`]), listing every
//! construct that rendering left as text. Whatever made the pages, each one gets a
//! `lang` and a small link back to the box's home ([`finish_page`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use preau_pack::SourceTree;
use preau_pack::source::SourceData;

use crate::error::Result;
use crate::git::Commit;
use crate::report::{ImportReport, SiteReport, Unrendered};
use crate::{ImportOptions, Imported, SourceKind};

/// A kind of site project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Project {
    MkDocs,
    Sphinx,
    JupyterBook,
    Hugo,
    Quarto,
}

impl Project {
    pub fn name(self) -> &'static str {
        match self {
            Project::MkDocs => "mkdocs",
            Project::Sphinx => "sphinx",
            Project::JupyterBook => "jupyter-book",
            Project::Hugo => "hugo",
            Project::Quarto => "quarto",
        }
    }
}

/// A project found in a source: its kind and its folder (`""` or `"top/"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub project: Project,
    pub root: String,
}

/// Finds a site project among the paths of a source: at its top, or inside the single
/// top folder that holds everything (as tars and zips of a project usually have).
pub fn find_project<'a>(paths: impl IntoIterator<Item = &'a str>) -> Option<Found> {
    let paths: BTreeSet<&str> = paths.into_iter().collect();
    let at = |root: &str| -> Option<Project> {
        let has = |p: &str| paths.contains(format!("{root}{p}").as_str());
        let has_dir = |d: &str| {
            let prefix = format!("{root}{d}/");
            paths.range(prefix.as_str()..).next().is_some_and(|p| p.starts_with(&prefix))
        };
        if has("mkdocs.yml") || has("mkdocs.yaml") {
            Some(Project::MkDocs)
        } else if has("_quarto.yml") || has("_quarto.yaml") {
            Some(Project::Quarto)
        } else if has("_config.yml") && has("_toc.yml") {
            Some(Project::JupyterBook)
        } else if (has("hugo.toml") || has("hugo.yaml") || has("config.toml")) && has_dir("content") {
            Some(Project::Hugo)
        } else if SPHINX_CONF_DIRS.iter().any(|d| has(&format!("{d}conf.py"))) {
            Some(Project::Sphinx)
        } else {
            None
        }
    };
    if let Some(project) = at("") {
        return Some(Found { project, root: String::new() });
    }
    let first = paths.iter().next()?;
    let (top, _) = first.split_once('/')?;
    let root = format!("{top}/");
    if paths.iter().all(|p| p.starts_with(&root)) {
        return at(&root).map(|project| Found { project, root });
    }
    None
}

/// Where a Sphinx project keeps `conf.py` (its source folder), relative to the project's
/// folder, in the order they are looked for: `sphinx-quickstart` writes `conf.py` at the
/// top, or in `source/` with separate source and build folders; projects often put that
/// under `docs/` or `doc/`.
pub const SPHINX_CONF_DIRS: &[&str] = &["", "docs/", "doc/", "source/", "docs/source/", "doc/source/"];

/// The folder of the Sphinx project's `conf.py` (`""`, `"docs/"`…) among the project's files.
pub fn sphinx_conf_dir<'a>(project_files: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let paths: BTreeSet<&str> = project_files.into_iter().collect();
    SPHINX_CONF_DIRS.iter().copied().find(|d| paths.contains(format!("{d}conf.py").as_str()))
}

/// A string assigned at the top level of a Sphinx `conf.py` (`project = "Cours"`), when
/// it is a plain literal (not an expression: the file is Python and is never run here).
pub fn conf_py_string(conf: &str, name: &str) -> Option<String> {
    for line in conf.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let Some(value) = rest.trim_start().strip_prefix('=') else { continue };
        let value = value.split(" #").next().unwrap_or("").trim();
        let value = value.strip_prefix(['u', 'r']).filter(|v| v.starts_with(['"', '\''])).unwrap_or(value);
        let q = value.chars().next()?;
        if !matches!(q, '"' | '\'') || value.len() < 2 || !value.ends_with(q) {
            return None;
        }
        let inner = &value[1..value.len() - 1];
        return (!inner.contains(q) && inner.len() <= 300).then(|| inner.to_string());
    }
    None
}

enum Files {
    /// A folder, tar or zip, as read.
    Tree(SourceTree),
    /// The tree of one commit, and the `gh-pages` site if the repository has one.
    Commit(Commit, Option<BTreeMap<String, Vec<u8>>>),
}

/// A folder, tar, zip or git source, read, with the project it holds if any.
pub struct SiteSource {
    pub kind: SourceKind,
    /// The source's own name (folder, top folder or archive stem): the fallback title.
    pub name: String,
    pub project: Option<Found>,
    files: Files,
    max_file_bytes: u64,
    verbatim: bool,
    limits: crate::ImportLimits,
}

fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Git => "git",
        SourceKind::Zip => "zip",
        SourceKind::Tar => "tar",
        _ => "folder",
    }
}

/// Reads `src`, of kind `kind` (a folder, tar, zip or git repository, see
/// [`crate::detect`]), and looks for a site project in it.
pub fn load(src: &Path, kind: SourceKind, opts: &ImportOptions) -> Result<SiteSource> {
    let limits = &opts.limits;
    let files = match kind {
        SourceKind::Git if src.is_file() => {
            // A bundle: cloned (bounded) into a folder that lives while it is read.
            let clone = crate::git::clone_bundle(src)?;
            let commit = crate::git::read_commit(&clone.path, opts.git_ref.as_deref(), limits)?;
            let pages = crate::git::read_pages_branch(&clone.path, limits);
            Files::Commit(commit, pages)
        }
        SourceKind::Git => {
            let commit = crate::git::read_commit(src, opts.git_ref.as_deref(), limits)?;
            let pages = crate::git::read_pages_branch(src, limits);
            Files::Commit(commit, pages)
        }
        SourceKind::Tar => Files::Tree(preau_pack::source::from_tar(src, crate::source_limits(limits))?),
        SourceKind::Zip => Files::Tree(zip_tree(src, opts)?),
        _ => Files::Tree(preau_pack::source::from_folder(src, crate::source_limits(limits))?),
    };
    let (name, project) = match &files {
        Files::Tree(t) => (t.meta.title.clone(), find_project(t.files.iter().map(|f| f.path.as_str()))),
        Files::Commit(c, _) => (c.folder.clone(), find_project(c.files.keys().map(String::as_str))),
    };
    Ok(SiteSource {
        kind,
        name,
        project,
        files,
        max_file_bytes: limits.max_file_bytes,
        verbatim: opts.verbatim,
        limits: limits.clone(),
    })
}

/// A zip that is not a Moodle backup: its files, a single top folder dropped (as for tars).
fn zip_tree(src: &Path, opts: &ImportOptions) -> Result<SourceTree> {
    let archive = crate::archive::read_zip(src, &opts.limits)?;
    let mut tree = SourceTree::default();
    let top = archive.members.keys().next().and_then(|p| p.split_once('/')).map(|(t, _)| format!("{t}/"));
    let strip = top.filter(|t| archive.members.keys().all(|p| p.starts_with(t.as_str())));
    for (path, bytes) in archive.members {
        let path = match &strip {
            Some(t) => path[t.len()..].to_string(),
            None => path,
        };
        tree.add_bytes(path, bytes);
    }
    let stem = match &strip {
        Some(t) => t.trim_end_matches('/').to_string(),
        None => src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    tree.meta.title = stem.clone();
    tree.meta.id = preau_pack::path::slugify_id(&stem);
    tree.meta.entry = preau_pack::source::default_entry(&tree);
    Ok(tree)
}

impl SiteSource {
    /// The files of the project's folder, by their path inside it (the whole source
    /// when there is no project).
    pub fn project_files(&self) -> Result<BTreeMap<String, Vec<u8>>> {
        let root = self.project.as_ref().map(|f| f.root.as_str()).unwrap_or("");
        let mut out = BTreeMap::new();
        match &self.files {
            Files::Tree(t) => {
                for f in &t.files {
                    let Some(rel) = f.path.strip_prefix(root) else { continue };
                    let bytes = match &f.data {
                        SourceData::Bytes(b) => b.clone(),
                        SourceData::File(p) => crate::read_bounded(p, self.max_file_bytes, &f.path)?,
                    };
                    out.insert(rel.to_string(), bytes);
                }
            }
            Files::Commit(c, _) => {
                for (p, b) in &c.files {
                    if let Some(rel) = p.strip_prefix(root) {
                        out.insert(rel.to_string(), b.clone());
                    }
                }
            }
        }
        Ok(out)
    }

    fn pages_branch(&self) -> Option<&BTreeMap<String, Vec<u8>>> {
        match &self.files {
            Files::Commit(_, pages) => pages.as_ref(),
            Files::Tree(_) => None,
        }
    }

    fn report(&self) -> ImportReport {
        match &self.files {
            Files::Commit(c, _) => c.report.clone(),
            Files::Tree(_) => ImportReport::new(kind_name(self.kind)),
        }
    }
}

/// Imports a site source without running any generator: `reasons` say why the
/// generator did not run (they go to the report).
pub fn import(s: SiteSource, reasons: Vec<String>) -> Result<Imported> {
    match s.project.clone() {
        Some(found) if found.project == Project::MkDocs => mkdocs_without_generator(s, found, reasons),
        Some(found) if found.project == Project::Sphinx => sphinx_without_generator(s, found, reasons),
        other => not_built(s, other, reasons),
    }
}

/// A source kept as it is (a Markdown course rendered): no project, or a project whose
/// site could not be built and which holds no built site.
fn not_built(s: SiteSource, other: Option<Found>, mut reasons: Vec<String>) -> Result<Imported> {
    if other.is_none()
        && let Some(imported) = unpacked_moodle_backup(&s)?
    {
        return Ok(imported);
    }
    let kind = kind_name(s.kind);
    let course = other.is_none() && !s.verbatim && matches!(&s.files, Files::Tree(t) if markdown_course(t));
    let mut imported = match s.files {
        // A Markdown course in a folder, tar or zip: pages, a start page with
        // the chapters and previous/next, as from a git repository.
        Files::Tree(_) if course => {
            let files = s.project_files()?;
            let report = ImportReport::new(kind);
            crate::git::rendered(files, &s.name, report, kind)
        }
        Files::Tree(t) => crate::plain(t, kind, &s.name),
        Files::Commit(c, _) => crate::git::from_commit(c),
    };
    if let Some(found) = other {
        let (root_fr, root) = if found.root.is_empty() {
            ("le dossier racine".to_string(), "the top folder".to_string())
        } else {
            (found.root.clone(), found.root.clone())
        };
        let name = found.project.name();
        if found.project == Project::Sphinx {
            imported.report.warn(format!(
                "projet {name} reconnu dans {root_fr} : son site n'a pas pu être construit ({reason}) ; ses fichiers sont gardés tels quels / \
                 {name} project recognised in {root}: its site could not be built ({reason}); its files are kept as they are",
                reason = reasons.first().map(String::as_str).unwrap_or("sans raison donnée / no reason given")
            ));
        } else {
            imported.report.warn(format!(
                "projet {name} reconnu dans {root_fr} : Préau ne construit pas ce genre de site ; ses fichiers sont gardés tels quels / \
                 {name} project recognised in {root}: Préau does not build this kind of site; its files are kept as they are"
            ));
            reasons.push(format!("no builder for {name} projects yet"));
        }
        imported.report.site = Some(SiteReport {
            project: name.into(),
            root: found.root,
            path: "none".into(),
            reasons,
            ..Default::default()
        });
        set_report_file(&mut imported);
    }
    Ok(imported)
}

/// A Moodle backup kept unpacked (`moodle_backup.xml` at the top, or in the single top
/// folder) in a git repository, a plain tar or a zip: imported as the course, as its
/// `.mbz` would be.
fn unpacked_moodle_backup(s: &SiteSource) -> Result<Option<Imported>> {
    let has = |p: &str| match &s.files {
        Files::Tree(t) => t.files.iter().any(|f| f.path == p),
        Files::Commit(c, _) => c.files.contains_key(p),
    };
    let top = match &s.files {
        Files::Tree(t) => t.files.first().map(|f| f.path.clone()),
        Files::Commit(c, _) => c.files.keys().next().cloned(),
    };
    let top = top.and_then(|p| p.split_once('/').map(|(t, _)| format!("{t}/"))).unwrap_or_default();
    let prefix = if has("moodle_backup.xml") {
        String::new()
    } else if !top.is_empty() && has(&format!("{top}moodle_backup.xml")) {
        top
    } else {
        return Ok(None);
    };
    let members = s
        .project_files()?
        .into_iter()
        .filter_map(|(p, b)| p.strip_prefix(prefix.as_str()).map(|r| (r.to_string(), b)))
        .collect();
    crate::moodle::import_archive(&crate::archive::Archive { members }, &s.limits).map(Some)
}

/// The folders where a Sphinx project's built HTML usually is, for `conf.py` in
/// `conf_dir`: `make html` writes `_build/html/` beside `conf.py`, or `build/html/` beside
/// `source/` with separate folders; a CI job may publish it as `public/`.
fn sphinx_prebuilt_dirs(conf_dir: &str) -> Vec<String> {
    let parent = conf_dir.strip_suffix("source/").unwrap_or(conf_dir);
    let mut dirs = vec![format!("{conf_dir}_build/html/"), format!("{parent}build/html/")];
    for d in ["_build/html/", "build/html/", "docs/_build/html/", "public/"] {
        if !dirs.iter().any(|x| x == d) {
            dirs.push(d.to_string());
        }
    }
    dirs
}

/// A Sphinx project whose generator did not run: the built site it holds, else its
/// files as they are (Préau has no reStructuredText rendering of its own).
fn sphinx_without_generator(s: SiteSource, found: Found, mut reasons: Vec<String>) -> Result<Imported> {
    let files = s.project_files()?;
    let conf_dir = sphinx_conf_dir(files.keys().map(String::as_str)).unwrap_or("");
    let prebuilt = sphinx_prebuilt_dirs(conf_dir).into_iter().find(|d| files.contains_key(&format!("{d}index.html")));
    let output: BTreeMap<String, Vec<u8>> = if let Some(dir) = prebuilt {
        reasons.push(format!("the source holds a built site in {dir}: it is served as it is"));
        files.iter().filter_map(|(p, b)| p.strip_prefix(dir.as_str()).map(|r| (r.to_string(), b.clone()))).collect()
    } else if let Some(pages) = s.pages_branch() {
        reasons.push("the repository's gh-pages branch holds the built site: it is served as it is".into());
        pages.clone()
    } else {
        reasons.push(format!(
            "no built site in the source ({}, or a gh-pages branch): its files are kept as they are",
            sphinx_prebuilt_dirs(conf_dir).join(", ")
        ));
        return not_built(s, Some(found), reasons);
    };
    let report = SiteReport {
        project: found.project.name().into(),
        root: found.root,
        path: "prebuilt".into(),
        reasons,
        ..Default::default()
    };
    Ok(site_pack(&s, &files, output, report))
}

/// The pages of a MkDocs project's generator (its output folder's files) become the pack.
pub fn import_generated(
    s: SiteSource,
    output: BTreeMap<String, Vec<u8>>,
    generator: String,
    reasons: Vec<String>,
) -> Result<Imported> {
    let found = s.project.clone().expect("a generated site comes from a project");
    let files = s.project_files()?;
    let report = SiteReport {
        project: found.project.name().into(),
        root: found.root,
        path: "generator".into(),
        generator,
        reasons,
        ..Default::default()
    };
    Ok(site_pack(&s, &files, output, report))
}

fn mkdocs_without_generator(s: SiteSource, found: Found, mut reasons: Vec<String>) -> Result<Imported> {
    let files = s.project_files()?;
    let mut report = SiteReport {
        project: found.project.name().into(),
        root: found.root,
        path: "prebuilt".into(),
        ..Default::default()
    };
    let prebuilt = ["site", "public"].into_iter().find(|d| files.contains_key(&format!("{d}/index.html")));
    let output = if let Some(dir) = prebuilt {
        reasons.push(format!("the source holds a built site in {dir}/: it is served as it is"));
        let prefix = format!("{dir}/");
        files.iter().filter_map(|(p, b)| p.strip_prefix(&prefix).map(|r| (r.to_string(), b.clone()))).collect()
    } else if let Some(pages) = s.pages_branch() {
        reasons.push("the repository's gh-pages branch holds the built site: it is served as it is".into());
        pages.clone()
    } else {
        reasons.push("no built site in the source (site/, public/ or a gh-pages branch)".into());
        report.path = "internal".into();
        let site = crate::markdown::build_site(&files, &s.name);
        let (unrendered, total) = scan_pages(&site.files);
        report.unrendered = unrendered;
        report.unrendered_total = total;
        site.files
    };
    report.reasons = reasons;
    Ok(site_pack(&s, &files, output, report))
}

/// The pack of a site: its pages finished ([`finish_page`]), the metadata from
/// `mkdocs.yml` and the source, the report stored at `_preau/import-report.json`.
fn site_pack(
    s: &SiteSource,
    project: &BTreeMap<String, Vec<u8>>,
    output: BTreeMap<String, Vec<u8>>,
    mut site: SiteReport,
) -> Imported {
    let yml = project.get("mkdocs.yml").or_else(|| project.get("mkdocs.yaml"));
    let yml = yml.map(|y| String::from_utf8_lossy(y).into_owned()).unwrap_or_default();
    let mut cfg = crate::markdown::parse_mkdocs(&yml);
    let mut lang = mkdocs_language(&yml);
    site.site_url = mkdocs_site_url(&yml).unwrap_or_default();
    if site.project == Project::Sphinx.name()
        && let Some(dir) = sphinx_conf_dir(project.keys().map(String::as_str))
        && let Some(conf) = project.get(&format!("{dir}conf.py"))
    {
        let conf = String::from_utf8_lossy(conf);
        cfg.site_name = conf_py_string(&conf, "project").unwrap_or_default();
        lang = conf_py_string(&conf, "language")
            .map(|l| l.replace('_', "-"))
            .filter(|l| !l.is_empty() && l.len() <= 35 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
    let lang = lang.unwrap_or_else(|| "fr".into());
    let mut report = s.report();
    let mut tree = SourceTree::default();
    let mut pages = 0;
    for (path, bytes) in output {
        if path.starts_with("_preau/") {
            report.warn(format!("{path} : fichier du site sous _preau/ omis (réservé à Préau) / a site file under _preau/ is left out (reserved by Préau)"));
            continue;
        }
        if path.ends_with(".html") {
            pages += 1;
            let html = String::from_utf8_lossy(&bytes);
            tree.add_bytes(path, finish_page(&html, &lang).into_bytes());
        } else {
            tree.add_bytes(path, bytes);
        }
    }
    tree.meta.title = if cfg.site_name.is_empty() { s.name.clone() } else { cfg.site_name.clone() };
    tree.meta.description = cfg.site_description.clone();
    tree.meta.kind = kind_name(s.kind).into();
    tree.meta.entry = "index.html".into();
    tree.meta.language = lang;
    tree.meta.licence = crate::git::licence(project);
    tree.meta.id = preau_pack::path::slugify_id(&s.name);
    if let Files::Commit(c, _) = &s.files {
        tree.meta.source_revision = c.id.clone();
        tree.meta.source_url = c.source_url.clone();
    }
    if !tree.files.iter().any(|f| f.path == "index.html") {
        report.warn("le site n'a pas d'index.html à sa racine : la boîte montre la liste de ses fichiers / the site has no index.html at its top: the box shows its file list");
        tree.meta.entry.clear();
    }
    report.pages = pages;
    report.title = tree.meta.title.clone();
    report.site = Some(site);
    let mut imported = Imported { tree, report };
    set_report_file(&mut imported);
    imported
}

/// Stores the report in the pack (replacing one written before).
fn set_report_file(imported: &mut Imported) {
    let path = preau_pack::course::IMPORT_REPORT_PATH;
    imported.tree.files.retain(|f| f.path != path);
    imported.report.files = imported.tree.files.len() as u32 + 1;
    imported.tree.add_bytes(path, imported.report.to_json());
}

/// `theme: language:` of a `mkdocs.yml` (the language the theme writes in `<html lang>`).
pub fn mkdocs_language(yml: &str) -> Option<String> {
    let mut in_theme = false;
    for line in yml.lines() {
        if !line.starts_with(' ') && !line.starts_with('\t') && !line.trim().is_empty() {
            in_theme = line.trim_end() == "theme:";
            continue;
        }
        if in_theme && let Some(v) = line.trim().strip_prefix("language:") {
            let v = v.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']);
            let ok = !v.is_empty() && v.len() <= 35 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            return ok.then(|| v.to_string());
        }
    }
    None
}

/// A folder of Markdown chapters without a start page of its own: no `index.html` at the
/// top (else it is a site, served as it is), no `_preau/` data (a hand-made pack whose
/// outline names its files), and at least two Markdown files.
fn markdown_course(tree: &SourceTree) -> bool {
    let md = tree.files.iter().filter(|f| f.path.to_ascii_lowercase().ends_with(".md")).count();
    md >= 2
        && !tree.files.iter().any(|f| {
            let p = f.path.to_ascii_lowercase();
            p == "index.html" || p == "index.htm" || p.starts_with("_preau/")
        })
}

/// `site_url:` of a `mkdocs.yml`, when it is a plain http(s) address (not `!ENV […]`).
pub fn mkdocs_site_url(yml: &str) -> Option<String> {
    let line = yml.lines().find(|l| l.starts_with("site_url:"))?;
    let v = line["site_url:".len()..].split(" #").next().unwrap_or("").trim().trim_matches(['"', '\'']);
    let ok =
        (v.starts_with("https://") || v.starts_with("http://")) && v.len() <= 300 && !v.contains(char::is_whitespace);
    ok.then(|| v.to_string())
}

/// Marks the link back to the box added to every page.
pub const BACK_LINK_CLASS: &str = "preau-retour";

/// A page as the box serves it: `lang` on `<html>` when the page has none, and a link
/// back to the box's home at the top of `<body>`. The link is a plain `target="_top"`
/// navigation, which the pack sandbox (no `allow-same-origin`) allows; it is styled
/// inline so that no theme hides it.
pub fn finish_page(html: &str, lang: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = html.to_string();
    // Both insertions are computed on the original text, the later one applied first.
    let mut inserts: Vec<(usize, String)> = Vec::new();
    match find_tag(&lower, "html") {
        Some((start, end)) => {
            if !lower[start..end].contains("lang=") {
                inserts.push((start + "<html".len(), format!(" lang=\"{lang}\"")));
            }
        }
        None => {
            let at = find_tag(&lower, "!doctype").map(|(_, e)| e).unwrap_or(0);
            inserts.push((at, format!("<html lang=\"{lang}\">")));
        }
    }
    if !lower.contains(BACK_LINK_CLASS)
        && let Some((_, end)) = find_tag(&lower, "body")
    {
        inserts.push((end, back_link()));
    }
    inserts.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    for (at, text) in inserts {
        out.insert_str(at, &text);
    }
    out
}

fn back_link() -> String {
    format!(
        "<a class=\"{BACK_LINK_CLASS}\" href=\"/\" target=\"_top\" title=\"Back to the Préau home\" \
         style=\"display:block;margin:0;padding:.3rem .8rem;background:#1a237e;color:#fff;\
         font:14px/1.4 sans-serif;text-decoration:none\">⌂ Retour à l'accueil de Préau</a>"
    )
}

/// The byte range of the first `<name …>` tag (`name` lowercase, `lower` the page in
/// ASCII lowercase).
fn find_tag(lower: &str, name: &str) -> Option<(usize, usize)> {
    let open = format!("<{name}");
    let mut from = 0;
    while let Some(i) = lower[from..].find(&open) {
        let start = from + i;
        let after = lower.as_bytes().get(start + open.len()).copied();
        if matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
            let end = start + lower[start..].find('>')? + 1;
            return Some((start, end));
        }
        from = start + open.len();
    }
    None
}

/// Entries kept in the report: every one up to this bound (all are counted).
const MAX_UNRENDERED: usize = 5000;

fn scan_pages(files: &BTreeMap<String, Vec<u8>>) -> (Vec<Unrendered>, u32) {
    let mut out = Vec::new();
    let mut total = 0u32;
    for (path, bytes) in files.iter().filter(|(p, _)| p.ends_with(".html")) {
        let text = visible_text(&String::from_utf8_lossy(bytes));
        for (construct, sample) in unrendered_constructs(&text) {
            total += 1;
            if out.len() < MAX_UNRENDERED {
                out.push(Unrendered { page: path.clone(), construct: construct.into(), sample });
            }
        }
    }
    (out, total)
}

/// The text a reader sees in a page: tags dropped, and the content of `script`,
/// `style`, `template`, `code`, `pre`, `kbd`, `samp` and `textarea` left out (code shows
/// source syntax on purpose). A few entities are decoded.
pub fn visible_text(html: &str) -> String {
    const SKIP: [&str; 8] = ["script", "style", "template", "code", "pre", "kbd", "samp", "textarea"];
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < html.len() {
        let Some(lt) = html[i..].find('<') else {
            out.push_str(&html[i..]);
            break;
        };
        out.push_str(&html[i..i + lt]);
        let start = i + lt;
        if lower[start..].starts_with("<!--") {
            i = lower[start..].find("-->").map(|e| start + e + 3).unwrap_or(html.len());
            continue;
        }
        let Some(gt) = html[start..].find('>') else { break };
        let tag_end = start + gt + 1;
        let name: String =
            lower[start + 1..tag_end].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '!').collect();
        i = tag_end;
        if SKIP.contains(&name.as_str()) && !lower[start..tag_end].ends_with("/>") {
            let close = format!("</{name}");
            i = lower[tag_end..].find(&close).map(|e| tag_end + e).unwrap_or(html.len());
            out.push(' ');
            continue;
        }
        // Block boundaries keep words (and source lines) apart.
        out.push('\n');
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#123;", "{")
        .replace("&#125;", "}")
        .replace("&amp;", "&")
}

/// Source syntax of MkDocs pages (pymdown-extensions, attr_list, mkdocs-macros) found in
/// visible text: `(construct, sample)` pairs.
pub fn unrendered_constructs(text: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    let sample = |s: &str| s.trim().chars().take(80).collect::<String>();
    for line in text.lines() {
        let t = line.trim();
        if is_admonition(t) {
            found.push(("admonition", sample(t)));
        }
        if t.starts_with("=== \"") {
            found.push(("tabs", sample(t)));
        }
        for (open, close, construct) in [("{{", "}}", "jinja"), ("{%", "%}", "jinja"), ("{#", "#}", "jinja")] {
            if let Some(a) = t.find(open)
                && t[a..].contains(close)
            {
                found.push((construct, sample(&t[a..])));
            }
        }
        if let Some(a) = attr_list(t) {
            found.push(("attr_list", sample(&t[a..])));
        }
        if let Some(a) = t.find("++")
            && t[a + 2..].contains("++")
            && t[a + 2..].chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        {
            found.push(("keys", sample(&t[a..])));
        }
        if let Some(code) = shortcode(t) {
            found.push(("shortcode", code));
        }
        if let Some(m) = maths(t) {
            found.push(("maths", m));
        }
    }
    found
}

/// `!!! note`, `??? tip "Titre"`, `???+ danger classe`: a marker, a lowercase type,
/// then a quoted title or more classes. Prose such as « ??? » or « ??? Qu'est-ce ??? » is not.
fn is_admonition(t: &str) -> bool {
    let Some(rest) = ["???+", "!!!", "???"].iter().find_map(|m| t.strip_prefix(m)) else { return false };
    let Some(rest) = rest.strip_prefix(' ') else { return false };
    let rest = rest.trim_start();
    let word_len = rest.bytes().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-').count();
    let after = rest[word_len..].trim();
    word_len > 0
        && (after.is_empty()
            || after.starts_with('"')
            || after.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b' '))
}

/// `{: .x}`, `{ .x }`, `{.x}`, `{#id}`, `{: width=30%}`: attribute lists of attr_list.
fn attr_list(t: &str) -> Option<usize> {
    let b = t.as_bytes();
    for (i, _) in t.match_indices('{') {
        let rest = &t[i + 1..];
        let inner = rest.trim_start();
        let close = rest.find('}')?;
        if close > 200 {
            continue;
        }
        let starts = inner.starts_with(':')
            || (inner.starts_with('.') || inner.starts_with('#'))
                && inner[1..].chars().next().is_some_and(|c| c.is_alphabetic() || c == ' ' || c == '}');
        if starts && b.get(i + 1) != Some(&b'{') && !inner.starts_with("#}") && !inner.starts_with("# ") {
            return Some(i);
        }
    }
    None
}

/// `:star:`, `:material-home:`, `:fontawesome-brands-gitlab:`: emoji and icon shortcodes.
fn shortcode(t: &str) -> Option<String> {
    let b = t.as_bytes();
    let mut i = 0;
    while let Some(off) = t[i..].find(':') {
        let a = i + off;
        let name_len = t[a + 1..]
            .bytes()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'+'))
            .count();
        let end = a + 1 + name_len;
        let before_ok = a == 0 || !(b[a - 1].is_ascii_alphanumeric() || b[a - 1] == b'/');
        if name_len >= 2
            && b.get(end) == Some(&b':')
            && before_ok
            && !b.get(end + 1).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'/')
            && t[a + 1..end].bytes().any(|c| c.is_ascii_lowercase())
        {
            return Some(t[a..=end].to_string());
        }
        i = a + 1;
    }
    None
}

/// TeX left for the browser: `$…$`, `$$…$$`, `\(…\)`, `\[…\]`.
fn maths(t: &str) -> Option<String> {
    for (open, close) in [("$$", "$$"), ("\\(", "\\)"), ("\\[", "\\]"), ("$", "$")] {
        if let Some(a) = t.find(open)
            && let Some(e) = t[a + open.len()..].find(close)
        {
            let inner = &t[a + open.len()..a + open.len() + e];
            if !inner.is_empty() && !inner.starts_with(' ') && !inner.ends_with(' ') {
                return Some(t[a..a + 2 * open.len() + e].chars().take(80).collect());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_found_at_the_top_or_in_one_top_folder() {
        let f = find_project(["mkdocs.yml", "docs/index.md"]).unwrap();
        assert_eq!((f.project, f.root.as_str()), (Project::MkDocs, ""));
        let f = find_project(["x/mkdocs.yaml", "x/docs/index.md"]).unwrap();
        assert_eq!((f.project, f.root.as_str()), (Project::MkDocs, "x/"));
        assert_eq!(find_project(["x/mkdocs.yml", "y/z.md"]), None);
        assert_eq!(find_project(["docs/conf.py", "docs/index.rst"]).unwrap().project, Project::Sphinx);
        assert_eq!(find_project(["_config.yml", "_toc.yml"]).unwrap().project, Project::JupyterBook);
        assert_eq!(find_project(["_config.yml"]), None);
        assert_eq!(find_project(["s/hugo.toml", "s/content/a.md"]).unwrap().project, Project::Hugo);
        assert_eq!(find_project(["config.toml"]), None);
        assert_eq!(find_project(["_quarto.yml", "index.qmd"]).unwrap().project, Project::Quarto);
    }

    #[test]
    fn pages_get_lang_and_one_back_link() {
        let p = finish_page("<!DOCTYPE html><HTML><head></head><body class=x><p>a</p></body></HTML>", "fr");
        assert!(p.starts_with("<!DOCTYPE html><HTML lang=\"fr\"><head></head><body class=x><a class=\"preau-retour\""));
        assert_eq!(finish_page(&p, "en"), p, "idempotent");
        let p = finish_page("<html lang=\"en\"><body><p>a</p></body></html>", "fr");
        assert!(p.starts_with("<html lang=\"en\"><body><a class"), "{p}");
        assert_eq!(finish_page("<p>fragment</p>", "fr"), "<html lang=\"fr\"><p>fragment</p>");
        assert!(finish_page("<html><bodyx><body>", "fr").contains("<bodyx><body><a"));
    }

    #[test]
    fn site_url_is_read() {
        assert_eq!(
            mkdocs_site_url("site_name: x\nsite_url: https://a.github.io/pnsi # serve\n").as_deref(),
            Some("https://a.github.io/pnsi")
        );
        assert_eq!(mkdocs_site_url("site_url: !ENV [CI_PAGES_URL, \"http://127.0.0.1:8000/\"]\n"), None);
        assert_eq!(mkdocs_site_url("# site_url: https://x.org/\n"), None);
    }

    #[test]
    fn theme_language_is_read() {
        let yml = "site_name: x\ntheme:\n    name: material\n    language: fr   # français\nplugins:\n  - search\n";
        assert_eq!(mkdocs_language(yml).as_deref(), Some("fr"));
        assert_eq!(mkdocs_language("theme:\n  name: x\nlanguage: de\n"), None);
    }

    #[test]
    fn source_syntax_in_visible_text_is_found_but_not_in_code() {
        let html = "<p>!!! abstract \"Résumé\"</p><p>Image {: .center width=30%}</p><p>{{ initexo(0) }}</p>\
                    <p>{# commentaire #}</p><p>Bravo :star: à 10:30:45</p><p>$5603_d$</p>\
                    <pre><code>!!! note\n{{ x }} :smile:</code></pre><script>var a = '{{ y }}';</script>";
        let found: Vec<&str> = unrendered_constructs(&visible_text(html)).into_iter().map(|(c, _)| c).collect();
        assert_eq!(found, ["admonition", "attr_list", "jinja", "jinja", "shortcode", "maths"]);
        let clean = "<p>Le lien {lien} et l'heure 10:30:00, http://a:b/ et 5 $ ou 6 $.</p><p>???</p>\
                     <p>??? Qu'est-ce ???</p>";
        assert!(unrendered_constructs(&visible_text(clean)).is_empty());
    }
}
