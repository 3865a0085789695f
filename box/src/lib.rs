//! The Préau classroom box: the `preau` command line and the classroom HTTP server.
pub mod app;
pub mod cli;
