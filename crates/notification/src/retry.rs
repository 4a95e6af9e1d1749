//! The retry worker: resends emails whose scheduled retry is due. The schedule lives in the
//! record (`RETRYING`, `next_attempt_at`), so retries survive restarts, and several replicas
//! can each run a worker: a due email is taken with a lease (see
//! [`crate::store::NotificationStore::take_due`]), so two workers never send one email at
//! the same moment, and the email of a worker that died comes back when its lease ends.

use crate::events::{Notifier, Outcome, SEND_TIMEOUT};
use kit::db::Timestamp;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a taken retry stays hidden from other workers: far longer than one attempt may
/// take ([`SEND_TIMEOUT`]), so it only runs out when the worker died.
pub const LEASE: Duration = Duration::from_secs(120);

const _: () = assert!(LEASE.as_secs() >= 2 * SEND_TIMEOUT.as_secs());

/// Resends due emails until stopped.
pub struct RetryWorker {
    notifier: Arc<Notifier>,
    poll: Duration,
}

impl RetryWorker {
    /// A worker looking for due retries every `poll`.
    pub fn new(notifier: Arc<Notifier>, poll: Duration) -> Self {
        RetryWorker { notifier, poll }
    }

    /// Takes and attempts due retries, one at a time, until none is due; then waits `poll`.
    /// Stops when `shutdown` is cancelled — between attempts, never during one, so an email
    /// being sent gets its outcome recorded instead of waiting out a lease.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(poll = ?self.poll, "email retry worker started");
        while !shutdown.is_cancelled() {
            match self.retry_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "email retry worker: the record failed; trying again later"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
        tracing::info!("email retry worker stopped");
    }

    /// Attempts the retry that has been due longest; `false` when none is due.
    pub async fn retry_one(&self) -> Result<bool, sqlx::Error> {
        let now = Timestamp::now();
        let lease_until = Timestamp::from(now.get() + LEASE);
        let Some(due) = self.notifier.store.take_due(now, lease_until).await? else {
            return Ok(false);
        };
        let outcome = self.notifier.attempt(&due).await?;
        if outcome == Outcome::Superseded {
            tracing::info!(id = %due.ticket.id, "another attempt took over this email; leaving it the outcome");
        }
        Ok(true)
    }
}
