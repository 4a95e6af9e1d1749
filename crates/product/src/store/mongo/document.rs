//! A product as a MongoDB document, in the original service's shape: `_id`, `name`,
//! `description`, `price` (a BSON double, like the original's Python float), `category`,
//! `tags`, `image_url`, `stock_quantity`, `created_at` and `updated_at` (BSON dates), plus our
//! `attributes`.
//!
//! Two things are added, both needed for exactness, neither changing a field the original
//! had:
//! - `_micros`: the timestamps to the microsecond. BSON dates hold milliseconds, but the API
//!   answers (and the SQL stores keep) microseconds, and `GET` must return what `POST` did.
//!   A document whose `_micros` disagrees with its dates (edited by another program) is read
//!   by its dates.
//! - attribute keys are escaped where MongoDB gives them a meaning (`$` first, `.`, NUL), so
//!   a client's key is data, never an operator or a path (see [`escape_key`]).
//!
//! Reading is lenient so documents the original service wrote still load: an ObjectId `_id`,
//! an integer or decimal price, a missing `attributes`, `tags` or `image_url`.

use super::super::StoreError;
use crate::domain::Product;
use contracts::Money;
use mongodb::bson::{self, Bson, DateTime, Document, doc, oid::ObjectId};
use serde_json::{Map, Number, Value};
use std::str::FromStr;
use time::OffsetDateTime;

/// The document for `product`.
pub fn to_document(product: &Product) -> Document {
    doc! {
        "_id": &product.id,
        "name": &product.name,
        "description": &product.description,
        "price": price(product.price),
        "category": &product.category,
        "tags": &product.tags,
        "image_url": product.image_url.as_deref().map_or(Bson::Null, Bson::from),
        "stock_quantity": product.stock_quantity,
        "attributes": attributes(&product.attributes),
        "created_at": date(product.created_at),
        "updated_at": date(product.updated_at),
        "_micros": { "created_at": micros(product.created_at), "updated_at": micros(product.updated_at) },
    }
}

/// A price as the original stored it: a double. Exact both ways: cents are below 2^53, and
/// `cents / 100` rounded to the nearest double comes back as the same cents when multiplied
/// and rounded (see the test below).
pub fn price(money: Money) -> f64 {
    money.cents() as f64 / 100.0
}

/// A time as a BSON date (milliseconds; rounded down).
pub fn date(at: OffsetDateTime) -> DateTime {
    DateTime::from_millis(millis(at))
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// Microseconds since the epoch.
pub fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000)).unwrap_or(i64::MAX)
}

/// `attributes` as a BSON document, keys escaped.
pub fn attributes(map: &Map<String, Value>) -> Document {
    map.iter().map(|(k, v)| (escape_key(k), to_bson(v))).collect()
}

/// A JSON value as BSON; integers stay integers, and an integer beyond `i64` becomes a
/// Decimal128 (exact) rather than a double (rounded).
fn to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Bson::Int64(i),
            (None, Some(u), _) => {
                bson::Decimal128::from_str(&u.to_string()).map_or(Bson::Double(u as f64), Bson::Decimal128)
            }
            (_, _, Some(f)) => Bson::Double(f),
            _ => Bson::Null,
        },
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(to_bson).collect()),
        Value::Object(map) => Bson::Document(attributes(map)),
    }
}

/// BSON back to JSON. Types JSON lacks are shown the way the original's API showed them
/// (ObjectIds as hex, dates as RFC 3339) rather than refused.
fn to_json(value: &Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Bson::Decimal128(d) => decimal_to_json(&d.to_string()),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Bson::Document(d) => Value::Object(d.iter().map(|(k, v)| (unescape_key(k), to_json(v))).collect()),
        Bson::ObjectId(oid) => Value::String(oid.to_hex()),
        Bson::DateTime(at) => at.try_to_rfc3339_string().map_or(Value::Null, Value::String),
        other => Value::String(other.to_string()),
    }
}

