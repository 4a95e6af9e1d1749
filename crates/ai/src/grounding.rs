//! Grounding a model's reply in the catalog. The model is told to refer to products only
//! as `[[id]]` markers; the service renders each marker as the catalog's name and price, so
//! what the shopper reads about a product always comes from the catalog. Then, sentence by
//! sentence:
//!
//! - a marker (or a bracketed or product-id-like token) naming no catalog product drops
//!   its sentence: the model invented something;
//! - a price the model wrote itself is kept only if it is the price of a product that
//!   sentence names; with exactly one product named it is rewritten to that product's
//!   price, otherwise removed; a price in a sentence naming no product drops the sentence;
//! - catalog product names written out in full count as mentions.
//!
//! The products mentioned, in order, are the answer's `products`.

use crate::catalog::Entry;
use contracts::Money;
use std::collections::HashSet;
use std::sync::Arc;

/// Looks products up by id.
pub trait Lookup {
    /// The product with this id.
    fn product(&self, id: &str) -> Option<Arc<Entry>>;
}

impl Lookup for crate::catalog::Catalog {
    fn product(&self, id: &str) -> Option<Arc<Entry>> {
        self.get(id)
    }
}

/// A reply fit to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Grounded {
    /// The text, markers rendered.
    pub text: String,
    /// Product ids mentioned, in order of first mention.
    pub products: Vec<String>,
    /// Sentences dropped or prices rewritten.
    pub corrections: usize,
}

/// How a product is shown inside a reply.
pub fn render(entry: &Entry) -> String {
    format!("{} (${})", entry.product.name, entry.product.price)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A token shaped like a product id (`prod-123`, `SKU_42`): letters, a separator, digits.
fn looks_like_id(token: &str) -> bool {
    let Some(pos) = token.find(['-', '_']) else { return false };
    let (head, tail) = (&token[..pos], &token[pos + 1..]);
    !head.is_empty()
        && head.chars().all(|c| c.is_ascii_alphabetic())
        && !tail.is_empty()
        && tail.chars().all(|c| c.is_ascii_digit())
}

/// Splits after `.`, `!`, `?` followed by whitespace, and at line breaks; pieces keep
/// their trailing delimiter and whitespace so joining them restores the text.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        let boundary =
            c == '\n' || (matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_some_and(|(_, n)| n.is_whitespace()));
        if boundary {
            let mut j = i + 1;
            while chars.get(j).is_some_and(|(_, n)| n.is_whitespace()) {
                j += 1;
            }
            let end = chars.get(j).map_or(text.len(), |(p, _)| *p);
            out.push(&text[start..end]);
            start = end;
            i = j;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// A `$12.34`-style amount: byte range and cents.
fn amounts(sentence: &str) -> Vec<(usize, usize, Money)> {
    let bytes = sentence.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let mut j = i + 1;
            let mut number = String::new();
            while j < bytes.len() {
                let b = bytes[j];
                if b.is_ascii_digit() {
                    number.push(b as char);
                } else if b == b',' && bytes.get(j + 1).is_some_and(u8::is_ascii_digit) {
                } else if b == b'.' && bytes.get(j + 1).is_some_and(u8::is_ascii_digit) && !number.contains('.') {
                    number.push('.');
                } else {
                    break;
                }
                j += 1;
            }
            if let Some(money) =
                number.parse::<f64>().ok().and_then(|v| Money::from_decimal((v * 100.0).round() / 100.0).ok())
            {
                out.push((i, j, money));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// A reference to a product inside a sentence.
enum Reference {
    /// A marker or token naming a catalog product: byte range to replace, product.
    Known(usize, usize, Arc<Entry>),
    /// A marker or id-like token naming nothing in the catalog.
    Unknown,
}

fn references(sentence: &str, catalog: &dyn Lookup) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(open) = sentence[i..].find('[') {
        let start = i + open;
        let double = sentence[start..].starts_with("[[");
        let inner_start = start + if double { 2 } else { 1 };
        let close = if double { "]]" } else { "]" };
        let Some(len) = sentence[inner_start..].find(close) else { break };
        let inner = sentence[inner_start..inner_start + len].trim();
        let end = inner_start + len + close.len();
        if valid_id(inner) {
            match catalog.product(inner) {
                Some(entry) => out.push(Reference::Known(start, end, entry)),
                // `[[x]]` is always a product reference; `[x]` only when it looks like an id.
                None if double || looks_like_id(inner) || inner.chars().any(|c| c.is_ascii_digit()) => {
                    out.push(Reference::Unknown)
                }
                None => {}
            }
        } else if double {
            out.push(Reference::Unknown);
        }
        i = end;
    }
    // Bare ids outside brackets: known ones are mentions, unknown id-shaped ones inventions.
    let outside = strip_brackets(sentence);
    for token in outside.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        let token = token.trim_matches('.');
        if !looks_like_id(token) {
            continue;
        }
        match catalog.product(token) {
            Some(entry) => {
                if let Some(at) = sentence.find(token) {
                    out.push(Reference::Known(at, at, entry));
                }
            }
            None => out.push(Reference::Unknown),
        }
    }
    out
}

fn strip_brackets(sentence: &str) -> String {
    let mut out = String::with_capacity(sentence.len());
    let mut depth = 0usize;
    for c in sentence.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => out.push(' '),
        }
    }
    out
}

