//! The guards around every model call: a response cache, a token-bucket throttle, a
//! circuit breaker and a deadline (for a stream: until the first chunk and between chunks).
//! A refused or failed call is an [`LlmError`]; the caller answers offline instead.
//!
//! Metrics: `llm_request_duration_seconds{service,provider,outcome}` (histogram) and
//! `llm_breaker_state{service,provider}` (gauge: 0 closed, 1 half-open, 2 open).

use super::{ChatModel, LlmError, Prompt, TextStream};
use crate::config::LlmConfig;
use futures_util::stream::{self, StreamExt};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The breaker's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// One trial call is allowed to find out whether the provider is back.
    HalfOpen,
    /// Calls are refused until the cool-down ends.
    Open,
}

impl BreakerState {
    fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug)]
enum Position {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_running: bool },
}

/// Opens after `threshold` consecutive failures; after `cooldown`, lets one trial call
/// through (half-open): success closes it, failure opens it again.
#[derive(Debug)]
pub struct Breaker {
    position: Position,
    threshold: u32,
    cooldown: Duration,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker { position: Position::Closed { failures: 0 }, threshold: threshold.max(1), cooldown }
    }

    /// The position as seen at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.position {
            Position::Closed { .. } => BreakerState::Closed,
            Position::Open { until } if now >= until => BreakerState::HalfOpen,
            Position::Open { .. } => BreakerState::Open,
            Position::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Whether a call may go out now.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.position {
            Position::Closed { .. } => true,
            Position::Open { until } if now >= until => {
                self.position = Position::HalfOpen { trial_running: true };
                true
            }
            Position::Open { .. } => false,
            Position::HalfOpen { trial_running: true } => false,
            Position::HalfOpen { trial_running: false } => {
                self.position = Position::HalfOpen { trial_running: true };
                true
            }
        }
    }

    /// A call succeeded.
    pub fn success(&mut self) {
        self.position = Position::Closed { failures: 0 };
    }

    /// A call failed.
    pub fn failure(&mut self, now: Instant) {
        self.position = match self.position {
            Position::Closed { failures } if failures + 1 < self.threshold => {
                Position::Closed { failures: failures + 1 }
            }
            _ => Position::Open { until: now + self.cooldown },
        };
    }

    /// A call was allowed but never made a verdict (a cached answer, a dropped stream).
    pub fn abandon(&mut self) {
        if let Position::HalfOpen { .. } = self.position {
            self.position = Position::HalfOpen { trial_running: false };
        }
    }
}

/// `capacity` tokens, refilled continuously at `capacity` per minute.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket allowing `per_minute` calls a minute.
    pub fn new(per_minute: u32, now: Instant) -> TokenBucket {
        let capacity = f64::from(per_minute.max(1));
        TokenBucket { tokens: capacity, capacity, per_second: capacity / 60.0, last: now }
    }

    /// Takes a token if one is there.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Cache {
    entries: HashMap<[u8; 32], (String, Instant)>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
    ttl: Duration,
}

impl Cache {
    fn get(&mut self, key: &[u8; 32], now: Instant) -> Option<String> {
        match self.entries.get(key) {
            Some((text, at)) if now.saturating_duration_since(*at) < self.ttl => Some(text.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&mut self, key: [u8; 32], text: String, now: Instant) {
        if self.capacity == 0 || self.ttl.is_zero() {
            return;
        }
        if self.entries.insert(key, (text, now)).is_none() {
            self.order.push_back(key);
        }
        while self.entries.len() > self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        // Keys of entries that expired and were removed linger in `order`; drop them when
        // they pile up so the queue stays bounded.
        if self.order.len() > self.capacity * 2 {
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
    }
}

/// A model behind the guards.
pub struct Guarded {
    model: Arc<dyn ChatModel>,
    timeout: Duration,
    breaker: Mutex<Breaker>,
    bucket: Mutex<TokenBucket>,
    cache: Mutex<Cache>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn cache_key(provider: &str, prompt: &Prompt) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(provider.as_bytes());
    hasher.update(serde_json::to_vec(prompt).unwrap_or_default());
    hasher.finalize().into()
}

fn outcome(result: &Result<String, LlmError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(LlmError::Timeout(_)) => "timeout",
        Err(_) => "error",
    }
}

impl Guarded {
    /// Guards `model` with the limits in `config`.
    pub fn new(model: Arc<dyn ChatModel>, config: &LlmConfig) -> Arc<Guarded> {
        let now = Instant::now();
        let guarded = Guarded {
            model,
            timeout: config.timeout,
            breaker: Mutex::new(Breaker::new(config.breaker_failures, config.breaker_cooldown)),
            bucket: Mutex::new(TokenBucket::new(config.rate_per_minute, now)),
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                order: VecDeque::new(),
                capacity: config.cache_entries,
                ttl: config.cache_ttl,
            }),
        };
        guarded.publish_state();
        Arc::new(guarded)
    }

