//! Offline full-text search over the packs a box has installed, in French.
//!
//! ```text
//! analyzer.rs  the French chain: words, lower case, accents folded, stop words, stemmer
//! extract.rs   visible text of pages (HTML, Markdown), quiz stems, outlines (pure)
//! index.rs     the tantivy index in DATA/search/: schema, open (rebuilt if broken),
//!              one pack's build in one commit with its `done` marker
//! query.rs     a pupil's query (words, "phrases", typos) → tantivy query; its bounds
//! snippet.rs   snippets and highlights, cut from the pack file at query time
//! lib.rs       `Search`: the indexer thread (low priority, bounded memory) and `search`
//! ```
//!
//! The crate reads packs only through [`Packs`] (the box implements it over its
//! installed library); it never writes them. The index is derived data: the packs are
//! the truth, a result is shown only if its pack and file are installed *now*, and the
//! index is brought in step with the installed packs by [`Search::changed`], which the
//! box calls at the same switch that makes an install, update or removal visible.

pub mod analyzer;
pub mod extract;
pub mod index;
pub mod query;
pub mod snippet;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tantivy::collector::TopDocs;
use tantivy::schema::Value;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};

pub use query::QueryError;

use index::{Fields, Kind};

/// Results per query at most (`limit` of the API is clamped to it).
pub const MAX_LIMIT: usize = 50;
/// Results per query when none is asked.
pub const DEFAULT_LIMIT: usize = 20;

/// What the search reads of the box's installed packs.
pub trait Packs: Send + Sync {
    /// Every installed pack, with its files (public and `_preau/`).
    fn installed(&self) -> Vec<PackContent>;
    /// The installed pack `id` now: its title and stamp; `None` once removed.
    fn current(&self, id: &str) -> Option<(String, String)>;
    /// Whether the installed pack `id` has the file `path` now.
    fn has(&self, id: &str, path: &str) -> bool;
    /// The bytes of a file of the installed pack (`_preau/` files too). Blocking.
    fn read(&self, id: &str, path: &str) -> Option<Vec<u8>>;
}

/// An installed pack, as the indexer sees it.
#[derive(Debug, Clone)]
pub struct PackContent {
    pub id: String,
    /// Changes whenever the pack's content does (the manifest's hash).
    pub stamp: String,
    pub title: String,
    /// The pack's entry page (a course outline's results link there).
    pub entry: String,
    /// Path and size of every file.
    pub files: Vec<(String, u64)>,
}

/// One query.
pub struct Request<'a> {
    pub q: &'a str,
    /// Only this pack.
    pub pack: Option<&'a str>,
    /// At most this many results (clamped to 1..=MAX_LIMIT).
    pub limit: usize,
    /// Packs the asker may see (`None`: all).
    pub allowed: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
}

/// One result: a page of a pack, its title and snippet as HTML (escaped, `<mark>`ed).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Hit {
    pub pack: String,
    pub pack_title: String,
    /// Under `/packs/{pack}/`.
    pub path: String,
    pub kind: &'static str,
    pub title: String,
    pub title_html: String,
    pub snippet_html: String,
    pub score: f32,
}

/// The indexer's state, for pages and tests.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Status {
    /// No change is waiting to be indexed and no build is running.
    pub ready: bool,
    /// Packs the index holds completely.
    pub packs: usize,
}

/// A round's counts (the benchmark prints them).
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundReport {
    pub built: usize,
    pub removed: usize,
    pub docs: usize,
    pub text_bytes: u64,
}

#[derive(Default)]
struct Wake {
    /// Bumped by every `changed()`; the indexer works until it has seen the last one.
    generation: u64,
    seen: u64,
    running: bool,
    stop: bool,
    packs: usize,
}

pub struct Search {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    packs: Arc<dyn Packs>,
    analyzer: TextAnalyzer,
    wake: Mutex<Wake>,
    cv: Condvar,
}

