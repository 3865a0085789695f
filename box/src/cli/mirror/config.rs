//! `mirror.toml`: the repository to publish to, the publisher keys (one for all sources,
//! or one per source), the state folder and the sources to follow. Read whole and checked before anything runs: every bad entry is
//! named (`git[2] (id "x"): …`), all of them in one error, and the run exits with code 2.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// A larger mirror.toml is refused (a thousand sources fit in about 200 KB).
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Most sources (git and ZIM entries, plus the `.mbz` files found in the folders).
pub const MAX_SOURCES: usize = 2000;
/// Most entries read in one drop folder.
pub const MAX_FOLDER_ENTRIES: usize = 10_000;
/// Most name rules of one drop folder.
const MAX_RULES: usize = 1000;
const MAX_TEXT: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where packs are published: a folder, `file://PATH` or `s3://BUCKET/PREFIX` (as
    /// `preau pack build --repo`).
    pub repo: String,
    /// The publisher's secret signing key (from `preau keygen`): the key of every source
    /// that names none of its own. Optional when every source has its `key`.
    pub key: Option<PathBuf>,
    /// Where the mirror keeps its git clones, what it last published per source
    /// (`state.json`) and the last run's report (`report.json`).
    pub state: PathBuf,
    #[serde(default)]
    pub s3: S3,
    #[serde(default)]
    pub build: Build,
    #[serde(default)]
    pub git: Vec<GitSource>,
    #[serde(default)]
    pub mbz: Vec<MbzFolder>,
    #[serde(default)]
    pub zim: Vec<ZimSource>,
}

/// The `--s3-*` options of `pack build`; no secret here either (credentials come from
/// the environment or the credentials file).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub credentials: Option<PathBuf>,
    pub cache: Option<PathBuf>,
}

/// Options of every build, as `pack build`'s flags, and the mirror's own bounds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Build {
    pub level: i32,
    pub max_file_size: u64,
    pub expires_days: u64,
    pub bundle_window: u64,
    /// Download nothing from outside (libraries from the repository or the cache).
    pub offline: bool,
    pub npm_registry: String,
    pub cache: Option<PathBuf>,
    /// Longest a git command (ls-remote, fetch) may run.
    pub git_timeout_secs: u64,
    /// How many git sources are checked (`git ls-remote`) at once; builds run one by one.
    pub parallel_checks: usize,
    /// Largest clone of one git source on disk.
    pub max_git_bytes: u64,
    /// Largest `.mbz` or ZIM file.
    pub max_source_bytes: u64,
}

impl Default for Build {
    fn default() -> Build {
        Build {
            level: 19,
            max_file_size: preau_pack::limits::DEFAULT_MAX_FILE_BYTES,
            expires_days: 90,
            bundle_window: preau_pack::build::DEFAULT_BUNDLE_WINDOW as u64,
            offline: false,
            npm_registry: preau_offline::npm::DEFAULT_REGISTRY.to_string(),
            cache: None,
            git_timeout_secs: 600,
            parallel_checks: 8,
            max_git_bytes: 4 * 1024 * 1024 * 1024,
            max_source_bytes: 64 * 1024 * 1024 * 1024,
        }
    }
}

/// A Forge project: the head of one branch of a git repository.
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct GitSource {
    pub id: String,
    /// `https://…`, `http://…`, `git://…`, `ssh://…`, `user@host:path` or a local path.
    pub url: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    pub title: Option<String>,
    /// Run the site's own generator (MkDocs, Sphinx), as `pack build` without `--no-generator`.
    #[serde(default = "yes")]
    pub generator: bool,
    #[serde(default)]
    pub verbatim: bool,
    /// This source's secret signing key (default: the top-level `key`).
    pub key: Option<PathBuf>,
}

/// A folder where Éléa (Moodle) backups are dropped. Each `.mbz` file is one pack: the
/// first `[[mbz.name]]` rule whose pattern matches its file name gives the id (and title),
/// else the id is `prefix` + the file name made an id. Files whose name starts with `.`
/// are ignored (copy as `.x.mbz` then rename: a half-copied file is never read). When
/// several files give the same id, the most recently modified one is the source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MbzFolder {
    pub folder: PathBuf,
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub name: Vec<NameRule>,
    #[serde(default)]
    pub verbatim: bool,
    /// The signing key of this folder's packs (default: the top-level `key`).
    pub key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRule {
    /// A file name pattern: `*` is any run of characters, `?` one character.
    pub pattern: String,
    pub id: String,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ZimSource {
    pub id: String,
    pub path: PathBuf,
    pub title: Option<String>,
    /// This source's secret signing key (default: the top-level `key`).
    pub key: Option<PathBuf>,
}

fn default_branch() -> String {
    "main".into()
}

fn yes() -> bool {
    true
}

/// Reads and checks `path`.
pub fn load(path: &Path) -> Result<Config> {
    let bytes = preau_pack::repo::read_bounded(path, MAX_CONFIG_BYTES)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8", path.display()))?;
    let config: Config = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let problems = config.problems();
    if !problems.is_empty() {
        bail!(
            "{}: {} bad entr{}:\n  {}",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "y" } else { "ies" },
            problems.join("\n  ")
        );
    }
    Ok(config)
}

