//! Order persistence behind [`OrderStore`]. SQLite and PostgreSQL share one implementation
//! (the SQL is written once and instantiated per backend by a macro).
//!
//! Placing an order is ONE transaction: the order, its lines, its `order-placed` outbox row
//! and its idempotency key. A status change is one transaction too: the new status and the
//! event that announces it.

use crate::domain::{Order, OrderItem, Status};
use async_trait::async_trait;
use contracts::Money;
use contracts::events::{Envelope, OrderEvent, OrderEventKind, OrderStatusChanged};
use kit::bus::OutgoingMessage;
use kit::db::{Db, Timestamp};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

/// A store failure or a refused write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another request already used this idempotency key.
    #[error("idempotency key already used")]
    IdempotencyKeyTaken,
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

/// Order persistence.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Writes the order, its lines, its `order-placed` event and, when given, its idempotency
    /// key `(key, fingerprint)`, in one transaction.
    async fn insert(&self, order: &Order, idempotency: Option<(&str, &str)>) -> Result<(), StoreError>;
    /// One order with its lines.
    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError>;
    /// The fingerprint and order recorded under an idempotency key.
    async fn idempotent_order(&self, key: &str) -> Result<Option<(String, Uuid)>, StoreError>;
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
}

impl SqlOrderStore {
    /// A store on `db`; `published` is poked after each commit that wrote an outbox row.
    pub fn new(db: Db, published: Arc<Notify>) -> Self {
        SqlOrderStore { db, published }
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
    if conflict.contains("idempotency") {
        StoreError::IdempotencyKeyTaken
    } else if conflict.contains("order_number") {
        StoreError::NumberTaken
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
    ($module:ident, $Db:ty, begin = $begin:literal, lock_row = $lock_row:literal, one_statement = $one_statement:expr) => {
        mod $module {
            use super::*;
            use kit::outbox::$module as outbox;

            type Pool = sqlx::Pool<$Db>;
            type Conn = <$Db as sqlx::Database>::Connection;

            pub async fn insert(
                pool: &Pool,
                order: &Order,
                idempotency: Option<(&str, &str)>,
            ) -> Result<(), StoreError> {
                if let Some(sql) = $one_statement {
                    return insert_in_one_statement(pool, sql, order, idempotency).await;
                }
                let mut tx = pool.begin_with($begin).await?;
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
                .execute(&mut *tx)
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
                    .execute(&mut *tx)
                    .await?;
                }
                outbox::enqueue(&mut tx, &order_event(order, OrderEventKind::Placed)).await?;
                if let Some((key, fingerprint)) = idempotency {
                    sqlx::query(
                        "INSERT INTO idempotency_keys (key, fingerprint, order_id, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(key)
                    .bind(fingerprint)
                    .bind(order.id)
                    .bind(Timestamp::from(order.created_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
                }
                tx.commit().await.map_err(classify)
            }

            /// The order, its lines, its event and its key as one statement: a single round
            /// trip that is atomic by itself.
            async fn insert_in_one_statement(
                pool: &Pool,
                sql: &'static str,
                order: &Order,
                idempotency: Option<(&str, &str)>,
            ) -> Result<(), StoreError> {
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
                    .bind(idempotency.map(|(key, _)| key))
                    .bind(idempotency.map(|(_, fingerprint)| fingerprint))
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
                    concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1", $lock_row)
                } else {
                    concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1")
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

            pub async fn idempotent_order(pool: &Pool, key: &str) -> Result<Option<(String, Uuid)>, StoreError> {
                Ok(sqlx::query_as("SELECT fingerprint, order_id FROM idempotency_keys WHERE key = $1")
                    .bind(key)
                    .fetch_optional(pool)
                    .await?)
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
                                " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
                            ),
                            concat!(
                                "SELECT ",
                                item_columns!("i."),
                                " FROM order_items i JOIN (SELECT id FROM orders WHERE ",
                                $filter,
                                " ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3) o ON o.id = i.order_id
                                 ORDER BY i.order_id, i.position"
                            ),
                            concat!("SELECT COUNT(*) FROM orders WHERE ", $filter),
                        )
                    };
                }
                let (orders_sql, items_sql, count_sql) =
                    if email.is_some() { page_queries!("customer_email = $1") } else { page_queries!("$1 IS NULL") };
                let rows: Vec<OrderRow> =
                    sqlx::query_as(orders_sql).bind(email).bind(limit).bind(offset).fetch_all(pool).await?;
                let items: Vec<ItemRow> =
                    sqlx::query_as(items_sql).bind(email).bind(limit).bind(offset).fetch_all(pool).await?;
                let (total,): (i64,) = sqlx::query_as(count_sql).bind(email).fetch_one(pool).await?;
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
                let Some(mut order) = load(&mut tx, id, true).await? else { return Ok(StatusOutcome::NotFound) };
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
                    .execute(&mut *tx)
                    .await?;
                outbox::enqueue(&mut tx, &status_event(&order, old)).await?;
                tx.commit().await?;
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
        FROM jsonb_array_elements($9::jsonb) WITH ORDINALITY AS t(x, ord)),
    k AS (
        INSERT INTO idempotency_keys (key, fingerprint, order_id, created_at)
        SELECT $10::text, $11::text, $1, $7 WHERE $10::text IS NOT NULL)
    INSERT INTO outbox (topic, key, headers, payload) VALUES ($12, $13, $14, $15)";

order_backend!(pg, sqlx::Postgres, begin = "BEGIN", lock_row = " FOR UPDATE", one_statement = Some(PG_INSERT_ORDER));
order_backend!(lite, sqlx::Sqlite, begin = "BEGIN IMMEDIATE", lock_row = "", one_statement = None::<&'static str>);

#[async_trait]
impl OrderStore for SqlOrderStore {
    async fn insert(&self, order: &Order, idempotency: Option<(&str, &str)>) -> Result<(), StoreError> {
        kit::on_backend!(self, insert(order, idempotency))?;
        self.published.notify_one();
        Ok(())
    }

    async fn get(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        kit::on_backend!(self, get(id))
    }

    async fn idempotent_order(&self, key: &str) -> Result<Option<(String, Uuid)>, StoreError> {
        kit::on_backend!(self, idempotent_order(key))
    }

    async fn list(&self, email: Option<&str>, limit: i64, offset: i64) -> Result<(Vec<Order>, i64), StoreError> {
        kit::on_backend!(self, list(email, limit, offset))
    }

    async fn change_status(&self, id: Uuid, to: Status) -> Result<StatusOutcome, StoreError> {
        let outcome = kit::on_backend!(self, change_status(id, to))?;
        if matches!(outcome, StatusOutcome::Changed(_)) {
            self.published.notify_one();
        }
        Ok(outcome)
    }
}
