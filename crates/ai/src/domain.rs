//! Request and response shapes of `/api/ai/*` (the original's, plus `products`,
//! `degraded` and the understood price bounds), and the parsing of requests into valid
//! values. Handlers convert bodies here once.

use crate::catalog::CatalogProduct;
use crate::llm::{Role, Turn};
use contracts::Money;
use kit::problem::FieldError;
use serde::{Deserialize, Serialize};

/// Longest chat message or suggest query, in characters.
pub const MAX_MESSAGE: usize = 2_000;
/// History entries used (the original's 10).
pub const MAX_HISTORY: usize = 10;
/// Longest history entry, in characters.
pub const MAX_HISTORY_ENTRY: usize = 4_000;
/// History entries accepted at all.
pub const MAX_HISTORY_ENTRIES: usize = 100;

/// One history entry as clients send it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// `user` or `assistant`.
    pub role: Option<String>,
    /// Text.
    pub content: Option<String>,
}

/// `POST /api/ai/chat`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    /// The shopper's message.
    #[schema(required, min_length = 1, example = "Which mouse suits a left-handed gamer?")]
    pub message: Option<String>,
    /// Earlier turns, oldest first; only the last ten are used.
    #[serde(default)]
    pub history: Option<Vec<HistoryEntry>>,
    /// Answer as Server-Sent Events.
    #[serde(default)]
    pub stream: Option<bool>,
}

/// A valid chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatInput {
    /// The message, trimmed.
    pub message: String,
    /// The last turns.
    pub history: Vec<Turn>,
    /// Whether to stream.
    pub stream: bool,
}

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
}

/// Checks free text: present, not blank, bounded, no control characters.
fn text(field: &str, value: Option<String>, max: usize, errors: &mut Vec<FieldError>) -> Option<String> {
    let Some(value) = value else {
        errors.push(FieldError::new(field, "is required"));
        return None;
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
        None
    } else if trimmed.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be at most {max} characters")));
        None
    } else if has_control(trimmed) {
        errors.push(FieldError::new(field, "must not contain control characters"));
        None
    } else {
        Some(trimmed.to_owned())
    }
}

impl ChatRequest {
    /// Validates, naming every field at fault.
    pub fn parse(self) -> Result<ChatInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let message = text("message", self.message, MAX_MESSAGE, &mut errors);
        let history = self.history.unwrap_or_default();
        if history.len() > MAX_HISTORY_ENTRIES {
            errors.push(FieldError::new("history", format!("at most {MAX_HISTORY_ENTRIES} entries")));
        }
        let skip = history.len().saturating_sub(MAX_HISTORY);
        let mut turns = Vec::new();
        for (i, entry) in history.into_iter().enumerate().skip(skip) {
            let role = match entry.role.as_deref().map(str::trim).map(str::to_ascii_lowercase).as_deref() {
                Some("user") => Some(Role::User),
                Some("assistant" | "model" | "bot") => Some(Role::Assistant),
                _ => {
                    errors.push(FieldError::new(format!("history[{i}].role"), "must be user or assistant"));
                    None
                }
            };
            let content = text(&format!("history[{i}].content"), entry.content, MAX_HISTORY_ENTRY, &mut errors);
            if let (Some(role), Some(content)) = (role, content) {
                turns.push(Turn { role, content });
            }
        }
        match message {
            Some(message) if errors.is_empty() => {
                Ok(ChatInput { message, history: turns, stream: self.stream.unwrap_or(false) })
            }
            _ => Err(errors),
        }
    }
}

/// `POST /api/ai/suggest`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SuggestRequest {
    /// Natural-language search.
    #[schema(required, min_length = 1, example = "a quiet keyboard under 50 dollars")]
    pub query: Option<String>,
}

impl SuggestRequest {
    /// The valid query.
    pub fn parse(self) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        text("query", self.query, MAX_MESSAGE, &mut errors).ok_or(errors)
    }
}

/// `GET /api/ai/recommendations` parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendationParams {
    /// A catalog product id.
    pub product_id: Option<String>,
    /// A product name (the original's parameter).
    pub product_name: Option<String>,
    /// A category (the original's parameter).
    pub category: Option<String>,
}

