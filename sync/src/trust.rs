//! Deciding whether a source's signed metadata may be used (TUF's threats).
//!
//! - *Arbitrary content / wrong key*: the root chain must start at a key the box trusts
//!   (its installed root, or `--trust` on a new box) and every newer root must be signed
//!   by the previous root's keys; the catalog must be signed by the current root's
//!   catalog keys. Where the bytes came from does not matter.
//! - *Rollback*: a catalog older than the newest one seen *of the same repository* is
//!   refused, and so is a different catalog carrying the same version. A repository is
//!   named by the BLAKE3 of its `roots/1.json` (stable across key rotations): two
//!   repositories signed by one publisher key (a teacher's two USB sticks) each count
//!   their own versions ([`TrustState::repositories`]). An online source is compared
//!   with the installed catalog, as it always was. Packs are protected on their own: an
//!   older version of an installed pack is never installed (`pull`).
//! - *Freeze*: an expired catalog is refused from an online server. A USB stick or a
//!   peer box is allowed to be stale (with a warning) as long as it is not older than
//!   what the box holds. A Pi has no clock, so "now" is never earlier than the latest
//!   signed time this box has ever seen (`DATA/sync/state.json`, the *time floor*).
//! - *Mix-and-match*: the catalog's nodes are named by hash in its signed top (checked
//!   by `nodes`, after this module), manifests by hash in the nodes, objects by hash in
//!   the manifests; the caller also checks each manifest's id and version. Everything
//!   here is decided on the signed top alone.
//! - *Endless data*: every read is bounded by the limits in `preau_pack::limits`.

use std::collections::BTreeMap;
use std::path::Path;

use preau_pack::limits::{MAX_CATALOG_BYTES, MAX_ROOT_BYTES};
use preau_pack::meta::{Catalog, Root};
use preau_pack::repo::{self, CATALOG_FILE, ROOT_FILE, ROOTS_DIR};
use preau_pack::sign::Envelope;
use preau_pack::{PublicKey, Repo, fsutil};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, fingerprint};
use crate::source::{Source, SourceKind};

pub const STATE_DIR: &str = "sync";

/// Root documents to install: (version, signed bytes).
type RootFiles = Vec<(u64, Vec<u8>)>;
const STATE_FILE: &str = "state.json";

/// What the box remembers between pulls about time and trust.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrustState {
    /// The latest `issued` time of any valid catalog this box has seen (unix seconds).
    pub time_floor: u64,
    /// Publishers' root keys (hex) a teacher chose to trust on the admin page, for
    /// example the key of their own course built with `preau pack build`. Every pull
    /// accepts them like `--trust` keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub publishers: Vec<String>,
    /// The newest catalog seen of each repository read from a USB stick or a peer,
    /// by repository id (see the module's *Rollback*): the rollback floor of that
    /// repository only.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub repositories: BTreeMap<String, SeenCatalog>,
}

/// The newest catalog of one repository this box has accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenCatalog {
    pub version: u64,
    /// BLAKE3 (hex) of its signed bytes: another catalog with the same version is refused.
    pub catalog: String,
    /// Its `issued` time: the oldest entries are forgotten first past [`MAX_REPOSITORIES`].
    pub issued: u64,
}

/// Repositories remembered in `state.json` (each entry is about 200 bytes of the 64 KiB
/// the file may hold). A forgotten repository keeps per-pack rollback protection.
pub const MAX_REPOSITORIES: usize = 128;

impl TrustState {
    /// The teacher-trusted publishers' keys (unreadable entries are skipped).
    pub fn publisher_keys(&self) -> Vec<PublicKey> {
        self.publishers.iter().filter_map(|k| PublicKey::from_hex(k).ok()).collect()
    }

