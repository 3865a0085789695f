//! Driving Debian's `chromium` + `chromium-driver` (headless) for the classroom's browser
//! tests: a session per window size and language, the few actions the tests use, and
//! axe-core (npm `axe-core`, `.ci/install.d/55-axe.sh`) run on a page.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Kills chromedriver when the test ends, however it ends.
pub struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `target/e2e/`, where screenshots are kept.
pub fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A French browser on a phone-sized window (420 × 900).
pub async fn start_driver(profile: &Path) -> (Driver, Client) {
    start_driver_with(profile, (420, 900), "fr-FR,fr").await
}

/// A browser with a window of `size` whose preferred languages are `langs`.
pub async fn start_driver_with(profile: &Path, size: (u32, u32), langs: &str) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver is installed (apt-get install chromium chromium-driver; see .ci/install.d/50-box-app.sh)",
        );
    let driver = Driver(child);
    let first = langs.split(',').next().unwrap_or("fr-FR");
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "prefs": {"intl.accept_languages": langs},
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-dev-shm-usage", format!("--window-size={},{}", size.0, size.1), format!("--lang={first}"),
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let mut caps = caps.as_object().unwrap().clone();
    // Desktop Chromium keeps windows at least 500 px wide: a phone's viewport is emulated.
    if size.0 < 500 {
        caps["goog:chromeOptions"]["mobileEmulation"] = json!({"deviceMetrics": {"width": size.0, "height": size.1, "pixelRatio": 2.0, "touch": true, "mobile": true}});
    }
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(caps);
    // chromedriver needs a moment to listen: retry the connection (not a timed assertion:
    // the test fails only if it never comes up).
    let mut last = None;
    for _ in 0..100 {
        match builder.connect(&format!("http://127.0.0.1:{port}")).await {
            Ok(c) => return (driver, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot start a Chromium session: {last:?}");
}

pub async fn click(c: &Client, css: &str) {
    c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

pub async fn click_link(c: &Client, text: &str) {
    c.wait()
        .for_element(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .click()
        .await
        .unwrap();
}

pub async fn fill(c: &Client, css: &str, text: &str) {
    c.wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .send_keys(text)
        .await
        .unwrap();
}

/// A click starts a navigation that WebDriver does not wait for: wait until the new
/// page's heading shows (bounded: 30 s, an import's report), and return the heading seen last.
pub async fn wait_h1(c: &Client, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..1200 {
        if let Ok(e) = c.find(Locator::Css("h1")).await
            && let Ok(t) = e.text().await
        {
            if t == expected {
                return t;
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    last
}

pub async fn text_of(c: &Client, css: &str) -> String {
    c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(name), png).unwrap();
}

/// axe-core's script: `$PREAU_AXE_JS`, else where `.ci/install.d/55-axe.sh` puts it.
fn axe_source() -> String {
    let path = std::env::var("PREAU_AXE_JS")
        .unwrap_or_else(|_| "/opt/preau-ci/axe/node_modules/axe-core/axe.min.js".to_string());
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("axe-core at {path} ({e}): run .ci/install.d/55-axe.sh or set PREAU_AXE_JS"))
}

/// Runs axe-core (WCAG 2.0/2.1 A and AA rules and best practices) on the current page
/// and returns its violations as `rule: target…` lines (empty when the page is clean).
/// The box's CSP forbids inline scripts, so the engine is injected by WebDriver.
pub async fn axe_violations(c: &Client) -> Vec<String> {
    c.execute(&axe_source(), vec![]).await.expect("axe-core loads");
    let result = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations"]}).then(r => done(r.violations.map(v =>
  v.id + ": " + v.nodes.map(n => n.target.join(" ")).slice(0, 3).join(" | ") + " — " + v.help)))
  .catch(e => done(["axe failed: " + e]));"#,
            vec![],
        )
        .await
        .expect("axe-core runs");
    result.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// An input's current value.
pub async fn value_of(c: &Client, css: &str) -> String {
    let e = c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    e.prop("value").await.unwrap().unwrap_or_default()
}

/// GETs `path` from the page's own origin with the browser's cookies (what a click on a
/// download link fetches) and returns the status, `Content-Disposition` and body bytes.
pub async fn fetch_bytes(c: &Client, path: &str) -> (u16, String, Vec<u8>) {
    let r = c
        .execute_async(
            r#"const [path, done] = arguments;
fetch(path, {credentials: "same-origin"}).then(r => r.arrayBuffer().then(b =>
  done([r.status, r.headers.get("content-disposition") || "", Array.from(new Uint8Array(b))])))
  .catch(e => done([0, String(e), []]));"#,
            vec![json!(path)],
        )
        .await
        .expect("fetch runs");
    let status = r[0].as_u64().unwrap_or(0) as u16;
    let disposition = r[1].as_str().unwrap_or("").to_string();
    let bytes = r[2].as_array().map(|a| a.iter().map(|b| b.as_u64().unwrap_or(0) as u8).collect()).unwrap_or_default();
    (status, disposition, bytes)
}

// ---- the keyboard alone ----

pub const TAB: char = '\u{E004}';
pub const SHIFT: char = '\u{E008}';
pub const ENTER_KEY: char = '\u{E007}';
pub const SPACE: char = '\u{E00D}';
pub const ARROW_RIGHT: char = '\u{E014}';
pub const ARROW_DOWN: char = '\u{E015}';
pub const ARROW_UP: char = '\u{E013}';

/// Presses and releases each key in turn, as a person at a keyboard (WebDriver actions:
/// trusted key events to whatever has the focus, never a click or a script).
pub async fn press(c: &Client, keys: &[char]) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut a = KeyActions::new("keyboard".into());
    for &k in keys {
        a = a.then(KeyAction::Down { value: k }).then(KeyAction::Up { value: k });
    }
    c.perform_actions(a).await.unwrap();
}

/// Shift+Tab.
pub async fn shift_tab(c: &Client) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let a = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: SHIFT })
        .then(KeyAction::Down { value: TAB })
        .then(KeyAction::Up { value: TAB })
        .then(KeyAction::Up { value: SHIFT });
    c.perform_actions(a).await.unwrap();
}

