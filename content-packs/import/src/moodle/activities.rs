//! One Moodle activity (`activities/<module>_<cmid>/`) becomes a page, an inline block of
//! the course page (label), a structured quiz, an assignment, or a "not available
//! offline" page. Nothing is dropped silently: every activity is counted in the report.

use std::collections::HashSet;

use preau_pack::SourceTree;
use preau_pack::course::{self, Activity, Assignment, Section};
use preau_pack::quiz::{GradeMethod, QUIZ_FORMAT, Question, Quiz, ReviewOptions};

use super::files::Files;
use super::questions::{self, Bank, FileArea};
use crate::ImportLimits;
use crate::archive::Archive;
use crate::error::Result;
use crate::render::{self, page};
use crate::report::{ImportReport, Status};
use crate::sanitize::{escape, url_path};
use crate::xml::Element;

pub struct Ctx<'a> {
    pub archive: &'a Archive,
    pub limits: &'a ImportLimits,
    pub files: &'a Files,
    pub bank: &'a Bank<'a>,
    pub report: &'a mut ImportReport,
    pub tree: &'a mut SourceTree,
    pub lang: &'a str,
    pub course_title: &'a str,
    /// Question ids that ended up in some quiz.
    pub used_questions: HashSet<String>,
    /// Rendered activity pages (path, title, body), laid out once the course order is
    /// known so that each can link to the previous and next page.
    pub pages: Vec<(String, String, String)>,
}

pub struct Done {
    pub activity: Activity,
    /// HTML shown in the section itself (labels).
    pub inline_html: Option<String>,
}

/// Where an activity lives in the pack, from the pack root.
pub fn pack_path(modname: &str, cmid: &str) -> String {
    match modname {
        "quiz" => format!("_quiz/quiz-{cmid}"),
        "assign" => format!("_assign/assign-{cmid}"),
        "label" => format!("index.html#m{cmid}"),
        _ => format!("activities/{modname}-{cmid}.html"),
    }
}

fn french_kind(modname: &str) -> &str {
    match modname {
        "page" => "page",
        "label" => "étiquette",
        "url" => "lien",
        "resource" => "fichier",
        "folder" => "dossier",
        "book" => "livre",
        "quiz" => "test",
        "assign" => "devoir",
        "forum" => "forum",
        "lesson" => "leçon",
        "h5pactivity" | "hvp" => "H5P",
        "studentquiz" => "StudentQuiz",
        other => other,
    }
}

