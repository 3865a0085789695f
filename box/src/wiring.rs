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
use preau_classroom::{AppEnv, ImportSummary, InstallError, PackInfo, PackRef, PackSource, StickError, WANTS_FILE};
use preau_sync::mule::{self, Wants};
use preau_sync::source::{self, FolderSource, HttpOptions, Source};

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
            repository: config.sync.repository.clone(),
        }),
        sync_status,
        // `preau serve` fills it from `[upstream]` (`cli::upstream::upstream_info`).
        upstream: None,
        // `preau serve` fills it once the index is open (`search::start`).
        search: None,
        // `preau serve` fills it when preau.toml was refused (`settings`).
        config_problem: None,
        hotspot: match (&config.wifi.mode, &config.wifi.ssid, &config.wifi.passphrase) {
            (Some(preau_config::WifiMode::Ethernet), _, _) => None,
            (_, Some(ssid), Some(pass)) => Some((ssid.clone(), pass.clone())),
            _ => None,
        },
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
    /// `[sync] repository`: where a stick for another box is filled from when this
    /// box's own packs do not cover its want-list.
    repository: Option<String>,
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
            // The box's own software (a system pack) is not a pupil's content.
            .filter(|p| p.manifest.meta.kind != crate::system::KIND)
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
        let installed = if installed.is_empty() { "—".into() } else { installed.join(", ") };
        let up_to_date = if summary.up_to_date.is_empty() { "—".into() } else { summary.up_to_date.join(", ") };
        // "French / English": the page shows the half in its language (`html::half`).
        Ok(format!(
            "Installés : {installed}. Déjà à jour : {up_to_date}. / Installed: {installed}. Up to date: {up_to_date}."
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
        // Ids come from titles: a second course named like an installed one gets its own
        // id instead of replacing it; the same course imported again updates it.
        tree.meta.id = free_id(&tree.meta, |id| self.library.get(id).map(|p| p.manifest.meta.clone()));
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

    fn write_wants(&self, folder: &Path, room: &dyn Fn(u64) -> Result<(), String>) -> Result<String, StickError> {
        let folder = stick_folder(folder, &self.data_dir)?;
        let wants = Wants::of_box(&self.data_dir).map_err(|e| StickError::Failed(e.to_string()))?;
        let bytes = wants.to_bytes();
        room(mule::on_disk(bytes.len() as u64)).map_err(StickError::TooSmall)?;
        let path = folder.join(WANTS_FILE);
        // Temp file, fsync, rename, fsync of the folder: a stick pulled out early holds
        // the old list or the new one, never half of one.
        preau_pack::fsutil::atomic_write(&path, &bytes).map_err(|e| StickError::Failed(e.to_string()))?;
        tracing::info!(path = %path.display(), packs = wants.packs.len(), "want-list written to a stick");
        Ok(format!(
            "Liste des besoins écrite dans {} ({} contenu(s) installé(s), {} octets). / Want-list written to {} ({} installed pack(s), {} bytes).",
            path.display(),
            wants.packs.len(),
            bytes.len(),
            path.display(),
            wants.packs.len(),
            bytes.len()
        ))
    }

    fn fill_stick(&self, folder: &Path, room: &dyn Fn(u64) -> Result<(), String>) -> Result<String, StickError> {
        let failed = |e: &dyn std::fmt::Display| StickError::Failed(e.to_string());
        let folder = stick_folder(folder, &self.data_dir)?;
        let wants_path = folder.join(WANTS_FILE);
        let len = std::fs::metadata(&wants_path)
            .map_err(|_| {
                StickError::Failed(format!("Pas de {WANTS_FILE} dans ce dossier. / No {WANTS_FILE} in this folder."))
            })?
            .len();
        // `Wants::parse` bounds it too, but only once read.
        if len > 4 * 1024 * 1024 {
            return Err(StickError::Failed(format!("{WANTS_FILE}: {len} bytes, more than 4 MiB")));
        }
        let wants = Wants::parse(&std::fs::read(&wants_path).map_err(|e| failed(&e))?).map_err(|e| failed(&e))?;
        // This box's own packs first (no network); the national repository only when
        // they do not cover the list (a pack this box does not hold) or have nothing
        // the other box lacks.
        let local = FolderSource::new(&self.data_dir.join("repo"))
            .map_err(|e| e.to_string())
            .and_then(|s| mule::export_needs(&s, Some(&wants)).map(|n| (s, n)).map_err(|e| e.to_string()));
        let (src, need): (Box<dyn Source>, mule::ExportNeeds) = match (local, &self.repository) {
            (Ok((s, n)), _) if !n.packs.is_empty() => (Box::new(s), n),
            (Ok(_), None) => {
                return Err(StickError::Failed(
                    "Rien à écrire : l'autre boîte a déjà tous les contenus de celle-ci. / Nothing to write: the other box already has all of this box's content.".into(),
                ));
            }
            (Err(e), None) => {
                return Err(StickError::Failed(format!(
                    "Cette boîte n'a pas tout ce que la liste demande, et aucun dépôt national n'est configuré (repository dans la section [sync] de preau.toml). / This box lacks what the list asks for and has no [sync] repository: {e}"
                )));
            }
            (local, Some(url)) => {
                let why = local.err().unwrap_or_else(|| "nothing new here".into());
                tracing::info!(reason = %why, "this box's packs do not cover the want-list: filling from {url}");
                // A teacher waits at the page: fewer retries than the background sync
                // before saying the repository is unreachable.
                let opts = HttpOptions { max_retries: 4, ..HttpOptions::default() };
                let s = source::open(url, opts).map_err(|e| failed(&e))?;
                let n = mule::export_needs(s.as_ref(), Some(&wants)).map_err(|e| {
                    StickError::Failed(format!(
                        "Dépôt national injoignable ou incomplet. / National repository unreachable or incomplete: {e}"
                    ))
                })?;
                (s, n)
            }
        };
        room(need.bytes).map_err(StickError::TooSmall)?;
        let s = mule::export(src.as_ref(), Some(&wants), &folder, 4).map_err(|e| failed(&e))?;
        tracing::info!(folder = %folder.display(), packs = s.packs.len(), bytes = s.bytes_written, from = %src.describe(), "stick filled for another box");
        let packs = if s.packs.is_empty() { "—".to_string() } else { s.packs.join(", ") };
        Ok(format!(
            "Clé remplie depuis {} : {packs} ({} objets, {} octets écrits). Branchez-la sur l'autre boîte et utilisez « Ajouter depuis une clé USB ». / Stick filled from {}: {packs} ({} objects, {} bytes written). Plug it into the other box and use \"Add from a USB stick\".",
            src.describe(),
            s.objects,
            s.bytes_written,
            src.describe(),
            s.objects,
            s.bytes_written
        ))
    }

    fn remove(&self, pack: &str) -> Result<String, String> {
        // Through preau-sync, the one writer of installed packs (its lock, its switch).
        let s = preau_sync::remove_packs(&self.data_dir, &[pack.to_string()]).map_err(|e| e.to_string())?;
        self.library.reload().map_err(|e| format!("{e:#}"))?;
        // A course the teacher imported also sits in the box's own publishing repository:
        // out of its catalog, and its objects deleted, or « Retirer » would free nothing.
        let mut freed = s.gc_bytes;
        let local = self.data_dir.join(LOCAL_REPOSITORY);
        if local.join(preau_pack::repo::CATALOG_FILE).is_file() {
            let key = crate::identity::publisher_key(&self.data_dir).map_err(|e| format!("{e:#}"))?;
            match preau_pack::unpublish::unpublish(&local, &[pack.to_string()], &key) {
                Ok(u) => freed += u.bytes,
                // The pack is removed for pupils already; the space comes back at the next removal.
                Err(e) => tracing::warn!(pack, error = %e, "removing the pack from the box's own repository"),
            }
        }
        let (fr, en) = (preau_classroom::html::Lang::Fr, preau_classroom::html::Lang::En);
        Ok(format!("{} libérés. / {} freed.", fr.size(freed), en.size(freed)))
    }
}

/// The box's own publishing repository: courses a teacher imported, signed with the
/// local publisher key (`identity::publisher_key`), installed from there.
pub const LOCAL_REPOSITORY: &str = "local";

/// A stick folder the teacher named: an existing folder, outside the box's data folder
/// (filling "a stick" there would overwrite the box's own repository).
fn stick_folder(folder: &Path, data_dir: &Path) -> Result<PathBuf, StickError> {
    let bad = |fr: &str, en: &str| StickError::Failed(format!("{fr} / {en}: {}", folder.display()));
    if !folder.is_absolute() {
        return Err(bad("Chemin non absolu", "Not an absolute path"));
    }
    let real = folder.canonicalize().map_err(|_| bad("Dossier introuvable", "No such folder"))?;
    if !real.is_dir() {
        return Err(bad("Pas un dossier", "Not a folder"));
    }
    if data_dir.canonicalize().is_ok_and(|d| real.starts_with(&d) || d.starts_with(&real)) {
        return Err(bad("Ce dossier est celui de la boîte, pas une clé", "This folder is the box's own, not a stick"));
    }
    Ok(real)
}

/// The id a teacher's import is installed under: its own (from its title) unless an
/// installed pack of another source has it, then `-2`, `-3`… The same source is a pack
/// with the same address and id in its source (a Moodle backup's site and course id), or,
/// when neither names one, the same title and kind: importing it again updates it.
fn free_id(
    meta: &preau_pack::manifest::PackMeta,
    installed: impl Fn(&str) -> Option<preau_pack::manifest::PackMeta>,
) -> String {
    let same_source = |o: &preau_pack::manifest::PackMeta| {
        let named = |m: &preau_pack::manifest::PackMeta| !m.source_url.is_empty() || !m.source_id.is_empty();
        if named(meta) || named(o) {
            o.source_url == meta.source_url && o.source_id == meta.source_id && o.kind == meta.kind
        } else {
            o.title == meta.title && o.kind == meta.kind
        }
    };
    let base = meta.id.as_str();
    for n in 1..1000u32 {
        let id = if n == 1 { base.to_string() } else { with_suffix(base, n) };
        // The shared libraries pack's id is never a course's.
        if id == preau_offline::libs::LIBS_PACK_ID {
            continue;
        }
        match installed(&id) {
            None => return id,
            Some(o) if same_source(&o) => return id,
            Some(_) => {}
        }
    }
    with_suffix(base, preau_pack::meta::now_unix())
}

/// `base-n`, within the id length limit (ids are ASCII).
fn with_suffix(base: &str, n: impl std::fmt::Display) -> String {
    let suffix = format!("-{n}");
    let keep = preau_pack::limits::MAX_ID_BYTES.saturating_sub(suffix.len()).min(base.len());
    format!("{}{suffix}", base[..keep].trim_end_matches('-'))
}

/// A sync error as the teacher's page shows it (a rollback has French words of its own).
fn install_error(e: preau_sync::Error) -> InstallError {
    match e {
        preau_sync::Error::Rollback { what, offered, installed, .. } => {
            InstallError::Rollback { what: what.strip_prefix("pack ").map(str::to_string), offered, installed }
        }
        e => InstallError::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use preau_pack::manifest::PackMeta;

    fn meta(id: &str, title: &str, url: &str, course: &str) -> PackMeta {
        PackMeta {
            id: id.into(),
            title: title.into(),
            kind: "moodle".into(),
            source_url: url.into(),
            source_id: course.into(),
            ..Default::default()
        }
    }

    #[test]
    fn same_titles_get_their_own_ids_and_the_same_course_updates() {
        let installed = [
            meta("mathematiques", "Mathématiques", "https://elea.example/a", "12"),
            meta("mathematiques-2", "Mathématiques", "https://elea.example/b", "7"),
        ];
        let find = |id: &str| installed.iter().find(|m| m.id == id).cloned();
        let other = meta("mathematiques", "Mathématiques", "https://elea.example/c", "3");
        assert_eq!(free_id(&other, find), "mathematiques-3");
        let again = meta("mathematiques", "Mathématiques", "https://elea.example/b", "7");
        assert_eq!(free_id(&again, find), "mathematiques-2");
        let first = meta("mathematiques", "Mathématiques", "https://elea.example/a", "12");
        assert_eq!(free_id(&first, find), "mathematiques");
        // Sources that name nothing (a GIFT file): the same title and kind are the same.
        let gift = PackMeta { id: "quiz".into(), title: "Quiz".into(), kind: "gift".into(), ..Default::default() };
        let find = |id: &str| (id == "quiz").then(|| gift.clone());
        assert_eq!(free_id(&gift, find), "quiz");
        let other = PackMeta { title: "Autre".into(), ..gift.clone() };
        assert_eq!(free_id(&other, find), "quiz-2");
        // A long id keeps within the limit with its suffix.
        let long = PackMeta { id: "a".repeat(64), title: "Long".into(), ..Default::default() };
        let find = |id: &str| (id == "a".repeat(64)).then(|| gift.clone());
        let id = free_id(&long, find);
        assert_eq!(id, format!("{}-2", "a".repeat(62)));
    }
}
