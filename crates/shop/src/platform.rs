//! All services in one process, each on its own port, talking over real HTTP and one event
//! bus exactly as they would in separate processes. Used by `shop up` (SQLite files in a
//! data directory) and by the platform tests (SQLite or PostgreSQL).

use kit::bus::EventBus;
use kit::bus::kafka::{KafkaBus, KafkaConfig};
use kit::bus::log::EventLog;
use kit::db::DbOptions;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where the platform keeps its data.
#[derive(Debug, Clone)]
pub enum Stores {
    /// One SQLite file per service plus `events.db`, in this directory.
    Sqlite(PathBuf),
    /// One PostgreSQL database; a schema per service plus `eventlog`.
    Postgres(String),
}

impl Stores {
    fn options(&self, name: &str, pool_size: u32) -> DbOptions {
        let url = match self {
            Stores::Sqlite(dir) => format!("sqlite://{}", dir.join(format!("{name}.db")).display()),
            Stores::Postgres(url) => url.clone(),
        };
        DbOptions { url, schema: name.to_owned(), max_connections: pool_size }
    }
}

/// Ports of the HTTP services (0 picks free ones).
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// API gateway.
    pub gateway: u16,
    /// Product service.
    pub product: u16,
    /// Order service.
    pub order: u16,
    /// Inventory service.
    pub inventory: u16,
    /// Notification service.
    pub notification: u16,
    /// AI assistant.
    pub ai: u16,
    /// Development identity provider.
    pub identity: u16,
}

impl Ports {
    /// 9000, 8001, 8002, 8003, 8004, 8005, as the original.
    pub const DEFAULT: Ports = Ports {
        gateway: 9000,
        product: 8001,
        order: 8002,
        inventory: 8003,
        notification: 8004,
        ai: 8005,
        identity: 8080,
    };
    /// Free ports chosen by the OS.
    pub const ANY: Ports =
        Ports { gateway: 0, product: 0, order: 0, inventory: 0, notification: 0, ai: 0, identity: 0 };
}

/// How to run the platform. Every service's tunables (timeouts, TTLs, retry schedules,
/// senders) come from the environment through the same readers `shop serve` uses
/// (`Config::embedded` of each service); only where the services listen and store is the
/// platform's decision, plus the overrides tests need.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// Listen address of every service.
    pub host: String,
    /// Their ports.
    pub ports: Ports,
    /// Where data lives.
    pub stores: Stores,
    /// PostgreSQL pool size per service.
    pub pool_size: u32,
    /// Load the demo catalog into an empty store.
    pub seed_demo: bool,
    /// Kafka instead of the embedded event log.
    pub kafka: Option<KafkaConfig>,
    /// Where emails go (default: `.eml` files in `<data dir>/mail`, or the log on PostgreSQL).
    pub mail: Option<notification::Transport>,
    /// Settings that replace what the environment says (tests).
    pub overrides: Overrides,
}

/// Values that replace the environment's for one platform (tests run many platforms in one
/// process, where the environment cannot differ).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `RESERVATION_TTL_SECS`.
    pub reservation_ttl: Option<Duration>,
    /// `ADMIN_EMAIL`.
    pub admin_email: Option<String>,
    /// `EMAIL_RETRY_SCHEDULE`.
    pub email_retry_schedule: Option<Vec<Duration>>,
    /// `RATE_LIMIT_PER_MINUTE` and `AI_RATE_LIMIT_PER_MINUTE` (0: none).
    pub rate_limits: Option<(u32, u32)>,
    /// `AUTH_MODE`.
    pub auth_mode: Option<kit::auth::AuthMode>,
    /// `AI_FOLLOW_UP_EMAILS`.
    pub ai_follow_up_emails: Option<bool>,
}

