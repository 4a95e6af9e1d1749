//! The notification service's settings.

use kit::config::{self, ConfigError};
use kit::db::DbOptions;
use std::path::PathBuf;
use std::time::Duration;

/// Where emails go.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// An SMTP server: `smtp://user:pass@host:587?tls=required` (STARTTLS),
    /// `smtps://…` (TLS), or `smtp://host:25` (plain, for local relays).
    Smtp(String),
    /// `.eml` files in a directory (the `shop up` default).
    Files(PathBuf),
    /// Only logged.
    Log,
}

/// Settings of one notification service instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks one).
    pub port: u16,
    /// Where sent emails are recorded.
    pub database: DbOptions,
    /// Where emails go.
    pub transport: Transport,
    /// The `From` of every email (`Name <address>`).
    pub from: String,
    /// Who gets low-stock alerts.
    pub admin_email: String,
    /// Attempts per email before it is recorded as failed and dead-lettered.
    pub send_attempts: u32,
    /// Wait before the second attempt; doubles after each.
    pub retry_delay: Duration,
}

impl Config {
    /// From `NOTIFICATION_HOST`, `NOTIFICATION_PORT`, `DATABASE_URL`,
    /// `DATABASE_MAX_CONNECTIONS`, `EMAIL_TRANSPORT` (`smtp`, `file`, `log`), `SMTP_URL`,
    /// `EMAIL_DIR`, `EMAIL_FROM`, `ADMIN_EMAIL`, `EMAIL_SEND_ATTEMPTS`, `EMAIL_RETRY_MS`.
    pub fn from_env() -> Result<Config, ConfigError> {
        let smtp_url = config::optional("SMTP_URL");
        let transport = match config::optional("EMAIL_TRANSPORT").as_deref() {
            Some("smtp") => Transport::Smtp(
                smtp_url.ok_or_else(|| ConfigError::new("SMTP_URL", "is required when EMAIL_TRANSPORT=smtp"))?,
            ),
            Some("file") => {
                Transport::Files(PathBuf::from(config::optional("EMAIL_DIR").unwrap_or_else(|| "./data/mail".into())))
            }
            Some("log") => Transport::Log,
            None => smtp_url.map(Transport::Smtp).unwrap_or(Transport::Log),
            Some(other) => {
                return Err(ConfigError::new("EMAIL_TRANSPORT", format!("expected smtp, file or log, got {other:?}")));
            }
        };
        let from = config::optional("EMAIL_FROM").unwrap_or_else(|| default_from().into());
        check_mailbox("EMAIL_FROM", &from)?;
        let admin_email = config::optional("ADMIN_EMAIL").unwrap_or_else(|| "admin@shop.local".into());
        check_mailbox("ADMIN_EMAIL", &admin_email)?;
        Ok(Config {
            host: config::optional("NOTIFICATION_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: config::parse_or("NOTIFICATION_PORT", 8004)?,
            database: DbOptions {
                url: config::required("DATABASE_URL")?,
                schema: "notification".into(),
                max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 8)?,
            },
            transport,
            from,
            admin_email,
            send_attempts: config::parse_or("EMAIL_SEND_ATTEMPTS", 3)?.max(1),
            retry_delay: config::millis_or("EMAIL_RETRY_MS", Duration::from_millis(500))?,
        })
    }
}

/// The sender when `EMAIL_FROM` is unset.
pub fn default_from() -> &'static str {
    "Shop <no-reply@shop.local>"
}

fn check_mailbox(var: &str, value: &str) -> Result<(), ConfigError> {
    value
        .parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| ConfigError::new(var, format!("{value:?} is not an email address: {e}")))
}
