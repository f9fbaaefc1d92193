//! Function words: the tokens spinners leave alone (Zhang et al., DSpin, NDSS 2014), which anchor the
//! spin-robust features. English only for now: in other languages every word counts as a content word,
//! which costs some robustness to spinning there but nothing in precision.
//!
//! Membership is tested on the token hash the tokeniser already computed, in a small open-addressing
//! table: no second pass over the token's bytes.

use std::sync::LazyLock;

use super::tokenize::token_hash;

/// English closed-class words: articles, prepositions, conjunctions, pronouns, auxiliaries. Adverbs
/// and other open-class words are left out on purpose: spinners swap those ("still" → "inactive").
pub const ENGLISH: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "against",
    "all",
    "although",
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
    "either",
    "for",
    "from",
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
    "may",
    "me",
    "might",
    "must",
    "my",
    "myself",
    "neither",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "onto",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "shall",
    "she",
    "should",
    "since",
    "so",
    "some",
    "such",
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
    "though",
    "through",
    "to",
    "under",
    "until",
    "up",
    "upon",
    "us",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "whether",
    "which",
    "while",
    "who",
    "whom",
    "whose",
    "why",
    "will",
    "with",
    "within",
    "without",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
];

/// Open-addressing hash set of the stopword hashes, indexed by the low bits of the token hash: one or
/// two probes per token, where a binary search over the sorted hashes takes eight unpredictable
/// branches.
static TABLE: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut table = vec![0u64; SLOTS];
    for word in ENGLISH {
        let hash = token_hash(word);
        let mut slot = hash as usize & (SLOTS - 1);
        while table[slot] != 0 && table[slot] != hash {
            slot = (slot + 1) & (SLOTS - 1);
        }
        table[slot] = hash;
    }
    table
});

/// Slots of [`TABLE`]: a power of two, at least four times the number of words.
const SLOTS: usize = 1024;

/// Whether the token with this hash is a function word.
#[inline]
pub fn contains(token_hash: u64) -> bool {
    Stopwords::get().contains(token_hash)
}

/// The stopword table, looked up once: a hot loop holds this rather than calling [`contains`], which
/// checks the lazy initialisation on every call.
#[derive(Clone, Copy)]
pub struct Stopwords(&'static [u64]);

impl Stopwords {
    /// The table (initialised on first use).
    pub fn get() -> Self {
        Stopwords(TABLE.as_slice())
    }

    /// Whether the token with this hash is a function word.
    #[inline]
    pub fn contains(self, token_hash: u64) -> bool {
        contains_in(self.0, token_hash)
    }
}

#[inline]
fn contains_in(table: &[u64], token_hash: u64) -> bool {
    let mut slot = token_hash as usize & (SLOTS - 1);
    loop {
        match table.get(slot).copied().unwrap_or(0) {
            0 => return false,
            hash if hash == token_hash => return true,
            _ => slot = (slot + 1) & (SLOTS - 1),
        }
    }
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
        assert!(ENGLISH.iter().all(|word| contains(token_hash(word))));
        assert!(ENGLISH.len() * 4 <= SLOTS);
    }
}
