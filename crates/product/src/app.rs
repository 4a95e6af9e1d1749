//! Start-up: open (and migrate or prepare) the store, bind the listener, wire the outbox relay
//! of the chosen backend.

use crate::config::{Config, StoreKind};
use crate::domain::Product;
use crate::routes::{AppState, router};
use crate::store::mongo::{MongoProductStore, MongoRelay};
use crate::store::{ListFilter, Page, ProductStore, SqlProductStore, StoreError};
use kit::bus::EventBus;
use kit::db::{Db, DbOptions};
use kit::outbox::Relay;
pub use kit::server::StartError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS; 1 "products" "0001_products.sql");

/// The store's backend and what runs beside it.
enum Backend {
    /// SQLite or PostgreSQL, with kit's relay.
    Sql { relay: Relay, db: Db },
    /// MongoDB, with its own relay.
    Mongo { relay: MongoRelay, store: MongoProductStore },
}

/// A built, not yet running, product service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    backend: Backend,
    store: Arc<dyn ProductStore>,
}

/// Opens the store `options` names — SQL (migrated) or MongoDB (collections and indexes
/// prepared) — for commands that need the catalog without serving it (`shop seed`,
/// `shop migrate`). Events it writes wait in the outbox for the service's relay.
pub async fn open_store(options: &DbOptions) -> Result<Arc<dyn ProductStore>, StartError> {
    let wake = Arc::new(Notify::new());
    if crate::store::mongo::is_mongodb_url(&options.url) {
        let store = MongoProductStore::connect(options, wake).await.map_err(|e| StartError::Other(e.to_string()))?;
        Ok(Arc::new(store))
    } else {
        Ok(Arc::new(SqlProductStore::new(kit::db::connect(options, &MIGRATIONS).await?, wake)))
    }
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
        let holder = kit::outbox::instance_id(listener.local_addr().ok().map(|a| a.port()));
        let (backend, store, readiness): (Backend, Arc<dyn ProductStore>, _) = match config.store_kind() {
            StoreKind::Sql => {
                let db = kit::db::connect(&config.database, &MIGRATIONS).await?;
                let relay = Relay::new(db.clone(), bus).service("product").holder(holder);
                let store = Arc::new(SqlProductStore::new(db.clone(), relay.waker()));
                let readiness = kit::server::Readiness::new().store("product", db.clone());
                (Backend::Sql { relay, db }, store, readiness)
            }
            StoreKind::Mongo => {
                let wake = Arc::new(Notify::new());
                let store = MongoProductStore::connect(&config.database, wake.clone())
                    .await
                    .map_err(|e| StartError::Other(e.to_string()))?;
                let relay = store.relay(bus, wake).holder(holder);
                let probe = store.clone();
                let readiness = kit::server::Readiness::new().check(Arc::new(move || {
                    let probe = probe.clone();
                    Box::pin(async move { probe.can_write().await })
                }));
                (Backend::Mongo { relay, store: store.clone() }, Arc::new(store), readiness)
            }
        };
        let auth = kit::auth::Authenticator::new(config.auth.clone());
        let credential = kit::auth::ServiceToken::from_settings(&auth);
        let router = kit::server::service_router(
            "product-service",
            router(AppState {
                store: store.clone(),
                stock: config.inventory_service_url.as_ref().map(|url| {
                    kit::http::ServiceClient::new("inventory-service", url.clone(), std::time::Duration::from_secs(2))
                        .with_token(credential.clone())
                }),
            }),
            readiness.build(),
            auth,
        );
        Ok(App { listener, router, backend, store })
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
        let App { listener, router, backend, store } = self;
        drop(store);
        match backend {
            Backend::Sql { relay, db } => {
                let relay = tokio::spawn(relay.run(shutdown.clone()));
                let served = kit::server::serve(listener, router, shutdown.clone()).await;
                shutdown.cancel();
                let _ = relay.await;
                db.close().await;
                served
            }
            Backend::Mongo { relay, store } => {
                let relay = tokio::spawn(relay.run(shutdown.clone()));
                let served = kit::server::serve(listener, router, shutdown.clone()).await;
                shutdown.cancel();
                let _ = relay.await;
                // Immediately: the requests have drained and the relay has stopped, so nothing
                // still needs a connection.
                store.client().clone().shutdown().immediate(true).await;
                served
            }
        }
    }
}
