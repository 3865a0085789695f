//! `preau.toml` at start: a file with an error never stops the box.
//!
//! A config that loads is kept on the data partition (`DATA/settings/last-good.toml`,
//! write-temp + fsync + rename). A refused one is reported — located by
//! `preau_config::Diagnostic` (file, line, key, French and English) — in the log, on the
//! console (stderr reaches HDMI and serial on an image), in `DATA/config-error.txt` for
//! the image's console unit, and on the teacher's pages; the box then starts on the last
//! good settings, or on the defaults when it never had any. `DATA/config-error.txt` is
//! removed as soon as a config loads again.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use preau_config::{Config, ConfigError, Diagnostic, MAX_CONFIG_BYTES};

/// The last config that loaded, relative to the data folder.
pub const LAST_GOOD: &str = "settings/last-good.toml";
/// The console text of a refused config, relative to the data folder: the image's
/// console unit prints it (HDMI, serial); absent when the config is fine.
pub const PROBLEM_FILE: &str = "config-error.txt";
/// The data folder when neither `--data` nor `[box] data` names one.
pub const DEFAULT_DATA: &str = "preau-data";

/// The settings the box runs on, and why.
pub struct Loaded {
    pub config: Config,
    pub data_dir: PathBuf,
    /// Set when the named file was refused.
    pub problem: Option<Problem>,
}

pub struct Problem {
    pub diagnostic: Diagnostic,
    /// True when the box runs on its last good settings, false on the defaults.
    pub last_good: bool,
}

impl Problem {
    fn using(&self) -> &'static str {
        if self.last_good { "the last good settings" } else { "the defaults" }
    }

    /// The console text (both languages, and what the box does about it).
    pub fn console_text(&self) -> String {
        self.diagnostic.console_text(self.using())
    }

    /// (French, English) for the teacher's pages.
    pub fn notice(&self) -> (String, String) {
        let fr = if self.last_good { "les derniers réglages valides" } else { "les réglages par défaut" };
        (
            format!(
                "La box fonctionne avec {fr} : {}. Corrigez le fichier puis redémarrez la box.",
                self.diagnostic.french()
            ),
            format!(
                "The box runs on {}: {}. Fix the file, then restart the box.",
                self.using(),
                self.diagnostic.english()
            ),
        )
    }
}

/// Reads `path` (if any) and decides the settings and data folder; never fails on a bad
/// config, only when the data folder cannot be made.
pub fn load(path: Option<&Path>, data_arg: Option<&Path>) -> Result<Loaded> {
    let Some(path) = path else {
        let data_dir = data_arg.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
        return Ok(Loaded { config: Config::default(), data_dir, problem: None });
    };
    let text = read_text(path);
    match Config::load(path) {
        Ok(config) => {
            let data_dir = data_dir(data_arg, config.box_.data.clone());
            remember(&data_dir, text.as_deref());
            Ok(Loaded { config, data_dir, problem: None })
        }
        Err(err) => Ok(refused(&err, text.as_deref(), data_arg)),
    }
}

fn data_dir(arg: Option<&Path>, from_config: Option<PathBuf>) -> PathBuf {
    arg.map(Path::to_path_buf).or(from_config).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
}

fn read_text(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    (meta.len() <= MAX_CONFIG_BYTES).then(|| std::fs::read_to_string(path).ok())?
}

/// Keeps a config that loaded as the last good one and clears a past problem. Failures
/// are logged: they cost the fallback, not the start.
fn remember(data_dir: &Path, text: Option<&str>) {
    let problem = data_dir.join(PROBLEM_FILE);
    if problem.exists()
        && let Err(e) = std::fs::remove_file(&problem)
    {
        tracing::warn!("cannot remove {}: {e}", problem.display());
    }
    let Some(text) = text else { return };
    let file = data_dir.join(LAST_GOOD);
    if std::fs::read_to_string(&file).is_ok_and(|old| old == text) {
        return;
    }
    let saved = (|| -> Result<()> {
        let dir = file.parent().expect("has a parent");
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // It holds the setup code, the Wi-Fi passphrase and the LRS password.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        preau_pack::fsutil::atomic_write(&file, text.as_bytes())?;
        Ok(())
    })();
    if let Err(e) = saved {
        tracing::warn!("cannot keep the settings as the last good ones in {}: {e:#}", file.display());
    }
}

