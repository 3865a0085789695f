//! `DATA/system/`: the A/B binaries and the switch between them.
//!
//! ```text
//! DATA/system/slots/a/preau       one release's binaries (and preau-image)
//! DATA/system/slots/b/preau       the other one
//! DATA/system/current -> slots/b  the switch: a symlink replaced by rename
//! DATA/system/state.json          what each slot holds, the trial, refused serials
//! ```
//!
//! No `current` link means the image's own `/usr/bin/preau` (serial 0). Order of writes,
//! so that a power cut at any point leaves a box that starts: the new slot's files
//! (temp + fsync + rename), then `state.json` naming the trial, then the link. A trial
//! that names a slot other than the link's is stale and ignored. A trial that was started
//! [`MAX_TRIAL_STARTS`] times without passing the health check goes back by itself.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::release::{Binary, Release};

pub const SYSTEM_DIR: &str = "system";
const STATE_FILE: &str = "state.json";
const CURRENT: &str = "current";
const MAX_STATE_BYTES: u64 = 64 * 1024;
/// Starts of a new binary that may end without a health check (power cuts during the
/// trial) before the box goes back to the previous one.
pub const MAX_TRIAL_STARTS: u32 = 3;
/// Refused serials remembered (the newest ones).
const MAX_BAD: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotInfo {
    pub serial: u64,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub slot: String,
    pub serial: u64,
    /// The slot to go back to (`None`: the image's binary).
    pub previous: Option<String>,
    pub starts: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub slots: BTreeMap<String, SlotInfo>,
    #[serde(default)]
    pub trial: Option<Trial>,
    /// Serials that failed their health check (never tried again).
    #[serde(default)]
    pub bad: Vec<u64>,
}

/// One box's `DATA/system/`.
pub struct Slots {
    dir: PathBuf,
}

impl Slots {
    pub fn new(data_dir: &Path) -> Slots {
        Slots { dir: data_dir.join(SYSTEM_DIR) }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn load(&self) -> Result<State> {
        let path = self.dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(State::default());
        }
        let bytes = preau_pack::repo::read_bounded(&path, MAX_STATE_BYTES)?;
        serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
    }

    pub fn save(&self, state: &State) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut bytes = serde_json::to_vec_pretty(state)?;
        bytes.push(b'\n');
        Ok(preau_pack::fsutil::atomic_write(&self.dir.join(STATE_FILE), &bytes)?)
    }

    /// The slot the `current` link names (`None`: the image's binary).
    pub fn current(&self) -> Option<String> {
        let target = std::fs::read_link(self.dir.join(CURRENT)).ok()?;
        let name = target.strip_prefix("slots").ok()?.to_str()?.to_string();
        ["a", "b"].contains(&name.as_str()).then_some(name)
    }

    /// The binary to run: the current slot's `preau`, or `image` when there is none.
    pub fn binary(&self, image: &Path) -> PathBuf {
        match self.current() {
            Some(s) => self.dir.join("slots").join(s).join("preau"),
            None => image.to_path_buf(),
        }
    }

    /// The serial running now (0 for the image's binary).
    pub fn current_serial(&self, state: &State) -> u64 {
        self.current().and_then(|s| state.slots.get(&s).map(|i| i.serial)).unwrap_or(0)
    }

    /// Whether `release` should be installed: newer than what runs, never refused.
    pub fn wants(&self, state: &State, release: &Release) -> bool {
        release.serial > self.current_serial(state) && !state.bad.contains(&release.serial)
    }

    /// Writes the release's binaries for this architecture into the slot that is not
    /// current, each checked against the release's BLAKE3. Returns the slot.
    pub fn stage(&self, release: &Release, repo: &preau_pack::Repo, manifest: &preau_pack::Manifest) -> Result<String> {
        let slot = if self.current().as_deref() == Some("a") { "b" } else { "a" };
        let dir = self.dir.join("slots").join(slot);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let preau = release
            .box_binary()
            .with_context(|| format!("release {} has no preau for {}", release.version, std::env::consts::ARCH))?;
        let mut programs = vec![("preau", preau)];
        programs.extend(release.image_tool().map(|b| ("preau-image", b)));
        for (name, b) in programs {
            write_binary(repo, manifest, b, &dir.join(name))?;
        }
        preau_pack::fsutil::sync_dir(&dir)?;
        Ok(slot.to_string())
    }

    /// Switches to `slot` (staged with `release`) on trial: the state first, then the link.
    pub fn switch(&self, slot: &str, release: &Release) -> Result<()> {
        let mut state = self.load()?;
        state.slots.insert(slot.into(), SlotInfo { serial: release.serial, version: release.version.clone() });
        state.trial = Some(Trial { slot: slot.into(), serial: release.serial, previous: self.current(), starts: 0 });
        self.save(&state)?;
        self.point(Some(slot))
    }

    /// The trial of the slot the link names, if one is in progress.
    pub fn trial(&self, state: &State) -> Option<Trial> {
        state.trial.clone().filter(|t| Some(&t.slot) == self.current().as_ref())
    }

    /// Counts one start of the trial binary; `false` when it has had its chances.
    pub fn start_trial(&self) -> Result<bool> {
        let mut state = self.load()?;
        let Some(mut t) = self.trial(&state) else { return Ok(true) };
        if t.starts >= MAX_TRIAL_STARTS {
            return Ok(false);
        }
        t.starts += 1;
        state.trial = Some(t);
        self.save(&state)?;
        Ok(true)
    }

    /// The trial binary answered its health check: it is now the good one.
    pub fn mark_good(&self) -> Result<()> {
        let mut state = self.load()?;
        state.trial = None;
        self.save(&state)
    }

    /// The trial binary failed: back to the previous one, its serial never tried again.
    pub fn roll_back(&self) -> Result<()> {
        let mut state = self.load()?;
        let Some(t) = self.trial(&state) else { return Ok(()) };
        self.point(t.previous.as_deref())?;
        state.bad.push(t.serial);
        if state.bad.len() > MAX_BAD {
            state.bad.remove(0);
        }
        state.slots.remove(&t.slot);
        state.trial = None;
        self.save(&state)
    }

    /// Replaces the `current` link (rename over it), or removes it (`None`).
    fn point(&self, slot: Option<&str>) -> Result<()> {
        let link = self.dir.join(CURRENT);
        match slot {
            Some(s) => {
                let tmp = self.dir.join(format!("{CURRENT}.tmp"));
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(Path::new("slots").join(s), &tmp)?;
                std::fs::rename(&tmp, &link)?;
            }
            None => match std::fs::remove_file(&link) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            },
        }
        Ok(preau_pack::fsutil::sync_dir(&self.dir)?)
    }
}