    /// Remembers the catalog of `v` as the newest of its repository (when the source
    /// named one), so that an older catalog of that repository is refused later.
    /// The first time, the installed catalog is recorded too, as the repository's whose
    /// root the box follows (what the rollback check compared with before).
    pub fn note_catalog(&mut self, v: &Verified, repo_dir: &Path) {
        let Some(id) = &v.repository else { return };
        if let Some(local) = local_repository(repo_dir)
            && !self.repositories.contains_key(&local)
            && let Ok((version, bytes)) = installed_catalog(repo_dir)
            && version > 0
            && let Ok(cat) =
                Envelope::parse(&bytes, "installed catalog").and_then(|e| e.payload::<Catalog>("installed catalog"))
        {
            let seen = SeenCatalog { version, catalog: blake3::hash(&bytes).to_hex().to_string(), issued: cat.issued };
            self.repositories.insert(local, seen);
        }
        let seen = SeenCatalog {
            version: v.catalog.version,
            catalog: blake3::hash(&v.catalog_bytes).to_hex().to_string(),
            issued: v.catalog.issued,
        };
        self.repositories.insert(id.clone(), seen);
        while self.repositories.len() > MAX_REPOSITORIES {
            let oldest = self.repositories.iter().min_by_key(|(_, s)| s.issued).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.repositories.remove(&k),
                None => break,
            };
        }
    }
}

impl TrustState {
    pub fn load(data_dir: &Path) -> Result<TrustState> {
        let path = data_dir.join(STATE_DIR).join(STATE_FILE);
        if !path.exists() {
            return Ok(TrustState::default());
        }
        let bytes = repo::read_bounded(&path, 64 * 1024)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Malformed { what: path.display().to_string(), detail: e.to_string() })
    }

    pub fn save(&self, data_dir: &Path) -> Result<()> {
        let dir = data_dir.join(STATE_DIR);
        fsutil::create_dir_all_durable(&dir)?;
        Ok(fsutil::atomic_write(&dir.join(STATE_FILE), &serde_json::to_vec_pretty(self).expect("serialisable"))?)
    }
}

/// Signed metadata that passed every check, with the bytes to install.
#[derive(Debug)]
pub struct Verified {
    pub root: Root,
    pub root_bytes: Vec<u8>,
    /// Root versions newer than the installed one: (version, bytes), to keep in `roots/`.
    pub new_roots: Vec<(u64, Vec<u8>)>,
    pub catalog: Catalog,
    pub catalog_bytes: Vec<u8>,
    /// The source repository's id (BLAKE3 hex of its `roots/1.json`) for a USB stick or
    /// a peer; `None` for an online server, compared with the installed catalog.
    pub repository: Option<String>,
    pub warnings: Vec<String>,
}

/// The version of the catalog installed in `repo_dir` (0 when none), with its bytes.
/// It was verified when it was installed; only its version is read here.
pub fn installed_catalog(repo_dir: &Path) -> Result<(u64, Vec<u8>)> {
    let path = repo_dir.join(CATALOG_FILE);
    if !path.exists() {
        return Ok((0, Vec::new()));
    }
    let bytes = repo::read_bounded(&path, MAX_CATALOG_BYTES)?;
    let cat: Catalog = Envelope::parse(&bytes, "installed catalog")?.payload("installed catalog")?;
    Ok((cat.version, bytes))
}

/// The id of the repository whose root chain the box holds (BLAKE3 of its
/// `roots/1.json`), if any.
fn local_repository(repo_dir: &Path) -> Option<String> {
    let bytes = repo::read_bounded(&repo_dir.join(ROOTS_DIR).join("1.json"), MAX_ROOT_BYTES).ok()?;
    Some(blake3::hash(&bytes).to_hex().to_string())
}

fn fetch(source: &dyn Source, rel: &str, max: u64) -> Result<Vec<u8>> {
    source.get(rel, max)?.ok_or_else(|| {
        Error::Other(format!("{} has no {rel}: not a Préau repository, or an incomplete copy", source.describe()))
    })
}

/// Fetches and checks the source's root chain and catalog against what the box trusts.
/// `now` is the box's clock; the effective time is never before `state.time_floor`.
/// `warm` more connections are opened while the catalog is in flight (see
/// `Source::warm`), for the requests that follow.
///
/// The first round trip fetches the catalog alone when the box has a root: if the catalog
/// names that root's version, is signed by its catalog keys and the root has not expired,
/// the source's `root.json` cannot change the outcome (a source able to serve a bad
/// catalog can serve an old `root.json` too; a rotation re-signs the catalog with the new
/// root's version). Otherwise `root.json` is fetched and the chain walked as on a new box.
///
/// A chain that starts at a key this box does not know is reported as
/// [`Error::UnknownPublisher`], with the key, so that a teacher can decide.
pub fn verify_source(
    source: &dyn Source,
    repo_dir: &Path,
    extra_keys: &[PublicKey],
    state: &TrustState,
    now: u64,
    warm: usize,
) -> Result<Verified> {
    verify_chain(source, repo_dir, extra_keys, state, now, warm).map_err(|e| match e {
        Error::BadSignature { .. } | Error::Pack(preau_pack::Error::Key(_)) => {
            unknown_publisher(source, repo_dir, extra_keys).unwrap_or(e)
        }
        e => e,
    })
}

