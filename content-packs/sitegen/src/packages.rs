//! The Python packages a MkDocs project needs, as its authors declared them: its
//! `requirements.txt`, else the `pip install` lines of its CI (`.gitlab-ci.yml`, the Pages
//! job that really builds the site on La Forge, or a GitHub Actions workflow under
//! `.github/workflows/`), completed by the plugins of `mkdocs.yml` the CI lines do not
//! name, else the theme, plugins and Markdown extensions named in `mkdocs.yml`, mapped to
//! their PyPI packages.

use std::collections::{BTreeMap, BTreeSet};

/// The packages to install, and where they were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packages {
    /// Requirement specifiers, sorted, deduplicated (`mkdocs-material`, `mkdocs==1.6.1`).
    pub specs: Vec<String>,
    /// `requirements.txt`, `.gitlab-ci.yml`, `.github/workflows/…` or `mkdocs.yml`.
    pub declared_in: String,
    /// What a CI file installs from elsewhere than PyPI (`git+https://…`), left out: the
    /// same plugin from PyPI (named in `mkdocs.yml`) takes its place when there is one.
    pub skipped: Vec<String>,
}

impl Packages {
    /// True when the project chose versions itself: then the crate's constraints file is
    /// not used (it could contradict them).
    pub fn pinned(&self) -> bool {
        self.specs.iter().any(|s| s.contains(['=', '<', '>', '~']))
    }
}

/// Most requirement lines read from a project.
const MAX_SPECS: usize = 200;

/// Finds the packages of the MkDocs project whose files are `files` (paths relative to
/// the project's folder).
pub fn declared(files: &BTreeMap<String, Vec<u8>>) -> Result<Packages, String> {
    let text = |p: &str| files.get(p).map(|b| String::from_utf8_lossy(b).into_owned());
    let yml = text("mkdocs.yml").or_else(|| text("mkdocs.yaml")).unwrap_or_default();
    let mut skipped = Vec::new();
    let ci_files = std::iter::once(".gitlab-ci.yml".to_string())
        .chain(files.keys().filter(|p| p.starts_with(".github/workflows/")).cloned());
    let mut from_ci = None;
    for path in ci_files {
        let Some(ci) = text(&path) else { continue };
        let specs = ci_pip_lines(&ci, files, &path, &mut skipped)?;
        if !specs.is_empty() {
            from_ci = Some((specs, path));
            break;
        }
        skipped.clear();
    }
    let (mut specs, declared_in) = if let Some((path, req)) =
        ["requirements.txt", "docs/requirements.txt"].iter().find_map(|p| text(p).map(|t| (*p, t)))
    {
        skipped.clear();
        (requirements(&req, files, path, 0)?, path.to_string())
    } else if let Some((mut ci, path)) = from_ci {
        // A CI file often installs a plugin from its git repository, or forgets one the
        // image already had: the PyPI packages of `mkdocs.yml`'s plugins complete it.
        let have: BTreeSet<String> = ci.iter().map(|s| name_of(s)).collect();
        let extra = from_mkdocs_yml(&yml, false)?;
        ci.extend(extra.into_iter().filter(|s| !have.contains(&name_of(s))));
        (ci, path)
    } else {
        (from_mkdocs_yml(&yml, true)?, "mkdocs.yml".to_string())
    };
    if !specs.iter().any(|s| name_of(s) == "mkdocs") {
        specs.push("mkdocs".into());
    }
    let specs: BTreeSet<String> =
        specs.into_iter().filter(|s| !["pip", "setuptools", "wheel"].contains(&name_of(s).as_str())).collect();
    if specs.len() > MAX_SPECS {
        return Err(format!("more than {MAX_SPECS} Python packages declared in {declared_in}"));
    }
    Ok(Packages { specs: specs.into_iter().collect(), declared_in, skipped })
}

/// The normalised distribution name of a specifier (`Mkdocs_Material[x]>=9` → `mkdocs-material`).
pub fn name_of(spec: &str) -> String {
    spec.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .to_ascii_lowercase()
        .replace(['_', '.'], "-")
}