/// The section block of the course page.
pub fn section_html(section: &Section, inline: &[String]) -> String {
    let mut out =
        format!("<section class=\"section\">\n<h2>{}</h2>\n{}\n", escape(&section.title), section.summary_html);
    if !inline.is_empty() {
        out.push_str(&inline.join("\n"));
    }
    let listed: Vec<&Activity> = section.activities.iter().filter(|a| a.kind != "label").collect();
    if !listed.is_empty() {
        out.push_str("<ul class=\"activites\">\n");
        for a in listed {
            let mark = if a.available_offline {
                String::new()
            } else {
                format!(" — non disponible hors ligne : {}", course::offline_reason_fr(&a.kind))
            };
            out.push_str(&format!(
                "<li><a href=\"{}\">{}</a><span class=\"type\">{}{}</span></li>\n",
                url_path(&a.path),
                escape(&a.title),
                escape(french_kind(&a.kind)),
                escape(&mark)
            ));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out
}

/// Writes the activity pages with "Retour au cours", "Précédent" and "Suivant" links,
/// in course order, and the section each belongs to.
pub fn write_pages(tree: &mut SourceTree, pages: Vec<(String, String, String)>, sections: &[Section], lang: &str) {
    let order: Vec<&str> = sections
        .iter()
        .flat_map(|s| s.activities.iter())
        .map(|a| a.path.as_str())
        .filter(|p| p.starts_with("activities/"))
        .collect();
    let section_of =
        |path: &str| sections.iter().find(|s| s.activities.iter().any(|a| a.path == path)).map(|s| s.title.clone());
    for (path, title, body) in pages {
        let mut nav: Vec<render::NavLink> = vec![("../index.html".to_string(), "← Retour au cours".to_string())];
        if let Some(pos) = order.iter().position(|p| *p == path) {
            if pos > 0 {
                nav.push((format!("../{}", url_path(order[pos - 1])), "Précédent".to_string()));
            }
            if let Some(next) = order.get(pos + 1) {
                nav.push((format!("../{}", url_path(next)), "Suivant →".to_string()));
            }
        }
        let body = match section_of(&path) {
            Some(s) => format!("<p class=\"type\">Section : {}</p>\n{body}", escape(&s)),
            None => body,
        };
        tree.add_bytes(path, page(&title, lang, &nav, &body));
    }
}

pub fn import_activity(ctx: &mut Ctx<'_>, listed: &Element) -> Result<Option<Done>> {
    let modname = listed.text("modulename");
    let cmid = listed.text("moduleid");
    let dir = listed.text("directory");
    let listed_title = listed.text("title");
    let module = super::member_xml(ctx.archive, &format!("{dir}/module.xml"), ctx.limits)?;
    let doc = super::member_xml(ctx.archive, &format!("{dir}/{modname}.xml"), ctx.limits)?;
    if module.as_ref().is_some_and(|m| m.text("visible") == "0") {
        ctx.report.activity(
            &modname,
            &listed_title,
            Status::Skipped,
            "caché aux élèves dans Moodle / hidden from students in Moodle",
        );
        return Ok(None);
    }
    let Some(doc) = doc else {
        ctx.report.activity(
            &modname,
            &listed_title,
            Status::Skipped,
            &format!("{dir}/{modname}.xml is missing from the backup"),
        );
        return Ok(None);
    };
    let contextid = doc.attr("contextid").unwrap_or_default().to_string();
    let empty = Element::default();
    let data = doc.child(&modname).unwrap_or(&empty);
    let title = Some(data.text("name")).filter(|t| !t.trim().is_empty()).unwrap_or(listed_title);
    let component = format!("mod_{modname}");
    let area = |filearea: &str, itemid: &str| FileArea {
        contextid: contextid.clone(),
        component: component.clone(),
        filearea: filearea.into(),
        itemid: itemid.into(),
    };
    let mut missing = Vec::new();
    let prefix = if modname == "label" { "" } else { "../" };
    let intro = ctx.files.rewrite(&data.text("intro"), &area("intro", "0"), prefix, &mut missing);
    let path = pack_path(&modname, &cmid);
    let mut activity = Activity {
        id: format!("{modname}-{cmid}"),
        kind: modname.clone(),
        title: title.clone(),
        path: path.clone(),
        available_offline: true,
    };
    let mut status = (Status::Imported, String::new());
    let mut inline_html = None;
    let body: Option<String> = match modname.as_str() {
        "page" => {
            let content = ctx.files.rewrite(&data.text("content"), &area("content", "0"), "../", &mut missing);
            Some(format!("{intro}\n{content}"))
        }
        "label" => {
            inline_html = Some(format!("<div class=\"etiquette\" id=\"m{cmid}\">{intro}</div>"));
            None
        }
        "url" => {
            let raw = data.text("externalurl");
            let rewritten = ctx.files.rewrite(
                &format!("<a href=\"{}\">x</a>", escape(&raw)),
                &area("intro", "0"),
                "../",
                &mut missing,
            );
            let internal = raw.starts_with("$@");
            let href = rewritten.split("href=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("#").to_string();
            if !internal {
                status =
                    (Status::Degraded, "lien extérieur : nécessite internet / external link: needs Internet".into());
            }
            let note = if internal { "" } else { " <em>(lien externe : nécessite Internet)</em>" };
            Some(format!(
                "{intro}\n<p><a href=\"{href}\">{}</a>{note}</p>",
                escape(if internal { &title } else { &raw })
            ))
        }
        "resource" | "folder" => {
            let list = ctx.files.in_area(&contextid, &component, "content");
            if list.is_empty() {
                status = (
                    Status::Degraded,
                    "aucun fichier de cette activité dans la sauvegarde / no file of this activity is in the backup"
                        .into(),
                );
            }
            let items: Vec<String> = list
                .iter()
                .map(|f| {
                    format!(
                        "<li><a href=\"../{}\">{}</a></li>",
                        url_path(&f.pack_path),
                        escape(f.path.trim_start_matches('/'))
                    )
                })
                .collect();
            let label = if modname == "folder" { "Fichiers" } else { "Fichier" };
            Some(format!("{intro}\n<h2>{label}</h2>\n<ul>\n{}\n</ul>", items.join("\n")))
        }
        "book" => {
            let mut chapters: Vec<&Element> =
                data.all("chapters/chapter").into_iter().filter(|c| c.text("hidden") != "1").collect();
            chapters.sort_by_key(|c| c.int("pagenum").unwrap_or(0));
            let mut toc = String::from("<ol>\n");
            let mut content = String::new();
            for (i, c) in chapters.iter().enumerate() {
                let cid = c.attr("id").unwrap_or_default();
                let t = escape(&c.text("title"));
                let indent = if c.flag("subchapter") { " style=\"margin-left:1rem\"" } else { "" };
                toc.push_str(&format!("<li{indent}><a href=\"#chap{i}\">{t}</a></li>\n"));
                let html = ctx.files.rewrite(&c.text("content"), &area("chapter", cid), "../", &mut missing);
                content.push_str(&format!("<section id=\"chap{i}\"><h2>{t}</h2>\n{html}</section>\n"));
            }
            toc.push_str("</ol>\n");
            Some(format!("{intro}\n<nav>{toc}</nav>\n{content}"))
        }
        "quiz" => match build_quiz(ctx, data, &cmid, &title, &intro) {
            Some((quiz, lost)) => {
                if !lost.is_empty() {
                    status = (Status::Degraded, lost.join("; "));
                }
                ctx.tree
                    .add_bytes(course::quiz_path(&quiz.id), serde_json::to_vec_pretty(&quiz).expect("serialisable"));
                None
            }
            None => {
                activity.available_offline = false;
                activity.path = format!("activities/quiz-{cmid}.html");
                status = (Status::Degraded, "aucune question de ce test ne peut se jouer hors ligne / no question of this quiz can be played offline".into());
                Some(render::offline_notice("test", course::offline_reason_fr("quiz"), &intro))
            }
        },
        "assign" => {
            let a = assignment(data, &cmid, &title, &intro);
            ctx.tree.add_bytes(course::assign_path(&a.id), serde_json::to_vec_pretty(&a).expect("serialisable"));
            if !a.accepts_file && !a.accepts_text {
                status = (
                    Status::Degraded,
                    "n'accepte aucune remise en ligne (texte ou fichier) / accepts no online submission (text or file)"
                        .into(),
                );
            }
            None
        }
        other => {
            activity.available_offline = false;
            status = (
                Status::Degraded,
                format!(
                    "{other} : nécessite le serveur Moodle ; une page « non disponible hors ligne » a été faite / needs the Moodle server; a \"not available offline\" page was made"
                ),
            );
            Some(render::offline_notice(french_kind(other), course::offline_reason_fr(other), &intro))
        }
    };
    if !missing.is_empty() {
        ctx.report.warn(format!(
            "{title} : {} lien(s) de fichier absent(s) de la sauvegarde / file link(s) not found in the backup : {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    if let Some(body) = body {
        ctx.pages.push((activity.path.clone(), title.clone(), body));
        ctx.report.pages += 1;
    }
    ctx.report.activity(&modname, &title, status.0, &status.1);
    let _ = ctx.course_title;
    Ok(Some(Done { activity, inline_html }))
}

fn assignment(data: &Element, cmid: &str, title: &str, intro: &str) -> Assignment {
    let cfg = |plugin: &str, name: &str| {
        data.all("plugin_configs/plugin_config")
            .into_iter()
            .find(|c| c.text("plugin") == plugin && c.text("subtype") == "assignsubmission" && c.text("name") == name)
            .map(|c| c.text("value"))
            .unwrap_or_default()
    };
    let exts = cfg("file", "filetypeslist");
    Assignment {
        id: format!("assign-{cmid}"),
        title: title.into(),
        intro_html: intro.into(),
        accepts_text: cfg("onlinetext", "enabled") == "1",
        accepts_file: cfg("file", "enabled") == "1",
        max_bytes: cfg("file", "maxsubmissionsizebytes").parse().unwrap_or(0),
        max_files: cfg("file", "maxfilesubmissions").parse().unwrap_or(1),
        allowed_extensions: exts
            .split([',', ';', ' '])
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .collect(),
        word_limit: if cfg("onlinetext", "wordlimitenabled") == "1" {
            cfg("onlinetext", "wordlimit").parse().ok()
        } else {
            None
        },
    }
}

/// One quiz slot: a fixed question, or a random draw from a category.
enum Slot {
    Question { id: String, mark: Option<f64> },
    Random { category: String, sub: bool, mark: Option<f64> },
}

fn slots(bank: &Bank<'_>, quiz: &Element) -> Vec<Slot> {
    let mut instances: Vec<&Element> = quiz.all("question_instances/question_instance");
    instances.sort_by_key(|i| i.int("slot").unwrap_or(0));
    let mut out = Vec::new();
    for inst in &instances {
        let mark = inst.num("maxmark").or_else(|| inst.num("grade"));
        if let Some(r) = inst.child("question_reference") {
            let version = r.int("version");
            if let Some(q) = bank.entry_question(&r.text("questionbankentryid"), version) {
                out.push(Slot::Question { id: q.to_string(), mark });
            }
        } else if let Some(r) = inst.child("question_set_reference") {
            if let Some((category, sub)) = filter_category(&r.text("filtercondition")) {
                out.push(Slot::Random { category, sub, mark });
            }
        } else {
            let id = Some(inst.text("questionid")).filter(|s| !s.is_empty()).unwrap_or_else(|| inst.text("question"));
            if !id.is_empty() {
                out.push(Slot::Question { id, mark });
            }
        }
    }
    if instances.is_empty() {
        // Moodle before 2.7: a comma-separated list with 0 for page breaks.
        for id in quiz.text("questions").split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "0") {
            out.push(Slot::Question { id: id.to_string(), mark: None });
        }
    }
    out
}

/// The category of a Moodle 4 random slot: `{"questioncategoryid":..,"includingsubcategories":..}`
/// (4.0–4.2) or `{"filter":{"category":{"values":[..],"filteroptions":{"includesubcategories":..}}}}` (4.3+).
fn filter_category(json: &str) -> Option<(String, bool)> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let as_string =
        |v: &serde_json::Value| v.as_str().map(str::to_string).or_else(|| v.as_i64().map(|n| n.to_string()));
    let truthy =
        |v: &serde_json::Value| v.as_bool().unwrap_or(false) || v.as_i64() == Some(1) || v.as_str() == Some("1");
    if let Some(c) = v.get("questioncategoryid").and_then(as_string) {
        return Some((c, v.get("includingsubcategories").is_some_and(truthy)));
    }
    let cat = v.get("filter")?.get("category")?;
    let id = cat.get("values")?.get(0).and_then(as_string)?;
    let sub = cat.get("filteroptions").and_then(|o| o.get("includesubcategories")).is_some_and(truthy);
    Some((id, sub))
}

fn build_quiz(ctx: &mut Ctx<'_>, data: &Element, cmid: &str, title: &str, intro: &str) -> Option<(Quiz, Vec<String>)> {
    let bank = ctx.bank;
    let files = ctx.files;
    let rewrite = |html: &str, area: &FileArea| files.rewrite(html, area, "../", &mut Vec::new());
    let mut questions: Vec<Question> = Vec::new();
    let mut lost = Vec::new();
    // Report lines are held back until we know whether the quiz is playable at all.
    let mut pending: Vec<(String, String, Status, String)> = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for slot in slots(bank, data) {
        let mut degraded = Vec::new();
        let (result, qid) = match &slot {
            Slot::Question { id, mark } => (questions::convert(bank, id, *mark, &rewrite, &mut degraded), id.clone()),
            Slot::Random { category, sub, mark } => {
                let candidates = bank.in_category(category, *sub);
                let r =
                    questions::random_from(bank, category, *sub, &candidates, &rewrite, &mut degraded).map(|kind| {
                        Question {
                            id: format!("random-{category}-{}", questions.len() + 1),
                            name: "Question aléatoire".into(),
                            text_html: String::new(),
                            category: bank.category_path(category),
                            mark: mark.unwrap_or(1.0),
                            general_feedback_html: String::new(),
                            kind,
                        }
                    });
                (r, String::new())
            }
        };
        let (qtype, name) = match bank.by_id.get(&qid) {
            Some(e) => (e.el.text("qtype"), e.el.text("name")),
            None => ("random".to_string(), "Question aléatoire".to_string()),
        };
        // A question used by several quizzes is counted once in the report.
        let seen = !qid.is_empty() && (ctx.used_questions.contains(&qid) || used.contains(&qid));
        if !qid.is_empty() {
            used.push(qid.clone());
        }
        match result {
            Ok(q) => {
                if let preau_pack::quiz::QuestionKind::Random(r) = &q.kind {
                    for c in &r.candidates {
                        let raw = c.id.trim_start_matches('q').to_string();
                        if !ctx.used_questions.contains(&raw) && !used.contains(&raw) {
                            used.push(raw);
                            pending.push((c.kind.type_name().into(), c.name.clone(), Status::Imported, String::new()));
                        }
                    }
                }
                let st = if degraded.is_empty() { Status::Imported } else { Status::Degraded };
                if !seen {
                    pending.push((qtype, name, st, degraded.join("; ")));
                }
                questions.push(q);
            }
            Err(e) => {
                lost.push(format!("question {name:?} left out ({})", e.0));
                if !seen {
                    pending.push((qtype, name, Status::Skipped, e.0));
                }
            }
        }
    }
    // A quiz of descriptions only has nothing to answer.
    let playable = !questions.iter().all(|q| matches!(q.kind, preau_pack::quiz::QuestionKind::Description));
    for (qtype, name, status, reason) in pending {
        if playable || status == Status::Skipped {
            ctx.report.question(&qtype, &name, status, &reason);
        } else {
            ctx.report.question(
                &qtype,
                &name,
                Status::Skipped,
                "son test n'a aucune question jouable hors ligne / its quiz has no question that can be played offline",
            );
        }
    }
    for id in used {
        // Candidates of several random slots are counted once.
        ctx.used_questions.insert(id);
    }
    if !playable {
        return None;
    }
    let timelimit = data.int("timelimit").filter(|t| *t > 0).map(|t| t as u64);
    let attempts = data.int("attempts_number").filter(|a| *a > 0).map(|a| a as u32);
    Some((
        Quiz {
            format: QUIZ_FORMAT,
            id: format!("quiz-{cmid}"),
            title: title.into(),
            intro_html: intro.into(),
            questions,
            max_grade: data.num("grade").unwrap_or(10.0),
            attempts_allowed: attempts,
            time_limit_secs: timelimit,
            shuffle_questions: false,
            grade_method: data.int("grademethod").and_then(GradeMethod::from_moodle).unwrap_or_default(),
            review: review_options(data),
            overall_feedback: overall_feedback(data),
        },
        lost,
    ))
}

/// Moodle's overall feedback (`<feedbacks><feedback>` of quiz.xml: a text per grade band),
/// sanitised; bands without text are dropped. Images of its file area are not carried.
fn overall_feedback(data: &crate::xml::Element) -> Vec<preau_pack::quiz::OverallFeedback> {
    let mut out: Vec<preau_pack::quiz::OverallFeedback> = data
        .all("feedbacks/feedback")
        .into_iter()
        .filter_map(|f| {
            let text = crate::sanitize::clean(&f.text("feedbacktext"));
            (!text.trim().is_empty()).then(|| preau_pack::quiz::OverallFeedback {
                min_grade: f.num("mingrade").unwrap_or(0.0),
                max_grade: f.num("maxgrade").unwrap_or(0.0),
                text_html: text,
            })
        })
        .take(100)
        .collect();
    out.sort_by(|a, b| b.min_grade.total_cmp(&a.min_grade));
    out
}

/// The quiz's review options, as Moodle's bit fields (only the four time bits are kept).
/// `None` when the backup has none of them (a quiz.xml older than Moodle 2.1).
fn review_options(data: &crate::xml::Element) -> Option<ReviewOptions> {
    const TIMES: i64 = 0x10000 | 0x01000 | 0x00100 | 0x00010;
    let field = |name: &str| data.int(name).map(|v| (v & TIMES) as u32);
    let fields = [
        "reviewattempt",
        "reviewcorrectness",
        "reviewmarks",
        "reviewspecificfeedback",
        "reviewgeneralfeedback",
        "reviewrightanswer",
        "reviewoverallfeedback",
    ];
    if fields.iter().all(|f| data.int(f).is_none()) {
        return None;
    }
    Some(ReviewOptions {
        attempt: field(fields[0]).unwrap_or(0),
        correctness: field(fields[1]).unwrap_or(0),
        marks: field(fields[2]).unwrap_or(0),
        specific_feedback: field(fields[3]).unwrap_or(0),
        general_feedback: field(fields[4]).unwrap_or(0),
        right_answer: field(fields[5]).unwrap_or(0),
        overall_feedback: field(fields[6]).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_feedback_bands_are_read_and_sanitised() {
        let xml = br#"<quiz><feedbacks>
<feedback id="1"><feedbacktext>&lt;p&gt;Bravo&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</feedbacktext><mingrade>10.00000</mingrade><maxgrade>21.00000</maxgrade></feedback>
<feedback id="2"><feedbacktext></feedbacktext><mingrade>5</mingrade><maxgrade>10</maxgrade></feedback>
<feedback id="3"><feedbacktext>Courage</feedbacktext><mingrade>0</mingrade><maxgrade>5</maxgrade></feedback>
</feedbacks></quiz>"#;
        let doc = crate::xml::parse(xml, "quiz.xml", 16).unwrap();
        let bands = overall_feedback(&doc);
        assert_eq!(bands.len(), 2, "{bands:?}");
        assert_eq!((bands[0].min_grade, bands[0].max_grade), (10.0, 21.0));
        assert!(bands[0].text_html.contains("Bravo") && !bands[0].text_html.contains("script"), "{bands:?}");
        assert_eq!(bands[1].text_html, "Courage");
    }

    #[test]
    fn random_filter_conditions() {
        assert_eq!(
            filter_category(r#"{"questioncategoryid":"12","includingsubcategories":1}"#),
            Some(("12".into(), true))
        );
        assert_eq!(
            filter_category(
                r#"{"filter":{"category":{"jointype":1,"values":[34],"filteroptions":{"includesubcategories":false}}}}"#
            ),
            Some(("34".into(), false))
        );
        assert_eq!(filter_category("nonsense"), None);
    }
}
