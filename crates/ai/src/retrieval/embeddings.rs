//! Semantic retrieval: a local BERT-style sentence-embedding model (all-MiniLM-L6-v2 by
//! default) run by candle, pure Rust, on the CPU. Texts become unit vectors (mean pooling
//! over real tokens, then L2 normalisation), so a dot product is the cosine similarity.
//!
//! Product vectors are cached on disk by a hash of the model and the text: a restart, or
//! a change that leaves a product's text alone, costs no inference.

use crate::catalog::{Catalog, Entry};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A model file is missing or unreadable.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model failed.
    #[error("model: {0}")]
    Model(#[from] candle_core::Error),
}

/// Longest text embedded, in tokens: cost grows with length, and a product's name, tags
/// and first sentence fit.
const MAX_TOKENS: usize = 96;
/// Texts per inference batch.
pub const BATCH: usize = 32;

/// A loaded sentence-embedding model.
pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimensions: usize,
    fingerprint: String,
}

fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|e| EmbedError::Read { path: path.to_owned(), reason: e.to_string() })
}

impl Embedder {
    /// Loads `model.safetensors`, `tokenizer.json` and `config.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let device = Device::Cpu;
        let config_bytes = read(&dir.join("config.json"))?;
        let config: BertConfig = serde_json::from_slice(&config_bytes)
            .map_err(|e| EmbedError::Read { path: dir.join("config.json"), reason: e.to_string() })?;
        let weights = read(&dir.join("model.safetensors"))?;
        let mut hasher = Sha256::new();
        hasher.update(&config_bytes);
        hasher.update(&weights[..weights.len().min(1 << 20)]);
        hasher.update(weights.len().to_le_bytes());
        let fingerprint: String = hex(&hasher.finalize())[..16].to_owned();
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)?;
        let model = BertModel::load(vb, &config)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError::Read { path: tokenizer_path.clone(), reason: e.to_string() })?;
        // The shipped tokenizer.json pads every text to 128 tokens: padding to the longest
        // text of each batch instead is many times faster for short product texts.
        let mut padding = tokenizer.get_padding().cloned().unwrap_or_else(PaddingParams::default);
        padding.strategy = PaddingStrategy::BatchLongest;
        tokenizer.with_padding(Some(padding));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..TruncationParams::default() }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        Ok(Embedder { model, tokenizer, device, dimensions: config.hidden_size, fingerprint })
    }

    /// Length of every vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Identifies the model's weights, for cache keys.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Unit vectors for `texts`, in order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let rows = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> Result<Tensor, EmbedError> {
            let rows: Vec<Tensor> = encodings
                .iter()
                .map(|e| Tensor::new(f(e).as_slice(), &self.device))
                .collect::<Result<_, candle_core::Error>>()?;
            Ok(Tensor::stack(&rows, 0)?)
        };
        let ids = rows(&|e| e.get_ids().to_vec())?;
        let type_ids = rows(&|e| e.get_type_ids().to_vec())?;
        let mask = rows(&|e| e.get_attention_mask().to_vec())?;
        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        // Mean over real tokens only: padding must not pull short texts towards each other.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        let unit = mean.broadcast_div(&norms)?;
        Ok(unit.to_vec2::<f32>()?)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Hash = [u8; 32];

/// A product's vector and the hash of the text it was made from.
type Vectors = HashMap<String, (Hash, Arc<[f32]>)>;

/// Vectors by content hash, in memory and in an append-only file.
struct DiskCache {
    vectors: HashMap<Hash, Arc<[f32]>>,
    file: Option<BufWriter<std::fs::File>>,
}

impl DiskCache {
    fn open(path: Option<PathBuf>, dimensions: usize) -> DiskCache {
        let mut vectors = HashMap::new();
        let Some(path) = path else { return DiskCache { vectors, file: None } };
        let record = 32 + dimensions * 4;
        if let Ok(mut file) = std::fs::File::open(&path) {
            let mut bytes = Vec::new();
            if file.read_to_end(&mut bytes).is_ok() {
                // A torn last record (a crash mid-append) is ignored, not fatal.
                for chunk in bytes.chunks_exact(record) {
                    let mut hash = [0u8; 32];
                    hash.copy_from_slice(&chunk[..32]);
                    let vector: Vec<f32> =
                        chunk[32..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                    vectors.insert(hash, Arc::from(vector));
                }
                let whole = bytes.len() / record * record;
                if whole != bytes.len()
                    && let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path)
                {
                    let _ = f.set_len(whole as u64);
                }
            }
        }
        let file = path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(&path))
            .map_err(
                |e| tracing::warn!(path = %path.display(), error = %e, "embedding cache not writable; not caching"),
            )
            .ok()
            .map(BufWriter::new);
        DiskCache { vectors, file }
    }

    fn store(&mut self, hash: Hash, vector: Arc<[f32]>) {
        if let Some(file) = &mut self.file {
            let mut record = Vec::with_capacity(32 + vector.len() * 4);
            record.extend_from_slice(&hash);
            for v in vector.iter() {
                record.extend_from_slice(&v.to_le_bytes());
            }
            if let Err(e) = file.write_all(&record).and_then(|_| file.flush()) {
                tracing::warn!(error = %e, "writing the embedding cache failed; not caching");
                self.file = None;
            }
        }
        self.vectors.insert(hash, vector);
    }
}