/// One requirement specifier, checked: a name, extras, versions, markers; never a URL,
/// a path or a pip option (those would fetch or run something else than PyPI packages).
fn check_spec(spec: &str, whence: &str) -> Result<String, String> {
    let spec = spec.trim().trim_matches(['"', '\'']);
    let bad = |why: &str| Err(format!("{whence}: requirement {spec:?} is not accepted ({why})"));
    if spec.starts_with('-') {
        return bad("pip options are not accepted");
    }
    if spec.contains("://") || spec.contains('@') || spec.starts_with(['.', '/']) {
        return bad("only packages from the Python package index, not URLs or paths");
    }
    if name_of(spec).is_empty() || spec.len() > 200 {
        return bad("not a package name");
    }
    let ok = spec.chars().all(|c| c.is_ascii_alphanumeric() || " -_.[],<>=!~*;\"'+()".contains(c));
    if !ok {
        return bad("unexpected characters");
    }
    Ok(spec.to_string())
}

fn requirements(text: &str, files: &BTreeMap<String, Vec<u8>>, whence: &str, depth: u8) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(other) = line.strip_prefix("-r ").or_else(|| line.strip_prefix("--requirement ")) {
            out.extend(included(other.trim(), files, whence, depth)?);
            continue;
        }
        out.push(check_spec(line, whence)?);
    }
    Ok(out)
}

fn included(path: &str, files: &BTreeMap<String, Vec<u8>>, whence: &str, depth: u8) -> Result<Vec<String>, String> {
    if depth >= 2 {
        return Err(format!("{whence}: requirement files nested too deep"));
    }
    let path = path.trim_matches(['"', '\'']).trim_start_matches("./");
    let text = files.get(path).ok_or_else(|| format!("{whence}: requirement file {path} is not in the project"))?;
    requirements(&String::from_utf8_lossy(text), files, path, depth + 1)
}

/// The packages of every `pip install` line of a CI file (GitLab CI or a GitHub Actions
/// workflow). URLs and paths are left out into `skipped` (a CI job may install a plugin
/// from its git repository; the box's builder takes only PyPI packages).
fn ci_pip_lines(
    ci: &str,
    files: &BTreeMap<String, Vec<u8>>,
    whence: &str,
    skipped: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in ci.lines() {
        let Some(at) = line.find("pip install").or_else(|| line.find("pip3 install")) else { continue };
        let rest = &line[at..];
        let rest = without_ci_expressions(&rest[rest.find("install").expect("found above") + "install".len()..]);
        let mut words = rest.split_whitespace();
        while let Some(w) = words.next() {
            if ["&&", ";", "|", "||"].contains(&w) {
                break;
            }
            match w {
                "-r" | "--requirement" => {
                    let file = words.next().ok_or(format!("{whence}: `pip install -r` without a file"))?;
                    out.extend(included(file, files, whence, 0)?);
                }
                // Options that change nothing about what is installed.
                "-U" | "--upgrade" | "-q" | "--quiet" | "--user" | "--no-cache-dir" | "-v" | "--verbose" => {}
                w if w.starts_with('-') => {
                    return Err(format!("{whence}: pip option {w} is not accepted"));
                }
                w if w.contains("://") || w.starts_with(['.', '/']) || w.contains('@') => {
                    skipped.push(w.trim_matches(['"', '\'']).to_string());
                }
                // `${{ … }}` and `$VAR`: CI variables, not packages.
                w if w.contains('$') || w.contains('{') => {}
                w => out.push(check_spec(w, whence)?),
            }
        }
    }
    Ok(out)
}

/// A line without its GitHub Actions expressions (`${{ matrix.x }}`): CI values, not packages.
fn without_ci_expressions(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("${{") {
        out.push_str(&rest[..at]);
        rest = rest[at..].find("}}").map_or("", |end| &rest[at + end + 2..]);
    }
    out.push_str(rest);
    out
}

