//! Snippets and highlighting: the piece of a document's text where the query's words
//! are densest, HTML-escaped, matched words in `<mark>`. The text is read again from
//! the pack file (the index stores none) and analysed with the same French chain, so
//! "réseaux" in the page is marked for the query "reseau".

use tantivy::tokenizer::TextAnalyzer;

use crate::analyzer;

/// Words around the matches in a snippet.
pub const SNIPPET_WORDS: usize = 30;
/// Text analysed for a snippet: a match further into a long page gives the page's start.
const MAX_SNIPPET_SCAN_BYTES: usize = 32 * 1024;

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

/// The snippet of `text` (HTML), at most about `SNIPPET_WORDS` words.
pub fn snippet(analyzer: &mut TextAnalyzer, text: &str, marker: &Marker<'_>) -> String {
    let mut end = text.len().min(MAX_SNIPPET_SCAN_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = &text[..end];
    let words = analyzer::analyse(analyzer, text);
    let hits: Vec<bool> = words.iter().map(|w| marker.matches(&w.term)).collect();
    // The window of SNIPPET_WORDS analysed words with the most distinct matched terms.
    let n = words.len();
    let width = SNIPPET_WORDS.min(n.max(1));
    let mut best = (0usize, 0usize);
    if n > 0 {
        for start in 0..n {
            if !hits[start] && start != 0 {
                continue; // windows worth having start on a match
            }
            let mut distinct: Vec<&str> = Vec::new();
            for k in start..(start + width).min(n) {
                if hits[k] && !distinct.contains(&words[k].term.as_str()) {
                    distinct.push(&words[k].term);
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
        (if s == 0 { 0 } else { words[s].at.start }, words[e - 1].at.end.max(words[e - 1].at.end))
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
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    out.push_str(&highlight_range(text, first, last, &words, &hits));
    if last < text.len() {
        out.push('…');
    }
    out
}

/// A title (or any short text) escaped with its matched words marked.
pub fn highlight(analyzer: &mut TextAnalyzer, text: &str, marker: &Marker<'_>) -> String {
    let words = analyzer::analyse(analyzer, text);
    let hits: Vec<bool> = words.iter().map(|w| marker.matches(&w.term)).collect();
    highlight_range(text, 0, text.len(), &words, &hits)
}

fn highlight_range(text: &str, from: usize, to: usize, words: &[analyzer::Word], hits: &[bool]) -> String {
    let mut out = String::new();
    let mut at = from;
    for (w, &hit) in words.iter().zip(hits) {
        if !hit || w.at.start < from || w.at.end > to {
            continue;
        }
        out.push_str(&escape(&text[at..w.at.start]));
        out.push_str("<mark>");
        out.push_str(&escape(&text[w.at.clone()]));
        out.push_str("</mark>");
        at = w.at.end;
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
