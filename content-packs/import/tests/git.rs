//! A git repository made by the test (with the `git` command) becomes a navigable site:
//! the commit's tree, not the working copy; MkDocs nav and admonitions; plain Markdown
//! with a generated navigation; a prebuilt `public/` site served as it is.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use preau_import::{ImportOptions, SourceKind, detect, import};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.org",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed (.ci/install.d/30-import.sh)");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn markdown_repository_becomes_a_navigable_site() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("cours-svt");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(&repo, "README.md", "# Cours de SVT\n\nBienvenue. Voir [la cellule](chapitres/cellule.md#debut).\n");
    write(
        &repo,
        "chapitres/cellule.md",
        "# La cellule\n\nLa formule $a_1 + b_2$ reste telle quelle.\n\n```python\nprint('x')\n```\n\n[Retour](../README.md)\n",
    );
    write(&repo, "chapitres/image.png", "PNGDATA");
    write(&repo, "LICENSE", "Creative Commons Attribution-ShareAlike 4.0 International Public License\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "v1"]);
    let v1 = git(&repo, &["rev-parse", "HEAD"]);
    write(&repo, "chapitres/adn.md", "# L'ADN\n\n<script>alert(1)</script>Texte.\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "v2"]);
    let v2 = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["remote", "add", "origin", "https://user:token@forge.example/svt/cours.git"]);
    // Not committed: must not appear in the pack.
    write(&repo, "brouillon.md", "# Brouillon secret\n");

    assert_eq!(detect(&repo).unwrap(), SourceKind::Git);
    let imp = import(&repo, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    assert_eq!(imp.tree.meta.title, "Cours de SVT");
    assert_eq!(imp.tree.meta.source_revision, v2);
    assert_eq!(imp.tree.meta.source_url, "https://forge.example/svt/cours.git");
    assert_eq!(imp.tree.meta.licence, "CC-BY-SA-4.0");
    assert_eq!(imp.tree.meta.kind, "git");
    assert_eq!(imp.tree.meta.id, "cours-svt");
    assert!(!has(&imp, "brouillon.html") && !has(&imp, "brouillon.md"), "working copy leaked");
    assert_eq!(file(&imp, "chapitres/image.png"), b"PNGDATA");
    assert_eq!(imp.report.pages, 3);

    let index = text(&imp, "index.html");
    assert!(index.contains("href=\"chapitres/cellule.html#debut\""), "{index}");
    assert!(index.contains("href=\"chapitres/adn.html\""), "generated navigation: {index}");
    let cell = text(&imp, "chapitres/cellule.html");
    assert!(cell.contains("href=\"../index.html\""), "{cell}");
    assert!(cell.contains("$a_1 + b_2$"), "TeX kept: {cell}");
    assert!(cell.contains("language-python"), "code block: {cell}");
    let adn = text(&imp, "chapitres/adn.html");
    assert!(!adn.contains("<script"));
    assert!(adn.contains("Suivant") || adn.contains("Précédent"));

    // Images over the image limit are left out and reported.
    let small = preau_import::ImportLimits { max_image_bytes: 3, ..Default::default() };
    let bounded = import(&repo, &ImportOptions { limits: small, ..Default::default() }).unwrap();
    assert!(!has(&bounded, "chapitres/image.png"));
    assert!(bounded.report.items.iter().any(|i| i.kind == "chapitres/image.png" && i.reason.contains("image")));
    // An older ref gives that commit's tree.
    let old = import(&repo, &ImportOptions { git_ref: Some(v1.clone()), ..Default::default() }).unwrap();
    assert!(!has(&old, "chapitres/adn.html"));
    assert_eq!(old.tree.meta.source_revision, v1);
    let tagged = {
        git(&repo, &["tag", "v1", &v1]);
        import(&repo, &ImportOptions { git_ref: Some("v1".into()), ..Default::default() }).unwrap()
    };
    assert_eq!(tagged.tree.meta.source_revision, v1);
    let err = import(&repo, &ImportOptions { git_ref: Some("nope".into()), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn mkdocs_project_uses_its_nav() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("site");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    write(
        &repo,
        "mkdocs.yml",
        "site_name: Maths en seconde\nsite_description: Cours et exercices\ntheme:\n  name: material\nnav:\n  - Accueil: index.md\n  - Fonctions:\n    - Généralités: fonctions/intro.md\n    - fonctions/affines.md\nmarkdown_extensions:\n  - admonition\n",
    );
    write(&repo, "docs/index.md", "# Accueil\n\nBienvenue.\n");
    write(
        &repo,
        "docs/fonctions/intro.md",
        "# Les fonctions\n\n!!! note \"À retenir\"\n    Une fonction associe **un seul** nombre.\n\nSuite.\n",
    );
    write(&repo, "docs/fonctions/affines.md", "# Fonctions affines\n\n???+ tip\n    Le coefficient directeur.\n");
    write(&repo, "README.md", "# Dépôt\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let imp = import(&repo, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    assert_eq!(imp.tree.meta.title, "Maths en seconde");
    assert_eq!(imp.tree.meta.description, "Cours et exercices");
    assert!(!has(&imp, "README.html"), "only docs_dir is the site");
    let intro = text(&imp, "fonctions/intro.html");
    assert!(intro.contains("class=\"admonition note\"") && intro.contains("À retenir"), "{intro}");
    assert!(intro.contains("<strong>un seul</strong>"));
    // Nav order: Accueil, Généralités, affines.
    assert!(
        intro.contains("href=\"../index.html\">← Précédent") || intro.contains("href=\"../index.html\""),
        "{intro}"
    );
    assert!(intro.contains("href=\"../fonctions/affines.html\">Suivant"), "{intro}");
    let affines = text(&imp, "fonctions/affines.html");
    assert!(affines.contains("<details") && affines.contains("Astuce"), "{affines}");
    let home = text(&imp, "index.html");
    let (a, b) = (home.find("Généralités").unwrap(), home.find("Fonctions affines").unwrap());
    assert!(a < b, "nav order kept");
}

#[test]
fn prebuilt_public_site_is_served_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("p");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let html = "<!DOCTYPE html><html><head><title>Site construit</title></head><body><script src=\"app.js\"></script></body></html>";
    write(&repo, "public/index.html", html);
    write(&repo, "public/app.js", "console.log(1)");
    write(&repo, "src/index.md", "# Source\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let imp = import(&repo, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    assert_eq!(text(&imp, "index.html"), html, "byte-exact");
    assert!(has(&imp, "app.js"));
    assert!(!has(&imp, "src/index.html"));
    assert_eq!(imp.tree.meta.title, "Site construit");
}

/// Every relative `href`/`src` of the HTML files of `imp` names a file of the pack.
fn assert_links_resolve(imp: &preau_import::Imported) {
    for f in imp.tree.files.iter().filter(|f| f.path.ends_with(".html")) {
        let html = text(imp, &f.path);
        let dir = f.path.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
        for attr in ["href=\"", "src=\""] {
            for link in html.split(attr).skip(1).map(|h| h.split('"').next().unwrap()) {
                let target = link.split(['#', '?']).next().unwrap();
                if target.is_empty() || target.contains(':') {
                    continue;
                }
                let joined = format!("{dir}{target}");
                let mut parts: Vec<&str> = Vec::new();
                for c in joined.split('/') {
                    match c {
                        ".." => {
                            parts.pop();
                        }
                        "." | "" => {}
                        c => parts.push(c),
                    }
                }
                let path = parts.join("/");
                assert!(has(imp, &path), "{}: link {link:?} leads to {path:?}, which is not in the pack", f.path);
            }
        }
    }
}

/// A Forge project that is a hand-written static site (HTML, CSS, no Markdown, no
/// mkdocs.yml) is served as it is: its own index.html, byte for byte, not a generated
/// start page over it.
#[test]
fn hand_written_html_site_is_served_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("site-histoire");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let index = "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Histoire 5e</title>\n\
                 <link rel=\"stylesheet\" href=\"style.css\"></head>\n<body><h1>Histoire 5e</h1>\n\
                 <p><a href=\"page.html\">Le Moyen Âge</a> · <a href=\"chapitres/renaissance.html#debut\">La Renaissance</a></p>\n\
                 <img src=\"img/carte.svg\" alt=\"carte\"></body></html>\n";
    let page = "<!DOCTYPE html><html><head><title>Le Moyen Âge</title><link rel=\"stylesheet\" href=\"style.css\"></head>\
                <body><p><a href=\"index.html\">Accueil</a></p></body></html>";
    let renaissance = "<html><head><link rel=\"stylesheet\" href=\"../style.css\"></head><body id=\"debut\">\
                       <a href=\"../index.html\">Accueil</a></body></html>";
    let css = "body { font-family: serif; }\n";
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    write(&repo, "index.html", index);
    write(&repo, "page.html", page);
    write(&repo, "chapitres/renaissance.html", renaissance);
    write(&repo, "style.css", css);
    write(&repo, "img/carte.svg", svg);
    write(&repo, ".gitlab-ci.yml", "pages: {}\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "site"]);

    assert_eq!(detect(&repo).unwrap(), SourceKind::Git);
    let imp = import(&repo, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    assert_eq!(text(&imp, "index.html"), index, "the project's own index.html, byte for byte");
    assert_eq!(text(&imp, "page.html"), page);
    assert_eq!(text(&imp, "chapitres/renaissance.html"), renaissance);
    assert_eq!(text(&imp, "style.css"), css);
    assert_eq!(text(&imp, "img/carte.svg"), svg);
    assert!(!served_text(&imp).contains("Sommaire"), "a generated start page crept in");
    assert_eq!(imp.tree.meta.entry, "index.html");
    assert_eq!(imp.tree.meta.title, "Histoire 5e");
    assert_eq!(imp.report.pages, 0, "no page was rendered");
    assert_links_resolve(&imp);
}

/// A hand-written index.html beside Markdown chapters (and a README.md describing the
/// repository): the chapters are rendered as before, the author's index.html is kept
/// byte for byte, neither the README nor a generated start page replaces it.
#[test]
fn hand_written_index_wins_over_markdown_pages() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("mixte");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let index = "<html><head><title>Physique</title></head><body><a href=\"optique.html\">Optique</a></body></html>";
    write(&repo, "index.html", index);
    write(&repo, "README.md", "# Dépôt du site de physique\n\nOuvrir index.html.\n");
    write(&repo, "optique.md", "# Optique\n\nLa lumière [accueil](index.html).\n");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "site"]);
    let imp = import(&repo, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    assert_eq!(text(&imp, "index.html"), index);
    let optique = text(&imp, "optique.html");
    assert!(optique.contains("La lumière"), "{optique}");
    assert_eq!(imp.report.pages, 1);
    assert_links_resolve(&imp);
}

/// The real "Cours de Python" (CC BY-SA, Fuchs & Poulain) committed to a fresh
/// repository becomes a site: one page per chapter, images kept, no `.md` link left.
#[test]
fn real_markdown_course_becomes_a_site() {
    let Some(tar_path) = fixture("sites/cours-python_2025-09-29_366b8c0.tar") else { return };
    let dir = tempfile::tempdir().unwrap();
    tar::Archive::new(std::fs::File::open(&tar_path).unwrap()).unpack(dir.path()).unwrap();
    let repo = dir.path().join("cours-python");
    let md_count = walk(&repo).iter().filter(|p| p.ends_with(".md")).count();
    assert_eq!(md_count, 31);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "import"]);
    let imp = import(&repo, &ImportOptions::default()).unwrap();
    assert_builds(&imp);
    // 31 Markdown files, plus a generated index page for the `cours/` folder? No: the
    // README becomes index.html, and every chapter its own page.
    assert_eq!(imp.report.pages, 31);
    assert_eq!(imp.tree.meta.title, "Cours de Python");
    assert_eq!(imp.tree.meta.licence, "CC-BY-SA-4.0");
    let chap = text(&imp, "cours/27_mini_projets.html");
    assert!(chap.contains("src=\"img/pendule.png\""), "relative image kept");
    assert!(has(&imp, "cours/img/pendule.png"));
    assert!(chap.contains("href=\"../index.html\""));
    for f in imp.tree.files.iter().filter(|f| f.path.ends_with(".html")) {
        let html = text(&imp, &f.path);
        for href in html.split("href=\"").skip(1).map(|h| h.split('"').next().unwrap()) {
            let target = href.split('#').next().unwrap();
            assert!(
                !target.ends_with(".md") || target.contains("://"),
                "{}: link {href} to a Markdown file was not rewritten",
                f.path
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
    out
}
