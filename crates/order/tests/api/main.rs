//! Black-box API tests of the order service, run alone (no request reaches its peers).
//!
//! - [`openapi`]: the document, the docs page, and the routes in step with the document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod openapi;
