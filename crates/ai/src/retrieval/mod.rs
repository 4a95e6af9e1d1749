//! Retrieval: from a shopper's words to the few catalog products worth showing.
//!
//! 1. [`query::understand`] takes out price bounds and intent ("under $200", "cheap").
//! 2. The rest becomes concepts: each word, spelling-corrected against the catalog's own
//!    vocabulary when the catalog does not know it, grouped with its synonyms
//!    ([`synonyms`]); filler words are dropped.
//! 3. The lexical index ([`index`]) scores products by BM25 over name, tags, category and
//!    description, with the price bounds applied inside the search.
//! 4. A product must cover most of the query: the concepts it matches, weighted by how rare
//!    each is, must reach [`MIN_COVERAGE`]. A mouse trap does not answer "wireless mouse
//!    for my laptop", and a query about things the catalog lacks answers nothing.
//! 5. With an embedding model ([`embeddings`]), products close in meaning are retrieved
//!    too, and both rankings are fused by reciprocal rank.

pub mod embeddings;
pub mod index;
pub mod query;
pub mod synonyms;
pub mod text;

use crate::catalog::{Catalog, Entry, Vocabulary};
use contracts::Money;
use embeddings::SemanticIndex;
use index::{Alternative, IndexError, LexicalQuery};
use query::{PriceIntent, Understood, is_stop_word, is_weak_word};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use synonyms::Synonyms;
use text::{Analyzer, edit_distance};

/// Share of a query's weighted concepts a product must match.
pub const MIN_COVERAGE: f32 = 0.5;
/// Candidates the lexical index returns before coverage filtering.
const LEXICAL_POOL: usize = 60;
/// Semantic neighbours considered.
const SEMANTIC_POOL: usize = 30;
/// Cosine similarity below which a product is not about the query at all.
pub const MIN_SIMILARITY: f32 = 0.40;
/// A product found by meaning alone must be this close (stricter: no word confirms it).
pub const SEMANTIC_ONLY_SIMILARITY: f32 = 0.55;
/// A product matching at least [`PARTIAL_COVERAGE`] of the query's words is admitted by the
/// model at this similarity ("stay dry when it rains" → a rain jacket).
pub const PARTIAL_MATCH_SIMILARITY: f32 = 0.42;
/// See [`PARTIAL_MATCH_SIMILARITY`].
pub const PARTIAL_COVERAGE: f32 = 0.3;
/// Reciprocal-rank-fusion constant (the usual 60).
const RRF_K: f32 = 60.0;
/// Weight of a synonym relative to the shopper's own word.
const SYNONYM_WEIGHT: f32 = 0.85;
/// Words of a query read (a chat message may be long; what it asks for is in its words
/// well before this many).
const MAX_QUERY_WORDS: usize = 48;
/// Spelling corrections tried per query: each scans the catalog's vocabulary.
const MAX_CORRECTIONS: usize = 6;
/// Weight of a spelling correction.
const CORRECTION_WEIGHT: f32 = 0.9;
/// Share of its usual weight a weak word ("carry", "keep") has in coverage.
const WEAK_WORD_SHARE: f32 = 0.25;
/// Score factor for a product whose name's head noun is the query's last concept: a
/// "computer mouse" is a mouse, a "computer mouse shaped stress toy" is a toy.
const HEAD_MATCH_BONUS: f32 = 1.5;

/// One concept of a query: what the shopper wrote and what may match it.
#[derive(Debug, Clone)]
pub struct Concept {
    /// The shopper's word(s).
    pub word: String,
    /// Ways to match it.
    pub alternatives: Vec<Alternative>,
    /// Importance (inverse document frequency of its commonest alternative).
    pub weight: f32,
}

/// A retrieved product.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The product.
    pub entry: Arc<Entry>,
    /// Fused score, higher is better.
    pub score: f32,
    /// The concepts it matched (the shopper's words).
    pub matched: Vec<String>,
    /// Cosine similarity, when semantic retrieval ran.
    pub similarity: Option<f32>,
    /// Share of the query's weighted concepts it matches.
    pub coverage: f32,
}

