//! `pack build`'s outside-reference options and `preau pack libs` (`preau-offline`).

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use preau_pack::SecretKey;
use preau_pack::build::BuildOptions;

/// How `pack build` treats what pages load from outside the box.
#[derive(Args, Clone)]
pub struct OfflineArgs {
    /// Download nothing: libraries come from the repository's libraries pack or the cache,
    /// other outside resources are removed (each in the import report).
    #[arg(long)]
    pub offline: bool,
    /// The npm registry that library files come from.
    #[arg(long, value_name = "URL", default_value = preau_offline::npm::DEFAULT_REGISTRY)]
    pub npm_registry: String,
    /// Where npm tarballs and site generators' Python environments (one per set of
    /// packages) are cached (default: ~/.cache/preau).
    #[arg(long, value_name = "DIR", env = "PREAU_CACHE_DIR")]
    pub cache: Option<PathBuf>,
    /// Reach HOST at IP:PORT instead of asking DNS (as curl's --resolve); repeatable.
    #[arg(long, value_name = "HOST=IP:PORT")]
    pub resolve: Vec<String>,
}

impl OfflineArgs {
    pub fn options(&self) -> Result<preau_offline::Options> {
        let registry =
            url::Url::parse(&self.npm_registry).map_err(|e| anyhow!("--npm-registry {:?}: {e}", self.npm_registry))?;
        let resolve = self
            .resolve
            .iter()
            .map(|r| preau_offline::fetch::parse_resolve(r).map_err(|e| anyhow!(e)))
            .collect::<Result<Vec<_>>>()?;
        let mut opts = preau_offline::Options { offline: self.offline, registry, resolve, ..Default::default() };
        if let Some(c) = &self.cache {
            opts.cache_dir = c.clone();
        }
        Ok(opts)
    }
}

#[derive(Args)]
pub struct LibsArgs {
    /// The repository folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub repo: PathBuf,
    /// The secret signing key.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Libraries to add: `katex@0.16.9`, `mermaid@10.9.1/dist/mermaid.min.js`,
    /// `@highlightjs/cdn-assets@11.9.0/highlight.min.js` (no path: the package's main file).
    #[arg(value_name = "LIB@VER")]
    pub libs: Vec<String>,
    #[command(flatten)]
    pub offline: OfflineArgs,
}

/// `preau pack libs`.
pub fn libs(a: LibsArgs) -> Result<()> {
    let key = SecretKey::read_file(&a.key)?;
    let build = BuildOptions {
        level: 19,
        max_file_bytes: preau_pack::limits::DEFAULT_MAX_FILE_BYTES,
        catalog_lifetime_secs: 90 * 86400,
        ..BuildOptions::default()
    };
    let (done, summary) =
        preau_offline::build_libs(&a.repo, &key, &a.libs, &a.offline.options()?, &build).map_err(|e| anyhow!(e))?;
    for r in &done {
        let note = if r.exact { String::new() } else { " (version la plus proche)".into() };
        println!("{} → {}{note}", r.pack_path, r.url());
    }
    match summary {
        Some(s) => println!("{} v{} : {} fichiers", s.id, s.version, s.files),
        None => println!("{} : rien à ajouter", preau_offline::libs::LIBS_PACK_ID),
    }
    Ok(())
}
