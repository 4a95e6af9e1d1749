//! The lexical index: tantivy's BM25 over name (boosted), tags, category and description,
//! stemmed, in memory (it is rebuilt from the product service at every start, so there is
//! nothing on disk to migrate or to go stale). Prices are a fast field, so price bounds
//! filter inside the search instead of after it.

use crate::catalog::CatalogProduct;
use crate::retrieval::text::{ANALYZER, stemming_analyzer};
use std::ops::Bound;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, DisjunctionMaxQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// A failure inside the search engine (a bug or resource exhaustion, never bad input).
#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct IndexError(#[from] tantivy::TantivyError);

#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    name: Field,
    tags: Field,
    category: Field,
    description: Field,
    category_key: Field,
    price: Field,
}

/// Relative weight of a match in each field.
const FIELD_BOOSTS: [(FieldName, f32); 4] =
    [(FieldName::Name, 3.0), (FieldName::Tags, 2.0), (FieldName::Category, 1.5), (FieldName::Description, 1.0)];

#[derive(Debug, Clone, Copy)]
enum FieldName {
    Name,
    Tags,
    Category,
    Description,
}

/// One alternative way a query concept can match: a word (one stem) or a phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// Stems, in order.
    pub stems: Vec<String>,
    /// Weight relative to the shopper's own word (1.0).
    pub weight: f32,
}

/// What to search for.
#[derive(Debug, Clone, Default)]
pub struct LexicalQuery {
    /// Each concept of the query and its alternatives; a product scores for every concept
    /// it matches.
    pub concepts: Vec<Vec<Alternative>>,
    /// Price bounds in cents, inclusive.
    pub min_cents: Option<i64>,
    /// See `min_cents`.
    pub max_cents: Option<i64>,
    /// Category (lower-case) whose products get a bonus.
    pub boost_category: Option<String>,
}

/// The in-memory index.
pub struct LexicalIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

/// Writer memory: tantivy's minimum per thread is 15 MB; one thread is plenty for a catalog.
const WRITER_HEAP: usize = 30_000_000;

impl LexicalIndex {
    /// An empty index.
    pub fn new() -> Result<LexicalIndex, IndexError> {
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            id: builder.add_text_field("id", STRING | STORED),
            name: builder.add_text_field("name", text.clone()),
            tags: builder.add_text_field("tags", text.clone()),
            category: builder.add_text_field("category", text.clone()),
            description: builder.add_text_field("description", text),
            category_key: builder.add_text_field("category_key", STRING),
            price: builder.add_i64_field("price", INDEXED | FAST),
        };
        let index = Index::create_in_ram(builder.build());
        index.tokenizers().register(ANALYZER, stemming_analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        Ok(LexicalIndex { index, reader, writer: Mutex::new(writer), fields })
    }

    fn document(&self, product: &CatalogProduct) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &product.id);
        doc.add_text(f.name, &product.name);
        for tag in &product.tags {
            doc.add_text(f.tags, tag);
        }
        doc.add_text(f.category, &product.category);
        doc.add_text(f.description, &product.description);
        doc.add_text(f.category_key, product.category.to_lowercase());
        doc.add_i64(f.price, product.price.cents());
        doc
    }

    /// Replaces the whole content with `products`.
    pub fn replace_all<'a>(&self, products: impl Iterator<Item = &'a CatalogProduct>) -> Result<(), IndexError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        writer.delete_all_documents()?;
        for product in products {
            writer.add_document(self.document(product))?;
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// Adds or replaces products and removes ids, then makes the change visible.
    pub fn apply(&self, upserts: &[&CatalogProduct], removals: &[&str]) -> Result<(), IndexError> {
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for product in upserts {
            writer.delete_term(Term::from_field_text(self.fields.id, &product.id));
            writer.add_document(self.document(product))?;
        }
        for id in removals {
            writer.delete_term(Term::from_field_text(self.fields.id, id));
        }
        writer.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    fn field(&self, name: FieldName) -> Field {
        match name {
            FieldName::Name => self.fields.name,
            FieldName::Tags => self.fields.tags,
            FieldName::Category => self.fields.category,
            FieldName::Description => self.fields.description,
        }
    }

    fn alternative_query(&self, field: Field, alternative: &Alternative) -> Option<Box<dyn Query>> {
        match alternative.stems.as_slice() {
            [] => None,
            [stem] => Some(Box::new(TermQuery::new(
                Term::from_field_text(field, stem),
                IndexRecordOption::WithFreqsAndPositions,
            ))),
            stems => {
                let terms = stems.iter().enumerate().map(|(i, s)| (i, Term::from_field_text(field, s))).collect();
                // A little slop: "keeps drinks hot" still matches "keep hot".
                Some(Box::new(PhraseQuery::new_with_offset_and_slop(terms, 2)))
            }
        }
    }

    /// The best `limit` products for `query`: ids and BM25 scores, best first.
    pub fn search(&self, query: &LexicalQuery, limit: usize) -> Result<Vec<(String, f32)>, IndexError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut scoring: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for concept in &query.concepts {
            let mut disjuncts: Vec<Box<dyn Query>> = Vec::new();
            for alternative in concept {
                for (name, boost) in FIELD_BOOSTS {
                    if let Some(q) = self.alternative_query(self.field(name), alternative) {
                        disjuncts.push(Box::new(BoostQuery::new(q, boost * alternative.weight)));
                    }
                }
            }
            if !disjuncts.is_empty() {
                // The best field counts fully, the others a little: a word in the name and
                // the description beats a word in the name alone, but not by double.
                scoring.push((Occur::Should, Box::new(DisjunctionMaxQuery::with_tie_breaker(disjuncts, 0.3))));
            }
        }
        if scoring.is_empty() {
            if !query.concepts.is_empty() {
                return Ok(Vec::new());
            }
            scoring.push((Occur::Should, Box::new(AllQuery)));
        }
        if let Some(category) = &query.boost_category {
            let term =
                TermQuery::new(Term::from_field_text(self.fields.category_key, category), IndexRecordOption::Basic);
            scoring.push((Occur::Should, Box::new(BoostQuery::new(Box::new(term), 0.5))));
        }
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(scoring))));
        if query.min_cents.is_some() || query.max_cents.is_some() {
            let bound = |cents: Option<i64>| match cents {
                Some(c) => Bound::Included(Term::from_field_i64(self.fields.price, c)),
                None => Bound::Unbounded,
            };
            clauses.push((Occur::Must, Box::new(RangeQuery::new(bound(query.min_cents), bound(query.max_cents)))));
        }
        let searcher = self.reader.searcher();
        let top = searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(id) = doc.get_first(self.fields.id).and_then(|v| v.as_str()) {
                out.push((id.to_owned(), score));
            }
        }
        Ok(out)
    }

    /// Documents in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tantivy index (for tests and benchmarks).
    pub fn inner(&self) -> &Index {
        &self.index
    }
}
