//! ed25519 keys, key files, and signed JSON envelopes.
//!
//! A signed document is `{"signed": <payload JSON>, "signatures": [{"keyid", "sig"}]}`.
//! Signatures cover the exact bytes of the `signed` value as they appear in the file
//! (kept verbatim with `RawValue`), so no canonical re-serialisation is needed to verify.

use std::path::Path;

use ed25519_dalek::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::limits::MAX_SIGNATURES;
use crate::{Error, IoContext, Result};

/// An ed25519 public key; its key id is its 64-digit lowercase hex form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<PublicKey> {
        let s = s.trim();
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| {
            Error::Key(format!(
                "not an ed25519 public key (64 hex digits): {:?}",
                s.chars().take(80).collect::<String>()
            ))
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(&out)
            .map_err(|_| Error::Key(format!("{s} is not a valid ed25519 point")))?;
        Ok(PublicKey(out))
    }

    /// Reads a public key file written by `preau keygen` (`FILE.pub`).
    pub fn read_file(path: &Path) -> Result<PublicKey> {
        let text = read_key_text(path)?;
        PublicKey::from_hex(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        vk.verify_strict(msg, &sig).is_ok() && vk.verify(msg, &sig).is_ok()
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

/// An ed25519 signing key.
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    pub fn generate() -> SecretKey {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS random source works");
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Writes the secret key to `path` (mode 0600, refusing to overwrite) and the public
    /// key to `path.pub`.
    pub fn write_files(&self, path: &Path) -> Result<std::path::PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let pub_path = pub_path(path);
        for p in [path, pub_path.as_path()] {
            if p.exists() {
                return Err(Error::Key(format!("{} already exists; not overwriting a key", p.display())));
            }
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .context(|| format!("creating key file {}", path.display()))?;
        writeln!(
            f,
            "# Préau ed25519 secret signing key. Keep it private; its public half is in {}",
            pub_path.display()
        )
        .and_then(|_| writeln!(f, "{SECRET_PREFIX}{}", hex::encode(self.0.to_bytes())))
        .and_then(|_| f.sync_all())
        .context(|| format!("writing key file {}", path.display()))?;
        std::fs::write(&pub_path, format!("{}\n", self.public().to_hex()))
            .context(|| format!("writing {}", pub_path.display()))?;
        Ok(pub_path)
    }

    pub fn read_file(path: &Path) -> Result<SecretKey> {
        let text = read_key_text(path)?;
        let Some(hex_seed) = text.strip_prefix(SECRET_PREFIX) else {
            let hint = if PublicKey::from_hex(&text).is_ok() {
                " (it is a public key: pass the secret key file, the one without .pub)"
            } else {
                ""
            };
            return Err(Error::Key(format!("{} is not a Préau secret key file{hint}", path.display())));
        };
        let mut seed = [0u8; 32];
        hex::decode_to_slice(hex_seed, &mut seed).map_err(|_| {
            Error::Key(format!("{} is a damaged secret key file (expected 64 hex digits)", path.display()))
        })?;
        Ok(SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).to_bytes().to_vec()
    }
}

/// Marks the line of a secret key file, so that a public key is never taken for a secret one.
const SECRET_PREFIX: &str = "PREAU-ED25519-SECRET-";

/// `key` → `key.pub`.
pub fn pub_path(path: &Path) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".pub");
    s.into()
}

/// The first line of a key file that is not a comment.
fn read_key_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).context(|| format!("reading key file {}", path.display()))?;
    if meta.len() > 4096 {
        return Err(Error::Key(format!("{} is too large to be a key file", path.display())));
    }
    let text = std::fs::read_to_string(path).context(|| format!("reading key file {}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .ok_or_else(|| Error::Key(format!("{} holds no key", path.display())))
}

/// A set of keys of which `threshold` must sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub keys: Vec<String>,
    pub threshold: u32,
}

impl Role {
    pub fn single(key: &PublicKey) -> Role {
        Role { keys: vec![key.to_hex()], threshold: 1 }
    }

    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| *k == key.to_hex())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignatureEntry {
    pub keyid: String,
    pub sig: String,
}

