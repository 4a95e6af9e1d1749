//! Start-up: the notification record, the mail transport, the consumer and the HTTP side.

use crate::config::Config;
use crate::emails::Templates;
use crate::events::{CONSUMER_GROUP, Notifier, TOPICS};
use crate::store::SqlNotificationStore;
use kit::bus::EventBus;
use kit::db::Db;
pub use kit::server::StartError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS; 1 "notifications" "0001_notifications.sql");

/// A built, not yet running, notification service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    notifier: Arc<Notifier>,
    bus: Arc<dyn EventBus>,
    db: Db,
}

impl App {
    /// Opens the record, builds the transport and binds the port.
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
        let store = Arc::new(SqlNotificationStore::new(db.clone()));
        let store_name =
            config.from.split('<').next().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Shop").to_owned();
        let notifier = Arc::new(Notifier {
            store: store.clone(),
            mailer: crate::mailer::build(&config.transport, &config.from)
                .map_err(|e| StartError::Other(format!("email: {e}")))?,
            templates: Templates::new(&store_name).map_err(|e| StartError::Other(format!("email: {e}")))?,
            admin_email: config.admin_email.clone(),
            send_attempts: config.send_attempts,
            retry_delay: config.retry_delay,
        });
        let router = kit::server::service_router(
            "notification-service",
            crate::routes::router(store),
            kit::server::database_ready(db.clone()),
        );
        Ok(App { listener, router, notifier, bus, db })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Consumes and serves until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let consumer = tokio::spawn({
            let (bus, notifier, shutdown) = (self.bus.clone(), self.notifier.clone(), shutdown.clone());
            async move { kit::bus::consumer::run(bus, CONSUMER_GROUP, &TOPICS, notifier, shutdown).await }
        });
        let served = kit::server::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = consumer.await;
        self.db.close().await;
        served
    }
}
