//! What the classroom application needs from the rest of the box: the one context it
//! runs on ([`AppEnv`]) and the small [`PackSource`] trait it reads packs through.
//!
//! The box implements `PackSource` over its installed pack library (`preau_box::wiring`);
//! tests give it packs in memory (`testkit::MemPacks`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
    fn xapi_ref(&self, _pack: &str) -> Option<crate::xapi::PackRef> {
        None
    }
    /// Whether the pack has this public file (progress is recorded only for real pages).
    /// The default reads it; sources with an index answer without reading.
    fn has_file(&self, pack: &str, path: &str) -> bool {
        self.read(pack, path).is_some()
    }
    /// Installs the packs of a repository folder (a USB stick) through the one verified
    /// apply step of `preau-sync`. `trust_publisher` is a publisher key (hex) the teacher
    /// chose to trust for this folder. Returns a summary for the teacher.
    fn install_from_folder(&self, folder: &Path, trust_publisher: Option<&str>) -> Result<String, InstallError>;
    /// Removes an installed pack and frees its disk space. Returns a summary for the teacher.
    fn remove(&self, pack: &str) -> Result<String, String>;
    /// Imports a raw source file (a Moodle `.mbz`, GIFT, Moodle XML, a tar of a site…,
    /// recognised by its content) as a pack signed by the box's own local publisher
    /// key, and installs it through the same verified apply step. Blocking (run it off
    /// the async workers).
    fn import_file(&self, file: &Path) -> Result<ImportSummary, InstallError>;
    /// Writes this box's want-list ([`WANTS_FILE`]: what it holds) into `folder` (a USB
    /// stick), durably. `room` is called first with the bytes it needs and stops the
    /// write with its error (a stick too small). Returns a summary for the teacher.
    fn write_wants(&self, folder: &Path, room: &dyn Fn(u64) -> Result<(), String>) -> Result<String, StickError>;
    /// Fills `folder`, which holds another box's [`WANTS_FILE`], with the repository
    /// subset that box lacks: from this box's own packs, else from its `[sync]
    /// repository`. `room` is called first with the bytes it needs, as above. Blocking.
    fn fill_stick(&self, folder: &Path, room: &dyn Fn(u64) -> Result<(), String>) -> Result<String, StickError>;
}

/// The want-list's name on a stick: a box writes it, another fills the same folder.
pub const WANTS_FILE: &str = "preau-wants.json";

/// Why a stick could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickError {
    /// `room` refused: the stick has less free space than the step needs.
    TooSmall(String),
    Failed(String),
}

impl std::fmt::Display for StickError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StickError::TooSmall(s) | StickError::Failed(s) => f.write_str(s),
        }
    }
}

/// What the import of a raw source file did, for the teacher's report page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub pack: String,
    pub title: String,
    pub version: u64,
    /// The importer's report (French): what was imported, degraded or left out, and why.
    pub report: String,
    /// A MkDocs project (`mkdocs.yml`) without a built site: shown as the internal
    /// rendering; the teacher is told where to get the real site.
    pub mkdocs_unbuilt: bool,
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
    /// Signed metadata older than what the box holds: a replayed catalog of the same
    /// repository, or an older version of an installed pack (`what`: the pack's id, or
    /// `None` for the catalog).
    Rollback {
        what: Option<String>,
        offered: u64,
        installed: u64,
    },
    Failed(String),
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::UnknownPublisher { detail, .. } | InstallError::Failed(detail) => f.write_str(detail),
            InstallError::Rollback { what: None, offered, installed } => write!(
                f,
                "Refusé : ce catalogue (version {offered}) est plus ancien que la version {installed} déjà vue de ce dépôt. C'est une ancienne copie (ou une tentative de remettre une version dépassée) : utilisez la clé la plus récente."
            ),
            InstallError::Rollback { what: Some(pack), offered, installed } => write!(
                f,
                "Refusé : le contenu « {pack} » est proposé en version {offered}, plus ancienne que la version {installed} déjà installée. Une version dépassée ne remplace jamais une version plus récente."
            ),
        }
    }
}

/// What the application runs on: built by the box's wiring at start, or by hand in tests.
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
    /// Full-text search over the installed packs (`preau-search`), when the box has
    /// its index; `/search` and `/api/search` answer 503 without it.
    pub search: Option<Arc<preau_search::Search>>,
    /// The error of a refused `preau.toml` (the box then runs on its last good settings or
    /// the defaults): shown to teachers on the home and admin pages.
    pub config_problem: Option<ConfigNotice>,
    /// The box's own Wi-Fi network, `(ssid, passphrase)`, when it is a hotspot: the
    /// admin page shows the teacher what pupils' tablets join (on an image the
    /// passphrase may be the one the box made at first boot).
    pub hotspot: Option<(String, String)>,
}

/// A refused `preau.toml`, in both languages (file, line, key, problem, what the box did).
#[derive(Debug, Clone)]
pub struct ConfigNotice {
    pub fr: String,
    pub en: String,
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
