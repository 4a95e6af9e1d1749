//! The product document and the parsing of client input into it. Handlers convert request
//! bodies here once; everything past this point holds only valid values.

use contracts::{AmountText, Money};
use kit::problem::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A catalog product, in the original's JSON shape plus `attributes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Product {
    /// Client-chosen (`prod-001`) or generated (24 hex digits, like the original's ObjectId).
    #[schema(example = "prod-001")]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Unit price.
    pub price: Money,
    /// Category name.
    pub category: String,
    /// Lower-case tags.
    pub tags: Vec<String>,
    /// Picture, if any.
    pub image_url: Option<String>,
    /// The original's informational stock figure; inventory is authoritative.
    pub stock_quantity: i64,
    /// Free-form attributes (colour, size, …).
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 5_000;
const MAX_CATEGORY: usize = 100;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 50;
const MAX_URL: usize = 2_000;
const MAX_ATTRIBUTES: usize = 50;
const MAX_ID: usize = 64;

/// Body of `POST /api/products`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateProduct {
    /// Optional client-chosen id: 1–64 of `A-Z a-z 0-9 . _ -`, starting alphanumeric.
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    pub id: Option<String>,
    /// Required.
    #[schema(required, max_length = 200, example = "Wireless Mouse")]
    pub name: Option<String>,
    /// Required (may be empty).
    #[schema(required, max_length = 5000)]
    pub description: Option<String>,
    /// Required, > 0.
    #[schema(required)]
    pub price: Option<AmountText>,
    /// Required.
    #[schema(required, max_length = 100, example = "Electronics")]
    pub category: Option<String>,
    /// Optional.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Optional.
    pub image_url: Option<String>,
    /// Optional, ≥ 0.
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub stock_quantity: Option<i64>,
    /// Optional object.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

/// Body of `PUT`/`PATCH /api/products/{id}`: absent or `null` leaves a field unchanged;
/// `image_url: ""` clears the picture. At least one field (400 "No fields to update"
/// otherwise).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(min_properties = 1)]
pub struct UpdateProduct {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price: Option<AmountText>,
    /// New category.
    pub category: Option<String>,
    /// New tags (replaces the list).
    pub tags: Option<Vec<String>>,
    /// New picture; `""` clears it.
    pub image_url: Option<String>,
    /// New informational stock figure.
    #[serde(default, deserialize_with = "kit::input::whole_number")]
    pub stock_quantity: Option<i64>,
    /// New attributes (replaces the object).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

/// A validated partial update.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New price.
    pub price: Option<Money>,
    /// New category.
    pub category: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// `Some(None)` clears the picture.
    pub image_url: Option<Option<String>>,
    /// New stock figure.
    pub stock_quantity: Option<i64>,
    /// New attributes.
    pub attributes: Option<Map<String, Value>>,
}

impl ProductPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ProductPatch::default()
    }
}

#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    fn text(&mut self, field: &str, value: Option<String>, max: usize, allow_empty: bool) -> Option<String> {
        let value = value?;
        if let Some(problem) = kit::input::control_characters(&value, field == "description") {
            self.add(field, problem);
            return None;
        }
        let value = value.trim().to_owned();
        if value.is_empty() && !allow_empty {
            self.add(field, "must not be empty");
            return None;
        }
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
            return None;
        }
        Some(value)
    }

    fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.add(field, "is required");
        }
        value
    }

    fn price(&mut self, value: Option<AmountText>) -> Option<Money> {
        let raw = value?;
        match raw.parse() {
            Ok(m) if m.cents() > 0 => Some(m),
            Ok(_) => {
                self.add("price", "must be greater than 0");
                None
            }
            Err(e) => {
                self.add("price", e.to_string());
                None
            }
        }
    }

    fn tags(&mut self, tags: Vec<String>) -> Vec<String> {
        if tags.len() > MAX_TAGS {
            self.add("tags", format!("at most {MAX_TAGS} tags"));
        }
        let mut out: Vec<String> = Vec::with_capacity(tags.len());
        for (i, tag) in tags.into_iter().enumerate() {
            if let Some(problem) = kit::input::control_characters(&tag, false) {
                self.add(&format!("tags[{i}]"), problem);
                continue;
            }
            let tag = tag.trim().to_lowercase();
            if tag.is_empty() || tag.chars().count() > MAX_TAG {
                self.add(&format!("tags[{i}]"), format!("must be 1 to {MAX_TAG} characters"));
            } else if !out.contains(&tag) {
                out.push(tag);
            }
        }
        out
    }

    fn image_url(&mut self, url: String) -> Option<String> {
        let url = url.trim().to_owned();
        if let Some(problem) = kit::input::control_characters(&url, false) {
            self.add("image_url", problem);
        } else if url.len() > MAX_URL {
            self.add("image_url", format!("must be at most {MAX_URL} characters"));
        } else if !(url.starts_with("https://") || url.starts_with("http://")) {
            self.add("image_url", "must be an http(s) URL");
        }
        Some(url)
    }

    fn stock(&mut self, stock: Option<i64>) -> Option<i64> {
        let stock = stock?;
        if stock < 0 {
            self.add("stock_quantity", "must be 0 or more");
        }
        Some(stock)
    }

    fn attributes(&mut self, attributes: Option<Map<String, Value>>) -> Option<Map<String, Value>> {
        let attributes = attributes?;
        if attributes.len() > MAX_ATTRIBUTES {
            self.add("attributes", format!("at most {MAX_ATTRIBUTES} keys"));
        }
        Some(attributes)
    }

    fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() { Ok(value) } else { Err(self.0) }
    }
}

