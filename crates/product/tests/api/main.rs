//! Black-box API tests of the product service: the same behaviours, run against SQLite
//! (always), PostgreSQL (`TEST_DATABASE_URL`) and MongoDB (`TEST_MONGODB_URL`, for instance
//! SecantusDB started by `bench/mongo/start_secantus.sh`); a missing server skips its tests
//! unless `SHOP_REQUIRE_TEST_SERVERS=1`. Each test starts its own service on a fresh database.
//!
//! - [`helpers`]: `spawn_app` (on `testkit`), catalog calls, event-log polling.
//! - [`products`], [`contract`]: the behaviours, each an `async fn(Backend)`.
//! - [`on_mongodb`]: what only the MongoDB backend has (document shape, outbox relay, outages).

mod contract;
mod helpers;
mod on_mongodb;
mod openapi;
mod products;

testkit::on_backends!(
    mongo:
    products::creates_and_reads_back,
    products::generates_an_id_when_none_is_given,
    products::rejects_a_duplicate_id,
    products::rejects_missing_and_invalid_fields_without_storing,
    products::rejects_malformed_json_and_wrong_types,
    products::paginates_in_a_stable_order,
    products::rejects_out_of_range_paging,
    products::filters_by_category_tag_price_and_ids,
    products::rejects_bad_filters,
    products::search_ranks_name_matches_above_description_matches,
    products::search_matches_tags_and_category,
    products::search_treats_regex_syntax_as_text,
    products::search_requires_a_query,
    products::search_follows_updates_and_deletes,
    products::put_and_patch_change_only_the_given_fields,
    products::empty_image_url_clears_the_image,
    products::update_rejects_empty_unknown_and_invalid_bodies,
    products::deletes_then_answers_not_found,
    products::rejects_invalid_path_ids,
    products::health_and_unknown_routes,
    products::every_change_publishes_an_event,
    products::failed_writes_publish_nothing,
    products::lists_in_creation_order_within_a_second,
    products::rejects_control_characters,
    contract::prices_are_exact_or_refused,
    contract::errors_speak_the_apis_language,
    contract::the_originals_lenient_inputs_work,
);
