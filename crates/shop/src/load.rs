//! `shop load`: drives a realistic mix of shoppers through a running platform's gateway and
//! reports throughput, errors and latency percentiles per operation.
//!
//! Every worker is a signed-in shopper (tokens from the identity provider's password grant,
//! as a browser's would be, or given) who browses pages, searches, views products, places
//! orders of one or two items, reads their own orders and, when asked, the assistant's
//! suggestions. The catalog is discovered from the gateway first, so it runs against `shop
//! up` and against any deployment alike. With a rate, requests are paced over the whole run
//! (an open model up to the workers' capacity); without one, each worker sends as fast as
//! answers come back (a closed model).

use base64::Engine;
use hdrhistogram::Histogram;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A load run's failure before or instead of its figures.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The gateway could not be reached or answered something unusable.
    #[error("{0}")]
    Setup(String),
    /// A flag's value is not valid.
    #[error("{0}")]
    Invalid(String),
}

/// One kind of request a shopper makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `GET /api/products?page=…` (sometimes a category).
    Browse,
    /// `GET /api/products/search?q=…`.
    Search,
    /// `GET /api/products/{id}`.
    View,
    /// `POST /api/orders` with one or two items.
    Order,
    /// `GET /api/orders/me`.
    MyOrders,
    /// `POST /api/ai/suggest`.
    Suggest,
}

impl Operation {
    /// Every operation, in summary order.
    pub const ALL: [Operation; 6] = [
        Operation::Browse,
        Operation::Search,
        Operation::View,
        Operation::Order,
        Operation::MyOrders,
        Operation::Suggest,
    ];

    /// The name used in `--mix` and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Browse => "browse",
            Operation::Search => "search",
            Operation::View => "view",
            Operation::Order => "order",
            Operation::MyOrders => "my-orders",
            Operation::Suggest => "suggest",
        }
    }
}

/// How often each operation is picked (relative weights).
#[derive(Debug, Clone, PartialEq)]
pub struct Mix(Vec<(Operation, u32)>);

impl Default for Mix {
    /// A shop's usual shape: mostly reading, one request in six an order, no AI.
    fn default() -> Self {
        Mix(vec![
            (Operation::Browse, 30),
            (Operation::Search, 15),
            (Operation::View, 30),
            (Operation::Order, 15),
            (Operation::MyOrders, 10),
        ])
    }
}

impl FromStr for Mix {
    type Err = LoadError;

    /// `browse=30,search=15,view=30,order=15,my-orders=10,suggest=5`; operations left out
    /// are not run.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut weights = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| LoadError::Invalid(format!("--mix: expected name=weight, got {part:?}")))?;
            let operation = Operation::ALL.into_iter().find(|o| o.name() == name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
                LoadError::Invalid(format!("--mix: unknown operation {name:?} (one of {})", names.join(", ")))
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| LoadError::Invalid(format!("--mix: {name}'s weight must be a whole number")))?;
            if weight > 0 {
                weights.push((operation, weight));
            }
        }
        if weights.is_empty() {
            return Err(LoadError::Invalid("--mix: give at least one operation a weight above 0".into()));
        }
        Ok(Mix(weights))
    }
}

impl Mix {
    fn pick(&self, roll: u32) -> Operation {
        let total: u32 = self.0.iter().map(|(_, w)| w).sum();
        let mut roll = roll % total.max(1);
        for (operation, weight) in &self.0 {
            if roll < *weight {
                return *operation;
            }
            roll -= weight;
        }
        self.0[0].0
    }
}

/// Where shoppers' tokens come from.
#[derive(Debug, Clone)]
pub enum Tokens {
    /// No token: only the public reads work (orders answer 401).
    Anonymous,
    /// These tokens, shared round-robin by the workers.
    Given(Vec<String>),
    /// The OAuth 2 password grant at `token_url` (Keycloak's or `shop up`'s identity
    /// provider), once per `username:password`.
    Password { token_url: String, client_id: String, users: Vec<(String, String)> },
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The gateway, e.g. `http://127.0.0.1:9000`.
    pub url: String,
    /// Shoppers sending at once.
    pub concurrency: usize,
    /// Requests per second over all workers; `None`: as fast as answers come.
    pub rate: Option<f64>,
    /// How long to run.
    pub duration: Duration,
    /// The operations and their weights.
    pub mix: Mix,
    /// The shoppers' tokens.
    pub tokens: Tokens,
    /// Print a progress line every second (standard error).
    pub progress: bool,
    /// Seed of the random choices (products, pages, queries), for repeatable runs.
    pub seed: u64,
}