/// Types `text` key by key into whatever has the focus.
pub async fn type_keys(c: &Client, text: &str) {
    let keys: Vec<char> = text.chars().collect();
    press(c, &keys).await;
}

/// What has the focus, described as `tag[name=…][value=…]` or `a "text"` / `button "text"`.
pub async fn focused(c: &Client) -> String {
    let v = c
        .execute(
            r#"const e = document.activeElement; if (!e || e === document.body) return "body";
const t = e.tagName.toLowerCase();
if (t === "a" || t === "button" || t === "summary") return t + ' "' + e.textContent.trim() + '"';
let s = t; if (e.type && t === "input") s += "[type=" + e.type + "]";
if (e.name) s += "[name=" + e.name + "]"; if (e.value && (e.type === "radio" || e.type === "checkbox")) s += "[value=" + e.value + "]";
return s;"#,
            vec![],
        )
        .await
        .unwrap();
    v.as_str().unwrap_or("?").to_string()
}

/// Presses Tab until the focused element matches `css` (at most `max` presses) and
/// returns what had the focus on the way; panics with that path when it is never reached.
pub async fn tab_to(c: &Client, css: &str, max: usize) -> Vec<String> {
    let mut path = Vec::new();
    for _ in 0..max {
        press(c, &[TAB]).await;
        path.push(focused(c).await);
        let hit = c
            .execute(
                "return !!document.activeElement && document.activeElement.matches(arguments[0]);",
                vec![json!(css)],
            )
            .await
            .unwrap();
        if hit == json!(true) {
            return path;
        }
    }
    panic!("Tab never reached {css} in {max} presses; focus went: {path:?}");
}
