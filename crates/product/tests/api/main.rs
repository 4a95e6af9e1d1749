//! Black-box API tests of the product service: the same behaviours, run once against SQLite
//! (always) and once against PostgreSQL (`TEST_DATABASE_URL`; skipped without a server unless
//! `SHOP_REQUIRE_TEST_SERVERS=1`). Each test starts its own service on a fresh database.
//!
//! - [`helpers`]: `spawn_app`, the HTTP client, event-log polling.
//! - [`products`]: the behaviours, each an `async fn(Backend)`.

mod helpers;
mod products;

/// Instantiates every behaviour in `products` once per backend, as
/// `sqlite::<name>` and `postgres::<name>` (so `cargo test -p product --test api sqlite::`
/// picks one backend). `#[sqlite <attr>]` before a name applies `<attr>` to its SQLite
/// instance only (to park a test on a backend-specific bug without losing the other backend).
macro_rules! backend_tests {
    ($($(#[sqlite $sqlite:meta])* $name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                $(#[$sqlite])*
                #[tokio::test]
                async fn $name() {
                    crate::products::$name(crate::helpers::Backend::Sqlite).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    crate::products::$name(crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}

backend_tests!(
    creates_and_reads_back,
    generates_an_id_when_none_is_given,
    rejects_a_duplicate_id,
    rejects_missing_and_invalid_fields_without_storing,
    rejects_malformed_json_and_wrong_types,
    paginates_in_a_stable_order,
    rejects_out_of_range_paging,
    filters_by_category_tag_price_and_ids,
    rejects_bad_filters,
    search_ranks_name_matches_above_description_matches,
    search_matches_tags_and_category,
    search_treats_regex_syntax_as_text,
    search_requires_a_query,
    search_follows_updates_and_deletes,
    put_and_patch_change_only_the_given_fields,
    empty_image_url_clears_the_image,
    update_rejects_empty_unknown_and_invalid_bodies,
    deletes_then_answers_not_found,
    rejects_invalid_path_ids,
    health_and_unknown_routes,
    every_change_publishes_an_event,
    failed_writes_publish_nothing,
    lists_in_creation_order_within_a_second,
);
