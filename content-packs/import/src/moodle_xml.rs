//! Moodle XML question exports (`<quiz><question type="…">…</quiz>`), and the quiz pack
//! that question files (this format and GIFT) become.
//!
//! Embedded files (`<file name=… encoding="base64">`) are decoded, bounded by the image
//! limit, stored under `files/`, and `@@PLUGINFILE@@/name` links point to them.
//! Cloze (multianswer) questions carry their parts in the text, in Moodle's
//! `{1:SHORTANSWER:=right#feedback~%50%half}` syntax, parsed by [`parse_cloze`].

use std::collections::HashMap;
use std::path::Path;

use preau_pack::SourceTree;
use preau_pack::course::{self, Activity, CourseOutline, Section};
use preau_pack::quiz::*;

use crate::error::{ImportError, Result};
use crate::report::{ImportReport, Status};
use crate::sanitize::{clean, escape, percent_decode, url_path};
use crate::xml::{self, Element};
use crate::{ImportLimits, Imported};

pub fn looks_like_quiz_xml(text: &str) -> bool {
    // Skip the declaration and comments; the first element must be <quiz>.
    let mut t = text;
    loop {
        t = t.trim_start();
        if let Some(rest) = t.strip_prefix("<?") {
            t = rest.split_once("?>").map(|x| x.1).unwrap_or("");
        } else if let Some(rest) = t.strip_prefix("<!--") {
            t = rest.split_once("-->").map(|x| x.1).unwrap_or("");
        } else {
            break;
        }
    }
    t.starts_with("<quiz>") || t.starts_with("<quiz ") || t.starts_with("<quiz\n")
}

pub fn import(src: &Path, limits: &ImportLimits) -> Result<Imported> {
    let bytes = crate::read_bounded(src, limits.max_xml_bytes, "Moodle XML file")?;
    let name = src.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let root = xml::parse(&bytes, &name, limits.max_xml_depth)?;
    if root.name != "quiz" {
        return Err(ImportError::Xml { what: name, detail: format!("root element is <{}>, not <quiz>", root.name) });
    }
    let title = src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "Questions".into());
    let mut report = ImportReport::new("moodle-xml");
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let questions = convert_all(&root, limits, &mut report, &mut files)?;
    let mut imported = quiz_pack("moodle-xml", &title, questions, report);
    for (path, data) in files {
        imported.tree.add_bytes(path, data);
    }
    imported.report.files = imported.tree.files.len() as u32;
    Ok(imported)
}

/// Converts every `<question>`; categories switch the current category.
pub fn convert_all(
    root: &Element,
    limits: &ImportLimits,
    report: &mut ImportReport,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<Vec<Question>> {
    let mut category = String::new();
    let mut out = Vec::new();
    for (i, q) in root.children_named("question").enumerate() {
        let qtype = q.attr("type").unwrap_or("").to_string();
        if qtype == "category" {
            let c = q.text("category/text");
            let c = c.trim_start_matches("$course$/").trim_start_matches("$system$/").trim_start_matches("$module$/");
            category = c.strip_prefix("top/").unwrap_or(c).to_string();
            if category == "top" {
                category.clear();
            }
            continue;
        }
        let name = q.text("name/text");
        let mut embedded =
            Embedded { dir: format!("files/q{}", i + 1), map: HashMap::new(), limits, report_skips: Vec::new() };
        match convert(q, &qtype, &format!("q{}", i + 1), &category, &mut embedded) {
            Ok(question) => {
                let st = if embedded.report_skips.is_empty() { Status::Imported } else { Status::Degraded };
                report.question(&qtype, &name, st, &embedded.report_skips.join("; "));
                for (path, data) in embedded.map.into_values() {
                    files.push((path, data));
                }
                out.push(question);
            }
            Err(why) => report.question(&qtype, &name, Status::Skipped, &why),
        }
    }
    Ok(out)
}

/// Files embedded in one question.
struct Embedded<'a> {
    dir: String,
    /// file name → (pack path, bytes)
    map: HashMap<String, (String, Vec<u8>)>,
    limits: &'a ImportLimits,
    report_skips: Vec<String>,
}

