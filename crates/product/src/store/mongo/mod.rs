//! The MongoDB implementation of [`ProductStore`] (ADR 0012), chosen by `MONGODB_URL`.
//!
//! Collections of the database (`MONGODB_DATABASE`, default `product_db`):
//! - `products`: one document per product in the original's shape ([`document`]);
//! - `product_search`: our search index, one document per product ([`search`]);
//! - `outbox`, `outbox_seq`, `outbox_lease`: the transactional outbox and its relay
//!   ([`relay`]).
//!
//! Every write is one multi-document transaction: the product, its search document, the
//! outbox sequence number and the outbox document commit together or not at all. MongoDB
//! runs transactions only on a replica set (a single node is enough) or a sharded cluster,
//! so start-up refuses a standalone server rather than writing without them.
//!
//! Transient transaction errors (a write conflict with a concurrent writer, a primary
//! stepping down) retry the whole transaction a few times within a short budget; past it the
//! request fails with 503 and `Retry-After`, like a locked SQL store.

pub mod document;
pub mod relay;
pub mod search;

pub use relay::{MongoRelay, MongoRelayError};

use super::{ListFilter, Page, ProductStore, StoreError, event};
use crate::domain::{Product, ProductPatch};
use async_trait::async_trait;
use contracts::events::ProductChange;
use kit::Problem;
use kit::bus::{EventBus, OutgoingMessage};
use kit::db::DbOptions;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{ErrorKind, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT, WriteFailure};
use mongodb::options::{
    ClientOptions, Collation, CollationStrength, CollectionOptions, IndexOptions, ReadConcern, ReturnDocument,
    WriteConcern,
};
use mongodb::{Client, ClientSession, Collection, IndexModel};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The default database name (`MONGODB_DATABASE`), the original's.
pub const DEFAULT_DATABASE: &str = "product_db";

/// How long a request keeps retrying a transaction that conflicts with others before it
/// answers 503.
const TRANSACTION_BUDGET: Duration = Duration::from_secs(3);

/// Products written per transaction by [`ProductStore::insert_missing`]: MongoDB bounds a
/// transaction's time and size, so a large seed commits in slices.
const SEED_SLICE: usize = 200;

/// Whether `url` names a MongoDB deployment.
pub fn is_mongodb_url(url: &str) -> bool {
    url.starts_with("mongodb://") || url.starts_with("mongodb+srv://")
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// A start-up failure; the message names the variable at fault where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse (or its SRV record does not resolve).
    #[error("MONGODB_URL: {0}")]
    Url(String),
    /// The server did not answer.
    #[error("MONGODB_URL: cannot reach MongoDB at {target}: {reason}")]
    Unreachable {
        /// The deployment, without credentials.
        target: String,
        /// The driver's error.
        reason: String,
    },
    /// The server runs without transactions.
    #[error(
        "MONGODB_URL: MongoDB at {0} is a standalone server, which has no transactions; the product store \
         writes each change and its event in one transaction: run a replica set (one node is enough) or \
         connect to all of its members"
    )]
    NoTransactions(String),
    /// Creating collections or indexes failed.
    #[error("MongoDB at {target}: preparing database {database}: {reason}")]
    Prepare {
        /// The deployment, without credentials.
        target: String,
        /// The database.
        database: String,
        /// The driver's error.
        reason: String,
    },
}

/// The collections of one product database.
#[derive(Clone)]
pub(crate) struct Collections {
    pub(crate) client: Client,
    products: Collection<Document>,
    search: Collection<Document>,
    pub(crate) outbox: Collection<Document>,
    seq: Collection<Document>,
    pub(crate) lease: Collection<Document>,
    probe: Collection<Document>,
}

impl Collections {
    fn new(client: Client, database: &str) -> Self {
        let db = client.database(database);
        // The relay reads what a majority has: nothing a failover could still roll back.
        let majority = CollectionOptions::builder().read_concern(ReadConcern::majority()).build();
        Collections {
            products: db.collection("products"),
            search: db.collection("product_search"),
            outbox: db.collection_with_options("outbox", majority),
            seq: db.collection("outbox_seq"),
            lease: db.collection("outbox_lease"),
            probe: db.collection("ready_probe"),
            client,
        }
    }
}

