//! The embedded demo pack, installed on first start.
use std::path::Path;

use anyhow::Result;

/// Installs the demo pack when the box has no installed packs yet; true if it did.
pub fn install_on_first_start(_data_dir: &Path) -> Result<bool> {
    Ok(false)
}
