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

use std::collections::{HashMap, HashSet, VecDeque};
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

/// Bytes of extracted text and its analysis kept for snippets (see [`HeadCache`]).
pub const HEAD_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// Results per query at most (`limit` of the API is clamped to it).
pub const MAX_LIMIT: usize = 50;
/// Results per query when none is asked: one screen. Each result costs a snippet (its
/// file read and its text analysed), the main cost of a query.
pub const DEFAULT_LIMIT: usize = 10;

/// What the search reads of the box's installed packs.
pub trait Packs: Send + Sync {
    /// Every installed pack, with its files (public and `_preau/`).
    fn installed(&self) -> Vec<PackContent>;
    /// The installed pack `id` now: its title and stamp; `None` once removed.
    fn current(&self, id: &str) -> Option<(String, String)>;
    /// The content hash of the file `path` of the installed pack `id` now; `None` when
    /// the pack or the file is not installed.
    fn file_hash(&self, id: &str, path: &str) -> Option<String>;
    /// The bytes of a file of the installed pack (`_preau/` files too). Blocking.
    fn read(&self, id: &str, path: &str) -> Option<Vec<u8>>;
    /// The first `max` bytes (or fewer) of that file: a snippet needs only the start of
    /// a page. The box reads only the chunks that hold them.
    fn read_head(&self, id: &str, path: &str, max: usize) -> Option<Vec<u8>> {
        let mut bytes = self.read(id, path)?;
        bytes.truncate(max);
        Some(bytes)
    }
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
    /// Every file.
    pub files: Vec<PackFile>,
}

/// A file of an installed pack.
#[derive(Debug, Clone)]
pub struct PackFile {
    pub path: String,
    pub size: u64,
    /// Its content hash: a document indexed from another version of the pack is shown
    /// only while the file still has the same content.
    pub hash: String,
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
    heads: Mutex<HeadCache>,
    wake: Mutex<Wake>,
    cv: Condvar,
}

/// The extracted start of the documents shown lately (title and the text a snippet
/// scans) and its analysis, so that a page found again is not read, decompressed,
/// extracted nor analysed again. Keyed by pack, file and the pack's stamp: an updated
/// pack never gets its old text. Bounded by bytes; the oldest entry goes first.
#[derive(Default)]
struct HeadCache {
    map: HashMap<(String, String, String), Arc<Head>>,
    order: VecDeque<(String, String, String)>,
    bytes: usize,
}

/// A cached document start: its title, its text (cut to what a snippet scans) and that
/// text analysed.
struct Head {
    title: String,
    text: String,
    words: snippet::Analysed,
}

impl Head {
    fn bytes(&self) -> usize {
        self.title.len() + self.text.len() + self.words.bytes()
    }
}

impl HeadCache {
    fn get(&self, key: &(String, String, String)) -> Option<Arc<Head>> {
        self.map.get(key).cloned()
    }

    fn put(&mut self, key: (String, String, String), e: Arc<Head>) {
        let size = e.bytes() + key.0.len() + key.1.len() + key.2.len();
        if size > HEAD_CACHE_BYTES / 4 || self.map.contains_key(&key) {
            return;
        }
        while self.bytes + size > HEAD_CACHE_BYTES {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(o) = self.map.remove(&old) {
                self.bytes -= o.bytes() + old.0.len() + old.1.len() + old.2.len();
            }
        }
        self.bytes += size;
        self.order.push_back(key.clone());
        self.map.insert(key, e);
    }
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
            heads: Mutex::new(HeadCache::default()),
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
        let writer: IndexWriter = self.index.writer_with_options(options)?;
        // Merged once at the end of a round (see `round`), not while it builds.
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        Ok(writer)
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
        let mut cut = false;
        for pack in todo {
            match index::build_pack(&mut writer, &self.fields, self.packs.as_ref(), pack, &stop)? {
                Some(b) => {
                    report.built += 1;
                    report.docs += b.docs;
                    report.text_bytes += b.text_bytes;
                    self.reader.reload()?;
                }
                None => {
                    cut = true;
                    break;
                }
            }
        }
        // Each commit leaves a segment (a pack, or a part of a big one): a query visits
        // every segment's term dictionary, and a typo-tolerant word walks each one with
        // its automaton. One segment after the round (deleted documents purged too);
        // the merge streams the segments, at the indexer's low priority.
        let segments = self.index.searchable_segment_ids()?;
        if !cut && segments.len() > 1 {
            writer.merge(&segments).wait()?;
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
        let mut current: HashMap<String, Option<(String, String)>> = HashMap::new();
        for (score, addr) in top {
            if hits.len() >= limit {
                break;
            }
            let doc: TantivyDocument = searcher.doc(addr).map_err(|e| SearchError::Index(e.to_string()))?;
            let get = |f| doc.get_first(f).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let (pack, path, src) = (get(self.fields.pack), get(self.fields.path), get(self.fields.src));
            let (doc_stamp, doc_hash) = (get(self.fields.stamp), get(self.fields.hash));
            let Some(kind) = Kind::from_name(&get(self.fields.kind)) else { continue };
            if req.allowed.is_some_and(|ok| !ok(&pack)) || !seen.insert((pack.clone(), path.clone())) {
                continue;
            }
            let now = current.entry(pack.clone()).or_insert_with(|| self.packs.current(&pack));
            let Some((pack_title, stamp)) = now.clone() else { continue };
            // Never a page the box no longer has, nor one found by words it no longer
            // has: between an update and the rebuild of its pack, a document of the old
            // version is shown only if its file is still installed with the same content.
            if doc_stamp != stamp && self.packs.file_hash(&pack, &src).is_none_or(|h| h != doc_hash) {
                continue;
            }
            let Some(e) = self.head(&pack, &src, &stamp, kind) else { continue };
            let title = if e.title.is_empty() { get(self.fields.title) } else { e.title.clone() };
            hits.push(Hit {
                title_html: snippet::highlight(&mut analyzer, &title, &marker),
                snippet_html: snippet::snippet_of(&e.text, &e.words, &marker),
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

    /// The title and the start of the text of a document, analysed for its snippet: from
    /// the cache, else read from the pack (only the start of a page), extracted and
    /// analysed.
    fn head(&self, pack: &str, src: &str, stamp: &str, kind: Kind) -> Option<Arc<Head>> {
        let key = (pack.to_string(), src.to_string(), stamp.to_string());
        if let Some(e) = self.heads.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Some(e);
        }
        let e = match kind.snippet_read_bytes() {
            // Twice the scanned text before squashing spaces, so the scan is still full.
            Some(max) => kind.extract_head(&self.packs.read_head(pack, src, max)?, 2 * snippet::MAX_SNIPPET_SCAN_BYTES),
            None => kind.extract(&self.packs.read(pack, src)?),
        }?;
        let mut e = e;
        extract::cut(&mut e.text, snippet::MAX_SNIPPET_SCAN_BYTES);
        // What the cache counts is what it holds (the extraction went up to 64 KiB).
        e.text.shrink_to_fit();
        let words = snippet::Analysed::new(&mut self.analyzer.clone(), &e.text);
        let e = Arc::new(Head { title: e.title, text: e.text, words });
        self.heads.lock().unwrap_or_else(|e| e.into_inner()).put(key, e.clone());
        Some(e)
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
