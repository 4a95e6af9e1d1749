//! Who may do what (issue 9): every endpoint × every kind of caller, through the gateway and
//! directly on each service's port, with the same outcome; ownership; rate limits.

use crate::helpers::{Backend, Options, TestPlatform, order_body, spawn};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use testkit::{Body, Client};

/// Every kind of caller the table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Anonymous,
    Alice,
    Bob,
    Admin,
    Service,
    Expired,
    WrongAudience,
    WrongIssuer,
    AlgNone,
    Hs256WithThePublicKey,
    AnotherKey,
}

const EVERYONE: [Who; 11] = [
    Who::Anonymous,
    Who::Alice,
    Who::Bob,
    Who::Admin,
    Who::Service,
    Who::Expired,
    Who::WrongAudience,
    Who::WrongIssuer,
    Who::AlgNone,
    Who::Hs256WithThePublicKey,
    Who::AnotherKey,
];

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn claims(issuer: &str, audience: &str, exp: u64) -> Value {
    json!({
        "iss": issuer, "sub": "mallory", "aud": [audience], "exp": exp, "iat": now(),
        "email": "alice@example.com", "realm_access": {"roles": ["admin", "user"]},
    })
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

/// The `Authorization` value each kind of caller sends.
fn token(app: &TestPlatform, who: Who) -> Option<String> {
    let issuer = &app.platform.as_ref().expect("running").issuer;
    let person = |email: &str, roles: &[&str]| {
        issuer.mint(&identity::Subject::person(email, roles, "api-gateway"), 600).expect("a token")
    };
    let kid = issuer.key().kid().to_owned();
    let token = match who {
        Who::Anonymous => return None,
        Who::Alice => person("alice@example.com", &["user"]),
        Who::Bob => person("bob@example.com", &["user"]),
        Who::Admin => person("admin@example.com", &["admin", "user"]),
        Who::Service => issuer.mint(&identity::Subject::service("order-service"), 600).expect("a token"),
        Who::Expired => issuer.key().sign(&claims(&issuer.url, "shop-api", now() - 600)).expect("signed"),
        Who::WrongAudience => issuer.key().sign(&claims(&issuer.url, "someone-else", now() + 600)).expect("signed"),
        Who::WrongIssuer => issuer
            .key()
            .sign(&claims("http://evil.example/realms/microservices", "shop-api", now() + 600))
            .expect("signed"),
        Who::AlgNone => {
            format!(
                "{}.",
                unsigned(
                    json!({"alg": "none", "typ": "JWT", "kid": kid}),
                    &claims(&issuer.url, "shop-api", now() + 600)
                )
            )
        }
        Who::Hs256WithThePublicKey => {
            // The classic confusion: an HMAC keyed with the issuer's public key.
            let input = unsigned(
                json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &claims(&issuer.url, "shop-api", now() + 600),
            );
            let public = issuer.key().jwk()["n"].as_str().unwrap_or_default().to_owned();
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes());
            let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
        }
        Who::AnotherKey => {
            let other = identity::SigningKey::ephemeral().expect("a key");
            other.sign(&claims(&issuer.url, "shop-api", now() + 600)).expect("signed")
        }
    };
    Some(format!("Bearer {token}"))
}

/// One request of the table: what, where, and who gets which status.
struct Case {
    name: &'static str,
    service: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    /// Expected status for the valid identities; every bad token is 401.
    anonymous: u16,
    alice: u16,
    bob: u16,
    admin: u16,
    service_account: u16,
}

