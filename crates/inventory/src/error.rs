//! The inventory service's errors, mapped once to problem+json.

use crate::store::StoreError;
use axum::response::{IntoResponse, Response};
use kit::Problem;
use kit::problem::FieldError;

/// Everything an inventory request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Refused by the store (not found, conflict) or a storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `reduce` beyond what is available: the original's 400 and wording.
    #[error("Insufficient stock. Available: {available}, Requested: {requested}")]
    ReduceShortage {
        /// Units available.
        available: i64,
        /// Units asked for.
        requested: i64,
    },
    /// No reservation for this order.
    #[error("Reservation for order {0} not found")]
    ReservationNotFound(uuid::Uuid),
    /// Releasing the hold of a confirmed (live) order.
    #[error("The stock held for order {0} belongs to a confirmed order; cancel the order to release it")]
    HeldForLiveOrder(uuid::Uuid),
    /// Input that does not validate.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Not signed in, or not allowed.
    #[error(transparent)]
    Auth(#[from] kit::auth::AuthError),
}

impl From<Vec<FieldError>> for InventoryError {
    fn from(errors: Vec<FieldError>) -> Self {
        InventoryError::Invalid(errors)
    }
}

impl IntoResponse for InventoryError {
    fn into_response(self) -> Response {
        let problem = match self {
            InventoryError::Store(StoreError::NotFound(_)) | InventoryError::ReservationNotFound(_) => {
                Problem::not_found(self.to_string())
            }
            InventoryError::Store(
                StoreError::Exists(_)
                | StoreError::Insufficient { .. }
                | StoreError::BelowReserved { .. }
                | StoreError::TooMuchStock { .. }
                | StoreError::HasReservations(_),
            ) => Problem::conflict(self.to_string()),
            InventoryError::HeldForLiveOrder(_) => Problem::conflict(self.to_string()),
            InventoryError::Store(StoreError::Database(err)) => Problem::storage("inventory", &err),
            InventoryError::ReduceShortage { .. } => Problem::bad_request(self.to_string()),
            InventoryError::Invalid(errors) => Problem::validation(errors),
            InventoryError::Auth(err) => return err.into_response(),
        };
        problem.into_response()
    }
}
