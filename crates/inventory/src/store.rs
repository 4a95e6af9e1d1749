//! Stock and reservation persistence behind [`InventoryStore`]. SQLite and PostgreSQL share
//! one implementation: the SQL is written once and instantiated per backend by a macro.
//!
//! Every stock change is a single conditional `UPDATE` (no read-modify-write), so concurrent
//! orders can never oversell: the row lock (PostgreSQL) or the single writer (SQLite)
//! serialises them, and the `WHERE quantity - reserved_qty >= n` guard decides.

use crate::domain::{Item, ItemPatch, MAX_QUANTITY, NewItem, StockChange, Transition, is_low};
use async_trait::async_trait;
use contracts::api::{Reservation, ReservationItem, ReservationRequest};
use contracts::events::{Envelope, InventoryLow};
use kit::db::{Db, Timestamp};
use kit::group_commit::GroupCommit;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;
use uuid::Uuid;

/// A store failure or a refused change.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No stock record for the product.
    #[error("Inventory for product {} not found", kit::input::shorten(.0))]
    NotFound(String),
    /// A record exists already.
    #[error("Inventory for product {} already exists", kit::input::shorten(.0))]
    Exists(String),
    /// Not enough available units.
    #[error(
        "Insufficient stock for product: {} ({}). Available: {available}, Requested: {requested}",
        kit::input::shorten(name),
        kit::input::shorten(product_id)
    )]
    Insufficient {
        /// Product id.
        product_id: String,
        /// Its name, or the id when there is no record.
        name: String,
        /// Units available.
        available: i64,
        /// Units asked for.
        requested: i64,
    },
    /// The new on-hand quantity would be below what is reserved.
    #[error("Quantity cannot be below the {reserved} units reserved for open orders")]
    BelowReserved {
        /// Units reserved.
        reserved: i64,
    },
    /// A restock beyond the largest stock level.
    #[error("Restocking would exceed the largest stock level of {max} units")]
    TooMuchStock {
        /// The ceiling.
        max: i64,
    },
    /// Deleting a record that still holds reservations.
    #[error("Inventory for product {} holds reservations for open orders", kit::input::shorten(.0))]
    HasReservations(String),
    /// The database failed.
    #[error("inventory store: {0}")]
    Database(#[from] sqlx::Error),
}

/// What a reservation transition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// Applied now.
    Applied,
    /// The reservation is missing or not in a state the transition applies to — including
    /// because this very transition happened before (a redelivered event).
    NotApplicable,
}

/// Stock and reservation persistence.
#[async_trait]
pub trait InventoryStore: Send + Sync + 'static {
    /// Adds a record.
    async fn add(&self, item: &NewItem) -> Result<Item, StoreError>;
    /// Adds records whose product ids are free; how many were new.
    async fn insert_missing(&self, items: &[NewItem]) -> Result<u64, StoreError>;
    /// A page of records by product id, and the total.
    async fn list(&self, limit: i64, offset: i64) -> Result<(Vec<Item>, i64), StoreError>;
    /// One record.
    async fn get(&self, product_id: &str) -> Result<Option<Item>, StoreError>;
    /// The records of these products (those that have one), by product id.
    async fn get_many(&self, product_ids: &[String]) -> Result<Vec<Item>, StoreError>;
    /// Reduces or restocks atomically.
    async fn change_stock(&self, product_id: &str, change: StockChange) -> Result<Item, StoreError>;
    /// Renames, sets the quantity or the threshold.
    async fn update(&self, product_id: &str, patch: &ItemPatch) -> Result<Item, StoreError>;
    /// Deletes a record that holds no reservations.
    async fn delete(&self, product_id: &str) -> Result<(), StoreError>;
    /// Holds every item or none; returns the reservation and whether it is new (an existing
    /// reservation for the same order is returned unchanged).
    async fn reserve(
        &self,
        request: &ReservationRequest,
        expires_at: OffsetDateTime,
    ) -> Result<(Reservation, bool), StoreError>;
    /// One reservation.
    async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>, StoreError>;
    /// Confirms, releases or commits a reservation. Each moves the status forward only
    /// (PENDING → CONFIRMED → RELEASED/COMMITTED), so applying one twice changes nothing:
    /// redelivered events are harmless without a de-duplication table.
    async fn transition(&self, order_id: Uuid, transition: Transition) -> Result<TransitionOutcome, StoreError>;
    /// Ships an order whose stock is not held (its hold was released, or never made):
    /// decrements stock directly, once. `items` are the order's lines, used when no
    /// reservation was ever recorded.
    async fn ship_unheld(&self, order_id: Uuid, items: &[ReservationItem]) -> Result<TransitionOutcome, StoreError>;
    /// Pending reservations past their expiry, oldest first.
    async fn expired(&self, now: OffsetDateTime, limit: i64) -> Result<Vec<Uuid>, StoreError>;
}

