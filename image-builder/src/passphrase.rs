//! The hotspot's passphrase when `preau.toml` gives none: the box makes one at its first
//! boot and keeps it on the data partition, so the network is never open and the
//! passphrase stays the same from boot to boot (tablets remember it). A passphrase set
//! in `preau.toml` always wins; the kept one is then left alone, unused.
//!
//! Made to be read aloud and typed on a tablet: three groups of four lower-case letters
//! and digits, without the look-alikes 0/o, 1/l/i (31 symbols, about 59 bits).

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::Path;

/// The file on the data partition (`/var/lib/preau`) holding the made passphrase.
pub const FILE: &str = "wifi-passphrase";

const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A new passphrase from the kernel's random source.
pub fn generate() -> Result<String> {
    let mut urandom = std::fs::File::open("/dev/urandom").context("cannot open /dev/urandom")?;
    let mut out = String::new();
    let mut byte = [0u8; 1];
    while out.len() < 14 {
        if out.len() == 4 || out.len() == 9 {
            out.push('-');
        }
        // Rejection sampling: 248 = 8 × 31, so every symbol is equally likely.
        loop {
            urandom.read_exact(&mut byte).context("cannot read /dev/urandom")?;
            if (byte[0] as usize) < ALPHABET.len() * 8 {
                out.push(ALPHABET[byte[0] as usize % ALPHABET.len()] as char);
                break;
            }
        }
    }
    Ok(out)
}

/// What a kept passphrase must look like: what `generate` makes (anything else in the
/// file, such as a truncated write, is replaced by a new one).
pub fn well_formed(p: &str) -> bool {
    let groups: Vec<&str> = p.split('-').collect();
    groups.len() == 3 && groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| ALPHABET.contains(&b)))
}

/// The passphrase kept in `data_dir`, made and written there (atomically, synced: a
/// pulled plug leaves the old file or the new one) when missing or damaged. Returns it
/// and whether it was made now.
pub fn kept_or_new(data_dir: &Path) -> Result<(String, bool)> {
    let file = data_dir.join(FILE);
    if let Ok(text) = std::fs::read_to_string(&file)
        && well_formed(text.trim())
    {
        return Ok((text.trim().to_string(), false));
    }
    if !data_dir.is_dir() {
        bail!("the data folder {} is missing", data_dir.display());
    }
    let p = generate()?;
    let tmp = data_dir.join(format!("{FILE}.new"));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(format!("{p}\n").as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &file).with_context(|| format!("cannot write {}", file.display()))?;
    if let Ok(d) = std::fs::File::open(data_dir) {
        let _ = d.sync_all();
    }
    Ok((p, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passphrases_are_well_formed_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(well_formed(&a) && well_formed(&b), "{a} {b}");
        assert_eq!(a.len(), 14);
        assert_ne!(a, b);
        // WPA2 wants 8 to 63 printable characters; preau-config checks the same.
        assert!(preau_config::Config::parse(&format!("[wifi]\npassphrase = \"{a}\"")).is_ok());
        for bad in ["", "abcd-efgh", "abcd-efgh-ijk0", "ABCD-EFGH-JKMN", "abcd-efgh-jkmn-pqrs"] {
            assert!(!well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn the_passphrase_is_kept_across_boots_and_a_damaged_one_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (first, made) = kept_or_new(dir.path()).unwrap();
        assert!(made && well_formed(&first));
        let file = dir.path().join(FILE);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(kept_or_new(dir.path()).unwrap(), (first.clone(), false));
        std::fs::write(&file, "abc").unwrap();
        let (second, made) = kept_or_new(dir.path()).unwrap();
        assert!(made && well_formed(&second) && second != first);
        assert!(!dir.path().join(format!("{FILE}.new")).exists());
        let err = kept_or_new(&dir.path().join("missing")).unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
    }
}
