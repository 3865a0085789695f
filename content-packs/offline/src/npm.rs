//! npm packages: the registry's metadata (versions, tarball URL, `integrity`), tarballs
//! checked against their sha512 and kept in a bounded cache on the publisher's disk, and
//! their files. Without a [`Fetcher`] (`--offline`) only the cache is used.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha512};
use url::Url;

use crate::fetch::{Fetcher, MAX_TARBALL_BYTES};

/// The registry metadata of one package is at most this large (mermaid's abbreviated
/// document is a few MB).
const MAX_METADATA_BYTES: u64 = 64 * 1024 * 1024;
/// Files in one package and their unpacked size.
const MAX_PACKAGE_FILES: usize = 50_000;
const MAX_PACKAGE_BYTES: u64 = 512 * 1024 * 1024;

pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org/";

#[derive(Debug, Clone)]
struct Dist {
    tarball: Url,
    integrity: String,
}

/// The files of one package version, by path inside the package (`package/` removed).
pub type PackageFiles = BTreeMap<String, Vec<u8>>;

pub struct Npm<'f> {
    fetch: Option<&'f Fetcher>,
    registry: Url,
    cache: PathBuf,
    max_cache_bytes: u64,
    meta: HashMap<String, BTreeMap<String, Dist>>,
}

impl<'f> Npm<'f> {
    /// `cache`: where tarballs are kept (`<cache>/npm/`), pruned to `max_cache_bytes`
    /// (oldest first) after each download.
    pub fn new(fetch: Option<&'f Fetcher>, registry: Url, cache: &Path, max_cache_bytes: u64) -> Npm<'f> {
        Npm { fetch, registry, cache: cache.join("npm"), max_cache_bytes, meta: HashMap::new() }
    }

    pub fn online(&self) -> bool {
        self.fetch.is_some()
    }

    fn package_dir(&self, pkg: &str) -> PathBuf {
        // `@scope/name` → `@scope+name`: one folder level per package.
        self.cache.join(pkg.replace('/', "+"))
    }

    /// Every published version (online), or the cached ones (offline).
    pub fn versions(&mut self, pkg: &str) -> Result<Vec<String>, String> {
        if self.fetch.is_none() {
            return Ok(self.cached_versions(pkg));
        }
        Ok(self.metadata(pkg)?.keys().cloned().collect())
    }

    fn cached_versions(&self, pkg: &str) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(self.package_dir(pkg)) else { return Vec::new() };
        rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".tgz").map(String::from)).collect()
    }

    fn metadata(&mut self, pkg: &str) -> Result<&BTreeMap<String, Dist>, String> {
        if !self.meta.contains_key(pkg) {
            let fetch = self.fetch.ok_or("hors ligne")?;
            // The scoped name's `/` is escaped in the registry's URL.
            let url = self
                .registry
                .join(&pkg.replace('/', "%2f"))
                .map_err(|e| format!("adresse du registre npm pour {pkg} : {e}"))?;
            // The abbreviated ("corgi") document: versions and their dist, much smaller.
            let got = fetch
                .get(&url, MAX_METADATA_BYTES, Some("application/vnd.npm.install-v1+json"))
                .map_err(|e| format!("registre npm, paquet {pkg} : {e}"))?;
            let doc: serde_json::Value = serde_json::from_slice(&got.bytes)
                .map_err(|e| format!("registre npm, paquet {pkg} : métadonnées illisibles ({e})"))?;
            let mut versions = BTreeMap::new();
            for (v, info) in doc["versions"].as_object().into_iter().flatten() {
                let (Some(tarball), Some(integrity)) =
                    (info["dist"]["tarball"].as_str(), info["dist"]["integrity"].as_str())
                else {
                    continue;
                };
                let Ok(tarball) = Url::parse(tarball) else { continue };
                versions.insert(v.clone(), Dist { tarball, integrity: integrity.to_string() });
            }
            if versions.is_empty() {
                return Err(format!("registre npm : aucune version de {pkg} avec une empreinte sha512"));
            }
            self.meta.insert(pkg.to_string(), versions);
        }
        Ok(&self.meta[pkg])
    }

    /// The files of `pkg@version`: from the cache when its tarball is there and still
    /// matches its recorded integrity, else downloaded and checked against the registry's.
    pub fn files(&mut self, pkg: &str, version: &str) -> Result<PackageFiles, String> {
        let dir = self.package_dir(pkg);
        let tgz = dir.join(format!("{version}.tgz"));
        let integrity_file = dir.join(format!("{version}.integrity"));
        if let (Ok(bytes), Ok(integrity)) = (std::fs::read(&tgz), std::fs::read_to_string(&integrity_file))
            && check_integrity(&bytes, integrity.trim()).is_ok()
        {
            return unpack(&bytes).map_err(|e| format!("{pkg}@{version} : {e}"));
        }
        let fetch = self
            .fetch
            .ok_or_else(|| format!("{pkg}@{version} n'est pas dans le cache et la construction est hors ligne"))?;
        let dist = self
            .metadata(pkg)?
            .get(version)
            .cloned()
            .ok_or_else(|| format!("registre npm : pas de version {version} pour {pkg}"))?;
        let got = fetch
            .get(&dist.tarball, MAX_TARBALL_BYTES, None)
            .map_err(|e| format!("archive npm de {pkg}@{version} : {e}"))?;
        check_integrity(&got.bytes, &dist.integrity).map_err(|e| format!("archive npm de {pkg}@{version} : {e}"))?;
        let files = unpack(&got.bytes).map_err(|e| format!("{pkg}@{version} : {e}"))?;
        // The cache is a convenience: failing to write it does not fail the build.
        if std::fs::create_dir_all(&dir).is_ok() {
            let tmp = dir.join(format!(".{version}.tgz.tmp"));
            if std::fs::write(&tmp, &got.bytes).is_ok()
                && std::fs::write(&integrity_file, &dist.integrity).is_ok()
                && std::fs::rename(&tmp, &tgz).is_ok()
            {
                self.prune();
            }
        }
        Ok(files)
    }

    /// Removes the oldest tarballs until the cache fits its bound.
    fn prune(&self) {
        let mut all: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        for pkg in std::fs::read_dir(&self.cache).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(pkg.path()).into_iter().flatten().flatten() {
                if let Ok(m) = f.metadata()
                    && f.path().extension().is_some_and(|e| e == "tgz")
                {
                    all.push((m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len(), f.path()));
                }
            }
        }
        let mut total: u64 = all.iter().map(|a| a.1).sum();
        all.sort();
        for (_, len, path) in all {
            if total <= self.max_cache_bytes {
                break;
            }
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("integrity"));
            total -= len;
        }
    }
}

