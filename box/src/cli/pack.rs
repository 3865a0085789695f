//! `preau keygen` and `preau pack build|list|verify|extract`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use preau_pack::build::{BuildOptions, BuildSummary};
use preau_pack::{PublicKey, SecretKey};

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the secret key; the public key goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum PackCommand {
    /// Build a pack from SRC into a repository, or add a new version of it, and re-sign the
    /// repository's catalog. SRC is a folder, a .tar/.tar.gz, a zip, a Moodle backup (.mbz,
    /// tar or ZIP), a GIFT or Moodle XML question file, a git repository or a ZIM file: the
    /// kind is detected from the content. A MkDocs or Sphinx project is built with MkDocs or
    /// Sphinx itself.
    Build(BuildArgs),
    /// List the packs of a repository.
    List(RepoArgs),
    /// Check a repository: signatures, every hash and length, every object present.
    Verify(VerifyArgs),
    /// Write a pack's files back to a folder, byte for byte.
    Extract(ExtractArgs),
    /// Add library files from npm packages to the repository's shared libraries pack
    /// (`preau-libs`), which pack pages load instead of CDNs.
    Libs(super::offline::LibsArgs),
    /// Replace the repository's signing key: boxes that trust the old key follow the
    /// signed chain to the new one.
    RotateKey(RotateArgs),
    /// Authorise more keys to sign the repository's catalog (or withdraw some): a new root
    /// version signed by a root key. Several publishers (the sources of `preau mirror`)
    /// then publish into one repository, each with its own key.
    AuthorizeKey(AuthorizeArgs),
    /// Take packs out of the repository: a new catalog without them, signed. In a folder,
    /// the objects and update bundles no remaining pack needs are deleted; on an object
    /// store nothing is deleted (objects are never deleted by a publisher: another pack
    /// may share them). Boxes that hold such a pack keep it until a teacher removes it.
    Unpublish(UnpublishArgs),
}

#[derive(Args)]
pub struct UnpublishArgs {
    /// The repository: a folder, or `s3://BUCKET/PREFIX` (credentials as for `build`).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub repo: PathBuf,
    /// A secret key allowed to sign the repository's catalog.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The ids of the packs to take out.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Args)]
pub struct AuthorizeArgs {
    /// The repository: a folder, or `s3://BUCKET/PREFIX` (credentials as for `build`).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub repo: PathBuf,
    /// A secret root key of the repository (the key that created it, or the last
    /// `rotate-key` one).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// A public key (`.pub` file) allowed to sign the catalog from now on.
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub add: Vec<PathBuf>,
    /// A public key (`.pub` file) no longer allowed to sign the catalog.
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub remove: Vec<PathBuf>,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Args)]
pub struct RotateArgs {
    #[arg(long, value_name = "DIR")]
    pub repo: PathBuf,
    /// The current secret key.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The new secret key (from `preau keygen`).
    #[arg(long, value_name = "FILE")]
    pub new_key: PathBuf,
}

#[derive(Args)]
pub struct BuildArgs {
    /// The source: folder, tar, Moodle backup, GIFT/Moodle XML file, git repository or ZIM.
    pub src: PathBuf,
    /// The repository: a folder (created if missing), `file://PATH`, or an S3 bucket
    /// `s3://BUCKET/PREFIX` (credentials from the AWS environment variables or a
    /// credentials file, never from the command line).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub repo: PathBuf,
    #[command(flatten)]
    pub s3: S3Args,
    /// The secret signing key (from `preau keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Pack id (default: from the source's name).
    #[arg(long)]
    pub id: Option<String>,
    /// Pack title (default: from the source).
    #[arg(long)]
    pub title: Option<String>,
    /// zstd compression level for new chunks (1-22).
    #[arg(long, default_value_t = 19, value_parser = clap::value_parser!(i32).range(1..=22))]
    pub level: i32,
    /// Refuse source files larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = preau_pack::limits::DEFAULT_MAX_FILE_BYTES)]
    pub max_file_size: u64,
    /// Days the re-signed catalog stays valid for online sources.
    #[arg(long, value_name = "DAYS", default_value_t = 90)]
    pub expires_days: u64,
    /// Update bundles straight to the new version from each of this many previous
    /// versions (a box that missed up to K versions updates in one bundle; 0: none).
    #[arg(long, value_name = "K", default_value_t = preau_pack::build::DEFAULT_BUNDLE_WINDOW as u64,
          value_parser = clap::value_parser!(u64).range(0..=preau_pack::build::MAX_BUNDLE_WINDOW as u64))]
    pub bundle_window: u64,
    /// For a git repository: the branch, tag or commit to pack (default HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Print a JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not run a site's own generator (MkDocs, Sphinx): use the built site the source holds,
    /// else Préau's internal rendering.
    #[arg(long)]
    pub no_generator: bool,
    /// Keep every file byte for byte: pages keep their outside references (CDN scripts,
    /// outside images), which do not load on a box without internet, and a folder of
    /// Markdown chapters is not rendered into pages.
    #[arg(long)]
    pub verbatim: bool,
    #[command(flatten)]
    pub outside: super::offline::OfflineArgs,
}

