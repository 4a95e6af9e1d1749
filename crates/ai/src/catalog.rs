//! The AI service's copy of the catalog: every product the product service has, the words
//! each one contains (for coverage checks and spelling correction), and the lexical index
//! over them. It is the single source of ids, names and prices in every answer.
//!
//! Changes arrive from the start-up build and from `product-updated` events, possibly out
//! of order (a replayed creation after a later update, an update that raced the build), so
//! each change carries the product's `updated_at` (or the deletion's time) and an older
//! change never overwrites a newer one. Deletions leave a tombstone for the same reason.

use crate::retrieval::index::{IndexError, LexicalIndex};
use crate::retrieval::text::Analyzer;
use contracts::Money;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// A product as the AI service keeps it: what the product service sends, minus what no
/// answer needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogProduct {
    /// Catalog id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Unit price.
    pub price: Money,
    /// Category name.
    #[serde(default)]
    pub category: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Picture.
    #[serde(default)]
    pub image_url: Option<String>,
    /// The catalog's informational stock figure.
    #[serde(default)]
    pub stock_quantity: Option<i64>,
    /// Version: the last change's time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

impl CatalogProduct {
    /// The text a shopper's words are matched against, and that embeddings are made of.
    pub fn search_text(&self) -> String {
        format!("{}. {}. {}. {}", self.name, self.category, self.tags.join(", "), self.description)
    }

    /// What the embedding model reads: name, category, tags and the description's first
    /// sentence. Inference cost grows with length, and the first sentence says what the
    /// product is; the rest is for the lexical index.
    pub fn embedding_text(&self) -> String {
        let first = crate::grounding::sentences(&self.description).into_iter().next().unwrap_or_default().trim();
        format!("{}. {}. {}. {}", self.name, self.category, self.tags.join(", "), first)
    }
}

/// A product and what retrieval derives from it.
#[derive(Debug)]
pub struct Entry {
    /// The product.
    pub product: CatalogProduct,
    /// Its stems (name, tags, category, description).
    pub stems: HashSet<String>,
    /// The stem of the name's head noun ("Hard Shell Headphone Case" → "case"), if any.
    pub name_head: Option<String>,
}

/// Words that end a name without being what the product is ("6-Pack", "Set of 4", "15-inch").
const NAME_TAIL_WORDS: &[&str] = &[
    "pack",
    "set",
    "of",
    "inch",
    "in",
    "oz",
    "qt",
    "ft",
    "lb",
    "lbs",
    "gb",
    "tb",
    "mah",
    "w",
    "l",
    "ml",
    "cm",
    "mm",
    "piece",
    "pc",
    "pcs",
    "edition",
    "gen",
    "generation",
    "the",
    "and",
    "a",
    "an",
];

/// The head noun of a product name: the last word before "for"/"with", skipping sizes,
/// counts and model numbers.
fn name_head(name: &str, analyzer: &mut Analyzer) -> Option<String> {
    let words = analyzer.words(name);
    let cut = words.iter().position(|w| w == "for" || w == "with").unwrap_or(words.len());
    words[..cut]
        .iter()
        .rev()
        .find(|w| !w.chars().any(|c| c.is_ascii_digit()) && !NAME_TAIL_WORDS.contains(&w.as_str()))
        .map(|w| analyzer.stem(w))
}

/// How a change was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The catalog changed.
    Changed,
    /// The catalog already had this version or a newer one.
    Stale,
}

/// Spelling-correction and weighting vocabulary: every word of every product with the
/// number of products containing its stem.
#[derive(Debug, Default)]
pub struct Vocabulary {
    /// Word → stem.
    pub words: HashMap<String, String>,
    /// Stem → products containing it.
    pub document_frequency: HashMap<String, u32>,
}

#[derive(Default)]
struct State {
    products: HashMap<String, Arc<Entry>>,
    tombstones: HashMap<String, OffsetDateTime>,
    vocabulary: Vocabulary,
    /// Lower-case category → (display name, products in it).
    categories: HashMap<String, (String, u32)>,
}

/// The catalog copy and its index.
pub struct Catalog {
    state: RwLock<State>,
    index: LexicalIndex,
    ready: AtomicBool,
    /// Serialises writers, so the map and the index change in the same order.
    write: std::sync::Mutex<()>,
}

fn derive(product: CatalogProduct, analyzer: &mut Analyzer) -> (Entry, Vec<String>) {
    let words = analyzer.words(&product.search_text());
    let stems: HashSet<String> = analyzer.stems(&product.search_text()).into_iter().collect();
    let name_head = name_head(&product.name, analyzer);
    (Entry { product, stems, name_head }, words)
}

