//! What the classroom application needs from the rest of the box, and the adapter from
//! the HTTP core's [`crate::context::AppContext`].
//!
//! The application reads packs through the small [`PackSource`] trait: the box gives it
//! the installed pack library ([`LibraryPacks`]); tests give it packs in memory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::context::AppContext;
use crate::packs::Library;

/// An installed pack, as the catalog page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackInfo {
    pub id: String,
    pub title: String,
    pub subject: String,
    pub level: String,
    /// The page to open first, relative to the pack (`index.html`).
    pub entry: String,
    /// Bytes of the pack's files.
    pub size: u64,
}

/// Read access to the installed packs, including the private `_preau/…` files that
/// the pack file server never serves.
pub trait PackSource: Send + Sync {
    fn list(&self) -> Vec<PackInfo>;
    /// The bytes of one file of the pack (`_preau/…` included), `None` if missing.
    fn read(&self, pack: &str, path: &str) -> Option<Vec<u8>>;
    /// The installed version and source of a pack (xAPI statements name them).
    fn xapi_ref(&self, _pack: &str) -> Option<super::xapi::PackRef> {
        None
    }
    /// Installs the packs of a repository folder (a USB stick) through the one verified
    /// apply step of `preau-sync`. `trust_publisher` is a publisher key (hex) the teacher
    /// chose to trust for this folder. Returns a summary for the teacher.
    fn install_from_folder(&self, folder: &Path, trust_publisher: Option<&str>) -> Result<String, InstallError>;
    /// Removes an installed pack and frees its disk space. Returns a summary for the teacher.
    fn remove(&self, pack: &str) -> Result<String, String>;
}

/// Why a folder could not be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstallError {
    /// The folder is signed by a publisher the box does not trust yet (its root key, in
    /// hex): the teacher may choose to trust it, for example their own course.
    UnknownPublisher {
        key: String,
        detail: String,
    },
    Failed(String),
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::UnknownPublisher { detail, .. } | InstallError::Failed(detail) => f.write_str(detail),
        }
    }
}

/// What the application runs on: built from the server's context by
/// [`AppEnv::from_context`], or by hand in tests.
#[derive(Clone)]
pub struct AppEnv {
    /// The box data folder: the learner records live in `preau.sqlite` there.
    pub data_dir: PathBuf,
    /// The box's pseudonymous id (xAPI actor home page).
    pub box_id: String,
    /// The school's name, shown on pages (`[box] school`).
    pub school: String,
    /// `[box] setup_code` from the config file: also accepted to create the first teacher.
    pub setup_code: Option<String>,
    pub packs: Arc<dyn PackSource>,
    /// The background sync's status, if the box syncs by itself (admin page).
    pub sync_status: Option<Arc<Mutex<preau_sync::auto::AutoStatus>>>,
    /// `[upstream]` as the admin page shows it, if the box pushes to an LRS.
    pub upstream: Option<UpstreamInfo>,
}

/// What the admin page says about the upstream push (never the password).
#[derive(Debug, Clone)]
pub struct UpstreamInfo {
    /// The LRS base URL.
    pub lrs: String,
    /// How statements are rendered before they leave (the example statement uses it).
    pub publish: preau_sync::upstream::PublishOptions,
    pub keep_days: u32,
    pub max_outbox: u64,
}

impl AppEnv {
    pub fn from_context(ctx: &AppContext) -> AppEnv {
        AppEnv {
            data_dir: ctx.data_dir.clone(),
            box_id: ctx.box_id.clone(),
            school: ctx.config.box_.school.clone().unwrap_or_default(),
            setup_code: ctx.config.box_.setup_code.clone(),
            packs: Arc::new(LibraryPacks {
                library: ctx.packs.clone(),
                data_dir: ctx.data_dir.clone(),
                trusted_keys: ctx.config.sync.trusted_keys.clone(),
            }),
            sync_status: ctx.sync_status.clone(),
            upstream: crate::cli::upstream::job(&ctx.config, &ctx.data_dir, &ctx.box_id).map(|j| UpstreamInfo {
                lrs: ctx.config.upstream.lrs.clone().unwrap_or_default(),
                publish: j.push.publish,
                keep_days: j.push.keep_days,
                max_outbox: j.push.max_outbox,
            }),
        }
    }
}

