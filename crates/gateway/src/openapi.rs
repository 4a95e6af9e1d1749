//! The gateway's OpenAPI document: every service's `/api/**` operations, merged when the
//! router is built from the services' own document functions (nothing is fetched at run
//! time), each with the answers the gateway itself may give (400, 408, 413, 429, 502, 503, 504), plus
//! the gateway's `/health`, `/ready`, `/openapi.json` and `/docs`, and the links that chain
//! the services (a product → its stock → an order → its cancellation).
//!
//! The gateway depends on the service crates for their `openapi()` functions only: those are
//! pure (no state, no I/O), and no service depends on another.

use serde_json::{Map, Value, json};
use utoipa::openapi::OpenApi;

/// The documents of the services behind the gateway, in routing order.
pub fn services() -> Vec<OpenApi> {
    vec![
        product::routes::openapi(),
        order::routes::openapi(),
        inventory::routes::openapi(),
        notification::routes::openapi(),
        ai::routes::openapi(),
    ]
}

/// Answers the gateway adds to every forwarded operation: its rate limit and the proxy's
/// failures (any of them is possible on any request).
fn proxy_answers() -> [(&'static str, &'static str); 7] {
    [
        ("400", "The request body broke off while it was forwarded."),
        ("408", "The request body was not received in time."),
        ("413", "The request body is larger than 10 MiB."),
        ("502", "The service failed to answer properly."),
        ("503", "The service cannot be reached."),
        ("504", "The service did not answer in time."),
        ("429", "Too many requests from this client; retry after `Retry-After` seconds."),
    ]
}

/// The gateway's document: its own routes and every service's `/api/**` operations.
pub fn document(services: &[OpenApi]) -> Value {
    let own = kit::openapi::document(
        "api-gateway",
        "The platform's one public entry point: products, orders, inventory, notifications and the AI \
         assistant, each forwarded to its service. Every answer a service gives is documented under its \
         operation; the gateway itself may add 400, 408, 413, 429, 502, 503 and 504.",
        OpenApi::default(),
    );
    let mut doc = serde_json::to_value(&own).unwrap_or_default();
    let mut tags: Vec<Value> = doc["tags"].as_array().cloned().unwrap_or_default();
    for service in services {
        let mut service = serde_json::to_value(service).unwrap_or_default();
        let Some(paths) = service["paths"].as_object_mut().map(std::mem::take) else { continue };
        for (path, mut item) in paths {
            if !path.starts_with("/api/") {
                continue;
            }
            for op in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
                add_proxy_answers(op);
            }
            doc["paths"][path.as_str()] = item;
        }
        if let Some(schemas) = service["components"]["schemas"].as_object() {
            for (name, schema) in schemas {
                doc["components"]["schemas"][name.as_str()] = schema.clone();
            }
        }
        for tag in service["tags"].as_array().into_iter().flatten() {
            if tag["name"] != "platform" && !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
    }
    doc["tags"] = Value::Array(tags);
    chain_services(&mut doc);
    doc
}

fn add_proxy_answers(op: &mut Value) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else { return };
    let sample = responses.values().find_map(|r| r["headers"].get("X-Request-Id").cloned());
    for (status, description) in proxy_answers() {
        match responses.get_mut(status) {
            Some(existing) => {
                // The service's own answer with this status (a 503 of its store, say): both
                // may come, and only the service's carries `Retry-After`.
                let merged = format!("{} Or: {description}", existing["description"].as_str().unwrap_or_default());
                existing["description"] = Value::String(merged);
                if let Some(retry) = existing["headers"].get_mut("Retry-After") {
                    retry["required"] = Value::Bool(false);
                }
            }
            None => {
                let mut answer = json!({
                    "description": description,
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                });
                if let Some(header) = &sample {
                    answer["headers"] = json!({ "X-Request-Id": header });
                }
                responses.insert(status.to_owned(), answer);
            }
        }
    }
}

/// Links between services, which no service document can hold: a created product gets a
/// stock record, a stock record an order (whose cancellation its own document links).
fn chain_services(doc: &mut Value) {
    link(
        doc,
        ("/api/products", "post", "201"),
        "addStock",
        json!({
            "operationId": "addStock",
            "requestBody": {"product_id": "$response.body#/id", "product_name": "$response.body#/name", "quantity": 100},
        }),
    );
    link(
        doc,
        ("/api/inventory", "post", "201"),
        "placeOrder",
        json!({
            "operationId": "placeOrder",
            "requestBody": {
                "customer_name": "Linked Customer",
                "customer_email": "linked@example.com",
                "items": [{"product_id": "$response.body#/product_id", "quantity": 1}],
            },
        }),
    );
}

fn link(doc: &mut Value, (path, method, status): (&str, &str, &str), name: &str, link: Value) {
    let response = &mut doc["paths"][path][method]["responses"][status];
    if response.is_object() {
        let links = response.as_object_mut().map(|r| r.entry("links").or_insert_with(|| Value::Object(Map::new())));
        if let Some(links) = links {
            links[name] = link;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_operation_is_in_the_gateway_document_with_the_proxys_answers() {
        let services = services();
        let doc = document(&services);
        let mut count = 0;
        for service in &services {
            for (method, path) in kit::openapi::operations(service) {
                if !path.starts_with("/api/") {
                    continue;
                }
                count += 1;
                let op = &doc["paths"][path.as_str()][method.to_ascii_lowercase()];
                assert!(op.is_object(), "{method} {path} missing");
                for status in ["400", "408", "413", "429", "502", "503", "504"] {
                    assert!(op["responses"][status].is_object(), "{method} {path} lacks {status}");
                }
            }
        }
        assert!(count > 20, "{count} service operations");
        for path in ["/health", "/ready", "/openapi.json", "/docs"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        let ids: Vec<&str> = doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
            .flat_map(|item| item.as_object().into_iter().flat_map(|m| m.values()))
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "operation ids are unique: {ids:?}");
    }
}
