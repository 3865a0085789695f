//! The shared libraries pack `preau-libs`: files of npm packages at
//! `<package>@<version>/<path>`, served by every box at `/packs/preau-libs/…`. Packs that
//! use the same library file share its objects (content addressing), so a box holds one
//! copy whatever the number of packs using it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use preau_pack::{FileEntry, PackMeta, Repo, SourceTree};

use crate::cdn::{self, LibRef};
use crate::css;
use crate::npm::{Npm, PackageFiles};

pub const LIBS_PACK_ID: &str = "preau-libs";

/// One library's files added for one request are at most this large.
const MAX_LIBRARY_ADD_BYTES: u64 = 160 * 1024 * 1024;

/// Where a library file is in the libraries pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub package: String,
    pub version: String,
    /// `<package>@<version>/<path>`
    pub pack_path: String,
    /// False when the version is the nearest available, not the one asked for.
    pub exact: bool,
}

impl Resolved {
    /// The URL a pack page loads it from, on any box.
    pub fn url(&self) -> String {
        format!("/packs/{LIBS_PACK_ID}/{}", self.pack_path)
    }
}

/// Reads the bytes of a file of the present libraries pack.
pub type ReadFile<'f> = Box<dyn Fn(&FileEntry) -> Result<Vec<u8>, String> + 'f>;

/// The libraries pack being completed during a build.
pub struct Libs<'f> {
    npm: Npm<'f>,
    /// Reads the present version's files (none when there is no libraries pack yet).
    read: Option<ReadFile<'f>>,
    /// The current version's files.
    present: BTreeMap<String, FileEntry>,
    /// Files to add in the next version.
    added: BTreeMap<String, Vec<u8>>,
    /// Unpacked packages, by `package@version` (one build uses few).
    unpacked: HashMap<String, PackageFiles>,
    versions: HashMap<String, Vec<String>>,
}

impl<'f> Libs<'f> {
    /// Opens the libraries pack of the repository at `repo_dir` (none yet is fine).
    pub fn open(repo_dir: &Path, npm: Npm<'f>) -> Result<Libs<'f>, String> {
        let mut libs = Libs {
            npm,
            read: None,
            present: BTreeMap::new(),
            added: BTreeMap::new(),
            unpacked: HashMap::new(),
            versions: HashMap::new(),
        };
        if !repo_dir.join(preau_pack::repo::ROOT_FILE).exists() {
            return Ok(libs);
        }
        let err = |e: preau_pack::Error| format!("dépôt {} : {e}", repo_dir.display());
        let repo = Repo::open(repo_dir).map_err(err)?;
        let root = repo.verified_root(None).map_err(err)?;
        let catalog = repo.load_catalog(&root).map_err(err)?;
        if let Some(entry) = catalog.packs.get(LIBS_PACK_ID) {
            let manifest = repo.read_manifest(&entry.manifest, entry.manifest_size).map_err(err)?;
            libs.present = manifest.files.into_iter().map(|f| (f.path.clone(), f)).collect();
        }
        libs.read = Some(Box::new(move |f: &FileEntry| repo.read_file(f).map_err(|e| format!("{} : {e}", f.path))));
        Ok(libs)
    }

    /// The libraries pack a box has installed (`files`, read with `read`), for an import
    /// on the box itself: with an offline `npm` whose cache is empty, nothing is ever
    /// added, so pages use only what the box already holds.
    pub fn installed(files: Vec<FileEntry>, read: ReadFile<'f>, npm: Npm<'f>) -> Libs<'f> {
        Libs {
            npm,
            read: Some(read),
            present: files.into_iter().map(|f| (f.path.clone(), f)).collect(),
            added: BTreeMap::new(),
            unpacked: HashMap::new(),
            versions: HashMap::new(),
        }
    }

    fn has(&self, path: &str) -> bool {
        self.present.contains_key(path) || self.added.contains_key(path)
    }

