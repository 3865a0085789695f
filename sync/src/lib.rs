//! Pulling, verifying and atomically applying packs (see ARCHITECTURE.md).
//!
//! - [`source`]: where bytes come from (HTTP repository, peer box, folder); untrusted.
//! - [`trust`]: root chain, catalog signatures, rollback, freeze, the time floor.
//! - [`plan`]: pure planning of what to fetch (manifests, deltas, chunks).
//! - [`machine`]: the pull as a state machine without I/O (events in, actions out).
//! - [`pull`]: its driver (the job pool of [`fetch`]); [`apply`]: every durable write,
//!   the switch, GC; [`install`]: the folder entry point the box uses.
//! - [`error`]: the typed [`Error`] callers match on (unknown publisher, busy, …).
//! - [`nodes`]: the split catalog's nodes a box fetches and keeps.
//! - [`mule`]: `wants` files and exports for USB sticks; [`peers`]: mDNS discovery;
//!   [`auto`]: the background loop of `preau serve`; [`remove`]: removing packs.
//! - [`upstream`]: pushing the box's xAPI outbox to a learning record store.
//! - [`private`]: quiz answers sealed between the boxes of one school.

pub mod apply;
#[cfg(feature = "box-loop")]
pub mod auto;
pub mod error;
pub mod fetch;
pub mod install;
pub mod machine;
pub mod mule;
pub mod nodes;
pub mod peers;
pub mod plan;
pub mod private;
pub mod pull;
pub mod remove;
pub mod source;
pub mod trust;
#[cfg(feature = "box-loop")]
pub mod upstream;

pub use error::{Error, Result};
pub use install::{InstallSummary, add_from_folder, folder_publisher, install_from_folder, trust_publisher};
pub use pull::{PullOptions, PullSummary, pull};
pub use remove::{RemoveSummary, remove_packs};
