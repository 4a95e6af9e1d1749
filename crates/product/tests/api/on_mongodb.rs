//! What only the MongoDB backend has (`TEST_MONGODB_URL`; skipped without it unless
//! `SHOP_REQUIRE_TEST_SERVERS=1`): the original's document shape and documents the original
//! wrote, the outbox sequence and its relay (commit order, exactly once with two relays, a
//! fenced pass). A store outage is tested in `tests/mongo_outage.rs`, a process of its own.
#![allow(clippy::unwrap_used)]

use crate::helpers::{Backend, product, spawn_app_with};
use http::StatusCode;
use kit::bus::EventBus;
use kit::bus::log::EventLog;
use mongodb::bson::{Bson, DateTime, Document, doc, oid::ObjectId};
use product::store::{MongoProductStore, ProductStore};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use testkit::Stores;
use tokio::sync::Notify;

/// Fresh MongoDB stores, or `None` (skip) without a server.
async fn stores() -> Option<Stores> {
    Stores::new(Backend::Mongo).await
}

/// The product database of `stores`, through the driver.
async fn database(stores: &Stores) -> mongodb::Database {
    let options = stores.options("product");
    mongodb::Client::with_uri_str(&options.url).await.unwrap().database(&options.schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn documents_keep_the_originals_shape() {
    let Some(stores) = stores().await else { return };
    let app = spawn_app_with(stores, None).await;
    let created = app
        .create(product(
            "shape-1",
            json!({"price": 999.99, "tags": ["Apple"], "attributes": {"$where": "1", "a.b": {"c": [1, 2.5]}, "50%": null}}),
        ))
        .await;
    let db = database(app.stores()).await;
    let raw = db.collection::<Document>("products").find_one(doc! {"_id": "shape-1"}).await.unwrap().unwrap();
    assert_eq!(raw.get("_id"), Some(&Bson::String("shape-1".into())));
    assert_eq!(raw.get("price"), Some(&Bson::Double(999.99)), "price is a number, as the original stored it");
    assert_eq!(raw.get("stock_quantity"), Some(&Bson::Int64(3)));
    assert_eq!(raw.get("image_url"), Some(&Bson::Null));
    assert_eq!(raw.get_array("tags").unwrap(), &vec![Bson::String("apple".into())]);
    assert!(matches!(raw.get("created_at"), Some(Bson::DateTime(_))), "{raw}");
    assert!(matches!(raw.get("updated_at"), Some(Bson::DateTime(_))), "{raw}");
    let attributes = raw.get_document("attributes").unwrap();
    assert!(attributes.keys().all(|k| !k.starts_with('$') && !k.contains('.')), "keys are data: {attributes}");
    let fetched = app.get("/api/products/shape-1").await.assert_json(StatusCode::OK);
    assert_eq!(fetched, created, "attribute keys come back as given");
    assert_eq!(fetched["attributes"]["$where"], "1");

    // A document the original service wrote: an ObjectId, an integer price, no attributes.
    let oid = ObjectId::new();
    let at = DateTime::from_millis(1_700_000_000_000);
    db.collection::<Document>("products")
        .insert_one(doc! {
            "_id": oid, "name": "Legacy pen", "description": "Blue ink", "price": 2, "category": "Office",
            "tags": ["office"], "image_url": Bson::Null, "stock_quantity": 7, "created_at": at, "updated_at": at,
        })
        .await
        .unwrap();
    let legacy = app.get(&format!("/api/products/{}", oid.to_hex())).await.assert_json(StatusCode::OK);
    assert_eq!(legacy["name"], "Legacy pen");
    assert_eq!(legacy["price"], json!(2.0));
    assert_eq!(legacy["attributes"], json!({}));
    assert_eq!(legacy["created_at"], "2023-11-14T22:13:20Z");
    let listed = app.list(&format!("ids={}", oid.to_hex())).await;
    assert_eq!(listed["total"], 1);
    let renamed = app.patch(&format!("/api/products/{}", oid.to_hex()), json!({"name": "Old pen"})).await;
    assert_eq!(renamed.assert_json(StatusCode::OK)["name"], "Old pen");
    assert_eq!(app.search_ids("pen").await, [oid.to_hex()], "an update indexes it for search");
}

async fn connect(stores: &Stores) -> (MongoProductStore, Arc<Notify>) {
    let wake = Arc::new(Notify::new());
    (MongoProductStore::connect(&stores.options("product"), wake.clone()).await.unwrap(), wake)
}

fn seeded(id: String) -> product::domain::Product {
    let now = kit::db::Timestamp::now().get();
    product::domain::Product {
        name: format!("Product {id}"),
        id,
        description: String::new(),
        price: contracts::Money::from_cents(100),
        category: "Load".into(),
        tags: Vec::new(),
        image_url: None,
        stock_quantity: 0,
        attributes: serde_json::Map::new(),
        created_at: now,
        updated_at: now,
    }
}

/// Concurrent writers (conflicting on the sequence document and retried) with two relays
/// running: every event is published exactly once, each writer's in the order it committed
/// them, and the sequence counted exactly the committed events (aborted attempts gave their
/// numbers back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_publish_every_event_once_in_commit_order() {
    const WRITERS: usize = 4;
    const EACH: usize = 12;
    let Some(stores) = stores().await else { return };
    let log = stores.event_log().await;
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    let (store, wake) = connect(&stores).await;
    let (other, other_wake) = connect(&stores).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let relays = [
        tokio::spawn(store.relay(bus.clone(), wake).holder("replica-a").run(stop.clone())),
        tokio::spawn(other.relay(bus.clone(), other_wake).holder("replica-b").run(stop.clone())),
    ];
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    store.insert(&seeded(format!("w{w}-{i:02}"))).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let total = WRITERS * EACH;
    let arrived = testkit::eventually(Duration::from_secs(20), || async {
        log.read_all("product-updated").await.unwrap().len() >= total
    })
    .await;
    stop.cancel();
    for r in relays {
        r.await.unwrap();
    }
    assert!(arrived, "every event published");
    let keys: Vec<String> = log.read_all("product-updated").await.unwrap().into_iter().map(|m| m.key).collect();
    assert_eq!(keys.len(), total, "each exactly once: {keys:?}");
    for w in 0..WRITERS {
        let mine: Vec<&String> = keys.iter().filter(|k| k.starts_with(&format!("w{w}-"))).collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "writer {w} in commit order");
    }
    let db = database(&stores).await;
    let counter = db.collection::<Document>("outbox_seq").find_one(doc! {"_id": "outbox"}).await.unwrap().unwrap();
    assert_eq!(counter.get_i64("n").unwrap(), total as i64, "one number per committed event, none lost to aborts");
    assert_eq!(db.collection::<Document>("outbox").count_documents(doc! {}).await.unwrap(), 0, "outbox drained");
}

