//! Snippets and highlighting: the piece of a document's text where the query's words
//! are densest, HTML-escaped, matched words in `<mark>`. The text is read again from
//! the pack file (the index stores none) and analysed with the same French chain, so
//! "réseaux" in the page is marked for the query "reseau".

use std::ops::Range;

use rustc_hash::FxHashMap;
use tantivy::tokenizer::{SimpleTokenizer, TextAnalyzer, TokenStream, Tokenizer};

use crate::analyzer;

/// Words around the matches in a snippet.
pub const SNIPPET_WORDS: usize = 30;
/// Text analysed for a snippet: a match further into a long page gives the page's start.
pub const MAX_SNIPPET_SCAN_BYTES: usize = 32 * 1024;
// A word's place in it is a `u16` (see `Place`).
const _: () = assert!(MAX_SNIPPET_SCAN_BYTES <= u16::MAX as usize + 1);

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

/// A page's text analysed once for its snippets: the French chain (the stemmer above
/// all) over up to 32 KiB is the main cost of a snippet, and a page found by one query is
/// often found by the next, so the cache keeps this with the text and a query then only
/// compares its terms with the page's distinct terms and walks the list of words.
/// About 0.9 byte per byte of text on the fixture pages (6 bytes per word kept, the
/// distinct terms once).
pub struct Analysed {
    /// Each word the chain keeps, in order: where it is written and its term.
    words: Vec<Place>,
    /// The page's distinct terms end to end, in order of first use; term `i` ends at
    /// `ends[i]`.
    terms: String,
    ends: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Place {
    /// The text is at most `MAX_SNIPPET_SCAN_BYTES` (32 KiB) long.
    start: u16,
    term: u16,
    /// Bytes of the written word (under 40: longer words are not kept by the chain).
    len: u8,
}

impl Place {
    fn range(self) -> Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

impl Analysed {
    /// The words of the first `MAX_SNIPPET_SCAN_BYTES` of `text` through the French chain.
    /// Each distinct written word is analysed once (a page repeats its words; the chain,
    /// stemmer included, gives a word alone what it gives it in the text, since words
    /// are split on non-alphanumerics).
    pub fn new(analyzer: &mut TextAnalyzer, text: &str) -> Analysed {
        let text = scanned(text);
        let mut out = Analysed { words: Vec::new(), terms: String::new(), ends: Vec::new() };
        // Written word → its term's number (`None`: a stop word or a word too long).
        let mut memo: FxHashMap<&str, Option<u16>> = FxHashMap::default();
        let mut ids: FxHashMap<String, u16> = FxHashMap::default();
        let mut tokenizer = SimpleTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        while stream.advance() {
            let t = stream.token();
            let raw = &text[t.offset_from..t.offset_to];
            let term = *memo.entry(raw).or_insert_with(|| {
                let w = analyzer::analyse(analyzer, raw).into_iter().next()?;
                if let Some(&id) = ids.get(&w.term) {
                    return Some(id);
                }
                // 32 KiB hold fewer than 2^16 words; past that, words are not kept.
                let id = u16::try_from(out.ends.len()).ok()?;
                out.terms.push_str(&w.term);
                out.ends.push(out.terms.len() as u32);
                ids.insert(w.term, id);
                Some(id)
            });
            let (Some(term), Ok(start), Ok(len)) =
                (term, u16::try_from(t.offset_from), u8::try_from(t.offset_to - t.offset_from))
            else {
                continue;
            };
            out.words.push(Place { start, term, len });
        }
        out.words.shrink_to_fit();
        out.ends.shrink_to_fit();
        out.terms.shrink_to_fit();
        out
    }

    /// Heap bytes held (for the cache's bound).
    pub fn bytes(&self) -> usize {
        self.words.capacity() * std::mem::size_of::<Place>() + self.terms.capacity() + self.ends.capacity() * 4
    }

