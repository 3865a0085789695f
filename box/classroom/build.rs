//! Compresses the box's own assets (`assets/`) with gzip at level 9 at build time, as
//! pack files are compressed when a pack is built, so that the server only hands out
//! bytes: no first request pays for compressing KaTeX. Writes, in `OUT_DIR`, each
//! asset's `.gz` (only when gzip makes it smaller: fonts are already compressed) and
//! `assets.rs`, the table `assets.rs` of the crate includes: path, plain bytes, gzip
//! bytes and the first 8 hex digits of the plain bytes' BLAKE3 (the content hash in the
//! asset's URL and its ETag).

use std::io::Write;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("assets/ is readable").flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("assets");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    // A folder here makes cargo rerun this script when any file under it changes.
    println!("cargo:rerun-if-changed=assets");
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut table = String::from("&[\n");
    for path in files {
        let rel = path.strip_prefix(&root).unwrap().to_str().expect("asset names are UTF-8").replace('\\', "/");
        let raw = std::fs::read(&path).unwrap();
        let hash = &blake3::hash(&raw).to_hex()[..8];
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&raw).unwrap();
        let gz = enc.finish().unwrap();
        let gz_expr = if gz.len() < raw.len() {
            let gz_path = out.join("assets_gz").join(format!("{rel}.gz"));
            std::fs::create_dir_all(gz_path.parent().unwrap()).unwrap();
            std::fs::write(&gz_path, &gz).unwrap();
            format!("Some(include_bytes!({:?}))", gz_path.to_str().unwrap())
        } else {
            "None".to_string()
        };
        table.push_str(&format!("    ({rel:?}, include_bytes!({:?}), {gz_expr}, {hash:?}),\n", path.to_str().unwrap()));
    }
    table.push_str("]\n");
    std::fs::write(out.join("assets.rs"), table).unwrap();
}
