//! The order service's errors, mapped once to problem+json.

use crate::domain::Status;
use crate::store::StoreError;
use axum::response::{IntoResponse, Response};
use contracts::Money;
use kit::Problem;
use kit::problem::FieldError;

/// Everything an order request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Input that does not validate (including unknown products).
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The path id is not a UUID.
    #[error("Invalid order ID")]
    InvalidId,
    /// No such order.
    #[error("Order {} not found", kit::input::shorten(.0))]
    NotFound(String),
    /// The client's price is not the catalog's.
    #[error("Price of product {product_id} is {catalog}, not {requested}")]
    PriceMismatch {
        /// Product id.
        product_id: String,
        /// Catalog price.
        catalog: Money,
        /// Client's price.
        requested: Money,
    },
    /// Inventory could not hold the stock; its detail names the product.
    #[error("{0}")]
    OutOfStock(String),
    /// The same Idempotency-Key with a different body.
    #[error("Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    /// A status change the state machine forbids.
    #[error("Cannot change status from {from} to {to}")]
    IllegalTransition {
        /// Current status.
        from: &'static str,
        /// Requested status.
        to: &'static str,
    },
    /// Cancelling a shipped or delivered order.
    #[error("Cannot cancel order with status {0}")]
    NotCancellable(&'static str),
    /// A peer service is down or failing; the detail says which and why.
    #[error("{0}")]
    Unavailable(String),
    /// Another request with the same Idempotency-Key is still being placed.
    #[error("A request with this Idempotency-Key is in progress; retry it to get its result")]
    KeyInProgress,
    /// The stock hold expired (and was released) before the order could be saved.
    #[error("The stock held for this order expired before the order was saved; please place it again")]
    HoldExpired,
    /// Not signed in, or not allowed.
    #[error(transparent)]
    Auth(#[from] kit::auth::AuthError),
    /// Anything else; logged, never shown.
    #[error("{0}")]
    Internal(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OrderError {
    /// The error for a refused transition to `to` from `from`.
    pub fn illegal(from: Status, to: Status) -> Self {
        if to == Status::Cancelled {
            OrderError::NotCancellable(from.as_str())
        } else {
            OrderError::IllegalTransition { from: from.as_str(), to: to.as_str() }
        }
    }
}

impl IntoResponse for OrderError {
    fn into_response(self) -> Response {
        let problem = match self {
            OrderError::Invalid(errors) => Problem::validation(errors),
            OrderError::IdempotencyKeyReused => Problem::unprocessable(self.to_string()),
            OrderError::InvalidId => Problem::bad_request(self.to_string()),
            OrderError::NotFound(_) => Problem::not_found(self.to_string()),
            OrderError::PriceMismatch { .. }
            | OrderError::OutOfStock(_)
            | OrderError::IllegalTransition { .. }
            | OrderError::NotCancellable(_) => Problem::conflict(self.to_string()),
            OrderError::Unavailable(_) => Problem::unavailable(self.to_string(), 5),
            OrderError::KeyInProgress => Problem::conflict(self.to_string()),
            OrderError::HoldExpired => Problem::unavailable(self.to_string(), 1),
            OrderError::Auth(err) => return err.into_response(),
            OrderError::Internal(ref cause) => Problem::internal(cause),
            OrderError::Store(StoreError::Database(err)) => Problem::storage("order", &err),
            OrderError::Store(err) => Problem::internal(&err),
        };
        problem.into_response()
    }
}
