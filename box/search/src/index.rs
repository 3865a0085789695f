//! The tantivy index on disk (`DATA/search/`): its schema, opening (a broken index is
//! thrown away and rebuilt: it is derived data), and the build of one pack.
//!
//! One commit per pack: the pack's old documents are deleted, its new ones added, and a
//! `done` marker (pack id, stamp) added, all in that commit. tantivy's commit is atomic
//! (`meta.json` replaced), so a box cut off mid-build finds either the old documents and
//! old marker or the new ones; what the markers do not cover is rebuilt at start.

use std::path::Path;

use anyhow::{Context, Result};
use tantivy::collector::TopDocs;
use tantivy::query::TermQuery;
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::{Index, IndexWriter, Searcher, TantivyDocument, Term};

use crate::analyzer;
use crate::extract::{self, Extracted};
use crate::{PackContent, PackFile, Packs};

/// Memory of tantivy's indexing arena (one worker thread): past it a segment is flushed.
/// tantivy's own minimum is 15 MB; with the file being read and the merge thread, the
/// build stays under 64 MiB (BENCHMARKS.md, "Search").
pub const WRITER_BUDGET_BYTES: usize = 16_000_000;

/// Largest pack file read for indexing (a page of a site, a quiz file).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Documents per pack at most (pages, quizzes…): a pack with more is indexed up to it.
pub const MAX_DOCS_PER_PACK: usize = 50_000;

/// The pack of shared libraries (MathJax, KaTeX…): code, not lessons.
const LIBS_PACK: &str = "preau-libs";

/// What a document is; decides how its file is read for a snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Markdown,
    Quiz,
    Course,
    Assign,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Html => "html",
            Kind::Markdown => "markdown",
            Kind::Quiz => "quiz",
            Kind::Course => "course",
            Kind::Assign => "assign",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "html" => Kind::Html,
            "markdown" => Kind::Markdown,
            "quiz" => Kind::Quiz,
            "course" => Kind::Course,
            "assign" => Kind::Assign,
            _ => return None,
        })
    }

    /// The document's title and text from its file's bytes.
    pub fn extract(self, bytes: &[u8]) -> Option<Extracted> {
        match self {
            Kind::Html => Some(extract::html(&String::from_utf8_lossy(bytes))),
            Kind::Markdown => Some(extract::markdown(&String::from_utf8_lossy(bytes))),
            Kind::Quiz => extract::quiz(bytes),
            Kind::Course => extract::course(bytes),
            Kind::Assign => extract::assignment(bytes),
        }
    }

    /// The title and the first `max` bytes (about) of the text, for a snippet. `bytes`
    /// may be the start of a page only (see [`Kind::snippet_read_bytes`]).
    pub fn extract_head(self, bytes: &[u8], max: usize) -> Option<Extracted> {
        match self {
            Kind::Html => Some(extract::html_upto(&String::from_utf8_lossy(bytes), max)),
            Kind::Markdown => Some(extract::markdown_upto(&String::from_utf8_lossy(bytes), max)),
            _ => self.extract(bytes),
        }
    }

    /// How much of the file a snippet reads: pages are cut anywhere (the start gives
    /// the title and the first screens of text); JSON files must be read whole.
    pub fn snippet_read_bytes(self) -> Option<usize> {
        match self {
            Kind::Html | Kind::Markdown => Some(SNIPPET_READ_BYTES),
            Kind::Quiz | Kind::Course | Kind::Assign => None,
        }
    }
}

/// The start of a page read for its snippet: markup included, 256 KiB hold far more
/// than the text a snippet scans (`snippet::MAX_SNIPPET_SCAN_BYTES`).
pub const SNIPPET_READ_BYTES: usize = 256 * 1024;

/// The marker kind: one per indexed pack.
const DONE: &str = "done";

#[derive(Clone, Copy)]
pub struct Fields {
    pub pack: Field,
    /// The path a link goes to, under `/packs/{pack}/` (`_quiz/q1` for a quiz).
    pub path: Field,
    /// The file the text comes from (`_preau/quiz/q1.json` for a quiz).
    pub src: Field,
    pub kind: Field,
    pub stamp: Field,
    /// The content hash of the file the document was read from.
    pub hash: Field,
    pub title: Field,
    pub body: Field,
}

pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |stored: bool| {
        let idx = TextFieldIndexing::default()
            .set_tokenizer(analyzer::FRENCH)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let o = TextOptions::default().set_indexing_options(idx);
        if stored { o.set_stored() } else { o }
    };
    let fields = Fields {
        pack: b.add_text_field("pack", STRING | STORED),
        path: b.add_text_field("path", STORED),
        src: b.add_text_field("src", STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        stamp: b.add_text_field("stamp", STORED),
        hash: b.add_text_field("hash", STORED),
        // Titles are short and shown in results: stored. Bodies are not (the snippet is
        // cut from the pack file), which keeps the index small.
        title: b.add_text_field("title", text(true)),
        body: b.add_text_field("body", text(false)),
    };
    (b.build(), fields)
}

/// Opens the index in `dir`, or makes a new one. An index that cannot be opened (a
/// format from another tantivy, a damaged file) is removed and made again: the packs
/// are the truth, and the markers being empty, everything gets rebuilt.
pub fn open(dir: &Path) -> Result<(Index, Fields)> {
    let (schema, fields) = schema();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let index = match try_open(dir, &schema) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!("search index in {} unusable ({e:#}): rebuilding it", dir.display());
            std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
            std::fs::create_dir_all(dir)?;
            try_open(dir, &schema)?
        }
    };
    index.tokenizers().register(analyzer::FRENCH, analyzer::french());
    Ok((index, fields))
}