fn decimal_to_json(text: &str) -> Value {
    if let Ok(u) = text.parse::<u64>() {
        return Value::from(u);
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    text.parse::<f64>().ok().and_then(Number::from_f64).map_or_else(|| Value::String(text.to_owned()), Value::Number)
}

/// Escapes what MongoDB reads as syntax in a field name: a leading `$` (an operator), `.` (a
/// path) and NUL (ends a BSON name), plus `%` itself so the escape is reversible. Other keys
/// are stored as they are.
pub fn escape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for (i, c) in key.chars().enumerate() {
        match c {
            '%' => out.push_str("%25"),
            '.' => out.push_str("%2E"),
            '\0' => out.push_str("%00"),
            '$' if i == 0 => out.push_str("%24"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape_key`]; other `%` sequences are left as they are.
pub fn unescape_key(key: &str) -> String {
    if !key.contains('%') {
        return key.to_owned();
    }
    let mut out = String::with_capacity(key.len());
    let mut rest = key;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (decoded, len) = match tail.get(..3) {
            Some("%25") => ("%", 3),
            Some("%2E") => (".", 3),
            Some("%00") => ("\0", 3),
            Some("%24") => ("$", 3),
            _ => ("%", 1),
        };
        out.push_str(decoded);
        rest = &tail[len..];
    }
    out.push_str(rest);
    out
}

fn missing(field: &str, id: &str) -> StoreError {
    StoreError::Document(format!("product {}: {field} is missing or of the wrong type", kit::input::shorten(id)))
}

fn string(doc: &Document, field: &str, id: &str) -> Result<String, StoreError> {
    match doc.get(field) {
        Some(Bson::String(s)) => Ok(s.clone()),
        _ => Err(missing(field, id)),
    }
}

fn integer(value: Option<&Bson>) -> Option<i64> {
    match value? {
        Bson::Int32(i) => Some(i64::from(*i)),
        Bson::Int64(i) => Some(*i),
        Bson::Double(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

fn money(value: Option<&Bson>) -> Option<Money> {
    let cents = match value? {
        Bson::Double(f) if f.is_finite() => (f * 100.0).round(),
        Bson::Int32(i) => f64::from(*i) * 100.0,
        Bson::Int64(i) => return i.checked_mul(100).map(Money::from_cents),
        Bson::Decimal128(d) => return Money::from_decimal_text(&d.to_string()).ok(),
        _ => return None,
    };
    // Within i64 (a double beyond it would saturate silently).
    (cents.abs() < 9.0e18).then(|| Money::from_cents(cents as i64))
}

/// A time from its BSON date, to the microsecond when `_micros` agrees with the date.
fn time_of(doc: &Document, field: &str, id: &str) -> Result<OffsetDateTime, StoreError> {
    let Some(Bson::DateTime(at)) = doc.get(field) else { return Err(missing(field, id)) };
    let ms = at.timestamp_millis();
    let precise = match doc.get("_micros") {
        Some(Bson::Document(m)) => integer(m.get(field)).filter(|us| us.div_euclid(1_000) == ms),
        _ => None,
    };
    let nanos = precise.map_or(i128::from(ms) * 1_000_000, |us| i128::from(us) * 1_000);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| missing(field, id))
}

/// The document's `_id` as our string id (an ObjectId, as the original generated, is its hex).
pub fn id_of(doc: &Document) -> Option<String> {
    match doc.get("_id")? {
        Bson::String(s) => Some(s.clone()),
        Bson::ObjectId(oid) => Some(oid.to_hex()),
        _ => None,
    }
}

/// Matches a product id as stored by us (a string) or by the original (an ObjectId, for 24
/// hex digits).
pub fn id_filter(id: &str) -> Document {
    match ObjectId::parse_str(id) {
        Ok(oid) => doc! { "_id": { "$in": [id, oid] } },
        Err(_) => doc! { "_id": id },
    }
}

/// Matches any of `ids`, each as a string or (24 hex digits) an ObjectId.
pub fn ids_filter(ids: &[String]) -> Document {
    let mut any: Vec<Bson> = ids.iter().map(|id| Bson::String(id.clone())).collect();
    any.extend(ids.iter().filter_map(|id| ObjectId::parse_str(id).ok()).map(Bson::ObjectId));
    doc! { "_id": { "$in": any } }
}

/// The product in `doc`.
pub fn from_document(doc: &Document) -> Result<Product, StoreError> {
    let id = id_of(doc).ok_or_else(|| missing("_id", "?"))?;
    let tags = match doc.get("tags") {
        Some(Bson::Array(items)) => items.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let attributes = match doc.get("attributes") {
        Some(Bson::Document(d)) => d.iter().map(|(k, v)| (unescape_key(k), to_json(v))).collect(),
        _ => Map::new(),
    };
    Ok(Product {
        name: string(doc, "name", &id)?,
        description: match doc.get("description") {
            Some(Bson::String(s)) => s.clone(),
            _ => String::new(),
        },
        price: money(doc.get("price")).ok_or_else(|| missing("price", &id))?,
        category: string(doc, "category", &id)?,
        tags,
        image_url: doc.get("image_url").and_then(Bson::as_str).map(str::to_owned),
        stock_quantity: integer(doc.get("stock_quantity")).unwrap_or(0),
        attributes,
        created_at: time_of(doc, "created_at", &id)?,
        updated_at: time_of(doc, "updated_at", &id)?,
        id,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn product() -> Product {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_771_668_005_123_456_000).unwrap();
        Product {
            id: "prod-001".into(),
            name: "iPhone".into(),
            description: "Phone".into(),
            price: Money::from_cents(99_999),
            category: "Electronics".into(),
            tags: vec!["apple".into()],
            image_url: None,
            stock_quantity: 5,
            attributes: json!({"$where": 1, "a.b": {"c.d": [1, 2.5, null]}, "100%": "x", "big": u64::MAX})
                .as_object()
                .cloned()
                .unwrap(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn round_trips_to_the_microsecond_in_the_originals_shape() {
        let p = product();
        let doc = to_document(&p);
        assert_eq!(doc.get("_id"), Some(&Bson::String("prod-001".into())));
        assert_eq!(doc.get("price"), Some(&Bson::Double(999.99)));
        assert!(matches!(doc.get("created_at"), Some(Bson::DateTime(_))));
        assert_eq!(doc.get("image_url"), Some(&Bson::Null));
        let attributes = doc.get_document("attributes").unwrap();
        assert!(attributes.keys().all(|k| !k.starts_with('$') && !k.contains('.')), "{attributes:?}");
        assert_eq!(from_document(&doc).unwrap(), p);
    }

    #[test]
    fn every_price_comes_back_to_the_cent() {
        for cents in (1..200_000).chain([99_999_999_999, 1_000_000_000_000, 123_456_789_012]) {
            let back = money(Some(&Bson::Double(price(Money::from_cents(cents))))).unwrap();
            assert_eq!(back.cents(), cents);
        }
    }

    #[test]
    fn reads_what_the_original_wrote() {
        let oid = ObjectId::new();
        let doc = doc! {
            "_id": oid, "name": "Pen", "description": "Blue", "price": 2, "category": "Office",
            "tags": ["office"], "image_url": "https://x.test/p.png", "stock_quantity": 3_i32,
            "created_at": DateTime::from_millis(1_700_000_000_123), "updated_at": DateTime::from_millis(1_700_000_000_456),
        };
        let p = from_document(&doc).unwrap();
        assert_eq!(p.id, oid.to_hex());
        assert_eq!(p.price.cents(), 200);
        assert_eq!(p.stock_quantity, 3);
        assert!(p.attributes.is_empty());
        assert_eq!(p.created_at.unix_timestamp_nanos(), 1_700_000_000_123_000_000);
        assert_eq!(id_filter(&oid.to_hex()), doc! {"_id": {"$in": [oid.to_hex(), oid]}});
        assert_eq!(id_filter("prod-001"), doc! {"_id": "prod-001"});
    }

    #[test]
    fn micros_that_disagree_with_the_date_lose() {
        let mut doc = to_document(&product());
        doc.insert("created_at", DateTime::from_millis(5));
        assert_eq!(from_document(&doc).unwrap().created_at.unix_timestamp_nanos(), 5_000_000);
    }

    #[test]
    fn keys_escape_reversibly() {
        for key in ["$where", "a.b", "%", "%2E", "x\0y", "plain", "a$b", "$", "%zz", "ünï.$"] {
            assert_eq!(unescape_key(&escape_key(key)), key, "{key:?}");
        }
        assert_eq!(escape_key("plain"), "plain");
        assert_eq!(escape_key("$a.b"), "%24a%2Eb");
        assert_eq!(unescape_key("50%off"), "50%off", "a foreign key with a stray % is read as it is");
    }
}