/// A bus whose publish takes `delay` (a slow broker).
struct SlowBus {
    inner: EventLog,
    delay: Duration,
}

#[async_trait::async_trait]
impl EventBus for SlowBus {
    async fn publish(&self, batch: &[kit::bus::OutgoingMessage]) -> Result<(), kit::bus::BusError> {
        tokio::time::sleep(self.delay).await;
        self.inner.publish(batch).await
    }
    async fn subscribe(
        &self,
        group: &str,
        topics: &[&str],
    ) -> Result<Box<dyn kit::bus::Subscription>, kit::bus::BusError> {
        self.inner.subscribe(group, topics).await
    }
}

/// A pass that outlives its lease neither publishes late nor deletes: the relay that took
/// the lease over publishes the batch, once. And a replica restarted under its stable name
/// takes its own lease back at once while another still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_fence_stalled_passes_and_come_back_to_restarted_replicas() {
    let Some(stores) = stores().await else { return };
    let log = stores.event_log().await;
    let (store, wake) = connect(&stores).await;
    store.insert(&seeded("once".into())).await.unwrap();
    let slow: Arc<dyn EventBus> = Arc::new(SlowBus { inner: log.clone(), delay: Duration::from_secs(2) });
    let stalled = store.relay(slow, wake.clone()).holder("stalled").lease(Duration::from_millis(800));
    let stalled_pass = tokio::spawn(async move { stalled.relay_once().await });
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let bus: Arc<dyn EventBus> = Arc::new(log.clone());
    let taker = store.relay(bus.clone(), wake.clone()).holder("taker");
    assert_eq!(taker.relay_once().await.unwrap(), 1, "the lease passed on and the batch with it");
    let stalled = stalled_pass.await.unwrap();
    assert!(stalled.is_err(), "the stalled pass gave up: {stalled:?}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(log.read_all("product-updated").await.unwrap().len(), 1, "published once, not again late");
    assert_eq!(taker.backlog().await.unwrap(), 0);

    // "taker" crashed holding the lease (30 s): it takes it back at once after a restart.
    store.insert(&seeded("after-restart".into())).await.unwrap();
    let other = store.relay(bus.clone(), wake.clone()).holder("another");
    assert_eq!(other.relay_once().await.unwrap(), 0, "another replica waits for the lease");
    let restarted = store.relay(bus, wake).holder("taker");
    assert_eq!(restarted.relay_once().await.unwrap(), 1, "the restarted replica publishes at once");
}