/// How to reach an `s3://` repository. No secret here: credentials come from
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` or a credentials file.
#[derive(Args)]
pub struct S3Args {
    /// An S3-compatible endpoint (default: `AWS_ENDPOINT_URL`, else AWS).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region (default: `AWS_REGION`, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// A shared credentials file (default: `AWS_SHARED_CREDENTIALS_FILE`, else
    /// `~/.aws/credentials`); profile `AWS_PROFILE`, else `default`.
    #[arg(long, value_name = "FILE")]
    pub s3_credentials: Option<PathBuf>,
    /// The local mirror of the bucket the build works in (default under
    /// `~/.cache/preau/publish/`).
    #[arg(long, value_name = "DIR")]
    pub s3_cache: Option<PathBuf>,
}

impl S3Args {
    fn options(&self) -> preau_publish::S3Options {
        preau_publish::S3Options {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone(),
            credentials_file: self.s3_credentials.clone(),
            cache: self.s3_cache.clone(),
            max_attempts: preau_publish::DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// How `list`, `verify` and `extract` reach a repository.
#[derive(Args)]
pub struct RepoAt {
    /// The repository: a folder, or the URL of a remote one (another box's
    /// `http://BOX/repo/`, a mirror, the national server).
    #[arg(long, value_name = "DIR|URL")]
    pub repo: PathBuf,
    /// For a remote box: the school's `[sync] peer_token`, which opens the quiz answers it
    /// gives sealed (the token itself is never sent).
    #[arg(long, env = "PREAU_PEER_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub peer_token: Option<String>,
}

#[derive(Args)]
pub struct RepoArgs {
    #[command(flatten)]
    pub at: RepoAt,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub at: RepoAt,
    /// Also require the repository to be signed by this public key (a `.pub` file).
    #[arg(long, value_name = "PUBKEY_FILE")]
    pub trust: Vec<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub at: RepoAt,
    #[arg(long)]
    pub id: String,
    /// An older version of the pack (default: the current one).
    #[arg(long)]
    pub version: Option<u64>,
    /// A new or empty folder to write the files into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn keygen(args: KeygenArgs) -> Result<()> {
    let key = SecretKey::generate();
    let pub_path = key.write_files(&args.out)?;
    println!("secret key: {} (keep it private)", args.out.display());
    println!("public key: {} = {}", pub_path.display(), key.public().to_hex());
    Ok(())
}

