//! Helpers shared by the end-to-end tests in `tests/tests/`.

use std::path::PathBuf;

/// The environment variable that moves the fixture root (a newcomer's own copy, or an
/// empty folder to check that every fixture test skips or fails as it should).
pub const FIXTURES_ENV: &str = "PREAU_FIXTURES";

/// Where the shared fixtures are: `$PREAU_FIXTURES`, else `../shared/fixtures` beside
/// the repository. README, "Test fixtures", says what they are and how to fetch them.
pub fn fixtures_root() -> PathBuf {
    match std::env::var_os(FIXTURES_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

/// One fixture (a file or a folder), by its path under the fixture root, such as
/// `moodle/teluq-inf6450-fr-moodle41.mbz`. The one rule for every test that needs one:
/// when it is missing, the test skips with one line naming it, except with `CI=true`,
/// where a missing fixture is a broken setup and the test fails loudly.
pub fn fixture(rel: &str) -> Option<PathBuf> {
    let path = fixtures_root().join(rel);
    if path.exists() {
        // Canonical: some consumers refuse `..` in a path (chromedriver's file upload).
        return Some(path.canonicalize().unwrap_or(path));
    }
    let test = std::thread::current().name().unwrap_or("this test").to_string();
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "fixture {rel} is missing (looked at {}) and CI=true: the shared fixtures must be there \
             (tests/fixtures/fetch.sh, or set {FIXTURES_ENV})",
            path.display()
        );
    }
    // Straight to the process's stderr, not `eprintln!`: libtest captures the macros'
    // output of passing tests, and a skip must be seen, not pass for green.
    let line = format!(
        "skipping {test}: fixture {rel} is missing (looked at {}; tests/fixtures/fetch.sh fetches it, \
         {FIXTURES_ENV} moves the root)\n",
        path.display()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    None
}

pub mod image;
