//! Function words: the tokens spinners leave alone (Zhang et al., DSpin, NDSS 2014), which anchor the
//! spin-robust features. English only for now: in other languages every word counts as a content word,
//! which costs some robustness to spinning there but nothing in precision.
//!
//! Membership is tested on the token hash the tokeniser already computed, with a binary search in a
//! sorted table: no second pass over the token's bytes.

use std::sync::LazyLock;

use super::tokenize::token_hash;

/// English function words: articles, pronouns, prepositions, conjunctions, auxiliaries.
pub const ENGLISH: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "may",
    "me",
    "might",
    "more",
    "most",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "s",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "t",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

static TABLE: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut hashes: Vec<u64> = ENGLISH.iter().map(|word| token_hash(word)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
});

/// Whether the token with this hash is a function word.
pub fn contains(token_hash: u64) -> bool {
    TABLE.binary_search(&token_hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_function_words_and_content_words() {
        assert!(contains(token_hash("the")));
        assert!(contains(token_hash("whom")));
        assert!(!contains(token_hash("spokesman")));
        assert!(!contains(token_hash("The")), "the table holds lowercased words only");
    }
}
