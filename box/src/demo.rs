//! The embedded demo pack: a small French course (three lessons and a quiz), installed on
//! first start so that `cargo run --release -- serve` shows a working box.
//!
//! Its source tree (`box/demo/`) is compiled into the binary. It is built into a
//! temporary repository with a throw-away key and installed through the same verified,
//! atomic apply step as every other pack (`preau_sync::install_from_folder`): the server
//! never writes installed packs itself.

use std::path::Path;

use anyhow::{Context, Result};
use preau_pack::build::{BuildOptions, build};
use preau_pack::installed::Installed;
use preau_pack::sign::SecretKey;
use preau_pack::{PackMeta, SourceTree};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "demo/"]
struct DemoFiles;

pub const DEMO_ID: &str = "demo-francais";

/// Written once the demo was installed: a teacher who removes it does not get it back.
const MARKER: &str = "identity/demo-installed";

/// The demo pack's source tree.
pub fn source_tree() -> SourceTree {
    let meta = PackMeta {
        id: DEMO_ID.into(),
        title: "Le groupe nominal (démonstration)".into(),
        description: "Un petit cours de français : le nom, l'adjectif, les accords, et un quiz.".into(),
        language: "fr".into(),
        subjects: vec!["Français".into()],
        level: "cycle 3".into(),
        licence: "CC-BY-SA-4.0".into(),
        entry: "index.html".into(),
        kind: "folder".into(),
        ..PackMeta::default()
    };
    let mut tree = SourceTree { meta, files: Vec::new() };
    for path in DemoFiles::iter() {
        let file = DemoFiles::get(&path).expect("embedded file listed by iter");
        tree.add_bytes(path.to_string(), file.data.into_owned());
    }
    tree
}

/// Installs the demo pack on the first start of a box with no packs; true if it did.
pub fn install_on_first_start(data_dir: &Path) -> Result<bool> {
    let repo_dir = data_dir.join("repo");
    if data_dir.join(MARKER).exists() || !Installed::load(&repo_dir)?.packs.is_empty() {
        return Ok(false);
    }
    install(data_dir)?;
    let marker = data_dir.join(MARKER);
    std::fs::create_dir_all(marker.parent().expect("has a parent"))?;
    std::fs::write(&marker, "the demo pack was installed once\n")
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(true)
}

/// Builds the demo pack in a temporary repository and installs it into `data_dir`.
pub fn install(data_dir: &Path) -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot make a temporary folder for the demo pack")?;
    let src_repo = tmp.path().join("repo");
    // A throw-away key: it signs this one local build and is forgotten.
    let key = SecretKey::generate();
    let opts = BuildOptions { level: 3, ..BuildOptions::default() };
    build(&src_repo, source_tree(), &key, &opts, &mut |_, _| {}).context("cannot build the demo pack")?;
    preau_sync::install_from_folder(&src_repo, data_dir, &[key.public()], None)
        .context("cannot install the demo pack")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use preau_pack::course::CourseOutline;
    use preau_pack::quiz::Quiz;

    #[test]
    fn demo_data_files_follow_the_pack_data_model() {
        let tree = source_tree();
        let get = |p: &str| match &tree.files.iter().find(|f| f.path == p).unwrap_or_else(|| panic!("{p} missing")).data
        {
            preau_pack::SourceData::Bytes(b) => b.clone(),
            _ => unreachable!(),
        };
        let quiz: Quiz = serde_json::from_slice(&get("_preau/quiz/accords.json")).unwrap();
        assert_eq!(quiz.questions.len(), 4);
        let course: CourseOutline = serde_json::from_slice(&get("_preau/course.json")).unwrap();
        for a in course.activities() {
            assert!(a.path.starts_with("_quiz/") || tree.files.iter().any(|f| f.path == a.path), "{}", a.path);
        }
        assert!(tree.files.iter().any(|f| f.path == "index.html"));
    }

    #[test]
    fn installed_once_through_the_apply_step() {
        let d = tempfile::tempdir().unwrap();
        assert!(install_on_first_start(d.path()).unwrap());
        let installed = Installed::load(&d.path().join("repo")).unwrap();
        assert!(installed.packs.contains_key(DEMO_ID));
        assert!(!install_on_first_start(d.path()).unwrap());
        let lib = crate::packs::Library::open(&d.path().join("repo")).unwrap();
        let pack = lib.get(DEMO_ID).unwrap();
        let quiz = lib.read_private(DEMO_ID, "quiz/accords.json").unwrap().unwrap();
        assert!(String::from_utf8(quiz).unwrap().contains("bateaux"));
        let index = pack.public_file("index.html").unwrap();
        assert!(String::from_utf8(lib.read_file(index).unwrap()).unwrap().contains("groupe nominal"));
        assert!(pack.public_file("_preau/course.json").is_none());
    }
}