impl State {
    fn add_words(&mut self, entry: &Entry, words: Vec<String>, analyzer: &mut Analyzer) {
        for word in words {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.vocabulary.words.entry(word) {
                let stem = analyzer.stem(slot.key());
                slot.insert(stem);
            }
        }
        for stem in &entry.stems {
            *self.vocabulary.document_frequency.entry(stem.clone()).or_default() += 1;
        }
        let key = entry.product.category.to_lowercase();
        let slot = self.categories.entry(key).or_insert_with(|| (entry.product.category.clone(), 0));
        slot.1 += 1;
    }

    fn remove_words(&mut self, entry: &Entry) {
        // Words stay in the spelling vocabulary (harmless); frequencies must be exact.
        for stem in &entry.stems {
            if let Some(n) = self.vocabulary.document_frequency.get_mut(stem) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.vocabulary.document_frequency.remove(stem);
                }
            }
        }
        let key = entry.product.category.to_lowercase();
        if let Some(slot) = self.categories.get_mut(&key) {
            slot.1 = slot.1.saturating_sub(1);
            if slot.1 == 0 {
                self.categories.remove(&key);
            }
        }
    }
}

impl Catalog {
    /// An empty catalog, not ready until [`Catalog::replace_all`] ran once.
    pub fn new() -> Result<Catalog, IndexError> {
        Ok(Catalog {
            state: RwLock::new(State::default()),
            index: LexicalIndex::new()?,
            ready: AtomicBool::new(false),
            write: std::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the first full build is done.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Loads the full catalog (the start-up build). Products the catalog already has in a
    /// newer version (an event was faster than the build) keep that version; deletions
    /// seen meanwhile stay deleted.
    pub fn replace_all(&self, products: Vec<CatalogProduct>) -> Result<(), IndexError> {
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        let mut analyzer = Analyzer::default();
        let mut fresh = State::default();
        {
            let current = self.read();
            fresh.tombstones = current.tombstones.clone();
            let mut seen = HashSet::new();
            for product in products {
                if !seen.insert(product.id.clone()) {
                    continue;
                }
                let newer = current.products.get(&product.id).filter(|e| is_newer(&e.product, &product)).cloned();
                let entry = match newer {
                    Some(entry) => entry,
                    None if deleted_after(&fresh.tombstones, &product) => continue,
                    None => {
                        let (entry, words) = derive(product, &mut analyzer);
                        let entry = Arc::new(entry);
                        fresh.add_words(&entry, words, &mut analyzer);
                        fresh.products.insert(entry.product.id.clone(), entry);
                        continue;
                    }
                };
                let words = analyzer.words(&entry.product.search_text());
                fresh.add_words(&entry, words, &mut analyzer);
                fresh.products.insert(entry.product.id.clone(), entry);
            }
            // Products the listing did not have were created after it was read (their
            // events came first); deleted ones are already gone from the current state.
            for (id, entry) in &current.products {
                if !seen.contains(id) {
                    let words = analyzer.words(&entry.product.search_text());
                    fresh.add_words(entry, words, &mut analyzer);
                    fresh.products.insert(id.clone(), entry.clone());
                }
            }
        }
        self.index.replace_all(fresh.products.values().map(|e| &e.product))?;
        *self.write_state() = fresh;
        self.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Adds or replaces a product unless the catalog has a newer version or deleted it later.
    pub fn upsert(&self, product: CatalogProduct) -> Result<Applied, IndexError> {
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        {
            let state = self.read();
            if let Some(existing) = state.products.get(&product.id)
                && (is_newer(&existing.product, &product) || existing.product == product)
            {
                return Ok(Applied::Stale);
            }
            if deleted_after(&state.tombstones, &product) {
                return Ok(Applied::Stale);
            }
        }
        let mut analyzer = Analyzer::default();
        let (entry, words) = derive(product, &mut analyzer);
        self.index.apply(&[&entry.product], &[])?;
        let mut state = self.write_state();
        if let Some(old) = state.products.remove(&entry.product.id) {
            state.remove_words(&old);
        }
        state.tombstones.remove(&entry.product.id);
        let entry = Arc::new(entry);
        state.add_words(&entry, words, &mut analyzer);
        state.products.insert(entry.product.id.clone(), entry);
        Ok(Applied::Changed)
    }

    /// Removes a product deleted at `at`, unless the catalog holds a version newer than that.
    pub fn remove(&self, id: &str, at: OffsetDateTime) -> Result<Applied, IndexError> {
        let _writer = self.write.lock().unwrap_or_else(|p| p.into_inner());
        {
            let state = self.read();
            match state.products.get(id) {
                Some(existing) if existing.product.updated_at.is_some_and(|v| v > at) => return Ok(Applied::Stale),
                None if state.tombstones.get(id).is_some_and(|t| *t >= at) => return Ok(Applied::Stale),
                _ => {}
            }
        }
        self.index.apply(&[], &[id])?;
        let mut state = self.write_state();
        if let Some(old) = state.products.remove(id) {
            state.remove_words(&old);
        }
        state.tombstones.insert(id.to_owned(), at);
        Ok(Applied::Changed)
    }

    /// One product.
    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.read().products.get(id).cloned()
    }

    /// Several products, in the order asked, skipping unknown ids.
    pub fn get_many<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<Arc<Entry>> {
        let state = self.read();
        ids.into_iter().filter_map(|id| state.products.get(id).cloned()).collect()
    }

    /// Every product (unordered).
    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.read().products.values().cloned().collect()
    }

    /// Products in the catalog.
    pub fn len(&self) -> usize {
        self.read().products.len()
    }

    /// Whether the catalog has no products.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` over the vocabulary and the number of products.
    pub fn with_vocabulary<T>(&self, f: impl FnOnce(&Vocabulary, usize) -> T) -> T {
        let state = self.read();
        f(&state.vocabulary, state.products.len())
    }

    /// Categories: lower-case key, display name, product count.
    pub fn categories(&self) -> Vec<(String, String, u32)> {
        self.read().categories.iter().map(|(k, (name, n))| (k.clone(), name.clone(), *n)).collect()
    }

    /// The lexical index.
    pub fn index(&self) -> &LexicalIndex {
        &self.index
    }
}

/// Whether `current` is a strictly newer version than `incoming`.
fn is_newer(current: &CatalogProduct, incoming: &CatalogProduct) -> bool {
    match (current.updated_at, incoming.updated_at) {
        (Some(current), Some(incoming)) => current > incoming,
        _ => false,
    }
}

fn deleted_after(tombstones: &HashMap<String, OffsetDateTime>, product: &CatalogProduct) -> bool {
    match (tombstones.get(&product.id), product.updated_at) {
        (Some(deleted), Some(version)) => *deleted >= version,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn product(id: &str, name: &str, at: i64) -> CatalogProduct {
        CatalogProduct {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            price: Money::from_cents(1000),
            category: "Things".into(),
            tags: vec![],
            image_url: None,
            stock_quantity: None,
            updated_at: OffsetDateTime::from_unix_timestamp(at).ok(),
        }
    }

    #[test]
    fn older_versions_never_win() {
        let catalog = Catalog::new().unwrap();
        catalog.replace_all(vec![product("a", "new name", 20)]).unwrap();
        assert_eq!(catalog.upsert(product("a", "old name", 10)).unwrap(), Applied::Stale);
        assert_eq!(catalog.get("a").unwrap().product.name, "new name");
        assert_eq!(catalog.upsert(product("a", "newer name", 30)).unwrap(), Applied::Changed);
        let deleted_at = OffsetDateTime::from_unix_timestamp(40).unwrap();
        assert_eq!(catalog.remove("a", deleted_at).unwrap(), Applied::Changed);
        assert_eq!(catalog.upsert(product("a", "replayed", 30)).unwrap(), Applied::Stale, "tombstone holds");
        assert!(catalog.get("a").is_none());
        // The start-up build does not resurrect it either.
        catalog.replace_all(vec![product("a", "stale page", 30)]).unwrap();
        assert!(catalog.get("a").is_none());
        assert_eq!(catalog.upsert(product("a", "re-created", 50)).unwrap(), Applied::Changed);
        assert_eq!(catalog.index().len(), 1);
    }

    #[test]
    fn name_heads_skip_sizes_counts_and_purposes() {
        let mut analyzer = Analyzer::default();
        let mut head = |name: &str| name_head(name, &mut analyzer);
        assert_eq!(head("Hard Shell Headphone Case").as_deref(), Some("case"));
        assert_eq!(head("Victor Snap Mouse Trap 6-Pack").as_deref(), Some("trap"));
        assert_eq!(head("Otterbox Case for iPhone 15").as_deref(), Some("case"));
        assert_eq!(head("Dell 27-inch 4K Monitor").as_deref(), Some("monitor"));
        assert_eq!(head("Ceramic Coffee Mug Set of 4").as_deref(), Some("mug"));
        assert_eq!(head("Apple AirPods Pro 2").as_deref(), Some("pro"));
    }
}
