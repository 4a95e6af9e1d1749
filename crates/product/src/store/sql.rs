//! The SQL implementation of [`ProductStore`] for SQLite and PostgreSQL: the SQL is written
//! once and instantiated per backend by a macro; only full-text search and two JSON filters
//! differ (ADR 0002). The outbox row of each write goes into kit's `outbox` table in the same
//! transaction, and kit's relay publishes it.

use super::{ListFilter, Page, ProductStore, StoreError, event};
use crate::domain::{Product, ProductPatch};
use async_trait::async_trait;
use contracts::Money;
use contracts::events::ProductChange;
use kit::db::{Db, Timestamp};
use serde_json::{Map, Value};
use sqlx::types::Json;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::Notify;

/// The SQL implementation for both backends.
#[derive(Clone)]
pub struct SqlProductStore {
    db: Db,
    published: Arc<Notify>,
}

impl SqlProductStore {
    /// A store on `db`; `published` is poked after each commit that wrote an outbox row.
    pub fn new(db: Db, published: Arc<Notify>) -> Self {
        SqlProductStore { db, published }
    }
}

type Row = (
    String,
    String,
    String,
    i64,
    String,
    Json<Vec<String>>,
    Option<String>,
    i64,
    Json<Map<String, Value>>,
    OffsetDateTime,
    OffsetDateTime,
);

fn from_row(row: Row) -> Product {
    let (id, name, description, price, category, tags, image_url, stock_quantity, attributes, created_at, updated_at) =
        row;
    Product {
        id,
        name,
        description,
        price: Money::from_cents(price),
        category,
        tags: tags.0,
        image_url,
        stock_quantity,
        attributes: attributes.0,
        created_at,
        updated_at,
    }
}

macro_rules! columns {
    () => {
        "id, name, description, price_cents, category, tags, image_url, stock_quantity, attributes, created_at, updated_at"
    };
}

macro_rules! filters {
    ($tag:literal) => {
        concat!(
            " WHERE ($1 IS NULL OR lower(category) = lower($1))",
            " AND ($2 IS NULL OR price_cents >= $2)",
            " AND ($3 IS NULL OR price_cents <= $3)",
            " AND ($4 IS NULL OR ",
            $tag,
            ")"
        )
    };
}

