//! `preau search --data DIR [--json] [QUERY]`: brings the box's search index in step
//! with its installed packs on the spot (what `preau serve`'s indexer does in the
//! background), prints the counts, and runs QUERY if given. For technicians and the
//! search benchmark (`box/bench/search.sh`); the server need not be stopped only if it
//! is not indexing at the same moment (the index has one writer: a busy index is an error).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use crate::packs::Library;
use crate::search::{LibraryPacks, SEARCH_DIR};

#[derive(Args)]
pub struct SearchArgs {
    /// The box data folder.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Print a JSON summary (and results) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Results at most (1–50).
    #[arg(long, default_value_t = preau_search::DEFAULT_LIMIT)]
    pub limit: usize,
    /// A query to run once the index is in step.
    pub query: Option<String>,
}

pub fn run(args: SearchArgs) -> Result<()> {
    // Progress ("indexing pack …") and warnings on stderr, as `preau serve` logs them.
    super::init_logs();
    let library = Arc::new(Library::open(&args.data.join("repo"))?);
    let dir = args.data.join(SEARCH_DIR);
    let search = preau_search::Search::open(&dir, Arc::new(LibraryPacks(library)))?;
    let started = Instant::now();
    let report = search.build_now().context("cannot build the search index")?;
    let ms = started.elapsed().as_millis() as u64;
    let index_bytes = dir_bytes(&dir);
    let hits = match &args.query {
        Some(q) => search
            .search(&preau_search::Request { q, pack: None, limit: args.limit, allowed: None })
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Vec::new(),
    };
    if args.json {
        let out = serde_json::json!({
            "built": report.built, "removed": report.removed, "docs": report.docs,
            "text_bytes": report.text_bytes, "index_bytes": index_bytes, "build_ms": ms,
            "packs": search.status().packs, "results": hits,
        });
        println!("{out}");
    } else {
        println!(
            "{} pack(s) indexed, {} removed, {} documents, {} bytes of text, index {} bytes, {ms} ms",
            report.built, report.removed, report.docs, report.text_bytes, index_bytes
        );
        for h in &hits {
            println!("{:.2}  /packs/{}/{}  {}", h.score, h.pack, h.path, h.title);
        }
    }
    Ok(())
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|r| r.flatten().filter_map(|e| e.metadata().ok()).filter(|m| m.is_file()).map(|m| m.len()).sum())
        .unwrap_or(0)
}
