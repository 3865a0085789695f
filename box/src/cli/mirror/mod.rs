//! `preau mirror --config mirror.toml`: one run of the publisher that follows Forge git
//! repositories, Éléa backup drop folders and ZIM files, and republishes what changed.
//!
//! Each source has a fingerprint: the commit at the head of its branch (`git ls-remote`,
//! nothing fetched when it did not move) or the BLAKE3 of its file (not read again while
//! its inode, size and modification time are those recorded), plus the hash of its
//! settings. A source whose fingerprint is the one recorded in `state.json` is unchanged;
//! the others are built and published by `pack build`'s own code path
//! ([`super::pack::publish`]). A source's new state is written durably only after its
//! publish succeeded, so a crash or a failed publish leaves it to be built again next run.
//! One source failing does not stop the others; the exit code says whether any failed.
//!
//! Each source is signed with its own key (its `key`, else the top-level one). The key
//! file is read at every run; a folder repository's root must authorise the key to sign
//! its catalog ([`check_authorised`], before the build). The report and the state record
//! the public key that signed each published version.

pub mod config;
mod git;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use config::Config;

#[derive(Args)]
pub struct MirrorArgs {
    /// The mirror's configuration (README, "preau mirror", has an example).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print the report as JSON instead of text (it is always written to STATE/report.json).
    #[arg(long)]
    pub json: bool,
}

const STATE_FILE: &str = "state.json";
const REPORT_FILE: &str = "report.json";
const LOCK_FILE: &str = ".lock";
/// A larger state.json is refused (one entry is about 300 bytes).
const MAX_STATE_BYTES: u64 = 16 * 1024 * 1024;

/// What was last published for one pack id.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Record {
    kind: Kind,
    /// The URL and branch, or the file.
    origin: String,
    /// The commit id, or the file's BLAKE3 (hex).
    fingerprint: String,
    /// For a file: its device, inode, size and modification time when it was hashed. The
    /// same again means the same file, not read again (rsync's quick check): a ZIM of
    /// tens of GB costs no read when it did not change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stat: Option<String>,
    /// BLAKE3 of the source's settings and the build options: a new title rebuilds.
    settings: String,
    version: u64,
    published_at: u64,
    /// The public key (64 hex digits) that signed the catalog publishing this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct State {
    packs: BTreeMap<String, Record>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Git,
    Mbz,
    Zim,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Status {
    Built,
    Unchanged,
    Failed,
    /// Published by this mirror, but its source left the configuration (a project taken
    /// out of mirror.toml, a backup out of its folder): said once, then forgotten by the
    /// mirror. Never unpublished on a guess: `preau pack unpublish` takes it out.
    #[serde(rename = "not_followed")]
    NotFollowed,
}

/// One line of the report.
#[derive(Serialize)]
struct Line {
    id: String,
    kind: Kind,
    origin: String,
    status: Status,
    /// The version now published (none when it failed before any publish).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    /// The public key (64 hex digits, never the secret) that signed the publication of
    /// this version; for a failed source, the one it was to be signed with.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    /// Why it failed, or a note (a new commit whose content is the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    seconds: f64,
}

#[derive(Serialize)]
struct Report {
    repo: String,
    started_at: u64,
    seconds: f64,
    built: usize,
    unchanged: usize,
    failed: usize,
    not_followed: usize,
    sources: Vec<Line>,
}

/// One source to look at in this run.
struct Source {
    id: String,
    kind: Kind,
    origin: String,
    /// The file, for .mbz and ZIM sources.
    file: Option<PathBuf>,
    git: Option<config::GitSource>,
    title: Option<String>,
    generator: bool,
    verbatim: bool,
    /// Its secret signing key's file (its own `key`, else the top-level one).
    key: PathBuf,
    /// Set when the source is wrong before it is even looked at (two files, one id).
    error: Option<String>,
}