/// After a signature failure: [`Error::UnknownPublisher`] when the source's chain starts
/// (its `roots/1.json`, self-signed) at keys this box does not know, neither given nor
/// those of the root it holds. `None` when the publisher is known: then the failure is
/// a bad or tampered copy, reported as it is.
fn unknown_publisher(source: &dyn Source, repo_dir: &Path, extra_keys: &[PublicKey]) -> Option<Error> {
    let first = source.get(&format!("{ROOTS_DIR}/1.json"), MAX_ROOT_BYTES).ok()??;
    let publisher: Vec<PublicKey> =
        repo::parse_root(&first).ok()?.roles.root.keys.iter().filter_map(|k| PublicKey::from_hex(k).ok()).collect();
    let mut known = extra_keys.to_vec();
    for file in [repo_dir.join(ROOT_FILE), repo_dir.join(ROOTS_DIR).join("1.json")] {
        if let Ok(root) = repo::read_bounded(&file, MAX_ROOT_BYTES).and_then(|b| repo::parse_root(&b)) {
            known.extend(root.roles.root.keys.iter().filter_map(|k| PublicKey::from_hex(k).ok()));
        }
    }
    if publisher.iter().any(|k| known.contains(k)) {
        return None;
    }
    let key = publisher.into_iter().next()?;
    Some(Error::UnknownPublisher { from: source.describe(), fingerprint: fingerprint(&key), key })
}

