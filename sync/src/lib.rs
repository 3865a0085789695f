//! Pulling, verifying and atomically applying packs (see ARCHITECTURE.md).

pub mod install;

pub use install::{InstallSummary, install_from_folder};
