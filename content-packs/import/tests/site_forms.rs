//! A MkDocs project is recognised by its content in every source form (folder, folder
//! with one top folder, tar, gzip tar, zip, git working copy, bare git repository) and,
//! without a generator, rendered by the fallback chain with a report that says so.
//! Other site projects (Sphinx, Jupyter Book, Hugo, Quarto) are recognised and reported.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use preau_import::{ImportOptions, Imported, SourceKind, detect, import};

fn project(top: &str) -> Vec<(String, Vec<u8>)> {
    [
        ("mkdocs.yml", "site_name: Cours de NSI\ntheme:\n  name: material\n  language: fr\n"),
        (
            "docs/index.md",
            "# Accueil\n\n!!! note \"À retenir\"\n    Texte.\n\nImage {: .center }\n\nVoir :star: et {{ macro() }}.\n",
        ),
        ("docs/chap/page.md", "# Chapitre\n\n$x^2$\n"),
    ]
    .iter()
    .map(|(p, t)| (format!("{top}{p}"), t.as_bytes().to_vec()))
    .collect()
}

fn write_folder(dir: &Path, members: &[(String, Vec<u8>)]) {
    for (p, b) in members {
        let to = dir.join(p);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, b).unwrap();
    }
}

fn write_tar(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed (.ci/install.d/30-import.sh)");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn assert_internal_site(imp: &Imported, kind: &str, root: &str) {
    let site = imp.report.site.as_ref().unwrap_or_else(|| panic!("{kind}: no site report"));
    assert_eq!((site.project.as_str(), site.path.as_str(), site.root.as_str()), ("mkdocs", "internal", root), "{kind}");
    let constructs: Vec<&str> = site.unrendered.iter().map(|u| u.construct.as_str()).collect();
    for c in ["attr_list", "shortcode", "jinja", "maths"] {
        assert!(constructs.contains(&c), "{kind}: {c} not reported in {constructs:?}");
    }
    assert_eq!(imp.tree.meta.kind, kind);
    assert_eq!(imp.tree.meta.entry, "index.html", "{kind}: the site's home is the start page");
    assert_eq!(imp.tree.meta.title, "Cours de NSI");
    assert_eq!(imp.tree.meta.language, "fr");
    let index = text(imp, "index.html");
    assert!(index.contains("<html lang=\"fr\">"), "{kind}");
    assert!(index.contains("href=\"/\" target=\"_top\""), "{kind}: back link");
    assert!(index.contains("admonition"), "{kind}: the internal renderer's admonition");
    assert!(has(imp, "chap/page.html"), "{kind}");
    assert!(has(imp, "_preau/import-report.json"), "{kind}");
    assert_builds(imp);
}

#[test]
fn mkdocs_is_recognised_in_every_source_form() {
    let dir = tempfile::tempdir().unwrap();
    let opts = ImportOptions::default();

    let folder = dir.path().join("cours");
    write_folder(&folder, &project(""));
    assert_eq!(detect(&folder).unwrap(), SourceKind::Folder);
    assert_internal_site(&import(&folder, &opts).unwrap(), "folder", "");

    let wrapped = dir.path().join("wrapped");
    write_folder(&wrapped, &project("cours-nsi/"));
    assert_internal_site(&import(&wrapped, &opts).unwrap(), "folder", "cours-nsi/");

    let tar = dir.path().join("cours.bin");
    write_tar(&tar, &project("cours-nsi/"));
    assert_eq!(detect(&tar).unwrap(), SourceKind::Tar);
    // A tar's single top folder is dropped when it is read: the project is at the top.
    assert_internal_site(&import(&tar, &opts).unwrap(), "tar", "");

    let tgz = dir.path().join("cours.tgz");
    write_tar_gz(&tgz, &project(""));
    assert_eq!(detect(&tgz).unwrap(), SourceKind::Tar);
    assert_internal_site(&import(&tgz, &opts).unwrap(), "tar", "");

    let zip = dir.path().join("cours.zip");
    write_zip(&zip, &project("cours-nsi/"));
    assert_eq!(detect(&zip).unwrap(), SourceKind::Zip);
    assert_internal_site(&import(&zip, &opts).unwrap(), "zip", "");

    let work = dir.path().join("depot");
    write_folder(&work, &project(""));
    git(&work, &["init", "-q"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "cours"]);
    assert_eq!(detect(&work).unwrap(), SourceKind::Git);
    assert_internal_site(&import(&work, &opts).unwrap(), "git", "");
    let bare = dir.path().join("depot.git");
    git(dir.path(), &["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()]);
    assert_eq!(detect(&bare).unwrap(), SourceKind::Git);
    assert_internal_site(&import(&bare, &opts).unwrap(), "git", "");
    // A bundle file (`git bundle create`), found by its signature line whatever its name.
    let bundle = dir.path().join("televerse");
    git(&work, &["bundle", "create", "-q", bundle.to_str().unwrap(), "--all"]);
    assert_eq!(detect(&bundle).unwrap(), SourceKind::Git);
    assert_internal_site(&import(&bundle, &opts).unwrap(), "git", "");
    // A bundle that lacks its objects is refused with git's own reason.
    let bytes = std::fs::read(&bundle).unwrap();
    let cut = dir.path().join("coupe.bundle");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    assert_eq!(detect(&cut).unwrap(), SourceKind::Git);
    let err = import(&cut, &opts).unwrap_err().to_string();
    assert!(err.contains("not a usable git bundle"), "{err}");
}

#[test]
fn a_gh_pages_branch_is_the_built_site() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("depot");
    write_folder(&work, &project(""));
    git(&work, &["init", "-q"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "cours"]);
    git(&work, &["checkout", "-q", "--orphan", "gh-pages"]);
    git(&work, &["rm", "-rqf", "."]);
    write_folder(&work, &[("index.html".into(), b"<html><body><p>Construit</p></body></html>".to_vec())]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "site"]);
    git(&work, &["checkout", "-q", "main"]);
    let imp = import(&work, &ImportOptions::default()).unwrap();
    let site = imp.report.site.as_ref().unwrap();
    assert_eq!(site.path, "prebuilt", "{site:?}");
    assert!(site.reasons.iter().any(|r| r.contains("gh-pages")), "{site:?}");
    assert!(text(&imp, "index.html").contains("<p>Construit</p>"));
}

