//! Snippets and highlighting: the piece of a document's text where the query's words
//! are densest, HTML-escaped, matched words in `<mark>`. The text is read again from
//! the pack file (the index stores none) and analysed with the same French chain, so
//! "réseaux" in the page is marked for the query "reseau".

use std::collections::HashMap;
use std::ops::Range;

use tantivy::tokenizer::{SimpleTokenizer, TextAnalyzer, TokenStream, Tokenizer};

use crate::analyzer;

/// Words around the matches in a snippet.
pub const SNIPPET_WORDS: usize = 30;
/// Text analysed for a snippet: a match further into a long page gives the page's start.
pub const MAX_SNIPPET_SCAN_BYTES: usize = 32 * 1024;

/// What to mark: exact terms, and terms that may be one edit away.
pub struct Marker<'a> {
    pub exact: &'a [String],
    pub fuzzy: &'a [String],
}

impl Marker<'_> {
    fn matches(&self, term: &str) -> bool {
        self.exact.iter().any(|t| t == term) || self.fuzzy.iter().any(|t| within_one_edit(t, term))
    }
}

/// What one written word is to the snippet (the same for every occurrence of it).
#[derive(Clone, Copy)]
enum Seen {
    /// A stop word or a word too long: not a word of the analysed text.
    Skip,
    Word,
    /// A matched word: the index of its term among the matched terms.
    Hit(usize),
}

