//! Pulling, verifying and atomically applying packs (see ARCHITECTURE.md).
