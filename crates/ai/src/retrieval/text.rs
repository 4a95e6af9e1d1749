//! Text analysis shared by the index, the query and the coverage check, so all three see
//! the same words: split on anything that is not a letter or digit, lower-case, fold
//! accents, and (for matching) reduce to an English stem ("headphones" → "headphon").

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};

/// The name the index registers [`stemming_analyzer`] under.
pub const ANALYZER: &str = "shop_en";

/// Words longer than this are dropped (they are ids or noise, never search terms).
const MAX_WORD: usize = 40;

/// Splits, lower-cases, folds and stems.
pub fn stemming_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

fn word_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Analyses text once per call; cheap to create.
pub struct Analyzer {
    stemming: TextAnalyzer,
    words: TextAnalyzer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer { stemming: stemming_analyzer(), words: word_analyzer() }
    }
}

impl Analyzer {
    /// The stems of `text`, in order.
    pub fn stems(&mut self, text: &str) -> Vec<String> {
        collect(&mut self.stemming, text)
    }

    /// The words of `text` (lower-case, folded, not stemmed), in order.
    pub fn words(&mut self, text: &str) -> Vec<String> {
        collect(&mut self.words, text)
    }

    /// The stem of one word.
    pub fn stem(&mut self, word: &str) -> String {
        self.stems(word).into_iter().next().unwrap_or_default()
    }
}

fn collect(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Edit distance counting a swap of neighbours as one edit (optimal string alignment:
/// "laptpo" is one edit from "laptop"), giving up (returning `max + 1`) once it must
/// exceed `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0usize; width]; a.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        rows[i][0] = i;
        let mut row_min = rows[i][0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
            row_min = row_min.min(best);
        }
        if row_min > max {
            return max + 1;
        }
    }
    rows[a.len()][b.len()].min(max + 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn stems_fold_and_split() {
        let mut analyzer = Analyzer::default();
        assert_eq!(analyzer.stems("Noise-Cancelling Headphones"), ["nois", "cancel", "headphon"]);
        assert_eq!(analyzer.words("Café crème"), ["cafe", "creme"]);
    }

    #[test]
    fn edit_distance_is_bounded() {
        assert_eq!(edit_distance("hedphones", "headphones", 2), 1);
        assert_eq!(edit_distance("wireles", "wireless", 2), 1);
        assert_eq!(edit_distance("kitten", "sitting", 2), 3);
        assert_eq!(edit_distance("abc", "abcdefg", 2), 3);
        assert_eq!(edit_distance("laptpo", "laptop", 1), 1);
    }
}