pub fn run(cmd: PackCommand) -> Result<()> {
    match cmd {
        PackCommand::Build(a) => build(a),
        PackCommand::List(a) => list(&a.at, a.json),
        PackCommand::Verify(a) => verify(a),
        PackCommand::Extract(a) => extract(a),
        PackCommand::Libs(a) => super::offline::libs(a),
        PackCommand::RotateKey(a) => {
            let old = SecretKey::read_file(&a.key)?;
            let new = SecretKey::read_file(&a.new_key)?;
            let root = preau_pack::repo::rotate_key(&a.repo, &old, &new)?;
            println!("root version {} now trusts only {}; catalog re-signed", root.version, new.public().to_hex());
            Ok(())
        }
        PackCommand::AuthorizeKey(a) => {
            if a.add.is_empty() && a.remove.is_empty() {
                bail!("rien à faire : donnez --add ou --remove (nothing to do: give --add or --remove)");
            }
            let read = |paths: &[PathBuf]| -> Result<Vec<PublicKey>> {
                paths.iter().map(|p| PublicKey::read_file(p).map_err(anyhow::Error::from)).collect()
            };
            let root_key = SecretKey::read_file(&a.key)?;
            let (add, remove) = (read(&a.add)?, read(&a.remove)?);
            let change = |dir: &std::path::Path| -> Result<preau_pack::meta::Root> {
                Ok(preau_pack::repo::authorize_catalog_keys(dir, &root_key, &add, &remove)?)
            };
            // On an object store, the same change is made in the local mirror and pushed
            // with the conditional writes of a build: a publisher racing it is not lost.
            let root = match preau_publish::Target::parse(&a.repo.to_string_lossy())? {
                preau_publish::Target::Folder(dir) => change(&dir),
                preau_publish::Target::S3 { bucket, prefix } => {
                    preau_publish::publish_s3(&bucket, &prefix, &a.s3.options(), &[], 1, change).map(|p| p.value)
                }
            }
            .with_context(|| format!("changing the catalog keys of {}", a.repo.display()))?;
            println!("root version {}: catalog keys {}", root.version, root.roles.catalog.keys.join(", "));
            Ok(())
        }
        PackCommand::Unpublish(a) => unpublish(a),
    }
}

fn unpublish(a: UnpublishArgs) -> Result<()> {
    let key = SecretKey::read_file(&a.key)?;
    let (removed, freed) = match preau_publish::Target::parse(&a.repo.to_string_lossy())? {
        preau_publish::Target::Folder(dir) => {
            let u = preau_pack::unpublish::unpublish(&dir, &a.ids, &key)?;
            (u.removed, Some((u.objects, u.bytes)))
        }
        preau_publish::Target::S3 { bucket, prefix } => {
            // The same change in the local mirror, pushed with the conditional writes of a
            // build: a publisher racing it is not lost (a lost race is made again).
            let withdraw = |dir: &std::path::Path| Ok(preau_pack::unpublish::withdraw(dir, &a.ids, &key)?);
            (preau_publish::publish_s3(&bucket, &prefix, &a.s3.options(), &[], 1, withdraw)?.value, None)
        }
    };
    let absent: Vec<&str> = a.ids.iter().filter(|id| !removed.contains(id)).map(String::as_str).collect();
    if !absent.is_empty() {
        eprintln!(
            "absent du catalogue, rien à retirer (not in the catalog, nothing to take out): {}",
            absent.join(", ")
        );
    }
    if removed.is_empty() {
        println!("{}: catalogue inchangé (catalog unchanged)", a.repo.display());
        return Ok(());
    }
    println!("{}: retiré(s) du catalogue (taken out of the catalog): {}", a.repo.display(), removed.join(", "));
    if let Some((objects, bytes)) = freed {
        println!(
            "{objects} objets supprimés, {} libérés ({objects} objects deleted, {} freed)",
            human(bytes),
            human(bytes)
        );
    }
    Ok(())
}

fn build(a: BuildArgs) -> Result<()> {
    let out = publish(&a)?;
    if let Some((st, attempts)) = &out.pushed
        && !a.json
    {
        println!(
            "{}: {} fichiers créés, {} déjà présents, {} mis à jour, {} supprimés ({}), en {} tentative(s)",
            a.repo.display(),
            st.created,
            st.already_there,
            st.updated,
            st.deleted,
            human(st.bytes),
            attempts
        );
    }
    if a.json {
        // The build summary's fields at the top level, the import report beside them.
        let mut json = serde_json::to_value(&out.summary)?;
        json["import"] = serde_json::to_value(&out.report)?;
        json["libs"] = serde_json::to_value(&out.libs)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("{}", out.report);
        if let Some(l) = &out.libs {
            print_summary(l);
        }
        print_summary(&out.summary);
    }
    Ok(())
}

/// What one `pack build` did: the pack's summary, the libraries pack's if it grew, the
/// import report, and for an object store what went up and in how many attempts.
pub struct Outcome {
    pub summary: BuildSummary,
    pub libs: Option<BuildSummary>,
    pub report: preau_import::ImportReport,
    pub pushed: Option<(preau_publish::PushStats, u32)>,
}

