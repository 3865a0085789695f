//! The import report: what was imported, degraded or skipped, and why. Printed by
//! `preau pack build` (Display for people, serde for `--json`) and stored in the pack at
//! `_preau/import-report.json`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Kept with everything that matters.
    Imported,
    /// Kept, but something was lost (a "not available offline" page, a dropped option).
    Degraded,
    /// Left out of the pack.
    Skipped,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub imported: u32,
    pub degraded: u32,
    pub skipped: u32,
}

impl Counts {
    pub fn total(&self) -> u32 {
        self.imported + self.degraded + self.skipped
    }
}

/// One thing that was not imported as it was, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// `activity`, `question` or `file`.
    pub what: String,
    /// The Moodle module or question type, or the file's path.
    pub kind: String,
    pub name: String,
    pub status: Status,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    /// What the source was: `moodle`, `gift`, `moodle-xml`, `git`, `folder`, `tar`, `zim`.
    pub kind: String,
    pub title: String,
    /// For example the Moodle release that wrote the backup, or the git commit.
    pub source_version: String,
    /// Per activity type (Moodle module name).
    pub activities: BTreeMap<String, Counts>,
    /// Per question type (Moodle qtype name).
    pub questions: BTreeMap<String, Counts>,
    /// Pages rendered to HTML by the importer.
    pub pages: u32,
    /// Files in the resulting tree.
    pub files: u32,
    /// Everything degraded or skipped, with its reason.
    pub items: Vec<Item>,
    pub warnings: Vec<String>,
    /// For a site project (MkDocs…): how its pages were made. Absent for other sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteReport>,
    /// What was done so that no page loads anything from outside the box
    /// (`preau-offline`, after the import): one line per reference and page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offline: Vec<OfflineChange>,
}

/// How the pages of a site project were made, and why that way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteReport {
    /// `mkdocs`, `sphinx`, `jupyter-book`, `hugo` or `quarto`.
    pub project: String,
    /// The project's folder inside the source (`""`: its top).
    pub root: String,
    /// `generator` (the project's own generator ran), `prebuilt` (a built site the
    /// source holds: `site/`, `public/` or a `gh-pages` branch), `internal` (Préau's
    /// Markdown rendering) or `none` (a project kind that is recognised, not built).
    pub path: String,
    /// The generator and the packages it ran with, when it ran.
    pub generator: String,
    /// Why each earlier path of the chain was not taken.
    pub reasons: Vec<String>,
    /// Source syntax the internal rendering left as text, every one (up to 5000;
    /// `unrendered_total` counts them all).
    pub unrendered: Vec<Unrendered>,
    pub unrendered_total: u32,
    /// The site's own address online (`site_url` of `mkdocs.yml`): pages and plugins that
    /// write absolute addresses to it are pointed at the pack's own files (`preau-offline`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub site_url: String,
}

/// One piece of source syntax left as text in a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrendered {
    pub page: String,
    /// `admonition`, `attr_list`, `jinja`, `shortcode`, `maths`, `tabs` or `keys`.
    pub construct: String,
    pub sample: String,
}

