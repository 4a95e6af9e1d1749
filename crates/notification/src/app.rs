//! Start-up: the notification record, the mail transport, the consumer, the retry worker,
//! the outbox relay (dead letters of given-up emails) and the HTTP side.

use crate::config::Config;
use crate::emails::Templates;
use crate::events::{CONSUMER_GROUP, Notifier, TOPICS};
use crate::retry::RetryWorker;
use crate::store::SqlNotificationStore;
use kit::bus::EventBus;
use kit::bus::consumer::ConsumerHealth;
use kit::db::Db;
use kit::outbox::Relay;
pub use kit::server::StartError;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

kit::migrations!(MIGRATIONS;
    1 "notifications" "0001_notifications.sql",
    2 "durable retries" "0002_durable_retries.sql",
);

/// A built, not yet running, notification service.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    notifier: Arc<Notifier>,
    bus: Arc<dyn EventBus>,
    retry: RetryWorker,
    relay: Relay,
    consumer: ConsumerHealth,
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
        if config.retry_schedule.is_empty() || config.retry_poll.is_zero() {
            // What Config::embedded refuses, for a Config built by hand.
            return Err(StartError::Other("email: the retry schedule needs a step and a poll interval".into()));
        }
        let db = kit::db::connect(&config.database, &MIGRATIONS).await?;
        let relay = Relay::new(db.clone(), bus.clone())
            .service("notification")
            .holder(kit::outbox::instance_id(listener.local_addr().ok().map(|a| a.port())));
        let store = Arc::new(SqlNotificationStore::new(db.clone(), relay.waker()));
        let store_name =
            config.from.split('<').next().map(str::trim).filter(|n| !n.is_empty()).unwrap_or("Shop").to_owned();
        let notifier = Arc::new(Notifier {
            store: store.clone(),
            mailer: crate::mailer::build(&config.transport, &config.from)
                .map_err(|e| StartError::Other(format!("email: {e}")))?,
            templates: Templates::new(&store_name).map_err(|e| StartError::Other(format!("email: {e}")))?,
            admin_email: config.admin_email.clone(),
            retry_schedule: config.retry_schedule.clone(),
        });
        let retry = RetryWorker::new(notifier.clone(), config.retry_poll);
        let consumer = ConsumerHealth::new(CONSUMER_GROUP, kit::bus::consumer::STUCK_AFTER);
        let router = kit::server::service_router(
            "notification-service",
            crate::routes::router(store),
            kit::server::Readiness::new().store("notification", db.clone()).consumer(consumer.clone()).build(),
            kit::auth::Authenticator::new(config.auth.clone()),
        );
        Ok(App { listener, router, notifier, bus, retry, relay, consumer, db })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Consumes, retries and serves until `shutdown`.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> std::io::Result<()> {
        // The relay stops last, so the dead letters of the final attempts still go out.
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(self.relay.run(relay_stop.clone()));
        let retry = tokio::spawn(self.retry.run(shutdown.clone()));
        let consumer = tokio::spawn({
            let (bus, notifier, health, shutdown) =
                (self.bus.clone(), self.notifier.clone(), self.consumer.clone(), shutdown.clone());
            async move { kit::bus::consumer::run_reporting(bus, CONSUMER_GROUP, &TOPICS, notifier, health, shutdown).await }
        });
        let served = kit::server::serve(self.listener, self.router, shutdown.clone()).await;
        shutdown.cancel();
        let _ = consumer.await;
        let _ = retry.await;
        relay_stop.cancel();
        let _ = relay.await;
        self.db.close().await;
        served
    }
}