/// Imports `a.src`, builds it into `a.repo` and publishes it there: the one code path of
/// `preau pack build` and `preau mirror`. Prints nothing but the progress bar (none when
/// `a.json`).
pub fn publish(a: &BuildArgs) -> Result<Outcome> {
    let key = SecretKey::read_file(&a.key)?;
    let imported = read_site_source(a)?;
    let target = preau_publish::Target::parse(&a.repo.to_string_lossy())?;
    match &target {
        preau_publish::Target::Folder(dir) => {
            let (summary, libs, report) = build_into(a, &key, dir, &imported)?;
            Ok(Outcome { summary, libs, report, pushed: None })
        }
        preau_publish::Target::S3 { bucket, prefix } => {
            let id = a.id.clone().unwrap_or_else(|| imported.tree.meta.id.clone());
            let packs = [id, preau_offline::libs::LIBS_PACK_ID.to_string()];
            let published = preau_publish::publish_s3(
                bucket,
                prefix,
                &a.s3.options(),
                &packs,
                (a.bundle_window as usize).max(1),
                |dir| build_into(a, &key, dir, &imported),
            )
            .with_context(|| format!("publishing {} to {}", a.src.display(), a.repo.display()))?;
            let (summary, libs, report) = published.value;
            Ok(Outcome { summary, libs, report, pushed: Some((published.stats, published.attempts)) })
        }
    }
}

/// Builds the imported source into the repository folder `dir`. Starts from a copy of
/// the import each time: a publish to an object store that lost a race runs it again.
fn build_into(
    a: &BuildArgs,
    key: &SecretKey,
    dir: &std::path::Path,
    imported: &preau_import::Imported,
) -> Result<(BuildSummary, Option<BuildSummary>, preau_import::ImportReport)> {
    let mut report = imported.report.clone();
    let mut tree = imported.tree.clone();
    if let Some(id) = &a.id {
        tree.meta.id = id.clone();
    }
    match &a.title {
        Some(title) => tree.meta.title = title.clone(),
        None => {
            if let Some(previous) = title_to_keep(dir, &tree.meta) {
                tree.meta.title = previous;
            }
        }
    }
    let opts = BuildOptions {
        level: a.level,
        max_file_bytes: a.max_file_size,
        catalog_lifetime_secs: a.expires_days * 86400,
        bundle_window: a.bundle_window as usize,
    };
    // Nothing a page loads may come from outside the box: libraries from the shared
    // libraries pack (built first if it lacks some), the rest downloaded or removed.
    let libs = if a.verbatim {
        None
    } else {
        preau_offline::prepare_pack(dir, key, &mut tree, &mut report, &a.outside.options()?, &opts)
            .map_err(|e| anyhow::anyhow!("{}: outside references: {e}", a.src.display()))?
    };
    let bar = super::progress::bytes_bar(!a.json, "building");
    let summary = preau_pack::build::build(dir, tree, key, &opts, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("building a pack from {} into {}", a.src.display(), dir.display()))?;
    bar.finish_and_clear();
    Ok((summary, libs, report))
}

/// `super::source::read_source`, except that a site project is built with its own generator
/// (`preau-sitegen`: publisher side only; the box never runs it).
fn read_site_source(a: &BuildArgs) -> Result<preau_import::Imported> {
    let mut opts =
        preau_sitegen::Options::new(a.outside.cache.clone().unwrap_or_else(preau_sitegen::default_cache_dir));
    opts.import.git_ref = a.git_ref.clone();
    opts.import.limits.max_file_bytes = a.max_file_size;
    opts.generator = !a.no_generator;
    opts.import.verbatim = a.verbatim;
    let kind = preau_import::detect(&a.src).with_context(|| format!("reading {}", a.src.display()))?;
    preau_sitegen::import(&a.src, &opts)
        .with_context(|| format!("importing {} (detected as {kind:?})", a.src.display()))
}

/// The previous version's title, when a new version of a pack is built without
/// `--title` from a source whose title is only its file or folder name: `cours-v2/` must
/// not rename "Cours de Python" on every box. A Moodle backup or a ZIM names itself.
fn title_to_keep(repo: &std::path::Path, meta: &preau_pack::PackMeta) -> Option<String> {
    if !["folder", "tar", "git"].contains(&meta.kind.as_str()) || !repo.join(preau_pack::repo::ROOT_FILE).exists() {
        return None;
    }
    let repo = preau_pack::Repo::open(repo).ok()?;
    let root = repo.verified_root(None).ok()?;
    let previous = repo.load_catalog(&root).ok()?.packs.remove(&meta.id)?;
    (!previous.title.is_empty()).then_some(previous.title)
}

