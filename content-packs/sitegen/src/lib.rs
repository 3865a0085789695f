//! Site projects built the way their authors build them: a MkDocs or Sphinx project
//! (recognised in a folder, tar, zip or git repository by `preau_import::site`) is built by
//! MkDocs or Sphinx itself, with the theme, plugins and extensions the project declares
//! ([`packages`]), installed
//! from PyPI into a virtual environment cached per set of packages ([`venv`]), and run
//! confined ([`confine`]: no network, the source read-only, only the output writable,
//! time and memory bounds). The generator's output folder becomes the pack's files.
//!
//! When the generator cannot run or fails, the import falls back to a built site the
//! source holds, then to Préau's internal Markdown rendering; the import report says
//! which path was taken and why.
//!
//! This is the one publisher-side crate that runs processes and reaches the network
//! (PyPI, through pip). `preau-pack` and `preau-import` do neither, and the box never
//! calls this crate.

pub mod confine;
pub mod packages;
pub mod venv;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use preau_import::site::{Project, SiteSource};
use preau_import::{ImportOptions, Imported, SourceKind};

/// The versions installed when a MkDocs project pins none (see the file's header).
pub const CONSTRAINTS: &str = include_str!("../constraints.txt");
/// The versions installed when a Sphinx project pins none (see the file's header).
pub const CONSTRAINTS_SPHINX: &str = include_str!("../constraints-sphinx.txt");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Python, its venv module, bubblewrap or prlimit is missing.
    #[error("site generator unavailable: {0}")]
    Unavailable(String),
    #[error("the project's Python packages: {0}")]
    Packages(String),
    #[error("pip install failed: {0}")]
    Pip(String),
    #[error("the site build broke its time bound ({secs} s) and was stopped")]
    TimeBound { secs: u64 },
    #[error("the site build broke its memory bound ({mib} MiB of address space): {tail}")]
    MemoryBound { mib: u64, tail: String },
    #[error("the site build broke its file size bound ({mib} MiB per file)")]
    FileSizeBound { mib: u64 },
    #[error("the site build failed: {0}")]
    Build(String),
    #[error("the generator's output: {0}")]
    Output(String),
    #[error("{0}")]
    Io(String),
}

/// How the generator is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Holds `sitegen/venvs/<key>/`.
    pub cache_dir: PathBuf,
    pub import: ImportOptions,
    /// `false`: go straight to the fallbacks (`preau pack build --no-generator`).
    pub generator: bool,
    pub python: PathBuf,
    /// Wall-clock bound of one `mkdocs build`.
    pub time_limit: Duration,
    /// Address-space bound of the build's processes.
    pub memory_bytes: u64,
    /// Bound of `python -m venv` and of `pip install`.
    pub pip_time_limit: Duration,
}

impl Options {
    pub fn new(cache_dir: PathBuf) -> Options {
        Options {
            cache_dir,
            import: ImportOptions::default(),
            generator: true,
            python: default_python(),
            time_limit: Duration::from_secs(600),
            memory_bytes: 4 << 30,
            pip_time_limit: Duration::from_secs(1200),
        }
    }
}

/// `PREAU_CACHE_DIR`, else `~/.cache/preau`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PREAU_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache/preau"),
        None => std::env::temp_dir().join("preau-cache"),
    }
}

