//! Start-up: open and migrate the store, bind the listener, wire the outbox relay and the
//! clients of the product and inventory services.

use crate::config::Config;
use crate::placement::Placement;
use crate::routes::{AppState, router};
use crate::store::SqlOrderStore;
use kit::bus::EventBus;
use kit::db::Db;
use kit::http::ServiceClient;
use kit::outbox::Relay;
pub use kit::server::StartError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS; 1 "orders" "0001_orders.sql", 2 "void orders and idempotency claims" "0002_void_and_claims.sql");

/// A built, not yet running, order service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    relay: Relay,
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
        let relay = Relay::new(db.clone(), bus)
            .service("order")
            .holder(kit::outbox::instance_id(listener.local_addr().ok().map(|a| a.port())));
        let auth = kit::auth::Authenticator::new(config.auth.clone());
        let credential = kit::auth::ServiceToken::from_settings(&auth);
        let placement = Placement {
            store: Arc::new(SqlOrderStore::new(db.clone(), relay.waker())),
            catalog: ServiceClient::new("product-service", config.product_service_url.clone(), config.peer_timeout)
                .with_token(credential.clone()),
            inventory: ServiceClient::new(
                "inventory-service",
                config.inventory_service_url.clone(),
                config.peer_timeout,
            )
            .with_token(credential),
            key_wait: config.key_wait(),
            key_stale: config.key_stale(),
        };
        let router = kit::server::service_router(
            "order-service",
            router(AppState { placement }),
            kit::server::Readiness::new().store("order", db.clone()).build(),
            auth,
        );
        Ok(App { listener, router, relay, db })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves and relays events until `shutdown`; drains requests, then flushes the outbox.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let relay = tokio::spawn(self.relay.run(shutdown.clone()));
        let served = kit::server::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = relay.await;
        self.db.close().await;
        served
    }
}
