//! `shop load` against a running platform: every operation of its mix reaches the gateway
//! as a signed-in shopper and succeeds, and the orders it reports are really there.

use crate::helpers::{Backend, Options, spawn};
use http::StatusCode;
use shop::load::{LoadConfig, Operation, Tokens};
use std::time::Duration;

#[tokio::test]
async fn shop_load_drives_every_operation_as_signed_in_shoppers() {
    let Some(app) = spawn(Backend::Sqlite, Options::default()).await else { return };
    for id in ["load-1", "load-2", "load-3"] {
        app.stock_product(id, 12.5, 10_000).await;
    }
    let token_url =
        format!("http://127.0.0.1:{}/realms/microservices/protocol/openid-connect/token", app.ports().identity);
    let report = shop::load::run(LoadConfig {
        url: app.base.clone(),
        concurrency: 4,
        rate: None,
        duration: Duration::from_secs(3),
        mix: "browse=2,search=2,view=2,order=3,my-orders=1,suggest=1".parse().expect("mix"),
        tokens: Tokens::Password {
            token_url,
            client_id: "api-gateway".into(),
            users: vec![("alice".into(), "alice".into()), ("bob".into(), "bob".into())],
        },
        progress: false,
        seed: 7,
    })
    .await
    .expect("the load ran");
    let table = report.table();
    assert_eq!(report.errors(), 0, "{table}");
    for operation in Operation::ALL {
        let figures = report.operation(operation).unwrap_or_else(|| panic!("{operation:?} never ran: {table}"));
        assert!(figures.requests > 0 && figures.latency_ms[0] > 0.0, "{table}");
        assert!(figures.latency_ms[0] <= figures.latency_ms[2] && figures.latency_ms[2] <= figures.latency_ms[3]);
    }
    assert!(report.orders_per_second() > 0.0, "{table}");

    // The orders it counted were placed for the shoppers it signed in.
    let accepted = {
        let order = report.operation(Operation::Order).expect("orders");
        order.requests - order.refused
    };
    let mut found = 0;
    for email in ["alice@example.com", "bob@example.com"] {
        let listed = app.get(&format!("/api/orders/user/{email}")).await;
        assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
        found += listed.header("x-total-count").and_then(|n| n.parse::<u64>().ok()).unwrap_or_default();
    }
    assert_eq!(found, accepted, "{table}");
    assert!(table.contains("orders accepted"), "{table}");
}
