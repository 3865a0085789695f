//! What the classroom application needs from the rest of the box.
//!
//! TEMPORARY: the HTTP core (`box/src/context.rs`) will own `AppContext` with the pack
//! library; until it is merged, the application defines the small part it uses here, and
//! reads packs through the [`PackSource`] trait so that tests can give it packs in memory.

use std::path::PathBuf;
use std::sync::Arc;

/// An installed pack, as the catalog page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct PackInfo {
    pub id: String,
    pub title: String,
    pub subject: String,
    pub level: String,
    /// The page to open first, relative to the pack (`index.html`).
    pub entry: String,
    /// Bytes the pack takes on disk, when known.
    pub size: u64,
}

/// Read access to the installed packs, including the private `_preau/…` files that
/// the pack file server never serves.
pub trait PackSource: Send + Sync {
    fn list(&self) -> Vec<PackInfo>;
    /// The bytes of one file of the pack, `None` if the pack or the file is missing.
    fn read(&self, pack: &str, path: &str) -> Option<Vec<u8>>;
    /// Installs the packs of a repository folder (a USB stick) through the one verified
    /// apply step of `preau-sync`. Returns a summary for the teacher.
    fn install_from_folder(&self, folder: &std::path::Path) -> Result<String, String>;
    /// Removes an installed pack.
    fn remove(&self, pack: &str) -> Result<(), String>;
}

#[derive(Clone)]
pub struct AppContext {
    /// The box data folder: the learner records live in `preau.sqlite` there.
    pub data_dir: PathBuf,
    /// The box's pseudonymous id (xAPI actor home page).
    pub box_id: String,
    /// The school's name, shown on pages (`[box] school`).
    pub school: String,
    /// `[box] setup_code` from the config file: also accepted to create the first teacher.
    pub setup_code: Option<String>,
    pub packs: Arc<dyn PackSource>,
}
