//! The one step that installs packs on a box from a repository folder: the teacher's
//! "add from USB" button, the demo pack and the preload at first start. It is a pull
//! from a [`FolderSource`]: the same verification, the same atomic switch.

use std::path::Path;

use preau_pack::PublicKey;
use preau_pack::limits::MAX_ROOT_BYTES;
use preau_pack::repo::{self, ROOTS_DIR};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::pull::{PullOptions, pull};
use crate::source::FolderSource;
use crate::trust::TrustState;

/// The keys that signed version 1 of the root of the repository folder `src`: who
/// published it. Only its self-signature is checked here; whether to trust it is the
/// caller's decision (a teacher's, on the admin page).
pub fn folder_publisher(src: &Path) -> Result<Vec<PublicKey>> {
    let path = src.join(ROOTS_DIR).join("1.json");
    let root = repo::parse_root(&repo::read_bounded(&path, MAX_ROOT_BYTES)?)?;
    Ok(root.roles.root.keys.iter().map(|k| PublicKey::from_hex(k)).collect::<preau_pack::Result<_>>()?)
}

/// Remembers that a teacher trusts the publisher `key`: every later pull accepts its
/// root chain (see [`TrustState::publishers`]).
pub fn trust_publisher(data_dir: &Path, key: &PublicKey) -> Result<()> {
    let mut state = TrustState::load(data_dir)?;
    let hex = key.to_hex();
    if !state.publishers.contains(&hex) {
        if state.publishers.len() >= 32 {
            return Err(Error::Other("this box already trusts 32 publishers; no more can be added".into()));
        }
        state.publishers.push(hex);
        state.save(data_dir)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InstallSummary {
    /// (pack id, version) newly installed or updated.
    pub installed: Vec<(String, u64)>,
    /// Packs already at the catalog's version.
    pub up_to_date: Vec<String>,
    pub objects_copied: u64,
    pub bytes_copied: u64,
}

/// Installs (or updates) packs from the repository folder `src` into the box data folder
/// `data_dir` (`data_dir/repo`). `trusted` are root keys accepted when the box trusts none
/// yet; `only` limits the packs installed. Fails if a requested pack cannot be completed.
/// Packs a teacher removed stay removed (see [`add_from_folder`]).
pub fn install_from_folder(
    src: &Path,
    data_dir: &Path,
    trusted: &[PublicKey],
    only: Option<&[String]>,
) -> Result<InstallSummary> {
    install(src, data_dir, trusted, only, false)
}

/// The teacher adding a folder: like [`install_from_folder`] for every pack of the
/// folder, and packs the teacher removed earlier come back.
pub fn add_from_folder(src: &Path, data_dir: &Path, trusted: &[PublicKey]) -> Result<InstallSummary> {
    install(src, data_dir, trusted, None, true)
}

fn install(
    src: &Path,
    data_dir: &Path,
    trusted: &[PublicKey],
    only: Option<&[String]>,
    revive_removed: bool,
) -> Result<InstallSummary> {
    let source = FolderSource::new(src)?;
    let opts = PullOptions {
        trusted: trusted.to_vec(),
        packs: only.map(<[String]>::to_vec),
        revive_removed,
        ..Default::default()
    };
    let s = pull(&source, data_dir, &opts)?;
    if let Some((id, why)) = s.incomplete.first() {
        // An older version of an installed pack: its own error, so that a teacher's page
        // can say it in French. The catalog was verified by the pull.
        let installed = preau_pack::installed::Installed::load(&data_dir.join("repo"))?;
        let offered = repo::read_bounded(&src.join(repo::CATALOG_FILE), preau_pack::limits::MAX_CATALOG_BYTES)
            .ok()
            .and_then(|b| {
                let mut c = preau_pack::sign::Envelope::parse(&b, "catalog")
                    .ok()?
                    .payload::<preau_pack::meta::Catalog>("catalog")
                    .ok()?;
                // Its nodes are checked by hash against the top the pull verified.
                let folder = preau_pack::Repo::open(src).ok()?;
                let wanted = [id.clone()];
                preau_pack::catalog_tree::resolve(&mut c, Some(&wanted), &|hs| folder.read_nodes(hs)).ok()?;
                Some(c)
            })
            .and_then(|c| c.packs.get(id).map(|e| e.version));
        if let (Some(have), Some(offered)) = (installed.packs.get(id).map(|p| p.version), offered)
            && offered < have
        {
            return Err(Error::Rollback {
                what: format!("pack {id}"),
                from: src.display().to_string(),
                offered,
                installed: have,
            });
        }
        return Err(Error::Other(format!("pack {id} could not be installed from {}: {why}", src.display())));
    }
    Ok(InstallSummary {
        installed: s.updated.iter().map(|u| (u.id.clone(), u.version)).collect(),
        up_to_date: s.up_to_date,
        objects_copied: s.objects,
        bytes_copied: s.bytes_downloaded,
    })
}
