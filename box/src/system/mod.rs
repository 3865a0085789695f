//! Software updates in service (issue 18): new `preau` binaries (and the image tool)
//! arrive as a *system pack* through the same signed, delta-synced repository as
//! content, and the box switches to them as A/B binaries with an automatic way back.
//!
//! - `release`: the signed `release.json` a system pack carries (serial, version, the
//!   BLAKE3 of each binary per architecture). Only keys of `[sync] trusted_keys` (the
//!   national keys a technician writes on the card) may sign it: a teacher-trusted
//!   publisher or the box's own local key can install packs but never software.
//! - `publish`: the operator's side (`preau system publish`): a pack of kind `system`.
//! - `slots`: `DATA/system/`: `slots/{a,b}/`, the `current` symlink (the switch),
//!   `state.json` (what each slot holds, the trial in progress, refused serials).
//! - `supervise`: `preau system supervise`, the process systemd runs: it runs the
//!   current binary, stages a newer release from the installed system pack, restarts
//!   into it, and goes back to the previous binary when the new one does not answer
//!   `/healthz` in time after a restart.
//!
//! An update writes only `DATA/system/`: learner records (`preau.sqlite`), settings and
//! packs are never touched.

pub mod publish;
pub mod release;
pub mod slots;
pub mod supervise;

/// The id of the system pack in a repository.
pub const PACK_ID: &str = "preau-system";
/// `PackMeta::kind` of a system pack (pupils' catalogs leave it out).
pub const KIND: &str = "system";