/// One operation's figures.
#[derive(Debug, Clone)]
pub struct OperationReport {
    /// Which operation.
    pub operation: Operation,
    /// Answers received (any status).
    pub requests: u64,
    /// Answers that were neither a success nor an expected refusal, by status ("network"
    /// for no answer).
    pub errors: BTreeMap<String, u64>,
    /// Orders refused for stock (409): expected once stock runs out, not an error.
    pub refused: u64,
    /// Latency percentiles (p50, p90, p99, max) in milliseconds.
    pub latency_ms: [f64; 4],
}

/// A run's figures.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// How long requests were sent.
    pub elapsed: Duration,
    /// Per operation, in [`Operation`] order.
    pub operations: Vec<OperationReport>,
}

impl LoadReport {
    /// Every answer of every operation.
    pub fn requests(&self) -> u64 {
        self.operations.iter().map(|o| o.requests).sum()
    }

    /// Every error of every operation.
    pub fn errors(&self) -> u64 {
        self.operations.iter().flat_map(|o| o.errors.values()).sum()
    }

    /// One operation's figures.
    pub fn operation(&self, operation: Operation) -> Option<&OperationReport> {
        self.operations.iter().find(|o| o.operation == operation)
    }

    /// Orders accepted per second.
    pub fn orders_per_second(&self) -> f64 {
        self.operation(Operation::Order)
            .map(|o| (o.requests - o.refused - o.errors.values().sum::<u64>()) as f64 / self.elapsed.as_secs_f64())
            .unwrap_or(0.0)
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(f64::EPSILON);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "operation", "requests", "req/s", "errors", "refused", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for o in &self.operations {
            let errors: u64 = o.errors.values().sum();
            let _ = writeln!(
                out,
                "{:<10} {:>9} {:>9.1} {:>8} {:>8} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                o.operation.name(),
                o.requests,
                o.requests as f64 / secs,
                errors,
                o.refused,
                o.latency_ms[0],
                o.latency_ms[1],
                o.latency_ms[2],
                o.latency_ms[3]
            );
        }
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>9.1} {:>8}\norders accepted: {:.1}/s over {:.1} s",
            "total",
            self.requests(),
            self.requests() as f64 / secs,
            self.errors(),
            self.orders_per_second(),
            secs
        );
        for o in self.operations.iter().filter(|o| !o.errors.is_empty()) {
            let detail: Vec<String> = o.errors.iter().map(|(status, n)| format!("{status}: {n}")).collect();
            let _ = writeln!(out, "errors of {}: {}", o.operation.name(), detail.join(", "));
        }
        out
    }
}

/// A product the shoppers know about.
#[derive(Debug, Clone)]
struct Product {
    id: String,
    category: String,
    words: Vec<String>,
}

/// A signed-in shopper.
#[derive(Debug, Clone)]
struct Shopper {
    token: Option<String>,
    email: String,
    name: String,
}

/// Per-worker figures, merged at the end (no shared lock on the hot path).
struct Tally {
    latency: BTreeMap<Operation, Histogram<u64>>,
    requests: BTreeMap<Operation, u64>,
    errors: BTreeMap<Operation, BTreeMap<String, u64>>,
    refused: BTreeMap<Operation, u64>,
}

impl Tally {
    fn new() -> Self {
        Tally { latency: BTreeMap::new(), requests: BTreeMap::new(), errors: BTreeMap::new(), refused: BTreeMap::new() }
    }