impl Embedded<'_> {
    /// The HTML of a text element (`<x format="html"><text>…</text><file…/></x>`), with
    /// its embedded files stored and linked. `prefix` leads to the pack root.
    fn html(&mut self, el: Option<&Element>) -> String {
        let Some(el) = el else { return String::new() };
        for f in el.children_named("file") {
            let name = f.attr("name").unwrap_or("").to_string();
            if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
                self.report_skips.push(format!("embedded file with a bad name {name:?}"));
                continue;
            }
            match base64_decode(&f.text, self.limits.max_image_bytes) {
                Ok(bytes) => {
                    let path = format!("{}/{}", self.dir, name);
                    self.map.insert(name, (path, bytes));
                }
                Err(e) => self.report_skips.push(format!("embedded file {name:?}: {e}")),
            }
        }
        let raw = el.text("text");
        let format = el.attr("format").unwrap_or("html");
        let html = if format == "html" || format == "moodle_auto_format" && raw.contains('<') {
            raw
        } else if format == "markdown" {
            crate::markdown::to_html(&raw)
        } else {
            escape(&raw).replace('\n', "<br>")
        };
        clean(&self.link(&html))
    }

    fn link(&self, html: &str) -> String {
        let mut out = String::new();
        let mut rest = html;
        while let Some(at) = rest.find("@@PLUGINFILE@@/") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 15..];
            let end = after.find(['"', '\'', '<', '>', ' ', '?', '#']).unwrap_or(after.len());
            let name = percent_decode(&after[..end]);
            match self.map.get(name.rsplit('/').next().unwrap_or(&name)) {
                Some((path, _)) => out.push_str(&format!("../{}", url_path(path))),
                None => out.push('#'),
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }
}

/// Decodes standard base64 (white space ignored), refusing more than `max` bytes.
pub fn base64_decode(s: &str, max: u64) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("invalid base64 character {:?}", b as char)),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            if out.len() as u64 > max {
                return Err(format!("larger than the image limit of {max} bytes"));
            }
        }
    }
    Ok(out)
}

fn fraction(a: &Element) -> f64 {
    a.attr("fraction").and_then(|f| f.trim().parse::<f64>().ok()).filter(|f| f.is_finite()).unwrap_or(0.0) / 100.0
}

fn yes(q: &Element, name: &str, default: bool) -> bool {
    match q.text(name).trim() {
        "" => default,
        v => matches!(v, "1" | "true"),
    }
}