/// Everything retrieval understood and found.
#[derive(Debug, Clone, Default)]
pub struct Retrieval {
    /// Price bounds, intent and the remaining text.
    pub understood: Understood,
    /// The query's concepts.
    pub concepts: Vec<Concept>,
    /// A category the query names: (lower-case key, display name).
    pub category: Option<(String, String)>,
    /// Products, best first.
    pub hits: Vec<Hit>,
    /// Whether semantic retrieval took part.
    pub semantic: bool,
}

impl Retrieval {
    /// The query's content words, as the shopper wrote them (after spelling correction).
    pub fn words(&self) -> Vec<String> {
        self.concepts.iter().map(|c| c.word.clone()).collect()
    }
}

/// A retrieval failure (an engine fault, never bad input).
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    /// The lexical index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Finds products for queries.
pub struct Retriever {
    catalog: Arc<Catalog>,
    /// Each group's members as stem sequences, with the member's words.
    synonyms: Vec<Vec<Vec<String>>>,
    synonym_words: HashSet<String>,
    semantic: Option<Arc<SemanticIndex>>,
}

fn idf(document_frequency: u32, products: usize) -> f32 {
    let n = products as f32;
    let df = document_frequency as f32;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

impl Retriever {
    /// A retriever over `catalog`.
    pub fn new(catalog: Arc<Catalog>, synonyms: &Synonyms, semantic: Option<Arc<SemanticIndex>>) -> Retriever {
        let mut analyzer = Analyzer::default();
        let mut synonym_words = HashSet::new();
        let groups = synonyms
            .groups()
            .iter()
            .map(|group| {
                group
                    .iter()
                    .map(|member| {
                        synonym_words.extend(analyzer.words(member));
                        analyzer.stems(member)
                    })
                    .filter(|stems| !stems.is_empty())
                    .collect()
            })
            .collect();
        Retriever { catalog, synonyms: groups, synonym_words, semantic }
    }

    /// The catalog searched.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The semantic index, when a model is configured.
    pub fn semantic(&self) -> Option<&Arc<SemanticIndex>> {
        self.semantic.as_ref()
    }

    /// The closest known word to `word` (a likely typo), if one is close enough.
    fn correct(vocabulary: &Vocabulary, word: &str) -> Option<String> {
        let length = word.chars().count();
        let max = match length {
            0..=3 => return None,
            4..=7 => 1,
            _ => 2,
        };
        let mut best: Option<(usize, u32, &String)> = None;
        for (candidate, stem) in &vocabulary.words {
            if candidate.chars().count().abs_diff(length) > max || candidate.chars().any(|c| c.is_ascii_digit()) {
                continue;
            }
            let distance = edit_distance(word, candidate, max);
            if distance > max {
                continue;
            }
            let df = vocabulary.document_frequency.get(stem).copied().unwrap_or(0);
            let better = match best {
                None => true,
                Some((d, f, c)) => (distance, std::cmp::Reverse(df), candidate) < (d, std::cmp::Reverse(f), c),
            };
            if better && df > 0 {
                best = Some((distance, df, candidate));
            }
        }
        best.map(|(_, _, c)| c.clone())
    }

    /// The concepts of `text`.
    pub fn concepts(&self, text: &str) -> Vec<Concept> {
        let mut analyzer = Analyzer::default();
        self.catalog.with_vocabulary(|vocabulary, products| {
            let known = |stem: &str| vocabulary.document_frequency.contains_key(stem);
            // Words, spelling-corrected where the catalog and the synonym list know no such word.
            let mut words: Vec<(String, bool)> = Vec::new();
            let mut attempts = 0;
            for word in analyzer.words(text).into_iter().take(MAX_QUERY_WORDS) {
                let unknown = attempts < MAX_CORRECTIONS
                    && !is_stop_word(&word)
                    && !known(&analyzer.stem(&word))
                    && !self.synonym_words.contains(&word)
                    && word.chars().all(char::is_alphabetic);
                attempts += usize::from(unknown);
                match unknown.then(|| Self::correct(vocabulary, &word)).flatten() {
                    Some(corrected) => words.push((corrected, true)),
                    None => words.push((word, false)),
                }
            }
            let stems: Vec<String> = words.iter().map(|(w, _)| analyzer.stem(w)).collect();
            let mut used = vec![false; stems.len()];
            let mut concepts = Vec::new();
            for i in 0..stems.len() {
                if used[i] {
                    continue;
                }
                if let Some((positions, group, member)) = self.synonym_match(&stems, &used, i) {
                    for p in &positions {
                        used[*p] = true;
                    }
                    let word = positions.iter().map(|p| words[*p].0.as_str()).collect::<Vec<_>>().join(" ");
                    let alternatives = self.synonyms[group]
                        .iter()
                        .enumerate()
                        .map(|(m, stems)| Alternative {
                            stems: stems.clone(),
                            weight: if m == member { 1.0 } else { SYNONYM_WEIGHT },
                        })
                        .collect();
                    concepts.push(Concept { word, alternatives, weight: 0.0 });
                    continue;
                }
                used[i] = true;
                let (word, corrected) = &words[i];
                if is_stop_word(word) || stems[i].is_empty() {
                    continue;
                }
                let weight = if *corrected { CORRECTION_WEIGHT } else { 1.0 };
                concepts.push(Concept {
                    word: word.clone(),
                    alternatives: vec![Alternative { stems: vec![stems[i].clone()], weight }],
                    weight: 0.0,
                });
            }
            // A word repeated ("mouse mouse") is one concept.
            let mut seen = HashSet::new();
            concepts.retain(|c: &Concept| seen.insert(c.word.clone()));
            for concept in &mut concepts {
                let weak = concept.alternatives.len() == 1 && is_weak_word(&concept.word);
                let df = concept
                    .alternatives
                    .iter()
                    .map(|a| a.stems.iter().map(|s| vocabulary.document_frequency.get(s).copied().unwrap_or(0)).min())
                    .map(Option::unwrap_or_default)
                    .max()
                    .unwrap_or(0);
                concept.weight = idf(df, products.max(1)) * if weak { WEAK_WORD_SHARE } else { 1.0 };
            }
            concepts
        })
    }

    /// The longest synonym-group member starting at stem `i` (its later stems may be up to
    /// two words apart: "keep my drink warm"): positions used, group, member.
    fn synonym_match(&self, stems: &[String], used: &[bool], i: usize) -> Option<(Vec<usize>, usize, usize)> {
        let mut best: Option<(Vec<usize>, usize, usize)> = None;
        for (g, group) in self.synonyms.iter().enumerate() {
            for (m, member) in group.iter().enumerate() {
                if member.first() != Some(&stems[i]) {
                    continue;
                }
                let mut positions = vec![i];
                let mut at = i + 1;
                for stem in &member[1..] {
                    let found = (at..(at + 3).min(stems.len())).find(|p| !used[*p] && stems[*p] == *stem);
                    match found {
                        Some(p) => {
                            positions.push(p);
                            at = p + 1;
                        }
                        None => break,
                    }
                }
                if positions.len() == member.len() && best.as_ref().is_none_or(|b| b.0.len() < positions.len()) {
                    best = Some((positions, g, m));
                }
            }
        }
        best
    }

    /// The category a query names, if any.
    fn category(&self, concepts: &[Concept]) -> Option<(String, String)> {
        let mut analyzer = Analyzer::default();
        let query: HashSet<&str> = concepts
            .iter()
            .flat_map(|c| c.alternatives.iter().flat_map(|a| a.stems.iter().map(String::as_str)))
            .collect();
        let mut best: Option<(f32, String, String)> = None;
        for (key, name, _) in self.catalog.categories() {
            let stems: Vec<String> =
                analyzer.words(&name).iter().filter(|w| !is_stop_word(w)).map(|w| analyzer.stem(w)).collect();
            if stems.is_empty() {
                continue;
            }
            let matched = stems.iter().filter(|s| query.contains(s.as_str())).count();
            let share = matched as f32 / stems.len() as f32;
            if matched > 0 && share >= 0.5 && best.as_ref().is_none_or(|b| share > b.0) {
                best = Some((share, key, name));
            }
        }
        best.map(|(_, key, name)| (key, name))
    }

    /// Retrieves at most `limit` products for `text`.
    pub async fn search(&self, text: &str, limit: usize) -> Result<Retrieval, RetrievalError> {
        let understood = query::understand(text);
        let concepts = self.concepts(&understood.text);
        let category = self.category(&concepts);
        let mut retrieval = Retrieval { understood, concepts, category, hits: Vec::new(), semantic: false };
        let has_filter = retrieval.understood.min_price.is_some() || retrieval.understood.max_price.is_some();
        if retrieval.concepts.is_empty() && !has_filter && retrieval.understood.intent.is_none() {
            return Ok(retrieval);
        }
        let lexical = self.lexical(&retrieval)?;
        let semantic = match (&self.semantic, retrieval.concepts.is_empty()) {
            (Some(index), false) if !index.is_empty() => {
                retrieval.semantic = true;
                self.semantic_hits(index, &retrieval).await
            }
            _ => Vec::new(),
        };
        retrieval.hits = fuse(lexical, semantic);
        apply_intent(&mut retrieval.hits, retrieval.understood.intent);
        retrieval.hits.truncate(limit);
        Ok(retrieval)
    }

    fn lexical(&self, retrieval: &Retrieval) -> Result<Vec<Hit>, RetrievalError> {
        let query = LexicalQuery {
            concepts: retrieval.concepts.iter().map(|c| c.alternatives.clone()).collect(),
            min_cents: retrieval.understood.min_price.map(Money::cents),
            max_cents: retrieval.understood.max_price.map(Money::cents),
            boost_category: retrieval.category.as_ref().map(|(key, _)| key.clone()),
        };
        let found = self.catalog.index().search(&query, LEXICAL_POOL)?;
        let entries = self.catalog.get_many(found.iter().map(|(id, _)| id.as_str()));
        let by_id: HashMap<&str, &Arc<Entry>> = entries.iter().map(|e| (e.product.id.as_str(), e)).collect();
        let mut hits = Vec::new();
        for (id, score) in &found {
            let Some(entry) = by_id.get(id.as_str()) else { continue };
            let (matched, coverage) = coverage(&retrieval.concepts, entry);
            if coverage < MIN_COVERAGE {
                continue;
            }
            let head = if heads_match(&retrieval.concepts, entry) { HEAD_MATCH_BONUS } else { 1.0 };
            hits.push(Hit {
                entry: (*entry).clone(),
                score: score * coverage * coverage * head,
                matched,
                similarity: None,
                coverage,
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.entry.product.id.cmp(&b.entry.product.id)));
        Ok(hits)
    }

    async fn semantic_hits(&self, index: &Arc<SemanticIndex>, retrieval: &Retrieval) -> Vec<Hit> {
        // The concepts, not the sentence: filler words pull every query towards the same
        // generic products (measured on bench/ai_eval).
        let text = retrieval.words().join(" ");
        let query = {
            let index = index.clone();
            match tokio::task::spawn_blocking(move || index.embed_query(&text)).await {
                Ok(Ok(vector)) => vector,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "query embedding failed; lexical retrieval only");
                    return Vec::new();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "query embedding task failed; lexical retrieval only");
                    return Vec::new();
                }
            }
        };
        let (min, max) = (retrieval.understood.min_price, retrieval.understood.max_price);
        let nearest = index.nearest(&query, SEMANTIC_POOL, MIN_SIMILARITY, |_| true);
        let entries = self.catalog.get_many(nearest.iter().map(|(id, _)| id.as_str()));
        let similarity: HashMap<&str, f32> = nearest.iter().map(|(id, s)| (id.as_str(), *s)).collect();
        entries
            .into_iter()
            .filter(|e| min.is_none_or(|m| e.product.price >= m) && max.is_none_or(|m| e.product.price <= m))
            .map(|entry| {
                let s = similarity.get(entry.product.id.as_str()).copied().unwrap_or_default();
                let (matched, coverage) = coverage(&retrieval.concepts, &entry);
                Hit { entry, score: s, matched, similarity: Some(s), coverage }
            })
            .collect()
    }
}