/// PyPI packages of the MkDocs plugins Forge course sites use.
const PLUGINS: &[(&str, &str)] = &[
    ("search", ""),
    ("macros", "mkdocs-macros-plugin"),
    ("awesome-pages", "mkdocs-awesome-pages-plugin"),
    ("git-revision-date-localized", "mkdocs-git-revision-date-localized-plugin"),
    ("glightbox", "mkdocs-glightbox"),
    ("pyodide_macros", "pyodide-mkdocs-theme"),
    ("exclude", "mkdocs-exclude"),
    ("mermaid2", "mkdocs-mermaid2-plugin"),
    ("redirects", "mkdocs-redirects"),
    ("minify", "mkdocs-minify-plugin"),
    ("tags", ""),
    ("offline", ""),
    ("blog", ""),
    ("i18n", "mkdocs-static-i18n"),
    ("sqlite-console", "mkdocs-sqlite-console"),
    ("exclude-search", "mkdocs-exclude-search"),
    ("enumerate-headings", "mkdocs-enumerate-headings-plugin"),
    ("git-revision-date", "mkdocs-git-revision-date-plugin"),
    ("git-authors", "mkdocs-git-authors-plugin"),
    ("include-markdown", "mkdocs-include-markdown-plugin"),
    ("print-site", "mkdocs-print-site-plugin"),
    ("section-index", "mkdocs-section-index"),
    ("literate-nav", "mkdocs-literate-nav"),
    ("table-reader", "mkdocs-table-reader-plugin"),
    ("codeinclude", "mkdocs-codeinclude-plugin"),
    ("markmap", "mkdocs-markmap"),
    ("mkdocs-jupyter", "mkdocs-jupyter"),
];

/// `strict`: an unknown plugin is an error naming it (else it is left for MkDocs to report).
fn from_mkdocs_yml(yml: &str, strict: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut section = "";
    for line in yml.lines() {
        let top = !line.starts_with([' ', '\t', '-']) && !line.trim().is_empty();
        if top {
            let (key, value) = line.split_once(':').unwrap_or((line, ""));
            section = match key.trim() {
                "theme" => "theme",
                "plugins" => "plugins",
                "markdown_extensions" => "extensions",
                _ => "",
            };
            let value = value.split('#').next().unwrap_or("").trim().trim_matches(['"', '\'']);
            if section == "theme" && !value.is_empty() {
                out.extend(theme_package(value));
            }
            continue;
        }
        let t = line.trim();
        match section {
            // The theme's own `name:` (the first level under `theme:`), not a palette
            // toggle's `name: Mode clair` further in.
            "theme" if item_indent(line) && !t.starts_with('-') => {
                if let Some(v) = t.strip_prefix("name:") {
                    out.extend(theme_package(v.split('#').next().unwrap_or("").trim().trim_matches(['"', '\''])));
                }
            }
            "plugins" | "extensions" if t.starts_with("- ") && item_indent(line) => {
                let item = t[2..].split(['#', ':']).next().unwrap_or("").trim().trim_matches(['"', '\'']);
                if section == "plugins" {
                    match PLUGINS.iter().find(|(n, _)| *n == item) {
                        Some((_, "")) => {}
                        Some((_, package)) => out.push(package.to_string()),
                        None if !strict => {}
                        None => {
                            return Err(format!(
                                "mkdocs.yml: plugin {item:?} has no known PyPI package: list the project's packages in requirements.txt"
                            ));
                        }
                    }
                } else if item.starts_with("pymdownx.") {
                    out.push("pymdown-extensions".into());
                }
            }
            _ => {}
        }
        if t.contains("materialx.") {
            out.push("mkdocs-material-extensions".into());
        }
    }
    Ok(out)
}

/// True for the items of the list directly under a top-level key (not nested options).
fn item_indent(line: &str) -> bool {
    line.len() - line.trim_start().len() <= 4
}

