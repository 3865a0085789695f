//! The real generators (MkDocs and Sphinx from PyPI, run under bubblewrap): its confinement, its
//! bounds, and the fallback chain when it cannot run. Every test shares one venv cache
//! under the target folder, so only the first one installs packages.
//!
//! Needs python3 with venv, bubblewrap and PyPI (`.ci/install.d/35-sitegen.sh`); outside
//! CI a test skips with one line when they are missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use preau_sitegen::{Error, Options};

fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sitegen-cache")
}

/// The packages of the Forge fixture's `.gitlab-ci.yml`: the same venv as every other test.
const CI: &str = "pages:\n  script:\n    - pip install mkdocs-material\n    - pip install mkdocs-macros-plugin\n    - mkdocs build --site-dir public\n";

fn tools_present() -> bool {
    let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
    let present = ok(Command::new("bwrap").arg("--version"))
        && ok(Command::new(preau_sitegen::default_python()).args(["-c", "import venv, ensurepip"]));
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "bubblewrap or python3-venv is missing in CI (.ci/install.d/35-sitegen.sh)"
        );
        eprintln!("skipped: bubblewrap or python3 with venv is not installed");
    }
    present
}

/// Makes the shared venv once per test binary (tests run in parallel).
fn options() -> Options {
    static WARM: OnceLock<()> = OnceLock::new();
    let opts = Options::new(cache());
    WARM.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        project(dir.path(), "def define_env(env):\n    pass\n");
        preau_sitegen::build_mkdocs(dir.path(), &opts).expect("a trivial site builds");
    });
    opts
}

/// A small MkDocs project with the macros plugin and this `main.py`.
fn project(dir: &Path, main_py: &str) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join(".gitlab-ci.yml"), CI).unwrap();
    std::fs::write(
        dir.join("mkdocs.yml"),
        "site_name: Essai\ntheme:\n  name: material\n  language: fr\nplugins:\n  - search\n  - macros\nmarkdown_extensions:\n  - admonition\n",
    )
    .unwrap();
    std::fs::write(dir.join("main.py"), main_py).unwrap();
    std::fs::write(dir.join("docs/index.md"), "# Accueil\n\n!!! note \"Titre\"\n    Texte {{ 2 + 3 }}.\n").unwrap();
}

#[test]
fn builds_a_page_with_the_real_generator() {
    if !tools_present() {
        return;
    }
    let opts = options();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "def define_env(env):\n    pass\n");
    let g = preau_sitegen::build_mkdocs(dir.path(), &opts).unwrap();
    assert!(g.venv_cached, "the second build reuses the cached venv");
    let index = String::from_utf8(g.files["index.html"].clone()).unwrap();
    assert!(index.contains("class=\"admonition note\""), "admonition rendered by pymdown/markdown");
    assert!(index.contains("Texte 5."), "Jinja evaluated by mkdocs-macros");
    assert!(g.files.keys().any(|p| p.starts_with("assets/")), "Material's assets are part of the output");
}

#[test]
fn the_build_has_no_network() {
    if !tools_present() {
        return;
    }
    let opts = options();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        &format!(
            "import urllib.request\n\ndef define_env(env):\n    urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=5).read()\n"
        ),
    );
    let err = preau_sitegen::build_mkdocs(dir.path(), &opts).unwrap_err();
    assert!(matches!(err, Error::Build(_)), "{err}");
    assert!(err.to_string().contains("URLError") || err.to_string().contains("refused"), "{err}");
    assert!(listener.accept().is_err(), "the host's listener got a connection from the build");
}

#[test]
fn the_build_cannot_write_outside_its_output() {
    if !tools_present() {
        return;
    }
    let opts = options();
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("escaped.txt");
    project(
        dir.path(),
        &format!(
            "def define_env(env):\n    for p in ['{}', '/src/escaped.txt']:\n        try:\n            open(p, 'w').write('x')\n        except OSError as e:\n            print('refused', p, e)\n        else:\n            raise SystemExit('wrote ' + p)\n    raise SystemExit('no write succeeded')\n",
            target.display()
        ),
    );
    let err = preau_sitegen::build_mkdocs(dir.path(), &opts).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("no write succeeded"), "{text}");
    assert!(text.contains("Read-only file system"), "the source is mounted read-only: {text}");
    assert!(!target.exists() && !dir.path().join("escaped.txt").exists());
}

