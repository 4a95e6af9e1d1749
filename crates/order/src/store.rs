//! Order persistence behind [`OrderStore`]. SQLite and PostgreSQL share one implementation
//! (the SQL is written once and instantiated per backend by a macro).
//!
//! Placing an order is ONE transaction: the order, its lines and its `order-placed` outbox
//! row. A status change is one transaction too: the new status and the event that announces
//! it. An Idempotency-Key is claimed (with the order's id) before stock is reserved; a void
//! order id is a tombstone row that no order can be written over.

use crate::domain::{Order, OrderItem, Status};
use async_trait::async_trait;
use contracts::Money;
use contracts::events::{Envelope, OrderEvent, OrderEventKind, OrderStatusChanged};
use kit::bus::OutgoingMessage;
use kit::db::{Db, Timestamp};
use kit::group_commit::GroupCommit;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

/// A store failure or a refused write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An order (or a void tombstone) with this id exists already.
    #[error("order id already used")]
    IdTaken,
    /// The random order number collided with an existing one.
    #[error("order number already used")]
    NumberTaken,
    /// The database failed.
    #[error("order store: {0}")]
    Database(#[from] sqlx::Error),
}

/// What a status change did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// Changed, and its event written.
    Changed(Order),
    /// Already in that status: nothing written.
    Unchanged(Order),
    /// Not allowed from the current status.
    Illegal(Status),
    /// No such order.
    NotFound,
}

/// What claiming an Idempotency-Key found.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyClaim {
    /// The key is this request's now, for the order id it gave.
    Claimed,
    /// An earlier request holds the key.
    Held {
        /// The earlier request's fingerprint.
        fingerprint: String,
        /// The id its order has (or will have).
        order_id: Uuid,
        /// When it claimed the key.
        claimed_at: OffsetDateTime,
    },
}

/// What voiding an order id did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voided {
    /// The id is void (now or before): no order with it can ever be written.
    Voided,
    /// An order with this id exists.
    Exists,
}

/// Order persistence.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Writes the order, its lines and its `order-placed` event in one transaction.
    /// [`StoreError::IdTaken`] when the id is taken (by an order, or void).
    async fn insert(&self, order: &Order) -> Result<(), StoreError>;
    /// One order with its lines (never a void one).
    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError>;
    /// Claims `key` for a request with `fingerprint` whose order will be `order_id`, or
    /// finds the request that holds it.
    async fn claim_key(&self, key: &str, fingerprint: &str, order_id: Uuid) -> Result<KeyClaim, StoreError>;
    /// Takes over a claim abandoned since `claimed_at` (its request died); whether it did.
    async fn take_over_key(&self, key: &str, claimed_at: OffsetDateTime) -> Result<bool, StoreError>;
    /// Gives up this request's claim on `key` (its order was not written), so a retry with
    /// the key starts afresh.
    async fn release_key(&self, key: &str, order_id: Uuid) -> Result<(), StoreError>;
    /// Makes `id` void unless an order holds it: from then on no order with it can be
    /// written (the inventory releases its stock hold after this).
    async fn void(&self, id: Uuid) -> Result<Voided, StoreError>;
    /// A page of orders, newest first, optionally of one customer, and the total.
    async fn list(&self, email: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Order>, i64), StoreError>;
    /// Moves an order to `to` if the state machine allows it, writing its event.
    async fn change_status(&self, id: Uuid, to: Status) -> Result<StatusOutcome, StoreError>;
}

/// The SQL implementation for both backends.
#[derive(Clone)]
pub struct SqlOrderStore {
    db: Db,
    published: Arc<Notify>,
    /// On SQLite, where new orders and status changes are committed together.
    writer: Option<GroupCommit>,
}

impl SqlOrderStore {
    /// A store on `db`; `published` is poked after each commit that wrote an outbox row.
    /// Must be called inside the runtime (on SQLite it starts the group-commit task).
    pub fn new(db: Db, published: Arc<Notify>) -> Self {
        let writer = match &db {
            Db::Sqlite(pool) => Some(GroupCommit::start(pool.clone())),
            Db::Postgres(_) => None,
        };
        SqlOrderStore { db, published, writer }
    }
}

type OrderRow = (Uuid, String, String, String, i64, String, OffsetDateTime, OffsetDateTime);
type ItemRow = (Uuid, Uuid, String, String, i64, i64, i64);

