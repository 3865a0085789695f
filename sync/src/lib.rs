//! Pulling, verifying and atomically applying packs (see ARCHITECTURE.md).
//!
//! - [`source`]: where bytes come from (HTTP repository, peer box, folder); untrusted.
//! - [`trust`]: root chain, catalog signatures, rollback, freeze, the time floor.
//! - [`plan`]: pure planning of what to fetch (manifests, deltas, chunks).
//! - [`fetch`]: parallel, verified fetching; [`apply`]: durable writes, switch, GC.
//! - [`pull`]: the whole pull; [`install`]: the folder entry point the box uses.
//! - [`mule`]: `wants` files and exports for USB sticks; [`peers`]: mDNS discovery;
//!   [`auto`]: the background loop of `preau serve`; [`remove`]: removing packs.
//! - [`private`]: quiz answers sealed between the boxes of one school.

pub mod apply;
pub mod auto;
pub mod fetch;
pub mod install;
pub mod mule;
pub mod peers;
pub mod plan;
pub mod private;
pub mod pull;
pub mod remove;
pub mod source;
pub mod trust;

pub use install::{
    InstallSummary, add_from_folder, folder_publisher, install_from_folder, knows_publisher, trust_publisher,
};
pub use pull::{PullOptions, PullSummary, pull};
pub use remove::{RemoveSummary, remove_packs};