/// What to recommend for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecommendationTarget {
    /// By id.
    pub product_id: Option<String>,
    /// By name.
    pub product_name: Option<String>,
    /// By category.
    pub category: Option<String>,
}

impl RecommendationParams {
    /// Validates, naming every field at fault.
    pub fn parse(self) -> Result<RecommendationTarget, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut optional = |field: &str, value: Option<String>, max: usize| {
            value.filter(|v| !v.trim().is_empty()).and_then(|v| text(field, Some(v), max, &mut errors))
        };
        let target = RecommendationTarget {
            product_id: optional("product_id", self.product_id, 64),
            product_name: optional("product_name", self.product_name, 200),
            category: optional("category", self.category, 100),
        };
        if errors.is_empty() { Ok(target) } else { Err(errors) }
    }
}

/// A product in an answer: the catalog's fields only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ProductCard {
    /// Catalog id.
    pub id: String,
    /// Catalog name.
    pub name: String,
    /// Catalog price.
    pub price: Money,
    /// Catalog category.
    pub category: String,
    /// Catalog picture.
    pub image_url: Option<String>,
}

impl From<&CatalogProduct> for ProductCard {
    fn from(p: &CatalogProduct) -> Self {
        ProductCard {
            id: p.id.clone(),
            name: p.name.clone(),
            price: p.price,
            category: p.category.clone(),
            image_url: p.image_url.clone(),
        }
    }
}

/// `POST /api/ai/chat` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ChatAnswer {
    /// The reply.
    pub reply: String,
    /// The products the reply mentions.
    pub products: Vec<ProductCard>,
    /// Whether the language model failed and the offline assistant answered instead.
    pub degraded: bool,
}

/// One recommendation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Recommendation {
    /// The product.
    #[serde(flatten)]
    pub product: ProductCard,
    /// Why it is recommended.
    pub reason: String,
}

/// `GET /api/ai/recommendations` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Recommendations {
    /// Up to five products.
    pub recommendations: Vec<Recommendation>,
}

/// One match of a natural-language search.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Match {
    /// The product.
    #[serde(flatten)]
    pub product: ProductCard,
    /// Why it matches.
    pub match_reason: String,
}

/// `POST /api/ai/suggest` answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Suggestions {
    /// Matching products, best first.
    pub matches: Vec<Match>,
    /// The query's product words.
    pub search_tags: Vec<String>,
    /// The category the query names or the matches share.
    pub search_category: Option<String>,
    /// Lowest price understood from the query.
    pub min_price: Option<Money>,
    /// Highest price understood from the query.
    pub max_price: Option<Money>,
    /// `low` ("cheap") or `high` ("premium").
    pub price_intent: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn chat_requests_are_checked() {
        let bad = ChatRequest { message: Some("  ".into()), history: None, stream: None }.parse();
        assert_eq!(bad.map_err(fields), Err(vec!["message".to_owned()]));
        let bad = ChatRequest { message: Some("hi\u{7}".into()), history: None, stream: None }.parse();
        assert_eq!(bad.map_err(fields), Err(vec!["message".to_owned()]));
        let long = "x".repeat(MAX_MESSAGE + 1);
        assert!(ChatRequest { message: Some(long), history: None, stream: None }.parse().is_err());
        let history =
            (0..12).map(|i| HistoryEntry { role: Some("user".into()), content: Some(format!("turn {i}")) }).collect();
        let ok = ChatRequest { message: Some("hello".into()), history: Some(history), stream: Some(true) }.parse();
        let ok = ok.unwrap();
        assert_eq!(ok.history.len(), MAX_HISTORY);
        assert_eq!(ok.history[0].content, "turn 2");
        let bad_role = vec![HistoryEntry { role: Some("system".into()), content: Some("x".into()) }];
        let bad = ChatRequest { message: Some("hello".into()), history: Some(bad_role), stream: None }.parse();
        assert_eq!(bad.map_err(fields), Err(vec!["history[0].role".to_owned()]));
    }
}
