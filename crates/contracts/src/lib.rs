//! Types that cross service borders: event payloads on the bus and the DTOs one service
//! reads from another. Serde only — no I/O, no business rules.
//!
//! - [`events`]: topic names, the versioned envelope and each event's payload.
//! - [`money`]: exact money (integer cents) that serialises with the original's numeric shape.
//! - [`api`]: request/response shapes used by service-to-service clients.
#![warn(missing_docs)]

pub mod api;
pub mod events;
pub mod money;

pub use money::{AmountText, Money};