/// `PREAU_PYTHON`, else the system's `/usr/bin/python3` (Debian's, with python3-venv),
/// else `python3` on the PATH.
pub fn default_python() -> PathBuf {
    if let Some(p) = std::env::var_os("PREAU_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let system = Path::new("/usr/bin/python3");
    if system.exists() { system.to_path_buf() } else { PathBuf::from("python3") }
}

/// What the generator produced.
#[derive(Debug)]
pub struct Generated {
    /// The output folder's files, by path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The generator and its packages, for the report.
    pub generator: String,
    /// The venv came from the cache.
    pub venv_cached: bool,
}

/// Imports `src` like `preau_import::import`, except that a MkDocs project is built by
/// MkDocs (falling back as the crate's documentation says).
pub fn import(src: &Path, opts: &Options) -> preau_import::Result<Imported> {
    let kind = preau_import::detect(src)?;
    if !matches!(kind, SourceKind::Folder | SourceKind::Tar | SourceKind::Zip | SourceKind::Git) {
        return preau_import::import(src, &opts.import);
    }
    let site = preau_import::site::load(src, kind, &opts.import)?;
    if !matches!(site.project.as_ref().map(|f| f.project), Some(Project::MkDocs | Project::Sphinx)) {
        return preau_import::site::import(site, Vec::new());
    }
    if !opts.generator {
        return preau_import::site::import(site, vec!["the generator was not run (--no-generator)".into()]);
    }
    match generate(&site, opts) {
        Ok(g) => preau_import::site::import_generated(site, g.files, g.generator, Vec::new()),
        Err(e) => preau_import::site::import(site, vec![e.to_string()]),
    }
}

/// Builds the MkDocs or Sphinx project of `site` with its own generator.
pub fn generate(site: &SiteSource, opts: &Options) -> Result<Generated, Error> {
    let files = site.project_files().map_err(|e| Error::Io(e.to_string()))?;
    let work = tempfile::tempdir().map_err(|e| Error::Io(format!("temporary folder: {e}")))?;
    let src = work.path().join("src");
    for (path, bytes) in &files {
        if path.starts_with(".git/") {
            continue;
        }
        if path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(Error::Io(format!("unsafe path {path:?} in the project")));
        }
        let to = src.join(path);
        let dir = to.parent().expect("a file path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        std::fs::write(&to, bytes).map_err(|e| Error::Io(format!("{}: {e}", to.display())))?;
    }
    // `src` is this build's own copy: the generator may write in it (caches).
    if site.project.as_ref().is_some_and(|f| f.project == Project::Sphinx) {
        return sphinx(&src, opts, true);
    }
    let yml = files.get("mkdocs.yml").or_else(|| files.get("mkdocs.yaml"));
    if yml.is_some_and(|y| uses_git_plugin(&String::from_utf8_lossy(y))) {
        git_snapshot(&src)?;
    }
    mkdocs(&src, opts, true)
}

/// True when `mkdocs.yml` names a plugin that reads the git history (page dates,
/// authors): those stop the build when the project is not a git working copy.
fn uses_git_plugin(yml: &str) -> bool {
    yml.lines().any(|l| {
        let t = l.trim_start().trim_start_matches("- ").trim();
        ["git-revision-date", "git-authors", "git-committers"].iter().any(|p| t.starts_with(p))
    })
}

/// Makes the project copy a git working copy of one commit, so that git-based plugins
/// run (their dates are then the build's; the copy holds no history). Run outside the
/// sandbox on our own copy, with no user or system git configuration.
fn git_snapshot(src: &Path) -> Result<(), Error> {
    for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-q", "--no-verify", "-m", "source"]] {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(src)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("HOME", src)
            .envs([("GIT_AUTHOR_NAME", "preau"), ("GIT_COMMITTER_NAME", "preau")])
            .envs([("GIT_AUTHOR_EMAIL", "preau@localhost"), ("GIT_COMMITTER_EMAIL", "preau@localhost")])
            .output()
            .map_err(|e| Error::Unavailable(format!("git (for the project's git-based plugins): {e}")))?;
        if !out.status.success() {
            return Err(Error::Io(format!("git {}: {}", args[0], String::from_utf8_lossy(&out.stderr).trim())));
        }
    }
    Ok(())
}

/// Builds the MkDocs project in folder `project` (read-only to the build).
pub fn build_mkdocs(project: &Path, opts: &Options) -> Result<Generated, Error> {
    mkdocs(project, opts, false)
}

/// Builds the Sphinx project in folder `project` (read-only to the build) with
/// `sphinx-build -b html`, from the folder of its `conf.py`.
pub fn build_sphinx(project: &Path, opts: &Options) -> Result<Generated, Error> {
    sphinx(project, opts, false)
}

/// `writable`: `project` is a throwaway copy the build may write in.
fn mkdocs(project: &Path, opts: &Options, writable: bool) -> Result<Generated, Error> {
    confine::check_tools()?;
    let files = small_files(project)?;
    let packages = packages::declared(&files).map_err(Error::Packages)?;
    let constraints = (!packages.pinned()).then_some(CONSTRAINTS);
    run_generator(
        (project, writable),
        opts,
        &packages,
        constraints,
        &["/venv/bin/python", "-m", "mkdocs", "build", "--site-dir", "/out/site"],
        "mkdocs build",
    )
}

