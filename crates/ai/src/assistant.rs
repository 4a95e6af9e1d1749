//! The assistant's behaviours: chat (whole or streamed), natural-language search,
//! recommendations and the follow-up email's content. Every product it names comes from
//! retrieval over the catalog; a language model, when configured, only phrases the answer
//! around `[[id]]` markers and is grounded afterwards ([`crate::grounding`]). When the model
//! fails, is throttled or its breaker is open, the offline answer is given instead, marked
//! `degraded`.

use crate::catalog::Entry;
use crate::domain::{
    ChatAnswer, ChatInput, Match, ProductCard, Recommendation, RecommendationTarget, Recommendations, Suggestions,
};
use crate::error::AiError;
use crate::grounding::{self, ground, render};
use crate::llm::guard::Guarded;
use crate::llm::{Prompt, Role, Turn};
use crate::retrieval::index::{Alternative, LexicalQuery};
use crate::retrieval::text::Analyzer;
use crate::retrieval::{Retrieval, Retriever};
use crate::store::AiStore;
use contracts::events::OrderEvent;
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Products the model is shown per message.
pub const CONTEXT_PRODUCTS: usize = 6;
/// Products an offline answer lists.
const OFFLINE_PRODUCTS: usize = 5;
/// Matches a suggest answer returns.
const SUGGEST_MATCHES: usize = 10;
/// Recommendations per answer (the original's five).
pub const RECOMMENDATIONS: usize = 5;
/// Recommendations that may come from co-purchases (the rest are similar products).
const CO_PURCHASE_SHARE: usize = 3;

/// One event of a streamed chat answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// More reply text.
    Delta(String),
    /// The complete answer (also the last event).
    Done(ChatAnswer),
}

/// The assistant.
pub struct Assistant {
    /// Retrieval over the catalog.
    pub retriever: Arc<Retriever>,
    /// The language model, `None` when offline.
    pub model: Option<Arc<Guarded>>,
    /// Co-purchase counts.
    pub store: Arc<dyn AiStore>,
    /// Longest model answer, in tokens.
    pub max_tokens: u32,
}

fn price_clause(r: &Retrieval) -> String {
    match (r.understood.min_price, r.understood.max_price) {
        (Some(min), Some(max)) => format!(" between ${min} and ${max}"),
        (None, Some(max)) => format!(" up to ${max}"),
        (Some(min), None) => format!(" from ${min}"),
        (None, None) => String::new(),
    }
}

fn quoted_words(r: &Retrieval) -> String {
    let words = r.words();
    if words.is_empty() { String::new() } else { format!(" for “{}”", words.join(" ")) }
}

/// The first sentence of a description, bounded.
fn blurb(description: &str) -> String {
    let first = grounding::sentences(description).into_iter().next().unwrap_or_default().trim();
    let mut out: String = first.chars().take(140).collect();
    if first.chars().count() > 140 {
        out.push('…');
    }
    out
}

fn cards(entries: &[Arc<Entry>]) -> Vec<ProductCard> {
    entries.iter().map(|e| ProductCard::from(&e.product)).collect()
}

/// The deterministic answer from retrieval alone.
pub fn offline_answer(r: &Retrieval, degraded: bool) -> ChatAnswer {
    let searched = !r.concepts.is_empty()
        || r.understood.min_price.is_some()
        || r.understood.max_price.is_some()
        || r.understood.intent.is_some();
    if !searched {
        return ChatAnswer {
            reply: "Hi! I'm the shop's assistant. Tell me what you are looking for — a kind of product, what it is \
                    for, or a budget such as “under $50” — and I'll find it in the catalog."
                .into(),
            products: Vec::new(),
            degraded,
        };
    }
    let hits: Vec<Arc<Entry>> = r.hits.iter().take(OFFLINE_PRODUCTS).map(|h| h.entry.clone()).collect();
    if hits.is_empty() {
        return ChatAnswer {
            reply: format!(
                "I couldn't find anything in the catalog{}{}. Try other words or a wider price range.",
                quoted_words(r),
                price_clause(r)
            ),
            products: Vec::new(),
            degraded,
        };
    }
    let mut reply = format!("Here is what I found{}{}:", quoted_words(r), price_clause(r));
    for entry in &hits {
        let _ = write!(reply, "\n- {}", render(entry));
        let blurb = blurb(&entry.product.description);
        if !blurb.is_empty() {
            let _ = write!(reply, ": {blurb}");
        }
    }
    ChatAnswer { reply, products: cards(&hits), degraded }
}