fn theme_package(name: &str) -> Option<String> {
    match name {
        "material" => Some("mkdocs-material".into()),
        "readthedocs" | "mkdocs" | "" => None,
        other => Some(format!("mkdocs-{other}")),
    }
}

/// Sphinx themes that come with Sphinx itself.
const SPHINX_BUILTIN_THEMES: &[&str] = &[
    "alabaster",
    "classic",
    "default",
    "sphinxdoc",
    "scrolls",
    "agogo",
    "traditional",
    "nature",
    "haiku",
    "pyramid",
    "bizstyle",
    "basic",
    "epub",
];

/// Finds the packages of the Sphinx project whose files are `files`, `conf.py` being in
/// `conf_dir` (`""`, `"docs/"`…): the requirements file its Read the Docs configuration
/// names, else the usual documentation requirements files (`docs/requirements.txt`…),
/// else its top `requirements.txt`; completed by the PyPI packages of the theme and
/// extensions `conf.py` names that the requirements do not.
pub fn declared_sphinx(files: &BTreeMap<String, Vec<u8>>, conf_dir: &str) -> Result<Packages, String> {
    let text = |p: &str| files.get(p).map(|b| String::from_utf8_lossy(b).into_owned());
    let conf_path = format!("{conf_dir}conf.py");
    let conf = text(&conf_path).unwrap_or_default();
    let mut candidates: Vec<String> = [".readthedocs.yaml", ".readthedocs.yml", "readthedocs.yml"]
        .iter()
        .filter_map(|p| text(p))
        .flat_map(|y| readthedocs_requirements(&y))
        .collect();
    candidates.extend(
        [format!("{conf_dir}requirements.txt"), "docs/requirements.txt".into(), "doc/requirements.txt".into()]
            .into_iter()
            .chain(["requirements-docs.txt".into(), "docs-requirements.txt".into(), "requirements.txt".into()]),
    );
    let (mut specs, declared_in) = match candidates.iter().find_map(|p| text(p).map(|t| (p.clone(), t))) {
        Some((path, req)) => (requirements(&req, files, &path, 0)?, path),
        None => (Vec::new(), conf_path.clone()),
    };
    let have: BTreeSet<String> = specs.iter().map(|s| name_of(s)).collect();
    let extra = from_conf_py(&conf, files);
    specs.extend(extra.into_iter().filter(|s| !have.contains(&name_of(s))));
    if !specs.iter().any(|s| name_of(s) == "sphinx") {
        specs.push("sphinx".into());
    }
    let specs: BTreeSet<String> =
        specs.into_iter().filter(|s| !["pip", "setuptools", "wheel"].contains(&name_of(s).as_str())).collect();
    if specs.len() > MAX_SPECS {
        return Err(format!("more than {MAX_SPECS} Python packages declared in {declared_in}"));
    }
    let declared_in =
        if declared_in == conf_path { declared_in } else { format!("{declared_in} (completed by {conf_path})") };
    Ok(Packages { specs: specs.into_iter().collect(), declared_in, skipped: Vec::new() })
}

/// `python: install: - requirements: PATH` of a Read the Docs configuration (what Read
/// the Docs, where many Sphinx projects are published, installs before building).
fn readthedocs_requirements(yml: &str) -> Vec<String> {
    yml.lines()
        .filter_map(|l| l.trim().trim_start_matches("- ").trim().strip_prefix("requirements:"))
        .map(|v| {
            v.split(" #").next().unwrap_or("").trim().trim_matches(['"', '\'']).trim_start_matches("./").to_string()
        })
        .filter(|v| !v.is_empty())
        .take(4)
        .collect()
}