/// The installed packs of the box (`DATA/repo/`), through the HTTP core's library.
pub struct LibraryPacks {
    library: Arc<Library>,
    data_dir: PathBuf,
    /// Root keys a box that trusts none yet accepts (`[sync] trusted_keys`).
    trusted_keys: Vec<String>,
}

impl PackSource for LibraryPacks {
    fn list(&self) -> Vec<PackInfo> {
        self.library
            .list()
            .iter()
            .map(|p| {
                let meta = &p.manifest.meta;
                PackInfo {
                    id: p.id.clone(),
                    title: if meta.title.is_empty() { p.id.clone() } else { meta.title.clone() },
                    subject: meta.subjects.first().cloned().unwrap_or_default(),
                    level: meta.level.clone(),
                    entry: if meta.entry.is_empty() { "index.html".into() } else { meta.entry.clone() },
                    size: p.manifest.files.iter().map(|f| f.size).sum(),
                }
            })
            .collect()
    }

    fn read(&self, pack: &str, path: &str) -> Option<Vec<u8>> {
        if let Some(private) = path.strip_prefix(crate::packs::PRIVATE_PREFIX) {
            return self.library.read_private(pack, private).ok().flatten();
        }
        let p = self.library.get(pack)?;
        let entry = p.public_file(path)?;
        self.library.read_file(entry).ok()
    }

    fn xapi_ref(&self, pack: &str) -> Option<super::xapi::PackRef> {
        self.library.get(pack).map(|p| super::xapi::PackRef {
            version: p.manifest.version,
            kind: p.manifest.meta.kind.clone(),
            source_url: p.manifest.meta.source_url.clone(),
        })
    }

    fn install_from_folder(&self, folder: &Path, trust_publisher: Option<&str>) -> Result<String, InstallError> {
        let failed = |e: &dyn std::fmt::Display| InstallError::Failed(e.to_string());
        let keys = self
            .trusted_keys
            .iter()
            .map(|k| preau_pack::PublicKey::from_hex(k))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(&e))?;
        if let Some(hex) = trust_publisher {
            let key = preau_pack::PublicKey::from_hex(hex).map_err(|e| failed(&e))?;
            let publisher = preau_sync::folder_publisher(folder).map_err(|e| failed(&e))?;
            if !publisher.contains(&key) {
                return Err(InstallError::Failed(format!("{hex} is not the key that publishes {}", folder.display())));
            }
            preau_sync::trust_publisher(&self.data_dir, &key).map_err(|e| failed(&e))?;
        }
        // The teacher's explicit "add": packs removed earlier come back.
        let summary = match preau_sync::add_from_folder(folder, &self.data_dir, &keys) {
            Ok(s) => s,
            Err(e) => {
                // A repository signed by someone the box has never trusted: the teacher
                // decides (it is their classroom), with the key's fingerprint in front.
                if trust_publisher.is_none()
                    && let Ok(publisher) = preau_sync::folder_publisher(folder)
                    && let Some(first) = publisher.first()
                    && !preau_sync::knows_publisher(&self.data_dir, &keys, &publisher)
                {
                    return Err(InstallError::UnknownPublisher { key: first.to_hex(), detail: e.to_string() });
                }
                return Err(failed(&e));
            }
        };
        self.library.reload().map_err(|e| InstallError::Failed(format!("{e:#}")))?;
        let installed: Vec<String> = summary.installed.iter().map(|(id, v)| format!("{id} (v{v})")).collect();
        Ok(format!(
            "Installés / installed: {}. Déjà à jour / up to date: {}.",
            if installed.is_empty() { "—".into() } else { installed.join(", ") },
            if summary.up_to_date.is_empty() { "—".into() } else { summary.up_to_date.join(", ") }
        ))
    }

    fn remove(&self, pack: &str) -> Result<String, String> {
        // Through preau-sync, the one writer of installed packs (its lock, its switch).
        let s = preau_sync::remove_packs(&self.data_dir, &[pack.to_string()]).map_err(|e| e.to_string())?;
        self.library.reload().map_err(|e| format!("{e:#}"))?;
        Ok(format!("{} Mo libérés / MB freed.", s.gc_bytes.div_ceil(1_000_000)))
    }
}
