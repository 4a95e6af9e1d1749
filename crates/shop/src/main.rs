//! `shop`: the whole platform in one binary.
//!
//! - `shop up`: every service in one process on embedded defaults (SQLite, the embedded event
//!   log, the demo catalog). Nothing else to install.
//! - `shop serve <service>`: one service per process on PostgreSQL, for deployments.
//! - `shop migrate`, `shop seed`: operator tasks against `DATABASE_URL`.
//! - `shop token`, `shop load`: a token of `shop up`'s identity provider; a load generator.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use kit::bus::EventBus;
use kit::bus::kafka::{KafkaBus, KafkaConfig};
use kit::bus::log::EventLog;
use kit::config;
use kit::db::DbOptions;
use kit::telemetry::LogFormat;
use shop::platform::{self, Overrides, PlatformConfig, Ports, Stores};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "shop", version, about = "Event-driven e-commerce platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service in one process on embedded stores (SQLite, embedded event log).
    Up {
        /// Where the SQLite files live.
        #[arg(long, env = "SHOP_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// Listen address of every service.
        #[arg(long, env = "SHOP_HOST", default_value = "127.0.0.1")]
        host: String,
        /// Do not load the demo catalog into an empty store.
        #[arg(long)]
        no_demo: bool,
    },
    /// Run one service in this process, on PostgreSQL (`DATABASE_URL`).
    Serve {
        /// Which service.
        service: Service,
    },
    /// Apply every service's migrations to `DATABASE_URL` and exit.
    Migrate,
    /// Load the demo catalog into empty stores at `DATABASE_URL` and exit.
    Seed,
    /// Print an access token of `shop up`'s development identity provider (last line of the
    /// output), for curl and load tests.
    Token {
        /// Whom the token is for.
        #[arg(long, default_value = "alice@example.com")]
        email: String,
        /// Its role (repeat for several).
        #[arg(long = "role", value_enum, default_values_t = [TokenRole::User])]
        roles: Vec<TokenRole>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        lifetime: u64,
        /// Where `shop up` keeps its data (the signing key is under `identity/`).
        #[arg(long, env = "SHOP_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The address `shop up` listens on (part of the issuer's name).
        #[arg(long, env = "SHOP_HOST", default_value = "127.0.0.1")]
        host: String,
    },
    /// Drive a realistic mix of signed-in shoppers through a gateway (browse, search, view,
    /// order, my orders; AI on request) and print throughput, errors and latency per operation.
    Load(LoadArgs),
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    url: String,
    /// Shoppers sending at once.
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Requests per second over all shoppers (default: as fast as answers come back).
    #[arg(long)]
    rate: Option<f64>,
    /// How long: seconds, or with a unit (`90s`, `5m`).
    #[arg(long, short = 'd', default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Operations and their weights; left out means not run.
    #[arg(long, default_value = "browse=30,search=15,view=30,order=15,my-orders=10")]
    mix: shop::load::Mix,
    /// Sign in these users with the password grant (`username:password`, repeatable).
    #[arg(long = "user", default_values_t = ["alice:alice".to_owned(), "bob:bob".to_owned()])]
    users: Vec<String>,
    /// The identity provider's token endpoint (default: `shop up`'s, on IDENTITY_PORT).
    #[arg(long)]
    token_url: Option<String>,
    /// The OAuth client the users sign in through.
    #[arg(long, default_value = "api-gateway")]
    client_id: String,
    /// Use these tokens instead of signing in (repeatable).
    #[arg(long = "token")]
    tokens: Vec<String>,
    /// Send no token (public reads only; orders answer 401).
    #[arg(long, conflicts_with_all = ["tokens"])]
    anonymous: bool,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No progress line.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Exit with failure when more than this share of requests fail (0.01 = 1%).
    #[arg(long, default_value_t = 0.01)]
    max_error_rate: f64,
}

/// `30`, `30s`, `500ms`, `5m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let value: f64 = number.trim().parse().map_err(|_| format!("not a duration: {text:?} (e.g. 30s, 5m)"))?;
    let secs = match unit {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("not a duration: {text:?}"))
}

