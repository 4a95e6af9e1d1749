//! What each event says to whom: templates (HTML and plain text, every value escaped in the
//! HTML), and the allow-list sanitising of AI-written HTML.

use contracts::events::{InventoryLow, OrderEvent, OrderEventItem, OrderStatusChanged};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

/// One email, both parts rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Recipient name, if known.
    pub to_name: Option<String>,
    /// Subject line.
    pub subject: String,
    /// HTML part.
    pub html: String,
    /// Plain-text part.
    pub text: String,
}

/// Which email an event produced; with the event id it identifies a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// Confirmation of a placed order.
    OrderConfirmed,
    /// An order was cancelled.
    OrderCancelled,
    /// An order shipped.
    OrderShipped,
    /// An order was delivered.
    OrderDelivered,
    /// Stock fell below its threshold (to the admin).
    LowStock,
    /// The AI service's personalised follow-up.
    AiFollowUp,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderConfirmed => "ORDER_CONFIRMED",
            Kind::OrderCancelled => "ORDER_CANCELLED",
            Kind::OrderShipped => "ORDER_SHIPPED",
            Kind::OrderDelivered => "ORDER_DELIVERED",
            Kind::LowStock => "LOW_STOCK",
            Kind::AiFollowUp => "AI_FOLLOW_UP",
        }
    }
}

/// `ai-notification-ready`, the original's payload.
#[derive(Debug, Clone, Deserialize)]
pub struct AiNotification {
    /// The order it is about.
    pub order_number: Option<String>,
    /// Recipient; without it nothing is sent.
    pub customer_email: Option<String>,
    /// Recipient's name.
    pub customer_name: Option<String>,
    /// Subject written by the AI.
    pub subject: Option<String>,
    /// Body written by the AI; sanitised before sending.
    pub body_html: Option<String>,
}

/// A failure to render a template (a bug, not bad input: values are data, never templates).
#[derive(Debug, thiserror::Error)]
#[error("rendering {template}: {source}")]
pub struct RenderError {
    template: &'static str,
    source: minijinja::Error,
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
    store_name: String,
}

const TEMPLATES: [(&str, &str); 9] = [
    ("base.html", include_str!("../templates/base.html")),
    ("order_placed.html", include_str!("../templates/order_placed.html")),
    ("order_placed.txt", include_str!("../templates/order_placed.txt")),
    ("order_cancelled.html", include_str!("../templates/order_cancelled.html")),
    ("order_cancelled.txt", include_str!("../templates/order_cancelled.txt")),
    ("order_status.html", include_str!("../templates/order_status.html")),
    ("order_status.txt", include_str!("../templates/order_status.txt")),
    ("low_stock.html", include_str!("../templates/low_stock.html")),
    ("low_stock.txt", include_str!("../templates/low_stock.txt")),
];

#[derive(Serialize)]
struct Line<'a> {
    product_name: &'a str,
    quantity: i64,
    price: String,
    subtotal: String,
}

fn lines(items: &[OrderEventItem]) -> Vec<Line<'_>> {
    items
        .iter()
        .map(|i| Line {
            product_name: &i.product_name,
            quantity: i.quantity,
            price: i.price.to_string(),
            subtotal: i.price.times(i.quantity).map(|m| m.to_string()).unwrap_or_default(),
        })
        .collect()
}