/// The concepts `entry` matches (the shopper's words) and their share of the query's weight.
fn coverage(concepts: &[Concept], entry: &Entry) -> (Vec<String>, f32) {
    let total: f32 = concepts.iter().map(|c| c.weight).sum();
    let matched: Vec<&Concept> = concepts
        .iter()
        .filter(|c| c.alternatives.iter().any(|a| a.stems.iter().all(|s| entry.stems.contains(s))))
        .collect();
    let share = if total > 0.0 { matched.iter().map(|c| c.weight).sum::<f32>() / total } else { 1.0 };
    (matched.iter().map(|c| c.word.clone()).collect(), share)
}

/// Whether the product's name is headed by the query's last concept (or a synonym of it).
fn heads_match(concepts: &[Concept], entry: &Entry) -> bool {
    match (concepts.last(), &entry.name_head) {
        (Some(last), Some(head)) => last.alternatives.iter().any(|a| a.stems.last() == Some(head)),
        _ => false,
    }
}

/// Whether a product only the model found may be shown: clearly close in meaning, or
/// fairly close and matching part of the query's words too.
fn semantic_only_admitted(hit: &Hit) -> bool {
    hit.similarity.is_some_and(|s| {
        s >= SEMANTIC_ONLY_SIMILARITY || (s >= PARTIAL_MATCH_SIMILARITY && hit.coverage >= PARTIAL_COVERAGE)
    })
}

