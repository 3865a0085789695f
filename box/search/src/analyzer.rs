//! The French analyser: words split on non-alphanumerics, lower-cased, accents folded,
//! French stop words dropped, then the Snowball French stemmer. The same chain reads
//! pages (indexing), queries, and the text a snippet is cut from, so that "Réseaux",
//! "réseau" and "reseaux" are one term everywhere.
//!
//! Folding comes before the stemmer on purpose: a pupil who types without accents must
//! reach the same stem as the page written with them, and the stemmer, given "reseaux"
//! or "réseaux", would not always cut them alike. The stop list is folded too.

use std::ops::Range;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
    TokenStream,
};

/// The name the analyser is registered under in the index's tokenizer manager.
pub const FRENCH: &str = "preau_fr";

/// Words longer than this (bytes) are not indexed: base64 runs, long URLs.
const MAX_TOKEN_BYTES: usize = 40;

/// The analyser, built fresh (tantivy analysers are cheap to clone, not shared).
pub fn french() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(stop_words()))
        .filter(Stemmer::new(Language::French))
        .build()
}

/// The Snowball French stop list (the one tantivy ships, which it keeps private) and a
/// few more function words, folded like the text they are compared with, plus the
/// elided forms the tokenizer leaves behind ("l'école" gives "l" and "ecole").
fn stop_words() -> Vec<String> {
    let mut words: Vec<String> = FRENCH_STOP_WORDS.iter().map(|w| fold(w)).collect();
    words.extend(["l", "d", "j", "m", "n", "s", "t", "c", "qu"].map(String::from));
    words.sort();
    words.dedup();
    words
}

const FRENCH_STOP_WORDS: &[&str] = &[
    "au", "aux", "avec", "ce", "ces", "dans", "de", "des", "du", "elle", "en", "et", "eux", "il", "je", "la", "le",
    "leur", "lui", "ma", "mais", "me", "même", "mes", "moi", "mon", "ne", "nos", "notre", "nous", "on", "ou", "par",
    "pas", "pour", "qu", "que", "qui", "sa", "se", "ses", "son", "sur", "ta", "te", "tes", "toi", "ton", "tu", "un",
    "une", "vos", "votre", "vous", "c", "d", "j", "l", "à", "m", "n", "s", "t", "y", "été", "étée", "étées", "étés",
    "étant", "suis", "es", "est", "sommes", "êtes", "sont", "serai", "seras", "sera", "serons", "serez", "seront",
    "serais", "serait", "serions", "seriez", "seraient", "étais", "était", "étions", "étiez", "étaient", "fus", "fut",
    "fûmes", "fûtes", "furent", "sois", "soit", "soyons", "soyez", "soient", "fusse", "fusses", "fût", "fussions",
    "fussiez", "fussent", "ayant", "eu", "eue", "eues", "eus", "ai", "as", "avons", "avez", "ont", "aurai", "auras",
    "aura", "aurons", "aurez", "auront", "aurais", "aurait", "aurions", "auriez", "auraient", "avais", "avait",
    "avions", "aviez", "avaient", "eut", "eûmes", "eûtes", "eurent", "aie", "aies", "ait", "ayons", "ayez", "aient",
    "eusse", "eusses", "eût", "eussions", "eussiez", "eussent", "ceci", "cela", "celà", "cet", "cette", "ici", "ils",
    "les", "leurs", "quel", "quels", "quelle", "quelles", "sans", "soi",
];

/// Lower-cases and folds accents of one word the way the analyser does (no stemming).
pub fn fold(word: &str) -> String {
    let mut a = TextAnalyzer::builder(SimpleTokenizer::default()).filter(LowerCaser).filter(AsciiFoldingFilter).build();
    let mut out = String::new();
    let mut s = a.token_stream(word);
    while s.advance() {
        out.push_str(&s.token().text);
    }
    out
}

/// One analysed word: its term and where it was in the text (bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub term: String,
    pub at: Range<usize>,
    /// Letters of the word as written (for the typo rule: 5 or more).
    pub letters: usize,
    /// Its position among the words, stop words counted (for phrases).
    pub pos: usize,
}

/// The terms of `text`, in order, with their places.
pub fn analyse(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut s = analyzer.token_stream(text);
    while s.advance() {
        let t = s.token();
        let at = t.offset_from..t.offset_to;
        let letters = text.get(at.clone()).map_or(0, |w| w.chars().count());
        out.push(Word { term: t.text.clone(), at, letters, pos: t.position });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        analyse(&mut french(), text).into_iter().map(|w| w.term).collect()
    }

    #[test]
    fn accents_case_and_plural_meet() {
        let one = terms("réseau");
        assert_eq!(one.len(), 1);
        assert_eq!(terms("reseaux"), one);
        assert_eq!(terms("Réseaux"), one);
        assert_eq!(terms("RÉSEAU"), one);
    }

    #[test]
    fn stemming_joins_forms_of_a_word() {
        assert_eq!(terms("études"), terms("etude"));
        assert_eq!(terms("fractions"), terms("fraction"));
        assert_eq!(terms("sociaux"), terms("social"));
        assert_eq!(terms("programmation"), terms("programmations"));
        assert_ne!(terms("fraction"), terms("réseau"));
    }

    #[test]
    fn stop_words_go_with_or_without_accents() {
        assert_eq!(terms("le réseau et les élèves"), terms("reseau eleves"));
        assert!(terms("été").is_empty());
        assert!(terms("ete").is_empty());
        assert_eq!(terms("l'école"), terms("ecole"));
    }

    #[test]
    fn offsets_point_at_the_written_word() {
        let text = "Les Réseaux sociaux";
        let words = analyse(&mut french(), text);
        assert_eq!(&text[words[0].at.clone()], "Réseaux");
        assert_eq!(words[0].letters, 7);
        assert_eq!(&text[words[1].at.clone()], "sociaux");
    }

    #[test]
    fn long_runs_are_not_words() {
        let long = "a".repeat(200);
        assert!(terms(&long).is_empty());
    }
}