impl Config {
    /// The key that signs a source whose own key is `own`: its own, else the top-level one.
    pub fn key_for(&self, own: Option<&PathBuf>) -> Option<PathBuf> {
        own.or(self.key.as_ref()).cloned()
    }

    /// `name` has no key: neither its own nor a top-level one.
    fn check_key(&self, name: &str, own: Option<&PathBuf>, out: &mut Vec<String>) {
        match self.key_for(own) {
            None => out.push(format!(
                "{name}: pas de clé de publication : donnez `key = \"…\"` à cette source ou un `key` global \
                 (no publisher key: give this source a `key` or set the top-level `key`)"
            )),
            Some(k) if k.as_os_str().is_empty() => out.push(format!("{name}: key is an empty path")),
            Some(_) => {}
        }
    }

    /// Everything wrong with the configuration, each naming its entry.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = preau_publish::Target::parse(&self.repo) {
            out.push(format!("repo: {e}"));
        }
        if self.state.as_os_str().is_empty() {
            out.push("state: empty path".into());
        }
        let b = &self.build;
        if !(1..=22).contains(&b.level) {
            out.push(format!("build.level: {} is not in 1..=22", b.level));
        }
        if b.bundle_window > preau_pack::build::MAX_BUNDLE_WINDOW as u64 {
            out.push(format!(
                "build.bundle_window: {} is over {}",
                b.bundle_window,
                preau_pack::build::MAX_BUNDLE_WINDOW
            ));
        }
        if b.git_timeout_secs == 0 || b.git_timeout_secs > 24 * 3600 {
            out.push(format!("build.git_timeout_secs: {} is not in 1..=86400", b.git_timeout_secs));
        }
        if !(1..=64).contains(&b.parallel_checks) {
            out.push(format!("build.parallel_checks: {} is not in 1..=64", b.parallel_checks));
        }
        if url::Url::parse(&b.npm_registry).is_err() {
            out.push(format!("build.npm_registry: {:?} is not a URL", b.npm_registry));
        }
        let sources = self.git.len() + self.zim.len() + self.mbz.len();
        if sources > MAX_SOURCES {
            out.push(format!("{sources} sources, more than {MAX_SOURCES}"));
        }
        // Pack id → the entry that claims it.
        let mut ids: BTreeMap<&str, String> = BTreeMap::new();
        for (i, g) in self.git.iter().enumerate() {
            let name = format!("git[{i}] (id {:?})", g.id);
            check_id(&name, &g.id, &mut out);
            if let Some(other) = ids.insert(&g.id, name.clone()) {
                out.push(format!("{name}: the same id as {other}"));
            }
            if g.url.is_empty() || g.url.len() > MAX_TEXT || g.url.starts_with('-') || g.url.contains(['\n', '\0']) {
                out.push(format!("{name}: url {:?} is empty, too long or not a URL", truncate(&g.url)));
            } else if g.url.contains("::") {
                // `ext::` and other remote helpers run commands: never from a config file.
                out.push(format!("{name}: url {:?}: remote helpers (`transport::`) are refused", truncate(&g.url)));
            }
            if g.branch.is_empty() || g.branch.len() > 255 || g.branch.starts_with('-') || !branch_ok(&g.branch) {
                out.push(format!("{name}: branch {:?} is not a branch name", truncate(&g.branch)));
            }
            check_title(&name, g.title.as_deref(), &mut out);
            self.check_key(&name, g.key.as_ref(), &mut out);
        }
        for (i, z) in self.zim.iter().enumerate() {
            let name = format!("zim[{i}] (id {:?})", z.id);
            check_id(&name, &z.id, &mut out);
            if let Some(other) = ids.insert(&z.id, name.clone()) {
                out.push(format!("{name}: the same id as {other}"));
            }
            if z.path.as_os_str().is_empty() {
                out.push(format!("{name}: path is empty"));
            }
            check_title(&name, z.title.as_deref(), &mut out);
            self.check_key(&name, z.key.as_ref(), &mut out);
        }
        for (i, m) in self.mbz.iter().enumerate() {
            let name = format!("mbz[{i}] ({})", m.folder.display());
            if m.folder.as_os_str().is_empty() {
                out.push(format!("{name}: folder is empty"));
            }
            if !m.prefix.is_empty() && preau_pack::path::check_pack_id(&format!("{}x", m.prefix)).is_err() {
                out.push(format!("{name}: prefix {:?}: a-z, 0-9, - _ . only", truncate(&m.prefix)));
            }
            self.check_key(&name, m.key.as_ref(), &mut out);
            if m.name.len() > MAX_RULES {
                out.push(format!("{name}: {} name rules, more than {MAX_RULES}", m.name.len()));
            }
            for (j, r) in m.name.iter().enumerate() {
                let rule = format!("{name} name[{j}] (pattern {:?})", truncate(&r.pattern));
                if r.pattern.is_empty() || r.pattern.len() > 255 || r.pattern.contains('/') {
                    out.push(format!("{rule}: a pattern is a file name with * and ?"));
                }
                check_id(&rule, &r.id, &mut out);
                if let Some(other) = ids.insert(&r.id, rule.clone()) {
                    out.push(format!("{rule}: the same id as {other}"));
                }
                check_title(&rule, r.title.as_deref(), &mut out);
            }
        }
        out
    }
}

