//! Platform behaviour tests: every service running in-process on real ports, driven through
//! the gateway over real HTTP, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assistant;
mod contract;
mod crash;
mod disk_full;
mod faults;
mod helpers;
mod kafka;
mod load;
mod metrics;
mod openapi;
mod orders;
mod security;
mod storefront;
mod traces;

testkit::on_backends!(
    orders::demo_catalog_is_served_through_the_gateway,
    orders::concurrent_orders_never_oversell,
    orders::idempotency_key_replays_and_rejects_a_different_body,
    orders::bad_orders_store_nothing_and_reserve_nothing,
    orders::cancel_releases_and_shipping_commits,
    orders::illegal_transitions_are_refused,
    orders::orphan_reservation_expires,
    orders::order_events_reach_the_log_with_the_original_fields,
    orders::emails_follow_the_order,
    faults::control_characters_in_customer_fields_are_refused,
    faults::a_poison_event_does_not_stop_the_emails,
    faults::one_key_racing_for_scarce_stock_gets_one_order,
    faults::order_pages_always_carry_their_items,
    faults::a_shutdown_mid_storm_fails_no_accepted_order,
    faults::an_expired_hold_never_leaves_a_confirmed_order_without_stock,
    faults::uploads_too_large_or_stalled_get_the_gateways_answers,
    contract::order_prices_are_compared_exactly,
    contract::stock_quantity_is_what_the_inventory_can_sell,
    contract::bad_paths_and_request_ids_get_clean_answers,
    assistant::the_assistant_answers_from_the_catalog,
    security::every_endpoint_enforces_its_rules_the_same_through_the_gateway_and_directly,
    security::users_only_see_their_own,
    security::rate_limits_are_per_client,
    security::auth_mode_off_is_open_and_says_so,
    metrics::every_service_exports_red_and_business_metrics,
);
