//! The notification service: emails sent on events, and the record of them
//! (`/api/notifications`).
//!
//! - [`emails`]: templates and sanitising; what each event says to whom.
//! - [`mailer`]: SMTP, `.eml` files, or the log.
//! - [`store`]: the record that makes redelivered events harmless.
//! - [`events`]: the consumer's handler.
//! - [`routes`]: the HTTP side; [`app`]: start-up; [`config`]: settings.

pub mod app;
pub mod config;
pub mod emails;
pub mod events;
pub mod mailer;
pub mod routes;
pub mod store;

pub use app::App;
pub use config::{Config, Transport};
