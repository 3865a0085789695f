//! A hand-written Moodle backup covering what the real fixtures lack (label, forum,
//! assign, book, hidden activities, TeX, scripts, internal links), snapshot tests of the
//! rendered pages, bad input, and property tests of the readers.
//!
//! Snapshots live in `tests/snapshots/`; run with `UPDATE_SNAPSHOTS=1` to rewrite them
//! after an intended change, and review the diff.

mod common;

use std::path::Path;

use common::*;
use preau_import::{ImportError, ImportLimits, ImportOptions, SourceKind, Status, detect, import};
use preau_pack::course::{Assignment, CourseOutline};
use preau_pack::quiz::{self, QuestionKind, Response};
use proptest::prelude::*;

fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {}; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(actual, expected, "snapshot {name} differs; run with UPDATE_SNAPSHOTS=1 and review the diff");
}

fn synthetic(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("cours.bin");
    write_tar_gz(&p, &synthetic_backup());
    p
}

#[test]
fn synthetic_course_renders_every_activity_kind() {
    let dir = tempfile::tempdir().unwrap();
    let p = synthetic(dir.path());
    assert_eq!(detect(&p).unwrap(), SourceKind::MoodleBackup);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let r = &imp.report;
    assert_eq!(r.activities["page"].imported, 1);
    assert_eq!(r.activities["page"].skipped, 1, "the hidden page");
    assert_eq!(r.activities["label"].imported, 1);
    assert_eq!(r.activities["url"].degraded, 1);
    assert_eq!(r.activities["forum"].degraded, 1);
    assert_eq!(r.activities["quiz"].imported, 1);
    assert_eq!(r.activities["assign"].imported, 1);
    assert_eq!(r.activities["book"].imported, 1);
    assert_eq!(imp.tree.meta.id, "demo-svt");
    assert_eq!(imp.tree.meta.source_url, "https://elea.example");
    assert!(!served_text(&imp).contains("secret"), "hidden page content leaked");

    let outline: CourseOutline = serde_json::from_slice(file(&imp, "_preau/course.json")).unwrap();
    assert_eq!(outline.sections.len(), 2);
    assert_eq!(outline.sections[0].title, "Généralités");
    let ids: Vec<&str> = outline.activities().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["label-12", "page-11", "url-13", "forum-14", "quiz-15", "assign-16", "book-17"]);
    let forum = outline.activities().find(|a| a.kind == "forum").unwrap();
    assert!(!forum.available_offline);
    assert_eq!(outline.activities().find(|a| a.kind == "quiz").unwrap().path, "_quiz/quiz-15");
    assert_eq!(outline.activities().find(|a| a.kind == "assign").unwrap().path, "_assign/assign-16");

    let page = text(&imp, "activities/page-11.html");
    assert!(page.contains("\\(E=mc^2\\)") && page.contains("$$a^2+b^2$$"), "TeX kept as text");
    assert!(!page.contains("<script"));
    assert!(page.contains("src=\"../files/31/mod_page/content/0/image%20un.png\""), "{page}");
    assert_eq!(file(&imp, "files/31/mod_page/content/0/image un.png"), IMAGE);
    assert!(page.contains("href=\"../activities/url-13.html\""), "internal activity link");
    assert!(page.contains("href=\"../index.html\""));

    let a: Assignment = serde_json::from_slice(file(&imp, "_preau/assign/assign-16.json")).unwrap();
    assert!(a.accepts_text && a.accepts_file);
    assert_eq!((a.max_files, a.max_bytes), (2, 1_048_576));
    assert_eq!(a.allowed_extensions, ["pdf", "odt"]);

    let q = quiz::from_json(file(&imp, "_preau/quiz/quiz-15.json")).unwrap();
    assert_eq!((q.max_grade, q.attempts_allowed), (20.0, Some(2)));
    assert_eq!(q.questions.len(), 4);
    // Slot 4 draws from category 5 (Moodle 4.3+ filter condition): its three top-level
    // questions, not the cloze's subquestion; each question is counted once in the report.
    let QuestionKind::Random(rnd) = &q.questions[3].kind else { panic!("{:?}", q.questions[3].kind) };
    assert_eq!(rnd.candidates.len(), 3);
    assert_eq!(r.questions.values().map(|c| c.total()).sum::<u32>(), 4, "{:?}", r.questions);
    assert_eq!(r.questions["random"].imported, 1);
    let drawn = Response::Random { picked: 1, response: Box::new(Response::TrueFalse { value: false }) };
    assert_eq!(quiz::score(&q.questions[3], &drawn).fraction, Some(1.0));
    assert_eq!(q.questions[0].mark, 2.0);
    assert_eq!(q.questions[0].category, "Défaut pour le test");
    let tf = &q.questions[1];
    assert_eq!(quiz::score(tf, &Response::TrueFalse { value: false }).fraction, Some(1.0));
    let QuestionKind::MultiAnswer(ma) = &q.questions[2].kind else { panic!() };
    assert_eq!(ma.parts.len(), 1);
    assert_eq!(
        quiz::score(&q.questions[2], &Response::Cloze { parts: vec![Response::Text { text: "Mitochondrie".into() }] })
            .fraction,
        Some(1.0)
    );
    assert!(!served_text(&imp).contains("SECRET-FEEDBACK"));
    assert!(!serde_json::to_string(&quiz::public_view(&q)).unwrap().contains("SECRET-FEEDBACK"));

    snapshot("course-index.html", &text(&imp, "index.html"));
    snapshot("course-page.html", &page);
    snapshot("course-forum.html", &text(&imp, "activities/forum-14.html"));
    snapshot("course-book.html", &text(&imp, "activities/book-17.html"));
}