    /// Versions of `package` the build can use: those in the pack, in the cache, and
    /// (online) on the registry.
    fn available(&mut self, package: &str) -> Result<Vec<String>, String> {
        if let Some(v) = self.versions.get(package) {
            return Ok(v.clone());
        }
        let prefix = format!("{package}@");
        let mut all: BTreeSet<String> = self
            .present
            .keys()
            .chain(self.added.keys())
            .filter_map(|p| p.strip_prefix(&prefix)?.split_once('/').map(|(v, _)| v.to_string()))
            .collect();
        match self.npm.versions(package) {
            Ok(v) => all.extend(v),
            // Offline or unreachable: what the pack and the cache hold is still usable.
            Err(e) if all.is_empty() => return Err(e),
            Err(_) => {}
        }
        let all: Vec<String> = all.into_iter().collect();
        self.versions.insert(package.to_string(), all.clone());
        Ok(all)
    }

    fn package(&mut self, package: &str, version: &str) -> Result<&PackageFiles, String> {
        let key = format!("{package}@{version}");
        if !self.unpacked.contains_key(&key) {
            let files = self.npm.files(package, version)?;
            // One package in memory at a time: a build rarely mixes many, and a package
            // can be hundreds of MB unpacked.
            self.unpacked.clear();
            self.unpacked.insert(key.clone(), files);
        }
        Ok(&self.unpacked[&key])
    }

    /// Finds (and adds to the next version, if needed) the file a page asks for.
    pub fn resolve(&mut self, r: &LibRef) -> Result<Resolved, String> {
        let available = self.available(r.package)?;
        let (version, exact) = cdn::pick_version(r.version.as_deref(), &available)
            .ok_or_else(|| format!("aucune version de {} disponible", r.package))?;
        let base = format!("{}@{version}", r.package);
        let mut path = r.path.trim_start_matches('/').to_string();
        if path.is_empty() {
            path = self.main_file(r.package, &version)?;
        }
        if !self.has(&format!("{base}/{path}")) {
            path = self.unminified_if_only(r.package, &version, path);
        }
        let pack_path = format!("{base}/{path}");
        let resolved = Resolved { package: r.package.to_string(), version: version.clone(), pack_path, exact };
        if self.has(&resolved.pack_path) {
            return Ok(resolved);
        }
        let lib = cdn::library(r.package).ok_or_else(|| format!("{} n'est pas une bibliothèque connue", r.package))?;
        let files = self.package(r.package, &version)?;
        if !files.contains_key(&path) {
            return Err(format!("{base} n'a pas de fichier {path}"));
        }
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        wanted.insert(path.clone());
        for name in files.keys() {
            let lower = name.to_ascii_lowercase();
            // The licence travels with the files (most licences require it).
            if name == "package.json"
                || (!name.contains('/') && (lower.starts_with("licen") || lower.starts_with("copying")))
            {
                wanted.insert(name.clone());
            }
        }
        for (suffix, folder) in lib.companions {
            if path.ends_with(suffix) {
                wanted.extend(files.keys().filter(|k| k.starts_with(folder)).cloned());
            }
        }
        // What stylesheets load (KaTeX's fonts), followed inside the package.
        let mut queue: Vec<String> = wanted.iter().filter(|p| p.ends_with(".css")).cloned().collect();
        while let Some(sheet) = queue.pop() {
            let text = String::from_utf8_lossy(&files[&sheet]).into_owned();
            let dir = sheet.rsplit_once('/').map_or("", |(d, _)| d);
            for u in css::references(&text) {
                if let Some(p) = join_inside(dir, &u)
                    && files.contains_key(&p)
                    && wanted.insert(p.clone())
                    && p.ends_with(".css")
                {
                    queue.push(p);
                }
            }
        }
        let total: u64 = wanted.iter().map(|p| files[p].len() as u64).sum();
        if total > MAX_LIBRARY_ADD_BYTES {
            return Err(format!("{base} : {total} octets de fichiers, plus que la limite de {MAX_LIBRARY_ADD_BYTES}"));
        }
        let new: Vec<(String, Vec<u8>)> =
            wanted.into_iter().map(|p| (format!("{base}/{p}"), files[&p].clone())).collect();
        for (p, b) in new {
            if !self.present.contains_key(&p) {
                self.added.insert(p, b);
            }
        }
        Ok(resolved)
    }

