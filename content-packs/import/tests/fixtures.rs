//! Every real backup and question file of `../shared/fixtures` imports, and the report
//! says what the file really holds. The expected counts were checked by reading each
//! file's XML (moodle_backup.xml, activities/*, questions.xml, the GIFT text).

mod common;

use common::*;
use preau_import::{ImportOptions, SourceKind, Status, detect, import};
use preau_pack::course::CourseOutline;
use preau_pack::quiz::{self, QuestionKind, Response};

fn counts(map: &std::collections::BTreeMap<String, preau_import::Counts>, k: &str) -> (u32, u32, u32) {
    map.get(k).map(|c| (c.imported, c.degraded, c.skipped)).unwrap_or((0, 0, 0))
}

#[test]
fn french_course_browses_in_order() {
    let Some(p) = fixture("moodle/teluq-inf6450-fr-moodle41.mbz") else { return };
    assert_eq!(detect(&p).unwrap(), SourceKind::MoodleBackup);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    eprintln!("{}", imp.report);
    let r = &imp.report;
    // 90 page activities and 1 url (an internal link to the course), all visible.
    assert_eq!(counts(&r.activities, "page"), (90, 0, 0));
    assert_eq!(counts(&r.activities, "url"), (1, 0, 0));
    assert_eq!(r.activities.len(), 2);
    // The bank holds 5 description questions and 1 essay, used by no quiz.
    assert_eq!(counts(&r.questions, "description"), (0, 0, 5));
    assert_eq!(counts(&r.questions, "essay"), (0, 0, 1));
    assert_eq!(imp.tree.meta.title, "INF 6450 - Gestion de l’information avec XML");
    assert_eq!(imp.tree.meta.language, "fr");
    assert_eq!(imp.tree.meta.entry, "index.html");
    assert_eq!(imp.tree.meta.kind, "moodle");
    // The course as TÉLUQ's Moodle names it (course 2798 of m2.teluq.ca): xAPI statements
    // carry it so that the national side can group the same course across boxes.
    assert_eq!(imp.tree.meta.source_id, "2798");
    preau_pack::path::check_pack_id(&imp.tree.meta.id).unwrap();

    let outline: CourseOutline = serde_json::from_slice(file(&imp, "_preau/course.json")).unwrap();
    // 18 sections, in course order; the first is "Semaine 1" whose sequence starts with
    // the url 130892 then the page 130898.
    assert_eq!(outline.sections.len(), 18);
    assert_eq!(outline.sections[0].title, "Semaine 1");
    assert_eq!(outline.sections[0].activities[0].id, "url-130892");
    assert_eq!(outline.sections[0].activities[1].id, "page-130898");
    assert_eq!(outline.activities().count(), 91);
    let index = text(&imp, "index.html");
    let mut last = 0;
    for s in &outline.sections {
        let at = index[last..].find(&format!("<h2>{}</h2>", s.title.replace('\'', "&#39;"))).map(|i| i + last);
        let at = at.unwrap_or_else(|| panic!("section {:?} missing or out of order", s.title));
        last = at;
    }
    // Every page of the outline exists, and links back to the course.
    for a in outline.activities() {
        let page = text(&imp, &a.path);
        assert!(page.contains("href=\"../index.html\""), "{}", a.path);
        assert!(!page.contains("<script"), "{}", a.path);
        assert!(!page.contains("href=\"/"), "absolute link in {}", a.path);
    }
    assert!(index.contains("href=\"activities/page-130898.html\""));
    // The page with a screenshot links the stored file, which is in the pack.
    let shot = text(&imp, "activities/page-130985.html");
    let src = shot.split("src=\"../").nth(1).expect("image link").split('"').next().unwrap();
    let src = preau_import::sanitize::percent_decode(src);
    assert!(has(&imp, &src), "{src} not in the pack");
    assert!(!shot.contains("@@PLUGINFILE@@"));
    // Links to files of a folder that the backup does not hold are reported by name.
    assert!(!shot.contains("PLUGINFILEBYCONTEXT"));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.starts_with("Utilisation de Sigil") && w.contains("screenshot_2015-02-03_15.19.19.png")),
        "{:?}",
        r.warnings
    );
    // The url activity is an internal link back to the course home.
    assert!(text(&imp, "activities/url-130892.html").contains("href=\"../index.html\""));
    let stored: preau_import::ImportReport = serde_json::from_slice(file(&imp, "_preau/import-report.json")).unwrap();
    assert_eq!(stored.activities, r.activities);
    assert!(r.to_string().contains("page"));
}

