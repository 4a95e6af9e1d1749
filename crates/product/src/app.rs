//! Start-up: open and migrate the store, bind the listener, wire the outbox relay.

use crate::config::Config;
use crate::domain::Product;
use crate::routes::{AppState, router};
use crate::store::{ProductStore, SqlProductStore, StoreError};
use kit::bus::EventBus;
use kit::db::{Db, DbError};
use kit::outbox::Relay;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS; 1 "products" "0001_products.sql");

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The port could not be bound.
    #[error("binding {0}: {1}")]
    Bind(String, std::io::Error),
}

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
        let db = kit::db::connect(&config.database, &MIGRATIONS).await?;
        let relay = Relay::new(db.clone(), bus);
        let store = Arc::new(SqlProductStore::new(db.clone(), relay.waker()));
        let ready_db = db.clone();
        let router = kit::server::service_router(
            "product-service",
            router(AppState { store: store.clone() }),
            Arc::new(move || {
                let db = ready_db.clone();
                Box::pin(async move { db.ping().await })
            }),
        );
        let listener = kit::server::bind(&config.host, config.port)
            .await
            .map_err(|e| StartError::Bind(format!("{}:{}", config.host, config.port), e))?;
        Ok(App { listener, router, relay, store, db })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Loads `products` whose ids are free; how many were added.
    pub async fn seed(&self, products: &[Product]) -> Result<u64, StoreError> {
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