#[test]
fn zip_layout_gives_the_same_pack() {
    let dir = tempfile::tempdir().unwrap();
    let tgz = synthetic(dir.path());
    let zip = dir.path().join("cours.zip.bin");
    write_zip(&zip, &synthetic_backup());
    let a = import(&tgz, &ImportOptions::default()).unwrap();
    let b = import(&zip, &ImportOptions::default()).unwrap();
    assert_eq!(a.tree.files.len(), b.tree.files.len());
    assert_eq!(text(&a, "index.html"), text(&b, "index.html"));
}

fn expect_err(members: &[(String, Vec<u8>)], limits: ImportLimits, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mbz");
    write_tar_gz(&p, members);
    let err = import(&p, &ImportOptions { limits, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains(needle), "expected {needle:?} in {err:?}");
}

#[test]
fn bad_backups_get_clear_errors() {
    let good = synthetic_backup();
    // Malformed XML names the member.
    let mut bad = good.clone();
    bad.iter_mut().find(|m| m.0 == "questions.xml").unwrap().1 =
        b"<question_categories><oops></question_categories>".to_vec();
    expect_err(&bad, ImportLimits::default(), "malformed XML in questions.xml");
    // XML too deep.
    let mut deep = good.clone();
    deep.iter_mut().find(|m| m.0 == "files.xml").unwrap().1 =
        format!("{}{}", "<a>".repeat(100), "</a>".repeat(100)).into_bytes();
    expect_err(&deep, ImportLimits::default(), "XML nesting in files.xml");
    // A bomb: members decompress past the total limit.
    let mut bomb = good.clone();
    bomb.push(("files/00/big".into(), vec![0u8; 200_000]));
    expect_err(&bomb, ImportLimits { max_total_bytes: 100_000, ..Default::default() }, "total decompressed size");
    expect_err(&good, ImportLimits { max_entries: 5, ..Default::default() }, "entry count");
    expect_err(&good, ImportLimits { max_xml_bytes: 100, ..Default::default() }, "XML file");
    // Not a backup at all.
    let mut none = good.clone();
    none.retain(|m| m.0 != "moodle_backup.xml");
    none.push(("other.txt".into(), b"x".to_vec()));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.tgz");
    write_tar_gz(&p, &none);
    assert_eq!(detect(&p).unwrap(), SourceKind::Tar, "a gzip tar without moodle_backup.xml is a plain tar");

    // Truncated archive.
    let p = synthetic(dir.path());
    let bytes = std::fs::read(&p).unwrap();
    let cut = dir.path().join("cut.mbz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = import(&cut, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::Corrupt { .. } | ImportError::NotMoodle(_)), "{err}");
    // Wrong magic and empty files.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, [0xde, 0xad, 0xbe, 0xef, 0, 1, 2]).unwrap();
    assert!(detect(&junk).unwrap_err().to_string().contains("binary data of an unknown format"));
    std::fs::write(&junk, b"").unwrap();
    assert!(detect(&junk).unwrap_err().to_string().contains("empty"));
    std::fs::write(&junk, b"<html><body>hi</body></html>").unwrap();
    assert!(detect(&junk).unwrap_err().to_string().contains("not <quiz>"));
}

#[test]
fn self_referencing_cloze_is_refused_not_recursed() {
    let mut members = synthetic_backup();
    let q = members.iter_mut().find(|m| m.0 == "questions.xml").unwrap();
    q.1 = String::from_utf8(q.1.clone())
        .unwrap()
        .replace("<sequence>8</sequence>", "<sequence>7</sequence>")
        .into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mbz");
    write_tar_gz(&p, &members);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert!(
        imp.report.items.iter().any(|i| i.kind == "multianswer" && i.reason.contains("itself a multianswer")),
        "{:?}",
        imp.report.items
    );
}

#[test]
fn zip_with_escaping_member_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("evil.mbz");
    let mut members = synthetic_backup();
    members.push(("../../etc/cron.d/evil".into(), b"x".to_vec()));
    write_zip(&p, &members);
    let err = import(&p, &ImportOptions::default()).unwrap_err();
    assert!(matches!(err, ImportError::UnsafePath { .. }), "{err}");
    assert!(err.to_string().contains(".."), "{err}");
}

#[test]
fn oversized_images_are_left_out_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = synthetic(dir.path());
    let imp = import(
        &p,
        &ImportOptions { limits: ImportLimits { max_image_bytes: 4, ..Default::default() }, ..Default::default() },
    )
    .unwrap();
    assert!(!has(&imp, "files/31/mod_page/content/0/image un.png"));
    assert!(
        imp.report.items.iter().any(|i| i.what == "file" && i.status == Status::Skipped && i.reason.contains("image"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any bytes given to the GIFT parser give questions or an error, never a panic.
    #[test]
    fn gift_never_panics(s in "[ -~\\n{}=~#%:>\\\\-]{0,300}") {
        let _ = preau_import::gift::parse(&s);
    }

    /// Same for XML, and for GIFT-like structured noise.
    #[test]
    fn xml_never_panics(s in "[<>/a-z =\"&;#x0-9!\\[\\]\\n?]{0,300}") {
        let _ = preau_import::xml::parse(s.as_bytes(), "t", 32);
    }

    #[test]
    fn cloze_never_panics(s in "[{}:~#=%A-Z0-9a-z\\\\ ]{0,200}") {
        let _ = preau_import::moodle_xml::parse_cloze(&s);
    }

    /// A backup with one member's bytes flipped imports or fails cleanly.
    #[test]
    fn mutated_backups_never_panic(member in 0usize..20, pos in 0usize..4000, byte in any::<u8>()) {
        let mut members = synthetic_backup();
        let m = member % members.len();
        let data = &mut members[m].1;
        if !data.is_empty() {
            let at = pos % data.len();
            data[at] = byte;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.mbz");
        write_tar_gz(&p, &members);
        let _ = import(&p, &ImportOptions::default());
    }

    /// Flipped bytes in the compressed archive itself.
    #[test]
    fn mutated_archives_never_panic(pos in 0usize..100_000, byte in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.mbz");
        write_tar_gz(&p, &synthetic_backup());
        let mut bytes = std::fs::read(&p).unwrap();
        let at = pos % bytes.len();
        bytes[at] = byte;
        std::fs::write(&p, &bytes).unwrap();
        let _ = preau_import::moodle::import(&p, &ImportLimits::default());
    }
}

const QUIZ_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/top/Chapitre 1</text></category></question>
  <question type="multichoice"><name><text>Q1</text></name><questiontext format="html"><text><![CDATA[<p>Choisir</p><img src="@@PLUGINFILE@@/a.png">]]></text><file name="a.png" path="/" encoding="base64">aGVsbG8=</file></questiontext>
    <single>true</single><shuffleanswers>1</shuffleanswers>
    <answer fraction="100" format="html"><text>Oui</text><feedback format="html"><text>Bien</text></feedback></answer>
    <answer fraction="0" format="html"><text>Non</text></answer></question>
  <question type="numerical"><name><text>Q2</text></name><questiontext format="html"><text>Combien ?</text></questiontext>
    <answer fraction="100"><text>3.5</text><tolerance>0.1</tolerance></answer>
    <units><unit><multiplier>1</multiplier><unit_name>m</unit_name></unit></units><unitgradingtype>1</unitgradingtype><unitpenalty>0.5</unitpenalty></question>
  <question type="cloze"><name><text>Q3</text></name><questiontext format="html"><text>Le {1:SA:=chat} dort {2:MCV:=bien~mal}.</text></questiontext></question>
  <question type="matching"><name><text>Q4</text></name><questiontext format="html"><text>Associer</text></questiontext>
    <subquestion format="html"><text>A</text><answer><text>1</text></answer></subquestion></question>
  <question type="gapselect"><name><text>Q5</text></name><questiontext format="html"><text>Le [[2]] est [[1]].</text></questiontext>
    <selectoption><text>bleu</text><group>1</group></selectoption><selectoption><text>ciel</text><group>2</group></selectoption></question>
</quiz>
"#;

#[test]
fn moodle_xml_types_units_cloze_and_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("q.xml");
    std::fs::write(&p, QUIZ_XML).unwrap();
    let imp = import(&p, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    let q = quiz::from_json(file(&imp, "_preau/quiz/quiz.json")).unwrap();
    assert_eq!(q.questions.len(), 4, "{:?}", imp.report);
    // "matching" is not a Moodle XML type name: reported, not guessed.
    assert!(imp.report.items.iter().any(|i| i.kind == "matching" && i.status == Status::Skipped));
    assert_eq!(q.questions[0].category, "Chapitre 1");
    assert!(q.questions[0].text_html.contains("src=\"../files/q2/a.png\""), "{}", q.questions[0].text_html);
    assert_eq!(file(&imp, "files/q2/a.png"), b"hello");
    let num = &q.questions[1];
    assert_eq!(quiz::score(num, &Response::Text { text: "3,45 m".into() }).fraction, Some(1.0));
    assert_eq!(quiz::score(num, &Response::Text { text: "3.5".into() }).fraction, Some(0.5));
    let cloze = &q.questions[2];
    assert_eq!(cloze.text_html, "Le {#1} dort {#2}.");
    let right =
        Response::Cloze { parts: vec![Response::Text { text: "chat".into() }, Response::Choice { selected: vec![] }] };
    // Weights 1 and 2: only the first part is right.
    assert!((quiz::score(cloze, &right).fraction.unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let gaps = &q.questions[3];
    assert_eq!(gaps.text_html, "Le [[1]] est [[2]].", "gap numbers no longer name the answer");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Moodle XML with a byte changed or a slice cut out converts or fails cleanly.
    #[test]
    fn moodle_xml_never_panics(pos in 0usize..4000, len in 0usize..40, byte in any::<u8>()) {
        let mut bytes = QUIZ_XML.as_bytes().to_vec();
        let at = pos % bytes.len();
        bytes[at] = byte;
        let end = (at + len).min(bytes.len());
        bytes.drain(at..end);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("q.xml");
        std::fs::write(&p, &bytes).unwrap();
        let _ = preau_import::moodle_xml::import(&p, &ImportLimits::default());
    }
}

#[test]
fn section_summaries_keep_their_images_and_empty_sections_are_hidden() {
    // Section 1 ("Chapitre 1") gets an image in its summary, stored in the course
    // context's `section` file area (as Moodle keeps it), and an empty third section.
    let mut members = synthetic_backup();
    for (name, bytes) in members.iter_mut() {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let changed = match name.as_str() {
            "sections/section_2/section.xml" => text.replace(
                "&lt;p&gt;Les cellules.&lt;/p&gt;",
                "&lt;p&gt;Les cellules.&lt;/p&gt;&lt;img src=\"@@PLUGINFILE@@/cellule%20vue.png\" alt=\"une cellule\"&gt;",
            ),
            "files.xml" => text.replace(
                "</files>",
                &format!("<file id=\"3\"><contenthash>{IMAGE_HASH}</contenthash><contextid>20</contextid><component>course</component><filearea>section</filearea><itemid>2</itemid><filepath>/</filepath><filename>cellule vue.png</filename><mimetype>image/png</mimetype></file></files>"),
            ),
            "moodle_backup.xml" => text.replace(
                "</sections>",
                "<section><sectionid>3</sectionid><title>Vide</title><directory>sections/section_3</directory></section></sections>",
            ),
            _ => continue,
        };
        assert_ne!(changed, text, "{name} was changed");
        *bytes = changed.into_bytes();
    }
    members.push((
        "sections/section_3/section.xml".into(),
        b"<section id=\"3\"><number>2</number><name>Vide</name><summary></summary><sequence></sequence><visible>1</visible></section>".to_vec(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cours.bin");
    write_tar_gz(&p, &members);
    let imp = import(&p, &ImportOptions::default()).unwrap();
    let page = text(&imp, "index.html");
    let src =
        page.split("alt=\"une cellule\"").next().unwrap().rsplit("src=\"").next().unwrap().split('"').next().unwrap();
    assert!(!src.contains("PLUGINFILE") && !src.starts_with("http"), "{src}");
    let path = src.replace("%20", " ");
    assert_eq!(file(&imp, &path), IMAGE, "the summary's image is a file of the pack at {path}");
    assert!(!page.contains("<h2>Vide</h2>"), "the empty section is hidden: {page}");
    assert!(page.contains("<h2>Chapitre 1</h2>"));
}
