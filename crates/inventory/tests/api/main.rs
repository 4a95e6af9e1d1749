//! Black-box API tests of the inventory service: the same behaviours, run once against SQLite
//! (always) and once against PostgreSQL (`TEST_DATABASE_URL`; skipped without a server unless
//! `SHOP_REQUIRE_TEST_SERVERS=1`). Each test starts its own service on a fresh store with its
//! own event log.
//!
//! - [`helpers`]: `spawn_app`, the HTTP client, event publishing and polling, a fake order
//!   service.
//! - [`stock`]: add, list, get, check, reduce, restock, update, delete.
//! - [`reservations`]: all-or-nothing, idempotent reservations, release, concurrency.
//! - [`order_events`]: order-placed / order-cancelled / order-status-changed consumption.
//! - [`expiry`]: the reservation sweeper, with and without an order service.
//! - [`low_stock`]: `inventory-low` events, once per crossing.
#![allow(clippy::unwrap_used)]

/// Starts the service (with an optional reservation TTL), or returns from the test when its
/// backend is unavailable.
macro_rules! app {
    ($backend:expr) => {
        app!($backend, $crate::helpers::LONG_TTL)
    };
    ($backend:expr, $ttl:expr) => {
        match $crate::helpers::spawn_app($backend, $ttl).await {
            Some(app) => app,
            None => return,
        }
    };
}

mod expiry;
mod helpers;
mod low_stock;
mod openapi;
mod order_events;
mod reservations;
mod stock;

testkit::on_backends!(
    stock::adds_with_defaults_and_reads_back,
    stock::rejects_a_duplicate_product,
    stock::rejects_missing_and_invalid_fields,
    stock::lists_in_pages,
    stock::rejects_out_of_range_paging,
    stock::unknown_products_are_not_found,
    stock::checks_availability,
    stock::reduces_within_available_stock,
    stock::refuses_to_reduce_beyond_available_stock,
    stock::restocks,
    stock::refuses_to_restock_beyond_the_ceiling,
    stock::refuses_the_reserved_route_name_as_a_product_id,
    stock::updates_name_quantity_and_threshold,
    stock::refuses_a_quantity_below_what_is_reserved,
    stock::deletes_then_answers_not_found,
    stock::refuses_to_delete_reserved_stock,
    stock::health_and_unknown_routes,
    stock::refuses_control_characters_in_names,
    reservations::reserves_and_reads_back,
    reservations::merges_repeated_lines,
    reservations::is_idempotent_on_order_id,
    reservations::reserves_all_items_or_none,
    reservations::refuses_unknown_products,
    reservations::rejects_invalid_reservations,
    reservations::unknown_reservations_are_not_found,
    reservations::releases_once,
    reservations::never_oversells_under_concurrency,
    reservations::concurrent_multi_item_reservations_never_deadlock,
    reservations::concurrent_retries_of_one_order_reserve_once,
    reservations::a_live_orders_hold_cannot_be_released_directly,
    order_events::cancellation_releases,
    order_events::shipping_commits,
    order_events::other_status_changes_change_nothing,
    order_events::placement_confirms,
    order_events::redelivered_events_apply_once,
    order_events::bad_and_unknown_events_do_not_stall_the_consumer,
    order_events::shipping_without_a_hold_decrements_stock_once,
    expiry::releases_expired_reservations_without_an_order_service,
    expiry::confirmed_reservations_do_not_expire,
    expiry::asks_the_order_service_before_releasing,
    low_stock::reservation_crossing_alerts_once_per_crossing,
    low_stock::reduce_and_update_crossings_alert,
    low_stock::a_released_hold_does_not_rearm_the_alert,
);