fn convert(
    q: &Element,
    qtype: &str,
    id: &str,
    category: &str,
    files: &mut Embedded<'_>,
) -> std::result::Result<Question, String> {
    let combined = |files: &mut Embedded<'_>| CombinedFeedback {
        correct_html: files.html(q.child("correctfeedback")),
        partially_correct_html: files.html(q.child("partiallycorrectfeedback")),
        incorrect_html: files.html(q.child("incorrectfeedback")),
    };
    let mut text_html = files.html(q.child("questiontext"));
    let general_feedback_html = files.html(q.child("generalfeedback"));
    let answers: Vec<&Element> = q.children_named("answer").collect();
    let kind = match qtype {
        "multichoice" => QuestionKind::MultiChoice(MultiChoice {
            single: yes(q, "single", true),
            shuffle: yes(q, "shuffleanswers", true),
            choices: answers
                .iter()
                .map(|a| Choice {
                    text_html: files.html(Some(a)),
                    fraction: fraction(a),
                    feedback_html: files.html(a.child("feedback")),
                })
                .collect(),
            combined: combined(files),
        }),
        "truefalse" => {
            let find = |t: &str| answers.iter().find(|a| a.text("text").trim().eq_ignore_ascii_case(t)).copied();
            let t = find("true").ok_or("truefalse without a 'true' answer")?;
            let f = find("false");
            QuestionKind::TrueFalse(TrueFalse {
                correct: fraction(t) > 0.5,
                feedback_true_html: files.html(t.child("feedback")),
                feedback_false_html: files.html(f.and_then(|f| f.child("feedback"))),
            })
        }
        "shortanswer" => QuestionKind::ShortAnswer(ShortAnswer {
            case_sensitive: yes(q, "usecase", false),
            answers: answers
                .iter()
                .map(|a| TextAnswer {
                    pattern: a.text("text"),
                    fraction: fraction(a),
                    feedback_html: files.html(a.child("feedback")),
                })
                .collect(),
        }),
        "numerical" => {
            let units: Vec<Unit> = q
                .all("units/unit")
                .into_iter()
                .map(|u| Unit { name: u.text("unit_name"), multiplier: u.num("multiplier").unwrap_or(1.0) })
                .collect();
            QuestionKind::Numerical(Numerical {
                answers: answers
                    .iter()
                    .map(|a| {
                        let t = a.text("text");
                        NumAnswer {
                            value: if t.trim() == "*" { None } else { t.trim().parse().ok() },
                            tolerance: a.num("tolerance").unwrap_or(0.0).abs(),
                            fraction: fraction(a),
                            feedback_html: files.html(a.child("feedback")),
                        }
                    })
                    .collect(),
                unit_required: q.int("unitgradingtype").unwrap_or(0) != 0 && !units.is_empty(),
                unit_penalty: q.num("unitpenalty").unwrap_or(0.0),
                units,
            })
        }
        "match" => QuestionKind::Match(Match {
            pairs: q
                .children_named("subquestion")
                .map(|s| MatchPair { stem_html: files.html(Some(s)), answer: s.text("answer/text") })
                .collect(),
            shuffle: yes(q, "shuffleanswers", true),
            combined: combined(files),
        }),
        "essay" => QuestionKind::Essay(Essay {
            response_format: q.text("responseformat"),
            template_html: files.html(q.child("responsetemplate")),
            grader_info_html: files.html(q.child("graderinfo")),
            min_words: q.text("minwordlimit").trim().parse().ok(),
            max_words: q.text("maxwordlimit").trim().parse().ok(),
            attachments: q.int("attachments").map(|v| v.max(0) as u32).unwrap_or(0),
        }),
        "description" => QuestionKind::Description,
        "gapselect" | "ddwtos" => {
            let tag = if qtype == "gapselect" { "selectoption" } else { "dragbox" };
            let choices: Vec<GapChoice> = q
                .children_named(tag)
                .map(|c| GapChoice {
                    text: c.text("text"),
                    group: c.int("group").unwrap_or(1).max(1) as u32,
                    infinite: c.child("infinite").is_some(),
                })
                .collect();
            let (t, gaps) = crate::moodle::questions::number_gaps(&text_html, choices.len())
                .map_err(|e| format!("{qtype}: {e}"))?;
            text_html = t;
            let g = Gaps { choices, gaps, shuffle: yes(q, "shuffleanswers", true), combined: combined(files) };
            if qtype == "gapselect" { QuestionKind::GapSelect(g) } else { QuestionKind::DdWtos(g) }
        }
        "cloze" | "multianswer" => {
            let (t, parts) = parse_cloze(&text_html)?;
            text_html = t;
            QuestionKind::MultiAnswer(MultiAnswer { parts })
        }
        other => return Err(crate::moodle::questions::unsupported_reason(other)),
    };
    Ok(Question {
        id: id.into(),
        name: q.text("name/text"),
        text_html,
        category: category.into(),
        mark: q.num("defaultgrade").unwrap_or(1.0),
        general_feedback_html,
        kind,
    })
}

/// Finds the `{n:TYPE:answers}` parts of a cloze text; returns the text with `{#1}`,
/// `{#2}`… in their place, and the parts.
pub fn parse_cloze(text: &str) -> std::result::Result<(String, Vec<ClozePart>), String> {
    let mut out = String::new();
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(part) = cloze_part(after) else {
            out.push_str(&rest[..=open]);
            rest = after;
            continue;
        };
        let (len, p) = part?;
        out.push_str(&rest[..open]);
        parts.push(p);
        out.push_str(&format!("{{#{}}}", parts.len()));
        rest = &after[len + 1..];
        if parts.len() > 1000 {
            return Err("more than 1000 cloze parts".into());
        }
    }
    out.push_str(rest);
    if parts.is_empty() {
        return Err("cloze question without any {n:TYPE:…} part".into());
    }
    Ok((out, parts))
}