    fn merge(&mut self, other: Tally) {
        for (op, histogram) in other.latency {
            match self.latency.get_mut(&op) {
                Some(mine) => {
                    let _ = mine.add(&histogram);
                }
                None => {
                    self.latency.insert(op, histogram);
                }
            }
        }
        for (op, n) in other.requests {
            *self.requests.entry(op).or_default() += n;
        }
        for (op, errors) in other.errors {
            let mine = self.errors.entry(op).or_default();
            for (status, n) in errors {
                *mine.entry(status).or_default() += n;
            }
        }
        for (op, n) in other.refused {
            *self.refused.entry(op).or_default() += n;
        }
    }
}

/// Live counters for the progress line.
#[derive(Default)]
struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
    orders: AtomicU64,
}

/// Runs the load and returns its figures.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    if config.concurrency == 0 {
        return Err(LoadError::Invalid("--concurrency must be at least 1".into()));
    }
    if config.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(LoadError::Invalid("--rate must be a positive number of requests per second".into()));
    }
    let client = Client::builder()
        .pool_max_idle_per_host(config.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| LoadError::Setup(format!("HTTP client: {e}")))?;
    let base = config.url.trim_end_matches('/').to_owned();
    let shoppers = sign_in(&client, &config.tokens).await?;
    let catalog = discover(&client, &base).await?;
    if catalog.is_empty() {
        return Err(LoadError::Setup(format!("{base}/api/products lists no products: nothing to load")));
    }
    let catalog = Arc::new(catalog);
    let live = Arc::new(Live::default());
    let next_slot = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + config.duration;
    let progress = config.progress.then(|| tokio::spawn(report_progress(live.clone(), started, deadline)));

    let mut workers = Vec::with_capacity(config.concurrency);
    for worker in 0..config.concurrency {
        let shopper = shoppers[worker % shoppers.len()].clone();
        let context = Worker {
            client: client.clone(),
            base: base.clone(),
            mix: config.mix.clone(),
            catalog: catalog.clone(),
            shopper,
            live: live.clone(),
            rng: fastrand::Rng::with_seed(config.seed.wrapping_add(worker as u64)),
            pacing: config.rate.map(|rate| (next_slot.clone(), Duration::from_secs_f64(1.0 / rate), started)),
            deadline,
        };
        workers.push(tokio::spawn(context.run()));
    }
    let mut tally = Tally::new();
    for worker in workers {
        match worker.await {
            Ok(t) => tally.merge(t),
            Err(e) => return Err(LoadError::Setup(format!("a worker failed: {e}"))),
        }
    }
    let elapsed = started.elapsed().min(config.duration.max(Duration::from_millis(1)));
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    let operations = Operation::ALL
        .into_iter()
        .filter(|op| tally.requests.contains_key(op))
        .map(|op| {
            let latency = tally.latency.get(&op);
            let at = |q: f64| latency.map(|h| h.value_at_quantile(q) as f64 / 1000.0).unwrap_or(0.0);
            OperationReport {
                operation: op,
                requests: tally.requests.get(&op).copied().unwrap_or(0),
                errors: tally.errors.remove(&op).unwrap_or_default(),
                refused: tally.refused.get(&op).copied().unwrap_or(0),
                latency_ms: [at(0.5), at(0.9), at(0.99), latency.map(|h| h.max() as f64 / 1000.0).unwrap_or(0.0)],
            }
        })
        .collect();
    Ok(LoadReport { elapsed, operations })
}