/// The snippet of `text` (HTML), at most about `SNIPPET_WORDS` words.
///
/// The query's cost is here (a result's text analysed again), so two shortcuts, neither
/// changing which words count: each distinct written word is analysed once (a page
/// repeats its words; the French chain, stemmer included, runs on that word alone and
/// gives what it gives in the text, since words are split on non-alphanumerics), and the
/// scan stops once a window holds every query term, the best a window can do.
pub fn snippet(analyzer: &mut TextAnalyzer, text: &str, marker: &Marker<'_>) -> String {
    let mut end = text.len().min(MAX_SNIPPET_SCAN_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let width = SNIPPET_WORDS;
    // Distinct terms a window can hold at best.
    let goal = {
        let mut t: Vec<&String> = marker.exact.iter().collect();
        t.sort();
        t.dedup();
        t.len().max(1)
    };
    let mut memo: HashMap<&str, Seen> = HashMap::new();
    let mut terms: Vec<String> = Vec::new();
    let mut words: Vec<Range<usize>> = Vec::new();
    let mut hits: Vec<Option<usize>> = Vec::new();
    // Matched terms among the last `width` words, to know when a window is the best.
    let mut in_window: Vec<usize> = Vec::new();
    let mut distinct = 0usize;
    let mut stop_at = usize::MAX;
    let mut tokenizer = SimpleTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    while stream.advance() {
        let t = stream.token();
        let at = t.offset_from..t.offset_to;
        let raw = &text[at.clone()];
        let seen = *memo.entry(raw).or_insert_with(|| classify(analyzer, raw, marker, &mut terms));
        let hit = match seen {
            Seen::Skip => continue,
            Seen::Word => None,
            Seen::Hit(k) => Some(k),
        };
        words.push(at);
        hits.push(hit);
        if words.len() >= stop_at {
            break;
        }
        if let Some(k) = hit {
            if in_window.len() <= k {
                in_window.resize(k + 1, 0);
            }
            in_window[k] += 1;
            if in_window[k] == 1 {
                distinct += 1;
            }
        }
        if words.len() > width
            && let Some(k) = hits[words.len() - width - 1]
        {
            in_window[k] -= 1;
            if in_window[k] == 0 {
                distinct -= 1;
            }
        }
        if distinct >= goal && stop_at == usize::MAX {
            // The window starting at the first match among these words ends at most
            // `width` words further.
            stop_at = words.len() + width;
        }
    }
    // The window of SNIPPET_WORDS analysed words with the most distinct matched terms.
    let n = words.len();
    let width = width.min(n.max(1));
    let mut best = (0usize, 0usize);
    if n > 0 {
        let mut distinct: Vec<usize> = Vec::new();
        for start in 0..n {
            if hits[start].is_none() && start != 0 {
                continue; // windows worth having start on a match
            }
            distinct.clear();
            for k in hits[start..(start + width).min(n)].iter().flatten() {
                if !distinct.contains(k) {
                    distinct.push(*k);
                }
            }
            if distinct.len() > best.1 {
                best = (start, distinct.len());
            }
        }
    }
    let (first, last) = if n == 0 {
        (0, text.len().min(200))
    } else {
        // A few words of context before the first match.
        let s = best.0.saturating_sub(if best.0 > 0 { 4 } else { 0 });
        let e = (s + width).min(n);
        (if s == 0 { 0 } else { words[s].start }, words[e - 1].end)
    };
    let mut last = if n > 0 && last < text.len() {
        // Keep the punctuation right after the last word.
        text[last..].find(char::is_whitespace).map_or(text.len(), |k| last + k)
    } else {
        last
    };
    while !text.is_char_boundary(last) {
        last -= 1;
    }
    let marked: Vec<bool> = hits.iter().map(Option::is_some).collect();
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    out.push_str(&highlight_range(text, first, last, &words, &marked));
    if last < text.len() {
        out.push('…');
    }
    out
}

/// One written word through the French chain, and whether the marker matches it.
fn classify(analyzer: &mut TextAnalyzer, raw: &str, marker: &Marker<'_>, terms: &mut Vec<String>) -> Seen {
    let analysed = analyzer::analyse(analyzer, raw);
    let Some(w) = analysed.first() else { return Seen::Skip };
    if !marker.matches(&w.term) {
        return Seen::Word;
    }
    match terms.iter().position(|t| *t == w.term) {
        Some(k) => Seen::Hit(k),
        None => {
            terms.push(w.term.clone());
            Seen::Hit(terms.len() - 1)
        }
    }
}

/// A title (or any short text) escaped with its matched words marked.
pub fn highlight(analyzer: &mut TextAnalyzer, text: &str, marker: &Marker<'_>) -> String {
    let words = analyzer::analyse(analyzer, text);
    let hits: Vec<bool> = words.iter().map(|w| marker.matches(&w.term)).collect();
    let places: Vec<Range<usize>> = words.into_iter().map(|w| w.at).collect();
    highlight_range(text, 0, text.len(), &places, &hits)
}

fn highlight_range(text: &str, from: usize, to: usize, words: &[Range<usize>], hits: &[bool]) -> String {
    let mut out = String::new();
    let mut at = from;
    for (w, &hit) in words.iter().zip(hits) {
        if !hit || w.start < from || w.end > to {
            continue;
        }
        out.push_str(&escape(&text[at..w.start]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[w.clone()]));
        out.push_str("</mark>");
        at = w.end;
    }
    out.push_str(&escape(&text[at..to]));
    out
}

/// HTML escaping of text for element content and attribute values (`& < > " '`).
pub fn escape(s: &str) -> String {
    htmlescape::encode_minimal(s)
}

/// Damerau–Levenshtein distance of at most 1 (one insertion, deletion, substitution or
/// swap of two neighbours), the typo rule of the query.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    if la == lb {
        ra[1..] == rb[1..] || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
    } else if la > lb {
        ra[1..] == *rb
    } else {
        *ra == rb[1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_edit() {
        assert!(within_one_edit("fraction", "fracton"));
        assert!(within_one_edit("fraction", "fractiion"));
        assert!(within_one_edit("fraction", "fraciton"));
        assert!(within_one_edit("fraction", "fractiin"));
        assert!(!within_one_edit("fraction", "frcatoin"));
        assert!(!within_one_edit("reseau", "res"));
    }

    #[test]
    fn snippet_window_holds_every_term_even_far_into_the_page() {
        let filler = "cartes plateaux rivières ".repeat(60);
        let text = format!("Fractions au début. {filler} Les fractions et le réseau ensemble. {filler} Réseau seul.");
        let exact: Vec<String> =
            analyzer::analyse(&mut analyzer::french(), "fraction reseau").into_iter().map(|w| w.term).collect();
        let s = snippet(&mut analyzer::french(), &text, &Marker { exact: &exact, fuzzy: &[] });
        assert!(s.contains("<mark>fractions</mark> et le <mark>réseau</mark>"), "{s}");
        assert!(!s.contains("début") && !s.contains("seul"), "{s}");
        // One term: the first match is the best window.
        let s = snippet(&mut analyzer::french(), &text, &Marker { exact: &exact[1..], fuzzy: &[] });
        assert!(s.contains("<mark>réseau</mark> ensemble"), "{s}");
    }

    #[test]
    fn snippet_marks_every_form_and_escapes() {
        let text = "Intro <b> longue. ".repeat(40) + "Les Réseaux sociaux & le réseau local.";
        let exact =
            analyzer::analyse(&mut analyzer::french(), "reseau").into_iter().map(|w| w.term).collect::<Vec<_>>();
        let s = snippet(&mut analyzer::french(), &text, &Marker { exact: &exact, fuzzy: &[] });
        assert!(s.contains("<mark>Réseaux</mark>"), "{s}");
        assert!(s.contains("<mark>réseau</mark>"), "{s}");
        assert!(s.contains("&amp;"), "{s}");
        assert!(s.starts_with('…'), "{s}");
        assert!(!s.contains("<b>"), "{s}");
        let t = highlight(&mut analyzer::french(), "Réseaux <x>", &Marker { exact: &exact, fuzzy: &[] });
        assert_eq!(t, "<mark>Réseaux</mark> &lt;x&gt;");
    }
}