    fn term(&self, i: usize) -> &str {
        let from = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.terms[from..self.ends[i] as usize]
    }
}

/// The part of a text a snippet is cut from.
fn scanned(text: &str) -> &str {
    let mut end = text.len().min(MAX_SNIPPET_SCAN_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The snippet of `text` (HTML), at most about `SNIPPET_WORDS` words (analyses the text:
/// see [`snippet_of`] to reuse an analysis).
pub fn snippet(analyzer: &mut TextAnalyzer, text: &str, marker: &Marker<'_>) -> String {
    snippet_of(text, &Analysed::new(analyzer, text), marker)
}

/// The snippet of `text` (HTML) from its analysis `words` (of this very text).
///
/// The window is the first of `SNIPPET_WORDS` words holding the most distinct matched
/// terms; the walk stops once a window holds every query term, the best a window can do.
pub fn snippet_of(text: &str, words: &Analysed, marker: &Marker<'_>) -> String {
    let text = scanned(text);
    let width = SNIPPET_WORDS;
    // Distinct terms a window can hold at best.
    let goal = {
        let mut t: Vec<&String> = marker.exact.iter().collect();
        t.sort();
        t.dedup();
        t.len().max(1)
    };
    // Each distinct term of the page once: matched (its number among the matched terms)
    // or not.
    let mut matched = 0usize;
    let hit_of: Vec<Option<usize>> = (0..words.ends.len())
        .map(|i| {
            marker.matches(words.term(i)).then(|| {
                matched += 1;
                matched - 1
            })
        })
        .collect();
    let all = &words.words;
    // Matched terms among the last `width` words, to know when a window is the best.
    let mut in_window: Vec<usize> = vec![0; matched];
    let mut distinct = 0usize;
    let mut n = all.len();
    for (i, w) in all.iter().enumerate() {
        if let Some(k) = hit_of[w.term as usize] {
            in_window[k] += 1;
            if in_window[k] == 1 {
                distinct += 1;
            }
        }
        if i >= width
            && let Some(k) = hit_of[all[i - width].term as usize]
        {
            in_window[k] -= 1;
            if in_window[k] == 0 {
                distinct -= 1;
            }
        }
        if distinct >= goal {
            // The window starting at the first match among these words ends at most
            // `width` words further.
            n = n.min(i + 1 + width);
            break;
        }
    }
    let hits: Vec<Option<usize>> = all[..n].iter().map(|w| hit_of[w.term as usize]).collect();
    // The window of SNIPPET_WORDS analysed words with the most distinct matched terms.
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
    let (s, first, last) = if n == 0 {
        (0, 0, text.len().min(200))
    } else {
        // A few words of context before the first match.
        let s = best.0.saturating_sub(if best.0 > 0 { 4 } else { 0 });
        let e = (s + width).min(n);
        (s, if s == 0 { 0 } else { all[s].start as usize }, all[e - 1].range().end)
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
    // The words from the window's first on (those before it end before it starts).
    let shown = all[s.min(n)..n].iter().zip(&hits[s.min(n)..]).map(|(w, h)| (w.range(), h.is_some()));
    let mut out = String::new();
    if first > 0 {
        out.push('…');
    }
    out.push_str(&highlight_range(text, first, last, shown));
    if last < text.len() {
        out.push('…');
    }
    out
}

/// A title (or any short text) escaped with its matched words marked.
pub fn highlight(analyzer: &mut TextAnalyzer, text: &str, marker: &Marker<'_>) -> String {
    let words = analyzer::analyse(analyzer, text);
    let shown = words.into_iter().map(|w| (w.at, marker.matches(&w.term)));
    highlight_range(text, 0, text.len(), shown)
}

/// `text[from..to]` escaped, with the hits among `words` (in order) marked.
fn highlight_range(text: &str, from: usize, to: usize, words: impl Iterator<Item = (Range<usize>, bool)>) -> String {
    let mut out = String::new();
    let mut at = from;
    for (w, hit) in words {
        if w.start >= to {
            break;
        }
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
    // Every page term is compared with the query's typo-tolerant terms: no allocation
    // for the usual case, folded (ASCII) terms, where bytes are characters.
    if a.is_ascii() && b.is_ascii() {
        return one_edit(a.as_bytes(), b.as_bytes());
    }
    if a.chars().count().abs_diff(b.chars().count()) > 1 {
        return false;
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    one_edit(&a, &b)
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    if a == b {
        return true;
    }
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
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
        // Not folded (another script): characters, not bytes.
        assert!(within_one_edit("αβγδε", "αβγδ"));
        assert!(within_one_edit("αβγδε", "αβδγε"));
        assert!(!within_one_edit("αβγδε", "αβ"));
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
    fn one_analysis_serves_every_query() {
        let text = "Les réseaux sociaux. ".to_string() + &"Une boucle for parcourt la liste, en Python. ".repeat(50);
        let words = Analysed::new(&mut analyzer::french(), &text);
        let terms = |q: &str| -> Vec<String> {
            analyzer::analyse(&mut analyzer::french(), q).into_iter().map(|w| w.term).collect()
        };
        let (two, one, none) = (terms("boucle listes"), terms("reseau"), terms("absent"));
        let s = snippet_of(&text, &words, &Marker { exact: &two, fuzzy: &[] });
        assert!(s.contains("<mark>boucle</mark> for parcourt la <mark>liste</mark>"), "{s}");
        let s = snippet_of(&text, &words, &Marker { exact: &one, fuzzy: &one });
        assert!(s.starts_with("Les <mark>réseaux</mark> sociaux."), "{s}");
        // A typo's term (one edit away) is marked too.
        let s = snippet_of(&text, &words, &Marker { exact: &terms("bocle"), fuzzy: &terms("bocle") });
        assert!(s.contains("<mark>boucle</mark>"), "{s}");
        let s = snippet_of(&text, &words, &Marker { exact: &none, fuzzy: &none });
        assert!(s.starts_with("Les réseaux sociaux.") && !s.contains("<mark>"), "{s}");
        assert!(words.bytes() < text.len() * 2, "{} for {}", words.bytes(), text.len());
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
