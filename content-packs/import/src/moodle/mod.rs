//! Moodle course and activity backups (`.mbz`, gzip tar or ZIP, Moodle 2.x to 4.5).
//!
//! A backup holds `moodle_backup.xml` (the list of sections and activities), `course/`,
//! `sections/section_<id>/section.xml`, `activities/<module>_<cmid>/`, `files.xml` with the
//! file pool `files/<xx>/<sha1>`, and `questions.xml` (the question bank). This module
//! reads them into a course pack: `index.html` (sections in order), one page per
//! activity under `activities/`, the files under `files/`, and the box-only data under
//! `_preau/` (outline, quizzes with answers, assignments, report).

pub mod activities;
pub mod files;
pub mod questions;

use std::io::Read;
use std::path::Path;

use preau_pack::SourceTree;
use preau_pack::course::{self, CourseOutline, Section};

use crate::archive::{self, Archive};
use crate::error::{ImportError, Result};
use crate::report::{ImportReport, Status};
use crate::xml::{self, Element};
use crate::{ImportLimits, Imported};

/// True when a gzip tar holds `moodle_backup.xml` at its root. Reads entry headers only,
/// and stops after a bounded number of entries.
pub fn gzip_tar_has_backup_xml(path: &Path) -> Result<bool> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io { path: path.into(), source })?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let Ok(entries) = tar.entries() else { return Ok(false) };
    for entry in entries.take(200_000) {
        let Ok(entry) = entry else { return Ok(false) };
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if name.trim_start_matches("./") == "moodle_backup.xml" {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn zip_has_backup_xml(path: &Path) -> Result<bool> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Io { path: path.into(), source })?;
    let Ok(zip) = zip::ZipArchive::new(std::io::BufReader::new(file)) else { return Ok(false) };
    Ok(zip.file_names_raw().any(|n| n.strip_prefix(b"./").unwrap_or(n) == b"moodle_backup.xml"))
}

/// Opens a backup in whichever layout it has, recognised by its magic bytes.
pub fn open(src: &Path, limits: &ImportLimits) -> Result<Archive> {
    if src.is_dir() {
        return archive::read_folder(src, limits);
    }
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(src)
        .and_then(|mut f| f.read(&mut magic))
        .map_err(|source| ImportError::Io { path: src.into(), source })?;
    match &magic[..n] {
        [0x1f, 0x8b, ..] => archive::read_tar_gz(src, limits),
        [b'P', b'K', ..] => archive::read_zip(src, limits),
        _ => Err(ImportError::NotMoodle("neither gzip (1f 8b) nor ZIP (PK) magic bytes".into())),
    }
}

/// Parses one XML member, bounded by the XML limits.
pub(crate) fn member_xml(a: &Archive, name: &str, limits: &ImportLimits) -> Result<Option<Element>> {
    let Some(bytes) = a.get(name) else { return Ok(None) };
    if bytes.len() as u64 > limits.max_xml_bytes {
        return Err(ImportError::limit(
            format!("XML file {name}"),
            format!("more than {} bytes", limits.max_xml_bytes),
        ));
    }
    xml::parse(bytes, name, limits.max_xml_depth).map(Some)
}

pub fn import(src: &Path, limits: &ImportLimits) -> Result<Imported> {
    let archive = open(src, limits)?;
    import_archive(&archive, limits)
}

/// Maps Moodle's `fr_ca`, `en_us`… to a BCP 47 primary tag.
fn language(moodle_lang: &str) -> String {
    moodle_lang.split(['_', '-']).next().unwrap_or("").to_ascii_lowercase()
}

