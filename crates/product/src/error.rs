//! The product service's errors, mapped once to problem+json.

use crate::store::StoreError;
use axum::response::{IntoResponse, Response};
use kit::Problem;
use kit::problem::FieldError;

/// Everything a product request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// No product with this id.
    #[error("Product {} not found", kit::input::shorten(.0))]
    NotFound(String),
    /// The id is taken.
    #[error("Product {} already exists", kit::input::shorten(.0))]
    Duplicate(String),
    /// The path id cannot be a product id.
    #[error("Invalid product ID")]
    InvalidId,
    /// An update with nothing in it.
    #[error("No fields to update")]
    NoFields,
    /// Input that does not validate.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
    /// Not signed in, or not allowed.
    #[error(transparent)]
    Auth(#[from] kit::auth::AuthError),
}

impl From<StoreError> for ProductError {
    fn from(err: StoreError) -> Self {
        ProductError::Store(err)
    }
}

impl From<Vec<FieldError>> for ProductError {
    fn from(errors: Vec<FieldError>) -> Self {
        ProductError::Invalid(errors)
    }
}

impl IntoResponse for ProductError {
    fn into_response(self) -> Response {
        let problem = match self {
            ProductError::NotFound(_) => Problem::not_found(self.to_string()),
            ProductError::Duplicate(_) => Problem::conflict(self.to_string()),
            ProductError::InvalidId | ProductError::NoFields => Problem::bad_request(self.to_string()),
            ProductError::Invalid(errors) => Problem::validation(errors),
            ProductError::Auth(err) => return err.into_response(),
            ProductError::Store(StoreError::Database(err)) => Problem::storage("product", &err),
            ProductError::Store(StoreError::Mongo(err)) => crate::store::mongo::problem(&err),
            ProductError::Store(err) => Problem::internal(&err),
        };
        problem.into_response()
    }
}
