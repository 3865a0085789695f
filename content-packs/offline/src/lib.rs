//! Nothing a pack page loads comes from outside the box.
//!
//! After an import, `preau pack build` hands the source tree to [`prepare_pack`]: every
//! HTML page and stylesheet is read with a real HTML tokenizer ([`html`], `lol_html`) and
//! a CSS tokenizer ([`css`]), and each outside reference is
//! - a well-known library on a CDN ([`cdn`]): loaded from the shared libraries pack
//!   `preau-libs` ([`libs`]), whose files come from the library's npm package ([`npm`]);
//! - a polyfill.io-style shim: dropped;
//! - any other resource: downloaded into the pack (bounded, [`fetch`]) or, offline or when
//!   that fails, removed, leaving the alt text of an image or a link for a video;
//! - a link: kept, marked as needing the internet.
//!
//! Each change is a line of the import report ([`preau_import::OfflineChange`]).
//! The pure parts ([`cdn`], [`css`], [`html`], [`plan_path`]) do no I/O; [`fetch`] and
//! [`npm`] are the only code that downloads. `preau-pack` and `preau-import` stay
//! without network I/O.

pub mod cdn;
pub mod css;
pub mod fetch;
pub mod html;
pub mod js;
pub mod libs;
pub mod npm;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use preau_import::{ImportReport, OfflineChange};
use preau_pack::build::{BuildOptions, BuildSummary};
use preau_pack::{SecretKey, SourceData, SourceTree};
use url::Url;

use crate::cdn::Known;
use crate::fetch::{FetchLimits, Fetcher};
use crate::html::{Action, Found, Use};
use crate::libs::{LIBS_PACK_ID, Libs};
use crate::npm::Npm;

/// Where downloaded outside resources go inside a pack.
pub const DOWNLOAD_DIR: &str = "preau-offline";

/// How a build treats outside references.
#[derive(Debug, Clone)]
pub struct Options {
    /// No download at all: libraries come from the libraries pack or the cache only, other
    /// outside resources are removed.
    pub offline: bool,
    pub registry: Url,
    /// npm tarballs are cached under `<cache_dir>/npm/`.
    pub cache_dir: PathBuf,
    pub max_cache_bytes: u64,
    /// Host names answered with these addresses (tests serve "outside" hosts locally).
    pub resolve: Vec<(String, SocketAddr)>,
    pub limits: FetchLimits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            offline: false,
            registry: Url::parse(npm::DEFAULT_REGISTRY).expect("a valid URL"),
            cache_dir: default_cache_dir(),
            max_cache_bytes: 2 * 1024 * 1024 * 1024,
            resolve: Vec::new(),
            limits: FetchLimits::default(),
        }
    }
}

/// `$XDG_CACHE_HOME/preau`, else `~/.cache/preau`, else a folder in the temporary directory.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("preau");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache/preau");
    }
    std::env::temp_dir().join("preau-cache")
}

/// Makes `tree` load nothing from outside the box, records every change in `report`
/// (and in the tree's `_preau/import-report.json`), and, when the pages need library files
/// that the repository's libraries pack lacks, builds its new version first, so that a
/// catalog never lists a pack without the libraries it loads.
pub fn prepare_pack(
    repo_dir: &Path,
    key: &SecretKey,
    tree: &mut SourceTree,
    report: &mut ImportReport,
    opts: &Options,
    build: &BuildOptions,
) -> Result<Option<BuildSummary>, String> {
    if tree.meta.id == LIBS_PACK_ID {
        return Err(format!("l'identifiant {LIBS_PACK_ID} est réservé au paquet des bibliothèques partagées"));
    }
    let fetcher = if opts.offline { None } else { Some(Fetcher::new(opts.limits.clone(), &opts.resolve)?) };
    let npm = Npm::new(fetcher.as_ref(), opts.registry.clone(), &opts.cache_dir, opts.max_cache_bytes);
    let mut libs = Libs::open(repo_dir, npm)?;
    let before = report.offline.len();
    make_offline(tree, report, &mut libs, fetcher.as_ref())?;
    if report.offline.len() > before {
        let path = preau_pack::course::IMPORT_REPORT_PATH;
        tree.files.retain(|f| f.path != path);
        tree.add_bytes(path, report.to_json());
    }
    if !libs.changed() {
        return Ok(None);
    }
    let libs_tree = libs.into_tree()?;
    preau_pack::build::build(repo_dir, libs_tree, key, build, &mut |_, _| {})
        .map(Some)
        .map_err(|e| format!("paquet {LIBS_PACK_ID} : {e}"))
}