fn from_rows(row: OrderRow, items: Vec<OrderItem>) -> Order {
    let (id, order_number, customer_name, customer_email, total, status, created_at, updated_at) = row;
    Order {
        id,
        order_number,
        customer_name,
        customer_email,
        total_amount: Money::from_cents(total),
        // The CHECK constraint admits only known names.
        status: Status::parse(&status).unwrap_or(Status::Pending),
        items,
        created_at,
        updated_at,
    }
}

fn item_from_row((id, _order_id, product_id, product_name, quantity, unit, total): ItemRow) -> OrderItem {
    OrderItem {
        id,
        product_id,
        product_name,
        quantity,
        unit_price: Money::from_cents(unit),
        total_price: Money::from_cents(total),
    }
}

fn order_event(order: &Order, kind: OrderEventKind) -> OutgoingMessage {
    kit::outbox::message(&Envelope::new(OrderEvent {
        kind,
        order_id: order.id,
        order_number: order.order_number.clone(),
        customer_name: order.customer_name.clone(),
        customer_email: order.customer_email.clone(),
        total_amount: order.total_amount,
        status: order.status.as_str().to_owned(),
        items: order.event_items(),
    }))
}

fn status_event(order: &Order, old: Status) -> OutgoingMessage {
    if order.status == Status::Cancelled {
        return order_event(order, OrderEventKind::Cancelled);
    }
    kit::outbox::message(&Envelope::new(OrderStatusChanged {
        order_id: order.id,
        order_number: order.order_number.clone(),
        customer_name: order.customer_name.clone(),
        customer_email: order.customer_email.clone(),
        old_status: old.as_str().to_owned(),
        new_status: order.status.as_str().to_owned(),
        total_amount: order.total_amount,
        items: order.event_items(),
    }))
}

fn classify(err: sqlx::Error) -> StoreError {
    let conflict = match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            format!("{} {}", db.constraint().unwrap_or_default(), db.message())
        }
        _ => return StoreError::Database(err),
    };
    if conflict.contains("order_number") {
        StoreError::NumberTaken
    } else if conflict.contains("orders_pkey") || conflict.contains("orders.id") {
        StoreError::IdTaken
    } else {
        StoreError::Database(err)
    }
}

macro_rules! order_columns {
    () => {
        "id, order_number, customer_name, customer_email, total_cents, status, created_at, updated_at"
    };
}

macro_rules! item_columns {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "id, ",
            $prefix,
            "order_id, ",
            $prefix,
            "product_id, ",
            $prefix,
            "product_name, ",
            $prefix,
            "quantity, ",
            $prefix,
            "unit_cents, ",
            $prefix,
            "total_cents"
        )
    };
}

