//! The question bank of a Moodle backup (`questions.xml`) turned into structured
//! questions ([`preau_pack::quiz`]).
//!
//! Two layouts exist: before Moodle 4.0, `question_category/questions/question`; from
//! 4.0, `question_category/question_bank_entries/question_bank_entry/question_version/
//! question_versions/questions/question`, where a quiz slot names a bank entry and the
//! latest version is used unless the slot pins one.

use std::collections::HashMap;

use preau_pack::quiz::*;

use crate::xml::Element;

/// Where a file area of an HTML field is, to resolve its `@@PLUGINFILE@@` links.
#[derive(Debug, Clone)]
pub struct FileArea {
    pub contextid: String,
    pub component: String,
    pub filearea: String,
    pub itemid: String,
}

/// Turns a raw HTML field into safe HTML with resolved file links.
pub type Rewrite<'r> = &'r dyn Fn(&str, &FileArea) -> String;

#[derive(Debug)]
pub struct Category {
    pub name: String,
    pub parent: String,
    pub contextid: String,
}

/// One question element with the category it sits in.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub el: &'a Element,
    pub category: &'a str,
    /// Bank entry id (Moodle 4+), to pick the latest version.
    pub bank_entry: Option<&'a str>,
    pub version: i64,
}

#[derive(Debug, Default)]
pub struct Bank<'a> {
    pub categories: HashMap<String, Category>,
    pub by_id: HashMap<String, Entry<'a>>,
    /// bank entry id → question ids of its versions, with their version numbers.
    pub versions: HashMap<String, Vec<(i64, String)>>,
    /// Question ids in document order (every version).
    pub order: Vec<String>,
}

impl<'a> Bank<'a> {
    pub fn read(root: &'a Element) -> Bank<'a> {
        let mut bank = Bank::default();
        for cat in root.children_named("question_category") {
            let cid = cat.attr("id").unwrap_or_default().to_string();
            let cid_ref: &'a str = cat.attr("id").unwrap_or_default();
            bank.categories.insert(
                cid.clone(),
                Category { name: cat.text("name"), parent: cat.text("parent"), contextid: cat.text("contextid") },
            );
            for q in cat.all("questions/question") {
                bank.add(q, cid_ref, None, 0);
            }
            for be in cat.all("question_bank_entries/question_bank_entry") {
                let beid: &'a str = be.attr("id").unwrap_or_default();
                for qv in be.all("question_version/question_versions") {
                    let version = qv.int("version").unwrap_or(0);
                    for q in qv.all("questions/question") {
                        bank.add(q, cid_ref, Some(beid), version);
                    }
                }
            }
        }
        bank
    }

    fn add(&mut self, q: &'a Element, category: &'a str, bank_entry: Option<&'a str>, version: i64) {
        let id = q.attr("id").unwrap_or_default().to_string();
        if let Some(be) = bank_entry {
            self.versions.entry(be.to_string()).or_default().push((version, id.clone()));
        }
        self.order.push(id.clone());
        self.by_id.insert(id, Entry { el: q, category, bank_entry, version });
    }

    /// The question of a bank entry at a version (latest when `None`).
    pub fn entry_question(&self, bank_entry: &str, version: Option<i64>) -> Option<&str> {
        let versions = self.versions.get(bank_entry)?;
        match version {
            Some(v) => versions.iter().find(|(n, _)| *n == v).map(|(_, id)| id.as_str()),
            None => versions.iter().max_by_key(|(n, _)| *n).map(|(_, id)| id.as_str()),
        }
    }

    /// True for the question a bank entry resolves to by default (or any pre-4.0 question).
    pub fn is_latest(&self, qid: &str) -> bool {
        match self.by_id.get(qid).and_then(|e| e.bank_entry) {
            Some(be) => self.entry_question(be, None) == Some(qid),
            None => true,
        }
    }

    /// A subquestion of a cloze question (random questions are their own parent).
    pub fn is_child(&self, qid: &str) -> bool {
        self.by_id.get(qid).is_some_and(|e| {
            let p = e.el.text("parent");
            !p.is_empty() && p != "0" && p != qid
        })
    }

    /// `Parent/Child` names of a category, without Moodle's `top` root.
    pub fn category_path(&self, id: &str) -> String {
        let mut names = Vec::new();
        let mut cur = id.to_string();
        for _ in 0..64 {
            let Some(c) = self.categories.get(&cur) else { break };
            if c.name != "top" {
                names.push(c.name.clone());
            }
            if c.parent.is_empty() || c.parent == "0" {
                break;
            }
            cur = c.parent.clone();
        }
        names.reverse();
        names.join("/")
    }

    /// Questions directly in a category (and below it when `sub`), latest versions only,
    /// for resolving random questions.
    pub fn in_category(&self, cat: &str, sub: bool) -> Vec<&str> {
        let mut cats = vec![cat.to_string()];
        if sub {
            let mut i = 0;
            while i < cats.len() && cats.len() < 10_000 {
                let parent = cats[i].clone();
                for (id, c) in &self.categories {
                    if c.parent == parent && !cats.contains(id) {
                        cats.push(id.clone());
                    }
                }
                i += 1;
            }
        }
        self.order
            .iter()
            .filter(|id| {
                let e = &self.by_id[*id];
                cats.iter().any(|c| c == e.category)
                    && self.is_latest(id)
                    && !self.is_child(id)
                    && !matches!(e.el.text("qtype").as_str(), "random" | "description")
            })
            .map(String::as_str)
            .collect()
    }
}

/// Why a question could not become structured data.
#[derive(Debug, Clone)]
pub struct Unsupported(pub String);

/// The qtype names the box can play.
pub fn plugin_element<'e>(q: &'e Element, qtype: &str) -> Option<&'e Element> {
    q.child(&format!("plugin_qtype_{qtype}_question"))
}

