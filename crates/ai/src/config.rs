//! The AI service's settings. `shop serve ai` reads everything from the environment
//! ([`Config::from_env`]); the in-process platform passes its own address, store, peer and
//! data directory ([`Config::embedded`]) and still reads every tunable from the environment
//! through the same readers, so both paths accept and refuse exactly the same values.

use crate::retrieval::synonyms::{self, Synonyms};
use kit::config::{self, ConfigError};
use kit::db::DbOptions;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which language model answers chat messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// No model: deterministic answers composed from retrieval.
    Offline,
    /// Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama's `/v1`).
    OpenAi,
    /// Groq's OpenAI-compatible endpoint.
    Groq,
    /// Google Gemini's `generateContent`.
    Gemini,
    /// Ollama's native `/api/chat`.
    Ollama,
}

impl ProviderKind {
    /// The name used in `LLM_PROVIDER`, `/health` and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Offline => "offline",
            ProviderKind::OpenAi => "openai",
            ProviderKind::Groq => "groq",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Ollama => "ollama",
        }
    }

    fn parse(raw: &str) -> Option<ProviderKind> {
        Some(match raw.trim().to_ascii_lowercase().as_str() {
            "offline" | "none" => ProviderKind::Offline,
            "openai" => ProviderKind::OpenAi,
            "groq" => ProviderKind::Groq,
            "gemini" => ProviderKind::Gemini,
            "ollama" => ProviderKind::Ollama,
            _ => return None,
        })
    }

    fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::Offline => "",
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Groq => "https://api.groq.com/openai/v1",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com/v1beta",
            ProviderKind::Ollama => "http://127.0.0.1:11434",
        }
    }

    fn default_model(self) -> &'static str {
        match self {
            ProviderKind::Offline => "offline",
            ProviderKind::OpenAi => "gpt-4o-mini",
            ProviderKind::Groq => "llama-3.3-70b-versatile",
            ProviderKind::Gemini => "gemini-2.0-flash",
            ProviderKind::Ollama => "llama3.2",
        }
    }
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The language model and the guards around every call to it.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Which provider.
    pub provider: ProviderKind,
    /// Its base URL (`…/v1` for OpenAI-compatible endpoints).
    pub base_url: String,
    /// Its key, if it needs one.
    pub api_key: Option<Secret>,
    /// Model name.
    pub model: String,
    /// Deadline of a call (for a stream: until the first chunk, and between chunks).
    pub timeout: Duration,
    /// Calls allowed per minute (token bucket; bursts up to the same number).
    pub rate_per_minute: u32,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before letting one trial call through.
    pub breaker_cooldown: Duration,
    /// How long an answer is reused for the same prompt.
    pub cache_ttl: Duration,
    /// Answers kept in the cache.
    pub cache_entries: usize,
    /// Longest answer requested from the model, in tokens.
    pub max_tokens: u32,
}

impl LlmConfig {
    /// No model at all.
    pub fn offline() -> LlmConfig {
        LlmConfig {
            provider: ProviderKind::Offline,
            base_url: String::new(),
            api_key: None,
            model: ProviderKind::Offline.default_model().into(),
            timeout: Duration::from_secs(10),
            rate_per_minute: 60,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(600),
            cache_entries: 1_000,
            max_tokens: 512,
        }
    }

