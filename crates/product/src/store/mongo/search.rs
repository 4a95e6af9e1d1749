//! Ranked search on MongoDB without a text index (not every MongoDB-wire server has one, and
//! Atlas Search is a separate product): an index of our own.
//!
//! Each product has a `product_search` document, written in the same transaction as the
//! product, holding the stemmed words of each field (`name`, `category`, `tags`,
//! `description`) and all of them together in `all`, which carries a multikey index.
//!
//! A query word is stemmed the same way and matches every indexed word it is a prefix of —
//! what PostgreSQL's `to_tsquery('english', 'word:*')` does — found through the index as a
//! string range (`$gte` the word, `$lt` the word followed by the highest code point), never
//! a regular expression: the user's text is only ever a value. The server then scores each
//! candidate, sorts and pages, so only a page of ids comes back:
//!
//! score = Σ over query words of 10 (in the name) + 5 (in the category) + 5 (in a tag) +
//! 1 (in the description)
//!
//! the field weights of the SQLite backend's BM25, counting each field once per word so that
//! repeating a word in a description does not lift a product. Ties go by id, like the SQL
//! backends.

use mongodb::bson::{Bson, Document, doc};

/// Field weights: a name match outranks a category or tag match, which outranks the
/// description.
const FIELDS: [(&str, i32); 4] = [("name", 10), ("category", 5), ("tags", 5), ("description", 1)];

/// Longest word indexed; longer runs of letters are ids or noise, not words people search.
const MAX_WORD: usize = 64;

/// Splits `text` into lower-case stems: letters and digits make words, anything else
/// separates them (as the query side does).
pub fn stems(text: &str) -> Vec<String> {
    let stemmer = frostem::Stemmer::new(frostem::Algorithm::English);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= MAX_WORD)
        .map(|w| stemmer.stem(&w.to_lowercase()).into_owned())
        .collect()
}

/// The stem of one query word (already lower-case and alphanumeric).
pub fn stem(word: &str) -> String {
    frostem::Stemmer::new(frostem::Algorithm::English).stem(&word.to_lowercase()).into_owned()
}

fn unique(mut words: Vec<String>) -> Vec<String> {
    words.sort();
    words.dedup();
    words
}

/// The `product_search` document of a product.
pub fn index_document(id: &str, name: &str, category: &str, tags: &[String], description: &str) -> Document {
    let name = unique(stems(name));
    let category = unique(stems(category));
    let tags = unique(tags.iter().flat_map(|t| stems(t)).collect());
    let description = unique(stems(description));
    let all = unique(name.iter().chain(&category).chain(&tags).chain(&description).cloned().collect());
    doc! { "_id": id, "name": name, "category": category, "tags": tags, "description": description, "all": all }
}

/// Strings that start with `prefix`, as an index range: every such string sorts at or after
/// `prefix` and before `prefix` followed by U+10FFFF (indexed words are letters and digits,
/// so none contains that code point).
fn prefix_range(prefix: &str) -> Document {
    doc! { "$gte": prefix, "$lt": format!("{prefix}{}", char::MAX) }
}

/// Whether any word of the array `field` starts with `prefix` (an aggregation expression).
fn any_starts_with(field: &str, prefix: &str) -> Document {
    let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    doc! {
        "$anyElementTrue": [{
            "$map": {
                "input": format!("${field}"),
                "as": "w",
                "in": { "$eq": [{ "$substrCP": ["$$w", 0, length] }, prefix] },
            }
        }]
    }
}

/// The aggregation on `product_search` answering `terms` (query words, stemmed here) with the
/// ids of one page, best first; `None` when no term is left.
pub fn pipeline(terms: &[String], skip: i64, limit: i64) -> Option<Vec<Document>> {
    let prefixes = unique(terms.iter().map(|t| stem(t)).filter(|t| !t.is_empty()).collect());
    if prefixes.is_empty() {
        return None;
    }
    // `$elemMatch`, not a bare range: on an array, `$gte` and `$lt` could otherwise be met by
    // two different words.
    let matches: Vec<Bson> =
        prefixes.iter().map(|p| Bson::Document(doc! { "all": { "$elemMatch": prefix_range(p) } })).collect();
    let score: Vec<Bson> = prefixes
        .iter()
        .flat_map(|p| {
            FIELDS
                .iter()
                .map(move |(field, weight)| Bson::Document(doc! { "$cond": [any_starts_with(field, p), weight, 0] }))
        })
        .collect();
    Some(vec![
        doc! { "$match": { "$or": matches } },
        doc! { "$project": { "score": { "$add": score } } },
        doc! { "$sort": { "score": -1, "_id": 1 } },
        doc! { "$skip": skip },
        doc! { "$limit": limit },
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stems_words_like_an_english_search_engine() {
        assert_eq!(stems("Quantum Headphones, noise-cancelling!"), ["quantum", "headphon", "nois", "cancel"]);
        assert_eq!(stem("Gardening"), stems("gardening")[0]);
        assert!(stems("(.*[a-").iter().all(|w| w.chars().all(char::is_alphanumeric)));
    }

    #[test]
    fn index_documents_hold_each_fields_words_once() {
        let doc = index_document("p", "Lamp lamp", "Home", &["desk".into(), "lamps".into()], "A lamp");
        assert_eq!(doc.get_array("name").unwrap().len(), 1);
        let all: Vec<&str> = doc.get_array("all").unwrap().iter().filter_map(Bson::as_str).collect();
        assert_eq!(all, ["a", "desk", "home", "lamp"]);
    }

    #[test]
    fn the_query_is_values_only() {
        let pipeline = pipeline(&["$where".into(), "headphones".into()], 0, 20).unwrap();
        let text = format!("{pipeline:?}");
        assert!(!text.contains("$regex"), "{text}");
        assert!(text.contains("headphon"));
        assert!(super::pipeline(&[], 0, 20).is_none());
    }
}
