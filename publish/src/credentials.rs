//! S3 credentials from where AWS tools keep them: the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) or a shared credentials file (named by
//! `--s3-credentials`, `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`; profile
//! `AWS_PROFILE` or `default`). Never from the command line: argv is readable by every
//! user of the machine. Nothing here is ever printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// A credentials file larger than this is refused (a real one is a few hundred bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024;

pub struct Credentials {
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
}

// Debug without the secrets, so that no `{:?}` can leak them.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// The credentials to use, or `None` when the environment has them (object_store reads
/// them there itself) or none are found.
pub fn from_file(explicit: Option<&Path>) -> Result<Option<Credentials>> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() && explicit.is_none() {
        return Ok(None);
    }
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => PathBuf::from(p),
            None => match std::env::var_os("HOME") {
                Some(h) if Path::new(&h).join(".aws/credentials").is_file() => Path::new(&h).join(".aws/credentials"),
                _ => return Ok(None),
            },
        },
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let bytes = preau_pack::repo::read_bounded(&path, MAX_FILE_BYTES)
        .with_context(|| format!("lecture des identifiants S3 (reading S3 credentials) {}", path.display()))?;
    let text = String::from_utf8(bytes).with_context(|| format!("{} n'est pas en UTF-8", path.display()))?;
    match parse(&text, &profile) {
        Some(c) => Ok(Some(c)),
        None => bail!(
            "{} : pas de profil [{profile}] avec aws_access_key_id et aws_secret_access_key \
             (no [{profile}] profile with aws_access_key_id and aws_secret_access_key)",
            path.display()
        ),
    }
}

/// Reads one profile of an INI credentials file.
fn parse(text: &str, profile: &str) -> Option<Credentials> {
    let (mut in_profile, mut key_id, mut secret, mut token) = (false, None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        if !in_profile {
            continue;
        }
        let v = v.trim().to_string();
        match k.trim() {
            "aws_access_key_id" => key_id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    Some(Credentials { key_id: key_id?, secret: secret?, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles() {
        let text = "[other]\naws_access_key_id = A\naws_secret_access_key = B\n\n[default]\n# comment\n\
                    aws_access_key_id=C\naws_secret_access_key = D\n";
        let c = parse(text, "default").unwrap();
        assert_eq!((c.key_id.as_str(), c.secret.as_str(), c.token.as_deref()), ("C", "D", None));
        assert_eq!(parse(text, "other").unwrap().key_id, "A");
        assert!(parse(text, "missing").is_none());
        assert!(!format!("{c:?}").contains('D'));
    }
}