/// The SQL implementation for both backends.
#[derive(Clone)]
pub struct SqlInventoryStore {
    db: Db,
    published: Arc<Notify>,
    /// On SQLite, where reservations and hold changes are committed together.
    writer: Option<GroupCommit>,
}

impl SqlInventoryStore {
    /// A store on `db`; `published` is poked after each commit that wrote an outbox row.
    /// Must be called inside the runtime (on SQLite it starts the group-commit task).
    pub fn new(db: Db, published: Arc<Notify>) -> Self {
        let writer = match &db {
            Db::Sqlite(pool) => Some(GroupCommit::start(pool.clone())),
            Db::Postgres(_) => None,
        };
        SqlInventoryStore { db, published, writer }
    }
}

type Row = (Uuid, String, String, i64, i64, i64, OffsetDateTime, OffsetDateTime);

fn from_row(
    (id, product_id, product_name, quantity, reserved_qty, low_stock_threshold, created_at, updated_at): Row,
) -> Item {
    Item {
        id,
        product_id,
        product_name,
        quantity,
        reserved_qty,
        available_qty: quantity - reserved_qty,
        low_stock_threshold,
        created_at,
        updated_at,
    }
}

/// A new reservation as the reply shows it.
fn pending(request: &ReservationRequest, expires_at: Timestamp) -> Reservation {
    Reservation {
        order_id: request.order_id,
        status: "PENDING".into(),
        items: request.items.clone(),
        expires_at: expires_at.get(),
    }
}

fn low_stock_event(product_id: &str, product_name: &str, available: i64, threshold: i64) -> kit::bus::OutgoingMessage {
    kit::outbox::message(&Envelope::new(InventoryLow {
        product_id: product_id.to_owned(),
        product_name: product_name.to_owned(),
        available_qty: available,
        low_stock_threshold: threshold,
    }))
}

macro_rules! columns {
    () => {
        "id, product_id, product_name, quantity, reserved_qty, low_stock_threshold, created_at, updated_at"
    };
}