/// The product store on MongoDB.
#[derive(Clone)]
pub struct MongoProductStore {
    collections: Collections,
    published: Arc<Notify>,
}

/// Case-insensitive comparison for the category filter (and its index): strength 2 ignores
/// case, not accents.
fn category_collation() -> Collation {
    Collation::builder().locale("en").strength(CollationStrength::Secondary).build()
}

/// The server's error code in `err`, wherever the driver put it (a command error, a write
/// error, the first of an `insert_many`'s).
fn code(err: &mongodb::error::Error) -> Option<i32> {
    match err.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .and_then(|w| w.first())
            .map(|w| w.code)
            .or_else(|| e.write_concern_error.as_ref().map(|w| w.code)),
        _ => None,
    }
}

const DUPLICATE_KEY: i32 = 11000;
const NAMESPACE_EXISTS: i32 = 48;

/// Whether a transaction failing with `err` may succeed if run again.
pub(crate) fn is_transient(err: &mongodb::error::Error) -> bool {
    err.contains_label(TRANSIENT_TRANSACTION_ERROR)
}

/// Whether `err` means MongoDB cannot serve right now but may soon (unreachable, no primary,
/// shutting down, out of disk, a write conflict that outlasted its retries): the answer is
/// 503 with `Retry-After`, the counterpart of `kit::db::is_unavailable`.
pub fn is_unavailable(err: &mongodb::error::Error) -> bool {
    if matches!(
        err.kind.as_ref(),
        ErrorKind::Io(_)
            | ErrorKind::ServerSelection { .. }
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::Shutdown
    ) {
        return true;
    }
    if err.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || err.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
        || err.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
        || err.contains_label(mongodb::error::SYSTEM_OVERLOADED_ERROR)
    {
        return true;
    }
    // HostUnreachable 6, HostNotFound 7, LockTimeout 24, MaxTimeMSExpired 50, NetworkTimeout
    // 89, ShutdownInProgress 91, WriteConflict 112, PrimarySteppedDown 189, ExceededTimeLimit
    // 262, SocketException 9001, NotWritablePrimary 10107, InterruptedAtShutdown 11600,
    // InterruptedDueToReplStateChange 11602, NotPrimaryNoSecondaryOk 13435,
    // NotPrimaryOrSecondary 13436, OutOfDiskSpace 14031.
    matches!(
        code(err),
        Some(6 | 7 | 24 | 50 | 89 | 91 | 112 | 189 | 262 | 9001 | 10107 | 11600 | 11602 | 13435 | 13436 | 14031)
    )
}

/// The problem a MongoDB failure answers: 503 with `Retry-After` when it may pass (and the
/// store is reported unready for a while, as for SQL), else 500.
pub fn problem(err: &mongodb::error::Error) -> Problem {
    if is_unavailable(err) {
        tracing::warn!(store = "product", error = %err, "store unavailable");
        kit::db::record_unavailable("product");
        Problem::unavailable("The product store is temporarily unavailable. Please retry shortly.", 1)
    } else {
        Problem::internal(&format_args!("product store (MongoDB): {err}"))
    }
}

/// What the body of a transaction decided.
enum Outcome<T> {
    /// Commit, then answer this.
    Commit(T),
    /// Nothing to write (say, no such product): abort, answer this.
    Abort(T),
}

/// Retries of one transaction: transient failures retry with a short growing pause until
/// [`TRANSACTION_BUDGET`] is spent.
struct Retry {
    started: Instant,
    attempt: u32,
}

impl Retry {
    fn new() -> Self {
        Retry { started: Instant::now(), attempt: 0 }
    }

    /// Waits before another attempt; `false` when the budget is spent.
    async fn again(&mut self) -> bool {
        self.attempt += 1;
        // 5, 10, 20, … ms, at most 200, with jitter so conflicting writers spread out.
        let base = (5u64 << self.attempt.min(6)).min(200);
        let pause = Duration::from_millis(base / 2 + rand_below(base / 2 + 1));
        if self.started.elapsed() + pause >= TRANSACTION_BUDGET {
            return false;
        }
        tokio::time::sleep(pause).await;
        true
    }
}