/// Checks a client-chosen or path id: 1–64 of `A-Z a-z 0-9 . _ -`, starting alphanumeric.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A fresh id in the original's shape: 24 lower-case hex digits, time-ordered.
pub fn new_id() -> String {
    let hex = uuid::Uuid::now_v7().simple().to_string();
    // Skip the version nibble so the 24 digits keep 48 bits of time and 44 of randomness.
    format!("{}{}", &hex[..12], &hex[13..25])
}

impl CreateProduct {
    /// Validates into a product, naming every field at fault.
    pub fn parse(self) -> Result<Product, Vec<FieldError>> {
        let mut e = Errors::default();
        let id = match self.id {
            Some(id) if !valid_id(&id) => {
                e.add("id", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
                String::new()
            }
            Some(id) => id,
            None => new_id(),
        };
        let name = e.required("name", self.name);
        let name = e.text("name", name, MAX_NAME, false);
        let description = e.required("description", self.description);
        let description = e.text("description", description, MAX_DESCRIPTION, true);
        let price = e.required("price", self.price);
        let price = e.price(price);
        let category = e.required("category", self.category);
        let category = e.text("category", category, MAX_CATEGORY, false);
        let tags = e.tags(self.tags);
        let image_url = self.image_url.filter(|u| !u.trim().is_empty()).and_then(|u| e.image_url(u));
        let stock_quantity = e.stock(self.stock_quantity).unwrap_or(0);
        let attributes = e.attributes(self.attributes).unwrap_or_default();
        let now = kit::db::Timestamp::now().get();
        match (name, description, price, category) {
            (Some(name), Some(description), Some(price), Some(category)) => e.finish(Product {
                id,
                name,
                description,
                price,
                category,
                tags,
                image_url,
                stock_quantity,
                attributes,
                created_at: now,
                updated_at: now,
            }),
            _ => Err(e.0),
        }
    }
}

impl UpdateProduct {
    /// Validates into a patch, naming every field at fault.
    pub fn parse(self) -> Result<ProductPatch, Vec<FieldError>> {
        let mut e = Errors::default();
        let patch = ProductPatch {
            name: e.text("name", self.name, MAX_NAME, false),
            description: e.text("description", self.description, MAX_DESCRIPTION, true),
            price: e.price(self.price),
            category: e.text("category", self.category, MAX_CATEGORY, false),
            tags: self.tags.map(|t| e.tags(t)),
            image_url: self.image_url.map(|u| if u.trim().is_empty() { None } else { e.image_url(u) }),
            stock_quantity: e.stock(self.stock_quantity),
            attributes: e.attributes(self.attributes),
        };
        e.finish(patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: serde_json::Value) -> Result<Product, Vec<FieldError>> {
        serde_json::from_value::<CreateProduct>(json).map_err(|_| Vec::new())?.parse()
    }

    #[test]
    fn create_names_every_missing_field() {
        let errors = create(serde_json::json!({})).err().unwrap_or_default();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "description", "price", "category"]);
    }

    #[test]
    fn create_normalises_tags_and_rejects_bad_values() {
        let product = create(serde_json::json!({
            "name": " Phone ", "description": "", "price": 10.5, "category": "Tech",
            "tags": ["Apple", "apple", " 5G "]
        }));
        let product = product.ok();
        assert_eq!(product.as_ref().map(|p| p.tags.clone()), Some(vec!["apple".into(), "5g".into()]));
        assert_eq!(product.map(|p| p.name), Some("Phone".into()));

        let errors = create(serde_json::json!({
            "id": "../etc", "name": "x", "description": "", "price": 0, "category": "c",
            "image_url": "javascript:alert(1)"
        }))
        .err()
        .unwrap_or_default();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["id", "price", "image_url"]);
    }

    #[test]
    fn generated_ids_look_like_object_ids_and_sort_by_time() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(a <= b);
    }

    #[test]
    fn empty_image_url_clears_it() {
        let patch = UpdateProduct { image_url: Some(String::new()), ..Default::default() }.parse();
        assert_eq!(patch.map(|p| p.image_url), Ok(Some(None)));
    }
}