fn check_id(name: &str, id: &str, out: &mut Vec<String>) {
    if preau_pack::path::check_pack_id(id).is_err() {
        out.push(format!("{name}: id {:?}: 1 to 64 of a-z, 0-9, - _ ., starting with a letter or digit", truncate(id)));
    }
}

fn check_title(name: &str, title: Option<&str>, out: &mut Vec<String>) {
    if let Some(t) = title
        && (t.trim().is_empty() || t.len() > 500)
    {
        out.push(format!("{name}: title is empty or over 500 bytes"));
    }
}

/// A conservative branch name: no spaces, no `..`, no control characters, none of
/// git's special characters.
fn branch_ok(b: &str) -> bool {
    !b.contains("..")
        && !b.ends_with('/')
        && !b.ends_with(".lock")
        && b.chars().all(|c| !c.is_control() && !" ~^:?*[\\".contains(c))
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

/// `*` any run of characters, `?` one character; the rest literal.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `*`: linear in practice, no recursion.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("sauvegarde-*-course-12-*.mbz", "sauvegarde-moodle2-course-12-maths-20260101.mbz"));
        assert!(!glob_match("sauvegarde-*-course-12-*.mbz", "sauvegarde-moodle2-course-123-x.mbz.part"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn every_bad_entry_is_named() {
        let text = r#"
            repo = "s3://Bad_Bucket/x"
            key = "k"
            state = "s"
            [[git]]
            id = "Bad Id"
            url = "ext::sh -c touch% /tmp/x"
            [[git]]
            id = "ok"
            url = "https://forge.example/a.git"
            branch = "a..b"
            [[zim]]
            id = "ok"
            path = "x.zim"
        "#;
        let c: Config = toml::from_str(text).unwrap();
        let p = c.problems().join("\n");
        for needle in [
            "repo:",
            "git[0] (id \"Bad Id\"): id",
            "remote helpers",
            "git[1] (id \"ok\"): branch",
            "zim[0] (id \"ok\"): the same id as git[1]",
        ] {
            assert!(p.contains(needle), "{needle:?} not in:\n{p}");
        }
        assert!(toml::from_str::<Config>("repo = \"r\"\nkey = \"k\"\nstate = \"s\"\ntypo = 1\n").is_err());
    }

    #[test]
    fn a_source_takes_its_own_key_or_the_top_level_one() {
        let text = r#"
            repo = "r"
            state = "s"
            [[git]]
            id = "a"
            url = "https://forge.example/a.git"
            key = "keys/a.key"
            [[git]]
            id = "b"
            url = "https://forge.example/b.git"
            [[zim]]
            id = "c"
            path = "c.zim"
        "#;
        let c: Config = toml::from_str(text).unwrap();
        let p = c.problems().join("\n");
        assert!(!p.contains("git[0]"), "{p}");
        assert!(p.contains("git[1] (id \"b\"): pas de clé") && p.contains("zim[0] (id \"c\"): pas de clé"), "{p}");
        // An old configuration (one top-level key) stays valid; a source's own key wins.
        let c: Config = toml::from_str(&format!("key = \"main.key\"\n{text}")).unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.key_for(c.git[0].key.as_ref()), Some(PathBuf::from("keys/a.key")));
        assert_eq!(c.key_for(c.git[1].key.as_ref()), Some(PathBuf::from("main.key")));
    }
}
