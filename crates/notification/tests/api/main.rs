//! Black-box tests of the notification service: the same behaviours, run once against SQLite
//! (always) and once against PostgreSQL (`TEST_DATABASE_URL`; skipped without a server unless
//! `SHOP_REQUIRE_TEST_SERVERS=1`). Each test starts its own service on fresh stores with its
//! own embedded event log (through `testkit`), publishes events the way producers do, and
//! reads back the emails (`.eml` files, or what an SMTP server inside the test received), the
//! record (`GET /api/notifications`) and the dead-letter topic.
//!
//! - [`helpers`]: `spawn`, events, waiting for the consumer and the retry worker; [`mime`]:
//!   reading emails; [`smtp_sink`]: the SMTP server.
//! - [`emails`]: what each event sends to whom, escaping and sanitising, unusable names and
//!   addresses.
//! - [`delivery`]: redelivery, replay after a restart, poison messages, durable retries
//!   across an unwritable mail directory and a restart, a crash between sending and
//!   recording, a dead-letter topic that refuses.
//! - [`smtp`]: the message on the wire, retries, an outage, giving up and replaying, a
//!   missing server, a stable Message-ID.
//! - [`listing`]: `/api/notifications` paging and validation, `/health`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Starts the service (writing `.eml` files, or as the given `helpers::Setup` says), or
/// returns from the test when its backend is unavailable.
macro_rules! app {
    ($backend:expr) => {
        app!($backend, $crate::helpers::Setup::default())
    };
    ($backend:expr, $setup:expr) => {
        match $crate::helpers::spawn($backend, $setup).await {
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
mod openapi;
mod smtp;
mod smtp_sink;

testkit::on_backends!(
    emails::order_placed_sends_one_confirmation,
    emails::customer_names_are_escaped_in_html,
    emails::cancellation_and_shipping_send_their_emails,
    emails::low_stock_alerts_the_admin,
    emails::ai_follow_up_is_sanitised,
    emails::ai_follow_up_without_recipient_sends_nothing,
    emails::unusable_names_and_addresses_never_stop_the_consumer,
    delivery::redelivered_events_send_once,
    delivery::replays_after_a_restart_send_nothing_twice,
    delivery::poison_messages_are_dead_lettered,
    delivery::an_unwritable_mail_directory_delays_but_loses_nothing,
    delivery::scheduled_retries_survive_a_restart,
    delivery::a_crash_between_sending_and_recording_writes_one_file,
    delivery::a_refused_dead_letter_waits_in_the_outbox,
    smtp::delivers_a_multipart_message,
    smtp::retries_a_refusing_server,
    smtp::an_outage_of_a_second_loses_no_email,
    smtp::an_exhausted_schedule_dead_letters_once_and_a_replay_sends,
    smtp::an_unreachable_server_fails_and_dead_letters,
    smtp::a_resent_email_keeps_its_message_id,
    listing::lists_in_pages_newest_first,
    listing::rejects_out_of_range_paging,
    listing::health_and_unknown_routes,
);
