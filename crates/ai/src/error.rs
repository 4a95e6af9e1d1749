//! The AI service's errors, mapped once to problem+json. A language-model failure is not
//! among them: it degrades the answer instead (see [`crate::assistant`]).

use crate::retrieval::RetrievalError;
use crate::store::StoreError;
use axum::response::{IntoResponse, Response};
use kit::Problem;
use kit::problem::FieldError;

/// Everything an AI request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// Input that does not validate.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// `product_id` names no catalog product.
    #[error("Product {0} not found")]
    ProductNotFound(String),
    /// The catalog index is still being built at start-up.
    #[error("The AI service is still loading the catalog. Please try again in a moment.")]
    NotReady,
    /// Retrieval failed (an engine fault).
    #[error(transparent)]
    Retrieval(#[from] RetrievalError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Vec<FieldError>> for AiError {
    fn from(errors: Vec<FieldError>) -> Self {
        AiError::Invalid(errors)
    }
}

impl IntoResponse for AiError {
    fn into_response(self) -> Response {
        let problem = match self {
            AiError::Invalid(errors) => Problem::validation(errors),
            AiError::ProductNotFound(_) => Problem::not_found(self.to_string()),
            AiError::NotReady => Problem::unavailable(self.to_string(), 2),
            AiError::Retrieval(err) => Problem::internal(&err),
            AiError::Store(err) => Problem::internal(&err),
        };
        problem.into_response()
    }
}
