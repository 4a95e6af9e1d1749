//! The outbox relay on MongoDB, the counterpart of `kit::outbox::Relay` (ADR 0004, 0012).
//!
//! - Outbox documents carry `_id` = a sequence number taken from one counter document in the
//!   same transaction as the write (see `super::MongoProductStore`). Every writer increments
//!   that one document, so MongoDB's write-conflict rule serialises them: a transaction can
//!   only take number n + 1 once the one that took n has committed (or aborted, which gives
//!   the number back). Reading in `_id` order is therefore reading in commit order, with no
//!   later commit ever slipping in below a number already seen.
//! - One relay publishes at a time: the lease document (`outbox_lease`, `_id` 1) is taken or
//!   renewed by one update judged by the server's clock (`$$NOW`), and each take increments
//!   its `fence`.
//! - A pass is fenced twice, as in kit: its publish must end a margin before its lease runs
//!   out, and it deletes what it published only in a transaction that also updates the lease
//!   document where holder and fence are still this pass's; a relay that lost its lease
//!   deletes nothing (and a takeover racing the delete makes one of them conflict and retry).
//! - Published before deleted: a crash in between publishes the batch again (at least once;
//!   consumers de-duplicate on `event_id`).

use super::{Collections, is_transient};
use kit::bus::{BusError, EventBus, OutgoingMessage};
use mongodb::bson::{Bson, Document, doc, spec::BinarySubtype};
use mongodb::options::{ReadConcern, ReturnDocument, WriteConcern};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A relay pass failed; the documents stay in the outbox for the next pass.
#[derive(Debug, thiserror::Error)]
pub enum MongoRelayError {
    /// The publish did not finish while the lease was surely still ours.
    #[error("publishing took longer than the lease allows ({0:?}); the batch stays for the next pass")]
    LeaseRanOut(Duration),
    /// Another relay took the lease over during the pass: its documents are its own now.
    #[error("the outbox lease was taken over during the pass")]
    Fenced,
    /// MongoDB failed.
    #[error("outbox storage (MongoDB): {0}")]
    Storage(#[from] mongodb::error::Error),
    /// An outbox document this relay cannot read.
    #[error("outbox document {0} is unreadable")]
    Unreadable(String),
    /// The bus refused the batch.
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// The outbox document of `message` under sequence number `seq`.
pub fn outbox_document(seq: i64, message: &OutgoingMessage) -> Document {
    let headers: Vec<Document> = message.headers.iter().map(|(k, v)| doc! { "name": k, "value": v }).collect();
    doc! {
        "_id": seq,
        "topic": &message.topic,
        "key": &message.key,
        "headers": headers,
        "payload": Bson::Binary(mongodb::bson::Binary { subtype: BinarySubtype::Generic, bytes: message.payload.clone() }),
        "created_at": mongodb::bson::DateTime::now(),
    }
}

fn message_of(doc: &Document) -> Option<(i64, OutgoingMessage)> {
    let seq = match doc.get("_id")? {
        Bson::Int64(n) => *n,
        Bson::Int32(n) => i64::from(*n),
        _ => return None,
    };
    let headers = match doc.get("headers") {
        Some(Bson::Array(items)) => items
            .iter()
            .filter_map(|h| {
                let h = h.as_document()?;
                Some((h.get("name")?.as_str()?.to_owned(), h.get("value")?.as_str()?.to_owned()))
            })
            .collect(),
        _ => Vec::new(),
    };
    let payload = match doc.get("payload")? {
        Bson::Binary(b) => b.bytes.clone(),
        _ => return None,
    };
    Some((
        seq,
        OutgoingMessage {
            topic: doc.get("topic")?.as_str()?.to_owned(),
            key: doc.get("key")?.as_str()?.to_owned(),
            headers,
            payload,
        },
    ))
}

/// How long before its lease runs out a pass must be done publishing: a tenth of the lease,
/// at least 200 ms and at most 5 s (as kit's relay).
fn fence_margin(lease: Duration) -> Duration {
    (lease / 10).clamp(Duration::from_millis(200), Duration::from_secs(5))
}

/// Moves outbox documents to the bus.
#[derive(Clone)]
pub struct MongoRelay {
    collections: Collections,
    bus: Arc<dyn EventBus>,
    wake: Arc<Notify>,
    batch: i64,
    idle: Duration,
    linger: Duration,
    holder: String,
    lease: Duration,
}

impl MongoRelay {
    /// A relay for the outbox in `collections`, under a random holder name until
    /// [`MongoRelay::holder`] sets the replica's stable one.
    pub(super) fn new(collections: Collections, bus: Arc<dyn EventBus>, wake: Arc<Notify>) -> Self {
        MongoRelay {
            collections,
            bus,
            wake,
            batch: 500,
            idle: Duration::from_millis(500),
            linger: Duration::from_millis(20),
            holder: uuid::Uuid::new_v4().to_string(),
            lease: Duration::from_secs(30),
        }
    }

    /// Holds the lease under `holder` (see `kit::outbox::instance_id`).
    pub fn holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// How long a lease lasts without renewal (30 s by default).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The holder name.
    pub fn holder_name(&self) -> &str {
        &self.holder
    }

    /// Takes or renews the lease by the server's clock: the fence this take set and when the
    /// lease started counting, or `None` while another relay holds it. An update that finds
    /// another live holder changes nothing, so it never conflicts with that holder's deletes.
    async fn take_lease(&self) -> Result<Option<(i64, Instant)>, mongodb::error::Error> {
        let started = Instant::now();
        let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        // Dates are compared as numbers: some MongoDB-wire servers compare `$$NOW` with a
        // stored date wrongly, and numbers mean the same everywhere.
        let take = doc! { "$or": [
            { "$eq": ["$holder", &self.holder] },
            { "$lt": [{ "$toLong": "$expires_at" }, { "$toLong": "$$NOW" }] },
        ]};
        let update = vec![
            doc! { "$set": { "_take": take } },
            doc! { "$set": {
                "holder": { "$cond": ["$_take", &self.holder, "$holder"] },
                "expires_at": { "$cond": ["$_take", { "$add": ["$$NOW", lease_ms] }, "$expires_at"] },
                "fence": { "$cond": ["$_take", { "$add": [{ "$ifNull": ["$fence", 0_i64] }, 1_i64] }, "$fence"] },
            }},
            doc! { "$unset": "_take" },
        ];
        let lease = self
            .collections
            .lease
            .find_one_and_update(doc! { "_id": 1 }, update)
            .return_document(ReturnDocument::After)
            .await?;
        Ok(lease.filter(|l| l.get_str("holder").ok() == Some(self.holder.as_str())).and_then(|l| {
            let fence = match l.get("fence") {
                Some(Bson::Int64(f)) => Some(*f),
                Some(Bson::Int32(f)) => Some(i64::from(*f)),
                _ => None,
            };
            fence.map(|f| (f, started))
        }))
    }

    /// One pass: publishes up to a batch of documents; how many.
    pub async fn relay_once(&self) -> Result<usize, MongoRelayError> {
        let Some((fence, started)) = self.take_lease().await? else { return Ok(0) };
        // Majority reads: an event is published only once its write can no longer be rolled
        // back by a failover.
        let mut cursor = self
            .collections
            .outbox
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .limit(self.batch)
            .read_concern(ReadConcern::majority())
            .await?;
        let mut ids = Vec::new();
        let mut messages = Vec::new();
        while cursor.advance().await? {
            let doc = Document::try_from(cursor.current())
                .map_err(|e| MongoRelayError::Unreadable(format!("(undecodable: {e})")))?;
            let (seq, message) = message_of(&doc).ok_or_else(|| {
                MongoRelayError::Unreadable(format!("{:?}", doc.get("_id").cloned().unwrap_or(Bson::Null)))
            })?;
            ids.push(seq);
            messages.push(message);
        }
        if messages.is_empty() {
            return Ok(0);
        }
        // The lease counts from before the take was sent, so this deadline is conservative.
        let deadline = self.lease.saturating_sub(started.elapsed()).saturating_sub(fence_margin(self.lease));
        if deadline.is_zero() {
            return Ok(0);
        }
        match tokio::time::timeout(deadline, self.bus.publish(&messages)).await {
            Ok(published) => published?,
            Err(_) => return Err(MongoRelayError::LeaseRanOut(deadline)),
        }
        self.delete_fenced(fence, &ids).await?;
        for message in &messages {
            kit::metrics::count_published("product", &message.topic);
        }
        Ok(messages.len())
    }

    /// Deletes the published documents, in one transaction with a write to the lease document
    /// that only matches while it is still this pass's.
    async fn delete_fenced(&self, fence: i64, ids: &[i64]) -> Result<(), MongoRelayError> {
        let published = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut session = self.collections.client.start_session().await?;
            session.start_transaction().write_concern(WriteConcern::majority()).await?;
            let fenced = self
                .collections
                .lease
                .update_one(
                    doc! { "_id": 1, "holder": &self.holder, "fence": fence },
                    doc! { "$inc": { "published": published } },
                )
                .session(&mut session)
                .await;
            let result = match fenced {
                Ok(r) if r.matched_count == 0 => {
                    let _ = session.abort_transaction().await;
                    return Err(MongoRelayError::Fenced);
                }
                Ok(_) => match self
                    .collections
                    .outbox
                    .delete_many(doc! { "_id": { "$in": ids } })
                    .session(&mut session)
                    .await
                {
                    Ok(_) => session.commit_transaction().await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => return Ok(()),
                // A takeover racing this delete: try again, and the fence decides.
                Err(e) if is_transient(&e) && attempts < 5 => {
                    let _ = session.abort_transaction().await;
                    tokio::time::sleep(Duration::from_millis(10 * attempts)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Documents waiting to be published.
    pub async fn backlog(&self) -> Result<u64, mongodb::error::Error> {
        self.collections.outbox.count_documents(doc! {}).await
    }

    /// Gives the lease up so another replica can take over at once.
    async fn release(&self) -> Result<(), mongodb::error::Error> {
        self.collections
            .lease
            .update_one(
                doc! { "_id": 1, "holder": &self.holder },
                doc! { "$set": { "expires_at": mongodb::bson::DateTime::from_millis(0) } },
            )
            .await
            .map(|_| ())
    }

    /// Relays until `shutdown`, then makes one last pass so committed events are not left
    /// behind, and gives the lease up.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = kit::retry::Backoff::new(Duration::from_millis(100), Duration::from_secs(6));
        loop {
            let wait = match self.relay_once().await {
                Ok(n) if n as i64 == self.batch => Duration::ZERO,
                Ok(_) => {
                    backoff.reset();
                    self.idle
                }
                Err(err) => {
                    let wait = backoff.next_delay();
                    tracing::warn!(error = %err, retry_in = ?wait, "outbox relay pass failed (MongoDB)");
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {
                    // Let a burst of commits gather into one pass.
                    tokio::time::sleep(self.linger).await;
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(err) = self.relay_once().await {
            tracing::warn!(error = %err, "final outbox relay pass failed; documents stay for the next start");
        }
        if let Err(err) = self.release().await {
            tracing::warn!(error = %err, "giving up the outbox lease failed; it expires by itself");
        }
    }
}
