//! Start-up: open and migrate the store, bind the listener, wire the outbox relay.

use crate::config::Config;
use crate::domain::Product;
use crate::routes::{AppState, router};
use crate::store::{ListFilter, Page, ProductStore, SqlProductStore, StoreError};
use kit::bus::EventBus;
use kit::db::Db;
use kit::outbox::Relay;
pub use kit::server::StartError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS; 1 "products" "0001_products.sql");

/// A built, not yet running, product service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    relay: Relay,
    store: Arc<SqlProductStore>,
    db: Db,
}

impl App {
    /// Opens the store and binds the port; nothing is served until [`App::run_until_stopped`].
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
        let relay =
            Relay::new(db.clone(), bus).holder(kit::outbox::instance_id(listener.local_addr().ok().map(|a| a.port())));
        let store = Arc::new(SqlProductStore::new(db.clone(), relay.waker()));
        let router = kit::server::service_router(
            "product-service",
            router(AppState {
                store: store.clone(),
                stock: config.inventory_service_url.as_ref().map(|url| {
                    kit::http::ServiceClient::new("inventory-service", url.clone(), std::time::Duration::from_secs(2))
                }),
            }),
            kit::server::Readiness::new().store("product", db.clone()).build(),
        );
        Ok(App { listener, router, relay, store, db })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Loads `products` into an empty catalog; how many were added (0 if it had products).
    pub async fn seed_if_empty(&self, products: &[Product]) -> Result<u64, StoreError> {
        let (_, total) = self.store.list(&ListFilter::default(), Page { number: 1, size: 1 }).await?;
        if total > 0 {
            return Ok(0);
        }
        self.store.insert_missing(products).await
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