    /// The file a CDN serves for a bare package URL: `jsdelivr`, `unpkg`, `browser`, `main`.
    /// cdnjs serves a minified `x.min.js` for every file, where the npm package may hold
    /// only `x.js` (ACE's `src-min-noconflict/`, already minified; CodeMirror's modes): the
    /// package's `x.js` then, when the package has no `x.min.js`.
    fn unminified_if_only(&mut self, package: &str, version: &str, path: String) -> String {
        let unmin = match (path.strip_suffix(".min.js"), path.strip_suffix(".min.css")) {
            (Some(stem), _) => format!("{stem}.js"),
            (_, Some(stem)) => format!("{stem}.css"),
            _ => return path,
        };
        if self.has(&format!("{package}@{version}/{unmin}")) {
            return unmin;
        }
        match self.package(package, version) {
            Ok(files) if !files.contains_key(&path) && files.contains_key(&unmin) => unmin,
            _ => path,
        }
    }

    fn main_file(&mut self, package: &str, version: &str) -> Result<String, String> {
        let pj_path = format!("{package}@{version}/package.json");
        let bytes = if let Some(b) = self.added.get(&pj_path) {
            b.clone()
        } else if let (Some(f), Some(read)) = (self.present.get(&pj_path), &self.read) {
            read(f)?
        } else {
            self.package(package, version)?.get("package.json").cloned().unwrap_or_default()
        };
        let pj: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let main = ["jsdelivr", "unpkg", "browser", "main"]
            .iter()
            .find_map(|k| pj[k].as_str())
            .unwrap_or("index.js")
            .trim_start_matches("./")
            .to_string();
        Ok(main)
    }

    /// True when the build added files: the libraries pack needs a new version.
    pub fn changed(&self) -> bool {
        !self.added.is_empty()
    }

    /// The next version's source: every present file (read back and verified) and the added ones.
    pub fn into_tree(self) -> Result<SourceTree, String> {
        let mut tree = SourceTree {
            meta: PackMeta {
                id: LIBS_PACK_ID.into(),
                title: "Bibliothèques partagées (Préau)".into(),
                description: "Copies locales de bibliothèques web (MathJax, KaTeX, mermaid, highlight.js…) tirées de \
                              leurs paquets npm, pour que les pages des autres paquets fonctionnent sans internet."
                    .into(),
                language: "fr".into(),
                licence: "voir le fichier de licence de chaque paquet".into(),
                kind: "libraries".into(),
                ..Default::default()
            },
            files: Vec::new(),
        };
        if let Some(read) = &self.read {
            for f in self.present.values() {
                let bytes = read(f)?;
                tree.add_bytes(f.path.clone(), bytes);
            }
        }
        for (p, b) in self.added {
            tree.add_bytes(p, b);
        }
        Ok(tree)
    }
}

/// `rel` (a CSS URL) resolved from `dir` inside a package; `None` when it is not a plain
/// relative path (absolute, data:, another scheme) or climbs out of the package.
fn join_inside(dir: &str, rel: &str) -> Option<String> {
    let rel = rel.split(['?', '#']).next()?;
    if rel.is_empty() || rel.starts_with('/') || rel.contains(':') {
        return None;
    }
    let mut parts: Vec<&str> = if dir.is_empty() { Vec::new() } else { dir.split('/').collect() };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::join_inside;

    #[test]
    fn css_paths_stay_inside_the_package() {
        assert_eq!(join_inside("dist", "fonts/KaTeX_Main.woff2").as_deref(), Some("dist/fonts/KaTeX_Main.woff2"));
        assert_eq!(join_inside("dist/css", "../fonts/a.woff?v=1#x").as_deref(), Some("dist/fonts/a.woff"));
        assert_eq!(join_inside("", "../x"), None);
        assert_eq!(join_inside("dist", "data:font/woff2;base64,AA"), None);
        assert_eq!(join_inside("dist", "https://x.example/a"), None);
    }
}