fn try_open(dir: &Path, schema: &Schema) -> Result<Index> {
    let directory = tantivy::directory::MmapDirectory::open(dir)?;
    let index = Index::open_or_create(directory, schema.clone())?;
    Ok(index)
}

/// The packs the index holds completely: (pack id, stamp) from the `done` markers.
pub fn indexed(searcher: &Searcher, f: &Fields) -> Result<Vec<(String, String)>> {
    let q = TermQuery::new(Term::from_field_text(f.kind, DONE), IndexRecordOption::Basic);
    let hits = searcher.search(&q, &TopDocs::with_limit(100_000).order_by_score())?;
    let mut out = Vec::with_capacity(hits.len());
    for (_, addr) in hits {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let get = |fl| doc.get_first(fl).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        out.push((get(f.pack), get(f.stamp)));
    }
    Ok(out)
}

/// Deletes every document of `pack` (committed by the caller).
pub fn delete_pack(writer: &IndexWriter, f: &Fields, pack: &str) {
    writer.delete_term(Term::from_field_text(f.pack, pack));
}

/// Counts of one pack's build.
#[derive(Debug, Default, Clone, Copy)]
pub struct Built {
    pub docs: usize,
    pub text_bytes: u64,
}

/// Replaces the documents of one pack with those of `content` and commits. `stop` is
/// polled between files: a box shutting down does not wait for a big pack.
pub fn build_pack(
    writer: &mut IndexWriter,
    f: &Fields,
    packs: &dyn Packs,
    content: &PackContent,
    stop: &dyn Fn() -> bool,
) -> Result<Option<Built>> {
    tracing::info!(pack = %content.id, files = content.files.len(), "indexing pack");
    delete_pack(writer, f, &content.id);
    let mut built = Built::default();
    if content.id != LIBS_PACK {
        for PackFile { path, size, hash } in &content.files {
            if stop() {
                writer.rollback()?;
                return Ok(None);
            }
            if built.docs >= MAX_DOCS_PER_PACK {
                tracing::warn!(pack = %content.id, "more than {MAX_DOCS_PER_PACK} documents: the rest is not searchable");
                break;
            }
            let Some((kind, link)) = document_of(path, &content.entry) else { continue };
            if *size > MAX_FILE_BYTES {
                continue;
            }
            let Some(bytes) = packs.read(&content.id, path) else { continue };
            let Some(e) = kind.extract(&bytes) else { continue };
            drop(bytes);
            if e.title.trim().is_empty() && e.text.trim().is_empty() {
                continue;
            }
            built.docs += 1;
            built.text_bytes += (e.title.len() + e.text.len()) as u64;
            let mut doc = TantivyDocument::default();
            doc.add_text(f.pack, &content.id);
            doc.add_text(f.path, &link);
            doc.add_text(f.src, path);
            doc.add_text(f.kind, kind.name());
            doc.add_text(f.stamp, &content.stamp);
            doc.add_text(f.hash, hash);
            doc.add_text(f.title, if e.title.is_empty() { &content.title } else { &e.title });
            doc.add_text(f.body, &e.text);
            writer.add_document(doc)?;
            // Gives the serving threads the core back between files.
            std::thread::yield_now();
        }
    }
    let mut done = TantivyDocument::default();
    done.add_text(f.pack, &content.id);
    done.add_text(f.kind, DONE);
    done.add_text(f.stamp, &content.stamp);
    writer.add_document(done)?;
    writer.commit()?;
    Ok(Some(built))
}

/// Whether a pack file is a searchable document: its kind and the path a result links
/// to. Pages (HTML, Markdown), quizzes, assignments and the course outline; never the
/// downloaded outside resources (`preau-offline/`), never other `_preau/` files.
pub fn document_of(path: &str, entry: &str) -> Option<(Kind, String)> {
    let lower = path.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("_preau/") {
        let name = &path["_preau/".len()..];
        if let Some(id) = rest.strip_prefix("quiz/").and_then(|r| r.strip_suffix(".json")) {
            return (!id.contains('/')).then(|| (Kind::Quiz, format!("_quiz/{}", &name["quiz/".len()..][..id.len()])));
        }
        if let Some(id) = rest.strip_prefix("assign/").and_then(|r| r.strip_suffix(".json")) {
            return (!id.contains('/'))
                .then(|| (Kind::Assign, format!("_assign/{}", &name["assign/".len()..][..id.len()])));
        }
        if rest == "course.json" {
            let entry = if entry.is_empty() { "index.html" } else { entry };
            return Some((Kind::Course, entry.to_string()));
        }
        return None;
    }
    if lower.starts_with("preau-offline/") {
        return None;
    }
    if lower.ends_with(".html") || lower.ends_with(".htm") {
        Some((Kind::Html, path.to_string()))
    } else if lower.ends_with(".md") || lower.ends_with(".markdown") {
        Some((Kind::Markdown, path.to_string()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_files_are_documents() {
        assert_eq!(document_of("a/b.html", "").unwrap().1, "a/b.html");
        assert_eq!(document_of("x.MD", "").unwrap().0, Kind::Markdown);
        assert_eq!(document_of("_preau/quiz/q 1.json", "").unwrap().1, "_quiz/q 1");
        assert_eq!(document_of("_preau/assign/a2.json", "").unwrap().1, "_assign/a2");
        assert_eq!(document_of("_preau/course.json", "start.html").unwrap(), (Kind::Course, "start.html".into()));
        for no in ["_preau/import-report.json", "_preau/quiz/x/y.json", "preau-offline/h/a.html", "a.css", "b.png"] {
            assert!(document_of(no, "").is_none(), "{no}");
        }
    }
}