#[test]
fn reference_quiz_keeps_every_playable_type() {
    let Some(p) = fixture("moodle/quiz_archiver-referencequiz-moodle41.mbz") else { return };
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let r = &imp.report;
    // An activity backup: one quiz with 16 slots (checked in activities/quiz_2/quiz.xml
    // against the bank entries of questions.xml).
    assert_eq!(counts(&r.activities, "quiz"), (0, 1, 0), "degraded: some question types are not playable");
    for (t, want) in [
        ("multichoice", (2, 0, 0)),
        ("truefalse", (1, 0, 0)),
        ("shortanswer", (1, 0, 0)),
        ("numerical", (1, 0, 0)),
        ("match", (1, 0, 0)),
        ("essay", (1, 0, 0)),
        ("description", (1, 0, 0)),
        ("multianswer", (1, 0, 0)),
        ("gapselect", (1, 0, 0)),
        ("ddwtos", (1, 0, 0)),
        ("calculated", (0, 0, 1)),
        ("calculatedsimple", (0, 0, 1)),
        ("calculatedmulti", (0, 0, 1)),
        ("ddimageortext", (0, 0, 1)),
        ("ddmarker", (0, 0, 1)),
    ] {
        assert_eq!(counts(&r.questions, t), want, "{t}");
    }
    assert_eq!(r.questions.values().map(|c| c.total()).sum::<u32>(), 16);
    assert!(r.items.iter().any(|i| i.kind == "ddmarker" && i.status == Status::Skipped && i.reason.contains("image")));

    let q = quiz::from_json(file(&imp, "_preau/quiz/quiz-2.json")).unwrap();
    assert_eq!(q.questions.len(), 11);
    assert_eq!(q.max_grade, 100.0);
    // activities/quiz_2/quiz.xml: attempts_number 0 (unlimited), grademethod 1 (highest),
    // reviewattempt 69888 = 0x11100 (during, immediately after, later while open), every
    // other review option 4352 = 0x01100 (immediately after, later while open).
    assert_eq!(q.attempts_allowed, None);
    assert_eq!(q.grade_method, quiz::GradeMethod::Highest);
    let after = 0x01000 | 0x00100;
    assert_eq!(
        q.review,
        Some(quiz::ReviewOptions {
            attempt: 0x10000 | after,
            correctness: after,
            marks: after,
            specific_feedback: after,
            general_feedback: after,
            right_answer: after,
            overall_feedback: after,
        })
    );
    let types: Vec<&str> = q.questions.iter().map(|q| q.kind.type_name()).collect();
    for t in [
        "multichoice",
        "truefalse",
        "shortanswer",
        "numerical",
        "match",
        "essay",
        "description",
        "multianswer",
        "gapselect",
        "ddwtos",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    // Marks computed from the stored data.
    let tf = q.questions.iter().find(|q| q.name == "True or False").unwrap();
    assert_eq!(quiz::score(tf, &Response::TrueFalse { value: true }).fraction, Some(1.0));
    let num = q.questions.iter().find(|q| matches!(q.kind, QuestionKind::Numerical(_))).unwrap();
    assert_eq!(quiz::score(num, &Response::Text { text: "42".into() }).fraction, Some(1.0));
    let sa = q.questions.iter().find(|q| q.name == "Short Answer").unwrap();
    assert_eq!(quiz::score(sa, &Response::Text { text: "ShortAnswer".into() }).fraction, Some(0.75));
    let cloze = q.questions.iter().find(|q| matches!(q.kind, QuestionKind::MultiAnswer(_))).unwrap();
    let QuestionKind::MultiAnswer(ma) = &cloze.kind else { unreachable!() };
    assert_eq!(ma.parts.len(), 2);
    assert!(cloze.text_html.contains("{#1}") && cloze.text_html.contains("{#2}"));
    let gs = q.questions.iter().find(|q| matches!(q.kind, QuestionKind::GapSelect(_))).unwrap();
    let QuestionKind::GapSelect(g) = &gs.kind else { unreachable!() };
    assert_eq!(g.gaps.len(), 3);
    assert_eq!(g.choices[g.gaps[0]].text, "ipsum");
    // The answers never reach a served file.
    let served = served_text(&imp);
    for secret in ["Answering a reference quiz", "short answer", "Don't forget to bring your towel", "ipsum</"] {
        assert!(!served.contains(secret), "{secret:?} is readable outside _preau/");
    }
    assert!(text(&imp, "index.html").contains("href=\"_quiz/quiz-2\""));
}

#[test]
fn studentquiz_backups_report_their_banks() {
    let Some(p) = fixture("moodle/studentquiz-course-moodle40.mbz") else { return };
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let r = &imp.report;
    assert_eq!(counts(&r.activities, "studentquiz"), (0, 1, 0));
    // 15 bank entries (26 question versions): 8 truefalse, 4 shortanswer, 1 each of
    // multichoice, match, numerical; no quiz uses them.
    assert_eq!(counts(&r.questions, "truefalse"), (0, 0, 8));
    assert_eq!(counts(&r.questions, "shortanswer"), (0, 0, 4));
    assert_eq!(counts(&r.questions, "multichoice"), (0, 0, 1));
    assert_eq!(counts(&r.questions, "match"), (0, 0, 1));
    assert_eq!(counts(&r.questions, "numerical"), (0, 0, 1));
    assert!(r.warnings.iter().any(|w| w.starts_with("11 ancienne(s) version(s) de question")), "{:?}", r.warnings);
    let page = served_text(&imp);
    assert!(page.contains("Non disponible hors ligne"));

    let Some(p) = fixture("moodle/studentquiz-versions-moodle45.mbz") else { return };
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    // Moodle 4.5: one bank entry with three versions of a truefalse question.
    assert_eq!(counts(&imp.report.questions, "truefalse"), (0, 0, 1));
    assert!(imp.report.warnings.iter().any(|w| w.starts_with("2 ancienne(s) version(s) de question")));
    assert!(imp.report.source_version.starts_with("4.5"));
}

#[test]
fn old_zip_backup_with_stack_questions() {
    let Some(p) = fixture("moodle/stack-demo-moodle27-zipformat.mbz") else { return };
    assert_eq!(detect(&p).unwrap(), SourceKind::MoodleBackup);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let r = &imp.report;
    assert_eq!(counts(&r.activities, "page"), (2, 0, 0));
    assert_eq!(counts(&r.activities, "resource"), (1, 0, 0));
    assert_eq!(r.activities["quiz"].total(), 68);
    // 583 STACK questions need Maxima: all skipped (566 in quiz slots, 17 unused).
    assert_eq!(counts(&r.questions, "stack"), (0, 0, 583));
    assert_eq!(counts(&r.questions, "random"), (0, 0, 1));
    assert_eq!(r.questions["description"].total(), 18);
    assert_eq!(r.questions["multichoice"].total(), 1);
    assert!(r.items.iter().any(|i| i.kind == "stack" && i.reason.contains("Maxima")));
    // The resource's file is in the pack and linked.
    let outline: CourseOutline = serde_json::from_slice(file(&imp, "_preau/course.json")).unwrap();
    let res = outline.activities().find(|a| a.kind == "resource").unwrap();
    let page = text(&imp, &res.path);
    let href = page.split("<li><a href=\"../").nth(1).unwrap().split('"').next().unwrap();
    assert!(has(&imp, &preau_import::sanitize::percent_decode(href)));
}

#[test]
fn gift_format_php_examples() {
    let Some(p) = fixture("questions/gift/moodle-gift-format-php-examples.gift") else { return };
    assert_eq!(detect(&p).unwrap(), SourceKind::Gift);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let r = &imp.report;
    // 10 questions: 4 multiple choice (two "missing word"), 1 true/false, 2 short
    // answer, 2 numerical, 1 matching.
    assert_eq!(counts(&r.questions, "multichoice"), (4, 0, 0));
    assert_eq!(counts(&r.questions, "truefalse"), (1, 0, 0));
    assert_eq!(counts(&r.questions, "shortanswer"), (2, 0, 0));
    assert_eq!(counts(&r.questions, "numerical"), (2, 0, 0));
    assert_eq!(counts(&r.questions, "match"), (1, 0, 0));
    let q = quiz::from_json(file(&imp, "_preau/quiz/quiz.json")).unwrap();
    let born = &q.questions[4];
    assert_eq!(quiz::score(born, &Response::Text { text: "1825".into() }).fraction, Some(1.0));
    assert_eq!(quiz::score(born, &Response::Text { text: "1828".into() }).fraction, Some(0.0));
    let jesus = q.questions.iter().find(|q| q.name.starts_with("Jesus")).unwrap();
    assert_eq!(quiz::score(jesus, &Response::Text { text: "nazereth".into() }).fraction, Some(0.75));
    let numerical = q.questions.iter().find(|q| q.name == "Numerical example").unwrap();
    assert_eq!(quiz::score(numerical, &Response::Text { text: "1821".into() }).fraction, Some(0.5));
    assert!(q.questions[1].text_html.contains("_____"));
}

#[test]
fn gift_french_mooc_export() {
    let Some(p) = fixture("questions/gift/uclouvain-louv23x-module2-fr.gift") else { return };
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let q = quiz::from_json(file(&imp, "_preau/quiz/quiz.json")).unwrap();
    // 31 questions (the S1Q6 stub is an empty comment), all in one category.
    assert_eq!(q.questions.len(), 31);
    assert!(q.questions.iter().all(|q| q.category == "Défaut pour Louv23x/Module 2"));
    assert_eq!(q.questions[0].name, "Cert1");
    let QuestionKind::MultiChoice(mc) = &q.questions[0].kind else { panic!("{:?}", q.questions[0].kind) };
    assert!(mc.single);
    assert_eq!(mc.choices.len(), 4);
    assert!(!q.questions[0].general_feedback_html.is_empty());
    // `\=` and `\:` escapes are gone from the HTML.
    assert!(!q.questions[0].text_html.contains("\\="), "{}", q.questions[0].text_html);
    let r = &imp.report;
    assert_eq!(r.questions.values().map(|c| c.total()).sum::<u32>(), 31);
    assert!(r.questions.keys().all(|k| {
        ["multichoice", "truefalse", "shortanswer", "match", "numerical", "essay", "description"].contains(&k.as_str())
    }));
    assert!(r.warnings.iter().any(|w| w.contains("@@PLUGINFILE@@")));
}

#[test]
fn moodle_xml_files() {
    let Some(dir) = fixture("questions/moodle-xml") else { return };
    let get = |n: &str| import(&dir.join(n), &ImportOptions::default()).unwrap();
    for n in std::fs::read_dir(&dir).unwrap() {
        let p = n.unwrap().path();
        assert_eq!(detect(&p).unwrap(), SourceKind::MoodleXml, "{}", p.display());
    }
    let cat = get("helm-16-1-gitsync_category.xml");
    assert!(cat.report.questions.is_empty());
    let mc = get("helm-16-1-16-1-1-2-Identify-graph-of-sequence.xml");
    assert_eq!(counts(&mc.report.questions, "multichoice"), (1, 0, 0));
    let mc2 = get("helm-16-1-16-1-1-3-Identify-convergence.xml");
    assert_eq!(counts(&mc2.report.questions, "multichoice"), (1, 0, 0));
    let d = get("helm-16-1-16-1-1-4-General-sequence.xml");
    assert_eq!(counts(&d.report.questions, "description"), (1, 0, 0));
    let s = get("helm-16-1-16-1-2-2-Arithmetic-sequence-a-and-d.xml");
    assert_eq!(counts(&s.report.questions, "stack"), (0, 0, 1));
    // The base64 images of the multichoice question are files of the pack, linked.
    for imp in [&mc, &mc2] {
        let q = quiz::from_json(file(imp, "_preau/quiz/quiz.json")).unwrap();
        let all = serde_json::to_string(&q).unwrap();
        for f in imp.tree.files.iter().filter(|f| f.path.starts_with("files/")) {
            assert!(all.contains(&format!("../{}", preau_import::sanitize::url_path(&f.path))), "{} unlinked", f.path);
        }
        assert!(!all.contains("@@PLUGINFILE@@"));
    }
    assert!(
        mc.tree.files.iter().chain(mc2.tree.files.iter()).any(|f| f.path.starts_with("files/")),
        "an embedded image"
    );
}

#[test]
fn zim_files_become_packs() {
    let Some(p) = fixture("zim/small.zim") else { return };
    assert_eq!(detect(&p).unwrap(), SourceKind::Zim);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    // 16 entries: 2 content (favicon.png, main.html), 9 metadata, 1 W/mainPage
    // redirect, 3 X indexes.
    assert!(has(&imp, "main.html") && has(&imp, "favicon.png"));
    assert_eq!(imp.tree.files.len(), 3, "2 content entries and the report");
    assert_eq!(imp.tree.meta.entry, "main.html");
    assert!(!imp.tree.meta.title.is_empty());

    // Truncated and corrupted copies fail with a clear error, never a panic.
    let bytes = std::fs::read(&p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.zim");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let err = import(&cut, &ImportOptions::default()).unwrap_err().to_string();
    assert!(err.contains("ZIM"), "{err}");
    for i in 0..300 {
        let mut m = bytes.clone();
        let at = (i * 7919) % m.len();
        m[at] ^= 0x5a;
        std::fs::write(&cut, &m).unwrap();
        let _ = import(&cut, &ImportOptions::default());
    }

    let Some(p) = fixture("zim/wikibooks_be_all_nopic_2017-02.zim") else { return };
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    // 66 HTML articles and 4 redirects to them in the C namespace (Main_Page.html,
    // index.htm, Вугорская_кухня.html, Галоўная_старонка.html), checked by reading the
    // directory entries.
    assert_eq!(imp.report.pages, 70);
    assert!(has(&imp, "Італьянская_мова_Урок_1.html"));
    assert_eq!(imp.tree.meta.language, "be");
    assert!(has(&imp, &imp.tree.meta.entry.clone()), "{}", imp.tree.meta.entry);
    assert_eq!(text(&imp, "Main_Page.html"), text(&imp, &imp.tree.meta.entry.clone()));
}

#[test]
fn course_pages_show_only_sections_with_content() {
    // Moodle hides empty sections from pupils; so does the course page.
    let (mut hidden, mut images) = (0, 0);
    for name in [
        "teluq-inf6450-fr-moodle41.mbz",
        "quiz_archiver-referencequiz-moodle41.mbz",
        "studentquiz-course-moodle40.mbz",
        "studentquiz-versions-moodle45.mbz",
        "stack-demo-moodle27-zipformat.mbz",
    ] {
        let Some(p) = fixture(&format!("moodle/{name}")) else { return };
        let imp = import(&p, &ImportOptions::default()).unwrap();
        let outline: CourseOutline = serde_json::from_slice(file(&imp, "_preau/course.json")).unwrap();
        let empty =
            outline.sections.iter().filter(|s| s.activities.is_empty() && s.summary_html.trim().is_empty()).count();
        hidden += empty;
        let page = text(&imp, "index.html");
        let shown = page.matches("<section class=\"section\">").count();
        assert_eq!(shown, outline.sections.len() - empty, "{name}: {} sections, {empty} empty", outline.sections.len());
        // Images of the summaries are files of the pack (served by the box).
        for src in page.split("src=\"").skip(1).filter_map(|r| r.split('"').next()) {
            if src.starts_with("http") || src.starts_with("data:") {
                continue;
            }
            images += 1;
            let path = src.replace("%20", " ");
            assert!(has(&imp, &path) || has(&imp, src), "{name}: index.html shows {src}, not in the pack");
        }
        for s in outline.sections.iter().filter(|s| !s.activities.is_empty()) {
            assert!(
                page.contains(&format!("<h2>{}</h2>", s.title.replace('&', "&amp;").replace('<', "&lt;")))
                    || s.title.is_empty(),
                "{name}: {}",
                s.title
            );
        }
    }
    eprintln!("{hidden} empty section(s) hidden, {images} image(s) on course pages");
    assert!(hidden > 0, "the fixtures have empty sections: the check must have something to hide");
}
