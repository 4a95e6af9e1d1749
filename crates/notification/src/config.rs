//! The notification service's settings.

use kit::auth::AuthSettings;
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
    /// Waits between the attempts of a failing email: after the first failure it is retried
    /// `retry_schedule[0]` later, after the second `retry_schedule[1]` later, …; when the
    /// last step has failed too it is recorded as failed and dead-lettered. Never empty.
    pub retry_schedule: Vec<Duration>,
    /// How often the retry worker looks for emails whose retry is due.
    pub retry_poll: Duration,
    /// Who may call it.
    pub auth: AuthSettings,
}

/// The retry schedule when `EMAIL_RETRY_SCHEDULE` is unset: about 17 hours in all, so an
/// outage of a mail server or a disk has most of a day to be fixed before anything is
/// given up.
pub const DEFAULT_RETRY_SCHEDULE: &str = "1m,5m,15m,1h,4h,12h";

/// The longest step a retry schedule may have: a month is already longer than anyone waits
/// for an email, and a bound keeps every retry time a representable date.
pub const MAX_RETRY_STEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the retry worker looks when `EMAIL_RETRY_POLL_MS` is unset.
pub const DEFAULT_RETRY_POLL: Duration = Duration::from_millis(1000);

impl Config {
    /// From `NOTIFICATION_HOST`, `NOTIFICATION_PORT`, `DATABASE_URL`,
    /// `DATABASE_MAX_CONNECTIONS`, `EMAIL_TRANSPORT` (`smtp`, `file`, `log`), `SMTP_URL`,
    /// `EMAIL_DIR`, and the tunables [`Config::embedded`] reads.
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
        let database = DbOptions {
            url: config::required("DATABASE_URL")?,
            schema: "notification".into(),
            max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 8)?,
        };
        Config::embedded(
            config::optional("NOTIFICATION_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            config::parse_or("NOTIFICATION_PORT", 8004)?,
            database,
            transport,
            AuthSettings::from_env(None)?,
        )
    }

    /// A service at `host:port` on `database` sending through `transport` (what the caller
    /// decides: `shop up` picks them for the whole platform), with every other setting read
    /// from the environment with the same readers and checks as [`Config::from_env`]:
    /// `EMAIL_FROM`, `ADMIN_EMAIL`, `EMAIL_RETRY_SCHEDULE`, `EMAIL_RETRY_POLL_MS`.
    pub fn embedded(
        host: String,
        port: u16,
        database: DbOptions,
        transport: Transport,
        auth: AuthSettings,
    ) -> Result<Config, ConfigError> {
        let from = config::optional("EMAIL_FROM").unwrap_or_else(|| default_from().into());
        check_mailbox("EMAIL_FROM", &from)?;
        let admin_email = config::optional("ADMIN_EMAIL").unwrap_or_else(|| "admin@shop.local".into());
        check_mailbox("ADMIN_EMAIL", &admin_email)?;
        let schedule = config::optional("EMAIL_RETRY_SCHEDULE").unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.into());
        let retry_schedule =
            parse_schedule(&schedule).map_err(|reason| ConfigError::new("EMAIL_RETRY_SCHEDULE", reason))?;
        let retry_poll = config::millis_or("EMAIL_RETRY_POLL_MS", DEFAULT_RETRY_POLL)?;
        if retry_poll.is_zero() {
            // Zero would make the worker query the database in a busy loop.
            return Err(ConfigError::new("EMAIL_RETRY_POLL_MS", "must be at least 1"));
        }
        Ok(Config { host, port, database, transport, from, admin_email, retry_schedule, retry_poll, auth })
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

/// Parses a retry schedule: durations separated by commas, each a whole number with a unit
/// (`ms`, `s`, `m`, `h`), such as `1m,5m,15m,1h`. Every step must be positive and at most
/// [`MAX_RETRY_STEP`], and there must be at least one. The error says what is wrong (the caller names the variable).
pub fn parse_schedule(raw: &str) -> Result<Vec<Duration>, String> {
    let steps = raw.split(',').map(str::trim).collect::<Vec<_>>();
    if steps.iter().all(|s| s.is_empty()) {
        return Err(format!("{raw:?} has no steps; expected durations such as {DEFAULT_RETRY_SCHEDULE}"));
    }
    steps
        .into_iter()
        .map(|step| parse_duration(step).map_err(|reason| format!("{step:?} in {raw:?}: {reason}")))
        .collect()
}

fn parse_duration(step: &str) -> Result<Duration, String> {
    let split = step.find(|c: char| !c.is_ascii_digit()).unwrap_or(step.len());
    let (digits, unit) = step.split_at(split);
    if digits.is_empty() {
        return Err("expected a whole number followed by ms, s, m or h".into());
    }
    let amount: u64 = digits.parse().map_err(|_| "the number is too large".to_owned())?;
    let millis_per_unit: u64 = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err("the unit is missing (ms, s, m or h)".into()),
        other => return Err(format!("unknown unit {other:?} (expected ms, s, m or h)")),
    };
    if amount == 0 {
        return Err("a step must be longer than zero".into());
    }
    match amount.checked_mul(millis_per_unit).map(Duration::from_millis) {
        Some(step) if step <= MAX_RETRY_STEP => Ok(step),
        _ => Err("a step may be at most 30 days (720h)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().copied().map(Duration::from_millis).collect()
    }

    #[test]
    fn parses_the_default_and_every_unit() {
        assert_eq!(
            parse_schedule(DEFAULT_RETRY_SCHEDULE),
            Ok(ms(&[60_000, 300_000, 900_000, 3_600_000, 14_400_000, 43_200_000]))
        );
        assert_eq!(parse_schedule("200ms, 1s ,2m,3h"), Ok(ms(&[200, 1_000, 120_000, 10_800_000])));
        assert_eq!(parse_schedule("5 s"), Ok(ms(&[5_000])), "a space before the unit is tolerated");
    }

    #[test]
    fn refuses_empty_zero_and_garbage() {
        for bad in ["", " ", ",", "1m,,5m", "0s", "1m,0ms", "5", "m", "1.5s", "-1s", "1d", "1 minute", "abc", "1m;5m"] {
            let err = parse_schedule(bad).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert!(!err.is_empty(), "{bad:?}");
        }
        assert!(parse_schedule("99999999999999999999s").is_err(), "overflow is an error, not a wrap");
        assert!(parse_schedule("18446744073709551615h").is_err(), "overflow is an error, not a wrap");
        assert!(parse_schedule("721h").is_err(), "longer than 30 days");
        assert_eq!(parse_schedule("720h"), Ok(vec![MAX_RETRY_STEP]));
    }
}
