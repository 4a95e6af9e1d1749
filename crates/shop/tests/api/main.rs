//! Platform behaviour tests: every service running in-process on real ports, driven through
//! the gateway over real HTTP, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod kafka;
mod orders;

/// Instantiates each behaviour for both backends.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                crate::orders::$name(crate::helpers::Backend::Sqlite).await;
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                crate::orders::$name(crate::helpers::Backend::Postgres).await;
            })+
        }
    };
}

on_both_backends!(
    demo_catalog_is_served_through_the_gateway,
    concurrent_orders_never_oversell,
    idempotency_key_replays_and_rejects_a_different_body,
    bad_orders_store_nothing_and_reserve_nothing,
    cancel_releases_and_shipping_commits,
    illegal_transitions_are_refused,
    orphan_reservation_expires,
    order_events_reach_the_log_with_the_original_fields,
    emails_follow_the_order,
);
