//! Writes an import's tree to a folder, to look at the pages in a browser:
//! `cargo run -p preau-import --example dump -- SRC OUT`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (src, out) = (std::path::Path::new(&args[1]), std::path::Path::new(&args[2]));
    let imp = preau_import::import(src, &preau_import::ImportOptions::default()).unwrap();
    println!("{}", imp.report);
    for f in &imp.tree.files {
        let p = out.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match &f.data {
            preau_pack::SourceData::Bytes(b) => std::fs::write(&p, b).unwrap(),
            preau_pack::SourceData::File(s) => {
                std::fs::copy(s, &p).unwrap();
            }
        }
    }
}
