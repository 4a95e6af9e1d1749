//! The personalised follow-up email for a placed order: a subject and an HTML body built
//! from the order (every value HTML-escaped), a short note from the language model when one
//! is configured (grounded, then escaped as plain text), and a few suggestions from the
//! catalog. The finished HTML is also run through an allow-list sanitiser, so nothing but
//! formatting tags can reach a mailbox even if a value slipped past escaping.

use crate::catalog::Entry;
use contracts::events::OrderEvent;
use std::fmt::Write;
use std::sync::Arc;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// Keeps formatting tags only: no scripts, styles, images, links or attributes.
pub fn sanitize(html: &str) -> String {
    ammonia::Builder::empty()
        .add_tags(["p", "br", "b", "strong", "i", "em", "ul", "ol", "li", "h2", "h3", "table", "tr", "td", "th"])
        .clean(html)
        .to_string()
}

/// A subject line: one line of plain text, bounded.
fn subject_line(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect::<String>().trim().to_owned()
}

fn first_name(full: &str) -> &str {
    full.split_whitespace().next().unwrap_or("there")
}

/// Subject and sanitised HTML body for `order`.
pub fn compose(order: &OrderEvent, note: Option<&str>, suggestions: &[Arc<Entry>]) -> (String, String) {
    let name = order.customer_name.trim();
    let greeting = if name.is_empty() { "there" } else { first_name(name) };
    let subject = subject_line(&format!("{greeting}, thanks for your order {}", order.order_number));
    let mut html = String::new();
    let _ = write!(html, "<p>Hi {},</p>", escape(greeting));
    let _ = write!(
        html,
        "<p>Thank you for your order <strong>{}</strong>. Here is what is on its way:</p><ul>",
        escape(&order.order_number)
    );
    for item in &order.items {
        let _ = write!(html, "<li>{} × {} — ${}</li>", item.quantity, escape(&item.product_name), item.price);
    }
    let _ = write!(html, "</ul><p>Order total: <strong>${}</strong></p>", order.total_amount);
    if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
        let _ = write!(html, "<p>{}</p>", escape(note));
    }
    if !suggestions.is_empty() {
        html.push_str("<p>You might also like:</p><ul>");
        for entry in suggestions {
            let _ = write!(html, "<li>{} — ${}</li>", escape(&entry.product.name), entry.product.price);
        }
        html.push_str("</ul>");
    }
    html.push_str("<p>Happy shopping!</p>");
    (subject, sanitize(&html))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use contracts::Money;
    use contracts::events::{OrderEventItem, OrderEventKind};

    #[test]
    fn every_value_is_escaped() {
        let order = OrderEvent {
            kind: OrderEventKind::Placed,
            order_id: uuid::Uuid::nil(),
            order_number: "ORD-1<b>".into(),
            customer_name: "<script>alert(1)</script> Smith".into(),
            customer_email: "x@example.com".into(),
            total_amount: Money::from_cents(1999),
            status: "CONFIRMED".into(),
            items: vec![OrderEventItem {
                product_id: "p".into(),
                product_name: "<img src=x onerror=alert(2)>".into(),
                quantity: 1,
                price: Money::from_cents(1999),
            }],
        };
        let (subject, html) = compose(&order, Some("<a href='javascript:x'>hi</a>"), &[]);
        assert!(!html.contains("<script") && !html.contains("<img") && !html.contains("<a "), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("$19.99"));
        assert!(!subject.contains('\n'));
    }
}
