//! Configuration from environment variables (12-factor). Every reader returns an error that
//! names the variable, so a bad deploy fails in one clear line.

use std::str::FromStr;
use std::time::Duration;

/// A missing or malformed configuration value.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    /// The variable at fault.
    pub var: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// Builds an error for `var`.
    pub fn new(var: &str, reason: impl Into<String>) -> Self {
        ConfigError { var: var.to_owned(), reason: reason.into() }
    }
}

/// The variable's value, `None` when unset or empty.
pub fn optional(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The variable parsed as `T`, `None` when unset.
pub fn parse<T>(var: &str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    optional(var)
        .map(|raw| raw.trim().parse::<T>().map_err(|e| ConfigError::new(var, format!("invalid value {raw:?}: {e}"))))
        .transpose()
}

/// The variable parsed as `T`, or `default` when unset.
pub fn parse_or<T>(var: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    Ok(parse(var)?.unwrap_or(default))
}

/// A required variable.
pub fn required(var: &str) -> Result<String, ConfigError> {
    optional(var).ok_or_else(|| ConfigError::new(var, "is required but not set"))
}

/// A duration given in milliseconds, or `default`.
pub fn millis_or(var: &str, default: Duration) -> Result<Duration, ConfigError> {
    Ok(parse::<u64>(var)?.map(Duration::from_millis).unwrap_or(default))
}

/// A duration given in seconds, or `default`. Fractions are allowed (`0.5`).
pub fn seconds_or(var: &str, default: Duration) -> Result<Duration, ConfigError> {
    match parse::<f64>(var)? {
        None => Ok(default),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::from_secs_f64(s)),
        Some(_) => Err(ConfigError::new(var, "must be a non-negative number of seconds")),
    }
}

/// An `http://host:port` base URL, trailing slash removed.
pub fn url_or(var: &str, default: &str) -> Result<String, ConfigError> {
    let raw = optional(var).unwrap_or_else(|| default.to_owned());
    let trimmed = raw.trim().trim_end_matches('/').to_owned();
    match trimmed.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("http") && uri.authority().is_some() => Ok(trimmed),
        _ => Err(ConfigError::new(var, format!("{raw:?} is not an http://host:port URL"))),
    }
}