/// Runs the mirror; exit code 0 when no source failed, 1 when some did (or the run could
/// not start), 2 when the configuration is bad.
pub fn run(a: MirrorArgs) -> ExitCode {
    let config = match config::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: configuration invalide (bad configuration): {e:#}");
            return ExitCode::from(2);
        }
    };
    match run_config(&config, a.json) {
        Ok(report) if report.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_config(config: &Config, json: bool) -> Result<Report> {
    std::fs::create_dir_all(&config.state)
        .with_context(|| format!("creating the state folder {}", config.state.display()))?;
    let _lock = lock(&config.state.join(LOCK_FILE))?;
    let state_path = config.state.join(STATE_FILE);
    let mut state: State = if state_path.exists() {
        let bytes = preau_pack::repo::read_bounded(&state_path, MAX_STATE_BYTES)?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged (remove it to rebuild every source)", state_path.display()))?
    } else {
        State::default()
    };
    let started = Instant::now();
    let started_at = now();
    let sources = sources(config)?;
    let mut heads = remote_heads(config, &sources);
    let mut lines = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let t = Instant::now();
        let mut line = Line {
            id: src.id.clone(),
            kind: src.kind,
            origin: src.origin.clone(),
            status: Status::Failed,
            version: None,
            fingerprint: None,
            key: None,
            detail: None,
            seconds: 0.0,
        };
        let head = heads.remove(&i);
        match mirror_one(config, src, head, &mut state, &state_path, &mut line) {
            Ok(()) => {}
            Err(e) => {
                line.status = Status::Failed;
                line.detail = Some(format!("{e:#}"));
                line.version = state.packs.get(&src.id).map(|r| r.version);
            }
        }
        line.seconds = t.elapsed().as_secs_f64();
        if !json {
            print_line(&line);
        }
        lines.push(line);
    }
    lines.extend(forget_unfollowed(config, &sources, &mut state, &state_path, json)?);
    let count = |s: Status| lines.iter().filter(|l| l.status == s).count();
    let report = Report {
        repo: config.repo.clone(),
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        built: count(Status::Built),
        unchanged: count(Status::Unchanged),
        failed: count(Status::Failed),
        not_followed: count(Status::NotFollowed),
        sources: lines,
    };
    let text = serde_json::to_string_pretty(&report)?;
    preau_pack::fsutil::atomic_write(&config.state.join(REPORT_FILE), text.as_bytes())?;
    if json {
        println!("{text}");
    } else {
        println!(
            "{} built, {} unchanged, {} failed, {} no longer followed ({:.1} s); report: {}",
            report.built,
            report.unchanged,
            report.failed,
            report.not_followed,
            report.seconds,
            config.state.join(REPORT_FILE).display()
        );
    }
    Ok(report)
}

/// The packs of the state whose source is no longer configured: one report line each,
/// then they leave the state (and their git clone goes), durably. A source that comes
/// back is built again as a new one (a version with the same content adds nothing).
/// The backups of a drop folder that could not be listed this run (an unmounted share)
/// are not gone: they are kept for the next run.
fn forget_unfollowed(
    config: &Config,
    sources: &[Source],
    state: &mut State,
    state_path: &Path,
    json: bool,
) -> Result<Vec<Line>> {
    // A folder that could not be listed stands as one source `<prefix>*` with an error.
    let unlisted: Vec<&str> = sources
        .iter()
        .filter(|s| s.kind == Kind::Mbz && s.error.is_some())
        .filter_map(|s| s.id.strip_suffix('*'))
        .collect();
    let gone: Vec<String> = state
        .packs
        .iter()
        .filter(|(id, _)| !sources.iter().any(|s| &s.id == *id))
        .filter(|(id, r)| !(r.kind == Kind::Mbz && unlisted.iter().any(|p| id.starts_with(p))))
        .map(|(id, _)| id.clone())
        .collect();
    let mut lines = Vec::new();
    for id in gone {
        let r = state.packs.remove(&id).expect("listed above");
        let line = Line {
            id: id.clone(),
            kind: r.kind,
            origin: r.origin,
            status: Status::NotFollowed,
            version: Some(r.version),
            fingerprint: Some(r.fingerprint),
            key: r.key,
            detail: Some(
                "plus dans la configuration : reste publié, `preau pack unpublish` le retire \
                 (no longer in the configuration: still published; `preau pack unpublish` takes it out)"
                    .into(),
            ),
            seconds: 0.0,
        };
        if !json {
            print_line(&line);
        }
        lines.push(line);
        let _ = std::fs::remove_dir_all(config.state.join("git").join(format!("{id}.git")));
    }
    if !lines.is_empty() {
        preau_pack::fsutil::atomic_write(state_path, &serde_json::to_vec_pretty(state)?)?;
    }
    Ok(lines)
}

