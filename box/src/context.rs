//! What every HTTP handler can reach: the seam between the server (issue 4, HTTP core)
//! and the classroom application (`crate::app`).
//!
//! The server builds one `AppContext` at start and hands a clone to `app::router`. The
//! app may add fields (its SQLite pool, its templates); the server's fields stay.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::packs::Library;
use crate::server::Metrics;

#[derive(Clone)]
pub struct AppContext {
    /// The box's data folder (`--data`): `repo/`, `identity/`, `preau.sqlite`.
    pub data_dir: PathBuf,
    pub config: Arc<Config>,
    /// 32 hex digits, made at first start (see `identity`).
    pub box_id: String,
    /// The installed packs: list them, read their files and their private `_preau/` data.
    /// Call `packs.reload()` after anything installed or removed a pack.
    pub packs: Arc<Library>,
    pub metrics: Arc<Metrics>,
    /// What the background sync is doing, when `[sync] repository` is set (the admin
    /// page shows it). `None` when the box does not sync by itself.
    pub sync_status: Option<Arc<Mutex<preau_sync::auto::AutoStatus>>>,
}
