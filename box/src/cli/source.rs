//! Turning `pack build`'s SRC into a source tree: the importers detect the kind of source
//! from its content (magic bytes, layout), never from its file name.

use std::path::Path;

use anyhow::{Context, Result};
use preau_import::{ImportLimits, ImportOptions, Imported};

pub fn read_source(src: &Path, max_file_bytes: u64, git_ref: Option<String>) -> Result<Imported> {
    let opts = ImportOptions {
        git_ref,
        limits: ImportLimits { max_file_bytes, ..ImportLimits::default() },
        ..ImportOptions::default()
    };
    let kind = preau_import::detect(src).with_context(|| format!("reading {}", src.display()))?;
    preau_import::import(src, &opts).with_context(|| format!("importing {} (detected as {kind:?})", src.display()))
}
