//! The Préau classroom box: the `preau` command line and the classroom HTTP server.
//!
//! With the default `serve` feature, the HTTP core (`server`, pack serving in `packs`)
//! and the classroom application (the `preau-classroom` crate, joined in `wiring`);
//! without it, only what `preau keygen`, `pack` and `sync` need (no axum, no SQLite).
pub mod cli;
pub mod config;
pub mod demo;
pub mod identity;
#[cfg(feature = "serve")]
pub mod mdns;
#[cfg(feature = "serve")]
pub mod metrics;
pub mod packs;
#[cfg(feature = "serve")]
pub mod respond;
#[cfg(feature = "serve")]
pub mod search;
#[cfg(feature = "serve")]
pub mod server;
pub mod settings;
pub mod system;
#[cfg(feature = "serve")]
pub mod wiring;
