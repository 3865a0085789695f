//! Fills a repository with N small synthetic packs in one publication (the catalog is
//! signed once, at the end), for the catalog benchmark (`sync/bench/catalog.sh`):
//!   cargo run -p preau-pack --example many_packs -- REPO KEY N [FIRST]
//!   cargo run -p preau-pack --example many_packs -- --bins ID…   (prints "ID branch leaf")
//! Pack `pack-<i>` (i from FIRST, default 1) holds `index.md` and `notes.txt` (2,000
//! pseudo-random bytes in base64-like text, from BLAKE3 of i, so that no two packs share
//! chunks), like the packs the benchmark builds one by one with `preau pack build`.

use std::path::PathBuf;

use preau_pack::build::{BuildOptions, build_many};
use preau_pack::{SecretKey, SourceTree};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--bins") {
        for id in &args[1..] {
            let (t, b) = preau_pack::catalog_tree::bins(id);
            println!("{id} {t} {b}");
        }
        return;
    }
    if args.len() < 3 {
        eprintln!("usage: many_packs REPO KEY N [FIRST]");
        std::process::exit(2);
    }
    let repo = PathBuf::from(&args[0]);
    let key = SecretKey::read_file(&PathBuf::from(&args[1])).expect("a secret key file");
    let n: usize = args[2].parse().expect("N is a number");
    let first: usize = args.get(3).map_or(1, |f| f.parse().expect("FIRST is a number"));
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let trees: Vec<SourceTree> = (first..first + n)
        .map(|i| {
            let mut t = SourceTree::default();
            t.meta.id = format!("pack-{i}");
            t.meta.title = format!("Pack {i}");
            t.meta.entry = "index.md".into();
            t.add_bytes("index.md", format!("# Pack {i}\n"));
            let mut noise = vec![0u8; 2000];
            blake3::Hasher::new().update(&(i as u64).to_le_bytes()).finalize_xof().fill(&mut noise);
            let text: Vec<u8> = noise.iter().map(|b| ALPHABET[(*b & 63) as usize]).collect();
            t.add_bytes("notes.txt", text);
            t
        })
        .collect();
    let started = std::time::Instant::now();
    let opts = BuildOptions { level: 3, ..Default::default() };
    let done = build_many(&repo, trees, &key, &opts, &mut |_, _| {}).expect("build");
    eprintln!(
        "{} packs built into {} in {:.1} s (catalog version {})",
        done.len(),
        repo.display(),
        started.elapsed().as_secs_f64(),
        done.last().map_or(0, |s| s.catalog_version)
    );
}