/// Parses one part after its `{`; `None` when the brace does not open a cloze part.
/// Returns the length up to the closing `}`.
#[allow(clippy::type_complexity)]
fn cloze_part(s: &str) -> Option<std::result::Result<(usize, ClozePart), String>> {
    let (weight, rest) = s.split_once(':')?;
    if !weight.chars().all(|c| c.is_ascii_digit()) || weight.len() > 4 {
        return None;
    }
    let (ty, body_start) = rest.split_once(':')?;
    let ty_upper = ty.to_ascii_uppercase();
    let known = [
        "SHORTANSWER",
        "SA",
        "MW",
        "SHORTANSWER_C",
        "SAC",
        "MWC",
        "NUMERICAL",
        "NM",
        "MULTICHOICE",
        "MC",
        "MULTICHOICE_V",
        "MCV",
        "MULTICHOICE_H",
        "MCH",
        "MULTIRESPONSE",
        "MR",
        "MULTIRESPONSE_H",
        "MRH",
        "MULTICHOICE_S",
        "MCS",
        "MULTICHOICE_VS",
        "MCVS",
        "MULTICHOICE_HS",
        "MCHS",
        "MULTIRESPONSE_S",
        "MRS",
        "MULTIRESPONSE_HS",
        "MRHS",
    ];
    if !known.contains(&ty_upper.as_str()) {
        return None;
    }
    // The body ends at the first unescaped `}`.
    let bytes = body_start.as_bytes();
    let mut i = 0;
    let end = loop {
        if i >= bytes.len() {
            return Some(Err(format!("cloze part {{{weight}:{ty}:… is never closed")));
        }
        match bytes[i] {
            b'\\' => i += 2,
            b'}' => break i,
            _ => i += 1,
        }
    };
    let body = &body_start[..end];
    let len = weight.len() + 1 + ty.len() + 1 + end;
    let weight = if weight.is_empty() { 1.0 } else { weight.parse().unwrap_or(1.0) };
    let mut answers: Vec<(f64, String, String)> = Vec::new();
    for a in split_unescaped(body, '~') {
        let a = a.trim();
        if a.is_empty() {
            continue;
        }
        let (frac, rest) = if let Some(r) = a.strip_prefix('=') {
            (1.0, r)
        } else if let Some(r) = a.strip_prefix('%') {
            match r.split_once('%') {
                Some((p, r)) => match p.parse::<f64>() {
                    Ok(p) if p.is_finite() => (p / 100.0, r),
                    _ => return Some(Err(format!("bad weight %{p}% in cloze part"))),
                },
                None => return Some(Err("unclosed % weight in cloze part".into())),
            }
        } else {
            (0.0, a)
        };
        let mut pieces = split_unescaped(rest, '#').into_iter();
        let text = unescape_cloze(&pieces.next().unwrap_or_default());
        let fb = unescape_cloze(&pieces.collect::<Vec<_>>().join("#"));
        answers.push((frac, text, fb));
    }
    if answers.is_empty() {
        return Some(Err(format!("cloze part {{{ty}}} has no answer")));
    }
    let kind = match ty_upper.as_str() {
        "NUMERICAL" | "NM" => {
            let mut v = Vec::new();
            for (fraction, text, fb) in answers {
                let (value, tolerance) = match text.split_once(':') {
                    Some((a, t)) => (a.trim().parse::<f64>().ok(), t.trim().parse::<f64>().unwrap_or(0.0).abs()),
                    None => (text.trim().parse::<f64>().ok(), 0.0),
                };
                if value.is_none() && text.trim() != "*" {
                    return Some(Err(format!("bad number {text:?} in a NUMERICAL cloze part")));
                }
                v.push(NumAnswer { value, tolerance, fraction, feedback_html: clean(&fb) });
            }
            QuestionKind::Numerical(Numerical { answers: v, units: vec![], unit_required: false, unit_penalty: 0.0 })
        }
        t if t.starts_with('S') || t.starts_with("MW") => QuestionKind::ShortAnswer(ShortAnswer {
            case_sensitive: t.ends_with('C'),
            answers: answers
                .into_iter()
                .map(|(fraction, text, fb)| TextAnswer { pattern: text, fraction, feedback_html: clean(&fb) })
                .collect(),
        }),
        t => QuestionKind::MultiChoice(MultiChoice {
            single: !t.starts_with("MR") && !t.starts_with("MULTIRESPONSE"),
            shuffle: t.ends_with('S'),
            choices: answers
                .into_iter()
                .map(|(fraction, text, fb)| Choice { text_html: clean(&text), fraction, feedback_html: clean(&fb) })
                .collect(),
            combined: CombinedFeedback::default(),
        }),
    };
    Some(Ok((len, ClozePart { weight, kind })))
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.last_mut().expect("non-empty").push(c);
            if let Some(n) = chars.next() {
                out.last_mut().expect("non-empty").push(n);
            }
        } else if c == sep {
            out.push(String::new());
        } else {
            out.last_mut().expect("non-empty").push(c);
        }
    }
    out
}