/// The PyPI packages of `conf.py`'s `html_theme` and `extensions` (the file is Python,
/// never run here: only string literals are read). Sphinx's own extensions (`sphinx.ext.…`)
/// and themes need nothing; an extension that is a module of the project itself (a
/// `NAME.py` or `NAME/` folder in it) is not looked for on PyPI; otherwise the
/// conventional names map to their distributions (`sphinx_design` → `sphinx-design`,
/// `sphinxcontrib.mermaid` → `sphinxcontrib-mermaid`, `myst_parser` → `myst-parser`).
fn from_conf_py(conf: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(theme) = preau_import::site::conf_py_string(conf, "html_theme")
        && !SPHINX_BUILTIN_THEMES.contains(&theme.as_str())
    {
        out.push(theme.replace('_', "-"));
    }
    for module in conf_py_list(conf, "extensions") {
        let top = module.split('.').next().unwrap_or("");
        if top == "sphinx" || top.is_empty() {
            continue;
        }
        let local = files.keys().any(|p| {
            let file = p.rsplit('/').next().unwrap_or(p);
            file == format!("{top}.py") || p.starts_with(&format!("{top}/")) || p.contains(&format!("/{top}/"))
        });
        if local {
            continue;
        }
        let package = match module.as_str() {
            m if m.starts_with("sphinxcontrib.") => m.split('.').take(2).collect::<Vec<_>>().join("-"),
            _ => top.replace('_', "-"),
        };
        if check_spec(&package, "conf.py").is_ok() {
            out.push(package);
        }
    }
    out
}