/// Converts one question. `degraded` collects what was lost on the way.
pub fn convert(
    bank: &Bank<'_>,
    qid: &str,
    mark: Option<f64>,
    rewrite: Rewrite<'_>,
    degraded: &mut Vec<String>,
) -> Result<Question, Unsupported> {
    let entry = bank.by_id.get(qid).ok_or_else(|| Unsupported(format!("question {qid} is not in the backup")))?;
    let q = entry.el;
    let qtype = q.text("qtype");
    let ctx = bank.categories.get(entry.category).map(|c| c.contextid.clone()).unwrap_or_default();
    let area = |filearea: &str, itemid: &str| FileArea {
        contextid: ctx.clone(),
        component: "question".into(),
        filearea: filearea.into(),
        itemid: itemid.into(),
    };
    let html = |raw: &str, filearea: &str, itemid: &str| rewrite(raw, &area(filearea, itemid));
    let qa = |raw: &str, filearea: &str, itemid: &str| {
        rewrite(
            raw,
            &FileArea {
                contextid: ctx.clone(),
                component: format!("qtype_{qtype}"),
                filearea: filearea.into(),
                itemid: itemid.into(),
            },
        )
    };
    let plugin = plugin_element(q, &qtype);
    let answers = |p: Option<&Element>| -> Vec<(String, String, f64, String)> {
        p.map(|p| p.all("answers/answer"))
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let aid = a.attr("id").unwrap_or_default().to_string();
                (aid, a.text("answertext"), a.num("fraction").unwrap_or(0.0), a.text("feedback"))
            })
            .collect()
    };
    let combined = |opts: Option<&Element>| CombinedFeedback {
        correct_html: opts.map(|o| qa(&o.text("correctfeedback"), "correctfeedback", qid)).unwrap_or_default(),
        partially_correct_html: opts
            .map(|o| qa(&o.text("partiallycorrectfeedback"), "partiallycorrectfeedback", qid))
            .unwrap_or_default(),
        incorrect_html: opts.map(|o| qa(&o.text("incorrectfeedback"), "incorrectfeedback", qid)).unwrap_or_default(),
    };
    let mut text_html = html(&q.text("questiontext"), "questiontext", qid);
    let kind = match qtype.as_str() {
        "multichoice" => {
            let opts = plugin.and_then(|p| p.child("multichoice"));
            QuestionKind::MultiChoice(MultiChoice {
                single: opts.map(|o| o.flag("single")).unwrap_or(true),
                shuffle: opts.map(|o| o.flag("shuffleanswers")).unwrap_or(true),
                choices: answers(plugin)
                    .into_iter()
                    .map(|(aid, t, f, fb)| Choice {
                        text_html: html(&t, "answer", &aid),
                        fraction: f,
                        feedback_html: html(&fb, "answerfeedback", &aid),
                    })
                    .collect(),
                combined: combined(opts),
            })
        }
        "truefalse" => {
            let opts = plugin.and_then(|p| p.child("truefalse"));
            let all = answers(plugin);
            let true_id = opts.map(|o| o.text("trueanswer")).unwrap_or_default();
            let false_id = opts.map(|o| o.text("falseanswer")).unwrap_or_default();
            let find = |id: &str| all.iter().find(|(aid, ..)| aid == id);
            let t = find(&true_id).ok_or_else(|| Unsupported("truefalse without its true answer".into()))?;
            let f = find(&false_id);
            QuestionKind::TrueFalse(TrueFalse {
                correct: t.2 > 0.5,
                feedback_true_html: html(&t.3, "answerfeedback", &t.0),
                feedback_false_html: f.map(|f| html(&f.3, "answerfeedback", &f.0)).unwrap_or_default(),
            })
        }
        "shortanswer" => {
            let opts = plugin.and_then(|p| p.child("shortanswer"));
            QuestionKind::ShortAnswer(ShortAnswer {
                case_sensitive: opts.map(|o| o.flag("usecase")).unwrap_or(false),
                answers: answers(plugin)
                    .into_iter()
                    .map(|(aid, t, f, fb)| TextAnswer {
                        pattern: t,
                        fraction: f,
                        feedback_html: html(&fb, "answerfeedback", &aid),
                    })
                    .collect(),
            })
        }
        "numerical" => {
            let p = plugin.ok_or_else(|| Unsupported("numerical question without its data".into()))?;
            let records: HashMap<String, f64> = p
                .all("numerical_records/numerical_record")
                .into_iter()
                .map(|r| (r.text("answer"), r.num("tolerance").unwrap_or(0.0)))
                .collect();
            let opts = p.at("numerical_options/numerical_option");
            let units: Vec<Unit> = p
                .all("numerical_units/numerical_unit")
                .into_iter()
                .map(|u| Unit { name: u.text("unit"), multiplier: u.num("multiplier").unwrap_or(1.0) })
                .collect();
            QuestionKind::Numerical(Numerical {
                answers: answers(plugin)
                    .into_iter()
                    .map(|(aid, t, f, fb)| NumAnswer {
                        value: if t.trim() == "*" { None } else { t.trim().parse().ok() },
                        tolerance: records.get(&aid).copied().unwrap_or(0.0),
                        fraction: f,
                        feedback_html: html(&fb, "answerfeedback", &aid),
                    })
                    .collect(),
                unit_required: opts.map(|o| o.int("unitgradingtype").unwrap_or(0) != 0).unwrap_or(false)
                    && !units.is_empty(),
                unit_penalty: opts.and_then(|o| o.num("unitpenalty")).unwrap_or(0.0),
                units,
            })
        }
        "match" => {
            let p = plugin.ok_or_else(|| Unsupported("match question without its data".into()))?;
            let opts = p.child("matchoptions");
            QuestionKind::Match(Match {
                pairs: p
                    .all("matches/match")
                    .into_iter()
                    .map(|m| MatchPair {
                        stem_html: html(&m.text("questiontext"), "subquestion", m.attr("id").unwrap_or_default()),
                        answer: m.text("answertext"),
                    })
                    .collect(),
                shuffle: opts.map(|o| o.flag("shuffleanswers")).unwrap_or(true),
                combined: combined(opts),
            })
        }
        "essay" => {
            let opts = plugin.and_then(|p| p.child("essay"));
            let o = |name: &str| opts.map(|e| e.text(name)).unwrap_or_default();
            QuestionKind::Essay(Essay {
                response_format: o("responseformat"),
                template_html: crate::sanitize::clean(&o("responsetemplate")),
                grader_info_html: qa(&o("graderinfo"), "graderinfo", qid),
                min_words: o("minwordlimit").trim().parse().ok(),
                max_words: o("maxwordlimit").trim().parse().ok(),
                attachments: o("attachments").trim().parse::<i64>().map(|v| v.max(0) as u32).unwrap_or(0),
            })
        }
        "description" => QuestionKind::Description,
        "gapselect" | "ddwtos" => {
            let p = plugin.ok_or_else(|| Unsupported(format!("{qtype} question without its data")))?;
            let choices: Vec<GapChoice> =
                answers(plugin).into_iter().map(|(_, t, _, fb)| gap_choice(&qtype, t, &fb)).collect();
            let opts = p.child(&qtype);
            let (text, gaps) =
                number_gaps(&text_html, choices.len()).map_err(|e| Unsupported(format!("{qtype}: {e}")))?;
            text_html = text;
            let g = Gaps {
                choices,
                gaps,
                shuffle: opts.map(|o| o.flag("shuffleanswers")).unwrap_or(true),
                combined: combined(opts),
            };
            if qtype == "gapselect" { QuestionKind::GapSelect(g) } else { QuestionKind::DdWtos(g) }
        }
        "multianswer" => {
            let seq = plugin.map(|p| p.text("multianswer/sequence")).unwrap_or_default();
            let mut parts = Vec::new();
            for sub in seq.split(',').map(str::trim).filter(|s| !s.is_empty()).take(1000) {
                // A part is a plain question; a cloze or random part (possible only in a
                // forged backup) would recurse without end.
                let sub_type = bank.by_id.get(sub).map(|e| e.el.text("qtype")).unwrap_or_default();
                if matches!(sub_type.as_str(), "multianswer" | "random") {
                    return Err(Unsupported(format!("cloze part {sub} is itself a {sub_type} question")));
                }
                let subq = convert(bank, sub, None, rewrite, degraded)
                    .map_err(|e| Unsupported(format!("cloze part {sub}: {}", e.0)))?;
                if !matches!(
                    subq.kind,
                    QuestionKind::MultiChoice(_) | QuestionKind::ShortAnswer(_) | QuestionKind::Numerical(_)
                ) {
                    return Err(Unsupported(format!("cloze part of type {}", subq.kind.type_name())));
                }
                parts.push(ClozePart { weight: subq.mark, kind: subq.kind });
            }
            if parts.is_empty() {
                return Err(Unsupported("cloze question without parts".into()));
            }
            QuestionKind::MultiAnswer(MultiAnswer { parts })
        }
        "random" => {
            let sub = q.text("questiontext").trim() == "1";
            let candidates = bank.in_category(entry.category, sub);
            random_from(bank, entry.category, sub, &candidates, rewrite, degraded)?
        }
        other => return Err(Unsupported(unsupported_reason(other))),
    };
    Ok(Question {
        id: format!("q{qid}"),
        name: q.text("name"),
        text_html,
        category: bank.category_path(entry.category),
        mark: mark.unwrap_or_else(|| q.num("defaultmark").unwrap_or(1.0)),
        general_feedback_html: html(&q.text("generalfeedback"), "generalfeedback", qid),
        kind,
    })
}