/// A cheap random number below `n` (jitter needs no quality).
fn rand_below(n: u64) -> u64 {
    u64::from(uuid::Uuid::new_v4().as_u128() as u32) % n.max(1)
}

/// Runs `$body` (an expression using `$session` that evaluates to
/// `Result<Outcome<T>, mongodb::error::Error>`) in a transaction, retrying transient
/// failures, and evaluates to `Result<T, StoreError>`. A macro rather than a closure: the
/// body borrows the session mutably across awaits, which closures cannot express simply.
macro_rules! transaction {
    ($store:expr, |$session:ident| $body:expr) => {{
        let mut retry = Retry::new();
        loop {
            let mut $session: ClientSession = match $store.collections.client.start_session().await {
                Ok(session) => session,
                Err(e) => break Err(StoreError::from(e)),
            };
            if let Err(e) = $session
                .start_transaction()
                .read_concern(ReadConcern::snapshot())
                .write_concern(WriteConcern::majority())
                .await
            {
                break Err(StoreError::from(e));
            }
            let outcome: Result<Outcome<_>, mongodb::error::Error> = async { $body }.await;
            let failed = match outcome {
                Ok(Outcome::Abort(value)) => {
                    let _ = $session.abort_transaction().await;
                    break Ok(value);
                }
                Ok(Outcome::Commit(value)) => match commit(&mut $session).await {
                    Ok(()) => break Ok(value),
                    Err(e) => e,
                },
                Err(e) => {
                    let _ = $session.abort_transaction().await;
                    e
                }
            };
            if code(&failed) == Some(DUPLICATE_KEY) {
                break Err(StoreError::Duplicate);
            }
            if !(is_transient(&failed) && retry.again().await) {
                break Err(StoreError::from(failed));
            }
        }
    }};
}

/// Commits, retrying a commit whose outcome is unknown (committing again is safe: the server
/// answers for the same transaction) a few times.
async fn commit(session: &mut ClientSession) -> Result<(), mongodb::error::Error> {
    let mut attempts = 0;
    loop {
        match session.commit_transaction().await {
            Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && attempts < 3 => attempts += 1,
            other => return other,
        }
    }
}

impl MongoProductStore {
    /// Connects to `options.url` (database `options.schema`), checks that the deployment has
    /// transactions, and prepares collections and indexes (idempotently: this is the
    /// migration). `published` is poked after each commit that wrote an outbox document.
    pub async fn connect(options: &DbOptions, published: Arc<Notify>) -> Result<Self, ConnectError> {
        let target = redact(&options.url);
        let mut client_options =
            ClientOptions::parse(&options.url).await.map_err(|e| ConnectError::Url(e.to_string()))?;
        client_options.app_name.get_or_insert_with(|| "product-service".into());
        client_options.max_pool_size.get_or_insert(options.max_connections.max(1));
        // A request waits at most this long for a server before answering 503 (the driver's
        // default, 30 s, outlasts any client's patience).
        client_options.server_selection_timeout.get_or_insert(Duration::from_secs(5));
        client_options.connect_timeout.get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(client_options).map_err(|e| ConnectError::Url(e.to_string()))?;
        let unreachable =
            |e: mongodb::error::Error| ConnectError::Unreachable { target: target.clone(), reason: e.to_string() };
        let hello = client.database("admin").run_command(doc! { "hello": 1 }).await.map_err(unreachable)?;
        // Transactions need a replica set member (`setName`) or a mongos (`msg: isdbgrid`).
        if !hello.contains_key("setName") && hello.get_str("msg").ok() != Some("isdbgrid") {
            return Err(ConnectError::NoTransactions(target));
        }
        let collections = Collections::new(client, &options.schema);
        prepare(&collections, &options.schema).await.map_err(|e| ConnectError::Prepare {
            target,
            database: options.schema.clone(),
            reason: e.to_string(),
        })?;
        Ok(MongoProductStore { collections, published })
    }