    /// From `LLM_*` and the providers' own key variables.
    pub fn from_env() -> Result<LlmConfig, ConfigError> {
        let llm_key = config::optional("LLM_API_KEY");
        let explicit = match config::optional("LLM_PROVIDER") {
            Some(raw) => Some(ProviderKind::parse(&raw).ok_or_else(|| {
                ConfigError::new("LLM_PROVIDER", format!("{raw:?} is not one of offline, openai, groq, gemini, ollama"))
            })?),
            None => None,
        };
        // Without LLM_PROVIDER, a provider's own key picks it; no key at all means offline.
        let provider = explicit.unwrap_or_else(|| {
            if config::optional("GROQ_API_KEY").is_some() {
                ProviderKind::Groq
            } else if config::optional("OPENAI_API_KEY").is_some() || llm_key.is_some() {
                ProviderKind::OpenAi
            } else if config::optional("GEMINI_API_KEY").is_some() {
                ProviderKind::Gemini
            } else {
                ProviderKind::Offline
            }
        });
        let own_key = match provider {
            ProviderKind::Groq => config::optional("GROQ_API_KEY"),
            ProviderKind::OpenAi => config::optional("OPENAI_API_KEY"),
            ProviderKind::Gemini => config::optional("GEMINI_API_KEY"),
            ProviderKind::Ollama | ProviderKind::Offline => None,
        };
        let api_key = llm_key.or(own_key).map(Secret::new);
        let base_url = match config::optional("LLM_BASE_URL") {
            Some(raw) => Some(http_url("LLM_BASE_URL", &raw)?),
            None => None,
        };
        // A key is required where the provider's public endpoint needs one; a self-hosted
        // OpenAI-compatible server (LLM_BASE_URL set) may not.
        let needs_key = match provider {
            ProviderKind::Groq | ProviderKind::Gemini => true,
            ProviderKind::OpenAi => base_url.is_none(),
            ProviderKind::Ollama | ProviderKind::Offline => false,
        };
        if needs_key && api_key.is_none() {
            return Err(ConfigError::new(
                "LLM_API_KEY",
                format!("is required for LLM_PROVIDER={} (or set its own key variable)", provider.as_str()),
            ));
        }
        let defaults = LlmConfig::offline();
        let rate_per_minute = config::parse_or("LLM_RATE_PER_MINUTE", defaults.rate_per_minute)?;
        if rate_per_minute == 0 {
            return Err(ConfigError::new("LLM_RATE_PER_MINUTE", "must be at least 1"));
        }
        let breaker_failures = config::parse_or("LLM_BREAKER_FAILURES", defaults.breaker_failures)?;
        if breaker_failures == 0 {
            return Err(ConfigError::new("LLM_BREAKER_FAILURES", "must be at least 1"));
        }
        let timeout = config::millis_or("LLM_TIMEOUT_MS", defaults.timeout)?;
        if timeout.is_zero() {
            return Err(ConfigError::new("LLM_TIMEOUT_MS", "must be more than 0"));
        }
        let max_tokens = config::parse_or("LLM_MAX_TOKENS", defaults.max_tokens)?;
        if !(16..=8192).contains(&max_tokens) {
            return Err(ConfigError::new("LLM_MAX_TOKENS", "must be between 16 and 8192"));
        }
        Ok(LlmConfig {
            provider,
            base_url: base_url.unwrap_or_else(|| provider.default_base_url().to_owned()),
            api_key,
            model: config::optional("LLM_MODEL").unwrap_or_else(|| provider.default_model().to_owned()),
            timeout,
            rate_per_minute,
            breaker_failures,
            breaker_cooldown: config::millis_or("LLM_BREAKER_COOLDOWN_MS", defaults.breaker_cooldown)?,
            cache_ttl: config::seconds_or("LLM_CACHE_TTL_SECS", defaults.cache_ttl)?,
            cache_entries: config::parse_or("LLM_CACHE_ENTRIES", defaults.cache_entries)?,
            max_tokens,
        })
    }
}

/// An `http://` or `https://` URL with a host, trailing slash removed.
fn http_url(var: &str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/').to_owned();
    match trimmed.parse::<http::Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some() => Ok(trimmed),
        _ => Err(ConfigError::new(var, format!("{raw:?} is not an http(s)://host URL"))),
    }
}

/// Settings of one AI service instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub host: String,
    /// Listen port (0 picks one).
    pub port: u16,
    /// Co-purchase counts and the outbox.
    pub database: DbOptions,
    /// The product service (the catalog is read from it at start-up).
    pub product_service_url: String,
    /// Deadline of each call to the product service.
    pub peer_timeout: Duration,
    /// Where cached embeddings live.
    pub data_dir: PathBuf,
    /// The language model.
    pub llm: LlmConfig,
    /// A sentence-embedding model (`model.safetensors`, `tokenizer.json`, `config.json`);
    /// without one, retrieval is lexical only.
    pub embedding_model_dir: Option<PathBuf>,
    /// Synonym groups: the built-in list plus the operator's file.
    pub synonyms: Synonyms,
    /// Whether `order-placed` produces a follow-up email.
    pub follow_up_emails: bool,
    /// Who may call it, and its own credential (for the product service).
    pub auth: kit::auth::AuthSettings,
}