fn system_prompt(r: &Retrieval) -> String {
    let example = r.hits.first().map_or("prod-001", |h| h.entry.product.id.as_str());
    let mut system = format!(
        "You are the shopping assistant of an online store. Use only the catalog products listed below; never \
         mention any other product.\nRefer to a product only by its id in double square brackets, for example \
         [[{example}]]. The store replaces each marker with the product's name and price, so never write product \
         names or prices yourself.\nIf nothing listed fits the request, say so briefly and suggest how to refine \
         it.\nAnswer in at most five short sentences of plain text, without markdown.\n"
    );
    let clause = price_clause(r);
    if !clause.is_empty() {
        let _ = writeln!(system, "The shopper's budget:{clause}.");
    }
    if r.hits.is_empty() {
        system.push_str("No catalog product matches this request.\n");
    } else {
        system.push_str("Products (id | name | price | category | stock):\n");
        for hit in r.hits.iter().take(CONTEXT_PRODUCTS) {
            let p = &hit.entry.product;
            let stock = p.stock_quantity.map_or_else(|| "unknown".to_owned(), |n| format!("{n} in stock"));
            let _ = writeln!(system, "- [[{}]] | {} | ${} | {} | {stock}", p.id, p.name, p.price, p.category);
        }
    }
    system
}