fn refused(err: &ConfigError, text: Option<&str>, data_arg: Option<&Path>) -> Loaded {
    let diagnostic = Diagnostic::new(err, text);
    let data_dir = data_dir(data_arg, text.and_then(preau_config::data_dir_hint));
    let last_good = Config::load(&data_dir.join(LAST_GOOD)).ok();
    let problem = Problem { diagnostic, last_good: last_good.is_some() };
    let console = problem.console_text();
    tracing::error!("{}", problem.diagnostic.english());
    tracing::error!("{}", problem.diagnostic.french());
    tracing::warn!("starting with {}", problem.using());
    eprint!("{console}");
    let written = std::fs::create_dir_all(&data_dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(preau_pack::fsutil::atomic_write(&data_dir.join(PROBLEM_FILE), console.as_bytes())?));
    if let Err(e) = written {
        tracing::warn!("cannot write {}: {e:#}", data_dir.join(PROBLEM_FILE).display());
    }
    let mut config = last_good.unwrap_or_default();
    // The folder the box was told to use wins over the one the old settings named.
    config.box_.data = Some(data_dir.clone());
    Loaded { config, data_dir, problem: Some(problem) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_file_falls_back_to_the_last_good_one_then_clears() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cfg = dir.path().join("preau.toml");
        let good = format!("[box]\nschool = \"École A\"\ndata = \"{}\"\n", data.display());
        std::fs::write(&cfg, &good).unwrap();
        let l = load(Some(&cfg), None).unwrap();
        assert!(l.problem.is_none());
        assert_eq!(l.data_dir, data);
        assert_eq!(std::fs::read_to_string(data.join(LAST_GOOD)).unwrap(), good);

        // A typo: the box keeps its school name and data folder, and says why.
        std::fs::write(&cfg, format!("{good}[wifi]\nchanel = 6\n")).unwrap();
        let l = load(Some(&cfg), None).unwrap();
        let p = l.problem.as_ref().expect("refused");
        assert!(p.last_good);
        assert_eq!(l.data_dir, data);
        assert_eq!(l.config.box_.school.as_deref(), Some("École A"));
        assert_eq!(p.diagnostic.line, Some(5));
        assert_eq!(p.diagnostic.key.as_deref(), Some("wifi.chanel"));
        let console = std::fs::read_to_string(data.join(PROBLEM_FILE)).unwrap();
        assert!(
            console.contains("ligne 5, clé wifi.chanel") && console.contains("line 5, key wifi.chanel"),
            "{console}"
        );
        assert!(console.contains("derniers réglages valides"), "{console}");
        let (fr, en) = p.notice();
        assert!(fr.contains("derniers réglages valides") && en.contains("last good settings"));
        // The refused file never replaces the last good one.
        assert_eq!(std::fs::read_to_string(data.join(LAST_GOOD)).unwrap(), good);

        std::fs::write(&cfg, &good).unwrap();
        assert!(load(Some(&cfg), None).unwrap().problem.is_none());
        assert!(!data.join(PROBLEM_FILE).exists());
    }

    #[test]
    fn without_a_last_good_file_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("preau.toml");
        std::fs::write(&cfg, "[box\n").unwrap();
        let data = dir.path().join("d");
        let l = load(Some(&cfg), Some(&data)).unwrap();
        let p = l.problem.unwrap();
        assert!(!p.last_good);
        assert_eq!(p.diagnostic.line, Some(1));
        assert_eq!(l.config.box_.school, None);
        assert!(std::fs::read_to_string(data.join(PROBLEM_FILE)).unwrap().contains("réglages par défaut"));
    }
}
