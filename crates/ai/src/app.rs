//! Start-up: open and migrate the store, load the embedding model if configured, bind the
//! listener, wire the model behind its guards; then, while serving, build the catalog index
//! from the product service, consume `product-updated` and `order-placed`, and relay the
//! outbox.

use crate::assistant::Assistant;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::events::{AiHandler, CONSUMER_GROUP, TOPICS};
use crate::llm::guard::Guarded;
use crate::retrieval::Retriever;
use crate::retrieval::embeddings::{Embedder, SemanticIndex};
use crate::routes::{AppState, router};
use crate::store::{MIGRATIONS, SqlAiStore};
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use kit::bus::EventBus;
use kit::bus::consumer::{ConsumerHealth, STUCK_AFTER, run_reporting};
use kit::db::Db;
use kit::http::ServiceClient;
use kit::outbox::Relay;
use kit::server::Readiness;
pub use kit::server::StartError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The service name in `/health` and `/ready`.
pub const SERVICE: &str = "ai-service";

/// A built, not yet running, AI service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    relay: Relay,
    db: Db,
    bus: Arc<dyn EventBus>,
    catalog: Arc<Catalog>,
    semantic: Option<Arc<SemanticIndex>>,
    handler: Arc<AiHandler>,
    health: ConsumerHealth,
    products: ServiceClient,
}

impl App {
    /// Opens the store, loads the model and binds the port; nothing runs until
    /// [`App::run_until_stopped`].
    pub async fn build(config: Config, bus: Arc<dyn EventBus>) -> Result<App, StartError> {
        let listener = kit::server::bind_service(&config.host, config.port).await?;
        Self::with_listener(config, bus, listener).await
    }

    /// Like [`App::build`] on a listener bound beforehand.
    pub async fn with_listener(
        config: Config,
        bus: Arc<dyn EventBus>,
        listener: TcpListener,
    ) -> Result<App, StartError> {
        let db = kit::db::connect(&config.database, &MIGRATIONS).await?;
        let relay = Relay::new(db.clone(), bus.clone())
            .service("ai")
            .holder(kit::outbox::instance_id(listener.local_addr().ok().map(|a| a.port())));
        let store = Arc::new(SqlAiStore::new(db.clone(), relay.waker()));
        let catalog = Arc::new(Catalog::new().map_err(|e| StartError::Other(e.to_string()))?);
        let semantic = match &config.embedding_model_dir {
            Some(dir) => {
                let dir = dir.clone();
                let data_dir = config.data_dir.clone();
                let loaded = tokio::task::spawn_blocking(move || {
                    Embedder::load(&dir).map(|embedder| SemanticIndex::new(embedder, Some(&data_dir)))
                })
                .await
                .map_err(|e| StartError::Other(format!("EMBEDDING_MODEL_DIR: {e}")))?
                .map_err(|e| StartError::Other(format!("EMBEDDING_MODEL_DIR: {e}")))?;
                Some(Arc::new(loaded))
            }
            None => None,
        };
        let retriever = Arc::new(Retriever::new(catalog.clone(), &config.synonyms, semantic.clone()));
        let model = crate::llm::build(&config.llm)
            .map_err(|e| StartError::Other(format!("LLM_PROVIDER: {e}")))?
            .map(|model| Guarded::new(model, &config.llm));
        let assistant =
            Arc::new(Assistant { retriever, model, store: store.clone(), max_tokens: config.llm.max_tokens });
        let handler = Arc::new(AiHandler {
            assistant: assistant.clone(),
            store,
            semantic: semantic.clone(),
            follow_up_emails: config.follow_up_emails,
        });
        let provider = assistant.provider();
        let health = ConsumerHealth::new(CONSUMER_GROUP, STUCK_AFTER);
        // Ready once the first catalog build is done, the store writes and the consumer moves.
        let catalog_ready: kit::server::ReadinessCheck = {
            let catalog = catalog.clone();
            Arc::new(move || {
                let ready = catalog.is_ready();
                Box::pin(async move {
                    if ready { Ok(()) } else { Err("the catalog index is still being built".to_owned()) }
                })
            })
        };
        let ready = Readiness::new().check(catalog_ready).store("ai", db.clone()).consumer(health.clone()).build();
        let auth = kit::auth::Authenticator::new(config.auth.clone());
        let credential = kit::auth::ServiceToken::from_settings(&auth);
        let auth_enabled = auth.enabled();
        let router = kit::server::service_router(SERVICE, router(AppState { assistant }), ready, auth).layer(
            middleware::from_fn(move |request: Request, next: Next| {
                health_with_provider(provider, auth_enabled, request, next)
            }),
        );
        let products = ServiceClient::new("product-service", config.product_service_url.clone(), config.peer_timeout)
            .with_token(credential);
        Ok(App { listener, router, relay, db, bus, catalog, semantic, handler, health, products })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Serves, builds the index, consumes and relays until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let relay = tokio::spawn(self.relay.run(shutdown.clone()));
        let consumer = tokio::spawn({
            let (bus, handler, health, shutdown) =
                (self.bus.clone(), self.handler.clone(), self.health.clone(), shutdown.clone());
            async move { run_reporting(bus, CONSUMER_GROUP, &TOPICS, handler, health, shutdown).await }
        });
        let builder = tokio::spawn(build_index(self.products, self.catalog, self.semantic, shutdown.clone()));
        let served = kit::server::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = builder.await;
        let _ = consumer.await;
        let _ = relay.await;
        self.db.close().await;
        served
    }
}

/// The start-up build: the lexical index first (then the service is ready), then the
/// semantic vectors in the background.
async fn build_index(
    products: ServiceClient,
    catalog: Arc<Catalog>,
    semantic: Option<Arc<SemanticIndex>>,
    shutdown: CancellationToken,
) {
    let started = std::time::Instant::now();
    let Some(listing) = crate::loader::read_catalog_until_up(&products, &shutdown).await else { return };
    let count = listing.len();
    let built = {
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || catalog.replace_all(listing)).await
    };
    match built {
        Ok(Ok(())) => tracing::info!(products = count, elapsed = ?started.elapsed(), "AI catalog index built"),
        Ok(Err(err)) => return tracing::error!(error = %err, "building the AI catalog index failed"),
        Err(err) => return tracing::error!(error = %err, "building the AI catalog index panicked"),
    }
    if let Some(semantic) = semantic {
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || semantic.sync_catalog(&catalog)).await {
            Ok(Ok(computed)) => {
                tracing::info!(computed, elapsed = ?started.elapsed(), "product embeddings ready")
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "embedding the catalog failed; lexical retrieval only"),
            Err(err) => tracing::warn!(error = %err, "embedding the catalog panicked; lexical retrieval only"),
        }
    }
}

/// The original's AI `/health` also names the language-model provider.
async fn health_with_provider(provider: &'static str, auth_enabled: bool, request: Request, next: Next) -> Response {
    if request.uri().path() == "/health" && request.method() == axum::http::Method::GET {
        let health = serde_json::json!({
            "status": "UP", "service": SERVICE, "llm_provider": provider, "auth_enabled": auth_enabled,
        });
        return axum::Json(health).into_response();
    }
    next.run(request).await
}
