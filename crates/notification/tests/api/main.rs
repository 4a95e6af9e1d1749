//! Black-box tests of the notification service: the same behaviours, run once against SQLite
//! (always) and once against PostgreSQL (`TEST_DATABASE_URL`; skipped without a server unless
//! `SHOP_REQUIRE_TEST_SERVERS=1`). Each test starts its own service on a fresh store with its
//! own embedded event log, publishes events the way producers do, and reads back the emails
//! (`.eml` files, or what an SMTP server inside the test received), the record
//! (`GET /api/notifications`) and the dead-letter topic.
//!
//! - [`helpers`]: `spawn`, HTTP, events, waiting for the consumer; [`mime`]: reading emails;
//!   [`smtp_sink`]: the SMTP server.
//! - [`emails`]: what each event sends to whom, escaping and sanitising.
//! - [`delivery`]: redelivery, replay after a restart, poison messages.
//! - [`smtp`]: the message on the wire, retries, a refusing or missing server.
//! - [`listing`]: `/api/notifications` paging and validation, `/health`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Starts the service (writing `.eml` files, or with the given `notification::Transport`),
/// or returns from the test when its backend is unavailable.
macro_rules! app {
    ($backend:expr) => {
        match $crate::helpers::spawn_with_files($backend).await {
            Some(app) => app,
            None => return,
        }
    };
    ($backend:expr, $transport:expr) => {
        match $crate::helpers::spawn($backend, $transport).await {
            Some(app) => app,
            None => return,
        }
    };
}

mod delivery;
mod emails;
mod helpers;
mod listing;
mod mime;
mod smtp;
mod smtp_sink;

/// Instantiates every behaviour (`module::name`) once per backend, as `sqlite::<name>` and
/// `postgres::<name>` (so `cargo test -p notification --test api sqlite::` picks one backend).
macro_rules! backend_tests {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::$module::$name(crate::helpers::Backend::Sqlite).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::$module::$name(crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}

backend_tests!(
    emails::order_placed_sends_one_confirmation,
    emails::customer_names_are_escaped_in_html,
    emails::cancellation_and_shipping_send_their_emails,
    emails::low_stock_alerts_the_admin,
    emails::ai_follow_up_is_sanitised,
    emails::ai_follow_up_without_recipient_sends_nothing,
    delivery::redelivered_events_send_once,
    delivery::replays_after_a_restart_send_nothing_twice,
    delivery::poison_messages_are_dead_lettered,
    smtp::delivers_a_multipart_message,
    smtp::retries_a_refusing_server,
    smtp::gives_up_after_the_attempts_and_dead_letters,
    smtp::an_unreachable_server_fails_and_dead_letters,
    listing::lists_in_pages_newest_first,
    listing::rejects_out_of_range_paging,
    listing::health_and_unknown_routes,
);