impl Search {
    /// Opens (or makes) the index in `dir` over `packs`. Nothing is built until
    /// [`Search::spawn_indexer`] or [`Search::build_now`].
    pub fn open(dir: &Path, packs: Arc<dyn Packs>) -> Result<Arc<Search>> {
        let (index, fields) = index::open(dir)?;
        let reader: IndexReader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let count = index::indexed(&reader.searcher(), &fields)?.len();
        // Generation 1, seen 0: the first round, at start, rebuilds whatever a cut left.
        let wake = Wake { generation: 1, packs: count, ..Wake::default() };
        Ok(Arc::new(Search {
            index,
            fields,
            reader,
            packs,
            analyzer: analyzer::french(),
            wake: Mutex::new(wake),
            cv: Condvar::new(),
        }))
    }

    fn wake(&self) -> std::sync::MutexGuard<'_, Wake> {
        self.wake.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The installed packs changed (install, update, removal): the indexer catches up.
    pub fn changed(&self) {
        self.wake().generation += 1;
        self.cv.notify_all();
    }

    pub fn status(&self) -> Status {
        let w = self.wake();
        Status { ready: w.seen == w.generation && !w.running, packs: w.packs }
    }

    /// Starts the indexer: a thread at the lowest CPU priority (`nice` 19, which
    /// tantivy's own indexing and merge threads, started from it, inherit) that builds
    /// whatever the installed packs and the index disagree on, each time they change.
    pub fn spawn_indexer(self: &Arc<Self>) -> std::io::Result<std::thread::JoinHandle<()>> {
        let me = self.clone();
        std::thread::Builder::new().name("preau-search".into()).spawn(move || {
            lower_priority();
            loop {
                {
                    let mut w = me.wake();
                    while w.seen == w.generation && !w.stop {
                        w = me.cv.wait(w).unwrap_or_else(|e| e.into_inner());
                    }
                    if w.stop {
                        return;
                    }
                    w.seen = w.generation;
                    w.running = true;
                }
                let started = Instant::now();
                let result = me.round();
                me.wake().running = false;
                match result {
                    Ok(r) if r.built + r.removed > 0 => tracing::info!(
                        built = r.built,
                        removed = r.removed,
                        docs = r.docs,
                        ms = started.elapsed().as_millis() as u64,
                        "search index in step with the installed packs"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("search index build failed: {e:#}; retrying in 30 s");
                        let w = me.wake();
                        let (mut w, _) =
                            me.cv.wait_timeout(w, Duration::from_secs(30)).unwrap_or_else(|e| e.into_inner());
                        w.seen = w.seen.saturating_sub(1).min(w.generation.saturating_sub(1));
                    }
                }
                me.cv.notify_all();
            }
        })
    }

    /// Stops the indexer after the file it is reading (the pack's commit is dropped).
    pub fn stop(&self) {
        self.wake().stop = true;
        self.cv.notify_all();
    }