impl Templates {
    /// Compiles the templates; `.html` ones escape every value (minijinja's default for the
    /// extension), `.txt` ones are plain text.
    pub fn new(store_name: &str) -> Result<Templates, RenderError> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|source| RenderError { template: name, source })?;
        }
        Ok(Templates { env, store_name: store_name.to_owned() })
    }

    fn render(&self, base: &'static str, ctx: minijinja::Value) -> Result<(String, String), RenderError> {
        let part = |name: &'static str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(&ctx))
                .map_err(|source| RenderError { template: name, source })
        };
        let (html, text) = match base {
            "order_placed" => (part("order_placed.html")?, part("order_placed.txt")?),
            "order_cancelled" => (part("order_cancelled.html")?, part("order_cancelled.txt")?),
            "order_status" => (part("order_status.html")?, part("order_status.txt")?),
            _ => (part("low_stock.html")?, part("low_stock.txt")?),
        };
        Ok((html, text))
    }

    /// The confirmation of `order-placed`.
    pub fn order_placed(&self, event: &OrderEvent) -> Result<Email, RenderError> {
        let subject = format!("Order Confirmed — {}", event.order_number);
        let (html, text) = self.render(
            "order_placed",
            context! {
                subject => &subject, store_name => &self.store_name,
                customer_name => &event.customer_name, order_number => &event.order_number,
                items => minijinja::Value::from(minijinja::value::Serde(lines(&event.items))), total => event.total_amount.to_string(),
            },
        )?;
        Ok(Email { to: event.customer_email.clone(), to_name: Some(event.customer_name.clone()), subject, html, text })
    }

    /// The notice of `order-cancelled`.
    pub fn order_cancelled(&self, event: &OrderEvent) -> Result<Email, RenderError> {
        let subject = format!("Order Cancelled — {}", event.order_number);
        let (html, text) = self.render(
            "order_cancelled",
            context! {
                subject => &subject, store_name => &self.store_name,
                customer_name => &event.customer_name, order_number => &event.order_number,
            },
        )?;
        Ok(Email { to: event.customer_email.clone(), to_name: Some(event.customer_name.clone()), subject, html, text })
    }

    /// Shipped and delivered notices; other status changes send nothing.
    pub fn order_status(&self, event: &OrderStatusChanged) -> Result<Option<(Kind, Email)>, RenderError> {
        let (kind, word, sentence) = match event.new_status.as_str() {
            "SHIPPED" => (Kind::OrderShipped, "Shipped", "shipped and is on its way"),
            "DELIVERED" => (Kind::OrderDelivered, "Delivered", "been delivered"),
            _ => return Ok(None),
        };
        let subject = format!("Order {word} — {}", event.order_number);
        let (html, text) = self.render(
            "order_status",
            context! {
                subject => &subject, store_name => &self.store_name,
                customer_name => &event.customer_name, order_number => &event.order_number,
                status_word => word, status_sentence => sentence, items => minijinja::Value::from(minijinja::value::Serde(lines(&event.items))),
            },
        )?;
        let to_name = Some(event.customer_name.clone());
        Ok(Some((kind, Email { to: event.customer_email.clone(), to_name, subject, html, text })))
    }

    /// The admin's alert for `inventory-low`.
    pub fn low_stock(&self, event: &InventoryLow, admin: &str) -> Result<Email, RenderError> {
        let subject = format!("Low stock — {} ({} left)", event.product_name, event.available_qty);
        let (html, text) = self.render(
            "low_stock",
            context! {
                subject => &subject, store_name => &self.store_name,
                product_name => &event.product_name, product_id => &event.product_id,
                available_qty => event.available_qty, low_stock_threshold => event.low_stock_threshold,
            },
        )?;
        Ok(Email { to: admin.to_owned(), to_name: None, subject, html, text })
    }

    /// The AI's follow-up, its HTML sanitised with an allow-list; `None` without a recipient.
    pub fn ai_follow_up(&self, event: &AiNotification) -> Option<Email> {
        let to = event.customer_email.clone().filter(|e| !e.trim().is_empty())?;
        let order_number = event.order_number.clone().unwrap_or_default();
        let subject = event
            .subject
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| format!("A message about your order {order_number}"));
        // Subjects are headers: no line breaks.
        let subject: String = subject.chars().filter(|c| !c.is_control()).take(200).collect();
        let body = event.body_html.as_deref().unwrap_or("<p>Thank you for your order!</p>");
        let html = sanitize_html(body);
        let text = html_to_text(&html);
        Some(Email { to, to_name: event.customer_name.clone(), subject, html, text })
    }
}