/// Start-up failures, naming the service.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// A store could not be opened.
    #[error("{0}: {1}")]
    Database(&'static str, kit::db::DbError),
    /// A port could not be bound.
    #[error("{0}: cannot bind {1}: {2}")]
    Bind(&'static str, String, std::io::Error),
    /// A setting is unusable.
    #[error(transparent)]
    Config(#[from] kit::config::ConfigError),
    /// Something else failed at start-up.
    #[error("{0}: {1}")]
    Start(&'static str, String),
}

type ServiceTask = tokio::task::JoinHandle<std::io::Result<()>>;

/// A service running in the platform, with its own stop signal.
struct Running {
    name: &'static str,
    stop: CancellationToken,
    task: ServiceTask,
}

/// A running platform.
pub struct Platform {
    /// Bound ports.
    pub ports: Ports,
    /// The embedded event log (tests read topics from it; unused when Kafka carries events).
    pub events: EventLog,
    /// The development identity provider (mints tokens for tests and `shop token`).
    pub issuer: Arc<identity::Issuer>,
    supervisor: tokio::task::JoinHandle<Vec<String>>,
}

impl Platform {
    /// The gateway's base URL.
    pub fn gateway_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.gateway)
    }

    /// Waits until every service has stopped (after `shutdown` was cancelled, or a service
    /// failed).
    pub async fn wait(self) -> Result<(), String> {
        match self.supervisor.await {
            Ok(failures) if failures.is_empty() => Ok(()),
            Ok(failures) => Err(failures.join("; ")),
            Err(err) => Err(format!("supervisor: {err}")),
        }
    }
}

/// Stops the services in stages once `shutdown` is cancelled (or one of them ends by
/// itself): first the gateway, so no new request enters, and it drains; then the order
/// service, whose in-flight placements still need their peers; then everyone else. Stopping
/// all at once failed accepted orders with 503s from peers that were already gone.
async fn supervise(stages: Vec<Vec<Running>>, shutdown: CancellationToken) -> Vec<String> {
    let any_ended = async {
        loop {
            if stages.iter().flatten().any(|s| s.task.is_finished()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = any_ended => tracing::warn!("a service stopped by itself; stopping the platform"),
    }
    let mut failures = Vec::new();
    for stage in stages {
        for service in &stage {
            service.stop.cancel();
        }
        for service in stage {
            match service.task.await {
                Ok(Ok(())) => tracing::info!(service = service.name, "stopped"),
                Ok(Err(err)) => failures.push(format!("{}: {err}", service.name)),
                Err(err) => failures.push(format!("{}: {err}", service.name)),
            }
        }
    }
    failures
}

async fn bind(name: &'static str, host: &str, port: u16) -> Result<tokio::net::TcpListener, PlatformError> {
    kit::server::bind(host, port).await.map_err(|e| PlatformError::Bind(name, format!("{host}:{port}"), e))
}

fn local_url(listener: &tokio::net::TcpListener) -> String {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    format!("http://127.0.0.1:{port}")
}

fn spawn_service<F, Fut>(name: &'static str, run: F) -> Running
where
    F: FnOnce(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
{
    let stop = CancellationToken::new();
    Running { name, task: tokio::spawn(run(stop.clone())), stop }
}

/// Opens the stores, binds every port, seeds, and starts serving; returns once all are up.
pub async fn start(config: PlatformConfig, shutdown: CancellationToken) -> Result<Platform, PlatformError> {
    // Every service is in this process: calls between them skip the network (ADR 0017).
    kit::in_process::enable();
    if let Stores::Sqlite(dir) = &config.stores {
        std::fs::create_dir_all(dir)
            .map_err(|e| PlatformError::Start("data directory", format!("{}: {e}", dir.display())))?;
    }
    let log_db = kit::db::connect(&config.stores.options("events", config.pool_size), &kit::bus::log::MIGRATIONS)
        .await
        .map_err(|e| PlatformError::Database("event log", e))?;
    let events = EventLog::new(log_db);
    let bus: Arc<dyn EventBus> = match &config.kafka {
        None => Arc::new(events.clone()),
        Some(kafka) => {
            let bus = KafkaBus::connect(kafka.clone()).map_err(|e| PlatformError::Start("kafka", e.to_string()))?;
            bus.ensure_topics(&contracts::events::topics::ALL)
                .await
                .map_err(|e| PlatformError::Start("kafka", e.to_string()))?;
            Arc::new(bus)
        }
    };

    // Bind first so every service knows its peers' addresses before any starts.
    let host = config.host.as_str();
    let identity_listener = bind("identity", host, config.ports.identity).await?;
    let identity_app = match &config.stores {
        Stores::Sqlite(dir) => identity::App::with_listener(
            identity_listener,
            host,
            &dir.join("identity").join("signing-key.der"),
            kit::auth::DEFAULT_AUDIENCE,
        )
        .map_err(|e| PlatformError::Start("identity", e.to_string()))?,
        Stores::Postgres(_) => identity::App::with_key(
            identity_listener,
            host,
            identity::SigningKey::ephemeral().map_err(|e| PlatformError::Start("identity", e.to_string()))?,
            kit::auth::DEFAULT_AUDIENCE,
        ),
    };
    let issuer = identity_app.issuer();
    // One reader for the issuer, audience and mode; each service presents its own client.
    let mut auth_base = kit::auth::AuthSettings::from_env(Some(&issuer.url))?;
    if let Some(mode) = config.overrides.auth_mode {
        auth_base.mode = mode;
    }
    let auth_for = |client: &str| kit::auth::AuthSettings {
        client: auth_base.client.clone().or_else(|| identity::issuer::client_credentials(client)),
        ..auth_base.clone()
    };
    let product_listener = bind("product", host, config.ports.product).await?;
    let order_listener = bind("order", host, config.ports.order).await?;
    let inventory_listener = bind("inventory", host, config.ports.inventory).await?;
    let notification_listener = bind("notification", host, config.ports.notification).await?;
    let ai_listener = bind("ai", host, config.ports.ai).await?;
    let (product_url, order_url, inventory_url, notification_url, ai_url) = (
        local_url(&product_listener),
        local_url(&order_listener),
        local_url(&inventory_listener),
        local_url(&notification_listener),
        local_url(&ai_listener),
    );
    let mail = match (&config.mail, &config.stores) {
        (Some(mail), _) => mail.clone(),
        (None, Stores::Sqlite(dir)) => notification::Transport::Files(dir.join("mail")),
        (None, Stores::Postgres(_)) => notification::Transport::Log,
    };
    let options = |name| config.stores.options(name, config.pool_size);
    let host = config.host.clone();
    let overrides = &config.overrides;

    let mut notification_config = notification::Config::embedded(
        host.clone(),
        config.ports.notification,
        options("notification"),
        mail,
        auth_for("notification-service"),
    )?;
    if let Some(admin) = &overrides.admin_email {
        notification_config.admin_email = admin.clone();
    }
    if let Some(schedule) = &overrides.email_retry_schedule {
        notification_config.retry_schedule = schedule.clone();
    }
    let product_config = product::Config {
        host: host.clone(),
        port: config.ports.product,
        database: options("product"),
        inventory_service_url: Some(inventory_url.clone()),
        auth: auth_for("product-service"),
    };
    let mut inventory_config = inventory::Config::embedded(
        host.clone(),
        config.ports.inventory,
        options("inventory"),
        Some(order_url.clone()),
        auth_for("inventory-service"),
    )?;
    if let Some(ttl) = overrides.reservation_ttl {
        inventory_config.reservation_ttl = ttl;
    }
    let order_config = order::Config::embedded(
        host.clone(),
        config.ports.order,
        options("orders"),
        product_url.clone(),
        inventory_url.clone(),
        auth_for("order-service"),
    )?;
    let ai_data = match &config.stores {
        Stores::Sqlite(dir) => dir.join("ai"),
        Stores::Postgres(_) => std::env::temp_dir().join(format!("shop-ai-{}", std::process::id())),
    };
    let mut ai_config = ai::Config::embedded(
        host.clone(),
        config.ports.ai,
        options("ai"),
        product_url.clone(),
        ai_data,
        auth_for("ai-service"),
    )?;
    if let Some(follow_ups) = overrides.ai_follow_up_emails {
        ai_config.follow_up_emails = follow_ups;
    }
    let gateway_config = gateway::Config::embedded(
        host.clone(),
        config.ports.gateway,
        gateway::Upstreams {
            product: product_url,
            order: order_url,
            inventory: inventory_url,
            notification: notification_url,
            ai: ai_url,
        },
        auth_for("gateway"),
    )?;
    let mut gateway_config = gateway_config;
    if let Some((api, ai)) = overrides.rate_limits {
        gateway_config.rate_limit_per_minute = api;
        gateway_config.ai_rate_limit_per_minute = ai;
    }

    let (product_app, inventory_app, order_app, notification_app, ai_app) = tokio::try_join!(
        async {
            product::App::with_listener(product_config, bus.clone(), product_listener)
                .await
                .map_err(|e| PlatformError::Start("product", e.to_string()))
        },
        async {
            inventory::App::with_listener(inventory_config, bus.clone(), inventory_listener)
                .await
                .map_err(|e| PlatformError::Start("inventory", e.to_string()))
        },
        async {
            order::App::with_listener(order_config, bus.clone(), order_listener)
                .await
                .map_err(|e| PlatformError::Start("order", e.to_string()))
        },
        async {
            notification::App::with_listener(notification_config, bus.clone(), notification_listener)
                .await
                .map_err(|e| PlatformError::Start("notification", e.to_string()))
        },
        async {
            ai::App::with_listener(ai_config, bus.clone(), ai_listener)
                .await
                .map_err(|e| PlatformError::Start("ai", e.to_string()))
        },
    )?;
    if config.seed_demo {
        let products = product_app
            .seed_if_empty(&crate::demo::products())
            .await
            .map_err(|e| PlatformError::Start("product", format!("seeding: {e}")))?;
        let stock = inventory_app
            .seed_if_empty(&crate::demo::stock())
            .await
            .map_err(|e| PlatformError::Start("inventory", format!("seeding: {e}")))?;
        if products + stock > 0 {
            tracing::info!(products, stock, "loaded the demo catalog");
        }
    }
    let gateway_port = config.ports.gateway;
    let gateway_app = gateway::App::build(gateway_config)
        .await
        .map_err(|e| PlatformError::Bind("gateway", format!("{}:{gateway_port}", config.host), e))?;

    let ports = Ports {
        gateway: gateway_app.port(),
        product: product_app.port(),
        order: order_app.port(),
        inventory: inventory_app.port(),
        notification: notification_app.port(),
        ai: ai_app.port(),
        identity: identity_app.port(),
    };
    let stages = vec![
        vec![spawn_service("gateway", |stop| gateway_app.run_until_stopped(stop))],
        // The AI service calls the product service: it goes before the catalog does.
        vec![spawn_service("order", |stop| order_app.run_until_stopped(stop))],
        vec![
            spawn_service("inventory", |stop| inventory_app.run_until_stopped(stop)),
            spawn_service("product", |stop| product_app.run_until_stopped(stop)),
            spawn_service("notification", |stop| notification_app.run_until_stopped(stop)),
            spawn_service("ai", |stop| ai_app.run_until_stopped(stop)),
        ],
        // Last: the services' tokens are checked against its keys until they stop.
        vec![spawn_service("identity", |stop| identity_app.run_until_stopped(stop))],
    ];
    let supervisor = tokio::spawn(supervise(stages, shutdown));
    Ok(Platform { ports, events, issuer, supervisor })
}