/// A random slot: every candidate question that converts, drawn by the box.
pub fn random_from(
    bank: &Bank<'_>,
    category: &str,
    sub: bool,
    candidates: &[&str],
    rewrite: Rewrite<'_>,
    degraded: &mut Vec<String>,
) -> Result<QuestionKind, Unsupported> {
    let mut out = Vec::new();
    for c in candidates.iter().take(500) {
        match convert(bank, c, None, rewrite, degraded) {
            Ok(q) if !matches!(q.kind, QuestionKind::Random(_)) => out.push(q),
            Ok(_) => {}
            Err(e) => degraded.push(format!("random pool: question {c} left out ({})", e.0)),
        }
    }
    if out.is_empty() {
        return Err(Unsupported(format!(
            "random question: no playable question in category {:?} of this backup",
            bank.category_path(category)
        )));
    }
    Ok(QuestionKind::Random(Random {
        pool_category: bank.category_path(category),
        include_subcategories: sub,
        candidates: out,
    }))
}

pub fn unsupported_reason(qtype: &str) -> String {
    match qtype {
        "calculated" | "calculatedsimple" | "calculatedmulti" => {
            format!("{qtype}: values are computed from random datasets by Moodle; not supported offline yet")
        }
        "ddimageortext" | "ddmarker" => format!("{qtype}: drag and drop onto an image is not supported offline yet"),
        "stack" => "stack: needs the Maxima computer algebra system of the Moodle server".into(),
        other => format!("{other}: question type not supported offline"),
    }
}

