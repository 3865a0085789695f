//! The classroom app over the box's real installed-pack library, as `preau serve` wires
//! it (`wiring::classroom_env`): a teacher installs their own course from a folder.
//! Here rather than in the app's own tests, which run without the box.

use std::path::PathBuf;

use axum::Router;
use axum::http::StatusCode;
use preau_box::config::Config;
use preau_box::packs::Library;
use preau_box::wiring;
use preau_classroom::AppEnv;
use preau_classroom::testkit::Client;
use std::sync::Arc;

/// A box as first started (the demo pack, signed by a throw-away key) over the real
/// installed-pack library, as `preau serve` wires it: its context, the app's routes,
/// the data folder and the folder that holds it.
fn real_box() -> (AppEnv, Router, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    preau_box::demo::install(&data).unwrap();
    let packs = Arc::new(Library::open(&data.join("repo")).unwrap());
    let env = wiring::classroom_env(&data, &Config::default(), &"0".repeat(32), packs, None);
    let (router, _hook) = preau_classroom::router(env.clone());
    (env, router, data, dir)
}

/// Creates the first teacher through the setup form and returns a signed-in client.
async fn teacher(env: &AppEnv, router: Router) -> Client {
    let mut c = Client::new(router);
    let r = c.get("/teacher/login").await;
    assert_eq!(r.location.as_deref(), Some("/teacher/setup"), "no teacher yet: setup first");
    let code = preau_classroom::setup_code(env).unwrap().unwrap();
    let r = c
        .post(
            "/teacher/setup",
            &[("code", &code), ("name", "Mme Durand"), ("password", "motdepasse1"), ("password2", "motdepasse1")],
        )
        .await;
    assert_eq!(r.location.as_deref(), Some("/teacher/"), "{}", r.body);
    c
}

#[tokio::test]
async fn a_teacher_adds_their_own_moodle_course_after_trusting_its_publisher() {
    let Some(mbz) = preau_tests::fixture("moodle/teluq-inf6450-fr-moodle41.mbz") else { return };
    let (env, router, data, _dir) = real_box();
    let mut t = teacher(&env, router).await;

    // The teacher's own course: a real Moodle backup, built with their own key.
    let stick = data.parent().unwrap().join("stick");
    let key = preau_pack::SecretKey::generate();
    let imported = preau_import::import(&mbz, &preau_import::ImportOptions::default()).unwrap();
    let id = imported.tree.meta.id.clone();
    let opts = preau_pack::build::BuildOptions { level: 1, ..Default::default() };
    preau_pack::build::build(&stick, imported.tree, &key, &opts, &mut |_, _| {}).unwrap();
    let folder = stick.to_str().unwrap().to_string();

    // The box follows the demo's publisher: it shows the stranger's fingerprint.
    let r = t.post("/admin/packs/add", &[("other", &folder)]).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let hex = key.public().to_hex();
    assert!(r.body.contains(&hex[..8]) && r.body.contains("Je fais confiance"), "{}", r.body);
    assert!(env.packs.list().iter().all(|p| p.id != id));

    // Trusting needs the box ticked, and the key that really signs the folder.
    let r = t.post("/admin/packs/add", &[("other", &folder), ("trust", &hex)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let other = preau_pack::SecretKey::generate().public().to_hex();
    let r = t.post("/admin/packs/add", &[("other", &folder), ("trust", &other), ("confirm", "yes")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = t.post("/admin/packs/add", &[("other", &folder), ("trust", &hex), ("confirm", "yes")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed: Vec<String> = env.packs.list().into_iter().map(|p| p.id).collect();
    let demo = preau_box::demo::source_tree().meta.id;
    assert!(listed.contains(&id) && listed.contains(&demo), "the demo pack stays: {listed:?}");
    assert!(env.packs.read(&id, "_preau/course.json").is_some(), "the course outline is on the box");

    // A second version from the same teacher goes in without asking again.
    let mut again = preau_import::import(&mbz, &preau_import::ImportOptions::default()).unwrap().tree;
    again.meta.title = "INF6450 (v2)".into();
    preau_pack::build::build(&stick, again, &key, &opts, &mut |_, _| {}).unwrap();
    let r = t.post("/admin/packs/add", &[("other", &folder)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(env.packs.list().iter().any(|p| p.title == "INF6450 (v2)"));
}