async fn load(args: LoadArgs) -> anyhow::Result<()> {
    use shop::load::{LoadConfig, Tokens};
    let tokens = if args.anonymous {
        Tokens::Anonymous
    } else if !args.tokens.is_empty() {
        Tokens::Given(args.tokens)
    } else {
        let token_url = match args.token_url {
            Some(url) => url,
            None => {
                let port: u16 = config::parse_or("IDENTITY_PORT", Ports::DEFAULT.identity)?;
                format!("{}/protocol/openid-connect/token", identity::issuer_url("127.0.0.1", port))
            }
        };
        let users = args
            .users
            .iter()
            .map(|u| u.split_once(':').map(|(n, p)| (n.to_owned(), p.to_owned())))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| anyhow::anyhow!("--user: expected username:password"))?;
        Tokens::Password { token_url, client_id: args.client_id, users }
    };
    let config = LoadConfig {
        url: args.url,
        concurrency: args.concurrency,
        rate: args.rate,
        duration: args.duration,
        mix: args.mix,
        tokens,
        progress: !args.quiet,
        seed: args.seed,
    };
    eprintln!(
        "shop load: {} shoppers against {} for {:.0} s{}",
        config.concurrency,
        config.url,
        config.duration.as_secs_f64(),
        config.rate.map(|r| format!(" at {r} requests/s")).unwrap_or_default()
    );
    let report = shop::load::run(config).await?;
    print!("{}", report.table());
    let requests = report.requests().max(1);
    let error_rate = report.errors() as f64 / requests as f64;
    if error_rate > args.max_error_rate {
        anyhow::bail!(
            "{:.2}% of requests failed (more than --max-error-rate {})",
            error_rate * 100.0,
            args.max_error_rate
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TokenRole {
    User,
    Admin,
    Service,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Service {
    Gateway,
    Product,
    Order,
    Inventory,
    Notification,
    Ai,
}

fn token(
    email: &str,
    roles: &[TokenRole],
    lifetime: u64,
    data_dir: &std::path::Path,
    host: &str,
) -> anyhow::Result<()> {
    let port: u16 = config::parse_or("IDENTITY_PORT", Ports::DEFAULT.identity)?;
    let key = identity::SigningKey::load_or_create(&data_dir.join("identity").join("signing-key.der"))?;
    let issuer = identity::Issuer::new(identity::issuer_url(host, port), kit::auth::DEFAULT_AUDIENCE, key);
    let names: Vec<&str> = roles
        .iter()
        .map(|r| match r {
            TokenRole::User => "user",
            TokenRole::Admin => "admin",
            TokenRole::Service => "service",
        })
        .collect();
    let subject = if names == ["service"] {
        identity::Subject::service("shop-cli")
    } else {
        identity::Subject::person(email, &names, "shop-cli")
    };
    eprintln!("issuer {}; roles {}; valid {lifetime} s", issuer.url, names.join(", "));
    println!("{}", issuer.mint(&subject, lifetime)?);
    Ok(())
}

fn log_format(default: LogFormat) -> anyhow::Result<LogFormat> {
    match config::optional("LOG_FORMAT").as_deref() {
        None => Ok(default),
        Some("json") => Ok(LogFormat::Json),
        Some("pretty") | Some("text") => Ok(LogFormat::Pretty),
        Some(other) => anyhow::bail!("LOG_FORMAT: expected json or pretty, got {other:?}"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Up { data_dir, host, no_demo } => up(data_dir, host, !no_demo).await,
        Command::Serve { service } => serve(service).await,
        Command::Migrate => migrate().await,
        Command::Seed => seed().await,
        Command::Token { email, roles, lifetime, data_dir, host } => token(&email, &roles, lifetime, &data_dir, &host),
        Command::Load(args) => load(args).await,
    };
    kit::telemetry::flush();
    outcome
}

async fn up(data_dir: PathBuf, host: String, seed_demo: bool) -> anyhow::Result<()> {
    kit::telemetry::init(log_format(LogFormat::Pretty)?);
    let started = std::time::Instant::now();
    let config = PlatformConfig {
        host,
        ports: Ports {
            gateway: config::parse_or("GATEWAY_PORT", Ports::DEFAULT.gateway)?,
            product: config::parse_or("PRODUCT_PORT", Ports::DEFAULT.product)?,
            order: config::parse_or("ORDER_PORT", Ports::DEFAULT.order)?,
            inventory: config::parse_or("INVENTORY_PORT", Ports::DEFAULT.inventory)?,
            notification: config::parse_or("NOTIFICATION_PORT", Ports::DEFAULT.notification)?,
            ai: config::parse_or("AI_PORT", Ports::DEFAULT.ai)?,
            identity: config::parse_or("IDENTITY_PORT", Ports::DEFAULT.identity)?,
        },
        stores: Stores::Sqlite(data_dir.clone()),
        pool_size: 1,
        seed_demo,
        kafka: kafka_config()?,
        mail: None,
        overrides: Overrides::default(),
    };
    let shutdown = kit::shutdown::on_signal();
    let running = platform::start(config, shutdown.clone()).await?;
    tracing::info!(
        gateway = %running.gateway_url(),
        data_dir = %data_dir.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shop is up: try curl {}/api/products",
        running.gateway_url()
    );
    running.wait().await.map_err(anyhow::Error::msg)
}

fn event_bus_options() -> anyhow::Result<DbOptions> {
    let url = match config::optional("EVENT_LOG_URL") {
        Some(url) => url,
        None => config::required("DATABASE_URL")?,
    };
    Ok(DbOptions { url, schema: "eventlog".into(), max_connections: config::parse_or("EVENT_LOG_MAX_CONNECTIONS", 8)? })
}

/// Kafka settings when `KAFKA_BROKERS` is set.
fn kafka_config() -> anyhow::Result<Option<KafkaConfig>> {
    let Some(brokers) = config::optional("KAFKA_BROKERS") else { return Ok(None) };
    Ok(Some(KafkaConfig {
        brokers,
        partitions: config::parse_or("KAFKA_PARTITIONS", 3)?,
        replication: config::parse_or("KAFKA_REPLICATION", 1)?,
        delivery_timeout: config::millis_or("KAFKA_DELIVERY_TIMEOUT_MS", Duration::from_secs(10))?,
        namespace: config::optional("KAFKA_NAMESPACE").unwrap_or_default(),
    }))
}

/// Kafka when `KAFKA_BROKERS` is set, else the embedded log in `EVENT_LOG_URL`.
async fn event_bus() -> anyhow::Result<Arc<dyn EventBus>> {
    if let Some(kafka) = kafka_config()? {
        let bus = KafkaBus::connect(kafka)?;
        bus.ensure_topics(&contracts::events::topics::ALL).await.context("creating Kafka topics")?;
        return Ok(Arc::new(bus));
    }
    let db = kit::db::connect(&event_bus_options()?, &kit::bus::log::MIGRATIONS).await.context("event log")?;
    Ok(Arc::new(EventLog::new(db)))
}

async fn serve(service: Service) -> anyhow::Result<()> {
    kit::telemetry::init(log_format(LogFormat::Json)?);
    let shutdown = kit::shutdown::on_signal();
    let served = match service {
        Service::Gateway => {
            let app = gateway::App::build(gateway::Config::from_env()?).await.context("gateway")?;
            tracing::info!(port = app.port(), "gateway listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Product => {
            let app = product::App::build(product::Config::from_env()?, event_bus().await?).await?;
            tracing::info!(port = app.port(), "product service listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Order => {
            let app = order::App::build(order::Config::from_env()?, event_bus().await?).await?;
            tracing::info!(port = app.port(), "order service listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Inventory => {
            let app = inventory::App::build(inventory::Config::from_env()?, event_bus().await?).await?;
            tracing::info!(port = app.port(), "inventory service listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Notification => {
            let app = notification::App::build(notification::Config::from_env()?, event_bus().await?).await?;
            tracing::info!(port = app.port(), "notification service listening");
            app.run_until_stopped(shutdown).await
        }
        Service::Ai => {
            let app = ai::App::build(ai::Config::from_env()?, event_bus().await?).await?;
            tracing::info!(port = app.port(), "AI service listening");
            app.run_until_stopped(shutdown).await
        }
    };
    served.context("serving")
}

fn database(schema: &str) -> anyhow::Result<DbOptions> {
    Ok(DbOptions { url: config::required("DATABASE_URL")?, schema: schema.into(), max_connections: 2 })
}

async fn migrate() -> anyhow::Result<()> {
    kit::telemetry::init(log_format(LogFormat::Pretty)?);
    kit::db::connect(&database("product")?, &product::app::MIGRATIONS).await?;
    kit::db::connect(&database("inventory")?, &inventory::app::MIGRATIONS).await?;
    kit::db::connect(&database("orders")?, &order::app::MIGRATIONS).await?;
    kit::db::connect(&database("notification")?, &notification::app::MIGRATIONS).await?;
    kit::db::connect(&database("ai")?, &ai::store::MIGRATIONS).await?;
    kit::db::connect(&event_bus_options()?, &kit::bus::log::MIGRATIONS).await?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn seed() -> anyhow::Result<()> {
    use inventory::store::InventoryStore;
    use product::store::{ListFilter, Page, ProductStore};
    kit::telemetry::init(log_format(LogFormat::Pretty)?);
    // Seeded products' events wait in the outbox until the product service's relay runs.
    let wake = Arc::new(tokio::sync::Notify::new());
    let products = product::store::SqlProductStore::new(
        kit::db::connect(&database("product")?, &product::app::MIGRATIONS).await?,
        wake.clone(),
    );
    let stock = inventory::store::SqlInventoryStore::new(
        kit::db::connect(&database("inventory")?, &inventory::app::MIGRATIONS).await?,
        wake,
    );
    let added_products = if products.list(&ListFilter::default(), Page { number: 1, size: 1 }).await?.1 == 0 {
        products.insert_missing(&shop::demo::products()).await?
    } else {
        0
    };
    let added_stock =
        if stock.list(1, 0).await?.1 == 0 { stock.insert_missing(&shop::demo::stock()).await? } else { 0 };
    tracing::info!(added_products, added_stock, "demo catalog seeded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