/// ddwtos stores the group and `infinite` flag as a serialised PHP object in the
/// feedback field; gapselect stores the group number there.
fn gap_choice(qtype: &str, text: String, feedback: &str) -> GapChoice {
    if qtype == "gapselect" {
        return GapChoice { text, group: feedback.trim().parse().unwrap_or(1), infinite: false };
    }
    let group = feedback
        .split("\"draggroup\";")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .and_then(|g| g.parse().ok())
        .or_else(|| feedback.trim().parse().ok())
        .unwrap_or(1);
    GapChoice { text, group, infinite: feedback.contains("\"infinite\";b:1") }
}

/// Replaces Moodle's `[[n]]` (n = the right choice's number) with `[[1]]`, `[[2]]`… in
/// gap order, so that the text shown to pupils does not give the answer away. Returns the
/// new text and the right choice (0-based) of each gap.
pub fn number_gaps(text: &str, choices: usize) -> Result<(String, Vec<usize>), String> {
    let mut out = String::with_capacity(text.len());
    let mut gaps = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("]]") {
            Some(end) if end <= 4 && after[..end].chars().all(|c| c.is_ascii_digit()) && end > 0 => {
                let n: usize = after[..end].parse().map_err(|_| "bad gap number".to_string())?;
                if n == 0 || n > choices {
                    return Err(format!("gap [[{n}]] names no choice (there are {choices})"));
                }
                gaps.push(n - 1);
                out.push_str(&format!("[[{}]]", gaps.len()));
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("[[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    if gaps.is_empty() {
        return Err("no [[n]] gap in the text".into());
    }
    Ok((out, gaps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_renumbered() {
        let (t, g) = number_gaps("a [[3]] b [[1]] c [[x]]", 3).unwrap();
        assert_eq!(t, "a [[1]] b [[2]] c [[x]]");
        assert_eq!(g, vec![2, 0]);
        assert!(number_gaps("a [[4]]", 3).is_err());
        assert!(number_gaps("none", 3).is_err());
    }

    #[test]
    fn ddwtos_groups() {
        let c = gap_choice("ddwtos", "x".into(), r#"O:8:"stdClass":2:{s:9:"draggroup";s:1:"2";s:8:"infinite";b:1;}"#);
        assert_eq!((c.group, c.infinite), (2, true));
        assert_eq!(gap_choice("gapselect", "x".into(), "3").group, 3);
    }
}
