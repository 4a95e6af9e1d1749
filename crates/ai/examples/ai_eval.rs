//! Retrieval evaluation and benchmark (`bench/ai_eval/`).
//!
//! ```sh
//! cargo run --release -p ai --example ai_eval                      # lexical only
//! EMBEDDING_MODEL_DIR=… cargo run --release -p ai --example ai_eval  # lexical, then hybrid
//! cargo run --release -p ai --example ai_eval -- --bench 10000       # plus indexing and latency
//! ```
//!
//! Prints nDCG@5 per query kind, the negatives answered with no products, results above or
//! below a query's price bound, and results that are not catalog products.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ai::catalog::{Catalog, CatalogProduct};
use ai::retrieval::Retriever;
use ai::retrieval::embeddings::{Embedder, SemanticIndex};
use ai::retrieval::synonyms::{self, Synonyms};
use contracts::Money;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Deserialize)]
struct Query {
    kind: String,
    query: String,
    min_price: Option<f64>,
    max_price: Option<f64>,
    relevance: HashMap<String, u32>,
}

fn dataset_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/ai_eval")
}

fn ndcg_at_5(found: &[String], relevance: &HashMap<String, u32>) -> f64 {
    let gain = |g: u32| f64::from((1u32 << g) - 1);
    let dcg: f64 = found
        .iter()
        .take(5)
        .enumerate()
        .map(|(i, id)| gain(relevance.get(id).copied().unwrap_or(0)) / ((i + 2) as f64).log2())
        .sum();
    let mut ideal: Vec<u32> = relevance.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(5).enumerate().map(|(i, g)| gain(*g) / ((i + 2) as f64).log2()).sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

async fn evaluate(label: &str, retriever: &Retriever, queries: &[Query], catalog_ids: &HashSet<String>, verbose: bool) {
    let mut per_kind: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut negatives = (0, 0);
    let mut price_violations = 0;
    let mut invented = 0;
    for q in queries {
        let retrieval = retriever.search(&q.query, 5).await.expect("search");
        let found: Vec<String> = retrieval.hits.iter().map(|h| h.entry.product.id.clone()).collect();
        invented += found.iter().filter(|id| !catalog_ids.contains(*id)).count();
        for hit in &retrieval.hits {
            let price = hit.entry.product.price;
            let below = q.min_price.is_some_and(|m| price < Money::from_decimal(m).unwrap());
            let above = q.max_price.is_some_and(|m| price > Money::from_decimal(m).unwrap());
            if below || above {
                price_violations += 1;
            }
        }
        if q.kind == "negative" {
            negatives.1 += 1;
            if found.is_empty() {
                negatives.0 += 1;
            } else if verbose {
                println!("  negative {:?} returned {:?}", q.query, names(&retrieval));
            }
            continue;
        }
        let score = ndcg_at_5(&found, &q.relevance);
        if verbose && score < 0.85 {
            println!("  {:.2} {} {:?} -> {:?}", score, q.kind, q.query, names(&retrieval));
        }
        per_kind.entry(q.kind.clone()).or_default().push(score);
    }
    let all: Vec<f64> = per_kind.values().flatten().copied().collect();
    println!("\n== {label} ==");
    println!("{:<10} {:>7} {:>8}", "kind", "queries", "nDCG@5");
    for (kind, scores) in &per_kind {
        println!("{:<10} {:>7} {:>8.3}", kind, scores.len(), scores.iter().sum::<f64>() / scores.len() as f64);
    }
    println!("{:<10} {:>7} {:>8.3}", "overall", all.len(), all.iter().sum::<f64>() / all.len().max(1) as f64);
    println!("negatives answered with no products: {}/{}", negatives.0, negatives.1);
    println!("results outside a stated price bound: {price_violations}");
    println!("results that are not catalog products: {invented}");
}

fn names(r: &ai::retrieval::Retrieval) -> Vec<String> {
    r.hits
        .iter()
        .map(|h| match h.similarity {
            Some(s) => format!("{} (${}, cos {s:.2})", h.entry.product.name, h.entry.product.price),
            None => format!("{} (${})", h.entry.product.name, h.entry.product.price),
        })
        .collect()
}

fn retriever(catalog: &Arc<Catalog>, semantic: Option<Arc<SemanticIndex>>) -> Retriever {
    Retriever::new(catalog.clone(), &Synonyms::new(synonyms::builtin()), semantic)
}

/// `n` generated products: brands × adjectives × product nouns × categories.
fn generated(n: usize) -> Vec<CatalogProduct> {
    const NOUNS: &[(&str, &str)] = &[
        ("headphones", "Audio"),
        ("speaker", "Audio"),
        ("laptop", "Computers"),
        ("mouse", "Computers"),
        ("keyboard", "Computers"),
        ("monitor", "Computers"),
        ("jacket", "Clothing"),
        ("sweater", "Clothing"),
        ("sneakers", "Clothing"),
        ("blender", "Kitchen"),
        ("kettle", "Kitchen"),
        ("mug", "Kitchen"),
        ("tent", "Outdoors"),
        ("backpack", "Outdoors"),
        ("bottle", "Outdoors"),
        ("drill", "Tools"),
        ("hammer", "Tools"),
        ("novel", "Books"),
        ("cookbook", "Books"),
        ("puzzle", "Toys"),
    ];
    const ADJECTIVES: &[&str] = &[
        "wireless",
        "compact",
        "premium",
        "lightweight",
        "waterproof",
        "ergonomic",
        "classic",
        "smart",
        "portable",
        "insulated",
        "durable",
        "vintage",
        "modern",
        "quiet",
        "foldable",
        "rechargeable",
    ];
    const BRANDS: &[&str] =
        &["Acme", "Nordic", "Vertex", "Lumen", "Orbit", "Summit", "Harbor", "Pioneer", "Zenith", "Atlas"];
    (0..n)
        .map(|i| {
            let (noun, category) = NOUNS[i % NOUNS.len()];
            let adjective = ADJECTIVES[(i / NOUNS.len()) % ADJECTIVES.len()];
            let second = ADJECTIVES[(i * 7 + 3) % ADJECTIVES.len()];
            let brand = BRANDS[(i / 3) % BRANDS.len()];
            CatalogProduct {
                id: format!("gen-{i:05}"),
                name: format!("{brand} {adjective} {noun} {}", i % 997),
                description: format!(
                    "A {second} {adjective} {noun} from {brand}, model {i}, built for everyday use with a two-year warranty."
                ),
                price: Money::from_cents(500 + (i as i64 * 7919) % 200_000),
                category: category.to_owned(),
                tags: vec![noun.to_owned(), adjective.to_owned()],
                image_url: None,
                stock_quantity: Some((i % 50) as i64),
                updated_at: None,
            }
        })
        .collect()
}

async fn bench(n: usize, semantic: Option<Arc<SemanticIndex>>) {
    let products = generated(n);
    let catalog = Arc::new(Catalog::new().unwrap());
    let started = Instant::now();
    catalog.replace_all(products).unwrap();
    let indexing = started.elapsed();
    println!("\n== {n} generated products ==");
    println!("lexical indexing: {indexing:?}");
    let semantic = match semantic {
        Some(s) => {
            let started = Instant::now();
            let computed = s.sync_catalog(&catalog).unwrap();
            println!("embedding: {computed} vectors computed in {:?} (the rest from the cache)", started.elapsed());
            Some(s)
        }
        None => None,
    };
    let retriever = retriever(&catalog, semantic);
    let queries = [
        "wireless headphones under $200",
        "compact laptop",
        "waterproof jacket",
        "cheap mouse",
        "insulated bottle",
        "ergonomic keyboard between 50 and 100 dollars",
        "quiet blender",
        "portable speaker",
        "smart kettle",
        "vintage novel",
        "premium tent",
        "rechargeable drill over $500",
        "foldable backpack",
        "lightweight sneakers",
        "hedphones",
        "something to keep my coffee hot",
        "car tires",
    ];
    for q in queries {
        retriever.search(q, 10).await.unwrap();
    }
    let mut latencies = Vec::new();
    for round in 0..50 {
        for q in queries {
            let started = Instant::now();
            let r = retriever.search(q, 10).await.unwrap();
            latencies.push(started.elapsed());
            if round == 0 && q == "wireless headphones under $200" {
                println!("sample: {:?} -> {} hits", q, r.hits.len());
            }
        }
    }
    latencies.sort();
    let at = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!("search over {} queries: p50 {:?}, p99 {:?}", latencies.len(), at(0.50), at(0.99));
    // The worst input a shopper can send: a maximal message of words the catalog lacks.
    let long: String = (0..400).map(|i| format!("qwertz{}yx ", (b'a' + (i % 26) as u8) as char)).collect();
    let long = &long[..long.len().min(2000)];
    let started = Instant::now();
    for _ in 0..20 {
        retriever.search(long, 10).await.unwrap();
    }
    println!("a 2,000-character message of unknown words: {:?} per search", started.elapsed() / 20);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    let bench_size = args
        .iter()
        .position(|a| a == "--bench")
        .map(|i| args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(10_000));
    let dir = dataset_dir();
    let products: Vec<CatalogProduct> =
        serde_json::from_slice(&std::fs::read(dir.join("catalog.json")).expect("bench/ai_eval/catalog.json")).unwrap();
    let queries: Vec<Query> =
        serde_json::from_slice(&std::fs::read(dir.join("queries.json")).expect("bench/ai_eval/queries.json")).unwrap();
    let catalog_ids: HashSet<String> = products.iter().map(|p| p.id.clone()).collect();
    println!("{} products, {} queries", products.len(), queries.len());
    let catalog = Arc::new(Catalog::new().unwrap());
    catalog.replace_all(products).unwrap();

    evaluate("lexical (no embedding model)", &retriever(&catalog, None), &queries, &catalog_ids, verbose).await;

    let semantic = match std::env::var("EMBEDDING_MODEL_DIR") {
        Ok(model_dir) => {
            let started = Instant::now();
            let embedder = Embedder::load(Path::new(&model_dir)).expect("loading the embedding model");
            println!("\nmodel loaded in {:?}", started.elapsed());
            let cache = std::env::temp_dir().join("shop-ai-eval-cache");
            let semantic = Arc::new(SemanticIndex::new(embedder, Some(&cache)));
            let started = Instant::now();
            let computed = semantic.sync_catalog(&catalog).unwrap();
            println!("{computed} product vectors computed in {:?}", started.elapsed());
            evaluate(
                "hybrid (lexical + all-MiniLM-L6-v2)",
                &retriever(&catalog, Some(semantic.clone())),
                &queries,
                &catalog_ids,
                verbose,
            )
            .await;
            Some(semantic)
        }
        Err(_) => {
            println!(
                "\n(EMBEDDING_MODEL_DIR not set: hybrid retrieval not evaluated; see bench/ai_eval/fetch_model.sh)"
            );
            None
        }
    };
    if let Some(n) = bench_size {
        bench(n, None).await;
        if args.iter().any(|a| a == "--bench-semantic") {
            bench(n, semantic).await;
        }
    }
}
