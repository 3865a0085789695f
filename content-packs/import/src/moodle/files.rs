//! The backup's file pool (`files.xml` + `files/<xx>/<sha1>`) and the rewriting of the
//! links Moodle leaves in HTML fields: `@@PLUGINFILE@@/name` (a file of the field's file
//! area) and `$@PAGEVIEWBYID*12@$`-style links to other activities of the course.

use std::collections::HashMap;

use super::questions::FileArea;
use crate::archive::Archive;
use crate::report::{ImportReport, Status};
use crate::sanitize::{clean, percent_decode, url_path};

/// One stored file of the backup.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub contenthash: String,
    pub area: (String, String, String, String),
    /// `/dir/name.ext` inside its area.
    pub path: String,
    pub filename: String,
    pub mimetype: String,
    /// Where it goes in the pack.
    pub pack_path: String,
}

#[derive(Debug, Default)]
pub struct Files {
    pub files: Vec<StoredFile>,
    /// (contextid, component, filearea, itemid, path) → index in `files`.
    index: HashMap<(String, String, String, String, String), usize>,
    /// Activity links: module id → pack path of its page (from the pack root).
    pub activity_paths: HashMap<String, String>,
}

/// Components whose files never belong in a pupil's pack (users' own files, backups).
fn private_component(component: &str) -> bool {
    component == "user" || component == "backup" || component.starts_with("assignsubmission_")
}

fn safe_component(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() || c == '/' || c == '\\' { '_' } else { c }).collect();
    match s.as_str() {
        "" => "_".into(),
        "." | ".." => format!("_{s}"),
        _ => s.chars().take(200).collect(),
    }
}

impl Files {
    /// Reads `files.xml`. Files that are missing from `files/` are reported, not fatal.
    pub fn read(archive: &Archive, doc: Option<&crate::xml::Element>, report: &mut ImportReport) -> Files {
        let mut out = Files::default();
        let Some(doc) = doc else { return out };
        let mut seen = std::collections::HashSet::new();
        for f in doc.children_named("file") {
            let filename = f.text("filename");
            let component = f.text("component");
            if filename == "." || filename.is_empty() || private_component(&component) {
                continue;
            }
            let hash = f.text("contenthash").to_ascii_lowercase();
            if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                report.file(
                    &filename,
                    Status::Skipped,
                    "empreinte du contenu fausse dans files.xml / bad content hash in files.xml",
                );
                continue;
            }
            if archive.get(&format!("files/{}/{hash}", &hash[..2])).is_none() {
                report.file(
                    &filename,
                    Status::Skipped,
                    "listé dans files.xml mais absent de files/ / listed in files.xml but missing from files/",
                );
                continue;
            }
            let area = (f.text("contextid"), component, f.text("filearea"), f.text("itemid"));
            let filepath = f.text("filepath");
            let path = format!("{}{}", if filepath.is_empty() { "/" } else { &filepath }, filename);
            let key = (area.0.clone(), area.1.clone(), area.2.clone(), area.3.clone(), path.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            let mut parts = vec![
                "files".to_string(),
                safe_component(&area.0),
                safe_component(&area.1),
                safe_component(&area.2),
                safe_component(&area.3),
            ];
            parts.extend(path.split('/').filter(|c| !c.is_empty()).map(safe_component));
            let pack_path = parts.join("/");
            out.index.insert(key, out.files.len());
            out.files.push(StoredFile {
                contenthash: hash,
                area,
                path,
                filename,
                mimetype: f.text("mimetype"),
                pack_path,
            });
        }
        out
    }

    pub fn find(&self, area: &FileArea, path: &str) -> Option<&StoredFile> {
        let key = (
            area.contextid.clone(),
            area.component.clone(),
            area.filearea.clone(),
            area.itemid.clone(),
            path.to_string(),
        );
        if let Some(i) = self.index.get(&key) {
            return Some(&self.files[*i]);
        }
        // Some fields use item 0 or another item of the same area: match by path.
        self.files.iter().find(|f| {
            f.area.0 == area.contextid && f.area.1 == area.component && f.area.2 == area.filearea && f.path == path
        })
    }