    /// Waits until the indexer has caught up with every change so far (tests, tools).
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut w = self.wake();
        while w.seen != w.generation || w.running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            w = self.cv.wait_timeout(w, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// One synchronous round on the calling thread (what the indexer thread runs).
    pub fn build_now(&self) -> Result<RoundReport> {
        self.round()
    }

    fn writer(&self) -> Result<IndexWriter> {
        let options = tantivy::indexer::IndexWriterOptions::builder()
            .num_worker_threads(1)
            .num_merge_threads(1)
            .memory_budget_per_thread(index::WRITER_BUDGET_BYTES)
            .build();
        Ok(self.index.writer_with_options(options)?)
    }

    fn round(&self) -> Result<RoundReport> {
        let installed = self.packs.installed();
        let have: HashMap<String, String> =
            index::indexed(&self.reader.searcher(), &self.fields)?.into_iter().collect();
        let now: HashMap<&str, &str> = installed.iter().map(|p| (p.id.as_str(), p.stamp.as_str())).collect();
        let gone: Vec<&String> = have.keys().filter(|id| !now.contains_key(String::as_str(id))).collect();
        let todo: Vec<&PackContent> =
            installed.iter().filter(|p| have.get(&p.id).is_none_or(|s| *s != p.stamp)).collect();
        let mut report = RoundReport::default();
        if gone.is_empty() && todo.is_empty() {
            return Ok(report);
        }
        // The writer (its arena, its threads) lives for one round only.
        let mut writer = self.writer()?;
        if !gone.is_empty() {
            for id in &gone {
                index::delete_pack(&writer, &self.fields, id);
            }
            writer.commit()?;
            self.reader.reload()?;
            report.removed = gone.len();
        }
        let stop = || self.wake().stop;
        for pack in todo {
            match index::build_pack(&mut writer, &self.fields, self.packs.as_ref(), pack, &stop)? {
                Some(b) => {
                    report.built += 1;
                    report.docs += b.docs;
                    report.text_bytes += b.text_bytes;
                    self.reader.reload()?;
                }
                None => break,
            }
        }
        writer.wait_merging_threads()?;
        self.reader.reload()?;
        self.wake().packs = index::indexed(&self.reader.searcher(), &self.fields)?.len();
        Ok(report)
    }

    /// Runs a query. Results are installed files only (whatever the index still holds),
    /// of packs `allowed`, best first, each with its snippet cut from the file.
    pub fn search(&self, req: &Request<'_>) -> Result<Vec<Hit>, SearchError> {
        let mut analyzer = self.analyzer.clone();
        let parsed = query::parse(&mut analyzer, req.q).map_err(SearchError::Query)?;
        let limit = req.limit.clamp(1, MAX_LIMIT);
        let q = query::build(&parsed, &self.fields, req.pack);
        let searcher = self.reader.searcher();
        // Some hits may be dropped below (removed since, not allowed): ask for more.
        let top = searcher
            .search(&q, &TopDocs::with_limit(limit * 2 + 10).order_by_score())
            .map_err(|e| SearchError::Index(e.to_string()))?;
        let (exact, fuzzy) = parsed.highlight_terms();
        let marker = snippet::Marker { exact: &exact, fuzzy: &fuzzy };
        let mut hits = Vec::new();
        let mut seen = HashSet::new();
        let mut titles: HashMap<String, Option<String>> = HashMap::new();
        for (score, addr) in top {
            if hits.len() >= limit {
                break;
            }
            let doc: TantivyDocument = searcher.doc(addr).map_err(|e| SearchError::Index(e.to_string()))?;
            let get = |f| doc.get_first(f).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let (pack, path, src) = (get(self.fields.pack), get(self.fields.path), get(self.fields.src));
            let Some(kind) = Kind::from_name(&get(self.fields.kind)) else { continue };
            if req.allowed.is_some_and(|ok| !ok(&pack)) || !seen.insert((pack.clone(), path.clone())) {
                continue;
            }
            let pack_title = titles.entry(pack.clone()).or_insert_with(|| self.packs.current(&pack).map(|(t, _)| t));
            let Some(pack_title) = pack_title.clone() else { continue };
            // Never a page the box no longer has: the file is read now, from the pack.
            if !self.packs.has(&pack, &src) {
                continue;
            }
            let Some(e) = self.packs.read(&pack, &src).and_then(|b| kind.extract(&b)) else { continue };
            let title = if e.title.is_empty() { get(self.fields.title) } else { e.title };
            hits.push(Hit {
                title_html: snippet::highlight(&mut analyzer, &title, &marker),
                snippet_html: snippet::snippet(&mut analyzer, &e.text, &marker),
                title,
                pack,
                pack_title,
                path,
                kind: kind.name(),
                score,
            });
        }
        Ok(hits)
    }
}

/// Why a search gave no list.
#[derive(Debug, Clone)]
pub enum SearchError {
    /// The query itself (empty, too short…): say it to the pupil.
    Query(QueryError),
    /// The index could not be read.
    Index(String),
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchError::Query(q) => q.fmt(f),
            SearchError::Index(e) => write!(f, "search index: {e}"),
        }
    }
}

impl std::error::Error for SearchError {}

/// `nice` 19 for the calling thread (Linux: priorities are per thread, and threads
/// started from it inherit it).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) != 0 {
            tracing::debug!("cannot lower the search indexer's priority");
        }
    }
}