/// Keeps formatting tags and safe links; drops scripts, styles, event handlers, images from
/// elsewhere and every other attribute.
pub fn sanitize_html(html: &str) -> String {
    ammonia::Builder::default()
        .tags(
            [
                "p",
                "br",
                "b",
                "strong",
                "i",
                "em",
                "u",
                "ul",
                "ol",
                "li",
                "h1",
                "h2",
                "h3",
                "h4",
                "blockquote",
                "a",
                "span",
                "div",
                "table",
                "thead",
                "tbody",
                "tr",
                "td",
                "th",
                "hr",
            ]
            .into_iter()
            .collect(),
        )
        .url_schemes(["https", "http", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(html)
        .to_string()
}

/// A readable plain-text version of sanitised HTML.
fn html_to_text(html: &str) -> String {
    let with_breaks = html.replace("</p>", "</p>\n\n").replace("<br>", "\n").replace("</li>", "</li>\n");
    let stripped = ammonia::Builder::empty().clean(&with_breaks).to_string();
    stripped
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::Money;
    use contracts::events::OrderEventKind;

    fn order(name: &str) -> OrderEvent {
        OrderEvent {
            kind: OrderEventKind::Placed,
            order_id: uuid::Uuid::now_v7(),
            order_number: "ORD-20260221-38F5F24F".into(),
            customer_name: name.into(),
            customer_email: "yash@example.com".into(),
            total_amount: Money::from_cents(209_997),
            status: "CONFIRMED".into(),
            items: vec![
                OrderEventItem {
                    product_id: "prod-001".into(),
                    product_name: "iPhone 15 Pro".into(),
                    quantity: 2,
                    price: Money::from_cents(99_999),
                },
                OrderEventItem {
                    product_id: "prod-010".into(),
                    product_name: "Mouse <Pro> & Co".into(),
                    quantity: 1,
                    price: Money::from_cents(9_999),
                },
            ],
        }
    }

    #[test]
    fn confirmation_lists_every_item_and_the_total() {
        let templates = Templates::new("Shop").unwrap_or_else(|e| panic!("{e}"));
        let email = templates.order_placed(&order("Yash Vyas")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(email.subject, "Order Confirmed — ORD-20260221-38F5F24F");
        for part in [&email.html, &email.text] {
            assert!(part.contains("Yash Vyas"));
            assert!(part.contains("iPhone 15 Pro"));
            assert!(part.contains("$999.99"));
            assert!(part.contains("$1999.98"));
            assert!(part.contains("$2099.97"));
        }
        assert!(email.html.contains("Mouse &lt;Pro&gt; &amp; Co"), "values are escaped in HTML");
        assert!(email.text.contains("Mouse <Pro> & Co"));
    }

    #[test]
    fn customer_names_cannot_inject_markup() {
        let templates = Templates::new("Shop").unwrap_or_else(|e| panic!("{e}"));
        let email = templates.order_placed(&order("<script>alert(1)</script>")).unwrap_or_else(|e| panic!("{e}"));
        assert!(!email.html.contains("<script>"));
        assert!(email.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn ai_html_is_sanitised() {
        let templates = Templates::new("Shop").unwrap_or_else(|e| panic!("{e}"));
        let email = templates
            .ai_follow_up(&AiNotification {
                order_number: Some("ORD-1".into()),
                customer_email: Some("a@example.com".into()),
                customer_name: Some("A".into()),
                subject: Some("Hi\r\nBcc: evil@example.com".into()),
                body_html: Some(
                    r#"<p onclick="x()">Enjoy <b>your</b> phone</p><script>steal()</script><a href="javascript:x()">x</a><img src="https://t.example/p.gif">"#
                        .into(),
                ),
            })
            .unwrap_or_else(|| panic!("an email"));
        assert_eq!(email.html, "<p>Enjoy <b>your</b> phone</p><a rel=\"noopener noreferrer\">x</a>");
        assert_eq!(email.subject, "HiBcc: evil@example.com");
        assert!(email.text.starts_with("Enjoy your phone"));
        let none = templates.ai_follow_up(&AiNotification {
            order_number: None,
            customer_email: None,
            customer_name: None,
            subject: None,
            body_html: None,
        });
        assert!(none.is_none());
    }
}
