//! Publishing a pack repository to where boxes read it: a folder, or an S3 bucket (behind
//! a CDN) written by several publishers at once.
//!
//! The build code only knows folders. For an object store, a local copy (the *mirror*, a
//! cache folder) is brought up to date from the store, the build writes into it, and
//! what it changed goes back (`mirror`): new content-addressed files with a conditional
//! create, changed metadata with a conditional update on the ETag read, the signed
//! catalog last (the commit point). A publisher that lost the race reads the winner's
//! catalog and builds on it again; its objects are already up, so only metadata moves.

pub mod credentials;
pub mod mirror;
pub mod store;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use mirror::PushStats;
pub use store::S3Options;

/// Most attempts of one publish (each lost race costs one).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;

/// Where `preau pack build --repo` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Folder(PathBuf),
    /// `s3://BUCKET/PREFIX`: the repository's files are the keys under `PREFIX/`.
    S3 {
        bucket: String,
        prefix: String,
    },
}

impl Target {
    /// Reads `--repo`: a folder, `file://PATH`, or `s3://BUCKET[/PREFIX]`. An `http(s)://`
    /// repository is read-only: refused here with the way to write it.
    pub fn parse(given: &str) -> Result<Target> {
        if given.starts_with("http://") || given.starts_with("https://") {
            bail!(
                "{given} : un dépôt http(s):// se lit seulement ; publiez dans le dossier ou le seau qu'il sert \
                 (an http(s):// repository is read-only: publish to the folder or bucket behind it)"
            );
        }
        if let Some(path) = given.strip_prefix("file://") {
            if path.is_empty() {
                bail!("file:// sans chemin (file:// with no path)");
            }
            return Ok(Target::Folder(PathBuf::from(path)));
        }
        let Some(rest) = given.strip_prefix("s3://") else {
            return Ok(Target::Folder(PathBuf::from(given)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            bail!("{given} : nom de seau S3 invalide (invalid S3 bucket name {bucket:?})");
        }
        let prefix_ok = prefix.len() <= 512
            && prefix.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
            && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
        if !prefix.is_empty() && !prefix_ok {
            bail!("{given} : préfixe S3 invalide (invalid S3 prefix {prefix:?}: letters, digits, - _ . /)");
        }
        Ok(Target::S3 { bucket: bucket.into(), prefix: prefix.into() })
    }
}

/// The result of a build published to an object store.
#[derive(Debug)]
pub struct Published<T> {
    pub value: T,
    /// 1 when no other publisher got in the way.
    pub attempts: u32,
    pub stats: PushStats,
}

/// A lost race: another publisher changed a file this one read. The whole step is tried
/// again on what the store now holds.
#[derive(Debug)]
pub struct Conflict(pub String);

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "un autre éditeur a publié entre-temps (another publisher wrote first): {}", self.0)
    }
}

impl std::error::Error for Conflict {}

/// Publishes to `s3://bucket/prefix`: brings the mirror up to date (the metadata, and the
/// recent versions of `packs` with their objects, `window` versions back, which the build
/// reads for deltas and bundles), runs `build` on the mirror folder, pushes what changed.
/// `build` runs again after a lost race, so it must start from its inputs each time.
pub fn publish_s3<T>(
    bucket: &str,
    prefix: &str,
    opts: &S3Options,
    packs: &[String],
    window: usize,
    mut build: impl FnMut(&Path) -> Result<T>,
) -> Result<Published<T>> {
    let store = store::connect(bucket, opts)?;
    let cache = match &opts.cache {
        Some(c) => c.clone(),
        None => default_cache(bucket, prefix)?,
    };
    let mut m = mirror::Mirror::open(store, prefix, &cache)?;
    let max = opts.max_attempts.max(1);
    for attempt in 1..=max {
        m.pull_metadata().context("lecture du dépôt S3 (reading the S3 repository)")?;
        for id in packs {
            m.pull_pack(id, window).with_context(|| format!("lecture du paquet {id} (reading pack {id})"))?;
        }
        let value = build(m.dir())?;
        match m.push() {
            Ok(stats) => return Ok(Published { value, attempts: attempt, stats }),
            Err(e) if e.is::<Conflict>() && attempt < max => {
                // Two losers retrying in step would collide again: wait a random while,
                // longer at each attempt.
                let mut r = [0u8; 2];
                getrandom::fill(&mut r).expect("the OS random source works");
                let ms = (50 + u64::from(u16::from_le_bytes(r)) % 400) * u64::from(attempt);
                std::thread::sleep(Duration::from_millis(ms));
            }
            Err(e) => return Err(e),
        }
    }
    bail!("{max} tentatives perdues contre d'autres éditeurs (lost {max} races to other publishers)")
}

/// `$XDG_CACHE_HOME/preau/publish/BUCKET/PREFIX` (or under `~/.cache`).
fn default_cache(bucket: &str, prefix: &str) -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("ni XDG_CACHE_HOME ni HOME : donnez --cache (neither XDG_CACHE_HOME nor HOME: give --cache)")?;
    let mut dir = base.join("preau").join("publish").join(bucket);
    if !prefix.is_empty() {
        dir = dir.join(prefix);
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("/srv/repo").unwrap(), Target::Folder("/srv/repo".into()));
        assert_eq!(Target::parse("file:///srv/repo").unwrap(), Target::Folder("/srv/repo".into()));
        assert_eq!(
            Target::parse("s3://preau-packs/fr/national/").unwrap(),
            Target::S3 { bucket: "preau-packs".into(), prefix: "fr/national".into() }
        );
        assert_eq!(Target::parse("s3://abc").unwrap(), Target::S3 { bucket: "abc".into(), prefix: String::new() });
        assert!(Target::parse("http://example.org/repo/").is_err());
        assert!(Target::parse("s3://Bad_Bucket/x").is_err());
        assert!(Target::parse("s3://bucket/a/../b").is_err());
        assert!(Target::parse("file://").is_err());
    }
}
