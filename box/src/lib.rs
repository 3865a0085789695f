//! The Préau classroom box: the `preau` command line and the classroom HTTP server.
pub mod app;
pub mod cli;
pub mod config;
pub mod context;
pub mod demo;
pub mod identity;
pub mod mdns;
pub mod packs;
pub mod server;
