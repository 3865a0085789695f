//! The operator's side: `preau system publish` builds the system pack (kind `system`)
//! into a static repository, with a `release.json` signed by the same national key that
//! signs the catalog. Boxes pull it like any pack (deltas, bundles, peers, USB sticks).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use preau_pack::build::{BuildOptions, BuildSummary};
use preau_pack::sign::SecretKey;
use preau_pack::{Hash, SourceTree};

use super::release::{Binary, FORMAT, MAX_BINARY_BYTES, RELEASE_FILE, Release};

/// One program of the release: `ARCH=FILE` for `preau` or `preau-image`.
#[derive(Debug, Clone)]
pub struct Program {
    pub arch: String,
    pub name: &'static str,
    pub file: PathBuf,
}

pub fn parse_program(name: &'static str, spec: &str) -> Result<Program> {
    let (arch, file) = spec.split_once('=').with_context(|| format!("{spec:?}: expected ARCH=FILE"))?;
    if !["x86_64", "aarch64", "arm", "riscv64"].contains(&arch) {
        bail!("{arch:?} is not an architecture name such as x86_64 or aarch64");
    }
    Ok(Program { arch: arch.to_string(), name, file: PathBuf::from(file) })
}

/// Builds the next version of the system pack in `repo` (created if needed).
pub fn publish(
    repo: &std::path::Path,
    key: &SecretKey,
    serial: u64,
    version: &str,
    programs: &[Program],
    level: i32,
) -> Result<BuildSummary> {
    if programs.iter().all(|p| p.name != "preau") {
        bail!("a release needs at least one preau binary (--bin ARCH=FILE)");
    }
    let mut release =
        Release { format: FORMAT.into(), serial, version: version.to_string(), binaries: Default::default() };
    let mut tree = SourceTree::default();
    for p in programs {
        let size = std::fs::metadata(&p.file).with_context(|| format!("reading {}", p.file.display()))?.len();
        if size > MAX_BINARY_BYTES {
            bail!("{} is {size} bytes, more than {MAX_BINARY_BYTES}", p.file.display());
        }
        let bytes = std::fs::read(&p.file).with_context(|| format!("reading {}", p.file.display()))?;
        let path = format!("bin/{}/{}", p.arch, p.name);
        let binary = Binary { path: path.clone(), blake3: Hash::of(&bytes).to_hex(), size };
        if release.binaries.entry(p.arch.clone()).or_default().insert(p.name.to_string(), binary).is_some() {
            bail!("two {} binaries for {}", p.name, p.arch);
        }
        tree.add_file(path, p.file.clone());
    }
    tree.add_bytes(RELEASE_FILE, release.sign(key));
    tree.meta.id = super::PACK_ID.into();
    tree.meta.kind = super::KIND.into();
    tree.meta.title = format!("Préau {version}");
    tree.meta.description = "Logiciel de la box / the box's software".into();
    let opts = BuildOptions { level, ..BuildOptions::default() };
    Ok(preau_pack::build::build(repo, tree, key, &opts, &mut |_, _| {})?)
}