/// Grounds `reply`; `known_names` are products whose names count as mentions when written
/// out (the products the model was shown).
pub fn ground(reply: &str, catalog: &dyn Lookup, known_names: &[Arc<Entry>]) -> Grounded {
    let mut text = String::with_capacity(reply.len());
    let mut products: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut corrections = 0;
    for sentence in sentences(reply) {
        let refs = references(sentence, catalog);
        if refs.iter().any(|r| matches!(r, Reference::Unknown)) {
            corrections += 1;
            continue;
        }
        let mut mentioned: Vec<Arc<Entry>> = refs
            .iter()
            .filter_map(|r| if let Reference::Known(_, _, e) = r { Some(e.clone()) } else { None })
            .collect();
        let lower = sentence.to_lowercase();
        for entry in known_names {
            let name = entry.product.name.to_lowercase();
            if name.len() >= 3 && lower.contains(&name) && !mentioned.iter().any(|m| m.product.id == entry.product.id) {
                mentioned.push(entry.clone());
            }
        }
        // Prices the model wrote itself (outside markers).
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        let mut drop_sentence = false;
        for (start, end, amount) in amounts(sentence) {
            // "[[p-1]] ($49.99)": the rendered marker already shows the price.
            let follows_marker = refs.iter().find_map(|r| match r {
                Reference::Known(_, marker_end, entry)
                    if *marker_end <= start
                        && entry.product.price == amount
                        && sentence[*marker_end..start].chars().all(|c| " (-—–:,".contains(c)) =>
                {
                    Some(*marker_end)
                }
                _ => None,
            });
            if let Some(marker_end) = follows_marker {
                let close = usize::from(sentence[..start].contains('(') && sentence[end..].starts_with(')'));
                edits.push((marker_end, end + close, String::new()));
                continue;
            }
            if mentioned.iter().any(|m| m.product.price == amount) {
                continue;
            }
            corrections += 1;
            match mentioned.as_slice() {
                [] => drop_sentence = true,
                [only] => edits.push((start, end, format!("${}", only.product.price))),
                _ => edits.push((start, end, String::new())),
            }
        }
        if drop_sentence {
            continue;
        }
        for r in &refs {
            if let Reference::Known(start, end, entry) = r
                && start != end
            {
                edits.push((*start, *end, render(entry)));
            }
        }
        edits.sort_by_key(|(start, _, _)| *start);
        let mut rendered = String::with_capacity(sentence.len());
        let mut at = 0;
        for (start, end, replacement) in edits {
            if start < at {
                continue;
            }
            rendered.push_str(&sentence[at..start]);
            rendered.push_str(&replacement);
            at = end;
        }
        rendered.push_str(&sentence[at..]);
        // A removed price may leave "for ." or a double space behind.
        let rendered = tidy(&rendered);
        for entry in &mentioned {
            if seen.insert(entry.product.id.clone()) {
                products.push(entry.product.id.clone());
            }
        }
        text.push_str(&rendered);
    }
    Grounded { text: text.trim().to_owned(), products, corrections }
}

fn tidy(text: &str) -> String {
    let mut out = text.to_owned();
    for (from, to) in [("  ", " "), (" .", "."), (" ,", ","), ("()", ""), ("( )", "")] {
        while out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, CatalogProduct};

    fn catalog() -> Catalog {
        let catalog = Catalog::new().unwrap();
        let product = |id: &str, name: &str, cents: i64| CatalogProduct {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            price: Money::from_cents(cents),
            category: "Audio".into(),
            tags: vec![],
            image_url: None,
            stock_quantity: None,
            updated_at: None,
        };
        catalog.replace_all(vec![product("p-1", "Bass Buds", 4999), product("p-2", "Studio Cans", 19900)]).unwrap();
        catalog
    }

    #[test]
    fn renders_markers_from_the_catalog() {
        let c = catalog();
        let g = ground("Try [[p-1]]. Or [[p-2]] for the studio!", &c, &[]);
        assert_eq!(g.text, "Try Bass Buds ($49.99). Or Studio Cans ($199.00) for the studio!");
        assert_eq!(g.products, ["p-1", "p-2"]);
    }

    #[test]
    fn does_not_repeat_a_price_the_marker_shows() {
        let c = catalog();
        let g = ground("Get [[p-1]] ($49.99) or [[p-2]] - $199.00, both great.", &c, &[]);
        assert_eq!(g.text, "Get Bass Buds ($49.99) or Studio Cans ($199.00), both great.");
    }

    #[test]
    fn drops_invented_products_and_fixes_prices() {
        let c = catalog();
        let g = ground(
            "The [[prod-999]] costs $19.99. [[p-1]] is only $5! Also see prod-777. Everything is $1 today. Enjoy.",
            &c,
            &[],
        );
        assert_eq!(g.text, "Bass Buds ($49.99) is only $49.99! Enjoy.");
        assert_eq!(g.products, ["p-1"]);
        assert!(!g.text.contains("19.99") && !g.text.contains("999") && !g.text.contains("777"));
    }

    #[test]
    fn counts_written_out_names_and_keeps_their_true_prices() {
        let c = catalog();
        let shown = vec![c.get("p-2").unwrap()];
        let g = ground("Studio Cans are $199.00 and worth it.", &c, &shown);
        assert_eq!(g.text, "Studio Cans are $199.00 and worth it.");
        assert_eq!(g.products, ["p-2"]);
    }

    #[test]
    fn splits_sentences_losslessly() {
        let text = "One. Two!\nThree? 3.5 stays";
        assert_eq!(sentences(text).concat(), text);
        assert_eq!(sentences(text).len(), 4);
    }
}
