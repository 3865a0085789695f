//! `preau.toml`: the schema and every check live in the `preau-config` crate, shared with
//! the image builder so that both accept and refuse the same files with the same
//! messages. Re-exported here so the box's code says `crate::config::…`.

pub use preau_config::*;