fn sphinx(project: &Path, opts: &Options, writable: bool) -> Result<Generated, Error> {
    confine::check_tools()?;
    let conf_dir = preau_import::site::SPHINX_CONF_DIRS
        .iter()
        .copied()
        .find(|d| project.join(format!("{d}conf.py")).is_file())
        .ok_or_else(|| Error::Packages("no conf.py in the project".into()))?;
    // The requirements files (wherever the Read the Docs configuration says) and
    // `conf.py` are read, at most 16 MiB in all; the other files count by name only (a
    // `conf.py` extension that is a module of the project is not looked for on PyPI).
    let mut files = small_files(project)?;
    let mut read = 0u64;
    for rel in walk_names(project, 4, 5000) {
        let p = project.join(&rel);
        let len = p.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
        let config = [".txt", ".yaml", ".yml"].iter().any(|x| rel.ends_with(x)) || rel == format!("{conf_dir}conf.py");
        if config && len <= 1 << 20 && read + len <= 16 << 20 {
            read += len;
            let bytes = std::fs::read(&p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
            files.insert(rel, bytes);
        } else {
            files.entry(rel).or_default();
        }
    }
    let packages = packages::declared_sphinx(&files, conf_dir).map_err(Error::Packages)?;
    let constraints = (!packages.pinned()).then_some(CONSTRAINTS_SPHINX);
    let source = format!("/src/{conf_dir}");
    // Doctrees (Sphinx's pickled cache) go to the private /tmp, not into the site.
    run_generator(
        (project, writable),
        opts,
        &packages,
        constraints,
        &["/venv/bin/python", "-m", "sphinx", "-b", "html", "-q", "-d", "/tmp/doctrees", &source, "/out/site"],
        "sphinx-build -b html",
    )
}

/// Relative paths of the files of `dir`, down to `depth` folders and at most `max`
/// (`.git` left out).
fn walk_names(dir: &Path, depth: u32, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new(), 0)];
    while let Some((d, prefix, level)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if out.len() >= max || name == ".git" {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() && level < depth => stack.push((e.path(), format!("{rel}/"), level + 1)),
                Ok(t) if t.is_file() => out.push(rel),
                _ => {}
            }
        }
    }
    out
}

/// Installs `packages` in a cached venv and runs `args` confined in `project`; the
/// output is what the generator wrote to `/out/site`.
fn run_generator(
    (project, writable): (&Path, bool),
    opts: &Options,
    packages: &packages::Packages,
    constraints: Option<&str>,
    args: &[&str],
    label: &str,
) -> Result<Generated, Error> {
    let (venv, venv_cached) = venv::ensure(opts, &opts.python, &packages.specs, constraints)?;
    let mut extra_ro = Vec::new();
    let base = base_prefix(&venv)?;
    if !base.starts_with("/usr") {
        extra_ro.push(base);
    }
    let work = tempfile::tempdir().map_err(|e| Error::Io(format!("temporary folder: {e}")))?;
    let out = work.path().join("out");
    std::fs::create_dir(&out).map_err(|e| Error::Io(format!("{}: {e}", out.display())))?;
    let extra: Vec<&Path> = extra_ro.iter().map(PathBuf::as_path).collect();
    let (memory, fsize) = (opts.memory_bytes, opts.import.limits.max_file_bytes);
    let mut cmd = confine::sandbox(project, writable, &out, &venv, &extra, memory, fsize, args);
    let ran = confine::run_bounded(&mut cmd, opts.time_limit, &work.path().join("build.log"))?;
    if ran.timed_out {
        return Err(Error::TimeBound { secs: opts.time_limit.as_secs() });
    }
    if !ran.success {
        let t = &ran.tail;
        if t.contains("MemoryError") || t.contains("Cannot allocate memory") || t.contains("cannot allocate memory") {
            return Err(Error::MemoryBound { mib: opts.memory_bytes >> 20, tail: last_line(t) });
        }
        if t.contains("File too large") || t.contains("File size limit exceeded") {
            return Err(Error::FileSizeBound { mib: opts.import.limits.max_file_bytes >> 20 });
        }
        return Err(Error::Build(format!("{label}: {t}")));
    }
    let site = out.join("site");
    let files = read_output(&site, &opts.import.limits, label)?;
    let versions =
        if constraints.is_some() { "versions of preau-sitegen's constraints" } else { "versions the project pins" };
    let mut generator = format!(
        "{label}, confined (bubblewrap, no network), with packages from {}: {} ({versions})",
        packages.declared_in,
        packages.specs.join(", ")
    );
    if !packages.skipped.is_empty() {
        generator.push_str(&format!("; not from PyPI, left out: {}", packages.skipped.join(", ")));
    }
    Ok(Generated { files, generator, venv_cached })
}