macro_rules! order_backend {
    ($module:ident, $Db:ty, begin = $begin:literal, lock_row = $lock_row:literal, one_statement = $one_statement:expr, by_ids = $by_ids:literal) => {
        mod $module {
            use super::*;
            use kit::outbox::$module as outbox;

            type Pool = sqlx::Pool<$Db>;
            type Conn = <$Db as sqlx::Database>::Connection;

            pub async fn insert(pool: &Pool, order: &Order) -> Result<(), StoreError> {
                if let Some(sql) = $one_statement {
                    return insert_in_one_statement(pool, sql, order).await;
                }
                let mut tx = pool.begin_with($begin).await?;
                insert_in(&mut tx, order).await?;
                tx.commit().await.map_err(classify)
            }

            /// Writes `order`, its lines and its event in the caller's transaction.
            pub async fn insert_in(conn: &mut Conn, order: &Order) -> Result<(), StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO orders (",
                    order_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(order.id)
                .bind(&order.order_number)
                .bind(&order.customer_name)
                .bind(&order.customer_email)
                .bind(order.total_amount.cents())
                .bind(order.status.as_str())
                .bind(Timestamp::from(order.created_at))
                .bind(Timestamp::from(order.updated_at))
                .execute(&mut *conn)
                .await
                .map_err(classify)?;
                for (position, item) in order.items.iter().enumerate() {
                    sqlx::query(concat!(
                        "INSERT INTO order_items (",
                        item_columns!(""),
                        ", position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(item.id)
                    .bind(order.id)
                    .bind(&item.product_id)
                    .bind(&item.product_name)
                    .bind(item.quantity)
                    .bind(item.unit_price.cents())
                    .bind(item.total_price.cents())
                    .bind(position as i64)
                    .execute(&mut *conn)
                    .await?;
                }
                outbox::enqueue(conn, &order_event(order, OrderEventKind::Placed)).await?;
                Ok(())
            }

            /// The order, its lines and its event as one statement: a single round trip
            /// that is atomic by itself.
            async fn insert_in_one_statement(pool: &Pool, sql: &'static str, order: &Order) -> Result<(), StoreError> {
                let items: Vec<serde_json::Value> = order
                    .items
                    .iter()
                    .map(|i| {
                        serde_json::json!({
                            "id": i.id, "product_id": i.product_id, "product_name": i.product_name,
                            "quantity": i.quantity, "unit_cents": i.unit_price.cents(), "total_cents": i.total_price.cents(),
                        })
                    })
                    .collect();
                let event = order_event(order, OrderEventKind::Placed);
                sqlx::query(sql)
                    .bind(order.id)
                    .bind(&order.order_number)
                    .bind(&order.customer_name)
                    .bind(&order.customer_email)
                    .bind(order.total_amount.cents())
                    .bind(order.status.as_str())
                    .bind(Timestamp::from(order.created_at))
                    .bind(Timestamp::from(order.updated_at))
                    .bind(sqlx::types::Json(items))
                    .bind(&event.topic)
                    .bind(&event.key)
                    .bind(serde_json::to_string(&event.headers).unwrap_or_else(|_| "[]".into()))
                    .bind(&event.payload)
                    .execute(pool)
                    .await
                    .map_err(classify)?;
                Ok(())
            }

            async fn load(conn: &mut Conn, id: Uuid, lock: bool) -> Result<Option<Order>, StoreError> {
                let sql = if lock {
                    concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1 AND NOT void", $lock_row)
                } else {
                    concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1 AND NOT void")
                };
                let row: Option<OrderRow> = sqlx::query_as(sql).bind(id).fetch_optional(&mut *conn).await?;
                let Some(row) = row else { return Ok(None) };
                let items: Vec<ItemRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    item_columns!(""),
                    " FROM order_items WHERE order_id = $1 ORDER BY position"
                ))
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                Ok(Some(from_rows(row, items.into_iter().map(item_from_row).collect())))
            }

            pub async fn get(pool: &Pool, id: Uuid) -> Result<Option<Order>, StoreError> {
                let mut conn = pool.acquire().await?;
                load(&mut conn, id, false).await
            }

            pub async fn claim_key(pool: &Pool, key: &str, fingerprint: &str, order_id: Uuid) -> Result<KeyClaim, StoreError> {
                match claim_key_in(&mut *pool.acquire().await?, key, fingerprint, order_id).await? {
                    Some(claim) => Ok(claim),
                    // Released between the two statements: try once more.
                    None => Box::pin(claim_key(pool, key, fingerprint, order_id)).await,
                }
            }

            /// Claims `key` for `order_id`, or says who holds it; `None` when the holder gave
            /// it up between the insert and the read (outside a transaction).
            pub async fn claim_key_in(conn: &mut Conn, key: &str, fingerprint: &str, order_id: Uuid) -> Result<Option<KeyClaim>, StoreError> {
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_claims (key, fingerprint, order_id, claimed_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(fingerprint)
                .bind(order_id)
                .bind(Timestamp::now())
                .execute(&mut *conn)
                .await?;
                if claimed.rows_affected() == 1 {
                    return Ok(Some(KeyClaim::Claimed));
                }
                let held: Option<(String, Uuid, OffsetDateTime)> =
                    sqlx::query_as("SELECT fingerprint, order_id, claimed_at FROM idempotency_claims WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *conn)
                        .await?;
                Ok(held.map(|(fingerprint, order_id, claimed_at)| KeyClaim::Held { fingerprint, order_id, claimed_at }))
            }

            pub async fn take_over_key(pool: &Pool, key: &str, claimed_at: OffsetDateTime) -> Result<bool, StoreError> {
                let taken = sqlx::query("UPDATE idempotency_claims SET claimed_at = $3 WHERE key = $1 AND claimed_at = $2")
                    .bind(key)
                    .bind(Timestamp::from(claimed_at))
                    .bind(Timestamp::now())
                    .execute(pool)
                    .await?;
                Ok(taken.rows_affected() == 1)
            }

            pub async fn release_key(pool: &Pool, key: &str, order_id: Uuid) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM idempotency_claims WHERE key = $1 AND order_id = $2")
                    .bind(key)
                    .bind(order_id)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub async fn void(pool: &Pool, id: Uuid) -> Result<Voided, StoreError> {
                // The tombstone takes the id through the primary key, so it and a concurrent
                // insert of the order are serialised by the index: exactly one of them wins.
                let now = Timestamp::now();
                let inserted = sqlx::query(concat!(
                    "INSERT INTO orders (",
                    order_columns!(),
                    ", void) VALUES ($1, $2, '', '', 0, 'CANCELLED', $3, $3, TRUE) ON CONFLICT (id) DO NOTHING"
                ))
                .bind(id)
                .bind(format!("VOID-{}", id.simple()))
                .bind(now)
                .execute(pool)
                .await?;
                if inserted.rows_affected() == 1 {
                    return Ok(Voided::Voided);
                }
                let (void,): (bool,) = sqlx::query_as("SELECT void FROM orders WHERE id = $1").bind(id).fetch_one(pool).await?;
                Ok(if void { Voided::Voided } else { Voided::Exists })
            }

            pub async fn list(
                pool: &Pool,
                email: Option<&str>,
                limit: i64,
                offset: i64,
            ) -> Result<(Vec<Order>, i64), StoreError> {
                // Two statement sets rather than `($1 IS NULL OR email = $1)`, which a generic
                // plan cannot serve from the email index.
                macro_rules! page_queries {
                    ($filter:literal) => {
                        (
                            concat!(
                                "SELECT ",
                                order_columns!(),
                                " FROM orders WHERE ",
                                $filter,
                                " AND NOT void ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
                            ),
                            concat!("SELECT COUNT(*) FROM orders WHERE ", $filter, " AND NOT void"),
                        )
                    };
                }
                let (orders_sql, count_sql) =
                    if email.is_some() { page_queries!("customer_email = $1") } else { page_queries!("$1 IS NULL") };
                let rows: Vec<OrderRow> =
                    sqlx::query_as(orders_sql).bind(email).bind(limit).bind(offset).fetch_all(pool).await?;
                // The lines of exactly the orders on the page, by their ids: a second paged query
                // would see another page if an order were inserted in between.
                let ids: Vec<Uuid> = rows.iter().map(|r| r.0).collect();
                let items: Vec<ItemRow> = if ids.is_empty() {
                    Vec::new()
                } else {
                    sqlx::query_as(concat!(
                        "SELECT ",
                        item_columns!(""),
                        " FROM order_items WHERE order_id IN ",
                        $by_ids,
                        " ORDER BY order_id, position"
                    ))
                    .bind(sqlx::types::Json(&ids))
                    .fetch_all(pool)
                    .await?
                };
                let total = if offset == 0 && (rows.len() as i64) < limit {
                    rows.len() as i64
                } else {
                    let (total,): (i64,) = sqlx::query_as(count_sql).bind(email).fetch_one(pool).await?;
                    total
                };
                let mut items_by_order: std::collections::HashMap<Uuid, Vec<OrderItem>> =
                    std::collections::HashMap::new();
                for row in items {
                    items_by_order.entry(row.1).or_default().push(item_from_row(row));
                }
                let orders = rows
                    .into_iter()
                    .map(|row| {
                        let items = items_by_order.remove(&row.0).unwrap_or_default();
                        from_rows(row, items)
                    })
                    .collect();
                Ok((orders, total))
            }

            pub async fn change_status(pool: &Pool, id: Uuid, to: Status) -> Result<StatusOutcome, StoreError> {
                let mut tx = pool.begin_with($begin).await?;
                let outcome = change_status_in(&mut tx, id, to).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            /// Moves order `id` to `to` with its event, in the caller's transaction.
            pub async fn change_status_in(conn: &mut Conn, id: Uuid, to: Status) -> Result<StatusOutcome, StoreError> {
                let Some(mut order) = load(conn, id, true).await? else { return Ok(StatusOutcome::NotFound) };
                let old = order.status;
                if old == to {
                    return Ok(StatusOutcome::Unchanged(order));
                }
                if !old.can_become(to) {
                    return Ok(StatusOutcome::Illegal(old));
                }
                order.status = to;
                order.updated_at = Timestamp::now().get();
                // The row is locked (FOR UPDATE / SQLite's write lock): the guard never misses.
                sqlx::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4")
                    .bind(id)
                    .bind(to.as_str())
                    .bind(Timestamp::from(order.updated_at))
                    .bind(old.as_str())
                    .execute(&mut *conn)
                    .await?;
                outbox::enqueue(conn, &status_event(&order, old)).await?;
                Ok(StatusOutcome::Changed(order))
            }
        }
    };
}

/// PostgreSQL writes a whole order in one statement (data-modifying CTEs), saving four round
/// trips on the hottest path; SQLite, in process, uses a transaction.
const PG_INSERT_ORDER: &str = "WITH o AS (
        INSERT INTO orders (id, order_number, customer_name, customer_email, total_cents, status, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)),
    i AS (
        INSERT INTO order_items (id, order_id, product_id, product_name, quantity, unit_cents, total_cents, position)
        SELECT (x->>'id')::uuid, $1, x->>'product_id', x->>'product_name', (x->>'quantity')::bigint,
               (x->>'unit_cents')::bigint, (x->>'total_cents')::bigint, t.ord - 1
        FROM jsonb_array_elements($9::jsonb) WITH ORDINALITY AS t(x, ord))
    INSERT INTO outbox (topic, key, headers, payload) VALUES ($10, $11, $12, $13)";

order_backend!(
    pg,
    sqlx::Postgres,
    begin = "BEGIN",
    lock_row = " FOR UPDATE",
    one_statement = Some(PG_INSERT_ORDER),
    by_ids = "(SELECT (jsonb_array_elements_text($1::jsonb))::uuid)"
);
order_backend!(
    lite,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    lock_row = "",
    one_statement = None::<&'static str>,
    // sqlx stores a UUID on SQLite as its 16 bytes; the JSON array carries them as text.
    by_ids = "(SELECT unhex(replace(value, '-', '')) FROM json_each($1))"
);

#[async_trait]
impl OrderStore for SqlOrderStore {
    async fn insert(&self, order: &Order) -> Result<(), StoreError> {
        match (&self.db, &self.writer) {
            (Db::Sqlite(_), Some(writer)) => {
                let order = order.clone();
                writer.run(move |conn| Box::pin(async move { lite::insert_in(conn, &order).await })).await?
            }
            _ => kit::on_backend!(self, insert(order))?,
        }
        self.published.notify_one();
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        kit::on_backend!(self, get(id))
    }

    async fn claim_key(&self, key: &str, fingerprint: &str, order_id: Uuid) -> Result<KeyClaim, StoreError> {
        match (&self.db, &self.writer) {
            (Db::Sqlite(_), Some(writer)) => {
                let (key, fingerprint) = (key.to_owned(), fingerprint.to_owned());
                // In one transaction the claim cannot vanish between its insert and its read.
                let claim = writer
                    .run(move |conn| {
                        Box::pin(async move { lite::claim_key_in(conn, &key, &fingerprint, order_id).await })
                    })
                    .await?;
                claim.ok_or(StoreError::Database(sqlx::Error::RowNotFound))
            }
            _ => kit::on_backend!(self, claim_key(key, fingerprint, order_id)),
        }
    }

    async fn take_over_key(&self, key: &str, claimed_at: OffsetDateTime) -> Result<bool, StoreError> {
        kit::on_backend!(self, take_over_key(key, claimed_at))
    }

    async fn release_key(&self, key: &str, order_id: Uuid) -> Result<(), StoreError> {
        kit::on_backend!(self, release_key(key, order_id))
    }

    async fn void(&self, id: Uuid) -> Result<Voided, StoreError> {
        kit::on_backend!(self, void(id))
    }

    async fn list(&self, email: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Order>, i64), StoreError> {
        kit::on_backend!(self, list(email, limit, offset))
    }

    async fn change_status(&self, id: Uuid, to: Status) -> Result<StatusOutcome, StoreError> {
        let outcome = match (&self.db, &self.writer) {
            (Db::Sqlite(_), Some(writer)) => {
                writer.run(move |conn| Box::pin(async move { lite::change_status_in(conn, id, to).await })).await?
            }
            _ => kit::on_backend!(self, change_status(id, to))?,
        };
        if matches!(outcome, StatusOutcome::Changed(_)) {
            self.published.notify_one();
        }
        Ok(outcome)
    }
}