#[test]
fn time_and_memory_bounds_stop_the_build_and_are_named() {
    if !tools_present() {
        return;
    }
    let mut opts = options();
    opts.time_limit = Duration::from_secs(5);
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "import time\n\ndef define_env(env):\n    time.sleep(600)\n");
    let err = preau_sitegen::build_mkdocs(dir.path(), &opts).unwrap_err();
    assert!(matches!(err, Error::TimeBound { secs: 5 }), "{err}");
    assert!(err.to_string().contains("time bound (5 s)"), "{err}");

    let mut opts = options();
    opts.memory_bytes = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    project(dir.path(), "def define_env(env):\n    env.hog = bytearray(2 << 30)\n");
    let err = preau_sitegen::build_mkdocs(dir.path(), &opts).unwrap_err();
    assert!(matches!(err, Error::MemoryBound { mib: 1024, .. }), "{err}");
    assert!(err.to_string().contains("memory bound (1024 MiB"), "{err}");
}

/// `../shared/fixtures/sites/ens-fr-learn-mkdocs-gitrepo.tar`, extracted; `None` (with a
/// line) outside CI when the fixtures are missing.
fn fixture_repo(into: &Path) -> Option<PathBuf> {
    let tar =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/sites/ens-fr-learn-mkdocs-gitrepo.tar");
    if !tar.is_file() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "fixture missing in CI: {}", tar.display());
        eprintln!("skipped: {} is missing", tar.display());
        return None;
    }
    let ok = Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(into).status().unwrap().success();
    assert!(ok, "tar -xf {}", tar.display());
    Some(into.join("learn-mkdocs"))
}

fn site(imported: &preau_import::Imported) -> preau_import::SiteReport {
    imported.report.site.clone().expect("a site report")
}

fn file(imported: &preau_import::Imported, path: &str) -> String {
    let f = imported.tree.files.iter().find(|f| f.path == path).unwrap_or_else(|| panic!("{path} is missing"));
    match &f.data {
        preau_pack::source::SourceData::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        preau_pack::source::SourceData::File(p) => std::fs::read_to_string(p).unwrap(),
    }
}

#[test]
fn without_generator_the_sources_built_site_then_the_internal_rendering() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(repo) = fixture_repo(tmp.path()) else { return };
    let mut opts = Options::new(cache());
    opts.python = PathBuf::from("/nonexistent/python3");

    // As a git repository without a built site: the internal rendering, and its list.
    let imported = preau_sitegen::import(&repo, &opts).unwrap();
    let s = site(&imported);
    assert_eq!((s.project.as_str(), s.path.as_str()), ("mkdocs", "internal"), "{s:?}");
    assert!(s.reasons.iter().any(|r| r.contains("/nonexistent/python3")), "{:?}", s.reasons);
    assert!(s.reasons.iter().any(|r| r.contains("no built site")), "{:?}", s.reasons);
    for construct in ["admonition", "attr_list", "jinja", "shortcode", "maths"] {
        assert!(s.unrendered.iter().any(|u| u.construct == construct), "{construct} not listed: {s:?}");
    }
    assert_eq!(s.unrendered_total as usize, s.unrendered.len(), "every one listed");
    assert!(imported.report.to_string().contains("autre(s) (liste complète"), "the screen shows a few per page");
    assert_eq!(imported.tree.meta.entry, "index.html");
    assert_eq!(imported.tree.meta.kind, "git");
    let report: serde_json::Value = serde_json::from_str(&file(&imported, "_preau/import-report.json")).unwrap();
    assert_eq!(report["site"]["path"], "internal");
    let index = file(&imported, "index.html");
    assert!(index.contains("lang=\"fr\"") && index.contains("Retour à l'accueil de Préau"), "{index}");

    // As a folder holding `public/` (what its CI job builds): that site, as it is.
    std::fs::remove_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("public/maths")).unwrap();
    std::fs::write(
        repo.join("public/index.html"),
        "<!doctype html><html><body><a href=\"maths/\">Maths</a></body></html>",
    )
    .unwrap();
    std::fs::write(repo.join("public/maths/index.html"), "<html lang=\"fr\"><body><p>x</p></body></html>").unwrap();
    let imported = preau_sitegen::import(&repo, &opts).unwrap();
    let s = site(&imported);
    assert_eq!(s.path, "prebuilt", "{s:?}");
    assert_eq!(imported.tree.meta.kind, "folder");
    assert!(s.reasons.iter().any(|r| r.contains("public/")), "{:?}", s.reasons);
    let index = file(&imported, "index.html");
    assert!(index.starts_with("<!doctype html><html lang=\"fr\"><body><a class=\"preau-retour\""), "{index}");
    assert!(file(&imported, "maths/index.html").contains("Retour à l'accueil"));
    assert!(!imported.tree.files.iter().any(|f| f.path.ends_with(".md")), "only the built site goes in the pack");
}