fn unescape_cloze(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| "~#}{/\"\\".contains(*n)) {
            out.push(chars.next().expect("peeked"));
        } else {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// A pack with one quiz: a home page listing it by category, the quiz data, an outline.
pub fn quiz_pack(kind: &str, title: &str, questions: Vec<Question>, mut report: ImportReport) -> Imported {
    let id = "quiz".to_string();
    let quiz = Quiz {
        format: QUIZ_FORMAT,
        id: id.clone(),
        title: title.into(),
        intro_html: String::new(),
        questions,
        max_grade: 10.0,
        attempts_allowed: None,
        time_limit_secs: None,
        shuffle_questions: false,
        grade_method: Default::default(),
        review: None,
        overall_feedback: Vec::new(),
    };
    let mut cats: Vec<String> = quiz.questions.iter().map(|q| q.category.clone()).filter(|c| !c.is_empty()).collect();
    cats.dedup();
    let mut body =
        format!("<p>{} question(s).</p>\n<p><a href=\"_quiz/{id}\">Commencer le test</a></p>\n", quiz.questions.len());
    if !cats.is_empty() {
        body.push_str("<h2>Catégories</h2>\n<ul>\n");
        for c in &cats {
            body.push_str(&format!("<li>{}</li>\n", escape(c)));
        }
        body.push_str("</ul>\n");
    }
    let mut tree = SourceTree::default();
    tree.add_bytes("index.html", crate::render::page(title, "fr", &[], &body));
    tree.add_bytes(course::quiz_path(&id), serde_json::to_vec_pretty(&quiz).expect("serialisable"));
    let outline = CourseOutline {
        title: title.into(),
        summary_html: String::new(),
        sections: vec![Section {
            title: title.into(),
            summary_html: String::new(),
            activities: vec![Activity {
                id: id.clone(),
                kind: "quiz".into(),
                title: title.into(),
                path: format!("_quiz/{id}"),
                available_offline: true,
            }],
        }],
    };
    tree.add_bytes(course::COURSE_PATH, serde_json::to_vec_pretty(&outline).expect("serialisable"));
    report.title = title.into();
    report.pages = 1;
    report.files = tree.files.len() as u32 + 1;
    tree.add_bytes(course::IMPORT_REPORT_PATH, report.to_json());
    tree.meta.title = title.into();
    tree.meta.kind = kind.into();
    tree.meta.entry = "index.html".into();
    tree.meta.subjects = cats;
    tree.meta.id = preau_pack::path::slugify_id(title);
    Imported { tree, report }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloze_syntax() {
        let (t, parts) = parse_cloze(
            "I am a {1:MULTICHOICE:=Human#OK~Fish#Wrong}. {2:NUMERICAL:=42:0.5#yes} {1:SAC:=Chat~%50%chat} {not a part}",
        )
        .unwrap();
        assert_eq!(t, "I am a {#1}. {#2} {#3} {not a part}");
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].weight, 2.0);
        let QuestionKind::MultiChoice(mc) = &parts[0].kind else { panic!() };
        assert!(mc.single);
        assert_eq!(mc.choices[0].feedback_html, "OK");
        let QuestionKind::Numerical(n) = &parts[1].kind else { panic!() };
        assert_eq!((n.answers[0].value, n.answers[0].tolerance), (Some(42.0), 0.5));
        let QuestionKind::ShortAnswer(sa) = &parts[2].kind else { panic!() };
        assert!(sa.case_sensitive);
        assert!(parse_cloze("{1:SA:=x").is_err());
        assert!(parse_cloze("nothing").is_err());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVs\nbG8=", 100).unwrap(), b"hello");
        assert!(base64_decode("aGVsbG8=", 3).is_err());
        assert!(base64_decode("a*b", 100).is_err());
    }

    #[test]
    fn detects_quiz_root() {
        assert!(looks_like_quiz_xml("<?xml version=\"1.0\"?>\n<!-- x -->\n<quiz>"));
        assert!(!looks_like_quiz_xml("<html>"));
    }
}