impl Assistant {
    /// `offline`, or the configured provider.
    pub fn provider(&self) -> &'static str {
        self.model.as_ref().map_or("offline", |m| m.provider())
    }

    fn ensure_ready(&self) -> Result<(), AiError> {
        if self.retriever.catalog().is_ready() { Ok(()) } else { Err(AiError::NotReady) }
    }

    /// Retrieval for a chat message; a follow-up that names no product ("any cheaper
    /// ones?") is read together with the shopper's previous message.
    async fn retrieve(&self, input: &ChatInput) -> Result<Retrieval, AiError> {
        let retrieval = self.retriever.search(&input.message, CONTEXT_PRODUCTS).await?;
        if retrieval.concepts.is_empty()
            && let Some(previous) = input.history.iter().rev().find(|t| t.role == Role::User)
        {
            let combined = format!("{} {}", previous.content, input.message);
            let again = self.retriever.search(&combined, CONTEXT_PRODUCTS).await?;
            if !again.concepts.is_empty() {
                return Ok(again);
            }
        }
        Ok(retrieval)
    }

    fn prompt(&self, input: &ChatInput, r: &Retrieval) -> Prompt {
        let mut turns = input.history.clone();
        turns.push(Turn { role: Role::User, content: input.message.clone() });
        Prompt { system: system_prompt(r), turns, max_tokens: self.max_tokens, temperature: 0.2 }
    }

    fn grounded_answer(&self, text: &str, r: &Retrieval) -> Option<ChatAnswer> {
        let shown: Vec<Arc<Entry>> = r.hits.iter().map(|h| h.entry.clone()).collect();
        let grounded = ground(text, self.retriever.catalog().as_ref(), &shown);
        if grounded.corrections > 0 {
            tracing::info!(corrections = grounded.corrections, "grounding corrected the model's reply");
        }
        if grounded.text.is_empty() {
            return None;
        }
        let products = self.retriever.catalog().get_many(grounded.products.iter().map(String::as_str));
        Some(ChatAnswer { reply: grounded.text, products: cards(&products), degraded: false })
    }

    /// Answers a chat message.
    pub async fn chat(&self, input: &ChatInput) -> Result<ChatAnswer, AiError> {
        self.ensure_ready()?;
        let retrieval = self.retrieve(input).await?;
        let Some(model) = &self.model else { return Ok(offline_answer(&retrieval, false)) };
        match model.complete(&self.prompt(input, &retrieval)).await {
            // A reply that grounding empties (all invented) is no answer: offline, degraded.
            Ok(text) => Ok(self.grounded_answer(&text, &retrieval).unwrap_or_else(|| offline_answer(&retrieval, true))),
            Err(_) => Ok(offline_answer(&retrieval, true)),
        }
    }

    /// Answers a chat message as a stream of events: grounded sentences as they complete,
    /// then the whole answer.
    pub fn chat_stream(self: &Arc<Self>, input: ChatInput) -> mpsc::Receiver<ChatEvent> {
        let (tx, rx) = mpsc::channel(32);
        let assistant = self.clone();
        tokio::spawn(async move {
            let answer = assistant.stream_into(&input, &tx).await;
            let _ = tx.send(ChatEvent::Done(answer)).await;
        });
        rx
    }

    async fn stream_into(&self, input: &ChatInput, tx: &mpsc::Sender<ChatEvent>) -> ChatAnswer {
        let offline = |retrieval: &Retrieval, degraded: bool| {
            let answer = offline_answer(retrieval, degraded);
            let tx = tx.clone();
            async move {
                for piece in grounding::sentences(&answer.reply) {
                    let _ = tx.send(ChatEvent::Delta(piece.to_owned())).await;
                }
                answer
            }
        };
        let retrieval = match self.retrieve(input).await {
            Ok(r) => r,
            Err(err) => {
                tracing::error!(error = %err, "retrieval failed during a streamed chat");
                return offline(&Retrieval::default(), true).await;
            }
        };
        let Some(model) = &self.model else { return offline(&retrieval, false).await };
        let mut chunks = match model.stream(&self.prompt(input, &retrieval)).await {
            Ok(chunks) => chunks,
            Err(_) => return offline(&retrieval, true).await,
        };
        let shown: Vec<Arc<Entry>> = retrieval.hits.iter().map(|h| h.entry.clone()).collect();
        let catalog = self.retriever.catalog().clone();
        let mut pending = String::new();
        let mut reply = String::new();
        let mut products: Vec<String> = Vec::new();
        let mut degraded = false;
        let emit = |piece: &str, reply: &mut String, products: &mut Vec<String>| -> Option<String> {
            let grounded = ground(piece, catalog.as_ref(), &shown);
            if grounded.text.is_empty() {
                return None;
            }
            let trailing: String = piece.chars().rev().take_while(|c| c.is_whitespace()).collect();
            let text = format!("{}{}", grounded.text, trailing.chars().rev().collect::<String>());
            for id in grounded.products {
                if !products.contains(&id) {
                    products.push(id);
                }
            }
            reply.push_str(&text);
            Some(text)
        };
        loop {
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    pending.push_str(&chunk);
                    let pieces = grounding::sentences(&pending);
                    if pieces.len() > 1 {
                        let complete: usize = pieces[..pieces.len() - 1].iter().map(|p| p.len()).sum();
                        let done: String = pending.drain(..complete).collect();
                        for piece in grounding::sentences(&done) {
                            if let Some(text) = emit(piece, &mut reply, &mut products) {
                                let _ = tx.send(ChatEvent::Delta(text)).await;
                            }
                        }
                    }
                }
                Some(Err(_)) => {
                    if reply.is_empty() {
                        return offline(&retrieval, true).await;
                    }
                    degraded = true;
                    pending.clear();
                    break;
                }
                None => break,
            }
        }
        if !pending.is_empty()
            && let Some(text) = emit(&pending, &mut reply, &mut products)
        {
            let _ = tx.send(ChatEvent::Delta(text)).await;
        }
        if reply.trim().is_empty() {
            // Nothing survived grounding (or the model said nothing): no answer from it.
            return offline(&retrieval, true).await;
        }
        let products = catalog.get_many(products.iter().map(String::as_str));
        ChatAnswer { reply: reply.trim().to_owned(), products: cards(&products), degraded }
    }

    /// Natural-language search.
    pub async fn suggest(&self, query: &str) -> Result<Suggestions, AiError> {
        self.ensure_ready()?;
        let r = self.retriever.search(query, SUGGEST_MATCHES).await?;
        let matches = r
            .hits
            .iter()
            .map(|hit| {
                let mut reason = if hit.matched.is_empty() {
                    "Close in meaning to your search".to_owned()
                } else {
                    format!("Matches {}", hit.matched.iter().map(|w| format!("“{w}”")).collect::<Vec<_>>().join(", "))
                };
                let clause = price_clause(&r);
                if !clause.is_empty() {
                    let _ = write!(reason, "; priced{clause}");
                }
                Match { product: ProductCard::from(&hit.entry.product), match_reason: reason }
            })
            .collect();
        let category = r.category.as_ref().map(|(_, name)| name.clone()).or_else(|| {
            // Otherwise the category most of the top matches share.
            let top: Vec<&str> = r.hits.iter().take(3).map(|h| h.entry.product.category.as_str()).collect();
            top.first()
                .filter(|first| top.iter().filter(|c| *c == *first).count() * 3 >= top.len() * 2)
                .map(|c| (*c).to_owned())
        });
        Ok(Suggestions {
            matches,
            search_tags: r.words(),
            search_category: category,
            min_price: r.understood.min_price,
            max_price: r.understood.max_price,
            price_intent: r.understood.intent.map(|i| i.as_str().to_owned()),
        })
    }

    /// Products similar in content to `seed`, best first (never `seed` itself).
    fn similar(&self, seed: &Entry, limit: usize) -> Result<Vec<Arc<Entry>>, AiError> {
        let catalog = self.retriever.catalog();
        let mut analyzer = Analyzer::default();
        let mut stems: Vec<String> = analyzer.stems(&seed.product.name);
        for tag in &seed.product.tags {
            stems.extend(analyzer.stems(tag));
        }
        let mut seen = HashSet::new();
        stems.retain(|s| s.chars().any(char::is_alphabetic) && seen.insert(s.clone()));
        let query = LexicalQuery {
            concepts: stems.into_iter().map(|s| vec![Alternative { stems: vec![s], weight: 1.0 }]).collect(),
            min_cents: None,
            max_cents: None,
            boost_category: Some(seed.product.category.to_lowercase()),
        };
        let lexical: Vec<String> = catalog
            .index()
            .search(&query, limit * 3)
            .map_err(crate::retrieval::RetrievalError::from)?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id != seed.product.id)
            .collect();
        let semantic: Vec<String> = match self.retriever.semantic() {
            Some(index) => match index.vector(&seed.product.id) {
                Some(vector) => index
                    .nearest(&vector, limit * 3, 0.3, |id| id != seed.product.id)
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect(),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let mut fused: HashMap<String, f32> = HashMap::new();
        for list in [&lexical, &semantic] {
            for (rank, id) in list.iter().enumerate() {
                *fused.entry(id.clone()).or_default() += 1.0 / (60.0 + rank as f32 + 1.0);
            }
        }
        let mut ranked: Vec<(String, f32)> = fused.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(catalog.get_many(ranked.iter().take(limit).map(|(id, _)| id.as_str())))
    }

    fn similarity_reason(seed: &Entry, other: &Entry) -> String {
        let shared: Vec<&String> =
            other.product.tags.iter().filter(|t| seed.product.tags.contains(t)).take(3).collect();
        if !shared.is_empty() {
            let tags = shared.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
            format!("Similar to {}: also {tags}", seed.product.name)
        } else if other.product.category.eq_ignore_ascii_case(&seed.product.category) {
            format!("Similar to {}, also in {}", seed.product.name, other.product.category)
        } else {
            format!("Similar to {}", seed.product.name)
        }
    }

    /// Five related products with reasons.
    pub async fn recommend(&self, target: &RecommendationTarget) -> Result<Recommendations, AiError> {
        self.ensure_ready()?;
        let catalog = self.retriever.catalog().clone();
        let seed: Option<Arc<Entry>> = if let Some(id) = &target.product_id {
            Some(catalog.get(id).ok_or_else(|| AiError::ProductNotFound(id.clone()))?)
        } else if let Some(name) = &target.product_name {
            let lower = name.to_lowercase();
            match catalog.all().into_iter().find(|e| e.product.name.to_lowercase() == lower) {
                Some(entry) => Some(entry),
                None => self.retriever.search(name, 1).await?.hits.into_iter().next().map(|h| h.entry),
            }
        } else {
            None
        };
        let category = target.category.as_ref().map(|c| c.to_lowercase());
        let in_category = |e: &Entry| category.as_ref().is_none_or(|c| e.product.category.to_lowercase() == *c);
        let mut chosen: Vec<Recommendation> = Vec::new();
        let mut taken: HashSet<String> = seed.iter().map(|s| s.product.id.clone()).collect();
        let mut take = |entry: &Entry, reason: String, chosen: &mut Vec<Recommendation>| {
            if chosen.len() < RECOMMENDATIONS && in_category(entry) && taken.insert(entry.product.id.clone()) {
                chosen.push(Recommendation { product: ProductCard::from(&entry.product), reason });
            }
        };
        if let Some(seed) = &seed {
            let bought = self.store.co_purchased(&seed.product.id, 20).await?;
            for (id, orders) in bought {
                if chosen.len() >= CO_PURCHASE_SHARE {
                    break;
                }
                if let Some(entry) = catalog.get(&id) {
                    let times = if orders == 1 { "1 order".to_owned() } else { format!("{orders} orders") };
                    take(&entry, format!("Bought together with {} in {times}", seed.product.name), &mut chosen);
                }
            }
            for entry in self.similar(seed, RECOMMENDATIONS * 2)? {
                take(&entry, Self::similarity_reason(seed, &entry), &mut chosen);
            }
        }
        if chosen.len() < RECOMMENDATIONS {
            for (id, _) in self.store.popular(50).await? {
                if let Some(entry) = catalog.get(&id) {
                    take(&entry, "Popular with other shoppers".into(), &mut chosen);
                }
            }
        }
        if chosen.len() < RECOMMENDATIONS {
            // Whatever is left, nearest the seed's category and price first, then by id for a stable answer.
            let mut rest = catalog.all();
            let seed_category = seed.as_ref().map(|s| s.product.category.to_lowercase());
            let seed_price = seed.as_ref().map(|s| s.product.price.cents());
            rest.sort_by_key(|e| {
                (
                    seed_category.as_ref().is_some_and(|c| *c != e.product.category.to_lowercase()),
                    seed_price.map_or(0, |p| (e.product.price.cents() - p).abs()),
                    e.product.id.clone(),
                )
            });
            for entry in rest {
                let reason = match &seed {
                    Some(s) if s.product.category.eq_ignore_ascii_case(&entry.product.category) => {
                        format!("Also in {}", entry.product.category)
                    }
                    _ => format!("From our {} range", entry.product.category),
                };
                take(&entry, reason, &mut chosen);
                if chosen.len() >= RECOMMENDATIONS {
                    break;
                }
            }
        }
        Ok(Recommendations { recommendations: chosen })
    }

    /// Subject and HTML body of the follow-up email for `order`.
    pub async fn follow_up(&self, order: &OrderEvent) -> (String, String) {
        let ordered: HashSet<&str> = order.items.iter().map(|i| i.product_id.as_str()).collect();
        let mut suggestions: Vec<Arc<Entry>> = Vec::new();
        if let Some(first) = order.items.first() {
            let target = RecommendationTarget { product_id: Some(first.product_id.clone()), ..Default::default() };
            if let Ok(recs) = self.recommend(&target).await {
                let ids = recs.recommendations.iter().map(|r| r.product.id.as_str()).filter(|id| !ordered.contains(id));
                suggestions = self.retriever.catalog().get_many(ids).into_iter().take(3).collect();
            }
        }
        let note = match &self.model {
            Some(model) => {
                let items: Vec<String> =
                    order.items.iter().map(|i| format!("{} × {}", i.quantity, i.product_name)).collect();
                let prompt = Prompt {
                    system: "You write one or two warm, short sentences thanking a customer for an order. Plain text \
                             only: no HTML, no markdown, no prices, no product names other than those given, no \
                             links."
                        .into(),
                    turns: vec![Turn {
                        role: Role::User,
                        content: format!(
                            "Customer's first name: {}. Items ordered: {}.",
                            order.customer_name.split_whitespace().next().unwrap_or(""),
                            items.join("; ")
                        ),
                    }],
                    max_tokens: 120,
                    temperature: 0.7,
                };
                match model.complete(&prompt).await {
                    Ok(text) => {
                        let grounded = ground(&text, self.retriever.catalog().as_ref(), &[]);
                        let note: String = grounded.text.chars().take(500).collect();
                        Some(note).filter(|n| !n.is_empty())
                    }
                    Err(_) => None,
                }
            }
            None => None,
        };
        crate::email::compose(order, note.as_deref(), &suggestions)
    }
}