fn last_line(t: &str) -> String {
    t.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string()
}

/// The installation the venv's interpreter comes from (bound read-only in the sandbox).
fn base_prefix(venv: &Path) -> Result<PathBuf, Error> {
    let out = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .output()
        .map_err(|e| Error::Unavailable(format!("the venv's Python does not run: {e}")))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The project's configuration files that say which packages it needs.
fn small_files(project: &Path) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    let mut out = BTreeMap::new();
    let workflows = std::fs::read_dir(project.join(".github/workflows"))
        .map(|rd| {
            rd.flatten()
                .map(|e| format!(".github/workflows/{}", e.file_name().to_string_lossy()))
                .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
                .collect::<BTreeSet<_>>()
        })
        .unwrap_or_default();
    // A bound on what is read: the first 20 workflows by name.
    let workflows: Vec<String> = workflows.into_iter().take(20).collect();
    let names = ["requirements.txt", "docs/requirements.txt", ".gitlab-ci.yml", "mkdocs.yml", "mkdocs.yaml"];
    for name in names.iter().map(|n| n.to_string()).chain(workflows) {
        let name = name.as_str();
        let p = project.join(name);
        if p.is_file() {
            let bytes = std::fs::read(&p).map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
            if bytes.len() > 1 << 20 {
                return Err(Error::Packages(format!("{name} is larger than 1 MiB")));
            }
            out.insert(name.to_string(), bytes);
        }
    }
    // `-r other.txt` lines name more files: give the reader every small text file at the top.
    if let Ok(rd) = std::fs::read_dir(project) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".txt") && e.metadata().is_ok_and(|m| m.is_file() && m.len() <= 1 << 20) {
                let bytes = std::fs::read(e.path()).map_err(|err| Error::Io(format!("{name}: {err}")))?;
                out.entry(name).or_insert(bytes);
            }
        }
    }
    Ok(out)
}

/// The files of the generator's output, bounded like any import.
fn read_output(
    site: &Path,
    limits: &preau_import::ImportLimits,
    label: &str,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    if !site.join("index.html").is_file() {
        return Err(Error::Output(format!("{label} wrote no index.html")));
    }
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    let mut stack = vec![(site.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::Output(format!("{}: {e}", dir.display())))?;
        for e in rd {
            let e = e.map_err(|e| Error::Output(format!("{}: {e}", dir.display())))?;
            let name =
                e.file_name().into_string().map_err(|n| Error::Output(format!("a file name is not UTF-8: {n:?}")))?;
            let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            let meta = std::fs::symlink_metadata(e.path()).map_err(|err| Error::Output(format!("{rel}: {err}")))?;
            if meta.is_dir() {
                stack.push((e.path(), rel));
                continue;
            }
            if !meta.is_file() {
                return Err(Error::Output(format!("{rel} is not a regular file (links are not accepted)")));
            }
            total += meta.len();
            if out.len() as u64 >= limits.max_entries
                || total > limits.max_total_bytes
                || meta.len() > limits.max_file_bytes
            {
                return Err(Error::Output(format!(
                    "more than {} files or {} bytes (at {rel})",
                    limits.max_entries, limits.max_total_bytes
                )));
            }
            let bytes = std::fs::read(e.path()).map_err(|err| Error::Output(format!("{rel}: {err}")))?;
            out.insert(rel, bytes);
        }
    }
    Ok(out)
}
