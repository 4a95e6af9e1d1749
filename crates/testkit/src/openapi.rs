//! The route ⇔ document check every service's tests run: each operation its `/openapi.json`
//! documents is served (answers something other than the "No such route" 404 or the 405
//! fallback problems), and a documented path answers every other method with the 405
//! problem, so the router serves nothing there that the document leaves out.

use crate::{Body, Client, Reply};
use http::{Method, StatusCode};
use serde_json::Value;

/// Methods an API may route (HEAD follows GET in axum; OPTIONS and TRACE are never routed).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `doc`'s operations as `(METHOD, path)`, in document order.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("a document with paths") {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// `path` with each `{name}` replaced by its parameter's example (or `x`), so the request
/// reaches the route.
pub fn concrete_path(doc: &Value, method: &str, path: &str) -> String {
    let op = &doc["paths"][path][method.to_ascii_lowercase()];
    let mut concrete = path.to_owned();
    for param in op["parameters"].as_array().into_iter().flatten() {
        if param["in"] != "path" {
            continue;
        }
        let name = param["name"].as_str().unwrap_or_default();
        let example = match &param["example"] {
            Value::String(s) => s.clone(),
            Value::Null => "x".to_owned(),
            other => other.to_string(),
        };
        concrete = concrete.replace(&format!("{{{name}}}"), &example);
    }
    concrete
}

fn is_fallback(reply: &Reply) -> bool {
    (reply.status == StatusCode::NOT_FOUND && reply.detail() == "No such route")
        || reply.status == StatusCode::METHOD_NOT_ALLOWED
}

/// Asserts that `client`'s server serves exactly the operations of `doc`: every documented
/// method and path answers something other than the fallbacks, every undocumented method on
/// a documented path the 405 problem. Returns the number of operations checked.
pub async fn assert_routes_match(client: &Client, doc: &Value) -> usize {
    let ops = operations(doc);
    assert!(!ops.is_empty(), "the document has operations");
    let mut paths: Vec<&String> = ops.iter().map(|(_, p)| p).collect();
    paths.dedup();
    for path in paths {
        for method in METHODS {
            let documented = ops.iter().any(|(m, p)| m == method && p == path);
            let documented_method = if documented {
                method
            } else {
                ops.iter().find(|(_, p)| p == path).map(|(m, _)| m.as_str()).unwrap_or("GET")
            };
            let target = concrete_path(doc, documented_method, path);
            let body = if matches!(method, "POST" | "PUT" | "PATCH") {
                Body::Json(serde_json::json!({}))
            } else {
                Body::Empty
            };
            let method_value = Method::from_bytes(method.as_bytes()).expect("a method");
            let reply = client.request(method_value, &target, body, &[]).await;
            if documented {
                assert!(
                    !is_fallback(&reply),
                    "{method} {path} is documented but not routed ({target} → {} {})",
                    reply.status,
                    reply.text
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is routed but not documented ({target} → {})",
                    reply.text
                );
            }
        }
    }
    ops.len()
}