fn print_summary(s: &BuildSummary) {
    if s.unchanged {
        println!("{} v{}: unchanged ({} files); the repository was not modified", s.id, s.version, s.files);
        return;
    }
    println!("{} v{} built: {} files, {} read", s.id, s.version, s.files, human(s.bytes_read));
    println!(
        "  chunks: {} total, {} new, {} reused; {} added to the repository",
        s.chunks_total,
        s.chunks_new,
        s.chunks_reused,
        human(s.bytes_added)
    );
    println!("  manifest {}; catalog version {}", s.manifest, s.catalog_version);
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{bytes} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// The catalog's packs this copy has nodes for (a box keeps the nodes of the packs it
/// follows only), saying on stderr how many nodes are missing.
fn available_catalog(repo: &preau_pack::Repo) -> Result<preau_pack::meta::Catalog> {
    let root = repo.verified_root(None)?;
    let (catalog, missing) = repo.load_catalog_available(&root)?;
    if !missing.is_empty() {
        eprintln!(
            "attention : {} nœud(s) du catalogue absents, leurs paquets ne sont pas listés / warning: {} catalog node(s) missing, their packs are not listed",
            missing.len(),
            missing.len()
        );
    }
    Ok(catalog)
}

fn list(at: &RepoAt, json: bool) -> Result<()> {
    let opened = remote::open(at)?;
    let repo = &opened.repo;
    let catalog = available_catalog(repo)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&catalog)?);
        return Ok(());
    }
    println!("catalog version {} ({} packs)", catalog.version, catalog.packs.len());
    for (id, e) in &catalog.packs {
        println!("{id:<32} v{:<4} {:>10} {:>6} files  {}", e.version, human(e.size), e.files, e.title);
    }
    Ok(())
}