fn verify_chain(
    source: &dyn Source,
    repo_dir: &Path,
    extra_keys: &[PublicKey],
    state: &TrustState,
    now: u64,
    warm: usize,
) -> Result<Verified> {
    let mut warnings = Vec::new();
    let now = now.max(state.time_floor);
    let from = source.describe();

    let local_root =
        if repo_dir.join(ROOT_FILE).is_file() { Some(Repo::open(repo_dir)?.verified_root(None)?) } else { None };
    // root.json in the same round as the catalog when it will surely be needed: a new
    // box, or a box whose root was not signed by a key given explicitly (the publisher
    // may change, see below).
    let root_first = match &local_root {
        None => true,
        Some(r) => !extra_keys.is_empty() && !extra_keys.iter().any(|k| r.roles.root.contains(k)),
    };
    // The chain from roots/1.json too when the box may have to start it (a trusted key
    // given): one round trip instead of two for a new box.
    let chain_first = root_first && !extra_keys.is_empty();
    // The repository's id for a USB stick or a peer (cheap to read there); an online
    // server keeps its round trips as they were.
    let offline = source.kind() != SourceKind::Online;
    let joined =
        |r: std::thread::Result<Result<Vec<u8>>>| r.unwrap_or_else(|_| Err(Error::Other("fetch panicked".into())));
    let (catalog_bytes, first_root, root1) = std::thread::scope(|s| {
        let warming = s.spawn(|| source.warm(warm));
        let root = root_first.then(|| s.spawn(|| fetch(source, ROOT_FILE, MAX_ROOT_BYTES)));
        let root1 =
            (chain_first || offline).then(|| s.spawn(|| fetch(source, &format!("{ROOTS_DIR}/1.json"), MAX_ROOT_BYTES)));
        let cat = fetch(source, CATALOG_FILE, MAX_CATALOG_BYTES);
        let root = root.map(|h| joined(h.join()));
        let root1 = root1.map(|h| joined(h.join()));
        let _ = warming.join();
        (cat, root, root1)
    });
    let first_root = first_root.transpose()?;
    // Used only if the walk starts there; a failure is reported by the walk's own fetch.
    let root1 = root1.and_then(Result::ok);
    let repository = if offline { root1.as_ref().map(|b| blake3::hash(b).to_hex().to_string()) } else { None };
    let rollback = Floor { state, repository: repository.as_deref() };
    let catalog_bytes = catalog_bytes?;
    if first_root.is_none()
        && let Some(r) = &local_root
        && r.expires >= now
        && let Ok(catalog) = repo::parse_catalog(&catalog_bytes, r)
        && catalog.root_version == r.version
    {
        let root_bytes = std::fs::read(repo_dir.join(ROOT_FILE)).unwrap_or_default();
        check_catalog(source, repo_dir, &catalog, &catalog_bytes, now, false, &rollback, &mut warnings)?;
        return Ok(Verified {
            root: r.clone(),
            root_bytes,
            new_roots: Vec::new(),
            catalog,
            catalog_bytes,
            repository,
            warnings,
        });
    }
    let remote_bytes = match first_root {
        Some(r) => r,
        None => fetch(source, ROOT_FILE, MAX_ROOT_BYTES)?,
    };
    let remote = repo::parse_root(&remote_bytes)
        .map_err(|e| Error::BadSignature { what: format!("root.json from {from}"), detail: e.to_string() })?;

    let chain = |start: Option<Root>| -> Result<(Root, RootFiles, Vec<u8>, Catalog)> {
        let (root, new_roots, root_bytes) =
            walk_roots(source, repo_dir, start, extra_keys, &remote, &remote_bytes, root1.as_ref())?;
        let catalog = repo::parse_catalog(&catalog_bytes, &root)?;
        Ok((root, new_roots, root_bytes, catalog))
    };
    // Normally the source continues the chain of the root this box holds. A box whose
    // packs so far came from another publisher (the embedded demo pack, a USB stick)
    // moves to the source's chain only if that chain starts at a key given explicitly
    // (`--trust`, `[sync] trusted_keys`); version numbers are then per publisher.
    let mut publisher_changed = false;
    let (current, new_roots, root_bytes, catalog) = match chain(local_root.clone()) {
        Ok(x) => x,
        Err(e) if local_root.is_some() && !extra_keys.is_empty() => match chain(None) {
            Ok(x) => {
                let local_first = std::fs::read(repo_dir.join(ROOTS_DIR).join("1.json")).unwrap_or_default();
                publisher_changed = x.1.first().is_some_and(|(_, b)| *b != local_first);
                if publisher_changed {
                    warnings.push(format!("this box now follows the publisher of {from} (trusted key given)"));
                }
                x
            }
            Err(_) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    if current.expires < now {
        let msg = format!("the root of trust (version {}) expired at {}", current.version, current.expires);
        if source.kind() == SourceKind::Online {
            return Err(Error::Expired { detail: msg, why: "the publisher must sign a new root".into() });
        }
        warnings.push(msg);
    }

    check_catalog(source, repo_dir, &catalog, &catalog_bytes, now, publisher_changed, &rollback, &mut warnings)?;
    Ok(Verified { root: current, root_bytes, new_roots, catalog, catalog_bytes, repository, warnings })
}

/// What a catalog's version is compared with.
struct Floor<'a> {
    state: &'a TrustState,
    /// The source's repository id, when it has one (see [`Verified::repository`]).
    repository: Option<&'a str>,
}

impl Floor<'_> {
    /// (version, BLAKE3 of the catalog) a new catalog must not go below: the newest
    /// seen of the same repository; for a repository never seen, the installed catalog
    /// if it is that repository's (a box from before repositories were remembered),
    /// else nothing. Without an id (online), the installed catalog.
    fn of(&self, repo_dir: &Path, publisher_changed: bool) -> Result<(u64, Option<blake3::Hash>)> {
        if publisher_changed {
            return Ok((0, None));
        }
        let installed = || -> Result<(u64, Option<blake3::Hash>)> {
            let (v, bytes) = installed_catalog(repo_dir)?;
            Ok((v, (v > 0).then(|| blake3::hash(&bytes))))
        };
        let Some(id) = self.repository else { return installed() };
        if let Some(seen) = self.state.repositories.get(id) {
            return Ok((seen.version, blake3::Hash::from_hex(&seen.catalog).ok()));
        }
        // Never recorded, but the box follows this repository's root: its installed
        // catalog (a box from before repositories were remembered).
        if local_repository(repo_dir).as_deref() == Some(id) {
            return installed();
        }
        Ok((0, None))
    }
}