macro_rules! product_backend {
    ($module:ident, $Db:ty, tag = $tag:literal, ids = $ids:literal, search = $search:expr, query = $query:path) => {
        mod $module {
            use super::*;
            use kit::outbox::$module as outbox;

            type Pool = sqlx::Pool<$Db>;

            pub async fn insert(pool: &Pool, products: &[Product], skip_existing: bool) -> Result<u64, StoreError> {
                let mut tx = pool.begin().await?;
                let mut inserted = 0;
                for p in products {
                    let sql = if skip_existing {
                        concat!(
                            "INSERT INTO products (",
                            columns!(),
                            ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (id) DO NOTHING"
                        )
                    } else {
                        concat!("INSERT INTO products (", columns!(), ") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
                    };
                    let result = sqlx::query(sql)
                        .bind(&p.id)
                        .bind(&p.name)
                        .bind(&p.description)
                        .bind(p.price.cents())
                        .bind(&p.category)
                        .bind(Json(&p.tags))
                        .bind(&p.image_url)
                        .bind(p.stock_quantity)
                        .bind(Json(&p.attributes))
                        .bind(Timestamp::from(p.created_at))
                        .bind(Timestamp::from(p.updated_at))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| if kit::db::is_unique_violation(&e) { StoreError::Duplicate } else { e.into() })?;
                    if result.rows_affected() == 1 {
                        inserted += 1;
                        outbox::enqueue(&mut tx, &event(ProductChange::Created, &p.id, Some(p))).await?;
                    }
                }
                tx.commit().await?;
                Ok(inserted)
            }

            pub async fn get(pool: &Pool, id: &str) -> Result<Option<Product>, StoreError> {
                let row: Option<Row> = sqlx::query_as(concat!("SELECT ", columns!(), " FROM products WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(from_row))
            }

            pub async fn list(pool: &Pool, f: &ListFilter, page: Page) -> Result<(Vec<Product>, i64), StoreError> {
                let rows: Vec<Row> = sqlx::query_as(concat!(
                    "SELECT ",
                    columns!(),
                    " FROM products",
                    filters!($tag),
                    " ORDER BY created_at, id LIMIT $5 OFFSET $6"
                ))
                .bind(&f.category)
                .bind(f.min_price.map(Money::cents))
                .bind(f.max_price.map(Money::cents))
                .bind(&f.tag)
                .bind(page.size)
                .bind(page.offset())
                .fetch_all(pool)
                .await?;
                // A first page with room to spare holds every match: no need to count them.
                if page.number == 1 && (rows.len() as i64) < page.size {
                    let total = rows.len() as i64;
                    return Ok((rows.into_iter().map(from_row).collect(), total));
                }
                let (total,): (i64,) = sqlx::query_as(concat!("SELECT COUNT(*) FROM products", filters!($tag)))
                    .bind(&f.category)
                    .bind(f.min_price.map(Money::cents))
                    .bind(f.max_price.map(Money::cents))
                    .bind(&f.tag)
                    .fetch_one(pool)
                    .await?;
                Ok((rows.into_iter().map(from_row).collect(), total))
            }

            /// Products by id, through the primary key (a batch lookup stays an index probe
            /// however large the catalog).
            pub async fn get_many(pool: &Pool, ids: &[String]) -> Result<Vec<Product>, StoreError> {
                let rows: Vec<Row> =
                    sqlx::query_as(concat!("SELECT ", columns!(), " FROM products WHERE id IN (", $ids, ")"))
                        .bind(Json(ids))
                        .fetch_all(pool)
                        .await?;
                Ok(rows.into_iter().map(from_row).collect())
            }

            pub async fn search(pool: &Pool, terms: &[String], page: Page) -> Result<Vec<Product>, StoreError> {
                let rows: Vec<Row> = sqlx::query_as($search)
                    .bind($query(terms))
                    .bind(page.size)
                    .bind(page.offset())
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(from_row).collect())
            }

            pub async fn update(
                pool: &Pool,
                id: &str,
                patch: &ProductPatch,
                now: Timestamp,
            ) -> Result<Option<Product>, StoreError> {
                let mut tx = pool.begin().await?;
                let row: Option<Row> = sqlx::query_as(concat!(
                    "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description),
                       price_cents = COALESCE($4, price_cents), category = COALESCE($5, category),
                       tags = COALESCE($6, tags), image_url = CASE WHEN $7 THEN $8 ELSE image_url END,
                       stock_quantity = COALESCE($9, stock_quantity), attributes = COALESCE($10, attributes),
                       updated_at = $11
                     WHERE id = $1 RETURNING ",
                    columns!()
                ))
                .bind(id)
                .bind(&patch.name)
                .bind(&patch.description)
                .bind(patch.price.map(Money::cents))
                .bind(&patch.category)
                .bind(patch.tags.as_ref().map(Json))
                .bind(patch.image_url.is_some())
                .bind(patch.image_url.clone().flatten())
                .bind(patch.stock_quantity)
                .bind(patch.attributes.as_ref().map(Json))
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(product) = row.map(from_row) else { return Ok(None) };
                outbox::enqueue(&mut tx, &event(ProductChange::Updated, id, Some(&product))).await?;
                tx.commit().await?;
                Ok(Some(product))
            }

            pub async fn delete(pool: &Pool, id: &str) -> Result<bool, StoreError> {
                let mut tx = pool.begin().await?;
                let deleted = sqlx::query("DELETE FROM products WHERE id = $1").bind(id).execute(&mut *tx).await?;
                if deleted.rows_affected() == 0 {
                    return Ok(false);
                }
                outbox::enqueue(&mut tx, &event(ProductChange::Deleted, id, None)).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

/// `term:*` alternatives for `to_tsquery`; terms are alphanumeric, so no query syntax leaks in.
fn pg_query(terms: &[String]) -> String {
    terms.iter().map(|t| format!("{t}:*")).collect::<Vec<_>>().join(" | ")
}

/// FTS5 alternatives, each the stemmed word or a prefix; quoted, so no query syntax leaks in.
fn fts5_query(terms: &[String]) -> String {
    terms.iter().map(|t| format!("(\"{t}\" OR \"{t}\"*)")).collect::<Vec<_>>().join(" OR ")
}

product_backend!(
    pg,
    sqlx::Postgres,
    tag = "tags ? $4",
    ids = "SELECT jsonb_array_elements_text($1::jsonb)",
    search = concat!(
        "SELECT ",
        columns!(),
        " FROM products, to_tsquery('english', $1) query
         WHERE search @@ query ORDER BY ts_rank(search, query) DESC, id LIMIT $2 OFFSET $3"
    ),
    query = pg_query
);
product_backend!(
    lite,
    sqlx::Sqlite,
    tag = "EXISTS (SELECT 1 FROM json_each(products.tags) WHERE json_each.value = $4)",
    ids = "SELECT value FROM json_each($1)",
    search = "SELECT p.id, p.name, p.description, p.price_cents, p.category, p.tags, p.image_url,
                     p.stock_quantity, p.attributes, p.created_at, p.updated_at
              FROM products_fts JOIN products p ON p.id = products_fts.id
              WHERE products_fts MATCH $1
              ORDER BY bm25(products_fts, 0.0, 10.0, 5.0, 5.0, 1.0), p.id LIMIT $2 OFFSET $3",
    query = fts5_query
);

#[async_trait]
impl ProductStore for SqlProductStore {
    async fn insert(&self, product: &Product) -> Result<(), StoreError> {
        kit::on_backend!(self, insert(std::slice::from_ref(product), false))?;
        self.published.notify_one();
        Ok(())
    }

    async fn insert_missing(&self, products: &[Product]) -> Result<u64, StoreError> {
        let n = kit::on_backend!(self, insert(products, true))?;
        self.published.notify_one();
        Ok(n)
    }

    async fn get(&self, id: &str) -> Result<Option<Product>, StoreError> {
        kit::on_backend!(self, get(id))
    }

    async fn list(&self, filter: &ListFilter, page: Page) -> Result<(Vec<Product>, i64), StoreError> {
        let Some(ids) = &filter.ids else { return kit::on_backend!(self, list(filter, page)) };
        // At most a page of ids: fetch them by key, then filter and page here.
        let mut found: Vec<Product> =
            kit::on_backend!(self, get_many(ids))?.into_iter().filter(|p| filter.admits(p)).collect();
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let total = found.len() as i64;
        let page_rows = found.into_iter().skip(page.offset().try_into().unwrap_or(usize::MAX));
        Ok((page_rows.take(page.size.try_into().unwrap_or(0)).collect(), total))
    }

    async fn search(&self, terms: &[String], page: Page) -> Result<Vec<Product>, StoreError> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        kit::on_backend!(self, search(terms, page))
    }

    async fn update(&self, id: &str, patch: &ProductPatch) -> Result<Option<Product>, StoreError> {
        let updated = kit::on_backend!(self, update(id, patch, Timestamp::now()))?;
        self.published.notify_one();
        Ok(updated)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = kit::on_backend!(self, delete(id))?;
        self.published.notify_one();
        Ok(deleted)
    }
}