    /// Files of one area, in path order (resources, folders).
    pub fn in_area(&self, contextid: &str, component: &str, filearea: &str) -> Vec<&StoredFile> {
        let mut v: Vec<&StoredFile> = self
            .files
            .iter()
            .filter(|f| f.area.0 == contextid && f.area.1 == component && f.area.2 == filearea)
            .collect();
        v.sort_by(|a, b| a.path.cmp(&b.path));
        v
    }

    /// Resolves links in a raw HTML field, then sanitises it. `prefix` leads from the
    /// page that will hold the HTML back to the pack root (`""` or `"../"`).
    pub fn rewrite(&self, html: &str, area: &FileArea, prefix: &str, missing: &mut Vec<String>) -> String {
        let mut out = String::with_capacity(html.len());
        let mut rest = html;
        const TOKEN: &str = "@@PLUGINFILE@@";
        while let Some(at) = rest.find(TOKEN) {
            out.push_str(&rest[..at]);
            let after = &rest[at + TOKEN.len()..];
            let end = after.find(['"', '\'', '<', '>', ' ', '\n', '\t', ')']).unwrap_or(after.len());
            let raw = &after[..end];
            let no_query = raw.split(['?', '#']).next().unwrap_or("");
            let decoded = percent_decode(no_query);
            let path = if decoded.starts_with('/') { decoded } else { format!("/{decoded}") };
            match self.find(area, &path) {
                Some(f) => out.push_str(&format!("{prefix}{}", url_path(&f.pack_path))),
                None => {
                    missing.push(path);
                    out.push('#');
                }
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        let by_context = self.rewrite_by_context(&out, prefix, missing);
        let linked = self.rewrite_activity_links(&by_context, prefix);
        clean(&linked)
    }

    /// `$@PLUGINFILEBYCONTEXT*<contextid>@$/<component>/<filearea>/<itemid>/<path>`: a file
    /// of another context (often an activity that is not in the backup).
    fn rewrite_by_context(&self, html: &str, prefix: &str, missing: &mut Vec<String>) -> String {
        const TOKEN: &str = "$@PLUGINFILEBYCONTEXT*";
        let mut out = String::with_capacity(html.len());
        let mut rest = html;
        while let Some(at) = rest.find(TOKEN) {
            out.push_str(&rest[..at]);
            let after = &rest[at + TOKEN.len()..];
            let end = after.find(['"', '\'', '<', '>', ' ', '\n', '\t', ')']).unwrap_or(after.len());
            let raw = &after[..end];
            let resolved = raw.split_once("@$").and_then(|(ctx, path)| {
                let decoded = percent_decode(path.split(['?', '#']).next().unwrap_or(""));
                let mut parts = decoded.trim_start_matches('/').splitn(4, '/');
                let (component, filearea, itemid, file) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                let area = FileArea {
                    contextid: ctx.into(),
                    component: component.into(),
                    filearea: filearea.into(),
                    itemid: itemid.into(),
                };
                self.find(&area, &format!("/{file}")).map(|f| format!("{prefix}{}", url_path(&f.pack_path)))
            });
            match resolved {
                Some(url) => out.push_str(&url),
                None => {
                    missing.push(raw.split_once("@$").map(|x| x.1).unwrap_or(raw).to_string());
                    out.push('#');
                }
            }
            rest = &after[end..];
        }
        out.push_str(rest);
        out
    }

    /// `$@PAGEVIEWBYID*12@$`, `$@QUIZVIEWBYID*7@$`, `$@COURSEVIEWBYID*2@$`… (Moodle's
    /// backup encoding of internal links).
    fn rewrite_activity_links(&self, html: &str, prefix: &str) -> String {
        let mut out = String::with_capacity(html.len());
        let mut rest = html;
        while let Some(at) = rest.find("$@") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let Some(end) = after.find("@$").filter(|e| *e < 80) else {
                out.push_str("$@");
                rest = after;
                continue;
            };
            let code = &after[..end];
            let replacement = match code.split_once('*') {
                Some((name, _)) if name.starts_with("COURSEVIEW") => Some(format!("{prefix}index.html")),
                Some((name, id)) if name.ends_with("VIEWBYID") || name.ends_with("INDEX") => {
                    self.activity_paths.get(id).map(|p| format!("{prefix}{}", url_path(p)))
                }
                _ => None,
            };
            match replacement {
                Some(r) => out.push_str(&r),
                None if code.chars().all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '_') => out.push('#'),
                None => out.push_str(&rest[at..at + 2 + end + 2]),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}