    /// The relay of this store's outbox; `wake` is the `published` notifier the store was
    /// made with.
    pub fn relay(&self, bus: Arc<dyn EventBus>, wake: Arc<Notify>) -> MongoRelay {
        MongoRelay::new(self.collections.clone(), bus, wake)
    }

    /// The client, to close it on shutdown.
    pub fn client(&self) -> &Client {
        &self.collections.client
    }

    /// Readiness: a write commits with majority acknowledgement, and no request met an
    /// unavailable store in the last few seconds.
    pub async fn can_write(&self) -> Result<(), String> {
        if let Some(ago) = kit::db::recently_unavailable("product") {
            return Err(format!("product store failed a write {}ms ago", ago.as_millis()));
        }
        self.collections
            .probe
            .update_one(doc! { "_id": 1 }, doc! { "$set": { "at": mongodb::bson::DateTime::now() } })
            .upsert(true)
            .write_concern(WriteConcern::majority())
            .await
            .map(|_| ())
            .map_err(|e| format!("product store (MongoDB) cannot write: {e}"))
    }

    /// Takes `count` outbox sequence numbers in the caller's transaction; the first. The
    /// counter document is what serialises writers (see [`relay`]).
    async fn next_seq(&self, session: &mut ClientSession, count: usize) -> Result<i64, mongodb::error::Error> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let counter = self
            .collections
            .seq
            .find_one_and_update(doc! { "_id": "outbox" }, doc! { "$inc": { "n": count } })
            .upsert(true)
            .return_document(ReturnDocument::After)
            .session(session)
            .await?;
        let last = match counter.as_ref().and_then(|c| c.get("n")) {
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Int32(n)) => i64::from(*n),
            _ => count,
        };
        Ok(last - count + 1)
    }

    /// Writes `messages` to the outbox in the caller's transaction.
    async fn enqueue(
        &self,
        session: &mut ClientSession,
        messages: &[OutgoingMessage],
    ) -> Result<(), mongodb::error::Error> {
        if messages.is_empty() {
            return Ok(());
        }
        let first = self.next_seq(session, messages.len()).await?;
        let docs: Vec<Document> =
            messages.iter().zip(first..).map(|(message, seq)| relay::outbox_document(seq, message)).collect();
        self.collections.outbox.insert_many(docs).session(session).await.map(|_| ())
    }

    fn search_document(product: &Product) -> Document {
        search::index_document(&product.id, &product.name, &product.category, &product.tags, &product.description)
    }

    /// Inserts `products` in one transaction: only the new ones when `skip_existing`, else all
    /// (a taken id fails with [`StoreError::Duplicate`]).
    async fn insert_slice(&self, products: &[Product], skip_existing: bool) -> Result<u64, StoreError> {
        transaction!(self, |session| {
            let fresh: Vec<&Product> = if skip_existing {
                let ids: Vec<&str> = products.iter().map(|p| p.id.as_str()).collect();
                let mut taken = std::collections::HashSet::new();
                let mut cursor = self
                    .collections
                    .products
                    .find(doc! { "_id": { "$in": &ids } })
                    .projection(doc! { "_id": 1 })
                    .session(&mut session)
                    .await?;
                while let Some(doc) = cursor.next(&mut session).await.transpose()? {
                    taken.extend(document::id_of(&doc));
                }
                products.iter().filter(|p| !taken.contains(&p.id)).collect()
            } else {
                products.iter().collect()
            };
            if fresh.is_empty() {
                return Ok(Outcome::Abort(0));
            }
            let docs: Vec<Document> = fresh.iter().map(|p| document::to_document(p)).collect();
            self.collections.products.insert_many(docs).session(&mut session).await?;
            let index: Vec<Document> = fresh.iter().map(|p| Self::search_document(p)).collect();
            self.collections.search.insert_many(index).session(&mut session).await?;
            let events: Vec<OutgoingMessage> =
                fresh.iter().map(|p| event(ProductChange::Created, &p.id, Some(p))).collect();
            self.enqueue(&mut session, &events).await?;
            Ok(Outcome::Commit(fresh.len() as u64))
        })
    }

    async fn find_page(
        &self,
        filter: Document,
        collation: Option<Collation>,
        page: Page,
    ) -> Result<Vec<Product>, StoreError> {
        let mut find = self
            .collections
            .products
            .find(filter)
            .sort(doc! { "created_at": 1, "_micros.created_at": 1, "_id": 1 })
            .skip(u64::try_from(page.offset()).unwrap_or(0))
            .limit(page.size);
        if let Some(collation) = collation {
            find = find.collation(collation);
        }
        let mut cursor = find.await?;
        let mut products = Vec::new();
        while cursor.advance().await? {
            let doc = Document::try_from(cursor.current()).map_err(|e| StoreError::Document(e.to_string()))?;
            products.push(document::from_document(&doc)?);
        }
        Ok(products)
    }
}

