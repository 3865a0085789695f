//! A refused `preau.toml` told to people: the file, the line, the key and the problem,
//! in French and in English, for the three places a box shows it (the HDMI console, the
//! teacher's home page, the log). Pure: it reads the error and the file's text only.

use std::path::{Path, PathBuf};

use crate::ConfigError;

/// Where and what a config problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: Option<PathBuf>,
    /// 1-based line of the file, when it can be told.
    pub line: Option<usize>,
    /// `section.key`, when the problem is about one key.
    pub key: Option<String>,
    /// The rule broken, as the parser says it (English, one line, no secret).
    pub problem: String,
}

impl Diagnostic {
    /// Locates `err` in `text` (the file's contents, when it could be read).
    pub fn new(err: &ConfigError, text: Option<&str>) -> Diagnostic {
        let file = match err {
            ConfigError::InFile { path, .. } | ConfigError::Read { path, .. } | ConfigError::TooBig { path, .. } => {
                Some(path.clone())
            }
            _ => None,
        };
        let full = err.problem();
        let (mut line, mut key) = (None, None);
        let problem = match inner(err) {
            ConfigError::Syntax(m) => {
                // toml: "TOML parse error at line 3, column 1\n  |\n3 | …\n  | ^\nunknown field `x`…"
                line = m
                    .split("at line ")
                    .nth(1)
                    .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
                let last = m.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(m).trim().to_string();
                if let (Some(n), Some(field)) = (line, backticked(&last, "unknown field `")) {
                    key = Some(match text.and_then(|t| section_at(t, n)) {
                        Some(s) => format!("{s}.{field}"),
                        None => field,
                    });
                }
                last
            }
            ConfigError::Invalid(m) => {
                key = m.split_once(':').map(|(k, _)| k).filter(|k| is_key(k)).map(str::to_string);
                line = key.as_deref().and_then(|k| text.and_then(|t| line_of(t, k)));
                m.clone()
            }
            _ => full,
        };
        Diagnostic { file, line, key, problem }
    }

    fn place(&self, line_word: &str, key_word: &str) -> String {
        let mut s = match &self.file {
            Some(f) => format!("{}", f.display()),
            None => "preau.toml".to_string(),
        };
        if let Some(n) = self.line {
            s.push_str(&format!(", {line_word} {n}"));
        }
        if let Some(k) = &self.key {
            s.push_str(&format!(", {key_word} {k}"));
        }
        s
    }

    pub fn english(&self) -> String {
        format!("error in {}: {}", self.place("line", "key"), self.problem)
    }

    pub fn french(&self) -> String {
        format!("erreur dans {} : {}", self.place("ligne", "clé"), self.problem)
    }

    /// The text a console shows: both languages and what the box does about it.
    pub fn console_text(&self, using: &str) -> String {
        format!(
            "PRÉAU : {fr}\n  La box démarre avec {using_fr}. Corrigez preau.toml puis redémarrez.\n\
             PRÉAU: {en}\n  The box starts with {using}. Fix preau.toml, then restart.\n",
            fr = self.french(),
            en = self.english(),
            using_fr = if using.starts_with("the last") {
                "les derniers réglages valides"
            } else {
                "les réglages par défaut"
            },
        )
    }
}

fn inner(err: &ConfigError) -> &ConfigError {
    match err {
        ConfigError::InFile { inner, .. } => inner,
        other => other,
    }
}

fn backticked(s: &str, after: &str) -> Option<String> {
    let rest = &s[s.find(after)? + after.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

fn is_key(k: &str) -> bool {
    k.contains('.') && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.')
}

/// The `[section]` a 1-based line belongs to.
fn section_at(text: &str, line: usize) -> Option<String> {
    text.lines().take(line).filter_map(header).last()
}

fn header(l: &str) -> Option<String> {
    let t = l.trim();
    t.strip_prefix('[')?.split(']').next().map(|s| s.trim().to_string())
}

/// The 1-based line where `section.key` is set.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let (section, field) = key.split_once('.')?;
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        if let Some(h) = header(l) {
            current = h;
            continue;
        }
        let t = l.trim_start();
        if current == section && t.strip_prefix(field).is_some_and(|r| r.trim_start().starts_with('=')) {
            return Some(i + 1);
        }
    }
    None
}

/// The `[box] data` of a config that was refused, read leniently (the refused key may be
/// elsewhere): where the box keeps its last good settings. `None` when the text is not
/// TOML at all or says nothing about it.
pub fn data_dir_hint(text: &str) -> Option<PathBuf> {
    let v: toml::Table = toml::from_str(text).ok()?;
    let d = v.get("box")?.get("data")?.as_str()?;
    (!d.is_empty() && d.len() < 4096).then(|| Path::new(d).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn diag(text: &str) -> Diagnostic {
        let err = Config::parse(text).unwrap_err();
        let err = ConfigError::InFile { path: "/boot/firmware/preau.toml".into(), inner: Box::new(err) };
        Diagnostic::new(&err, Some(text))
    }

    #[test]
    fn an_unknown_key_is_located() {
        let d = diag("[box]\nschool = \"A\"\n\n[wifi]\nssid = \"x\"\npasword = \"12345678\"\n");
        assert_eq!(d.line, Some(6), "{d:?}");
        assert_eq!(d.key.as_deref(), Some("wifi.pasword"), "{d:?}");
        assert!(d.problem.contains("unknown field"), "{d:?}");
        assert!(!d.problem.contains("12345678"), "{d:?}");
        let fr = d.french();
        assert!(fr.starts_with("erreur dans /boot/firmware/preau.toml, ligne 6, clé wifi.pasword :"), "{fr}");
        assert!(d.english().starts_with("error in /boot/firmware/preau.toml, line 6, key wifi.pasword:"));
    }

    #[test]
    fn a_bad_value_is_located() {
        let d = diag("# comment\n[wifi]\nssid = \"x\"\n  channel = 99\n");
        assert_eq!((d.line, d.key.as_deref()), (Some(4), Some("wifi.channel")), "{d:?}");
        assert!(d.problem.contains("1 to 13"));
    }

    #[test]
    fn a_syntax_error_has_a_line() {
        let d = diag("[box]\nschool = \"unclosed\n");
        assert_eq!(d.line, Some(2), "{d:?}");
        assert_eq!(d.key, None);
        let console = d.console_text("the defaults");
        assert!(console.contains("réglages par défaut") && console.contains("The box starts with the defaults"));
    }

    #[test]
    fn the_data_folder_is_read_from_a_refused_file() {
        let text = "[box]\ndata = \"/srv/preau\"\n[wifi]\nchannel = 99\n";
        assert!(Config::parse(text).is_err());
        assert_eq!(data_dir_hint(text), Some(PathBuf::from("/srv/preau")));
        assert_eq!(data_dir_hint("[box\n"), None);
    }
}