/// Copies one binary out of the repository in bounded ranges, checks its BLAKE3 against
/// the signed release, then renames it into place executable.
fn write_binary(repo: &preau_pack::Repo, manifest: &preau_pack::Manifest, b: &Binary, to: &Path) -> Result<()> {
    let entry = manifest
        .files
        .iter()
        .find(|f| f.path == b.path)
        .with_context(|| format!("the system pack has no {}", b.path))?;
    if entry.size != b.size || entry.hash.to_hex() != b.blake3 {
        bail!("{} in the system pack is not the file release.json names", b.path);
    }
    const STEP: u64 = 4 * 1024 * 1024;
    let tmp = to.with_extension("tmp");
    let mut out = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut at = 0;
    while at < entry.size {
        let bytes = repo.read_range(entry, at, STEP.min(entry.size - at))?;
        if bytes.is_empty() {
            bail!("{}: short read at {at}", b.path);
        }
        hasher.update(&bytes);
        out.write_all(&bytes)?;
        at += bytes.len() as u64;
    }
    if hasher.finalize().to_hex().as_str() != b.blake3 {
        bail!("{}: BLAKE3 mismatch after copying", b.path);
    }
    use std::os::unix::fs::PermissionsExt;
    out.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&tmp, to)?;
    Ok(())
}

/// Whether `path` holds exactly `blake3` (tests and `preau system status`).
pub fn file_hash(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(serial: u64) -> Release {
        Release {
            format: super::super::release::FORMAT.into(),
            serial,
            version: format!("v{serial}"),
            binaries: Default::default(),
        }
    }

    #[test]
    fn switch_trial_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let s = Slots::new(dir.path());
        let image = Path::new("/usr/bin/preau");
        assert_eq!(s.binary(image), image);
        s.switch("a", &release(1)).unwrap();
        assert_eq!(s.current().as_deref(), Some("a"));
        assert!(s.start_trial().unwrap());
        s.mark_good().unwrap();
        assert_eq!(s.current_serial(&s.load().unwrap()), 1);

        s.switch("b", &release(2)).unwrap();
        // Power cuts during the trial: after MAX_TRIAL_STARTS starts it goes back.
        for _ in 0..MAX_TRIAL_STARTS {
            assert!(s.start_trial().unwrap());
        }
        assert!(!s.start_trial().unwrap());
        s.roll_back().unwrap();
        let state = s.load().unwrap();
        assert_eq!(s.current().as_deref(), Some("a"));
        assert_eq!(state.bad, vec![2]);
        assert!(!s.wants(&state, &release(2)));
        assert!(s.wants(&state, &release(3)));
        assert!(!s.wants(&state, &release(1)));

        // A failed first update goes back to the image's binary.
        let dir = tempfile::tempdir().unwrap();
        let s = Slots::new(dir.path());
        s.switch("a", &release(5)).unwrap();
        s.roll_back().unwrap();
        assert_eq!(s.current(), None);
        assert_eq!(s.binary(image), image);
    }
}
