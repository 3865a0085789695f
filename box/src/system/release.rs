//! `release.json`: what a system pack carries, signed by a national key.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use preau_pack::sign::{Envelope, Role, SecretKey};
use preau_pack::{PublicKey, Repo};
use serde::{Deserialize, Serialize};

pub const RELEASE_FILE: &str = "release.json";
pub const FORMAT: &str = "preau-system/1";
const MAX_RELEASE_BYTES: u64 = 64 * 1024;
/// Largest binary a release may carry (a release `preau` is about 30 MB).
pub const MAX_BINARY_BYTES: u64 = 1024 * 1024 * 1024;

/// One binary of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binary {
    /// Path inside the pack.
    pub path: String,
    pub blake3: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub format: String,
    /// Grows with every release; a box installs a serial above the one it runs.
    pub serial: u64,
    /// For people (`preau --version` of the binary, a build label).
    pub version: String,
    /// Architecture (`x86_64`, `aarch64`) → program name (`preau`, `preau-image`) → file.
    pub binaries: BTreeMap<String, BTreeMap<String, Binary>>,
}

impl Release {
    pub fn sign(&self, key: &SecretKey) -> Vec<u8> {
        Envelope::sign(self, &[key])
    }

    /// Parses a signed `release.json` and checks it was signed by one of `keys`.
    pub fn verify(bytes: &[u8], keys: &[PublicKey]) -> Result<Release> {
        if bytes.len() as u64 > MAX_RELEASE_BYTES {
            bail!("{RELEASE_FILE} is {} bytes, more than {MAX_RELEASE_BYTES}", bytes.len());
        }
        if keys.is_empty() {
            bail!("no key is trusted for software updates ([sync] trusted_keys is empty)");
        }
        let env = Envelope::parse(bytes, RELEASE_FILE)?;
        let role = Role { keys: keys.iter().map(PublicKey::to_hex).collect(), threshold: 1 };
        env.check_role(&role, "release.json (software update; only [sync] trusted_keys may sign it)")?;
        let r: Release = serde_json::from_str(env.signed.get()).context("release.json")?;
        if r.format != FORMAT {
            bail!("release.json format {:?}, this box reads {FORMAT:?}", r.format);
        }
        if r.serial == 0 || r.version.len() > 200 || r.binaries.len() > 16 {
            bail!("release.json: serial 0, or too long a version or too many architectures");
        }
        Ok(r)
    }

    /// The `preau` binary for the architecture this program was built for.
    pub fn box_binary(&self) -> Option<&Binary> {
        self.binaries.get(std::env::consts::ARCH)?.get("preau")
    }

    /// The image tool for this architecture, when the release carries one.
    pub fn image_tool(&self) -> Option<&Binary> {
        self.binaries.get(std::env::consts::ARCH)?.get("preau-image")
    }
}

/// The installed system pack of a box's repository: its verified release, or `None`
/// when the box has none. An error means a system pack is there but may not be used.
pub fn installed(
    repo_dir: &std::path::Path,
    keys: &[PublicKey],
) -> Result<Option<(Release, Repo, preau_pack::Manifest)>> {
    let installed = preau_pack::installed::Installed::load(repo_dir)?;
    let Some(p) = installed.packs.get(super::PACK_ID) else { return Ok(None) };
    let repo = Repo::open(repo_dir)?;
    let manifest = repo.read_manifest(&p.manifest, p.manifest_size)?;
    if manifest.meta.kind != super::KIND {
        bail!("the pack {} is of kind {:?}, not {:?}", super::PACK_ID, manifest.meta.kind, super::KIND);
    }
    let entry = manifest
        .files
        .iter()
        .find(|f| f.path == RELEASE_FILE)
        .with_context(|| format!("the system pack has no {RELEASE_FILE}"))?;
    if entry.size > MAX_RELEASE_BYTES {
        bail!("{RELEASE_FILE} is {} bytes, more than {MAX_RELEASE_BYTES}", entry.size);
    }
    let release = Release::verify(&repo.read_file(entry)?, keys)?;
    Ok(Some((release, repo, manifest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Release {
        let b = Binary { path: "bin/x86_64/preau".into(), blake3: "00".repeat(32), size: 1 };
        Release {
            format: FORMAT.into(),
            serial: 2,
            version: "0.1.0+2".into(),
            binaries: [("x86_64".to_string(), [("preau".to_string(), b)].into())].into(),
        }
    }

    #[test]
    fn only_a_trusted_key_signs_a_release() {
        let national = SecretKey::generate();
        let teacher = SecretKey::generate();
        let signed = release().sign(&national);
        assert_eq!(Release::verify(&signed, &[national.public()]).unwrap(), release());
        let e = Release::verify(&release().sign(&teacher), &[national.public()]).unwrap_err();
        assert!(format!("{e:#}").contains("trusted_keys"), "{e:#}");
        assert!(Release::verify(&signed, &[]).is_err());
        // A changed byte breaks the signature.
        let tampered = String::from_utf8(signed).unwrap().replace("0.1.0+2", "0.1.0+9");
        assert!(Release::verify(tampered.as_bytes(), &[national.public()]).is_err());
    }
}
