//! What can go wrong in a pull, typed so that callers decide without reading messages.
//!
//! The box matches on [`Error::UnknownPublisher`] to offer the teacher the publisher's
//! fingerprint; a caller can tell a busy data folder ([`Error::Busy`], try later) or a full
//! disk from a bad source; the CLI prints any variant as it is: every message names the problem and, where there is one, what to
//! do about it. Errors of the pack format (`preau_pack::Error`) keep their own variants
//! when a caller may act on them (corrupt object, bad signature, I/O, disk full) and are
//! carried whole otherwise.

use std::path::PathBuf;

use preau_pack::{Hash, PublicKey};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source's root chain starts at a key this box does not trust: neither given
    /// (`--trust`, `[sync] trusted_keys`), nor trusted by a teacher, nor the publisher the
    /// box follows. A teacher may trust it after comparing the fingerprint.
    #[error(
        "{from} is signed by a publisher this box does not know (fingerprint {fingerprint}): its root is not signed by any key this box trusts; trust that key (--trust, or the teacher's admin page) if it is the publisher you expect"
    )]
    UnknownPublisher { from: String, key: PublicKey, fingerprint: String },
    /// Another pull, install or removal holds the data folder's writer lock.
    #[error(
        "another pull or removal is already running on this data folder ({} is locked); try again when it ends",
        lock.display()
    )]
    Busy { lock: PathBuf },
    /// A server answered with an error status (other than 404, which means "absent").
    #[error("GET {url}: the server answered {status}{}", reason(*status))]
    Http { url: String, status: u16 },
    /// The box's disk is full (ENOSPC). What was written so far stays valid: the next
    /// pull resumes once space is freed.
    #[error("the disk is full ({context}: {source}); free some space (remove a pack) and pull again")]
    DiskFull {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Signed metadata older than what the box holds (a rollback attack or a stale copy).
    /// `what` is `the catalog` or `pack ID`; `offered` equal to `installed` means the
    /// same version number with other contents.
    #[error("refusing {what} of {from}: {} (a rollback attack, or a stale copy)", rollback_detail(*offered, *installed))]
    Rollback { what: String, from: String, offered: u64, installed: u64 },
    /// Signed metadata past its expiry, refused from an online server (a frozen mirror).
    #[error("{detail}: refusing it from an online server ({why})")]
    Expired { detail: String, why: String },
    #[error("signature check failed for {what}: {detail}")]
    BadSignature { what: String, detail: String },
    #[error("object {hash} is corrupt: {detail}")]
    CorruptObject { hash: Hash, detail: String },
    #[error("no pack with id {0:?} in this repository")]
    NoSuchPack(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is larger than the limit of {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("malformed {what}: {detail}")]
    Malformed { what: String, detail: String },
    /// Any other error of the pack format (a bad path, a bad key file…).
    #[error(transparent)]
    Pack(preau_pack::Error),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error, typed [`Error::DiskFull`] when the disk is full.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }.typed()
    }

    /// The same error with ENOSPC typed as [`Error::DiskFull`], wherever it was made.
    pub(crate) fn typed(self) -> Error {
        match self {
            Error::Io { context, source } if is_disk_full(&source) => Error::DiskFull { context, source },
            e => e,
        }
    }
}

/// " Forbidden" after 403: the words a person reads in a message.
fn reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28)
}

/// The key in groups of eight hex digits, as the admin page shows it, so that a teacher
/// can compare it with what the publisher gave them.
pub fn fingerprint(key: &PublicKey) -> String {
    let hex = key.to_hex();
    hex.as_bytes().chunks(8).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
}

impl From<preau_pack::Error> for Error {
    fn from(e: preau_pack::Error) -> Error {
        use preau_pack::Error as P;
        match e {
            P::Io { context, source } => Error::Io { context, source }.typed(),
            P::BadSignature { what, detail } => Error::BadSignature { what, detail },
            P::CorruptObject { hash, detail } => Error::CorruptObject { hash, detail },
            P::NoSuchPack(id) => Error::NoSuchPack(id),
            P::TooLarge { what, limit } => Error::TooLarge { what, limit },
            P::Malformed { what, detail } => Error::Malformed { what, detail },
            P::Other(s) => Error::Other(s),
            e => Error::Pack(e),
        }
    }
}

fn rollback_detail(offered: u64, installed: u64) -> String {
    if offered < installed {
        format!("version {offered} is older than the installed version {installed}")
    } else {
        format!("it differs from what this box already has but has the same version {installed}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_typed_wherever_the_io_error_was_made() {
        let full = || std::io::Error::from_raw_os_error(28);
        let e: Error = preau_pack::Error::Io { context: "writing objects/ab/cd".into(), source: full() }.into();
        assert!(matches!(e, Error::DiskFull { .. }), "{e:?}");
        assert!(e.to_string().contains("No space left on device") && e.to_string().contains("free some space"));
        assert!(matches!(Error::io("x", full()), Error::DiskFull { .. }));
        let other = Error::io("reading x", std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(matches!(other, Error::Io { .. }));
        let e: Error = preau_pack::Error::NoSuchPack("p".into()).into();
        assert!(matches!(e, Error::NoSuchPack(ref id) if id == "p"));
    }

    #[test]
    fn the_fingerprint_is_the_key_in_groups_of_eight() {
        let key = preau_pack::SecretKey::generate().public();
        let f = fingerprint(&key);
        assert_eq!(f.replace(' ', ""), key.to_hex());
        assert!(f.split(' ').all(|g| g.len() == 8), "{f}");
    }
}
