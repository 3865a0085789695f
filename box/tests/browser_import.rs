//! The admin page's course import in a real browser (Debian's `chromium` +
//! `chromium-driver`, headless) against a real `preau serve`: the teacher picks a GIFT
//! file in the file input and clicks « Importer »; the French report comes back and the
//! course is on the pupils' home page (screenshot in `target/e2e/`). A file larger than
//! the card can hold is refused in the page before it is sent.

mod app_support;
mod common;

use app_support::chromium::{start_driver, wait_h1};
use fantoccini::{Client, Locator};

async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// Creates the first teacher and opens the admin page.
async fn admin_page(c: &Client, base: &str) {
    c.goto(&format!("{base}/teacher/setup")).await.unwrap();
    element(c, "input[name=code]").await.send_keys("483920").await.unwrap();
    element(c, "input[name=name]").await.send_keys("Mme Durand").await.unwrap();
    element(c, "input[name=password]").await.send_keys("motdepasse1").await.unwrap();
    element(c, "input[name=password2]").await.send_keys("motdepasse1").await.unwrap();
    element(c, "main form button").await.click().await.unwrap();
    assert_eq!(wait_h1(c, "Tableau de bord").await, "Tableau de bord");
    c.goto(&format!("{base}/admin/")).await.unwrap();
    assert_eq!(wait_h1(c, "La boîte").await, "La boîte");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_card_cannot_hold_is_refused_before_it_is_sent() {
    let Some(fixtures) = preau_tests::fixture("moodle").map(|m| m.parent().unwrap().to_path_buf()) else { return };
    let gift = fixtures.join("questions/gift/uclouvain-louv23x-module2-fr.gift");
    let dir = tempfile::tempdir().unwrap();
    // No room left above the floor the box keeps.
    let floor = (u64::MAX / 4).to_string();
    let server = common::Server::start_in_env(
        &dir.path().join("data"),
        "[box]\nsetup_code = \"483920\"",
        &[("PREAU_FREE_FLOOR_BYTES", &floor)],
    );
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_driver(profile.path()).await;
    admin_page(&c, &format!("http://{}", server.addr)).await;
    element(&c, "form[action='/admin/packs/upload'] input[type=file]")
        .await
        .send_keys(gift.to_str().unwrap())
        .await
        .unwrap();
    let button = element(&c, "form[action='/admin/packs/upload'] button").await;
    assert_eq!(button.attr("disabled").await.unwrap().as_deref(), Some("true"));
    let note = element(&c, "#upload-note").await.text().await.unwrap();
    assert!(note.contains("trop gros pour la place libre"), "{note}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_imports_a_gift_file_from_the_admin_page() {
    let Some(fixtures) = preau_tests::fixture("moodle").map(|m| m.parent().unwrap().to_path_buf()) else { return };
    let gift = fixtures.join("questions/gift/uclouvain-louv23x-module2-fr.gift");
    let server = common::Server::start("[box]\nsetup_code = \"483920\"");
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = start_driver(profile.path()).await;
    admin_page(&c, &base).await;
    element(&c, "form[action='/admin/packs/upload'] input[type=file]")
        .await
        .send_keys(gift.to_str().unwrap())
        .await
        .unwrap();
    element(&c, "form[action='/admin/packs/upload'] button").await.click().await.unwrap();
    assert_eq!(wait_h1(&c, "Cours importé").await, "Cours importé", "{}", c.source().await.unwrap());
    let report = element(&c, "pre.report").await.text().await.unwrap();
    assert!(report.contains("Import gift"), "{report}");
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("admin-import-report.png"), c.screenshot().await.unwrap()).unwrap();

    // The pupils' home lists the course.
    let home = common::request(server.addr, "GET", "/", &[("accept-language", "fr")], b"").text();
    assert!(home.contains("uclouvain-louv23x-module2-fr"), "{home}");
    c.close().await.unwrap();
}
