//! GIFT question files (Moodle's `question/format/gift/format.php` grammar).
//!
//! A file is a list of questions separated by blank lines; `//` lines are comments and
//! `$CATEGORY: path` switches the category. A question is
//! `::title::[format] text {answers} more text`, where `\` escapes `~ = # { } :`.
//! The answer block decides the type, in Moodle's order: empty → essay; starts with `#`
//! → numerical; holds `~` → multichoice (single when some answer starts with `=`);
//! holds `=` and `->` → match; `T`/`F`/`TRUE`/`FALSE` → truefalse; else shortanswer.
//! No answer block → description. `####` starts the general feedback. Text around the
//! block ("missing word") is kept with a blank in its place.

use std::path::Path;

use preau_pack::quiz::*;

use crate::error::{ImportError, Result};
use crate::report::{ImportReport, Status};
use crate::sanitize::{clean, escape};
use crate::{ImportLimits, Imported};

/// Most questions read from one file.
pub const MAX_QUESTIONS: usize = 10_000;

/// A cheap content test: text with a GIFT answer block or category line.
pub fn looks_like_gift(text: &str) -> bool {
    text.lines().any(|l| l.trim_start().starts_with("$CATEGORY:"))
        || (text.contains('{') && text.contains('}'))
        || text.trim_start().starts_with("::")
}

/// A parsed question and the category it was under.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub question: Question,
    pub line: usize,
}

pub fn import(src: &Path, limits: &ImportLimits) -> Result<Imported> {
    let bytes = crate::read_bounded(src, limits.max_xml_bytes, "GIFT file")?;
    let text =
        String::from_utf8(bytes).map_err(|e| ImportError::Gift { line: 0, detail: format!("not UTF-8: {e}") })?;
    let title = src.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "Questions".into());
    let parsed = parse(&text)?;
    let mut report = ImportReport::new("gift");
    let questions: Vec<Question> = parsed.into_iter().map(|p| p.question).collect();
    for q in &questions {
        report.question(q.kind.type_name(), &q.name, Status::Imported, "");
    }
    if text.contains("@@PLUGINFILE@@") {
        report.warn("le fichier appelle des images @@PLUGINFILE@@ qu'un export GIFT ne contient pas : elles sont omises / the file refers to @@PLUGINFILE@@ images that a GIFT export does not contain; they are left out");
    }
    Ok(crate::moodle_xml::quiz_pack("gift", &title, questions, report))
}

fn err(line: usize, detail: impl Into<String>) -> ImportError {
    ImportError::Gift { line, detail: detail.into() }
}

/// Parses a whole GIFT text.
pub fn parse(text: &str) -> Result<Vec<Parsed>> {
    let mut out = Vec::new();
    let mut category = String::new();
    let mut block = String::new();
    let mut block_line = 0;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.push("");
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("//") {
            continue;
        }
        if trimmed.is_empty() {
            if !block.trim().is_empty()
                && let Some(q) = parse_block(&block, block_line, &mut category, out.len())?
            {
                out.push(Parsed { question: q, line: block_line });
                if out.len() > MAX_QUESTIONS {
                    return Err(ImportError::limit("GIFT questions", format!("more than {MAX_QUESTIONS}")));
                }
            }
            block.clear();
            continue;
        }
        if block.is_empty() {
            block_line = i + 1;
        }
        block.push_str(line);
        block.push('\n');
    }
    Ok(out)
}

/// Index of the first unescaped occurrence of `pat` at or after `from`.
fn find_unescaped(s: &str, pat: &str, from: usize) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < from) {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if s[i..].starts_with(pat) {
            return Some(i);
        }
    }
    None
}