/// Rollback and freeze checks of a catalog whose signature is good.
#[allow(clippy::too_many_arguments)]
fn check_catalog(
    source: &dyn Source,
    repo_dir: &Path,
    catalog: &Catalog,
    catalog_bytes: &[u8],
    now: u64,
    publisher_changed: bool,
    floor: &Floor<'_>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let from = source.describe();
    let (installed_version, installed_hash) = floor.of(repo_dir, publisher_changed)?;
    if catalog.version < installed_version {
        return Err(Error::Rollback {
            what: "the catalog".into(),
            from,
            offered: catalog.version,
            installed: installed_version,
        });
    }
    if catalog.version == installed_version
        && installed_version > 0
        && installed_hash.is_some_and(|h| h != blake3::hash(catalog_bytes))
    {
        return Err(Error::Rollback {
            what: "the catalog".into(),
            from,
            offered: catalog.version,
            installed: installed_version,
        });
    }
    if catalog.expires < now {
        let msg = format!(
            "the catalog of {from} (version {}) expired at unix time {}; this box's time is at least {now}",
            catalog.version, catalog.expires
        );
        if source.kind() == SourceKind::Online {
            return Err(Error::Expired { detail: msg, why: "a frozen or stale mirror".into() });
        }
        warnings.push(format!(
            "{msg}; accepted from a {:?} source because it is not older than what this box has",
            source.kind()
        ));
    }
    Ok(())
}

/// Walks the root chain from `start` (the box's root) or, with `None`, from the source's
/// `roots/1.json` (`first` when it was fetched already), which must be signed by one of
/// `extra_keys`, up to the source's current root. Returns the newest root, the root files to install, and the current root's bytes.
fn walk_roots(
    source: &dyn Source,
    repo_dir: &Path,
    start: Option<Root>,
    extra_keys: &[PublicKey],
    remote: &Root,
    remote_bytes: &[u8],
    first: Option<&Vec<u8>>,
) -> Result<(Root, RootFiles, Vec<u8>)> {
    let from = source.describe();
    let mut new_roots = Vec::new();
    let (mut current, first_new) = match start {
        Some(r) => {
            let v = r.version;
            (r, v + 1)
        }
        None => {
            if extra_keys.is_empty() {
                return Err(Error::Pack(preau_pack::Error::Key(
                    "this box trusts no signing key yet: pass the publisher's public key (--trust FILE.pub)".into(),
                )));
            }
            let bytes = match first {
                Some(b) => b.clone(),
                None => fetch(source, &format!("{ROOTS_DIR}/1.json"), MAX_ROOT_BYTES)?,
            };
            let r1 = repo::parse_root(&bytes)?;
            let env = Envelope::parse(&bytes, "root version 1")?;
            if r1.version != 1 || !env.valid_signers(&r1.roles.root).iter().any(|k| extra_keys.contains(k)) {
                return Err(Error::BadSignature {
                    what: format!("root of {from}"),
                    detail:
                        "not signed by any key this box trusts (wrong --trust key, or another publisher's repository)"
                            .into(),
                });
            }
            new_roots.push((1, bytes));
            (r1, 2)
        }
    };
    // Key rotation: each newer root is signed by the previous root's keys and its own.
    for v in first_new..=remote.version {
        let what = format!("root version {v} from {from}");
        let bytes = if v == remote.version {
            remote_bytes.to_vec()
        } else {
            fetch(source, &format!("{ROOTS_DIR}/{v}.json"), MAX_ROOT_BYTES)?
        };
        let r = repo::parse_root(&bytes)?;
        if r.version != v {
            return Err(Error::Malformed { what, detail: format!("says it is version {}", r.version) });
        }
        Envelope::parse(&bytes, &what)?
            .check_role(&current.roles.root, &format!("{what} (by the keys of version {})", v - 1))?;
        new_roots.push((v, bytes));
        current = r;
    }
    let root_bytes = if current.version == remote.version {
        remote_bytes.to_vec()
    } else {
        std::fs::read(repo_dir.join(ROOT_FILE)).unwrap_or_default()
    };
    Ok((current, new_roots, root_bytes))
}
