//! The `shop` binary's library side: wiring services together.
//!
//! - [`platform`]: `shop up` — every service in one process, each on its own port, talking
//!   over real HTTP and one event log.
//! - [`demo`]: the demo catalog loaded into an empty store.
//! - [`load`]: `shop load`, the load generator.

pub mod demo;
pub mod load;
pub mod platform;