#[test]
fn other_site_projects_are_recognised_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    for (name, files, project) in [
        ("sphinx", vec![("docs/conf.py", "project = 'x'\n"), ("docs/index.rst", "Titre\n=====\n")], "sphinx"),
        ("jb", vec![("_config.yml", "title: x\n"), ("_toc.yml", "root: intro\n")], "jupyter-book"),
        ("hugo", vec![("hugo.toml", "title = 'x'\n"), ("content/_index.md", "# x\n")], "hugo"),
        ("quarto", vec![("_quarto.yml", "project:\n  type: website\n"), ("index.qmd", "# x\n")], "quarto"),
    ] {
        let src = dir.path().join(name);
        let members: Vec<(String, Vec<u8>)> =
            files.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())).collect();
        write_folder(&src, &members);
        let imp = import(&src, &ImportOptions::default()).unwrap();
        let site = imp.report.site.as_ref().unwrap_or_else(|| panic!("{name}: not recognised"));
        assert_eq!((site.project.as_str(), site.path.as_str()), (project, "none"), "{name}");
        assert!(imp.report.warnings.iter().any(|w| w.contains(project)), "{name}: {:?}", imp.report.warnings);
        assert!(has(&imp, "_preau/import-report.json"));
    }
}

/// A Moodle backup kept unpacked in a git repository (as course backups are shared on
/// GitHub), or in a plain tar with one top folder, is the course, as its `.mbz` is.
#[test]
fn an_unpacked_moodle_backup_is_the_course_in_every_source_form() {
    let dir = tempfile::tempdir().unwrap();
    let mbz = dir.path().join("cours.mbz");
    write_tar_gz(&mbz, &synthetic_backup());
    let expected = import(&mbz, &ImportOptions::default()).unwrap();
    assert_eq!(expected.report.kind, "moodle");

    let repo = dir.path().join("backup-repo");
    std::fs::create_dir(&repo).unwrap();
    write_folder(&repo, &synthetic_backup());
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "backup"]);
    assert_eq!(detect(&repo).unwrap(), SourceKind::Git);
    let tar = dir.path().join("backup.tar");
    let in_top: Vec<_> = synthetic_backup().into_iter().map(|(p, b)| (format!("cours/{p}"), b)).collect();
    write_tar(&tar, &in_top);
    assert_eq!(detect(&tar).unwrap(), SourceKind::Tar);
    for src in [&repo, &tar] {
        let imp = import(src, &ImportOptions::default()).unwrap();
        assert_eq!(imp.report.kind, "moodle", "{}", src.display());
        assert_eq!(imp.tree.meta.title, expected.tree.meta.title);
        assert_eq!(text(&imp, "index.html"), text(&expected, "index.html"), "{}", src.display());
        assert!(!has(&imp, "moodle_backup.xml"), "the course, not the backup's files");
    }
}
