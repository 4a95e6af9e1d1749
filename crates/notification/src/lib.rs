//! The notification service: emails sent on events, and the record of them
//! (`/api/notifications`).
//!
//! - [`emails`]: templates and sanitising; what each event says to whom.
//! - [`mailer`]: SMTP, `.eml` files, or the log.
//! - [`store`]: the record that makes redelivered events harmless, and the durable retry queue.
//! - [`events`]: the consumer's handler (one attempt per email).
//! - [`retry`]: the worker that resends failed emails on their schedule.
//! - [`routes`]: the HTTP side; [`app`]: start-up; [`config`]: settings.

pub mod app;
pub mod config;
pub mod emails;
pub mod events;
pub mod mailer;
pub mod retry;
pub mod routes;
pub mod store;

pub use app::App;
pub use config::{Config, Transport};