/// Creates the collections and indexes and the two one-document collections of the relay.
/// Safe to run again and from several replicas at once.
async fn prepare(c: &Collections, database: &str) -> Result<(), mongodb::error::Error> {
    let db = c.client.database(database);
    // Transactions on older servers cannot create collections: create them first.
    for name in ["products", "product_search", "outbox", "outbox_seq", "outbox_lease", "ready_probe"] {
        match db.create_collection(name).await {
            Err(e) if code(&e) != Some(NAMESPACE_EXISTS) => return Err(e),
            _ => {}
        }
    }
    c.products
        .create_indexes([
            IndexModel::builder().keys(doc! { "created_at": 1, "_micros.created_at": 1, "_id": 1 }).build(),
            IndexModel::builder()
                .keys(doc! { "category": 1 })
                .options(IndexOptions::builder().collation(category_collation()).build())
                .build(),
            IndexModel::builder().keys(doc! { "tags": 1 }).build(),
            IndexModel::builder().keys(doc! { "price": 1 }).build(),
        ])
        .await?;
    c.search.create_index(IndexModel::builder().keys(doc! { "all": 1 }).build()).await?;
    for (collection, initial) in [
        (&c.seq, doc! { "_id": "outbox", "n": 0_i64 }),
        (
            &c.lease,
            doc! { "_id": 1, "holder": "", "expires_at": mongodb::bson::DateTime::from_millis(0), "fence": 0_i64 },
        ),
    ] {
        let id = initial.get("_id").cloned().unwrap_or(Bson::Null);
        match collection.update_one(doc! { "_id": id }, doc! { "$setOnInsert": initial }).upsert(true).await {
            // Another replica created it at the same moment.
            Err(e) if code(&e) != Some(DUPLICATE_KEY) => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

#[async_trait]
impl ProductStore for MongoProductStore {
    async fn insert(&self, product: &Product) -> Result<(), StoreError> {
        self.insert_slice(std::slice::from_ref(product), false).await?;
        self.published.notify_one();
        Ok(())
    }

    async fn insert_missing(&self, products: &[Product]) -> Result<u64, StoreError> {
        let mut inserted = 0;
        for slice in products.chunks(SEED_SLICE) {
            inserted += self.insert_slice(slice, true).await?;
        }
        self.published.notify_one();
        Ok(inserted)
    }

    async fn get(&self, id: &str) -> Result<Option<Product>, StoreError> {
        let found = self.collections.products.find_one(document::id_filter(id)).await?;
        found.as_ref().map(document::from_document).transpose()
    }

    async fn list(&self, f: &ListFilter, page: Page) -> Result<(Vec<Product>, i64), StoreError> {
        let mut filter = match &f.ids {
            // Also as ObjectIds, for documents the original wrote.
            Some(ids) => document::ids_filter(ids),
            None => Document::new(),
        };
        if let Some(category) = &f.category {
            filter.insert("category", category);
        }
        if let Some(tag) = &f.tag {
            filter.insert("tags", tag);
        }
        let mut price = Document::new();
        if let Some(min) = f.min_price {
            price.insert("$gte", document::price(min));
        }
        if let Some(max) = f.max_price {
            price.insert("$lte", document::price(max));
        }
        if !price.is_empty() {
            filter.insert("price", price);
        }
        let collation = f.category.as_ref().map(|_| category_collation());
        let products = self.find_page(filter.clone(), collation.clone(), page).await?;
        // A first page with room to spare holds every match: no need to count them.
        if page.number == 1 && (products.len() as i64) < page.size {
            let total = products.len() as i64;
            return Ok((products, total));
        }
        let mut count = self.collections.products.count_documents(filter);
        if let Some(collation) = collation {
            count = count.collation(collation);
        }
        let total = count.await?;
        Ok((products, i64::try_from(total).unwrap_or(i64::MAX)))
    }

    async fn search(&self, terms: &[String], page: Page) -> Result<Vec<Product>, StoreError> {
        let Some(pipeline) = search::pipeline(terms, page.offset(), page.size) else { return Ok(Vec::new()) };
        let mut cursor = self.collections.search.aggregate(pipeline).await?;
        let mut ranked = Vec::new();
        while cursor.advance().await? {
            if let Ok(id) = cursor.current().get_str("_id") {
                ranked.push(id.to_owned());
            }
        }
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let mut cursor = self.collections.products.find(document::ids_filter(&ranked)).await?;
        let mut found = std::collections::HashMap::new();
        while cursor.advance().await? {
            let doc = Document::try_from(cursor.current()).map_err(|e| StoreError::Document(e.to_string()))?;
            let product = document::from_document(&doc)?;
            found.insert(product.id.clone(), product);
        }
        // In rank order; a product deleted between the two reads is simply left out.
        Ok(ranked.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn update(&self, id: &str, patch: &ProductPatch) -> Result<Option<Product>, StoreError> {
        let now = kit::db::Timestamp::now().get();
        let mut set = doc! {
            "updated_at": document::date(now),
            "_micros.updated_at": document::micros(now),
        };
        if let Some(name) = &patch.name {
            set.insert("name", name);
        }
        if let Some(description) = &patch.description {
            set.insert("description", description);
        }
        if let Some(price) = patch.price {
            set.insert("price", document::price(price));
        }
        if let Some(category) = &patch.category {
            set.insert("category", category);
        }
        if let Some(tags) = &patch.tags {
            set.insert("tags", tags.clone());
        }
        if let Some(image_url) = &patch.image_url {
            set.insert("image_url", image_url.as_deref().map_or(Bson::Null, Bson::from));
        }
        if let Some(stock) = patch.stock_quantity {
            set.insert("stock_quantity", stock);
        }
        if let Some(attributes) = &patch.attributes {
            set.insert("attributes", document::attributes(attributes));
        }
        let updated = transaction!(self, |session| {
            let after = self
                .collections
                .products
                .find_one_and_update(document::id_filter(id), doc! { "$set": set.clone() })
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await?;
            let Some(after) = after else { return Ok(Outcome::Abort(None)) };
            let product = match document::from_document(&after) {
                Ok(product) => product,
                Err(e) => return Ok(Outcome::Abort(Some(Err(e)))),
            };
            self.collections
                .search
                .replace_one(doc! { "_id": &product.id }, Self::search_document(&product))
                .upsert(true)
                .session(&mut session)
                .await?;
            self.enqueue(&mut session, &[event(ProductChange::Updated, &product.id, Some(&product))]).await?;
            Ok(Outcome::Commit(Some(Ok(product))))
        })?;
        let updated = updated.transpose()?;
        if updated.is_some() {
            self.published.notify_one();
        }
        Ok(updated)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = transaction!(self, |session| {
            let Some(gone) = self
                .collections
                .products
                .find_one_and_delete(document::id_filter(id))
                .projection(doc! { "_id": 1 })
                .session(&mut session)
                .await?
            else {
                return Ok(Outcome::Abort(false));
            };
            let key = document::id_of(&gone).unwrap_or_else(|| id.to_owned());
            self.collections.search.delete_one(doc! { "_id": &key }).session(&mut session).await?;
            self.enqueue(&mut session, &[event(ProductChange::Deleted, &key, None)]).await?;
            Ok(Outcome::Commit(true))
        })?;
        if deleted {
            self.published.notify_one();
        }
        Ok(deleted)
    }
}