/// A signed JSON document as stored on disk.
#[derive(Debug, Deserialize, Serialize)]
pub struct Envelope {
    pub signed: Box<RawValue>,
    pub signatures: Vec<SignatureEntry>,
}

impl Envelope {
    /// Signs `payload` with `keys` and returns the file bytes.
    pub fn sign<T: Serialize>(payload: &T, keys: &[&SecretKey]) -> Vec<u8> {
        let signed = serde_json::to_string(payload).expect("metadata serialises");
        let signatures = keys
            .iter()
            .map(|k| SignatureEntry { keyid: k.public().to_hex(), sig: hex::encode(k.sign(signed.as_bytes())) })
            .collect();
        let env = Envelope { signed: RawValue::from_string(signed).expect("valid JSON"), signatures };
        let mut out = serde_json::to_vec(&env).expect("envelope serialises");
        out.push(b'\n');
        out
    }

    pub fn parse(bytes: &[u8], what: &str) -> Result<Envelope> {
        let env: Envelope =
            serde_json::from_slice(bytes).map_err(|e| Error::Malformed { what: what.into(), detail: e.to_string() })?;
        if env.signatures.len() > MAX_SIGNATURES {
            return Err(Error::Malformed {
                what: what.into(),
                detail: format!("more than {MAX_SIGNATURES} signatures"),
            });
        }
        Ok(env)
    }

    /// The distinct keys of `role` that validly signed this document.
    pub fn valid_signers(&self, role: &Role) -> Vec<PublicKey> {
        let msg = self.signed.get().as_bytes();
        let mut out: Vec<PublicKey> = Vec::new();
        for s in &self.signatures {
            if !role.keys.contains(&s.keyid) {
                continue;
            }
            let (Ok(key), Ok(sig)) = (PublicKey::from_hex(&s.keyid), hex::decode(&s.sig)) else {
                continue;
            };
            if key.verify(msg, &sig) && !out.contains(&key) {
                out.push(key);
            }
        }
        out
    }

    /// Checks that at least `role.threshold` keys of `role` signed.
    pub fn check_role(&self, role: &Role, what: &str) -> Result<()> {
        let n = self.valid_signers(role).len();
        if role.threshold == 0 || (n as u32) < role.threshold {
            return Err(Error::BadSignature {
                what: what.into(),
                detail: format!(
                    "{n} valid signature(s) from the authorised keys, {} needed (is it signed with the right key, or was it changed?)",
                    role.threshold.max(1)
                ),
            });
        }
        Ok(())
    }

    pub fn payload<T: for<'de> Deserialize<'de>>(&self, what: &str) -> Result<T> {
        serde_json::from_str(self.signed.get())
            .map_err(|e| Error::Malformed { what: what.into(), detail: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_detect_tampering() {
        let k = SecretKey::generate();
        let other = SecretKey::generate();
        let bytes = Envelope::sign(&serde_json::json!({"a": 1, "b": "été"}), &[&k]);
        let env = Envelope::parse(&bytes, "doc").unwrap();
        env.check_role(&Role::single(&k.public()), "doc").unwrap();
        assert!(env.check_role(&Role::single(&other.public()), "doc").is_err());
        let tampered = String::from_utf8(bytes).unwrap().replace("\"a\":1", "\"a\":2");
        let env = Envelope::parse(tampered.as_bytes(), "doc").unwrap();
        assert!(env.check_role(&Role::single(&k.public()), "doc").is_err());
    }

    #[test]
    fn key_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let k = SecretKey::generate();
        let pubp = k.write_files(&path).unwrap();
        assert_eq!(SecretKey::read_file(&path).unwrap().public(), k.public());
        assert_eq!(PublicKey::read_file(&pubp).unwrap(), k.public());
        assert!(k.write_files(&path).is_err(), "overwrote a key");
        let err = SecretKey::read_file(&pubp).err().expect("a public key was taken for a secret key");
        assert!(err.to_string().contains("public key"), "{err}");
    }
}