fn verify(a: VerifyArgs) -> Result<()> {
    let trusted: Vec<PublicKey> = a.trust.iter().map(|p| PublicKey::read_file(p)).collect::<Result<_, _>>()?;
    let opened = remote::open(&a.at)?;
    if let Some(r) = &opened.remote {
        r.fetch_all(&opened.repo)?;
    }
    let report = preau_pack::verify::verify_repo(&opened.repo, if trusted.is_empty() { None } else { Some(&trusted) })
        .with_context(|| format!("verifying {}", a.at.repo.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        println!(
            "root v{}, catalog v{}: {} packs, {} files, {} objects ({}) checked",
            report.root_version,
            report.catalog_version,
            report.packs,
            report.files,
            report.objects_checked,
            human(report.bytes_checked)
        );
    }
    if !report.ok() {
        bail!("{} problem(s): the repository does not verify", report.problems.len());
    }
    if !a.json {
        println!("OK");
    }
    Ok(())
}

fn extract(a: ExtractArgs) -> Result<()> {
    let opened = remote::open(&a.at)?;
    let repo = &opened.repo;
    let catalog = available_catalog(repo)?;
    let entry = catalog.packs.get(&a.id).ok_or_else(|| preau_pack::Error::NoSuchPack(a.id.clone()))?;
    if let Some(r) = &opened.remote {
        r.fetch_manifest(repo, &entry.manifest, entry.manifest_size)?;
    }
    let mut manifest = repo.read_manifest(&entry.manifest, entry.manifest_size)?;
    if let Some(wanted) = a.version {
        // Older versions are reached through each manifest's `previous` link.
        while manifest.version > wanted {
            let prev = manifest.previous.ok_or_else(|| anyhow::anyhow!("pack {} has no version {wanted}", a.id))?;
            if let Some(r) = &opened.remote {
                r.fetch_manifest(repo, &prev, preau_pack::limits::MAX_MANIFEST_BYTES)?;
            }
            manifest = repo.read_manifest_unsized(&prev)?;
        }
        if manifest.version != wanted {
            bail!("pack {} has no version {wanted}", a.id);
        }
    }
    if let Some(r) = &opened.remote {
        r.fetch_files(repo, &manifest)?;
    }
    let bytes = preau_pack::extract::extract(repo, &manifest, &a.out)?;
    println!(
        "{} v{}: {} files, {} written to {}",
        a.id,
        manifest.version,
        manifest.files.len(),
        human(bytes),
        a.out.display()
    );
    Ok(())
}

/// `--repo URL`: a remote repository read through preau-sync's HTTP source (the one the
/// sync uses, with its bounds and retries) into a temporary folder, which the same
/// folder code then reads and verifies. Only what the command needs is fetched: the
/// signed metadata for `list`, one pack's objects for `extract`, everything for `verify`.
mod remote {
    use std::collections::HashSet;

    use anyhow::{Context, Result, bail};
    use preau_pack::limits::{MAX_CATALOG_BYTES, MAX_MANIFEST_BYTES, MAX_ROOT_BYTES};
    use preau_pack::repo::{CATALOG_FILE, ROOT_FILE, ROOTS_DIR};
    use preau_pack::{Hash, Manifest, Repo};
    use preau_sync::source::{HttpOptions, HttpSource, Source, SourceKind, max_stored_len};

    use super::RepoAt;

    /// Most root versions followed (a key rotation adds one).
    const MAX_ROOT_VERSIONS: u64 = 1000;

    pub struct Opened {
        pub repo: Repo,
        pub remote: Option<Remote>,
    }

    pub struct Remote {
        src: HttpSource,
        url: String,
        // Kept for its Drop: the temporary copy goes with the command.
        _dir: tempfile::TempDir,
    }

    pub fn open(at: &RepoAt) -> Result<Opened> {
        let given = at.repo.to_string_lossy();
        if given.starts_with("s3://") {
            bail!(
                "{given} : un dépôt S3 se lit par HTTP(S), comme les boîtiers le lisent : son URL publique \
                 ou celle du CDN (an S3 repository is read over HTTP(S), as boxes read it: its public or CDN URL, \
                 e.g. https://ENDPOINT/BUCKET/PREFIX/)"
            );
        }
        if !(given.starts_with("http://") || given.starts_with("https://")) {
            return Ok(Opened { repo: Repo::open(&at.repo)?, remote: None });
        }
        let url = given.to_string();
        let opts = HttpOptions {
            kind: SourceKind::Peer,
            max_retries: 2,
            peer_token: at.peer_token.clone(),
            ..Default::default()
        };
        let src = HttpSource::new(&url, opts)?;
        let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
        let root =
            src.get(ROOT_FILE, MAX_ROOT_BYTES).with_context(|| format!("cannot read {url}"))?.with_context(|| {
                format!("{url} has no root.json: not a Préau repository (a box serves its own at http://BOX/repo/)")
            })?;
        let version = preau_pack::repo::parse_root(&root)
            .with_context(|| format!("{url}root.json is not a Préau root document"))?
            .version;
        if version > MAX_ROOT_VERSIONS {
            bail!("{url}root.json claims version {version}, more than {MAX_ROOT_VERSIONS}: refused");
        }
        std::fs::create_dir_all(dir.path().join(ROOTS_DIR))?;
        std::fs::write(dir.path().join(ROOT_FILE), &root)?;
        for v in 1..=version {
            let rel = format!("{ROOTS_DIR}/{v}.json");
            let bytes = src.get(&rel, MAX_ROOT_BYTES)?.with_context(|| format!("{url} lacks {rel}"))?;
            std::fs::write(dir.path().join(&rel), bytes)?;
        }
        if let Some(catalog) = src.get(CATALOG_FILE, MAX_CATALOG_BYTES)? {
            std::fs::write(dir.path().join(CATALOG_FILE), &catalog)?;
            // Its nodes too (each checked by its hash). A catalog that does not parse is
            // reported by the command, which checks its signature.
            if let Ok(mut cat) = preau_pack::repo::parse_catalog(&catalog, &preau_pack::repo::parse_root(&root)?) {
                let used = preau_sync::nodes::resolve(&src, Some(dir.path()), &mut cat, None, 4)?;
                for w in used.warnings {
                    eprintln!("warning: {w}");
                }
                // And its leaf hints, so that `verify` checks those boxes are served (a
                // box's own /repo/ has none: `verify` warns of it).
                if let Some(index) = &cat.index {
                    use preau_pack::catalog_tree::{hint_rel_path, leaf_bins, node_rel_path};
                    let branches: Vec<(Hash, Vec<u8>)> = index
                        .iter()
                        .flatten()
                        .filter_map(|h| std::fs::read(dir.path().join(node_rel_path(h))).ok().map(|b| (*h, b)))
                        .collect();
                    if let Ok(bins) = leaf_bins(index, &branches) {
                        let hints: Vec<String> = bins.keys().map(|b| hint_rel_path(*b)).collect();
                        preau_sync::fetch::parallel(hints, 4, &|rel| {
                            if let Ok(Some(bytes)) = src.get(&rel, preau_pack::catalog_tree::MAX_NODE_BYTES) {
                                let path = dir.path().join(&rel);
                                std::fs::create_dir_all(path.parent().expect("a hint has a folder"))
                                    .and_then(|()| std::fs::write(&path, bytes))
                                    .map_err(|e| preau_sync::Error::io(format!("writing {}", path.display()), e))?;
                            }
                            Ok(())
                        })?;
                    }
                }
            }
        }
        let repo = Repo::open(dir.path())?;
        Ok(Opened { repo, remote: Some(Remote { src, url, _dir: dir }) })
    }

    impl Remote {
        /// Fetches one object into the copy (absent ones are left for the reader to
        /// report; the reader verifies every hash).
        fn fetch(&self, repo: &Repo, hash: &Hash, len: u64) -> Result<()> {
            if repo.has_object(hash) {
                return Ok(());
            }
            let partial = repo.dir().join(format!(".partial-{}", hash.to_hex()));
            let got = self.src.get_object(hash, max_stored_len(len), &partial);
            let _ = std::fs::remove_file(&partial);
            match got.with_context(|| format!("fetching object {hash} from {}", self.url))? {
                Some(stored) => repo.write_stored(hash, &stored)?,
                None => {
                    for w in self.src.take_warnings() {
                        eprintln!("warning: {w}");
                    }
                }
            }
            Ok(())
        }

        pub fn fetch_manifest(&self, repo: &Repo, hash: &Hash, len: u64) -> Result<()> {
            self.fetch(repo, hash, len.min(MAX_MANIFEST_BYTES))
        }

        /// Every chunk of every file of `manifest`.
        pub fn fetch_files(&self, repo: &Repo, manifest: &Manifest) -> Result<()> {
            let mut seen = HashSet::new();
            for f in &manifest.files {
                for preau_pack::ChunkRef(hash, len) in f.chunk_list() {
                    if seen.insert(hash) {
                        self.fetch(repo, &hash, len)?;
                    }
                }
            }
            Ok(())
        }

        /// Everything the catalog references, for `verify`: each pack's manifest and
        /// files, its per-file deltas, its window, and for each version it has a delta
        /// from, that manifest, its files (a referenced bundle is rebuilt from them), the
        /// manifest delta and the update bundle.
        pub fn fetch_all(&self, repo: &Repo) -> Result<()> {
            let root = repo.verified_root(None)?;
            let catalog = repo.load_catalog(&root)?;
            for e in catalog.packs.values() {
                self.fetch_manifest(repo, &e.manifest, e.manifest_size)?;
                let Ok(m) = repo.read_manifest(&e.manifest, e.manifest_size) else { continue };
                self.fetch_files(repo, &m)?;
                for d in &m.deltas {
                    self.fetch(repo, &d.object, d.size)?;
                }
                let mut from = e.manifest_deltas.clone();
                if let Some(w) = &e.window {
                    self.fetch(repo, &w.object, w.size.min(preau_pack::meta::MAX_WINDOW_BYTES))?;
                    let list = repo.read_object(&w.object, w.size).ok();
                    if let Some(list) =
                        list.and_then(|b| serde_json::from_slice::<preau_pack::meta::DeltaWindow>(&b).ok())
                    {
                        from.extend(list);
                    }
                }
                for d in &from {
                    self.fetch(repo, &d.object, d.size)?;
                    self.fetch_manifest(repo, &d.from, MAX_MANIFEST_BYTES)?;
                    if let Ok(old) = repo.read_manifest_unsized(&d.from) {
                        self.fetch_files(repo, &old)?;
                    }
                    if d.bundle.is_some() {
                        let rel = preau_pack::repo::update_rel_path(&d.from);
                        if let Some(bytes) = self.src.get(&rel, preau_pack::limits::MAX_OBJECT_BYTES)? {
                            let path = repo.dir().join(&rel);
                            std::fs::create_dir_all(path.parent().expect("a bundle has a folder"))?;
                            std::fs::write(path, bytes)?;
                        }
                    }
                }
            }
            Ok(())
        }
    }
}