impl Config {
    /// From `AI_HOST`, `AI_PORT`, `DATABASE_URL`, `DATABASE_MAX_CONNECTIONS`,
    /// `PRODUCT_SERVICE_URL`, `AI_DATA_DIR` and the tunables of [`Config::embedded`].
    pub fn from_env() -> Result<Config, ConfigError> {
        let database = DbOptions {
            url: config::required("DATABASE_URL")?,
            schema: "ai".into(),
            max_connections: config::parse_or("DATABASE_MAX_CONNECTIONS", 16)?,
        };
        Config::embedded(
            config::optional("AI_HOST").unwrap_or_else(|| "0.0.0.0".into()),
            config::parse_or("AI_PORT", 8005)?,
            database,
            config::url_or("PRODUCT_SERVICE_URL", "http://127.0.0.1:8001")?,
            PathBuf::from(config::optional("AI_DATA_DIR").unwrap_or_else(|| "./data/ai".into())),
            kit::auth::AuthSettings::from_env(None)?,
        )
    }

    /// For the in-process platform: address, store, peer and data directory given; every
    /// tunable (`LLM_*`, `PEER_TIMEOUT_MS`, `EMBEDDING_MODEL_DIR`, `AI_SYNONYMS_FILE`,
    /// `AI_FOLLOW_UP_EMAILS`) read from the environment with the same checks as
    /// [`Config::from_env`].
    pub fn embedded(
        host: impl Into<String>,
        port: u16,
        database: DbOptions,
        product_service_url: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        auth: kit::auth::AuthSettings,
    ) -> Result<Config, ConfigError> {
        let embedding_model_dir = match config::optional("EMBEDDING_MODEL_DIR") {
            Some(dir) => Some(model_dir("EMBEDDING_MODEL_DIR", Path::new(&dir))?),
            None => None,
        };
        let mut synonym_groups = synonyms::builtin();
        if let Some(file) = config::optional("AI_SYNONYMS_FILE") {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| ConfigError::new("AI_SYNONYMS_FILE", format!("cannot read {file}: {e}")))?;
            let extra = synonyms::parse(&text).map_err(|e| ConfigError::new("AI_SYNONYMS_FILE", e))?;
            synonym_groups.extend(extra);
        }
        Ok(Config {
            host: host.into(),
            port,
            database,
            product_service_url: product_service_url.into(),
            peer_timeout: config::millis_or("PEER_TIMEOUT_MS", Duration::from_secs(5))?,
            data_dir: data_dir.into(),
            llm: LlmConfig::from_env()?,
            embedding_model_dir,
            synonyms: Synonyms::new(synonym_groups),
            follow_up_emails: config::parse_or("AI_FOLLOW_UP_EMAILS", true)?,
            auth,
        })
    }
}

/// Checks that `dir` holds the three files of a sentence-embedding model.
pub fn model_dir(var: &str, dir: &Path) -> Result<PathBuf, ConfigError> {
    for file in ["model.safetensors", "tokenizer.json", "config.json"] {
        if !dir.join(file).is_file() {
            return Err(ConfigError::new(var, format!("{} has no {file}", dir.display())));
        }
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let llm = LlmConfig { api_key: Some(Secret::new("sk-live-123")), ..LlmConfig::offline() };
        assert!(!format!("{llm:?}").contains("sk-live-123"));
    }

    #[test]
    fn base_urls_must_be_http() {
        assert_eq!(http_url("X", "https://api.example.com/v1/").ok().as_deref(), Some("https://api.example.com/v1"));
        assert!(http_url("X", "ftp://example.com").is_err());
        assert!(http_url("X", "not a url").is_err());
    }

    #[test]
    fn provider_names_parse() {
        assert_eq!(ProviderKind::parse(" Groq "), Some(ProviderKind::Groq));
        assert_eq!(ProviderKind::parse("claude"), None);
    }
}