/// Removes GIFT escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some(&n) if "~=#{}:\\".contains(n) => {
                    out.push(n);
                    chars.next();
                }
                Some('n') => {
                    out.push('\n');
                    chars.next();
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Text with an optional `[format]` prefix, as safe HTML.
fn to_html(raw: &str, format: &str) -> String {
    let text = unescape(raw.trim());
    match format {
        "html" => clean(&text),
        "markdown" => clean(&crate::markdown::to_html(&text)),
        _ => escape(&text).replace('\n', "<br>"),
    }
}

fn split_format(s: &str) -> (&str, &str) {
    let t = s.trim_start();
    for f in ["html", "moodle", "plain", "markdown"] {
        let tag = format!("[{f}]");
        if let Some(rest) = t.strip_prefix(&tag) {
            return (f, rest);
        }
    }
    ("moodle", s)
}

fn parse_block(block: &str, line: usize, category: &mut String, index: usize) -> Result<Option<Question>> {
    let trimmed = block.trim();
    if let Some(cat) = trimmed.strip_prefix("$CATEGORY:") {
        let path = cat.trim().trim_start_matches("$course$/").trim_start_matches("$system$/");
        let path = path.strip_prefix("top/").unwrap_or(path);
        *category = path.to_string();
        return Ok(None);
    }
    let mut rest = trimmed;
    let mut name = String::new();
    if rest.starts_with("::") {
        let end = find_unescaped(rest, "::", 2).ok_or_else(|| err(line, "title opened with :: but never closed"))?;
        name = unescape(rest[2..end].trim());
        rest = &rest[end + 2..];
    }
    let (format, rest) = split_format(rest);
    let open = find_unescaped(rest, "{", 0);
    let (text_raw, answer, after) = match open {
        None => (rest.to_string(), None, String::new()),
        Some(o) => {
            let close = find_unescaped(rest, "}", o + 1)
                .ok_or_else(|| err(line, "answer block opened with { but never closed with }"))?;
            let after = rest[close + 1..].trim().to_string();
            (rest[..o].to_string(), Some(rest[o + 1..close].to_string()), after)
        }
    };
    let mut text_raw = text_raw;
    if !after.is_empty() {
        text_raw = format!("{} _____ {}", text_raw.trim_end(), after);
    }
    if name.is_empty() {
        name = unescape(text_raw.trim()).chars().take(60).collect();
    }
    let text_html = to_html(&text_raw, format);
    let mut general = String::new();
    let kind = match answer {
        None => QuestionKind::Description,
        Some(ans) => {
            let mut ans = ans;
            if let Some(g) = find_unescaped(&ans, "####", 0) {
                general = to_html(&ans[g + 4..], format);
                ans.truncate(g);
            }
            answer_kind(&ans, format, line)?
        }
    };
    Ok(Some(Question {
        id: format!("q{}", index + 1),
        name,
        text_html,
        category: category.clone(),
        mark: 1.0,
        general_feedback_html: general,
        kind,
    }))
}

/// Splits an answer block into answers starting with one of `markers` (kept).
fn split_answers(ans: &str, markers: &[&str]) -> Vec<String> {
    let mut starts: Vec<usize> = Vec::new();
    let mut escaped = false;
    for (i, c) in ans.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        // `=` right after `-` would be part of an arrow-like text, never a marker.
        if markers.iter().any(|m| ans[i..].starts_with(m)) && !ans[..i].ends_with('-') {
            starts.push(i);
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, s)| ans[*s..starts.get(k + 1).copied().unwrap_or(ans.len())].to_string())
        .collect()
}

/// `%50%text#feedback` → (fraction, text, feedback)
fn weight_and_feedback(body: &str, default: f64, line: usize) -> Result<(f64, String, String)> {
    let mut body = body.trim();
    let mut fraction = default;
    if let Some(rest) = body.strip_prefix('%') {
        let end = rest.find('%').ok_or_else(|| err(line, format!("weight {body:?} has no closing %")))?;
        let pct: f64 = rest[..end].trim().parse().map_err(|_| err(line, format!("bad weight %{}%", &rest[..end])))?;
        if !(-100.0..=100.0).contains(&pct) {
            return Err(err(line, format!("weight {pct}% outside -100..100")));
        }
        fraction = pct / 100.0;
        body = &rest[end + 1..];
    }
    let (text, feedback) = match find_unescaped(body, "#", 0) {
        Some(h) => (&body[..h], &body[h + 1..]),
        None => (body, ""),
    };
    Ok((fraction, text.trim().to_string(), feedback.trim().to_string()))
}