pub fn import_archive(a: &Archive, limits: &ImportLimits) -> Result<Imported> {
    let backup = member_xml(a, "moodle_backup.xml", limits)?
        .ok_or_else(|| ImportError::NotMoodle("moodle_backup.xml is missing".into()))?;
    if backup.name != "moodle_backup" {
        return Err(ImportError::NotMoodle(format!("moodle_backup.xml has root <{}>", backup.name)));
    }
    let info = backup
        .child("information")
        .ok_or_else(|| ImportError::NotMoodle("moodle_backup.xml has no <information>".into()))?;
    let mut report = ImportReport::new("moodle");
    report.source_version = info.text("moodle_release");
    let course_xml = member_xml(a, "course/course.xml", limits)?;
    let title = course_xml
        .as_ref()
        .map(|c| c.text("fullname"))
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| info.text("original_course_fullname"));
    let lang = course_xml.as_ref().map(|c| language(&c.text("lang"))).unwrap_or_default();
    let course_ctx = course_xml
        .as_ref()
        .and_then(|c| c.attr("contextid").map(str::to_string))
        .unwrap_or_else(|| info.text("original_course_contextid"));
    report.title = title.clone();

    let files_doc = member_xml(a, "files.xml", limits)?;
    let mut files = files::Files::read(a, files_doc.as_ref(), &mut report);
    let questions_doc = member_xml(a, "questions.xml", limits)?;
    let empty = Element::default();
    let bank = questions::Bank::read(questions_doc.as_ref().unwrap_or(&empty));

    // Sections in course order, each with its activities in the section's order.
    let contents = info.child("contents");
    let listed: Vec<&Element> = contents.map(|c| c.all("activities/activity")).unwrap_or_default();
    let mut sections: Vec<(i64, String, String, String, Vec<String>, bool)> = Vec::new();
    for s in contents.map(|c| c.all("sections/section")).unwrap_or_default() {
        let dir = s.text("directory");
        let sx = member_xml(a, &format!("{dir}/section.xml"), limits)?;
        let sid = s.text("sectionid");
        let (number, name, summary, seq, visible) = match &sx {
            Some(x) => (
                x.int("number").unwrap_or(sections.len() as i64),
                x.text("name"),
                x.text("summary"),
                x.text("sequence"),
                x.text("visible") != "0",
            ),
            None => (sections.len() as i64, s.text("title"), String::new(), String::new(), true),
        };
        let name = if name.trim().is_empty() {
            if number == 0 { "Généralités".to_string() } else { format!("Section {number}") }
        } else {
            name
        };
        let mut order: Vec<String> = seq.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
        for act in &listed {
            let mid = act.text("moduleid");
            if act.text("sectionid") == sid && !order.contains(&mid) {
                order.push(mid);
            }
        }
        let summary = files.rewrite(
            &summary,
            &questions::FileArea {
                contextid: course_ctx.clone(),
                component: "course".into(),
                filearea: "section".into(),
                itemid: sid.clone(),
            },
            "",
            &mut Vec::new(),
        );
        sections.push((number, sid, name, summary, order, visible));
    }
    sections.sort_by_key(|s| s.0);
    if sections.is_empty() {
        // An activity backup: one section with every activity.
        let order = listed.iter().map(|a| a.text("moduleid")).collect();
        sections.push((0, String::new(), title.clone(), String::new(), order, true));
    }

    // Pack paths of every activity first, so that pages can link to each other.
    let by_module: std::collections::HashMap<String, &Element> =
        listed.iter().map(|a| (a.text("moduleid"), *a)).collect();
    for act in &listed {
        let (mid, modname) = (act.text("moduleid"), act.text("modulename"));
        files.activity_paths.insert(mid.clone(), activities::pack_path(&modname, &mid));
    }

    let mut tree = SourceTree::default();
    let mut outline = CourseOutline { title: title.clone(), summary_html: String::new(), sections: Vec::new() };
    if let Some(c) = &course_xml {
        outline.summary_html = files.rewrite(
            &c.text("summary"),
            &questions::FileArea {
                contextid: course_ctx.clone(),
                component: "course".into(),
                filearea: "summary".into(),
                itemid: "0".into(),
            },
            "",
            &mut Vec::new(),
        );
    }
    let mut ctx = activities::Ctx {
        archive: a,
        limits,
        files: &files,
        bank: &bank,
        report: &mut report,
        tree: &mut tree,
        lang: &lang,
        course_title: &title,
        used_questions: Default::default(),
        pages: Vec::new(),
    };
    let mut section_blocks = Vec::new();
    for (_, _, name, summary, order, visible) in &sections {
        let mut section = Section { title: name.clone(), summary_html: summary.clone(), activities: Vec::new() };
        let mut inline = Vec::new();
        for mid in order {
            let Some(act) = by_module.get(mid) else { continue };
            if !visible {
                ctx.report.activity(
                    &act.text("modulename"),
                    &act.text("title"),
                    Status::Skipped,
                    "dans une section cachée aux élèves / in a section hidden from students",
                );
                continue;
            }
            if let Some(done) = activities::import_activity(&mut ctx, act)? {
                if let Some(html) = &done.inline_html {
                    inline.push(html.clone());
                }
                section.activities.push(done.activity);
            }
        }
        if *visible {
            section_blocks.push((section.clone(), inline));
            outline.sections.push(section);
        }
    }
    let used = std::mem::take(&mut ctx.used_questions);
    let pages = std::mem::take(&mut ctx.pages);
    drop(ctx);
    activities::write_pages(&mut tree, pages, &outline.sections, &lang);
    report_bank(&bank, &used, &mut report);

    // The course home page.
    let mut body = String::new();
    body.push_str(&outline.summary_html);
    for (section, inline) in &section_blocks {
        // Moodle hides a section with nothing in it from pupils (a fresh course has
        // many): no activity, no label, no summary.
        if section.activities.is_empty() && inline.is_empty() && section.summary_html.trim().is_empty() {
            continue;
        }
        body.push_str(&activities::section_html(section, inline));
    }
    tree.add_bytes("index.html", crate::render::page(&title, &lang, &[], &body));
    report.pages += 1;
    let mut stored = 0usize;
    for f in &files.files {
        let blob = a.get(&format!("files/{}/{}", &f.contenthash[..2], f.contenthash)).expect("checked by Files::read");
        if f.mimetype.starts_with("image/") && blob.len() as u64 > limits.max_image_bytes {
            report.file(
                &f.pack_path,
                Status::Skipped,
                &format!("image de plus de {0} octets / image larger than {0} bytes", limits.max_image_bytes),
            );
            continue;
        }
        tree.add_bytes(f.pack_path.clone(), blob.to_vec());
        stored += 1;
    }
    let _ = stored;
    tree.add_bytes(course::COURSE_PATH, serde_json::to_vec_pretty(&outline).expect("serialisable"));
    tree.meta.title = title.clone();
    tree.meta.language = lang;
    tree.meta.kind = "moodle".into();
    tree.meta.entry = "index.html".into();
    tree.meta.source_revision = report.source_version.clone();
    tree.meta.source_url = info.text("original_wwwroot");
    tree.meta.source_id = info.text("original_course_id");
    tree.meta.description = crate::markdown::plain_text(&outline.summary_html, 300);
    tree.meta.id = preau_pack::path::slugify_id(
        &course_xml.as_ref().map(|c| c.text("shortname")).filter(|s| !s.is_empty()).unwrap_or(title),
    );
    report.files = tree.files.len() as u32 + 1;
    tree.add_bytes(course::IMPORT_REPORT_PATH, report.to_json());
    Ok(Imported { tree, report })
}

/// Counts every question of the bank in the report: the ones quizzes use are already
/// counted; the rest are listed as skipped with the reason.
fn report_bank(bank: &questions::Bank<'_>, used: &std::collections::HashSet<String>, report: &mut ImportReport) {
    let older = bank.order.iter().filter(|id| !bank.is_latest(id)).count();
    if older > 0 {
        report.warn(format!("{older} ancienne(s) version(s) de question ignorée(s) : la dernière version de chaque question est utilisée / {older} older question version(s) ignored; the latest version of each question is used"));
    }
    for id in &bank.order {
        if used.contains(id) || !bank.is_latest(id) || bank.is_child(id) {
            continue;
        }
        let q = bank.by_id[id].el;
        let qtype = q.text("qtype");
        if qtype == "random" {
            continue;
        }
        report.question(
            &qtype,
            &q.text("name"),
            Status::Skipped,
            "in the question bank but used by no quiz of this backup",
        );
    }
}