impl Case {
    fn expected(&self, who: Who) -> u16 {
        match who {
            Who::Anonymous => self.anonymous,
            Who::Alice => self.alice,
            Who::Bob => self.bob,
            Who::Admin => self.admin,
            Who::Service => self.service_account,
            _ => 401,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn case(
    name: &'static str,
    service: &'static str,
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    [anonymous, alice, bob, admin, service_account]: [u16; 5],
) -> Case {
    Case { name, service, method, path: path.into(), body, anonymous, alice, bob, admin, service_account }
}

/// Fresh resources for each attempt at an endpoint that changes state.
async fn alice_order(app: &TestPlatform) -> String {
    let placed = app.post("/api/orders", order_body("alice@example.com", &[("sec-1", 1)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    placed.body["id"].as_str().unwrap().to_owned()
}

async fn cases(app: &TestPlatform, who: Who) -> Vec<Case> {
    let alice_order = alice_order(app).await;
    let to_cancel = self::alice_order(app).await;
    let fresh = uuid::Uuid::now_v7();
    let product = format!("sec-new-{}", uuid::Uuid::now_v7().simple());
    let reservation = json!({"order_id": fresh, "items": [{"product_id": "sec-1", "quantity": 1}]});
    // A reservation of an order that was never written, to read and to release.
    let orphan = uuid::Uuid::now_v7();
    let held = app
        .post(
            "/api/inventory/reservations",
            json!({"order_id": orphan, "items": [{"product_id": "sec-1", "quantity": 1}]}),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let _ = who;
    vec![
        case("list products", "product", Method::GET, "/api/products", None, [200, 200, 200, 200, 200]),
        case("get a product", "product", Method::GET, "/api/products/sec-1", None, [200, 200, 200, 200, 200]),
        case("search products", "product", Method::GET, "/api/products/search?q=sec", None, [200, 200, 200, 200, 200]),
        case(
            "create a product",
            "product",
            Method::POST,
            "/api/products",
            Some(json!({"id": product, "name": "New", "description": "", "price": 1.0, "category": "Test"})),
            [401, 403, 403, 201, 403],
        ),
        case(
            "update a product",
            "product",
            Method::PATCH,
            "/api/products/sec-1",
            Some(json!({"description": "still secure"})),
            [401, 403, 403, 200, 403],
        ),
        case(
            "delete a product",
            "product",
            Method::DELETE,
            "/api/products/no-such-product",
            None,
            [401, 403, 403, 404, 403],
        ),
        case("list stock", "inventory", Method::GET, "/api/inventory", None, [401, 403, 403, 200, 200]),
        case("get stock", "inventory", Method::GET, "/api/inventory/sec-1", None, [401, 403, 403, 200, 200]),
        case(
            "restock",
            "inventory",
            Method::PATCH,
            "/api/inventory/sec-1/restock",
            Some(json!({"quantity": 1})),
            [401, 403, 403, 200, 403],
        ),
        case(
            "reserve",
            "inventory",
            Method::POST,
            "/api/inventory/reservations",
            Some(reservation),
            [401, 403, 403, 201, 201],
        ),
        case(
            "read a hold",
            "inventory",
            Method::GET,
            format!("/api/inventory/reservations/{orphan}"),
            None,
            [401, 403, 403, 200, 200],
        ),
        case(
            "release a hold",
            "inventory",
            Method::DELETE,
            format!("/api/inventory/reservations/{orphan}"),
            None,
            [401, 403, 403, 200, 200],
        ),
        case(
            "place an order for alice",
            "order",
            Method::POST,
            "/api/orders",
            Some(order_body("alice@example.com", &[("sec-1", 1)])),
            [401, 201, 403, 201, 403],
        ),
        case("list all orders", "order", Method::GET, "/api/orders", None, [401, 403, 403, 200, 403]),
        case("my orders", "order", Method::GET, "/api/orders/me", None, [401, 200, 200, 200, 403]),
        case(
            "alice's orders",
            "order",
            Method::GET,
            "/api/orders/user/alice@example.com",
            None,
            [401, 200, 403, 200, 403],
        ),
        case(
            "alice's order",
            "order",
            Method::GET,
            format!("/api/orders/{alice_order}"),
            None,
            [401, 200, 404, 200, 200],
        ),
        case(
            "set a status",
            "order",
            Method::PATCH,
            format!("/api/orders/{alice_order}/status"),
            Some(json!({"status": "CONFIRMED"})),
            [401, 403, 403, 200, 403],
        ),
        case(
            "cancel alice's order",
            "order",
            Method::PATCH,
            format!("/api/orders/{to_cancel}/cancel"),
            None,
            [401, 200, 404, 200, 404],
        ),
        case(
            "void an order id",
            "order",
            Method::POST,
            format!("/api/orders/{}/void", uuid::Uuid::now_v7()),
            Some(json!({})),
            [401, 403, 403, 200, 200],
        ),
        case("my notifications", "notification", Method::GET, "/api/notifications", None, [401, 200, 200, 200, 403]),
        case(
            "bob's notifications",
            "notification",
            Method::GET,
            "/api/notifications?email=bob@example.com",
            None,
            [401, 403, 200, 200, 403],
        ),
        case(
            "ask the assistant",
            "ai",
            Method::POST,
            "/api/ai/suggest",
            Some(json!({"query": "headphones"})),
            [200, 200, 200, 200, 200],
        ),
    ]
}

fn service_url(app: &TestPlatform, service: &str) -> String {
    let ports = app.ports();
    let port = match service {
        "product" => ports.product,
        "inventory" => ports.inventory,
        "order" => ports.order,
        "notification" => ports.notification,
        _ => ports.ai,
    };
    format!("http://127.0.0.1:{port}")
}

pub async fn every_endpoint_enforces_its_rules_the_same_through_the_gateway_and_directly(backend: Backend) {
    let Some(app) = spawn(backend, Options { seed_demo: true, ..Options::default() }).await else { return };
    app.stock_product("sec-1", 3.0, 100_000).await;
    // The assistant reads the catalog at start-up: wait until it answers.
    let ready = testkit::eventually(std::time::Duration::from_secs(20), || async {
        app.post("/api/ai/suggest", json!({"query": "x"})).await.status == StatusCode::OK
    })
    .await;
    assert!(ready);
    let anonymous = Client::new(app.base.clone());
    let mut mismatches: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = 0;
    for who in EVERYONE {
        let authorization = token(&app, who);
        for route in ["gateway", "direct"] {
            for case in cases(&app, who).await {
                let base = if route == "gateway" { app.base.clone() } else { service_url(&app, case.service) };
                let client = match &authorization {
                    Some(value) => anonymous.at(base).with_header("authorization", value),
                    None => anonymous.at(base),
                };
                let body: Body = case.body.clone().into();
                let reply = client.request(case.method.clone(), &case.path, body, &[]).await;
                let expected = case.expected(who);
                checked += 1;
                if reply.status.as_u16() != expected {
                    mismatches.insert(
                        format!("{route} {:?} {}", who, case.name),
                        format!("expected {expected}, got {} {}", reply.status, reply.text),
                    );
                } else if expected == 401 {
                    let challenge = reply.header("www-authenticate").unwrap_or_default();
                    if !challenge.starts_with("Bearer") || !challenge.contains("error=") {
                        mismatches.insert(
                            format!("{route} {:?} {}", who, case.name),
                            format!("401 without a Bearer challenge: {challenge:?}"),
                        );
                    }
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{} of {checked} checks failed:\n{mismatches:#?}", mismatches.len());
}

/// A user cannot order in someone else's name, nor see, list or cancel their orders, nor read
/// their emails; only the order service (or staff) touches reservations.
pub async fn users_only_see_their_own(backend: Backend) {
    let Some(app) = spawn(backend, Options::default()).await else { return };
    app.stock_product("own-1", 2.0, 1_000).await;
    let alice =
        Client::new(app.base.clone()).with_header("authorization", &token(&app, Who::Alice).unwrap_or_default());
    let bob = Client::new(app.base.clone()).with_header("authorization", &token(&app, Who::Bob).unwrap_or_default());
    let placed = alice.post("/api/orders", order_body("alice@example.com", &[("own-1", 1)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let id = placed.body["id"].as_str().unwrap();
    assert_eq!(
        bob.post("/api/orders", order_body("alice@example.com", &[("own-1", 1)])).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(bob.get(&format!("/api/orders/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(bob.patch(&format!("/api/orders/{id}/cancel"), None).await.status, StatusCode::NOT_FOUND);
    let bobs = bob.get("/api/orders/me").await;
    assert_eq!(bobs.body.as_array().map(Vec::len), Some(0), "bob sees none of alice's orders");
    let alices = alice.get("/api/orders/me").await;
    assert_eq!(alices.body.as_array().map(Vec::len), Some(1));
    assert_eq!(bob.get("/api/notifications?email=alice@example.com").await.status, StatusCode::FORBIDDEN);
    let hold = json!({"order_id": uuid::Uuid::now_v7(), "items": [{"product_id": "own-1", "quantity": 1}]});
    assert_eq!(alice.post("/api/inventory/reservations", hold).await.status, StatusCode::FORBIDDEN);
    assert_eq!(alice.delete(&format!("/api/inventory/reservations/{id}")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(alice.patch(&format!("/api/orders/{id}/cancel"), None).await.status, StatusCode::OK);
}

/// The 61st catalog request within a minute from one client is refused; two users have
/// budgets of their own; a spoofed X-Forwarded-For from an untrusted peer changes nothing.
pub async fn rate_limits_are_per_client(backend: Backend) {
    let Some(app) = spawn(backend, Options { rate_limits: (60, 15), ..Options::default() }).await else { return };
    let anonymous = Client::new(app.base.clone());
    for i in 0..60 {
        let spoof = format!("10.0.0.{i}");
        let reply = anonymous.request(Method::GET, "/api/products", Body::Empty, &[("x-forwarded-for", &spoof)]).await;
        assert_eq!(reply.status, StatusCode::OK, "request {i}");
    }
    let refused =
        anonymous.request(Method::GET, "/api/products", Body::Empty, &[("x-forwarded-for", "10.9.9.9")]).await;
    refused.assert_problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.header("retry-after").is_some_and(|s| s.parse::<u64>().is_ok_and(|s| s >= 1)));
    assert_eq!(refused.header("ratelimit-limit"), Some("60"));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    // Bad tokens count against the address too.
    let garbage = anonymous.with_header("authorization", "Bearer not.a.token");
    assert_eq!(garbage.get("/api/products").await.status, StatusCode::TOO_MANY_REQUESTS);
    // Signed-in users have their own budgets.
    let alice = anonymous.with_header("authorization", &token(&app, Who::Alice).unwrap_or_default());
    let bob = anonymous.with_header("authorization", &token(&app, Who::Bob).unwrap_or_default());
    for _ in 0..60 {
        assert_eq!(alice.get("/api/products").await.status, StatusCode::OK);
    }
    assert_eq!(alice.get("/api/products").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(bob.get("/api/products").await.status, StatusCode::OK, "bob's budget is his own");
    // The assistant's budget is smaller and separate.
    let carol = anonymous.with_header("authorization", &format!("Bearer {}", testkit_token(&app, "carol@example.com")));
    for _ in 0..15 {
        carol.post("/api/ai/suggest", json!({"query": "x"})).await;
    }
    assert_eq!(carol.post("/api/ai/suggest", json!({"query": "x"})).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(carol.get("/api/products").await.status, StatusCode::OK);
}

fn testkit_token(app: &TestPlatform, email: &str) -> String {
    let issuer = &app.platform.as_ref().expect("running").issuer;
    issuer.mint(&identity::Subject::person(email, &["user"], "api-gateway"), 600).expect("a token")
}

/// With `AUTH_MODE=off` the platform is as open as the original, and says so.
pub async fn auth_mode_off_is_open_and_says_so(backend: Backend) {
    let Some(app) = crate::helpers::spawn_open(backend).await else { return };
    let anonymous = Client::new(app.base.clone());
    let health = anonymous.get("/health").await;
    assert_eq!(health.body["auth_enabled"], false);
    assert!(health.body["warning"].as_str().is_some_and(|w| w.contains("AUTH_MODE=off")));
    app.stock_product("open-1", 2.0, 10).await;
    let placed = anonymous.post("/api/orders", order_body("anyone@example.com", &[("open-1", 1)])).await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert_eq!(anonymous.get("/api/orders").await.status, StatusCode::OK);
}