/// One outside reference of one page, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineChange {
    /// The pack file (page or stylesheet) that holds the reference.
    pub page: String,
    /// The reference as written.
    pub url: String,
    /// `library` (now from the libraries pack), `downloaded` (stored in the pack),
    /// `removed`, `shim-dropped`, `link-marked` (an outside link kept, marked as needing
    /// the internet), `kept` (a library URL in a script that could not be made local).
    pub action: String,
    /// The new reference, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Why, in French (a substituted version, a failed download…).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl ImportReport {
    pub fn new(kind: &str) -> ImportReport {
        ImportReport { kind: kind.into(), ..Default::default() }
    }

    fn count(map: &mut BTreeMap<String, Counts>, kind: &str, status: Status) {
        let c = map.entry(kind.to_string()).or_default();
        match status {
            Status::Imported => c.imported += 1,
            Status::Degraded => c.degraded += 1,
            Status::Skipped => c.skipped += 1,
        }
    }

    fn item(&mut self, what: &str, kind: &str, name: &str, status: Status, reason: &str) {
        if status != Status::Imported {
            self.items.push(Item {
                what: what.into(),
                kind: kind.into(),
                name: name.into(),
                status,
                reason: reason.into(),
            });
        }
    }

    pub fn activity(&mut self, kind: &str, name: &str, status: Status, reason: &str) {
        Self::count(&mut self.activities, kind, status);
        self.item("activity", kind, name, status, reason);
    }

    pub fn question(&mut self, qtype: &str, name: &str, status: Status, reason: &str) {
        Self::count(&mut self.questions, qtype, status);
        self.item("question", qtype, name, status, reason);
    }

    pub fn file(&mut self, path: &str, status: Status, reason: &str) {
        self.item("file", path, path, status, reason);
    }

    pub fn warn(&mut self, w: impl Into<String>) {
        self.warnings.push(w.into());
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a report always serialises")
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Import {} : {}", self.kind, self.title)?;
        if !self.source_version.is_empty() {
            writeln!(f, "  version de la source : {}", self.source_version)?;
        }
        writeln!(f, "  {} page(s) générée(s), {} fichier(s) dans le paquet", self.pages, self.files)?;
        for (label, map) in [("Activités", &self.activities), ("Questions", &self.questions)] {
            if map.is_empty() {
                continue;
            }
            writeln!(f, "  {label} (importées / dégradées / ignorées) :")?;
            for (k, c) in map {
                writeln!(f, "    {k:<16} {:>4} / {:>4} / {:>4}", c.imported, c.degraded, c.skipped)?;
            }
        }
        for i in &self.items {
            let s = match i.status {
                Status::Imported => "importé",
                Status::Degraded => "dégradé",
                Status::Skipped => "ignoré",
            };
            writeln!(f, "  [{s}] {} {} « {} » : {}", i.what, i.kind, i.name, i.reason)?;
        }
        for w in &self.warnings {
            writeln!(f, "  attention : {w}")?;
        }
        if let Some(site) = &self.site {
            let how = match site.path.as_str() {
                "generator" => "construit par son générateur",
                "prebuilt" => "site déjà construit trouvé dans la source",
                "internal" => "rendu Markdown interne de Préau",
                _ => "reconnu, non construit",
            };
            let root = if site.root.is_empty() { String::new() } else { format!(" (dossier {})", site.root) };
            writeln!(f, "  site {}{root} : {how}", site.project)?;
            if !site.generator.is_empty() {
                writeln!(f, "    générateur : {}", site.generator)?;
            }
            for r in &site.reasons {
                writeln!(f, "    pourquoi : {r}")?;
            }
            if site.unrendered_total > 0 {
                writeln!(f, "    {} élément(s) de syntaxe laissé(s) en texte :", site.unrendered_total)?;
                // A few of each kind per page on screen; every one is in the JSON report.
                let mut shown: BTreeMap<(&str, &str), u32> = BTreeMap::new();
                for u in &site.unrendered {
                    let n = shown.entry((u.page.as_str(), u.construct.as_str())).or_default();
                    *n += 1;
                    if *n <= 3 {
                        writeln!(f, "      {} {} : {}", u.page, u.construct, u.sample)?;
                    }
                }
                let listed: u32 = shown.values().map(|n| (*n).min(3)).sum();
                if site.unrendered_total > listed {
                    writeln!(
                        f,
                        "      … et {} autre(s) (liste complète : _preau/import-report.json)",
                        site.unrendered_total - listed
                    )?;
                }
            }
        }
        for c in &self.offline {
            let what = match c.action.as_str() {
                "library" => "bibliothèque locale",
                "downloaded" => "téléchargé",
                "removed" => "retiré",
                "shim-dropped" => "polyfill retiré",
                "link-marked" => "lien marqué (internet)",
                "kept" => "laissé tel quel",
                other => other,
            };
            write!(f, "  [hors ligne] {} : {} — {what}", c.page, c.url)?;
            if !c.target.is_empty() {
                write!(f, " → {}", c.target)?;
            }
            if !c.detail.is_empty() {
                write!(f, " ({})", c.detail)?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
