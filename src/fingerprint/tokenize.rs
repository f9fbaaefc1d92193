//! Unicode-aware tokenisation into hashed tokens.
//!
//! A token is a maximal run of letters and digits, lowercased, with homoglyphs folded inside Latin words.
//! Scripts written without spaces (Chinese, Japanese kana, Thai, …) have no words to find without a
//! dictionary, so each of their characters is paired with the next into a character bigram, the usual
//! choice for near-duplicate detection in those scripts.
//!
//! Tokens are hashed as they are found (xxh3, fixed seed: stored fingerprints must be the same on every
//! machine and release) and never allocated one by one: the tokeniser reuses one buffer.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::normalize::{is_invisible, latin_lookalike};
use super::stopwords;

/// Seed of every token hash. Changing it changes every stored fingerprint: bump
/// [`super::FINGERPRINT_VERSION`] with it.
const TOKEN_SEED: u64 = 0x6465_6475_7064_0001;

/// What a token is, as far as the fingerprints care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A function word ("the", "of", "und", …): spinners leave these alone.
    Stopword,
    /// All digits: spinners leave numbers alone too.
    Number,
    /// Any other word: what spinners replace.
    Word,
    /// A character bigram of a script without spaces.
    Bigram,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// xxh3 of the token's normalised UTF-8 bytes.
    pub hash: u64,
    pub kind: TokenKind,
    /// The word started with an uppercase letter in the text (a name, or the start of a sentence).
    pub capitalized: bool,
}

/// Scripts whose text is not separated by spaces: tokenised as character bigrams.
fn is_unspaced_script(c: char) -> bool {
    matches!(c,
        '\u{2E80}'..='\u{2FDF}'     // cjk radicals
        | '\u{3040}'..='\u{30FF}'   // hiragana, katakana
        | '\u{3100}'..='\u{31FF}'   // bopomofo, kanbun, katakana extensions
        | '\u{3400}'..='\u{4DBF}'   // cjk extension a
        | '\u{4E00}'..='\u{9FFF}'   // cjk unified ideographs
        | '\u{F900}'..='\u{FAFF}'   // cjk compatibility ideographs
        | '\u{0E00}'..='\u{0E7F}'   // thai
        | '\u{0E80}'..='\u{0EFF}'   // lao
        | '\u{1000}'..='\u{109F}'   // myanmar
        | '\u{1780}'..='\u{17FF}'   // khmer
        | '\u{20000}'..='\u{3134F}' // cjk extensions b and later
    )
}

/// Tokenises normalised text (see [`super::normalize::normalize`]) into `out`, which is cleared first.
pub fn tokenize(text: &str, out: &mut Vec<Token>) {
    out.clear();
    let mut word = WordBuffer::default();
    let mut previous_unspaced: Option<char> = None;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if is_unspaced_script(c) {
                word.flush(out);
                if let Some(previous) = previous_unspaced {
                    out.push(bigram(previous, c));
                }
                previous_unspaced = Some(c);
                continue;
            }
            previous_unspaced = None;
            word.push(c);
            continue;
        }
        if is_invisible(c) {
            // normalize() already removed these; kept here so tokenize() is safe on raw text too
            continue;
        }
        previous_unspaced = None;
        word.flush(out);
    }
    word.flush(out);
}

fn bigram(first: char, second: char) -> Token {
    let mut bytes = [0u8; 8];
    let first_len = first.encode_utf8(&mut bytes).len();
    let second_len = second.encode_utf8(&mut bytes[first_len..]).len();
    Token {
        hash: xxh3_64_with_seed(&bytes[..first_len + second_len], TOKEN_SEED),
        kind: TokenKind::Bigram,
        capitalized: false,
    }
}

/// The word being read: lowercased characters plus what is needed to fold homoglyphs on flush.
#[derive(Default)]
struct WordBuffer {
    text: String,
    capitalized: bool,
    has_latin: bool,
    has_lookalike: bool,
    all_digits: bool,
}

impl WordBuffer {
    fn push(&mut self, c: char) {
        if self.text.is_empty() {
            self.capitalized = c.is_uppercase();
            self.all_digits = true;
        }
        self.all_digits &= c.is_ascii_digit();
        if c.is_ascii() {
            self.has_latin |= c.is_ascii_alphabetic();
            self.text.push(c.to_ascii_lowercase());
            return;
        }
        for lower in c.to_lowercase() {
            self.has_lookalike |= latin_lookalike(lower).is_some();
            self.has_latin |= lower.is_alphabetic() && (lower as u32) < 0x250;
            self.text.push(lower);
        }
    }

