//! The box's side of full-text search: `preau-search`'s view of the installed packs
//! ([`LibraryPacks`]), and [`start`], which opens the index in `DATA/search/`, ties it
//! to the library's reload (the switch every install, update and removal goes through)
//! and starts the low-priority indexer.

use std::path::Path;
use std::sync::Arc;

use preau_search::{PackContent, PackFile, Packs, Search};

use crate::packs::Library;

/// The index folder inside the data folder (derived data: removable at any time).
pub const SEARCH_DIR: &str = "search";

/// The installed packs as the search reads them.
pub struct LibraryPacks(pub Arc<Library>);

impl Packs for LibraryPacks {
    fn installed(&self) -> Vec<PackContent> {
        self.0
            .list()
            .iter()
            .map(|p| {
                let meta = &p.manifest.meta;
                PackContent {
                    id: p.id.clone(),
                    stamp: p.manifest_hash.to_hex(),
                    title: if meta.title.is_empty() { p.id.clone() } else { meta.title.clone() },
                    entry: meta.entry.clone(),
                    files: p
                        .manifest
                        .files
                        .iter()
                        .map(|f| PackFile { path: f.path.clone(), size: f.size, hash: f.hash.to_hex() })
                        .collect(),
                }
            })
            .collect()
    }

    fn current(&self, id: &str) -> Option<(String, String)> {
        self.0.get(id).map(|p| {
            let title = if p.manifest.meta.title.is_empty() { p.id.clone() } else { p.manifest.meta.title.clone() };
            (title, p.manifest_hash.to_hex())
        })
    }

    fn file_hash(&self, id: &str, path: &str) -> Option<String> {
        self.0.get(id)?.manifest.file(path).map(|f| f.hash.to_hex())
    }

    fn read(&self, id: &str, path: &str) -> Option<Vec<u8>> {
        let pack = self.0.get(id)?;
        let entry = pack.manifest.file(path)?;
        self.0.read_file(entry).ok()
    }

    fn read_head(&self, id: &str, path: &str, max: usize) -> Option<Vec<u8>> {
        let pack = self.0.get(id)?;
        let entry = pack.manifest.file(path)?;
        // Only the chunks that hold the start are read and decompressed.
        self.0.read_range(entry, 0, entry.size.min(max as u64)).ok()
    }
}

/// Opens the search index of `data_dir` over `library`, follows its reloads, and starts
/// the indexer (which first builds whatever the index lacks: a first start, a cut during
/// a build). `None` (logged) when the index cannot be opened: the box serves without
/// search.
pub fn start(data_dir: &Path, library: Arc<Library>) -> Option<Arc<Search>> {
    let search = match Search::open(&data_dir.join(SEARCH_DIR), Arc::new(LibraryPacks(library.clone()))) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("search disabled: cannot open its index: {e:#}");
            return None;
        }
    };
    let weak = Arc::downgrade(&search);
    library.on_reload(move || {
        if let Some(s) = weak.upgrade() {
            s.changed();
        }
    });
    if let Err(e) = search.spawn_indexer() {
        tracing::error!("search disabled: cannot start its indexer: {e}");
        return None;
    }
    Some(search)
}