fn answer_kind(ans: &str, format: &str, line: usize) -> Result<QuestionKind> {
    let t = ans.trim();
    let has = |p: &str| find_unescaped(t, p, 0).is_some();
    if t.is_empty() {
        return Ok(QuestionKind::Essay(Essay { response_format: "editor".into(), ..Default::default() }));
    }
    if let Some(num) = t.strip_prefix('#') {
        return numerical(num, line);
    }
    if has("~") {
        let single = has("=");
        let mut choices = Vec::new();
        for a in split_answers(t, &["~", "="]) {
            let right = a.starts_with('=');
            let (fraction, text, fb) = weight_and_feedback(&a[1..], if right { 1.0 } else { 0.0 }, line)?;
            choices.push(Choice { text_html: to_html(&text, format), fraction, feedback_html: to_html(&fb, format) });
        }
        if !choices.iter().any(|c| c.fraction > 0.0) {
            return Err(err(line, "multiple choice without any right answer"));
        }
        return Ok(QuestionKind::MultiChoice(MultiChoice {
            single,
            shuffle: true,
            choices,
            combined: CombinedFeedback::default(),
        }));
    }
    if has("=") && has("->") {
        let mut pairs = Vec::new();
        for a in split_answers(t, &["="]) {
            let body = &a[1..];
            let arrow =
                find_unescaped(body, "->", 0).ok_or_else(|| err(line, format!("match pair {body:?} without ->")))?;
            pairs.push(MatchPair {
                stem_html: to_html(&body[..arrow], format),
                answer: unescape(body[arrow + 2..].trim()),
            });
        }
        if pairs.iter().filter(|p| !p.stem_html.is_empty()).count() < 2 {
            return Err(err(line, "a matching question needs at least two pairs"));
        }
        return Ok(QuestionKind::Match(Match { pairs, shuffle: true, combined: CombinedFeedback::default() }));
    }
    let (head, feedbacks) = match find_unescaped(t, "#", 0) {
        Some(h) => (&t[..h], &t[h + 1..]),
        None => (t, ""),
    };
    if let Some(value) = match head.trim() {
        "T" | "TRUE" => Some(true),
        "F" | "FALSE" => Some(false),
        _ => None,
    } {
        // `{T#shown when wrong#shown when right}`
        let (wrong, right) = match find_unescaped(feedbacks, "#", 0) {
            Some(h) => (&feedbacks[..h], &feedbacks[h + 1..]),
            None => (feedbacks, ""),
        };
        let (wrong, right) = (to_html(wrong, format), to_html(right, format));
        let (fb_true, fb_false) = if value { (right, wrong) } else { (wrong, right) };
        return Ok(QuestionKind::TrueFalse(TrueFalse {
            correct: value,
            feedback_true_html: fb_true,
            feedback_false_html: fb_false,
        }));
    }
    let mut answers = Vec::new();
    for a in split_answers(t, &["="]) {
        let (fraction, text, fb) = weight_and_feedback(&a[1..], 1.0, line)?;
        answers.push(TextAnswer { pattern: unescape(&text), fraction, feedback_html: to_html(&fb, format) });
    }
    if answers.is_empty() {
        return Err(err(
            line,
            format!("cannot tell the question type of the answer block {{{}}}", t.chars().take(60).collect::<String>()),
        ));
    }
    Ok(QuestionKind::ShortAnswer(ShortAnswer { case_sensitive: false, answers }))
}

/// `value:tolerance`, `min..max` or `value`.
fn num_answer(s: &str, line: usize) -> Result<(f64, f64)> {
    let s = s.trim();
    let p = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| err(line, format!("bad number {x:?} in numerical answer")))
    };
    if let Some((a, b)) = s.split_once("..") {
        let (lo, hi) = (p(a)?, p(b)?);
        return Ok(((lo + hi) / 2.0, (hi - lo).abs() / 2.0));
    }
    if let Some((v, t)) = s.split_once(':') {
        return Ok((p(v)?, p(t)?.abs()));
    }
    Ok((p(s)?, 0.0))
}

