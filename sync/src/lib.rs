//! Pulling, verifying and atomically applying packs (see ARCHITECTURE.md).

pub mod install;

pub use install::{install_from_folder, InstallSummary};
