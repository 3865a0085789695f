//! The binary's wiring: the box's HTTP core and the classroom application joined. This
//! module and `cli::serve` are the only parts of the box that import `preau_classroom`;
//! the core (`server`, `packs`) never does.
//!
//! The application reads packs through its own [`PackSource`] trait, implemented here
//! over the core's [`Library`] ([`LibraryPacks`]); it gets one context ([`AppEnv`]),
//! built by [`classroom_env`]; [`router`] builds it and hands its routes to the core's
//! one router builder, and its progress hook to the pack file server.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use preau_classroom::{AppEnv, ImportSummary, InstallError, PackInfo, PackRef, PackSource};

use crate::config::Config;
use crate::packs::Library;
use crate::packs::serve::Serving;
use crate::server::routes;

/// The classroom application's context: the box's data folder, its id, the school's
/// name and setup code from the config, the installed packs and the sync's status.
pub fn classroom_env(
    data_dir: &Path,
    config: &Config,
    box_id: &str,
    packs: Arc<Library>,
    sync_status: Option<Arc<Mutex<preau_sync::auto::AutoStatus>>>,
) -> AppEnv {
    AppEnv {
        data_dir: data_dir.to_path_buf(),
        box_id: box_id.to_string(),
        school: config.box_.school.clone().unwrap_or_default(),
        setup_code: config.box_.setup_code.clone(),
        packs: Arc::new(LibraryPacks {
            library: packs,
            data_dir: data_dir.to_path_buf(),
            trusted_keys: config.sync.trusted_keys.clone(),
        }),
        sync_status,
        // `preau serve` fills it from `[upstream]` (`cli::upstream::upstream_info`).
        upstream: None,
    }
}

/// The box's whole router: the classroom application over `env` merged with the core's
/// routes around `serving`. The application records the pack pages a pupil opens
/// (progress) through `serving.on_open`; the returned `Serving` is the one the accept
/// loop must answer pack files with.
pub fn router(env: AppEnv, mut serving: Serving) -> (Router, Arc<Serving>) {
    let (app, hook) = preau_classroom::router(env);
    if let Some(hook) = hook {
        serving.on_open =
            Some(Arc::new(move |h: &http::HeaderMap, id: &str, path: &str| hook.record_open(h, id, path)));
    }
    let serving = Arc::new(serving);
    (routes::router(serving.clone(), app), serving)
}

/// The installed packs of the box (`DATA/repo/`), through the HTTP core's library.
pub struct LibraryPacks {
    library: Arc<Library>,
    data_dir: PathBuf,
    /// Root keys a box that trusts none yet accepts (`[sync] trusted_keys`).
    trusted_keys: Vec<String>,
}

impl PackSource for LibraryPacks {
    fn xapi_ref(&self, pack: &str) -> Option<PackRef> {
        self.library.get(pack).map(|p| PackRef {
            version: p.manifest.version,
            kind: p.manifest.meta.kind.clone(),
            source_url: p.manifest.meta.source_url.clone(),
            source_id: p.manifest.meta.source_id.clone(),
        })
    }

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

    fn has_file(&self, pack: &str, path: &str) -> bool {
        self.library.get(pack).is_some_and(|p| p.public_file(path).is_some())
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
            Err(e @ preau_sync::Error::Rollback { .. }) => return Err(install_error(e)),
            Err(e) => {
                // A repository signed by someone the box has never trusted: the teacher
                // decides (it is their classroom), with the key's fingerprint in front.
                if let preau_sync::Error::UnknownPublisher { key, .. } = &e
                    && trust_publisher.is_none()
                {
                    return Err(InstallError::UnknownPublisher { key: key.to_hex(), detail: e.to_string() });
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

    fn import_file(&self, file: &Path) -> Result<ImportSummary, InstallError> {
        let failed = |e: &dyn std::fmt::Display| InstallError::Failed(e.to_string());
        // The same importers as `preau pack build`, the kind found from the bytes.
        let imported = preau_import::import(file, &preau_import::ImportOptions::default())
            .map_err(|e| InstallError::Failed(format!("Import impossible : {e}")))?;
        let mut tree = imported.tree;
        let mut report = imported.report;
        // The same offline pass as `preau pack build`, without downloads: an uploaded
        // course loads nothing from outside the box either.
        let libs = self.library.get(preau_offline::libs::LIBS_PACK_ID).map(|p| {
            let library = self.library.clone();
            let read: preau_offline::libs::ReadFile<'_> =
                Box::new(move |f| library.read_file(f).map_err(|e| format!("{} : {e:#}", f.path)));
            (p.manifest.files.clone(), read)
        });
        preau_offline::prepare_on_box(&mut tree, &mut report, libs)
            .map_err(|e| InstallError::Failed(format!("Import impossible : {e}")))?;
        // From the report, which says which path the site importer took: the tree of an
        // internally rendered git source no longer holds `mkdocs.yml`.
        let mkdocs_unbuilt = report.site.as_ref().is_some_and(|s| s.project == "mkdocs" && s.path == "internal");
        if tree.meta.title.is_empty() {
            tree.meta.title = tree.meta.id.clone();
        }
        let (id, title) = (tree.meta.id.clone(), tree.meta.title.clone());
        // Built into the box's own publishing repository (`DATA/local/`), signed with
        // its local key, then installed like any USB stick: preau-sync stays the one
        // writer of `DATA/repo/`.
        let key = crate::identity::publisher_key(&self.data_dir).map_err(|e| failed(&format!("{e:#}")))?;
        let local = self.data_dir.join(LOCAL_REPOSITORY);
        // Level 9: most of level 19's ratio at a fraction of its time on a Pi.
        let opts = preau_pack::build::BuildOptions { level: 9, ..Default::default() };
        let built = preau_pack::build::build(&local, tree, &key, &opts, &mut |_, _| {}).map_err(|e| failed(&e))?;
        preau_sync::trust_publisher(&self.data_dir, &key.public()).map_err(|e| failed(&e))?;
        preau_sync::install_from_folder(&local, &self.data_dir, &[key.public()], Some(std::slice::from_ref(&id)))
            .map_err(install_error)?;
        self.library.reload().map_err(|e| InstallError::Failed(format!("{e:#}")))?;
        Ok(ImportSummary { pack: id, title, version: built.version, report: report.to_string(), mkdocs_unbuilt })
    }

    fn remove(&self, pack: &str) -> Result<String, String> {
        // Through preau-sync, the one writer of installed packs (its lock, its switch).
        let s = preau_sync::remove_packs(&self.data_dir, &[pack.to_string()]).map_err(|e| e.to_string())?;
        self.library.reload().map_err(|e| format!("{e:#}"))?;
        Ok(format!("{} Mo libérés / MB freed.", s.gc_bytes.div_ceil(1_000_000)))
    }
}

/// The box's own publishing repository: courses a teacher imported, signed with the
/// local publisher key (`identity::publisher_key`), installed from there.
pub const LOCAL_REPOSITORY: &str = "local";

/// A sync error as the teacher's page shows it (a rollback has French words of its own).
fn install_error(e: preau_sync::Error) -> InstallError {
    match e {
        preau_sync::Error::Rollback { what, offered, installed, .. } => {
            InstallError::Rollback { what: what.strip_prefix("pack ").map(str::to_string), offered, installed }
        }
        e => InstallError::Failed(e.to_string()),
    }
}
