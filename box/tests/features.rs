//! `preau pack build` without a web server or a database: without its default `serve`
//! feature, `preau-box` (the `keygen`, `pack` and `sync` commands) must not link axum,
//! the classroom app or SQLite. Reads the dependency graph with `cargo tree`. (hyper
//! stays: it is `preau-sync`'s HTTP client.)

use std::process::Command;

#[test]
fn without_serve_the_box_links_neither_axum_nor_sqlite() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "preau-box", "--no-default-features", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(names.contains(&"preau-box") && names.contains(&"preau-pack"), "unexpected tree:\n{tree}");
    for unwanted in ["axum", "axum-core", "rusqlite", "libsqlite3-sys", "argon2", "preau-classroom"] {
        assert!(!names.contains(&unwanted), "{unwanted} is linked without the `serve` feature:\n{tree}");
    }

    // The default build does link them: the check above looks at the right names.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--offline", "-p", "preau-box", "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8_lossy(&out.stdout);
    for wanted in ["axum", "rusqlite", "preau-classroom"] {
        assert!(tree.lines().any(|l| l.split_whitespace().next() == Some(wanted)), "{wanted} missing by default");
    }
}