/// Checks `bytes` against an npm `integrity` string (Subresource Integrity: one or more
/// `sha512-<base64>`; only sha512 is accepted, older hashes are too weak to trust).
pub fn check_integrity(bytes: &[u8], integrity: &str) -> Result<(), String> {
    let wanted: Vec<&str> = integrity.split_ascii_whitespace().filter_map(|i| i.strip_prefix("sha512-")).collect();
    if wanted.is_empty() {
        return Err(format!("pas d'empreinte sha512 dans {integrity:?}"));
    }
    let got = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes));
    if wanted.contains(&got.as_str()) {
        Ok(())
    } else {
        Err(format!("l'empreinte sha512 ne correspond pas (attendu {}, obtenu {got})", wanted[0]))
    }
}

/// The regular files of an npm tarball (a gzip tar whose members sit in one top folder,
/// usually `package/`), bounded in count and size; unsafe paths are refused.
pub fn unpack(tgz: &[u8]) -> Result<PackageFiles, String> {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for entry in ar.entries().map_err(|e| format!("archive illisible : {e}"))? {
        let mut entry = entry.map_err(|e| format!("archive illisible : {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| format!("chemin illisible : {e}"))?.to_string_lossy().replace('\\', "/");
        let Some((_, inner)) = path.split_once('/') else { continue };
        if inner.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(format!("chemin refusé dans l'archive : {path:?}"));
        }
        if files.len() >= MAX_PACKAGE_FILES {
            return Err(format!("plus de {MAX_PACKAGE_FILES} fichiers"));
        }
        let size = entry.header().size().unwrap_or(0);
        total += size;
        if total > MAX_PACKAGE_BYTES {
            return Err(format!("plus de {MAX_PACKAGE_BYTES} octets une fois décompressée"));
        }
        let mut data = Vec::with_capacity(size.min(64 * 1024 * 1024) as usize);
        entry.by_ref().take(size).read_to_end(&mut data).map_err(|e| format!("archive illisible : {e}"))?;
        files.insert(inner.to_string(), data);
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tgz(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (path, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`: write the name bytes directly, as a hostile tarball would.
            h.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn integrity_is_checked() {
        let data = b"hello";
        let good = format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(Sha512::digest(data)));
        assert!(check_integrity(data, &good).is_ok());
        assert!(check_integrity(b"hellO", &good).unwrap_err().contains("ne correspond pas"));
        assert!(check_integrity(data, "sha1-abc").unwrap_err().contains("sha512"));
    }

    #[test]
    fn unpack_strips_the_top_folder_and_refuses_escapes() {
        let files = unpack(&tgz(&[("package/dist/a.js", b"a"), ("package/package.json", b"{}")])).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), vec!["dist/a.js", "package.json"]);
        assert!(unpack(&tgz(&[("package/../../etc/x", b"x")])).unwrap_err().contains("refusé"));
        assert!(unpack(b"not a tarball").is_err());
    }
}
