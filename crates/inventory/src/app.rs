//! Start-up: open and migrate the store, bind the listener, wire the outbox relay, the order
//! event consumer and the reservation expiry sweeper.

use crate::config::Config;
use crate::domain::NewItem;
use crate::reservations::{CONSUMER_GROUP, ExpirySweeper, OrderEvents, TOPICS};
use crate::routes::{AppState, router};
use crate::store::{InventoryStore, SqlInventoryStore, StoreError};
use kit::bus::EventBus;
use kit::bus::consumer::ConsumerHealth;
use kit::db::Db;
use kit::http::ServiceClient;
use kit::outbox::Relay;
use kit::server::Readiness;
pub use kit::server::StartError;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS; 1 "inventory" "0001_inventory.sql", 2 "low stock alerted" "0002_low_stock_alerted.sql");

/// A built, not yet running, inventory service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    relay: Relay,
    store: Arc<SqlInventoryStore>,
    bus: Arc<dyn EventBus>,
    sweeper: ExpirySweeper,
    consumer: ConsumerHealth,
    db: Db,
}

impl App {
    /// Opens the store and binds the port; nothing runs until [`App::run_until_stopped`].
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> Result<App, StartError> {
        let listener = kit::server::bind_service(&config.host, config.port).await?;
        Self::with_listener(config, bus, listener).await
    }

    /// Like [`App::build`] on a listener bound beforehand (so peers can learn each other's
    /// ports before any of them starts).
    pub async fn with_listener(
        config: Config,
        bus: Arc<dyn EventBus>,
        listener: TcpListener,
    ) -> Result<App, StartError> {
        let db = kit::db::connect(&config.database, &MIGRATIONS).await?;
        let relay = Relay::new(db.clone(), bus.clone())
            .service("inventory")
            .holder(kit::outbox::instance_id(listener.local_addr().ok().map(|a| a.port())));
        let store = Arc::new(SqlInventoryStore::new(db.clone(), relay.waker()));
        let consumer = ConsumerHealth::new(CONSUMER_GROUP, kit::bus::consumer::STUCK_AFTER);
        let auth = kit::auth::Authenticator::new(config.auth.clone());
        let credential = kit::auth::ServiceToken::from_settings(&auth);
        let router = kit::server::service_router(
            "inventory-service",
            router(AppState { store: store.clone(), reservation_ttl: config.reservation_ttl }),
            Readiness::new().store("inventory", db.clone()).consumer(consumer.clone()).build(),
            auth,
        );
        let sweeper = ExpirySweeper {
            store: store.clone(),
            orders: config.order_service_url.as_ref().map(|url| {
                ServiceClient::new("order-service", url.clone(), Duration::from_secs(5)).with_token(credential)
            }),
            interval: config.sweep_interval(),
        };
        Ok(App { listener, router, relay, store, bus, sweeper, consumer, db })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Loads `items` into an empty inventory; how many were added (0 if it had records).
    pub async fn seed_if_empty(&self, items: &[NewItem]) -> Result<u64, StoreError> {
        let (_, total) = self.store.list(1, 0).await?;
        if total > 0 {
            return Ok(0);
        }
        self.store.insert_missing(items).await
    }

    /// Serves, relays, consumes and sweeps until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let relay = tokio::spawn(self.relay.run(shutdown.clone()));
        let consumer = tokio::spawn({
            let handler = Arc::new(OrderEvents { store: self.store.clone() });
            let (bus, health, shutdown) = (self.bus.clone(), self.consumer.clone(), shutdown.clone());
            async move { kit::bus::consumer::run_reporting(bus, CONSUMER_GROUP, &TOPICS, handler, health, shutdown).await }
        });
        let sweeper = tokio::spawn(self.sweeper.run(shutdown.clone()));
        let served = kit::server::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = tokio::join!(relay, consumer, sweeper);
        self.db.close().await;
        served
    }
}