    /// The provider's name.
    pub fn provider(&self) -> &'static str {
        self.model.provider()
    }

    /// The breaker's position now.
    pub fn breaker_state(&self) -> BreakerState {
        lock(&self.breaker).state(Instant::now())
    }

    fn publish_state(&self) {
        let state = self.breaker_state();
        metrics::gauge!("llm_breaker_state", "service" => "ai", "provider" => self.provider()).set(state.gauge());
    }

    /// Cached answer, or permission to call (breaker and throttle).
    fn admit(&self, key: &[u8; 32]) -> Result<Option<String>, LlmError> {
        let now = Instant::now();
        if let Some(text) = lock(&self.cache).get(key, now) {
            return Ok(Some(text));
        }
        if !lock(&self.breaker).allow(now) {
            return Err(LlmError::CircuitOpen);
        }
        if !lock(&self.bucket).try_take(now) {
            lock(&self.breaker).abandon();
            return Err(LlmError::Throttled);
        }
        self.publish_state();
        Ok(None)
    }

    fn record(&self, key: [u8; 32], result: &Result<String, LlmError>, started: Instant) {
        let elapsed = started.elapsed();
        metrics::histogram!("llm_request_duration_seconds", "service" => "ai", "provider" => self.provider(), "outcome" => outcome(result))
            .record(elapsed.as_secs_f64());
        match result {
            Ok(text) => {
                lock(&self.breaker).success();
                lock(&self.cache).put(key, text.clone(), Instant::now());
            }
            Err(err) => {
                tracing::warn!(provider = self.provider(), error = %err, "language model call failed");
                lock(&self.breaker).failure(Instant::now());
            }
        }
        self.publish_state();
    }

    /// The whole answer, within the deadline.
    pub async fn complete(&self, prompt: &Prompt) -> Result<String, LlmError> {
        let key = cache_key(self.provider(), prompt);
        if let Some(text) = self.admit(&key)? {
            return Ok(text);
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, self.model.complete(prompt)).await {
            Ok(result) => result,
            Err(_) => Err(LlmError::Timeout(self.timeout)),
        };
        self.record(key, &result, started);
        result
    }

    /// The answer in chunks: the first within the deadline, each next one within the
    /// deadline of the previous. The breaker and the cache learn the outcome when the
    /// stream ends (a stream dropped early teaches nothing).
    pub async fn stream(self: &Arc<Self>, prompt: &Prompt) -> Result<TextStream, LlmError> {
        let key = cache_key(self.provider(), prompt);
        if let Some(text) = self.admit(&key)? {
            return Ok(stream::once(async move { Ok(text) }).boxed());
        }
        let started = Instant::now();
        let inner = match tokio::time::timeout(self.timeout, self.model.stream(prompt)).await {
            Ok(Ok(inner)) => inner,
            Ok(Err(err)) => {
                let result = Err(err.clone());
                self.record(key, &result, started);
                return Err(err);
            }
            Err(_) => {
                let err = LlmError::Timeout(self.timeout);
                self.record(key, &Err(err.clone()), started);
                return Err(err);
            }
        };
        struct Watch {
            guard: Arc<Guarded>,
            inner: TextStream,
            text: String,
            key: [u8; 32],
            started: Instant,
            finished: bool,
        }
        impl Drop for Watch {
            fn drop(&mut self) {
                if !self.finished {
                    lock(&self.guard.breaker).abandon();
                }
            }
        }
        let watch = Watch { guard: self.clone(), inner, text: String::new(), key, started, finished: false };
        Ok(stream::unfold(watch, |mut watch| async move {
            if watch.finished {
                return None;
            }
            let timeout = watch.guard.timeout;
            let next = match tokio::time::timeout(timeout, watch.inner.next()).await {
                Ok(next) => next,
                Err(_) => Some(Err(LlmError::Timeout(timeout))),
            };
            match next {
                Some(Ok(chunk)) => {
                    watch.text.push_str(&chunk);
                    Some((Ok(chunk), watch))
                }
                Some(Err(err)) => {
                    watch.finished = true;
                    watch.guard.record(watch.key, &Err(err.clone()), watch.started);
                    Some((Err(err), watch))
                }
                None => {
                    watch.finished = true;
                    let text = std::mem::take(&mut watch.text);
                    watch.guard.record(watch.key, &Ok(text), watch.started);
                    None
                }
            }
        })
        .boxed())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let start = Instant::now();
        let mut breaker = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(breaker.allow(start));
            breaker.failure(start);
        }
        assert_eq!(breaker.state(start), BreakerState::Closed);
        breaker.failure(start);
        assert_eq!(breaker.state(start), BreakerState::Open);
        assert!(!breaker.allow(start + Duration::from_secs(9)));
        let later = start + Duration::from_secs(10);
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert!(breaker.allow(later), "one trial call");
        assert!(!breaker.allow(later), "only one");
        breaker.failure(later);
        assert_eq!(breaker.state(later), BreakerState::Open);
        let again = later + Duration::from_secs(10);
        assert!(breaker.allow(again));
        breaker.success();
        assert_eq!(breaker.state(again), BreakerState::Closed);
    }

    #[test]
    fn bucket_refills_over_time() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(2, start);
        assert!(bucket.try_take(start));
        assert!(bucket.try_take(start));
        assert!(!bucket.try_take(start));
        assert!(bucket.try_take(start + Duration::from_secs(30)), "one token back after half a minute");
    }
}