    fn flush(&mut self, out: &mut Vec<Token>) {
        if self.text.is_empty() {
            return;
        }
        if self.has_latin && self.has_lookalike {
            self.text = self.text.chars().map(|c| latin_lookalike(c).unwrap_or(c)).collect();
        }
        let hash = xxh3_64_with_seed(self.text.as_bytes(), TOKEN_SEED);
        let kind = if self.all_digits {
            TokenKind::Number
        } else if stopwords::contains(hash) {
            TokenKind::Stopword
        } else {
            TokenKind::Word
        };
        out.push(Token { hash, kind, capitalized: self.capitalized });
        self.text.clear();
        self.has_latin = false;
        self.has_lookalike = false;
    }
}

/// The hash a token with this exact normalised text gets; for stopword tables and tests.
pub fn token_hash(text: &str) -> u64 {
    xxh3_64_with_seed(text.as_bytes(), TOKEN_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::normalize::normalize;

    fn toks(text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        tokenize(&normalize(text), &mut out);
        out
    }

    fn hashes(text: &str) -> Vec<u64> {
        toks(text).iter().map(|t| t.hash).collect()
    }

    #[test]
    fn english_words_numbers_and_stopwords() {
        let tokens = toks("The Bank raised rates by 0.25 points");
        let kinds: Vec<TokenKind> = tokens.iter().map(|t| t.kind).collect();
        use TokenKind::*;
        assert_eq!(kinds, vec![Stopword, Word, Word, Word, Stopword, Number, Number, Word]);
        assert!(tokens[0].capitalized && tokens[1].capitalized && !tokens[2].capitalized);
        assert_eq!(tokens[1].hash, token_hash("bank"));
    }

    #[test]
    fn case_is_folded_but_recorded() {
        assert_eq!(hashes("BANK Bank bank"), vec![token_hash("bank"); 3]);
    }

    #[test]
    fn german_words_with_umlauts_and_eszett() {
        assert_eq!(
            hashes("Die Straße über München"),
            vec![token_hash("die"), token_hash("straße"), token_hash("über"), token_hash("münchen")]
        );
    }

    #[test]
    fn russian_text_is_not_mistaken_for_homoglyphs() {
        // "Москва сообщила о росте" keeps its Cyrillic letters: no Latin letter in any word
        assert_eq!(
            hashes("Москва сообщила о росте"),
            vec![token_hash("москва"), token_hash("сообщила"), token_hash("о"), token_hash("росте")]
        );
    }

    #[test]
    fn arabic_words_are_split_on_spaces() {
        assert_eq!(hashes("قال الرئيس اليوم"), vec![token_hash("قال"), token_hash("الرئيس"), token_hash("اليوم")]);
    }

    #[test]
    fn chinese_becomes_character_bigrams() {
        let tokens = toks("北京时间");
        assert_eq!(tokens.len(), 3);
        assert!(tokens.iter().all(|t| t.kind == TokenKind::Bigram));
        assert_eq!(tokens[0].hash, token_hash("北京"));
        assert_eq!(tokens[2].hash, token_hash("时间"));
        // punctuation breaks the chain: no bigram across "，"
        assert_eq!(toks("北京，时间").len(), 2);
    }

    #[test]
    fn mixed_chinese_and_latin() {
        let tokens = toks("苹果公司iPhone销量");
        let kinds: Vec<TokenKind> = tokens.iter().map(|t| t.kind).collect();
        use TokenKind::*;
        assert_eq!(kinds, vec![Bigram, Bigram, Bigram, Word, Bigram]);
        assert_eq!(tokens[3].hash, token_hash("iphone"));
    }

    #[test]
    fn homoglyphs_inside_latin_words_are_folded() {
        // Cyrillic а, е, о, р, с inside English words
        assert_eq!(hashes("Ukrаinе's рrеsident sаid"), hashes("Ukraine's president said"));
    }

    #[test]
    fn invisible_characters_do_not_split_words() {
        assert_eq!(hashes("pre\u{200B}sident re\u{00AD}port"), hashes("president report"));
        let mut raw = Vec::new();
        tokenize("pre\u{200B}sident", &mut raw);
        assert_eq!(raw.len(), 1);
    }
}