/// Reciprocal rank fusion of the lexical and semantic rankings. A product only the model
/// found must be clearly close in meaning; one both found ranks first.
fn fuse(lexical: Vec<Hit>, semantic: Vec<Hit>) -> Vec<Hit> {
    if semantic.is_empty() {
        return lexical;
    }
    let mut fused: HashMap<String, Hit> = HashMap::new();
    for (rank, hit) in lexical.into_iter().enumerate() {
        let mut hit = hit;
        hit.score = 1.0 / (RRF_K + rank as f32 + 1.0);
        fused.insert(hit.entry.product.id.clone(), hit);
    }
    for (rank, hit) in semantic.into_iter().enumerate() {
        let add = 1.0 / (RRF_K + rank as f32 + 1.0);
        match fused.get_mut(&hit.entry.product.id) {
            Some(existing) => {
                existing.score += add;
                existing.similarity = hit.similarity;
            }
            None if semantic_only_admitted(&hit) => {
                let mut hit = hit;
                hit.score = add;
                fused.insert(hit.entry.product.id.clone(), hit);
            }
            None => {}
        }
    }
    let mut hits: Vec<Hit> = fused.into_values().collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.entry.product.id.cmp(&b.entry.product.id)));
    hits
}

/// "cheap" keeps the cheaper half of what matched, cheapest first among equally good
/// matches; "premium" the dearer half, dearest first.
fn apply_intent(hits: &mut Vec<Hit>, intent: Option<PriceIntent>) {
    let Some(intent) = intent else { return };
    if hits.len() < 2 {
        return;
    }
    let mut prices: Vec<Money> = hits.iter().map(|h| h.entry.product.price).collect();
    prices.sort();
    let median = prices[prices.len() / 2];
    hits.retain(|h| match intent {
        PriceIntent::Low => h.entry.product.price <= median,
        PriceIntent::High => h.entry.product.price >= median,
    });
    // Tiers of coverage (tenths) keep better matches ahead of merely cheaper ones.
    let tier = |h: &Hit| std::cmp::Reverse((h.coverage * 10.0).round() as i64);
    match intent {
        PriceIntent::Low => hits.sort_by_key(|h| (tier(h), h.entry.product.price)),
        PriceIntent::High => hits.sort_by_key(|h| (tier(h), std::cmp::Reverse(h.entry.product.price))),
    }
}