async fn report_progress(live: Arc<Live>, started: Instant, deadline: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = 0;
    loop {
        tick.tick().await;
        let requests = live.requests.load(Ordering::Relaxed);
        let line = format!(
            "{:>4.0}s of {:.0}s  {:>9} requests  {:>7} req/s  {:>7} orders  {:>5} errors",
            started.elapsed().as_secs_f64(),
            (deadline - started).as_secs_f64(),
            requests,
            requests - last,
            live.orders.load(Ordering::Relaxed),
            live.errors.load(Ordering::Relaxed),
        );
        last = requests;
        if terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

struct Worker {
    client: Client,
    base: String,
    mix: Mix,
    catalog: Arc<Vec<Product>>,
    shopper: Shopper,
    live: Arc<Live>,
    rng: fastrand::Rng,
    /// The shared schedule: (next slot, interval, start).
    pacing: Option<(Arc<AtomicU64>, Duration, Instant)>,
    deadline: Instant,
}

/// Outcome of one request.
enum Outcome {
    Ok,
    Refused,
    Error(String),
}

impl Worker {
    async fn run(mut self) -> Tally {
        let mut tally = Tally::new();
        let mut latency: BTreeMap<Operation, Histogram<u64>> = BTreeMap::new();
        loop {
            if let Some((slot, interval, start)) = &self.pacing {
                let n = slot.fetch_add(1, Ordering::Relaxed);
                let at = *start + interval.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
                if at >= self.deadline {
                    break;
                }
                tokio::time::sleep_until(at.into()).await;
            } else if Instant::now() >= self.deadline {
                break;
            }
            let operation = self.mix.pick(self.rng.u32(..));
            let sent = Instant::now();
            let outcome = self.send(operation).await;
            let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            if !latency.contains_key(&operation)
                && let Some(h) = new_histogram()
            {
                latency.insert(operation, h);
            }
            if let Some(h) = latency.get_mut(&operation) {
                let _ = h.record(micros.clamp(1, MAX_LATENCY_MICROS));
            }
            *tally.requests.entry(operation).or_default() += 1;
            self.live.requests.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Outcome::Ok => {
                    if operation == Operation::Order {
                        self.live.orders.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Outcome::Refused => *tally.refused.entry(operation).or_default() += 1,
                Outcome::Error(status) => {
                    self.live.errors.fetch_add(1, Ordering::Relaxed);
                    *tally.errors.entry(operation).or_default().entry(status).or_default() += 1;
                }
            }
        }
        tally.latency = latency;
        tally
    }

    fn product(&mut self) -> &Product {
        &self.catalog[self.rng.usize(..self.catalog.len())]
    }

    async fn send(&mut self, operation: Operation) -> Outcome {
        let request = match operation {
            Operation::Browse => {
                let page = self.rng.u32(1..=5);
                let url = if self.rng.bool() {
                    let category = self.product().category.clone();
                    format!("{}/api/products?page=1&page_size=20&category={}", self.base, encode(&category))
                } else {
                    format!("{}/api/products?page={page}&page_size=20", self.base)
                };
                self.client.get(url)
            }
            Operation::Search => {
                let query = self.query();
                self.client.get(format!("{}/api/products/search?q={}", self.base, encode(&query)))
            }
            Operation::View => {
                let id = self.product().id.clone();
                self.client.get(format!("{}/api/products/{}", self.base, encode(&id)))
            }
            Operation::Order => {
                let lines = self.rng.usize(1..=2);
                let mut items: Vec<Value> = Vec::with_capacity(lines);
                for _ in 0..lines {
                    let id = self.product().id.clone();
                    if !items.iter().any(|i| i["product_id"] == id.as_str()) {
                        items.push(json!({"product_id": id, "quantity": 1}));
                    }
                }
                let body = json!({
                    "customer_name": self.shopper.name,
                    "customer_email": self.shopper.email,
                    "items": items,
                });
                self.client.post(format!("{}/api/orders", self.base)).json(&body)
            }
            Operation::MyOrders => self.client.get(format!("{}/api/orders/me?page=1&page_size=10", self.base)),
            Operation::Suggest => {
                let query = format!("{} under $200", self.query());
                self.client.post(format!("{}/api/ai/suggest", self.base)).json(&json!({"query": query}))
            }
        };
        let request = match &self.shopper.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                // Read the whole body: a real client would, and the connection is reused.
                let _ = response.bytes().await;
                if status.is_success() {
                    Outcome::Ok
                } else if operation == Operation::Order && status == StatusCode::CONFLICT {
                    Outcome::Refused
                } else {
                    Outcome::Error(status.as_u16().to_string())
                }
            }
            Err(e) if e.is_timeout() => Outcome::Error("timeout".into()),
            Err(_) => Outcome::Error("network".into()),
        }
    }

    /// A word or two from a product's name or category.
    fn query(&mut self) -> String {
        let product = self.product().clone();
        match product.words.len() {
            0 => product.category,
            n => product.words[self.rng.usize(..n)].clone(),
        }
    }
}

/// The slowest latency recorded as itself (the client's timeout is 30 s).
const MAX_LATENCY_MICROS: u64 = 60_000_000;

fn new_histogram() -> Option<Histogram<u64>> {
    // 1 µs to 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3).ok()
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The shoppers: one per token.
async fn sign_in(client: &Client, tokens: &Tokens) -> Result<Vec<Shopper>, LoadError> {
    let anonymous = || Shopper { token: None, email: "load@example.com".into(), name: "Load Test".into() };
    match tokens {
        Tokens::Anonymous => Ok(vec![anonymous()]),
        Tokens::Given(tokens) if tokens.is_empty() => Ok(vec![anonymous()]),
        Tokens::Given(tokens) => Ok(tokens.iter().map(|t| shopper(t.clone())).collect()),
        Tokens::Password { token_url, client_id, users } => {
            let mut shoppers = Vec::with_capacity(users.len());
            for (username, password) in users {
                let form = [
                    ("grant_type", "password"),
                    ("client_id", client_id.as_str()),
                    ("username", username.as_str()),
                    ("password", password.as_str()),
                ];
                let response = client.post(token_url).form(&form).send().await.map_err(|e| {
                    LoadError::Setup(format!(
                        "signing in {username} at {token_url}: {e} (is the identity provider up?)"
                    ))
                })?;
                let status = response.status();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let Some(token) = body["access_token"].as_str() else {
                    return Err(LoadError::Setup(format!("signing in {username} at {token_url}: {status} {body}")));
                };
                shoppers.push(shopper(token.to_owned()));
            }
            if shoppers.is_empty() {
                return Err(LoadError::Invalid("--user: give at least one username:password".into()));
            }
            Ok(shoppers)
        }
    }
}

/// A shopper named by their token's `email` (orders are placed for the signed-in customer).
fn shopper(token: String) -> Shopper {
    let claims: Value = token
        .split('.')
        .nth(1)
        .and_then(|payload| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    let email = claims["email"].as_str().unwrap_or("load@example.com").to_owned();
    let name = claims["name"].as_str().or(claims["preferred_username"].as_str()).unwrap_or("Load Test").to_owned();
    Shopper { token: Some(token), email, name }
}

/// Every product the gateway lists (up to 2,000), with words to search for.
async fn discover(client: &Client, base: &str) -> Result<Vec<Product>, LoadError> {
    let mut products = Vec::new();
    for page in 1..=20 {
        let url = format!("{base}/api/products?page={page}&page_size=100&include_stock=false");
        let response =
            client.get(&url).send().await.map_err(|e| LoadError::Setup(format!("listing products at {url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(LoadError::Setup(format!("listing products at {url}: {status}")));
        }
        let body: Value =
            response.json().await.map_err(|e| LoadError::Setup(format!("listing products at {url}: {e}")))?;
        let listed = body["products"].as_array().or(body.as_array()).cloned().unwrap_or_default();
        let count = listed.len();
        for item in listed {
            let Some(id) = item["id"].as_str() else { continue };
            let name = item["name"].as_str().unwrap_or_default();
            let words = name
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.chars().count() >= 4)
                .map(str::to_lowercase)
                .collect();
            products.push(Product {
                id: id.to_owned(),
                category: item["category"].as_str().unwrap_or_default().to_owned(),
                words,
            });
        }
        if count < 100 {
            break;
        }
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mix_is_read_from_its_flag() {
        let mix: Mix = "browse=3, order=1,suggest=0".parse().expect("valid");
        assert_eq!(mix, Mix(vec![(Operation::Browse, 3), (Operation::Order, 1)]));
        assert_eq!(
            (0..4).map(|roll| mix.pick(roll)).collect::<Vec<_>>(),
            [Operation::Browse, Operation::Browse, Operation::Browse, Operation::Order]
        );
        for bad in ["", "browse", "fly=1", "browse=x", "browse=0"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_shopper_is_named_by_the_token() {
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"email":"alice@example.com","name":"Alice Example"}"#);
        let shopper = shopper(format!("h.{claims}.s"));
        assert_eq!((shopper.email.as_str(), shopper.name.as_str()), ("alice@example.com", "Alice Example"));
        assert_eq!(super::shopper("not a token".into()).email, "load@example.com");
    }
}