fn numerical(body: &str, line: usize) -> Result<QuestionKind> {
    let body = body.trim();
    let mut answers = Vec::new();
    if body.starts_with('=') || body.starts_with('~') {
        for a in split_answers(body, &["=", "~"]) {
            let right = a.starts_with('=');
            let (fraction, text, fb) = weight_and_feedback(&a[1..], if right { 1.0 } else { 0.0 }, line)?;
            let (value, tolerance) = num_answer(&text, line)?;
            answers.push(NumAnswer { value: Some(value), tolerance, fraction, feedback_html: to_html(&fb, "moodle") });
        }
    } else {
        let (_, text, fb) = weight_and_feedback(body, 1.0, line)?;
        let (value, tolerance) = num_answer(&text, line)?;
        answers.push(NumAnswer { value: Some(value), tolerance, fraction: 1.0, feedback_html: to_html(&fb, "moodle") });
    }
    Ok(QuestionKind::Numerical(Numerical { answers, units: Vec::new(), unit_required: false, unit_penalty: 0.0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Question {
        let mut v = parse(src).unwrap();
        assert_eq!(v.len(), 1, "{src}");
        v.remove(0).question
    }

    #[test]
    fn types_follow_moodle_rules() {
        assert!(matches!(one("Q{~a =b}").kind, QuestionKind::MultiChoice(MultiChoice { single: true, .. })));
        let QuestionKind::MultiChoice(mc) = one("Q{~%50%a ~%50%b ~%-100%c}").kind else { panic!() };
        assert!(!mc.single);
        assert_eq!(mc.choices.iter().map(|c| c.fraction).collect::<Vec<_>>(), vec![0.5, 0.5, -1.0]);
        assert!(matches!(one("Q{=a =b}").kind, QuestionKind::ShortAnswer(_)));
        assert!(matches!(one("Q{=a -> b =c -> d}").kind, QuestionKind::Match(_)));
        assert!(matches!(one("Q{T}").kind, QuestionKind::TrueFalse(TrueFalse { correct: true, .. })));
        assert!(matches!(one("Q{FALSE}").kind, QuestionKind::TrueFalse(TrueFalse { correct: false, .. })));
        assert!(matches!(one("Q{}").kind, QuestionKind::Essay(_)));
        assert!(matches!(one("Just text").kind, QuestionKind::Description));
        let QuestionKind::Numerical(n) = one("Q{#1..5}").kind else { panic!() };
        assert_eq!((n.answers[0].value, n.answers[0].tolerance), (Some(3.0), 2.0));
    }

    #[test]
    fn escapes_feedback_titles_and_missing_words() {
        let q = one("::T\\:1::Grant is {~buried#No =entombed#Yes\\# ok ####Gen} in \\{Grant's\\} tomb.");
        assert_eq!(q.name, "T:1");
        assert_eq!(q.text_html, "Grant is _____ in {Grant&#39;s} tomb.");
        assert_eq!(q.general_feedback_html, "Gen");
        let QuestionKind::MultiChoice(mc) = q.kind else { panic!() };
        assert_eq!(mc.choices[1].feedback_html, "Yes# ok");
        let m = score(&one("Q{=a\\=b}"), &Response::Text { text: "a=b".into() });
        assert_eq!(m.fraction, Some(1.0));
    }

    #[test]
    fn truefalse_feedback_order() {
        let QuestionKind::TrueFalse(tf) = one("Q{TRUE#wrong fb#right fb}").kind else { panic!() };
        assert_eq!((tf.feedback_true_html.as_str(), tf.feedback_false_html.as_str()), ("right fb", "wrong fb"));
    }

    #[test]
    fn categories_and_comments() {
        let v = parse("// c\n$CATEGORY: $course$/top/A/B\n\n::x::Q{T}\n\n// question: 1 name: stub\n\n").unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].question.category, "A/B");
    }

    #[test]
    fn errors_name_the_line() {
        for (src, needle) in [
            ("\n\nQ{~a ~b", "never closed"),
            ("::T Q{T}", "title"),
            ("Q{~%abc%a =b}", "bad weight"),
            ("Q{#abc}", "bad number"),
            ("Q{~a ~b}", "without any right answer"),
        ] {
            let e = parse(src).unwrap_err().to_string();
            assert!(e.contains(needle), "{src}: {e}");
            assert!(e.contains("line"), "{e}");
        }
        assert!(parse("\n\nQ{~a ~b").unwrap_err().to_string().contains("line 3"));
    }
}
