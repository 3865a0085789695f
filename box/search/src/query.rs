//! A pupil's query: words and "phrases in quotes", analysed like the pages, turned into
//! one tantivy query. Every word (or phrase) must match, in the title or the body; a
//! title match weighs 3 times a body match; a word of 5 letters or more also matches
//! terms one edit away (a typo), below an exact match.

use tantivy::Term;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;

use crate::analyzer::{self, Word};
use crate::index::Fields;

/// Longest query (characters): a sentence, not a page.
pub const MAX_QUERY_CHARS: usize = 200;
/// Shortest query (characters, spaces excluded).
pub const MIN_QUERY_CHARS: usize = 2;
/// Words and phrases per query at most: each costs a clause.
pub const MAX_PARTS: usize = 12;
/// Letters from which a word also matches a typo of it.
pub const FUZZY_MIN_LETTERS: usize = 5;

const TITLE_BOOST: f32 = 3.0;
const FUZZY_WEIGHT: f32 = 0.3;

/// Why a query was not run: each is said to the pupil in French (and English).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryError {
    Empty,
    TooShort,
    TooLong,
    /// Only words too common to search ("le", "de"…).
    OnlyStopWords,
}

impl QueryError {
    pub fn french(self) -> &'static str {
        match self {
            QueryError::Empty => "Écris un ou plusieurs mots à chercher.",
            QueryError::TooShort => "La recherche est trop courte : écris au moins 2 lettres.",
            QueryError::TooLong => "La recherche est trop longue : 200 caractères au plus.",
            QueryError::OnlyStopWords => "Ces mots sont trop courants pour être cherchés : ajoute un mot plus précis.",
        }
    }

    pub fn english(self) -> &'static str {
        match self {
            QueryError::Empty => "Type one or more words to search for.",
            QueryError::TooShort => "The search is too short: type at least 2 letters.",
            QueryError::TooLong => "The search is too long: 200 characters at most.",
            QueryError::OnlyStopWords => "These words are too common to search: add a more precise word.",
        }
    }

    /// A stable name for the JSON API.
    pub fn code(self) -> &'static str {
        match self {
            QueryError::Empty => "empty",
            QueryError::TooShort => "too_short",
            QueryError::TooLong => "too_long",
            QueryError::OnlyStopWords => "only_stop_words",
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.french(), self.english())
    }
}

impl std::error::Error for QueryError {}

/// One part of a query: a word, or the words of a phrase.
#[derive(Debug, Clone)]
pub struct Part {
    pub words: Vec<Word>,
    pub phrase: bool,
}

/// A parsed query: its parts, for the tantivy query and for highlighting.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub parts: Vec<Part>,
}

impl Parsed {
    /// Terms to highlight exactly, and terms that may be matched one edit away.
    pub fn highlight_terms(&self) -> (Vec<String>, Vec<String>) {
        let mut exact = Vec::new();
        let mut fuzzy = Vec::new();
        for p in &self.parts {
            for w in &p.words {
                exact.push(w.term.clone());
                if !p.phrase && w.letters >= FUZZY_MIN_LETTERS {
                    fuzzy.push(w.term.clone());
                }
            }
        }
        (exact, fuzzy)
    }
}

/// Splits and analyses a query; checks its bounds.
pub fn parse(analyzer: &mut TextAnalyzer, q: &str) -> Result<Parsed, QueryError> {
    let q = q.trim();
    if q.is_empty() {
        return Err(QueryError::Empty);
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong);
    }
    if q.chars().filter(|c| c.is_alphanumeric()).count() < MIN_QUERY_CHARS {
        return Err(QueryError::TooShort);
    }
    let mut parts = Vec::new();
    // Even-numbered pieces between quotes are plain words, odd ones phrases; an unclosed
    // quote makes a phrase of the rest.
    for (k, piece) in q.split('"').enumerate() {
        let words = analyzer::analyse(analyzer, piece);
        if words.is_empty() {
            continue;
        }
        if k % 2 == 1 && words.len() > 1 {
            parts.push(Part { words, phrase: true });
        } else {
            parts.extend(words.into_iter().map(|w| Part { words: vec![w], phrase: false }));
        }
    }
    // The same word twice adds nothing.
    let mut seen = std::collections::HashSet::new();
    parts.retain(|p| p.phrase || seen.insert(p.words[0].term.clone()));
    if parts.is_empty() {
        return Err(QueryError::OnlyStopWords);
    }
    parts.truncate(MAX_PARTS);
    Ok(Parsed { parts })
}

/// The tantivy query of a parsed query, optionally limited to one pack.
pub fn build(parsed: &Parsed, f: &Fields, pack: Option<&str>) -> Box<dyn Query> {
    let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for part in &parsed.parts {
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in [(f.title, TITLE_BOOST), (f.body, 1.0)] {
            if part.phrase {
                let first = part.words[0].pos;
                let terms = part.words.iter().map(|w| (w.pos - first, Term::from_field_text(field, &w.term))).collect();
                let q: Box<dyn Query> = Box::new(PhraseQuery::new_with_offset(terms));
                any.push((Occur::Should, Box::new(BoostQuery::new(q, boost))));
            } else {
                let w = &part.words[0];
                let term = Term::from_field_text(field, &w.term);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(exact), boost))));
                if w.letters >= FUZZY_MIN_LETTERS {
                    let fuzzy = FuzzyTermQuery::new(term, 1, true);
                    any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(fuzzy), boost * FUZZY_WEIGHT))));
                }
            }
        }
        must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    if let Some(p) = pack {
        let t = Term::from_field_text(f.pack, p);
        must.push((Occur::Must, Box::new(TermQuery::new(t, IndexRecordOption::Basic))));
    }
    Box::new(BooleanQuery::new(must))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Result<Parsed, QueryError> {
        parse(&mut analyzer::french(), q)
    }

    #[test]
    fn bounds_and_messages() {
        assert_eq!(p("  ").unwrap_err(), QueryError::Empty);
        assert_eq!(p("a").unwrap_err(), QueryError::TooShort);
        assert_eq!(p("?!").unwrap_err(), QueryError::TooShort);
        assert_eq!(p(&"mot ".repeat(60)).unwrap_err(), QueryError::TooLong);
        assert_eq!(p("le de la").unwrap_err(), QueryError::OnlyStopWords);
        assert!(QueryError::TooShort.french().contains("trop courte"));
    }

    #[test]
    fn words_and_phrases() {
        let q = p(r#"Réseaux "les réseaux sociaux" fractions fractions"#).unwrap();
        assert_eq!(q.parts.len(), 3);
        assert!(!q.parts[0].phrase && q.parts[1].phrase && !q.parts[2].phrase);
        // The stop word inside the phrase keeps its place: "les" is position 0.
        assert_eq!(q.parts[1].words.len(), 2);
        assert_eq!(q.parts[1].words[1].pos - q.parts[1].words[0].pos, 1);
        let (exact, fuzzy) = q.highlight_terms();
        assert_eq!(exact.len(), 4);
        assert_eq!(fuzzy.len(), 2, "{fuzzy:?}");
        assert_eq!(p("\"réseaux\"").unwrap().parts.len(), 1);
        assert!(p(&"mot ".repeat(40)).unwrap().parts.len() <= MAX_PARTS);
    }
}