/// The string literals of a top-level list assignment of `conf.py` (`extensions = [ … ]`,
/// possibly over several lines), at most 100.
fn conf_py_list(conf: &str, name: &str) -> Vec<String> {
    let Some(start) = conf.lines().position(|l| {
        l.strip_prefix(name).is_some_and(|r| r.trim_start().starts_with('=') && !r.trim_start().starts_with("=="))
    }) else {
        return Vec::new();
    };
    let mut text = String::new();
    for line in conf.lines().skip(start).take(200) {
        let line = line.split('#').next().unwrap_or("");
        text.push_str(line);
        text.push('\n');
        if line.contains(']') {
            break;
        }
    }
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(a) = rest.find(['"', '\'']) {
        let q = rest[a..].chars().next().expect("found");
        let Some(e) = rest[a + 1..].find(q) else { break };
        out.push(rest[a + 1..a + 1 + e].to_string());
        rest = &rest[a + 2 + e..];
        if out.len() >= 100 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        list.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())).collect()
    }

    #[test]
    fn requirements_win_then_ci_then_mkdocs_yml() {
        let ci = "pages:\n  script:\n    - /usr/local/bin/python -m pip install --upgrade pip\n    - python -m pip install mkdocs-material\n    - pip install mkdocs-macros-plugin && mkdocs build\n";
        let yml = "theme:\n  name: material\nplugins:\n  - search\n  - awesome-pages\nmarkdown_extensions:\n  - pymdownx.emoji:\n      emoji_index: !!python/name:materialx.emoji.twemoji\n";
        let p = declared(&files(&[
            ("requirements.txt", "mkdocs==1.6.1\n# c\nMkdocs_Material>=9\n"),
            (".gitlab-ci.yml", ci),
        ]))
        .unwrap();
        assert_eq!(p.specs, ["Mkdocs_Material>=9", "mkdocs==1.6.1"]);
        assert!(p.pinned());
        let p = declared(&files(&[(".gitlab-ci.yml", ci), ("mkdocs.yml", yml)])).unwrap();
        // The CI's packages, completed by what mkdocs.yml names and the CI does not.
        assert_eq!(
            p.specs,
            [
                "mkdocs",
                "mkdocs-awesome-pages-plugin",
                "mkdocs-macros-plugin",
                "mkdocs-material",
                "mkdocs-material-extensions",
                "pymdown-extensions"
            ]
        );
        assert_eq!(p.declared_in, ".gitlab-ci.yml");
        assert!(!p.pinned());
        let p = declared(&files(&[("mkdocs.yml", yml)])).unwrap();
        assert_eq!(
            p.specs,
            [
                "mkdocs",
                "mkdocs-awesome-pages-plugin",
                "mkdocs-material",
                "mkdocs-material-extensions",
                "pymdown-extensions"
            ]
        );
    }

    #[test]
    fn a_github_workflow_counts_and_mkdocs_yml_completes_it() {
        let wf = "jobs:\n  deploy:\n    steps:\n      - run: pip install mkdocs-material\n      - run: pip install git+https://github.com/Epithumia/mkdocs-sqlite-console.git\n      - run: pip install ${{ matrix.x }}\n";
        let yml = "theme:\n  name: material\nplugins:\n  - search\n  - sqlite-console\n  - macros\n  - unknown-thing\n";
        let p = declared(&files(&[(".github/workflows/ci.yml", wf), ("mkdocs.yml", yml)])).unwrap();
        assert_eq!(p.declared_in, ".github/workflows/ci.yml");
        assert_eq!(p.specs, ["mkdocs", "mkdocs-macros-plugin", "mkdocs-material", "mkdocs-sqlite-console"]);
        assert_eq!(p.skipped, ["git+https://github.com/Epithumia/mkdocs-sqlite-console.git"]);
    }

    #[test]
    fn urls_options_and_unknown_plugins_are_refused_by_name() {
        let err = declared(&files(&[("requirements.txt", "git+https://evil.example/x.git\n")])).unwrap_err();
        assert!(err.contains("not URLs"), "{err}");
        let err = declared(&files(&[("requirements.txt", "--index-url http://x\n")])).unwrap_err();
        assert!(err.contains("pip options"), "{err}");
        let err = declared(&files(&[("requirements.txt", "-r missing.txt\n")])).unwrap_err();
        assert!(err.contains("missing.txt"), "{err}");
        let toggles =
            "theme:\n  name: material\n  palette:\n    - scheme: default\n      toggle:\n        name: Mode clair\n";
        assert_eq!(declared(&files(&[("mkdocs.yml", toggles)])).unwrap().specs, ["mkdocs", "mkdocs-material"]);
        let err = declared(&files(&[("mkdocs.yml", "plugins:\n  - strange-thing\n")])).unwrap_err();
        assert!(err.contains("strange-thing"), "{err}");
    }

    #[test]
    fn sphinx_packages_from_readthedocs_requirements_and_conf_py() {
        let conf = "project = 'Cours'\nhtml_theme = \"sphinx_rtd_theme\"\nextensions = [\n    'sphinx.ext.mathjax',  # maths\n    \"myst_parser\",\n    'sphinxcontrib.mermaid', 'monext',\n]\n";
        let p = declared_sphinx(&files(&[("docs/conf.py", conf), ("docs/monext.py", "")]), "docs/").unwrap();
        assert_eq!(p.specs, ["myst-parser", "sphinx", "sphinx-rtd-theme", "sphinxcontrib-mermaid"]);
        assert_eq!(p.declared_in, "docs/conf.py");
        assert!(!p.pinned());
        let rtd = "version: 2\npython:\n  install:\n    - requirements: docs/doc-reqs.txt\n";
        let p = declared_sphinx(
            &files(&[
                ("source/conf.py", conf),
                (".readthedocs.yaml", rtd),
                ("docs/doc-reqs.txt", "Sphinx==9.0.4\nmyst-parser\n"),
                ("requirements.txt", "numpy\n"),
            ]),
            "source/",
        )
        .unwrap();
        assert_eq!(p.specs, ["Sphinx==9.0.4", "monext", "myst-parser", "sphinx-rtd-theme", "sphinxcontrib-mermaid"]);
        assert_eq!(p.declared_in, "docs/doc-reqs.txt (completed by source/conf.py)");
        assert!(p.pinned());
        let err = declared_sphinx(&files(&[("conf.py", ""), ("requirements.txt", "-e .\n")]), "").unwrap_err();
        assert!(err.contains("pip options"), "{err}");
        assert_eq!(
            declared_sphinx(&files(&[("conf.py", "html_theme = 'alabaster'\n")]), "").unwrap().specs,
            ["sphinx"]
        );
    }
}
