//! Helpers shared by the end-to-end tests in `tests/tests/`.

use std::path::PathBuf;

/// The shared fixtures folder (`../shared/fixtures` from the repository root).
///
/// Returns `None` when it is missing, unless `CI=true`, where a missing fixture folder
/// is a broken setup and must fail loudly rather than skip.
pub fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    if dir.is_dir() {
        return Some(dir.canonicalize().expect("canonical fixtures path"));
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "../shared/fixtures is missing (looked at {}) and CI=true",
            dir.display()
        );
    }
    eprintln!("skipping: ../shared/fixtures is missing");
    None
}

pub mod image;