/// Looks at one source, builds and publishes it if it changed, records it after.
/// The branch head of every git source (by index in `sources`), asked of the remotes
/// `build.parallel_checks` at a time (they wait on the network, not on the CPU): with
/// hundreds of Forge projects the check, not the build, is what a run costs when little
/// changed.
fn remote_heads(config: &Config, sources: &[Source]) -> BTreeMap<usize, Result<String>> {
    let timeout = Duration::from_secs(config.build.git_timeout_secs);
    let todo: Vec<(usize, &config::GitSource)> = sources
        .iter()
        .enumerate()
        .filter(|(_, s)| s.error.is_none())
        .filter_map(|(i, s)| Some((i, s.git.as_ref()?)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(BTreeMap::new());
    std::thread::scope(|scope| {
        for _ in 0..config.build.parallel_checks.min(todo.len()) {
            scope.spawn(|| {
                while let Some((i, g)) = todo.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    let head = git::remote_head(&g.url, &g.branch, timeout);
                    done.lock().unwrap_or_else(|e| e.into_inner()).insert(*i, head);
                }
            });
        }
    });
    done.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn mirror_one(
    config: &Config,
    src: &Source,
    head: Option<Result<String>>,
    state: &mut State,
    state_path: &Path,
    line: &mut Line,
) -> Result<()> {
    if let Some(e) = &src.error {
        bail!("{e}");
    }
    // Read at every run, even for an unchanged source: a missing key file is said now,
    // not on the day the source changes.
    let key = preau_pack::SecretKey::read_file(&src.key)
        .with_context(|| format!("clé de publication (publisher key) {}", src.key.display()))?;
    let public = key.public().to_hex();
    line.key = Some(public.clone());
    let b = &config.build;
    let timeout = Duration::from_secs(b.git_timeout_secs);
    let settings = settings_hash(config, src);
    let recorded = state.packs.get(&src.id).filter(|r| r.kind == src.kind && r.settings == settings);
    let mut stat = None;
    // The fingerprint, and what to build from.
    let (fingerprint, build_src, git_ref) = match (&src.git, &src.file) {
        (Some(g), _) => {
            let head = match head {
                Some(h) => h?,
                None => git::remote_head(&g.url, &g.branch, timeout)?,
            };
            if recorded.is_some_and(|r| r.fingerprint == head) {
                return unchanged(line, recorded, head);
            }
            let clone = config.state.join("git").join(format!("{}.git", src.id));
            let head = git::fetch(&g.url, &g.branch, &clone, timeout, b.max_git_bytes)?;
            (head.clone(), clone, Some(head))
        }
        (None, Some(file)) => {
            let now = file_stat(file)?;
            if let Some(r) = recorded.filter(|r| r.stat.as_ref() == Some(&now)) {
                return unchanged(line, Some(r), r.fingerprint.clone());
            }
            let hash = hash_file(file, b.max_source_bytes)?;
            if let Some(r) = recorded.filter(|r| r.fingerprint == hash) {
                // The same bytes as published (copied again, touched): remember this stat.
                let r = Record { stat: Some(now), ..r.clone() };
                state.packs.insert(src.id.clone(), r.clone());
                preau_pack::fsutil::atomic_write(state_path, &serde_json::to_vec_pretty(state)?)?;
                return unchanged(line, Some(&r), hash);
            }
            stat = Some(now);
            (hash, file.clone(), None)
        }
        (None, None) => unreachable!("a source is a git repository or a file"),
    };
    line.fingerprint = Some(fingerprint.clone());
    check_authorised(&config.repo, &key, &src.key)?;
    let detected = preau_import::detect(&build_src).with_context(|| format!("reading {}", build_src.display()))?;
    let expected = match src.kind {
        Kind::Git => preau_import::SourceKind::Git,
        Kind::Mbz => preau_import::SourceKind::MoodleBackup,
        Kind::Zim => preau_import::SourceKind::Zim,
    };
    if detected != expected {
        bail!("{} is not a {:?} source (detected as {detected:?})", build_src.display(), src.kind);
    }
    let args = build_args(config, src, build_src, git_ref);
    let out = super::pack::publish(&args)?;
    let s = &out.summary;
    line.version = Some(s.version);
    // Nothing published: the version keeps the key that signed it.
    let signer = if s.unchanged { state.packs.get(&src.id).and_then(|r| r.key.clone()) } else { Some(public) };
    if s.unchanged {
        line.key = signer.clone();
        line.status = Status::Unchanged;
        line.detail = Some(format!("rebuilt, same content as v{}: nothing published", s.version));
    } else {
        line.status = Status::Built;
        line.detail = Some(format!(
            "{} files, {} added; catalog v{}",
            s.files,
            super::pack::human(s.bytes_added),
            s.catalog_version
        ));
    }
    // Recorded only now that the publish succeeded, and durably before the next source.
    state.packs.insert(
        src.id.clone(),
        Record {
            kind: src.kind,
            origin: src.origin.clone(),
            fingerprint,
            stat,
            settings,
            version: s.version,
            published_at: now(),
            key: signer,
        },
    );
    preau_pack::fsutil::atomic_write(state_path, &serde_json::to_vec_pretty(state)?)?;
    Ok(())
}

fn unchanged(line: &mut Line, recorded: Option<&Record>, fingerprint: String) -> Result<()> {
    line.status = Status::Unchanged;
    line.version = recorded.map(|r| r.version);
    // The key that signed the published version (a state written before keys were
    // recorded: none said).
    line.key = recorded.and_then(|r| r.key.clone());
    line.fingerprint = Some(fingerprint);
    Ok(())
}

/// `pack build`'s arguments for one source.
fn build_args(config: &Config, src: &Source, build_src: PathBuf, git_ref: Option<String>) -> super::pack::BuildArgs {
    let b = &config.build;
    super::pack::BuildArgs {
        src: build_src,
        repo: PathBuf::from(&config.repo),
        s3: super::pack::S3Args {
            s3_endpoint: config.s3.endpoint.clone(),
            s3_region: config.s3.region.clone(),
            s3_credentials: config.s3.credentials.clone(),
            s3_cache: config.s3.cache.clone(),
        },
        key: src.key.clone(),
        id: Some(src.id.clone()),
        title: src.title.clone(),
        level: b.level,
        max_file_size: b.max_file_size,
        expires_days: b.expires_days,
        bundle_window: b.bundle_window,
        git_ref,
        // No progress bar and nothing printed: the mirror prints its own report.
        json: true,
        no_generator: !src.generator,
        verbatim: src.verbatim,
        outside: super::offline::OfflineArgs {
            offline: b.offline,
            npm_registry: b.npm_registry.clone(),
            cache: b.cache.clone(),
            resolve: Vec::new(),
        },
    }
}

/// Every source of this run: the git and ZIM entries, and the `.mbz` files found in the
/// drop folders now. A folder that cannot be read is one failed source.
fn sources(config: &Config) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for g in &config.git {
        out.push(Source {
            id: g.id.clone(),
            kind: Kind::Git,
            origin: format!("{}#{}", preau_import::git::strip_credentials(&g.url), g.branch),
            file: None,
            git: Some(g.clone()),
            title: g.title.clone(),
            generator: g.generator,
            verbatim: g.verbatim,
            key: config.key_for(g.key.as_ref()).unwrap_or_default(),
            error: None,
        });
    }
    for z in &config.zim {
        out.push(Source {
            id: z.id.clone(),
            kind: Kind::Zim,
            origin: z.path.display().to_string(),
            file: Some(z.path.clone()),
            git: None,
            title: z.title.clone(),
            generator: false,
            verbatim: false,
            key: config.key_for(z.key.as_ref()).unwrap_or_default(),
            error: None,
        });
    }
    let fixed: std::collections::HashSet<String> = out.iter().map(|s| s.id.clone()).collect();
    for m in &config.mbz {
        match drop_folder(m) {
            Ok(found) => {
                for (id, (path, title)) in found {
                    let error = if fixed.contains(&id) {
                        Some(format!("{}: its pack id {id:?} is also a git or ZIM source's: not built", path.display()))
                    } else if out.iter().any(|s: &Source| s.id == id) {
                        // Two folders giving one id: the first folder's file wins.
                        Some(format!("{}: pack id {id:?} already comes from another folder", path.display()))
                    } else {
                        None
                    };
                    out.push(Source { error, ..mbz_source(config, m, id, path, title) });
                }
            }
            Err(e) => out.push(Source {
                error: Some(format!("{e:#}")),
                ..mbz_source(config, m, format!("{}*", m.prefix), m.folder.clone(), None)
            }),
        }
    }
    if out.len() > config::MAX_SOURCES {
        bail!("{} sources, more than {}", out.len(), config::MAX_SOURCES);
    }
    Ok(out)
}

fn mbz_source(config: &Config, m: &config::MbzFolder, id: String, path: PathBuf, title: Option<String>) -> Source {
    Source {
        id,
        kind: Kind::Mbz,
        origin: path.display().to_string(),
        file: Some(path),
        git: None,
        title,
        generator: false,
        verbatim: m.verbatim,
        key: config.key_for(m.key.as_ref()).unwrap_or_default(),
        error: None,
    }
}

/// Refuses, before the build, a key that the repository's root does not authorise to
/// sign its catalog (a folder repository; an object store's build refuses it itself).
/// A new repository is created by the first source built, with that source's key as its
/// root and only catalog key.
fn check_authorised(repo: &str, key: &preau_pack::SecretKey, file: &Path) -> Result<()> {
    let Ok(preau_publish::Target::Folder(dir)) = preau_publish::Target::parse(repo) else {
        return Ok(());
    };
    if !dir.join(preau_pack::repo::ROOT_FILE).is_file() {
        return Ok(());
    }
    let root = preau_pack::Repo::open(&dir)?.verified_root(None)?;
    if !root.roles.catalog.contains(&key.public()) {
        bail!(
            "la clé {} ({}) n'est pas autorisée à signer le catalogue de {} : faites-la autoriser par une clé \
             racine du dépôt (this key is not authorised by the repository's root.json v{} to sign its catalog; \
             authorise it with: preau pack authorize-key --repo {} --key ROOT_KEY --add {}.pub)",
            file.display(),
            key.public().to_hex(),
            dir.display(),
            root.version,
            dir.display(),
            file.display()
        );
    }
    Ok(())
}

/// The `.mbz` files of a drop folder by pack id (the newest file for each id).
fn drop_folder(m: &config::MbzFolder) -> Result<BTreeMap<String, (PathBuf, Option<String>)>> {
    let mut best: BTreeMap<String, (SystemTime, PathBuf, Option<String>)> = BTreeMap::new();
    let entries =
        std::fs::read_dir(&m.folder).with_context(|| format!("reading the drop folder {}", m.folder.display()))?;
    for (n, e) in entries.enumerate() {
        if n >= config::MAX_FOLDER_ENTRIES {
            bail!("{}: more than {} entries", m.folder.display(), config::MAX_FOLDER_ENTRIES);
        }
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.to_ascii_lowercase().ends_with(".mbz") {
            continue;
        }
        let meta = std::fs::metadata(e.path())?;
        if !meta.is_file() {
            continue;
        }
        let (id, title) = match m.name.iter().find(|r| config::glob_match(&r.pattern, &name)) {
            Some(r) => (r.id.clone(), r.title.clone()),
            None => {
                let stem = &name[..name.len() - 4];
                let id = preau_pack::path::slugify_id(&format!("{}{stem}", m.prefix));
                (id, None)
            }
        };
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        if best.get(&id).is_none_or(|(t, _, _)| mtime > *t) {
            best.insert(id, (mtime, e.path(), title));
        }
    }
    Ok(best.into_iter().map(|(id, (_, p, t))| (id, (p, t))).collect())
}

/// BLAKE3 of what decides the build besides the source's content: its settings and the
/// build options. Changing a title or `verbatim` rebuilds the pack.
fn settings_hash(config: &Config, src: &Source) -> String {
    let b = &config.build;
    let settings = serde_json::json!({
        "repo": config.repo,
        "title": src.title,
        "generator": src.generator,
        "verbatim": src.verbatim,
        "level": b.level,
        "offline": b.offline,
    });
    blake3::hash(settings.to_string().as_bytes()).to_hex().to_string()
}

/// What says a file is the one hashed before: device, inode, size, modification time (ns).
fn file_stat(path: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{}:{}:{}:{}.{:09}", m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// BLAKE3 of a file, streamed, refused over `max` bytes.
fn hash_file(path: &Path, max: u64) -> Result<String> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = f.metadata()?.len();
    if len > max {
        bail!("{}: {len} bytes, more than build.max_source_bytes = {max}", path.display());
    }
    let mut h = blake3::Hasher::new();
    h.update_reader(std::io::Read::take(f, max + 1)).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize().to_hex().to_string())
}

/// Holds the state folder's lock for the whole run: two runs at once (a timer firing
/// during a long run) would build the same sources twice and race on state.json.
fn lock(path: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: flock(2) on a descriptor we own; released when the file is closed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        bail!(
            "une autre exécution de preau mirror tient {} : celle-ci ne fait rien \
             (another `preau mirror` run holds it: this one does nothing)",
            path.display()
        );
    }
    Ok(f)
}

fn print_line(l: &Line) {
    let status = match l.status {
        Status::Built => "built",
        Status::Unchanged => "unchanged",
        Status::Failed => "FAILED",
        Status::NotFollowed => "dropped",
    };
    let version = l.version.map(|v| format!(" v{v}")).unwrap_or_default();
    let detail = l.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
    // The public key's first 16 hex digits: enough to tell the keys of one mirror apart.
    let key = l.key.as_deref().map(|k| format!(" [clé/key {}]", &k[..k.len().min(16)])).unwrap_or_default();
    println!("{status:<9} {}{version} ({}){detail}{key}", l.id, l.origin);
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
