//! Turning `pack build`'s SRC into a source tree, by content rather than by file name.

use std::path::Path;

use anyhow::{Context, Result};
use preau_pack::SourceTree;
use preau_pack::source::{self, SourceLimits};

pub fn read_source(src: &Path, max_file_bytes: u64) -> Result<SourceTree> {
    let limits = SourceLimits { max_file_bytes, ..SourceLimits::default() };
    let meta = std::fs::metadata(src).with_context(|| format!("reading {}", src.display()))?;
    let tree = if meta.is_dir() { source::from_folder(src, limits)? } else { source::from_tar(src, limits)? };
    Ok(tree)
}