macro_rules! inventory_backend {
    ($module:ident, $Db:ty, begin = $begin:literal, lock_row = $lock_row:literal, expired = $expired:literal, one_line_reserve = $one_line_reserve:expr, ids_from_json = $ids_from_json:literal) => {
        mod $module {
            use super::*;
            use kit::outbox::$module as outbox;

            type Pool = sqlx::Pool<$Db>;
            type Conn = <$Db as sqlx::Database>::Connection;

            /// Emits `inventory-low` (in the caller's transaction) when a change left the item
            /// with `available` units below its `threshold` and its alert has not fired since
            /// stock last reached the threshold; whether it did. The flag is set by the same
            /// conditional `UPDATE` that decides, so two concurrent changes alert once.
            async fn alert_if_low(conn: &mut Conn, product_id: &str, available: i64, threshold: i64) -> Result<bool, sqlx::Error> {
                if !is_low(available, threshold) {
                    return Ok(false);
                }
                let marked: Option<(String, i64, i64)> = sqlx::query_as(
                    "UPDATE inventory SET low_stock_alerted = TRUE
                     WHERE product_id = $1 AND NOT low_stock_alerted AND quantity - reserved_qty < low_stock_threshold
                     RETURNING product_name, quantity - reserved_qty, low_stock_threshold",
                )
                .bind(product_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some((name, available, threshold)) = marked else { return Ok(false) };
                outbox::enqueue(conn, &low_stock_event(product_id, &name, available, threshold)).await?;
                Ok(true)
            }

            /// [`alert_if_low`] for a change that left `after`.
            async fn after_change(conn: &mut Conn, after: &Item) -> Result<bool, sqlx::Error> {
                alert_if_low(conn, &after.product_id, after.available_qty, after.low_stock_threshold).await
            }

            /// Why a reservation line cannot be held; a product without a stock record is
            /// simply out of stock.
            async fn unavailable(conn: &mut Conn, item: &ReservationItem) -> Result<StoreError, sqlx::Error> {
                Ok(shortage(conn, &item.product_id, item.quantity).await?.unwrap_or_else(|| StoreError::Insufficient {
                    product_id: item.product_id.clone(),
                    name: item.product_id.clone(),
                    available: 0,
                    requested: item.quantity,
                }))
            }

            /// Why `requested` units cannot be taken; `None` when there is no record at all.
            async fn shortage(conn: &mut Conn, product_id: &str, requested: i64) -> Result<Option<StoreError>, sqlx::Error> {
                let row: Option<(String, i64)> =
                    sqlx::query_as("SELECT product_name, quantity - reserved_qty FROM inventory WHERE product_id = $1")
                        .bind(product_id)
                        .fetch_optional(conn)
                        .await?;
                Ok(row.map(|(name, available)| StoreError::Insufficient {
                    product_id: product_id.to_owned(),
                    name,
                    available,
                    requested,
                }))
            }

            pub async fn add(pool: &Pool, items: &[NewItem], skip_existing: bool) -> Result<Vec<Item>, StoreError> {
                let mut tx = pool.begin_with($begin).await?;
                let now = Timestamp::now();
                let mut added = Vec::with_capacity(items.len());
                for item in items {
                    let sql = if skip_existing {
                        concat!("INSERT INTO inventory (", columns!(), ") VALUES ($1, $2, $3, $4, 0, $5, $6, $6)
                                 ON CONFLICT (product_id) DO NOTHING RETURNING ", columns!())
                    } else {
                        concat!("INSERT INTO inventory (", columns!(), ") VALUES ($1, $2, $3, $4, 0, $5, $6, $6) RETURNING ", columns!())
                    };
                    let row: Option<Row> = sqlx::query_as(sql)
                        .bind(Uuid::now_v7())
                        .bind(&item.product_id)
                        .bind(&item.product_name)
                        .bind(item.quantity)
                        .bind(item.low_stock_threshold)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(|e| {
                            if kit::db::is_unique_violation(&e) { StoreError::Exists(item.product_id.clone()) } else { e.into() }
                        })?;
                    added.extend(row.map(from_row));
                }
                tx.commit().await?;
                Ok(added)
            }

            pub async fn list(pool: &Pool, limit: i64, offset: i64) -> Result<(Vec<Item>, i64), StoreError> {
                let rows: Vec<Row> =
                    sqlx::query_as(concat!("SELECT ", columns!(), " FROM inventory ORDER BY product_id LIMIT $1 OFFSET $2"))
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(pool)
                        .await?;
                let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inventory").fetch_one(pool).await?;
                Ok((rows.into_iter().map(from_row).collect(), total))
            }

            pub async fn get_many(pool: &Pool, product_ids: &[String]) -> Result<Vec<Item>, StoreError> {
                let rows: Vec<Row> = sqlx::query_as(concat!(
                    "SELECT ", columns!(), " FROM inventory WHERE product_id IN ", $ids_from_json, " ORDER BY product_id"
                ))
                .bind(sqlx::types::Json(product_ids))
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(from_row).collect())
            }

            pub async fn get(pool: &Pool, product_id: &str) -> Result<Option<Item>, StoreError> {
                let row: Option<Row> = sqlx::query_as(concat!("SELECT ", columns!(), " FROM inventory WHERE product_id = $1"))
                    .bind(product_id)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(from_row))
            }

            pub async fn change_stock(pool: &Pool, product_id: &str, change: StockChange) -> Result<(Item, bool), StoreError> {
                let mut tx = pool.begin_with($begin).await?;
                let (sql, delta) = match change {
                    StockChange::Reduce(q) => (
                        concat!("UPDATE inventory SET quantity = quantity - $2, updated_at = $3
                                 WHERE product_id = $1 AND quantity - reserved_qty >= $2 RETURNING ", columns!()),
                        -q,
                    ),
                    // Stock back at the threshold re-arms the low-stock alert.
                    StockChange::Restock(q) => (
                        concat!("UPDATE inventory SET quantity = quantity + $2, updated_at = $3,
                                   low_stock_alerted = low_stock_alerted AND quantity + $2 - reserved_qty < low_stock_threshold
                                 WHERE product_id = $1 AND quantity + $2 <= $4 RETURNING ", columns!()),
                        q,
                    ),
                };
                let mut query = sqlx::query_as(sql).bind(product_id).bind(delta.abs()).bind(Timestamp::now());
                if delta > 0 {
                    query = query.bind(MAX_QUANTITY);
                }
                let row: Option<Row> = query.fetch_optional(&mut *tx).await?;
                let Some(item) = row.map(from_row) else {
                    // The row exists but its guard failed: too little for a reduce, too much for a restock.
                    return Err(match shortage(&mut tx, product_id, delta.abs()).await? {
                        Some(err) if delta < 0 => err,
                        Some(_) => StoreError::TooMuchStock { max: MAX_QUANTITY },
                        None => StoreError::NotFound(product_id.to_owned()),
                    });
                };
                let alerted = after_change(&mut tx, &item).await?;
                tx.commit().await?;
                Ok((item, alerted))
            }

            pub async fn update(pool: &Pool, product_id: &str, patch: &ItemPatch) -> Result<(Item, bool), StoreError> {
                let mut tx = pool.begin_with($begin).await?;
                let current: Option<Row> = sqlx::query_as(concat!("SELECT ", columns!(), " FROM inventory WHERE product_id = $1", $lock_row))
                    .bind(product_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(current) = current.map(from_row) else {
                    return Err(StoreError::NotFound(product_id.to_owned()));
                };
                if let Some(q) = patch.quantity && q < current.reserved_qty {
                    return Err(StoreError::BelowReserved { reserved: current.reserved_qty });
                }
                let row: Row = sqlx::query_as(concat!(
                    "UPDATE inventory SET product_name = COALESCE($2, product_name), quantity = COALESCE($3, quantity),
                       low_stock_threshold = COALESCE($4, low_stock_threshold), updated_at = $5,
                       low_stock_alerted = low_stock_alerted
                         AND COALESCE($3, quantity) - reserved_qty < COALESCE($4, low_stock_threshold)
                     WHERE product_id = $1 RETURNING ", columns!()
                ))
                .bind(product_id)
                .bind(&patch.product_name)
                .bind(patch.quantity)
                .bind(patch.low_stock_threshold)
                .bind(Timestamp::now())
                .fetch_one(&mut *tx)
                .await?;
                let item = from_row(row);
                let alerted = after_change(&mut tx, &item).await?;
                tx.commit().await?;
                Ok((item, alerted))
            }

            pub async fn delete(pool: &Pool, product_id: &str) -> Result<(), StoreError> {
                let deleted = sqlx::query("DELETE FROM inventory WHERE product_id = $1 AND reserved_qty = 0")
                    .bind(product_id)
                    .execute(pool)
                    .await?;
                if deleted.rows_affected() == 1 {
                    return Ok(());
                }
                match get(pool, product_id).await? {
                    None => Err(StoreError::NotFound(product_id.to_owned())),
                    Some(_) => Err(StoreError::HasReservations(product_id.to_owned())),
                }
            }

            pub async fn reserve(
                pool: &Pool,
                request: &ReservationRequest,
                expires_at: OffsetDateTime,
            ) -> Result<(Reservation, bool, bool), StoreError> {
                // What the reply carries must equal what a later read gives.
                let expires_at = Timestamp::from(expires_at);
                let mut tx = pool.begin_with($begin).await?;
                if let (Some(sql), [item]) = ($one_line_reserve, request.items.as_slice()) {
                    return reserve_one_line(pool, tx, sql, request, item, expires_at, Timestamp::now()).await;
                }
                let reserved = reserve_in(&mut tx, request, expires_at).await?;
                tx.commit().await?;
                Ok(reserved)
            }

            /// Holds every line of `request` or none, in the caller's transaction: an `Err`
            /// leaves writes the caller must roll back.
            pub async fn reserve_in(
                conn: &mut Conn,
                request: &ReservationRequest,
                expires_at: Timestamp,
            ) -> Result<(Reservation, bool, bool), StoreError> {
                let now = Timestamp::now();
                let inserted = sqlx::query(
                    "INSERT INTO reservations (order_id, status, expires_at, created_at, updated_at)
                     VALUES ($1, 'PENDING', $2, $3, $3) ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(request.order_id)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if inserted.rows_affected() == 0 {
                    let existing = reservation_in(conn, request.order_id).await?;
                    return existing.map(|r| (r, false, false)).ok_or(StoreError::Database(sqlx::Error::RowNotFound));
                }
                let mut alerted = false;
                for item in &request.items {
                    let held: Option<(i64, i64)> = sqlx::query_as(
                        "UPDATE inventory SET reserved_qty = reserved_qty + $2, updated_at = $3
                         WHERE product_id = $1 AND quantity - reserved_qty >= $2
                         RETURNING quantity - reserved_qty, low_stock_threshold",
                    )
                    .bind(&item.product_id)
                    .bind(item.quantity)
                    .bind(now)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some((available, threshold)) = held else {
                        // The caller rolls every hold back.
                        return Err(unavailable(conn, item).await?);
                    };
                    sqlx::query("INSERT INTO reservation_items (order_id, product_id, quantity) VALUES ($1, $2, $3)")
                        .bind(request.order_id)
                        .bind(&item.product_id)
                        .bind(item.quantity)
                        .execute(&mut *conn)
                        .await?;
                    alerted |= alert_if_low(conn, &item.product_id, available, threshold).await?;
                }
                Ok((pending(request, expires_at), true, alerted))
            }

            /// The common one-line reservation: the hold, its line and the reservation row in
            /// one statement inside the transaction (three round trips instead of five).
            async fn reserve_one_line(
                pool: &Pool,
                mut tx: sqlx::Transaction<'static, $Db>,
                sql: &'static str,
                request: &ReservationRequest,
                item: &ReservationItem,
                expires_at: Timestamp,
                now: Timestamp,
            ) -> Result<(Reservation, bool, bool), StoreError> {
                let (created, available, threshold): (i64, Option<i64>, Option<i64>) =
                    sqlx::query_as(sql)
                        .bind(request.order_id)
                        .bind(expires_at)
                        .bind(now)
                        .bind(&item.product_id)
                        .bind(item.quantity)
                        .fetch_one(&mut *tx)
                        .await?;
                if created == 0 {
                    drop(tx);
                    let existing = reservation(pool, request.order_id).await?;
                    return existing.map(|r| (r, false, false)).ok_or(StoreError::Database(sqlx::Error::RowNotFound));
                }
                let (Some(available), Some(threshold)) = (available, threshold) else {
                    // Returning drops `tx`, which rolls the reservation row back.
                    return Err(unavailable(&mut tx, item).await?);
                };
                let alerted = alert_if_low(&mut tx, &item.product_id, available, threshold).await?;
                tx.commit().await?;
                Ok((pending(request, expires_at), true, alerted))
            }

            pub async fn reservation(pool: &Pool, order_id: Uuid) -> Result<Option<Reservation>, StoreError> {
                let mut conn = pool.acquire().await?;
                reservation_in(&mut conn, order_id).await
            }

            async fn reservation_in(conn: &mut Conn, order_id: Uuid) -> Result<Option<Reservation>, StoreError> {
                let head: Option<(String, OffsetDateTime)> =
                    sqlx::query_as("SELECT status, expires_at FROM reservations WHERE order_id = $1")
                        .bind(order_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                let Some((status, expires_at)) = head else { return Ok(None) };
                let items: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT product_id, quantity FROM reservation_items WHERE order_id = $1 ORDER BY product_id",
                )
                .bind(order_id)
                .fetch_all(&mut *conn)
                .await?;
                let items = items.into_iter().map(|(product_id, quantity)| ReservationItem { product_id, quantity }).collect();
                Ok(Some(Reservation { order_id, status, items, expires_at }))
            }

            pub async fn transition(pool: &Pool, order_id: Uuid, transition: Transition) -> Result<TransitionOutcome, StoreError> {
                if matches!(transition, Transition::Confirm) {
                    // Confirming touches one row: no transaction needed.
                    return transition_in(&mut *pool.acquire().await?, order_id, transition).await;
                }
                let mut tx = pool.begin_with($begin).await?;
                let outcome = transition_in(&mut tx, order_id, transition).await?;
                tx.commit().await?;
                Ok(outcome)
            }

            /// Moves the hold of `order_id` as `transition` says, in the caller's transaction.
            pub async fn transition_in(conn: &mut Conn, order_id: Uuid, transition: Transition) -> Result<TransitionOutcome, StoreError> {
                let now = Timestamp::now();
                const GIVE_BACK: &str = "UPDATE inventory SET reserved_qty = inventory.reserved_qty - ri.quantity, updated_at = $2
                     FROM reservation_items ri WHERE ri.order_id = $1 AND ri.product_id = inventory.product_id";
                let (guard, effect) = match transition {
                    Transition::Confirm => (
                        "UPDATE reservations SET status = $2, updated_at = $3 WHERE order_id = $1 AND status = 'PENDING'",
                        None,
                    ),
                    Transition::Release => (
                        "UPDATE reservations SET status = $2, updated_at = $3
                         WHERE order_id = $1 AND status IN ('PENDING', 'CONFIRMED')",
                        Some(GIVE_BACK),
                    ),
                    Transition::Abandon => (
                        "UPDATE reservations SET status = $2, updated_at = $3 WHERE order_id = $1 AND status = 'PENDING'",
                        Some(GIVE_BACK),
                    ),
                    Transition::Commit => (
                        "UPDATE reservations SET status = $2, updated_at = $3
                         WHERE order_id = $1 AND status IN ('PENDING', 'CONFIRMED')",
                        Some(
                            "UPDATE inventory SET quantity = inventory.quantity - ri.quantity,
                               reserved_qty = inventory.reserved_qty - ri.quantity, updated_at = $2
                             FROM reservation_items ri WHERE ri.order_id = $1 AND ri.product_id = inventory.product_id",
                        ),
                    ),
                };
                let moved = sqlx::query(guard).bind(order_id).bind(transition.target()).bind(now).execute(&mut *conn).await?;
                if moved.rows_affected() == 0 {
                    return Ok(TransitionOutcome::NotApplicable);
                }
                if let Some(effect) = effect {
                    sqlx::query(effect).bind(order_id).bind(now).execute(&mut *conn).await?;
                }
                Ok(TransitionOutcome::Applied)
            }

            /// Ships an order whose hold is gone (released, or never made): the units leave the
            /// warehouse anyway, so stock is decremented directly — once, by marking the
            /// reservation COMMITTED (creating it when missing) in the same transaction.
            pub async fn ship_unheld(pool: &Pool, order_id: Uuid, items: &[ReservationItem]) -> Result<(TransitionOutcome, bool), StoreError> {
                let now = Timestamp::now();
                let mut tx = pool.begin_with($begin).await?;
                let reopened = sqlx::query(
                    "UPDATE reservations SET status = 'COMMITTED', updated_at = $2 WHERE order_id = $1 AND status = 'RELEASED'",
                )
                .bind(order_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let lines: Vec<(String, i64)> = if reopened.rows_affected() == 1 {
                    sqlx::query_as("SELECT product_id, quantity FROM reservation_items WHERE order_id = $1")
                        .bind(order_id)
                        .fetch_all(&mut *tx)
                        .await?
                } else {
                    let created = sqlx::query(
                        "INSERT INTO reservations (order_id, status, expires_at, created_at, updated_at)
                         VALUES ($1, 'COMMITTED', $2, $2, $2) ON CONFLICT (order_id) DO NOTHING",
                    )
                    .bind(order_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if created.rows_affected() == 0 {
                        // Already committed (a redelivered event), or still held after all.
                        return Ok((TransitionOutcome::NotApplicable, false));
                    }
                    items.iter().map(|i| (i.product_id.clone(), i.quantity)).collect()
                };
                let mut alerted = false;
                for (product_id, wanted) in lines {
                    let row: Option<(i64, i64, i64)> = sqlx::query_as(concat!(
                        "SELECT quantity - reserved_qty, low_stock_threshold, quantity FROM inventory WHERE product_id = $1",
                        $lock_row
                    ))
                    .bind(&product_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((available, threshold, _)) = row else {
                        tracing::error!(%order_id, %product_id, "shipped a product that has no stock record");
                        continue;
                    };
                    // Never below what other orders hold: a shortfall is reported, not hidden.
                    let taken = wanted.min(available);
                    if taken < wanted {
                        tracing::error!(%order_id, %product_id, wanted, taken, "shipped more than the stock on record");
                    }
                    sqlx::query("UPDATE inventory SET quantity = quantity - $2, updated_at = $3 WHERE product_id = $1")
                        .bind(&product_id)
                        .bind(taken)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    alerted |= alert_if_low(&mut tx, &product_id, available - taken, threshold).await?;
                }
                tx.commit().await?;
                tracing::warn!(%order_id, "shipped an order without a stock hold; decremented stock directly");
                Ok((TransitionOutcome::Applied, alerted))
            }

            pub async fn expired(pool: &Pool, now: OffsetDateTime, limit: i64) -> Result<Vec<Uuid>, StoreError> {
                let rows: Vec<(Uuid,)> = sqlx::query_as($expired).bind(Timestamp::from(now)).bind(limit).fetch_all(pool).await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }
        }
    };
}

/// A one-line reservation on PostgreSQL: reservation row, hold and line in one statement
/// (data-modifying CTEs). The hold only happens for a new reservation; the caller's
/// transaction rolls the row back when the hold fails.
const PG_RESERVE_ONE_LINE: &str = "WITH res AS (
        INSERT INTO reservations (order_id, status, expires_at, created_at, updated_at)
        VALUES ($1, 'PENDING', $2, $3, $3) ON CONFLICT (order_id) DO NOTHING RETURNING order_id),
    held AS (
        UPDATE inventory SET reserved_qty = reserved_qty + $5, updated_at = $3
        WHERE product_id = $4 AND quantity - reserved_qty >= $5 AND EXISTS (SELECT 1 FROM res)
        RETURNING quantity - reserved_qty AS available, low_stock_threshold),
    line AS (
        INSERT INTO reservation_items (order_id, product_id, quantity) SELECT $1, $4, $5 FROM held)
    SELECT (SELECT count(*) FROM res), held.available, held.low_stock_threshold
    FROM (SELECT 1) AS one LEFT JOIN held ON true";

inventory_backend!(
    pg,
    sqlx::Postgres,
    begin = "BEGIN",
    lock_row = " FOR UPDATE",
    expired =
        "SELECT order_id FROM reservations WHERE status = 'PENDING' AND expires_at < $1 ORDER BY expires_at LIMIT $2",
    one_line_reserve = Some(PG_RESERVE_ONE_LINE),
    ids_from_json = "(SELECT jsonb_array_elements_text($1::jsonb))"
);
// Times are bound as kit::db::Timestamp, fixed-width text on SQLite: text order is time order.
inventory_backend!(
    lite,
    sqlx::Sqlite,
    begin = "BEGIN IMMEDIATE",
    lock_row = "",
    expired =
        "SELECT order_id FROM reservations WHERE status = 'PENDING' AND expires_at < $1 ORDER BY expires_at LIMIT $2",
    one_line_reserve = None::<&'static str>,
    ids_from_json = "(SELECT value FROM json_each($1))"
);

impl SqlInventoryStore {
    fn wake_relay_if(&self, wrote_event: bool) {
        if wrote_event {
            self.published.notify_one();
        }
    }
}

#[async_trait]
impl InventoryStore for SqlInventoryStore {
    async fn add(&self, item: &NewItem) -> Result<Item, StoreError> {
        let added = kit::on_backend!(self, add(std::slice::from_ref(item), false))?;
        added.into_iter().next().ok_or_else(|| StoreError::Exists(item.product_id.clone()))
    }

    async fn insert_missing(&self, items: &[NewItem]) -> Result<u64, StoreError> {
        Ok(kit::on_backend!(self, add(items, true))?.len() as u64)
    }

    async fn list(&self, limit: i64, offset: i64) -> Result<(Vec<Item>, i64), StoreError> {
        kit::on_backend!(self, list(limit, offset))
    }

    async fn get(&self, product_id: &str) -> Result<Option<Item>, StoreError> {
        kit::on_backend!(self, get(product_id))
    }

    async fn get_many(&self, product_ids: &[String]) -> Result<Vec<Item>, StoreError> {
        kit::on_backend!(self, get_many(product_ids))
    }

    async fn change_stock(&self, product_id: &str, change: StockChange) -> Result<Item, StoreError> {
        let (item, alerted) = kit::on_backend!(self, change_stock(product_id, change))?;
        self.wake_relay_if(alerted);
        Ok(item)
    }

    async fn update(&self, product_id: &str, patch: &ItemPatch) -> Result<Item, StoreError> {
        let (item, alerted) = kit::on_backend!(self, update(product_id, patch))?;
        self.wake_relay_if(alerted);
        Ok(item)
    }

    async fn delete(&self, product_id: &str) -> Result<(), StoreError> {
        kit::on_backend!(self, delete(product_id))
    }

    async fn reserve(
        &self,
        request: &ReservationRequest,
        expires_at: OffsetDateTime,
    ) -> Result<(Reservation, bool), StoreError> {
        let (reservation, created, alerted) = match (&self.db, &self.writer) {
            (Db::Sqlite(_), Some(writer)) => {
                let request = request.clone();
                let expires_at = Timestamp::from(expires_at);
                writer
                    .run(move |conn| Box::pin(async move { lite::reserve_in(conn, &request, expires_at).await }))
                    .await?
            }
            _ => kit::on_backend!(self, reserve(request, expires_at))?,
        };
        self.wake_relay_if(alerted);
        Ok((reservation, created))
    }

    async fn reservation(&self, order_id: Uuid) -> Result<Option<Reservation>, StoreError> {
        kit::on_backend!(self, reservation(order_id))
    }

    async fn transition(&self, order_id: Uuid, transition: Transition) -> Result<TransitionOutcome, StoreError> {
        match (&self.db, &self.writer) {
            (Db::Sqlite(_), Some(writer)) => {
                writer
                    .run(move |conn| Box::pin(async move { lite::transition_in(conn, order_id, transition).await }))
                    .await
            }
            _ => kit::on_backend!(self, transition(order_id, transition)),
        }
    }

    async fn ship_unheld(&self, order_id: Uuid, items: &[ReservationItem]) -> Result<TransitionOutcome, StoreError> {
        let (outcome, alerted) = kit::on_backend!(self, ship_unheld(order_id, items))?;
        self.wake_relay_if(alerted);
        Ok(outcome)
    }

    async fn expired(&self, now: OffsetDateTime, limit: i64) -> Result<Vec<Uuid>, StoreError> {
        kit::on_backend!(self, expired(now, limit))
    }
}