#[test]
fn refused_packages_fall_back_with_the_reason() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("cours");
    project(&src, "def define_env(env):\n    pass\n");
    // A package from somewhere else than PyPI is never installed.
    std::fs::write(src.join("requirements.txt"), "mkdocs\ngit+https://example.org/plugin.git\n").unwrap();
    let imported = preau_sitegen::import(&src, &Options::new(cache())).unwrap();
    let s = site(&imported);
    assert_eq!(s.path, "internal", "{s:?}");
    assert!(s.reasons[0].contains("requirements.txt") && s.reasons[0].contains("not URLs"), "{:?}", s.reasons);
    assert!(s.unrendered.iter().any(|u| u.construct == "jinja"), "{s:?}");
}

/// A small Sphinx project: `conf.py` in `docs/` (French, MyST for a Markdown chapter, a
/// theme from PyPI), an index in reStructuredText with a directive and a toctree.
fn sphinx_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(
        dir.join("docs/conf.py"),
        "project = 'Cours de physique'\nlanguage = 'fr'\nextensions = [\n    'sphinx.ext.mathjax',\n    'myst_parser',\n]\nhtml_theme = 'sphinx_rtd_theme'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("docs/index.rst"),
        "Accueil\n=======\n\n.. note::\n\n   Lisez le chapitre.\n\n.. toctree::\n\n   chapitre\n",
    )
    .unwrap();
    std::fs::write(dir.join("docs/chapitre.md"), "# Chapitre 1\n\nLa vitesse.\n\n```{warning}\nAttention.\n```\n")
        .unwrap();
}

#[test]
fn builds_a_sphinx_project_with_sphinx() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("physique");
    sphinx_project(&src);
    let imported = preau_sitegen::import(&src, &Options::new(cache())).unwrap();
    let s = site(&imported);
    assert_eq!((s.project.as_str(), s.path.as_str()), ("sphinx", "generator"), "{s:?}");
    assert!(s.generator.starts_with("sphinx-build -b html, confined"), "{}", s.generator);
    for package in ["myst-parser", "sphinx", "sphinx-rtd-theme"] {
        assert!(s.generator.contains(package), "{package} from conf.py: {}", s.generator);
    }
    assert_eq!(imported.tree.meta.title, "Cours de physique");
    assert_eq!(imported.tree.meta.language, "fr");
    assert_eq!(imported.tree.meta.entry, "index.html");
    let index = file(&imported, "index.html");
    assert!(index.contains("class=\"admonition note\""), "the rST directive is rendered: {index}");
    assert!(index.contains("lang=\"fr\"") && index.contains("Retour à l'accueil de Préau"));
    assert!(index.contains("href=\"chapitre.html\""), "the toctree links the chapter");
    let chapter = file(&imported, "chapitre.html");
    assert!(chapter.contains("class=\"admonition warning\""), "the MyST directive is rendered: {chapter}");
    assert!(imported.tree.files.iter().any(|f| f.path.starts_with("_static/css/")), "the theme's assets");
    assert!(!imported.tree.files.iter().any(|f| f.path.contains(".doctrees")), "no doctrees in the site");
}

#[test]
fn a_sphinx_project_without_its_generator_falls_back_to_its_built_site_then_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("physique");
    sphinx_project(&src);
    let mut opts = Options::new(cache());
    opts.python = PathBuf::from("/nonexistent/python3");
    // No built site: the files as they are, with the reason.
    let imported = preau_sitegen::import(&src, &opts).unwrap();
    let s = site(&imported);
    assert_eq!((s.project.as_str(), s.path.as_str()), ("sphinx", "none"), "{s:?}");
    assert!(s.reasons[0].contains("/nonexistent/python3"), "{:?}", s.reasons);
    assert!(s.reasons[1].contains("docs/_build/html/"), "{:?}", s.reasons);
    assert!(imported.tree.files.iter().any(|f| f.path == "docs/index.rst"));
    // `make html`'s output in the source: served as it is.
    std::fs::create_dir_all(src.join("docs/_build/html")).unwrap();
    std::fs::write(src.join("docs/_build/html/index.html"), "<html><body><p>Construit</p></body></html>").unwrap();
    let imported = preau_sitegen::import(&src, &opts).unwrap();
    let s = site(&imported);
    assert_eq!(s.path, "prebuilt", "{s:?}");
    assert_eq!(imported.tree.meta.title, "Cours de physique");
    assert_eq!(imported.tree.meta.entry, "index.html");
    let index = file(&imported, "index.html");
    assert!(index.starts_with("<html lang=\"fr\"><body><a class=\"preau-retour\""), "{index}");
    assert!(!imported.tree.files.iter().any(|f| f.path.ends_with(".rst")), "only the built site");
}
