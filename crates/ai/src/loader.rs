//! The start-up build: every product, read page by page from the product service (the
//! catalog may hold tens of thousands), retried until the product service answers.

use crate::catalog::CatalogProduct;
use kit::http::{ClientError, ServiceClient};
use serde::Deserialize;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Products per page (the product service's maximum).
pub const PAGE_SIZE: usize = 100;
/// Listing passes before accepting one whose total moved while it was read.
const PASSES: usize = 3;

#[derive(Debug, Deserialize)]
struct ProductPage {
    products: Vec<CatalogProduct>,
    total: i64,
}

/// Reads the whole catalog once. A product deleted while the pages are read shifts the
/// later pages by one, so a pass whose total changed on the way is repeated (a few times
/// at most: the consumer's events repair whatever a last pass missed only if it changes).
pub async fn read_catalog(client: &ServiceClient) -> Result<Vec<CatalogProduct>, ClientError> {
    let mut products = Vec::new();
    for _ in 0..PASSES {
        products.clear();
        let mut first_total = None;
        let mut last_total;
        let mut page = 1;
        loop {
            let answer: ProductPage =
                client.get_json(&format!("/api/products?page={page}&page_size={PAGE_SIZE}")).await?;
            first_total.get_or_insert(answer.total);
            last_total = answer.total;
            let count = answer.products.len();
            products.extend(answer.products);
            if count < PAGE_SIZE || products.len() as i64 >= answer.total {
                break;
            }
            page += 1;
        }
        if first_total == Some(last_total) {
            break;
        }
    }
    Ok(products)
}

/// [`read_catalog`], retried with backoff until it succeeds or `shutdown`.
pub async fn read_catalog_until_up(
    client: &ServiceClient,
    shutdown: &CancellationToken,
) -> Option<Vec<CatalogProduct>> {
    let mut wait = Duration::from_millis(200);
    loop {
        match read_catalog(client).await {
            Ok(products) => return Some(products),
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?wait, "reading the catalog failed; retrying");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