/// The offline pass of an import on the box itself (a teacher's upload): the box never
/// downloads, so outside resources are removed (an image keeps its alt text, a video
/// iframe becomes a link) and well-known libraries are pointed at the box's installed
/// libraries pack only when it already holds the file (`installed_libs`: its files and a
/// reader), else removed with a report line. Records the changes like [`prepare_pack`].
pub fn prepare_on_box(
    tree: &mut SourceTree,
    report: &mut ImportReport,
    installed_libs: Option<(Vec<preau_pack::FileEntry>, libs::ReadFile<'_>)>,
) -> Result<(), String> {
    if tree.meta.id == LIBS_PACK_ID {
        return Err(format!("l'identifiant {LIBS_PACK_ID} est réservé au paquet des bibliothèques partagées"));
    }
    // An empty cache of its own: nothing outside the installed pack can be resolved, so
    // the libraries pack never needs a new version here.
    let empty_cache = std::env::temp_dir().join(format!("preau-no-npm-cache-{}", std::process::id()));
    let npm = Npm::new(None, Url::parse(npm::DEFAULT_REGISTRY).expect("a valid URL"), &empty_cache, 0);
    let (files, read) = match installed_libs {
        Some((files, read)) => (files, read),
        None => (Vec::new(), Box::new(|f: &preau_pack::FileEntry| Err(format!("{} : pas installé", f.path))) as _),
    };
    let mut libs = Libs::installed(files, read, npm);
    let before = report.offline.len();
    make_offline(tree, report, &mut libs, None)?;
    if libs.changed() {
        return Err("le paquet des bibliothèques changerait, ce que la boîte ne fait pas".into());
    }
    if report.offline.len() > before {
        let path = preau_pack::course::IMPORT_REPORT_PATH;
        tree.files.retain(|f| f.path != path);
        tree.add_bytes(path, report.to_json());
    }
    Ok(())
}

/// `preau pack libs`: adds library files (`LIB@VER`, or `LIB@VER/path` for one file) to
/// the libraries pack and builds its new version if anything was added.
pub fn build_libs(
    repo_dir: &Path,
    key: &SecretKey,
    wanted: &[String],
    opts: &Options,
    build: &BuildOptions,
) -> Result<(Vec<libs::Resolved>, Option<BuildSummary>), String> {
    let fetcher = if opts.offline { None } else { Some(Fetcher::new(opts.limits.clone(), &opts.resolve)?) };
    let npm = Npm::new(fetcher.as_ref(), opts.registry.clone(), &opts.cache_dir, opts.max_cache_bytes);
    let mut libs = Libs::open(repo_dir, npm)?;
    let mut done = Vec::new();
    for w in wanted {
        let r = parse_lib_arg(w)?;
        done.push(libs.resolve(&r).map_err(|e| format!("{w} : {e}"))?);
    }
    if !libs.changed() {
        return Ok((done, None));
    }
    let tree = libs.into_tree()?;
    let summary = preau_pack::build::build(repo_dir, tree, key, build, &mut |_, _| {})
        .map_err(|e| format!("paquet {LIBS_PACK_ID} : {e}"))?;
    Ok((done, Some(summary)))
}

/// `katex@0.16.9`, `@highlightjs/cdn-assets@11.9.0/highlight.min.js`, `mermaid` (latest,
/// its main file).
pub fn parse_lib_arg(s: &str) -> Result<cdn::LibRef, String> {
    let (scope, rest) = match s.strip_prefix('@') {
        Some(r) => {
            let (scope, rest) = r.split_once('/').ok_or_else(|| format!("{s:?} : attendu @scope/paquet@version"))?;
            (format!("@{scope}/"), rest)
        }
        None => (String::new(), s),
    };
    let (name_ver, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (name, version) = match name_ver.split_once('@') {
        Some((n, v)) => (n, Some(v.to_string()).filter(|v| !v.is_empty())),
        None => (name_ver, None),
    };
    let package = format!("{scope}{name}");
    let lib = cdn::library(&package).ok_or_else(|| {
        let known: Vec<&str> = cdn::LIBRARIES.iter().map(|l| l.npm).collect();
        format!("{package} n'est pas une bibliothèque connue ({})", known.join(", "))
    })?;
    Ok(cdn::LibRef { package: lib.npm, version, path: path.to_string() })
}

/// What became of one outside URL (the same for every page that uses it).
#[derive(Debug, Clone)]
enum Target {
    /// An absolute URL on the box (`/packs/preau-libs/…`).
    Box(String),
    /// A file stored in this pack.
    Local(String),
    Removed,
}

/// The rewriting of every page and stylesheet of `tree`. Downloads (libraries, other
/// resources) go through `libs` and `fetcher`; without a fetcher nothing is downloaded.
pub fn make_offline(
    tree: &mut SourceTree,
    report: &mut ImportReport,
    libs: &mut Libs<'_>,
    fetcher: Option<&Fetcher>,
) -> Result<(), String> {
    let own = OwnSite {
        base: report.site.as_ref().and_then(|s| Url::parse(&s.site_url).ok()),
        files: tree.files.iter().map(|f| f.path.clone()).collect(),
    };
    let mut state = State { libs, fetcher, own, done: HashMap::new(), stored: BTreeMap::new(), changes: Vec::new() };
    // Downloaded stylesheets are worked on too, with their own URL as base.
    let mut queue: Vec<(String, Vec<u8>, Option<Url>)> = Vec::new();
    let mut replaced: HashMap<String, Vec<u8>> = HashMap::new();
    for f in &tree.files {
        let lower = f.path.to_ascii_lowercase();
        if lower.starts_with("_preau/") || !(is_html(&lower) || lower.ends_with(".css") || is_script(&lower)) {
            continue;
        }
        let bytes = match &f.data {
            SourceData::Bytes(b) => b.clone(),
            SourceData::File(p) => std::fs::read(p).map_err(|e| format!("{} : {e}", p.display()))?,
        };
        queue.push((f.path.clone(), bytes, None));
    }
    while let Some((path, bytes, base)) = queue.pop() {
        let lower = path.to_ascii_lowercase();
        let new = if is_html(&lower) {
            html::rewrite(&bytes, &mut |found| state.decide(&path, found, base.as_ref()))
                .map_err(|e| format!("{path} : {e}"))?
        } else if is_script(&lower) {
            // Scripts that are not UTF-8 are left as they are.
            match std::str::from_utf8(&bytes) {
                Ok(text) => js::rewrite(text, &mut |u| {
                    html::script_decision(u, &mut |found| state.decide(&path, found, base.as_ref()))
                })
                .into_bytes(),
                Err(_) => bytes.clone(),
            }
        } else {
            let text = String::from_utf8_lossy(&bytes);
            css::rewrite(&text, &mut |u| html::css_decision(u, &mut |found| state.decide(&path, found, base.as_ref())))
                .into_bytes()
        };
        if base.is_some() || new != bytes {
            replaced.insert(path, new);
        }
        // Stylesheets downloaded while working on this file: their own references next.
        queue.extend(state.take_new_stylesheets());
    }
    for f in &mut tree.files {
        if let Some(b) = replaced.remove(&f.path) {
            f.data = SourceData::Bytes(b);
        }
    }
    for (path, bytes) in replaced {
        tree.add_bytes(path, bytes);
    }
    for (path, (bytes, _)) in std::mem::take(&mut state.stored) {
        if !tree.files.iter().any(|f| f.path == path) {
            tree.add_bytes(path, bytes);
        }
    }
    report.offline.extend(state.changes);
    Ok(())
}

fn is_script(lower: &str) -> bool {
    lower.ends_with(".js") || lower.ends_with(".mjs")
}

fn is_html(lower: &str) -> bool {
    lower.ends_with(".html") || lower.ends_with(".htm") || lower.ends_with(".xhtml")
}

/// Hosts of forges' static pages (GitHub, GitLab and La Forge's Pages): a site published
/// there often names its own files by their published address.
const PAGES_HOSTS: &[&str] = &[".github.io", ".gitlab.io", ".forge.aeif.fr", ".forge.apps.education.fr"];

/// The site's own address online (`site_url`, when the source says it) and the pack's
/// files: an absolute reference to a page or file of the site itself is a reference
/// inside the pack.
struct OwnSite {
    base: Option<Url>,
    files: std::collections::HashSet<String>,
}

impl OwnSite {
    /// The pack file `url` names, if it is under the site's address and the pack holds it
    /// (a folder address: its `index.html`). `http` and `https` are the same site. Without
    /// a known address, an address on a Pages host whose path, after the project's
    /// folder, is a file of the pack in a sub-folder (`…github.io/Cours/abr/images/x.png`
    /// and `abr/images/x.png`) is taken as the site's own.
    fn file(&self, url: &Url) -> Option<String> {
        let segments = |path: &str| -> Vec<String> {
            // Plugins that join `site_url` and a path by hand write `…/pnsi//js/x.js`.
            path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect()
        };
        let Some(base) = &self.base else {
            let host = url.host_str()?;
            if !PAGES_HOSTS.iter().any(|h| host.ends_with(h)) {
                return None;
            }
            let segs = segments(url.path());
            return (0..=1.min(segs.len())).find_map(|skip| {
                let path = segs[skip..].join("/");
                (path.contains('/') && self.files.contains(&path)).then_some(path)
            });
        };
        if url.host_str()? != base.host_str()? || url.port() != base.port() {
            return None;
        }
        let rest = url.path().strip_prefix(base.path().trim_end_matches('/'))?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let path = segments(rest).join("/");
        let index = if path.is_empty() { "index.html".to_string() } else { format!("{path}/index.html") };
        if !path.is_empty() && self.files.contains(&path) {
            Some(path)
        } else if self.files.contains(&index) {
            Some(index)
        } else {
            None
        }
    }
}

impl OwnSite {
    /// The pack file a root-relative reference (`/proj/page/`, not `//host/…`) names,
    /// when the site's address is known and the path is under it; its fragment kept.
    fn root_relative(&self, reference: &str) -> Option<String> {
        let r = reference.trim();
        if !r.starts_with('/') || r.starts_with("//") {
            return None;
        }
        let base = self.base.as_ref()?;
        // A site at the top of its host (`https://x.org/`) cannot be told from the box's own
        // root paths (`/`, the link back home): only a site in a sub-path is mapped.
        if base.path().trim_matches('/').is_empty() {
            return None;
        }
        let url = base.join(r).ok()?;
        let file = self.file(&url)?;
        Some(match url.fragment() {
            Some(f) => format!("{file}#{f}"),
            None => file,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct State<'a, 'f> {
    libs: &'a mut Libs<'f>,
    fetcher: Option<&'a Fetcher>,
    own: OwnSite,
    done: HashMap<String, Target>,
    /// Downloaded files: pack path → (bytes, whether its references were seen to).
    stored: BTreeMap<String, (Vec<u8>, bool)>,
    changes: Vec<OfflineChange>,
}

impl State<'_, '_> {
    fn note(&mut self, page: &str, url: &str, action: &str, target: &str, detail: String) {
        self.changes.push(OfflineChange {
            page: page.into(),
            url: url.into(),
            action: action.into(),
            target: target.into(),
            detail,
        });
    }

    fn decide(&mut self, page: &str, found: &Found, base: Option<&Url>) -> Action {
        // A root-relative reference in a pack page (`/cours/x/nb.ipynb`, written by a
        // generator from `site_url`'s path) points at the box's root, never at the pack:
        // under the site's path, it is the pack's own file.
        if base.is_none()
            && found.kind != Use::ScriptLiteral
            && let Some(file) = self.own.root_relative(&found.url)
        {
            self.note(page, &found.url, "own-site", &file, "chemin du site lui-même : le fichier du paquet".into());
            return Action::Replace(relative(page, &file));
        }
        let Some(url) = outside_url(&found.url, base) else { return Action::Keep };
        if base.is_none()
            && found.kind != Use::ScriptLiteral
            && let Some(file) = self.own.file(&url)
        {
            let mut to = relative(page, &file);
            if let Some(f) = url.fragment() {
                to = format!("{to}#{f}");
            }
            self.note(page, &found.url, "own-site", &file, "adresse du site lui-même : le fichier du paquet".into());
            return Action::Replace(to);
        }
        if found.kind == Use::ScriptLiteral {
            return self.decide_script_literal(page, &found.url, &url);
        }
        if found.kind == Use::Link {
            self.note(page, &found.url, "link-marked", "", String::new());
            return Action::MarkOutside;
        }
        if found.kind == Use::Connection {
            self.note(
                page,
                &found.url,
                "removed",
                "",
                "préconnexion à un serveur extérieur, inutile hors ligne".into(),
            );
            return Action::Remove;
        }
        if found.kind == Use::Frame {
            // An embedded outside page (a video player, an exercise site) runs only with
            // the internet: downloading it would bring its own outside loads.
            let what = if html::is_video(&found.url) { "lecteur vidéo" } else { "page extérieure" };
            self.note(
                page,
                &found.url,
                "removed",
                "",
                format!("{what} intégré : remplacé par un lien « nécessite internet »"),
            );
            return Action::Remove;
        }
        let known = cdn::classify(&url);
        if known == Some(Known::Shim) {
            self.note(
                page,
                &found.url,
                "shim-dropped",
                "",
                "service de polyfills : les navigateurs servis n'en ont pas besoin".into(),
            );
            return Action::Remove;
        }
        let key = url.as_str().to_string();
        let target = match self.done.get(&key) {
            Some(t) => t.clone(),
            None => {
                let (t, action, target, detail) = self.resolve(&url, known);
                self.note(page, &found.url, action, &target, detail);
                self.done.insert(key, t.clone());
                return self.action_for(page, &t);
            }
        };
        let (action, shown) = match &target {
            Target::Box(u) => ("library", u.clone()),
            Target::Local(p) => ("downloaded", p.clone()),
            Target::Removed => ("removed", String::new()),
        };
        self.note(page, &found.url, action, &shown, "déjà traité pour une autre page".into());
        self.action_for(page, &target)
    }

    /// A URL in script code: the libraries pack's copy when it is a well-known library
    /// file, else left alone (a script's strings are not all loads).
    fn decide_script_literal(&mut self, page: &str, written: &str, url: &Url) -> Action {
        let Some(Known::Library(r)) = cdn::classify(url) else { return Action::Keep };
        match self.libs.resolve(&r) {
            Ok(res) => {
                self.note(page, written, "library", &res.url(), "adresse dans un script".into());
                Action::Replace(res.url())
            }
            Err(e) => {
                self.note(
                    page,
                    written,
                    "kept",
                    "",
                    format!("adresse dans un script, bibliothèque non disponible : {e}"),
                );
                Action::Keep
            }
        }
    }

    fn action_for(&self, page: &str, t: &Target) -> Action {
        match t {
            Target::Box(u) => Action::Replace(u.clone()),
            Target::Local(p) => Action::Replace(relative(page, p)),
            Target::Removed => Action::Remove,
        }
    }

    /// The first decision for an outside URL: (target, report action, new reference, why).
    fn resolve(&mut self, url: &Url, known: Option<Known>) -> (Target, &'static str, String, String) {
        let mut why_not_library = String::new();
        if let Some(Known::Library(r)) = known {
            match self.libs.resolve(&r) {
                Ok(res) => {
                    let detail = if res.exact {
                        String::new()
                    } else {
                        format!(
                            "version {} demandée, {} utilisée (la plus proche disponible)",
                            r.version.as_deref().unwrap_or("la plus récente"),
                            res.version
                        )
                    };
                    return (Target::Box(res.url()), "library", res.url(), detail);
                }
                Err(e) => why_not_library = format!("bibliothèque non disponible ({e}) ; "),
            }
        }
        let Some(fetcher) = self.fetcher else {
            return (Target::Removed, "removed", String::new(), format!("{why_not_library}construction hors ligne"));
        };
        match fetcher.get(url, fetcher.limits().max_file_bytes, None) {
            Ok(got) => {
                let path = self.store_path(url, &got.content_type);
                let css = got.content_type == "text/css" || path.ends_with(".css");
                self.stored.insert(path.clone(), (got.bytes, !css));
                (
                    Target::Local(path.clone()),
                    "downloaded",
                    path,
                    why_not_library.trim_end_matches([' ', ';']).to_string(),
                )
            }
            Err(e) => {
                (Target::Removed, "removed", String::new(), format!("{why_not_library}téléchargement impossible : {e}"))
            }
        }
    }

    /// A pack path for a downloaded URL, unique per URL: `preau-offline/<host>/<path>`.
    fn store_path(&self, url: &Url, content_type: &str) -> String {
        let host = sanitize(url.host_str().unwrap_or("host"));
        let mut segs: Vec<String> =
            url.path_segments().into_iter().flatten().filter(|s| !s.is_empty()).map(sanitize).collect();
        if segs.is_empty() {
            segs.push("index".into());
        }
        let last = segs.last_mut().expect("one segment at least");
        let (stem, ext) = match last.rsplit_once('.') {
            Some((s, e)) if !s.is_empty() && e.len() <= 5 => (s.to_string(), e.to_ascii_lowercase()),
            _ => (last.clone(), extension_for(content_type).to_string()),
        };
        // A query or a clash with another URL gets a short hash of the whole URL.
        let plain =
            format!("{DOWNLOAD_DIR}/{host}/{}{stem}{}{ext}", prefix_dirs(&segs), if ext.is_empty() { "" } else { "." });
        if url.query().is_none() && !self.stored.contains_key(&plain) {
            return plain;
        }
        let h = preau_pack::Hash::of(url.as_str().as_bytes()).to_string();
        format!(
            "{DOWNLOAD_DIR}/{host}/{}{stem}-{}{}{ext}",
            prefix_dirs(&segs),
            &h[..12],
            if ext.is_empty() { "" } else { "." }
        )
    }

    fn take_new_stylesheets(&mut self) -> Vec<(String, Vec<u8>, Option<Url>)> {
        let mut out = Vec::new();
        let urls: HashMap<String, String> = self
            .done
            .iter()
            .filter_map(|(u, t)| if let Target::Local(p) = t { Some((p.clone(), u.clone())) } else { None })
            .collect();
        for (path, (bytes, seen)) in self.stored.iter_mut() {
            if !*seen {
                *seen = true;
                let base = urls.get(path).and_then(|u| Url::parse(u).ok());
                out.push((path.clone(), bytes.clone(), base));
            }
        }
        out
    }
}

fn prefix_dirs(segs: &[String]) -> String {
    segs[..segs.len() - 1].iter().map(|s| format!("{s}/")).collect()
}

fn sanitize(seg: &str) -> String {
    let s: String = seg
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(80)
        .collect();
    if s.chars().all(|c| c == '.') { "_".into() } else { s }
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/svg+xml" => "svg",
        "image/webp" => "webp",
        "image/x-icon" | "image/vnd.microsoft.icon" => "ico",
        "text/css" => "css",
        "text/javascript" | "application/javascript" | "application/x-javascript" => "js",
        "font/woff2" => "woff2",
        "font/woff" => "woff",
        "font/ttf" => "ttf",
        "video/mp4" => "mp4",
        "audio/mpeg" => "mp3",
        "application/pdf" => "pdf",
        "text/html" => "html",
        _ => "",
    }
}

/// The absolute outside URL a reference names, if it names one: `http(s)://…` or
/// protocol-relative `//…`; relative references of a downloaded stylesheet resolve against
/// its own outside URL (`base`). `data:`, `blob:`, `mailto:`, `javascript:`… are not loads
/// from outside.
pub fn outside_url(reference: &str, base: Option<&Url>) -> Option<Url> {
    let r = reference.trim();
    if r.starts_with("//") {
        return Url::parse(&format!("https:{r}")).ok();
    }
    match Url::parse(r) {
        Ok(u) => matches!(u.scheme(), "http" | "https").then_some(u),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            base.and_then(|b| b.join(r).ok()).filter(|u| matches!(u.scheme(), "http" | "https"))
        }
        Err(_) => None,
    }
}

/// `target` (a pack path) as seen from the file `from` (a pack path).
pub fn relative(from: &str, target: &str) -> String {
    let from_dirs: Vec<&str> = from.split('/').collect();
    let from_dirs = &from_dirs[..from_dirs.len() - 1];
    let to: Vec<&str> = target.split('/').collect();
    let common = from_dirs.iter().zip(&to[..to.len() - 1]).take_while(|(a, b)| a == b).count();
    let mut out = "../".repeat(from_dirs.len() - common);
    out.push_str(&to[common..].join("/"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("index.html", "preau-offline/h/a.png"), "preau-offline/h/a.png");
        assert_eq!(relative("a/b/c.html", "preau-offline/h/a.png"), "../../preau-offline/h/a.png");
        assert_eq!(relative("preau-offline/h/s.css", "preau-offline/h/f/x.woff"), "f/x.woff");
        assert_eq!(relative("preau-offline/h/s.css", "preau-offline/g/x.woff"), "../g/x.woff");
    }

    #[test]
    fn outside_urls() {
        assert!(outside_url("https://x.example/a", None).is_some());
        assert_eq!(outside_url("//x.example/a", None).unwrap().as_str(), "https://x.example/a");
        for inside in ["a.png", "/packs/x", "data:,", "mailto:a@b.c", "javascript:void(0)", "#top", ""] {
            assert!(outside_url(inside, None).is_none(), "{inside}");
        }
        let base = Url::parse("https://fonts.example/css/s.css").unwrap();
        assert_eq!(outside_url("../f/a.woff2", Some(&base)).unwrap().as_str(), "https://fonts.example/f/a.woff2");
    }

    #[test]
    fn own_site_addresses_are_pack_files() {
        let own = OwnSite {
            base: Some(Url::parse("https://a.github.io/pnsi").unwrap()),
            files: ["js/x.js", "index.html", "T1/index.html", "img/é t.png"].iter().map(|s| s.to_string()).collect(),
        };
        let f = |u: &str| own.file(&Url::parse(u).unwrap());
        assert_eq!(f("https://a.github.io/pnsi//js/x.js").as_deref(), Some("js/x.js"));
        assert_eq!(f("http://a.github.io/pnsi/").as_deref(), Some("index.html"));
        assert_eq!(f("https://a.github.io/pnsi/T1/#top").as_deref(), Some("T1/index.html"));
        assert_eq!(f("https://a.github.io/pnsi/img/%C3%A9%20t.png").as_deref(), Some("img/é t.png"));
        assert_eq!(f("https://a.github.io/pnsi/missing.js"), None);
        assert_eq!(f("https://a.github.io/pnsi2/js/x.js"), None);
        assert_eq!(f("https://b.github.io/pnsi/js/x.js"), None);
        // Root-relative paths under the site's path (mkdocs-jupyter's download button).
        assert_eq!(own.root_relative("/pnsi/T1/#top").as_deref(), Some("T1/index.html#top"));
        assert_eq!(own.root_relative("/pnsi/js/x.js").as_deref(), Some("js/x.js"));
        for not_own in ["/", "/packs/x/", "/pnsi/missing.js", "//a.github.io/pnsi/js/x.js", "js/x.js"] {
            assert_eq!(own.root_relative(not_own), None, "{not_own}");
        }
        let top = OwnSite { base: Some(Url::parse("https://x.org/").unwrap()), files: own.files.clone() };
        assert_eq!(top.root_relative("/js/x.js"), None, "a site at a host's top: the box's paths");
        // No address known: a Pages host's path that is a pack file in a sub-folder.
        let own = OwnSite { base: None, ..own };
        let f = |u: &str| own.file(&Url::parse(u).unwrap());
        assert_eq!(f("https://n.github.io/Cours/js/x.js").as_deref(), Some("js/x.js"));
        assert_eq!(f("https://n.github.io/js/x.js").as_deref(), Some("js/x.js"));
        assert_eq!(f("https://n.github.io/Cours/index.html"), None, "a top-level name proves nothing");
        assert_eq!(f("https://cdn.example/Cours/js/x.js"), None, "not a Pages host");
    }

    #[test]
    fn lib_args() {
        let r = parse_lib_arg("katex@0.16.9").unwrap();
        assert_eq!((r.package, r.version.as_deref(), r.path.as_str()), ("katex", Some("0.16.9"), ""));
        let r = parse_lib_arg("@highlightjs/cdn-assets@11.9.0/highlight.min.js").unwrap();
        assert_eq!(
            (r.package, r.version.as_deref(), r.path.as_str()),
            ("@highlightjs/cdn-assets", Some("11.9.0"), "highlight.min.js")
        );
        assert!(parse_lib_arg("left-pad@1").unwrap_err().contains("pas une bibliothèque connue"));
    }
}