/// Product vectors and the model that makes them.
pub struct SemanticIndex {
    embedder: Arc<Embedder>,
    cache: Mutex<DiskCache>,
    /// Product id → (text hash, vector).
    vectors: RwLock<Vectors>,
}

impl SemanticIndex {
    /// Wraps a loaded model; vectors are cached under `cache_dir` when given.
    pub fn new(embedder: Embedder, cache_dir: Option<&Path>) -> SemanticIndex {
        let path = cache_dir.map(|d| d.join(format!("embeddings-{}.bin", embedder.fingerprint())));
        let cache = DiskCache::open(path, embedder.dimensions());
        SemanticIndex { embedder: Arc::new(embedder), cache: Mutex::new(cache), vectors: RwLock::new(HashMap::new()) }
    }

    fn hash(&self, text: &str) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(self.embedder.fingerprint().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.finalize().into()
    }

    /// Brings the vectors in line with `entries` (computing what the cache lacks) and
    /// forgets products no longer in the catalog when `complete`. Blocking: run it off the
    /// async runtime.
    pub fn sync(&self, entries: &[Arc<Entry>], complete: bool) -> Result<usize, EmbedError> {
        let wanted: Vec<(String, Hash, String)> = entries
            .iter()
            .map(|e| {
                let text = e.product.embedding_text();
                (e.product.id.clone(), self.hash(&text), text)
            })
            .collect();
        let mut missing: Vec<&(String, Hash, String)> = Vec::new();
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
            if complete {
                let keep: std::collections::HashSet<&str> = wanted.iter().map(|(id, _, _)| id.as_str()).collect();
                vectors.retain(|id, _| keep.contains(id.as_str()));
            }
            for item in &wanted {
                if vectors.get(&item.0).is_some_and(|(h, _)| *h == item.1) {
                    continue;
                }
                match cache.vectors.get(&item.1) {
                    Some(v) => {
                        vectors.insert(item.0.clone(), (item.1, v.clone()));
                    }
                    None => missing.push(item),
                }
            }
        }
        let computed = missing.len();
        for batch in missing.chunks(BATCH) {
            let texts: Vec<&str> = batch.iter().map(|(_, _, t)| t.as_str()).collect();
            let embedded = self.embedder.embed(&texts)?;
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let mut vectors = self.vectors.write().unwrap_or_else(|p| p.into_inner());
            for ((id, hash, _), vector) in batch.iter().zip(embedded) {
                let vector: Arc<[f32]> = Arc::from(vector);
                cache.store(*hash, vector.clone());
                vectors.insert(id.clone(), (*hash, vector));
            }
        }
        Ok(computed)
    }

    /// Forgets a deleted product.
    pub fn remove(&self, id: &str) {
        self.vectors.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// The query's unit vector. Blocking.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embedder.embed(&[text])?.into_iter().next().unwrap_or_default())
    }

    /// Products by cosine similarity to `query`, best first, at least `min_similarity`,
    /// among those `admit` accepts.
    pub fn nearest(
        &self,
        query: &[f32],
        limit: usize,
        min_similarity: f32,
        admit: impl Fn(&str) -> bool,
    ) -> Vec<(String, f32)> {
        let vectors = self.vectors.read().unwrap_or_else(|p| p.into_inner());
        let mut scored: Vec<(String, f32)> = vectors
            .iter()
            .filter(|(id, _)| admit(id))
            .map(|(id, (_, v))| (id.clone(), dot(query, v)))
            .filter(|(_, s)| *s >= min_similarity)
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        scored.truncate(limit);
        scored
    }

    /// A product's vector.
    pub fn vector(&self, id: &str) -> Option<Arc<[f32]>> {
        self.vectors.read().unwrap_or_else(|p| p.into_inner()).get(id).map(|(_, v)| v.clone())
    }

    /// Products with a vector.
    pub fn len(&self) -> usize {
        self.vectors.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no product has a vector yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Computes vectors for every catalog product (after the start-up build). Blocking.
    pub fn sync_catalog(&self, catalog: &Catalog) -> Result<usize, EmbedError> {
        self.sync(&catalog.all(), false)
    }
}

/// Dot product (cosine similarity of unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
