//! Unicode-aware tokenisation into hashed tokens.
//!
//! A token is a maximal run of letters and digits, lowercased, with homoglyphs folded inside Latin words
//! (and in one- or two-letter words of lookalikes between two Latin words: a Cyrillic "а" for "a").
//! Scripts written without spaces (Chinese, Japanese kana, Thai, …) have no words to find without a
//! dictionary, so each of their characters is paired with the next into a character bigram, the usual
//! choice for near-duplicate detection in those scripts.
//!
//! Tokens are hashed as they are found and never allocated one by one. The token hash is written out
//! here rather than taken from a crate: it reads a word eight bytes at a time, and on ASCII text (the
//! common case) lowercases those eight bytes with one OR while loading them, so a typical word costs
//! one multiply instead of a pass to lowercase it into a buffer and another to hash it
//! (`cargo bench --bench fingerprint`). It is pure integer arithmetic, the same on every machine and
//! release, as stored fingerprints must be.

use std::ops::Range;

use super::normalize::{is_invisible, latin_lookalike};
use super::stopwords::{self, Stopwords};

/// Seed of every token hash. Changing it (or the hash) changes every stored fingerprint: bump
/// [`super::FINGERPRINT_VERSION`] with it.
const TOKEN_SEED: u64 = 0x6465_6475_7064_0001;
const MULTIPLIER: u64 = 0x9FB2_1C65_1E98_DF25;

/// One 8-byte chunk into the running hash.
#[inline]
fn hash_chunk(state: u64, chunk: u64) -> u64 {
    let mixed = (state ^ chunk).wrapping_mul(MULTIPLIER);
    mixed ^ (mixed >> 29)
}

/// splitmix64's finaliser, with the length mixed in: the sketches sample the high bits.
#[inline]
fn hash_finish(state: u64, len: usize) -> u64 {
    let mut z = state ^ (len as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The low `len` bytes of a word, for `len` in 0..=8.
const BYTE_MASKS: [u64; 9] =
    [0, 0xFF, 0xFFFF, 0xFF_FFFF, 0xFFFF_FFFF, 0xFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF, 0xFF_FFFF_FFFF_FFFF, u64::MAX];

/// Up to 8 bytes of `bytes` from `at` as a little-endian integer, zero-padded.
#[inline]
fn load(bytes: &[u8], at: usize, len: usize) -> u64 {
    if let Some(&eight) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        return u64::from_le_bytes(eight) & BYTE_MASKS[len];
    }
    let mut buffer = [0u8; 8];
    buffer[..len].copy_from_slice(&bytes[at..at + len]);
    u64::from_le_bytes(buffer)
}

/// The hash of a token's normalised UTF-8 bytes.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut state = TOKEN_SEED;
    let mut at = 0;
    while at < bytes.len() {
        let len = (bytes.len() - at).min(8);
        state = hash_chunk(state, load(bytes, at, len));
        at += len;
    }
    hash_finish(state, bytes.len())
}

/// [`hash_bytes`] of the lowercase of `text[start..end]`, which holds only ASCII letters and digits:
/// for those, setting bit 5 of every byte lowercases letters and leaves digits as they are.
#[inline]
fn hash_ascii_lowercase(text: &[u8], start: usize, end: usize) -> u64 {
    let mut state = TOKEN_SEED;
    let mut at = start;
    while at < end {
        let len = (end - at).min(8);
        let case_bits = 0x2020_2020_2020_2020u64 & BYTE_MASKS[len];
        state = hash_chunk(state, load(text, at, len) | case_bits);
        at += len;
    }
    hash_finish(state, end - start)
}

/// What a token is, as far as the fingerprints care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A function word ("the", "of", "und", …): spinners leave these alone.
    Stopword,
    /// Contains a digit ("1987", "q3", "b52"): spinners leave numbers alone too.
    Number,
    /// Any other word: what spinners replace.
    Word,
    /// A character bigram of a script without spaces.
    Bigram,
}

/// One token of a text, as the features are built from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// [`hash_bytes`] of the token's normalised UTF-8 bytes.
    pub hash: u64,
    /// What kind of token it is: decides its place in the skeleton.
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
    if text.is_ascii() {
        tokenize_ascii(text.as_bytes(), out);
        return;
    }
    tokenize_chars(text, out);
}

/// The general path: any Unicode text.
fn tokenize_chars(text: &str, out: &mut Vec<Token>) {
    let mut word = WordBuffer::default();
    let mut previous_unspaced: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && !word.text.is_empty() && chars.peek().is_some_and(|next| next.is_alphanumeric()) {
            continue;
        }
        if c.is_alphanumeric() {
            if is_unspaced_script(c) {
                word.end_run(out);
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
    word.end_run(out);
}

/// The fast path for ASCII text (most English news). A first, branch-free pass turns the text into
/// bitmasks (one bit per byte: part of a word, a digit, an apostrophe); the second walks the words
/// with bit scans and hashes each eight bytes at a time: branching per byte mispredicts at every word
/// boundary. Produces exactly what the general path would.
fn tokenize_ascii(bytes: &[u8], out: &mut Vec<Token>) {
    let blocks = bytes.len().div_ceil(64);
    let mut word_bits = vec![0u64; blocks];
    let mut digit_bits = vec![0u64; blocks];
    let mut apostrophe_bits = vec![0u64; blocks];
    for (block, chunk) in bytes.chunks(64).enumerate() {
        let (mut word, mut digit, mut apostrophe) = (0u64, 0u64, 0u64);
        let mut lanes = chunk.chunks_exact(8);
        for (lane, eight) in (&mut lanes).enumerate() {
            let (w, d, a) = classify8(load(eight, 0, 8));
            word |= u64::from(w) << (lane * 8);
            digit |= u64::from(d) << (lane * 8);
            apostrophe |= u64::from(a) << (lane * 8);
        }
        let (rest, lane) = (lanes.remainder(), chunk.len() / 8);
        if !rest.is_empty() {
            let (w, d, a) = classify8(load(rest, 0, rest.len()));
            word |= u64::from(w) << (lane * 8);
            digit |= u64::from(d) << (lane * 8);
            apostrophe |= u64::from(a) << (lane * 8);
        }
        word_bits[block] = word;
        digit_bits[block] = digit;
        apostrophe_bits[block] = apostrophe;
    }
    // "england's" is one word, "englands": an apostrophe between two word bytes joins them
    if apostrophe_bits.iter().any(|&bits| bits != 0) {
        let letters = word_bits.clone();
        for block in 0..blocks {
            let before = (letters[block] << 1) | if block > 0 { letters[block - 1] >> 63 } else { 0 };
            let after = (letters[block] >> 1) | if block + 1 < blocks { letters[block + 1] << 63 } else { 0 };
            apostrophe_bits[block] &= before & after;
            word_bits[block] |= apostrophe_bits[block];
        }
    }
    // word starts (a word byte after a non-word byte) and ends (the first non-word byte after a word
    // byte), and the bytes that need the slow path: digits and joined apostrophes. The k-th end
    // belongs to the k-th start; a word running to the end of a text of whole blocks has no end bit.
    let mut start_bits = vec![0u64; blocks];
    let mut end_bits = vec![0u64; blocks];
    for block in 0..blocks {
        let word = word_bits[block];
        let shifted = (word << 1) | if block > 0 { word_bits[block - 1] >> 63 } else { 0 };
        start_bits[block] = word & !shifted;
        end_bits[block] = !word & shifted;
        digit_bits[block] |= apostrophe_bits[block];
    }
    let special_bits = digit_bits;
    let (mut starts, mut ends, mut specials) = (Bits::new(&start_bits), Bits::new(&end_bits), Bits::new(&special_bits));
    let mut next_special = specials.next().unwrap_or(usize::MAX);
    let mut word: Vec<u8> = Vec::new();
    let stopwords = Stopwords::get();
    out.reserve(bytes.len() / 4);
    while let Some(start) = starts.next() {
        let end = ends.next().unwrap_or(bytes.len());
        while next_special < start {
            next_special = specials.next().unwrap_or(usize::MAX);
        }
        let capitalized = bytes[start].is_ascii_uppercase();
        if next_special >= end {
            out.push(ascii_token(stopwords, hash_ascii_lowercase(bytes, start, end), capitalized, false));
            continue;
        }
        // rare: a digit or an apostrophe inside the word
        let has_digit = bytes[start..end].iter().any(u8::is_ascii_digit);
        let hash = if bytes[start..end].contains(&b'\'') {
            word.clear();
            word.extend(bytes[start..end].iter().filter(|&&b| b != b'\'').map(u8::to_ascii_lowercase));
            hash_bytes(&word)
        } else {
            hash_ascii_lowercase(bytes, start, end)
        };
        out.push(ascii_token(stopwords, hash, capitalized, has_digit));
    }
}

/// The positions of the set bits of a bitmap, ascending.
#[expect(clippy::struct_field_names, reason = "the bitmap's words are its bits")]
struct Bits<'a> {
    bits: &'a [u64],
    block: usize,
    current: u64,
}

impl<'a> Bits<'a> {
    fn new(bits: &'a [u64]) -> Self {
        Bits { bits, block: 0, current: bits.first().copied().unwrap_or(0) }
    }

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.current == 0 {
            self.block += 1;
            self.current = *self.bits.get(self.block)?;
        }
        let bit = self.current.trailing_zeros() as usize;
        self.current &= self.current - 1;
        Some(self.block * 64 + bit)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `bytes` (all ASCII, < 0x80) set when the byte is in `lo..=hi`. No carry
/// crosses a byte: every sum stays below 0x100.
#[inline]
fn bytes_in_range(bytes: u64, lo: u8, hi: u8) -> u64 {
    let at_least_lo = bytes + ONES * u64::from(0x80 - lo);
    let above_hi = bytes + ONES * u64::from(0x7F - hi);
    at_least_lo & !above_hi & HIGH_BITS
}

/// One bit per byte from the high bits of the eight bytes, byte 0 → bit 0.
#[inline]
fn gather_high_bits(high: u64) -> u8 {
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// Classifies eight ASCII bytes at once (SWAR): which are letters or digits, which are digits, which
/// are apostrophes; one bit per byte each.
#[inline]
fn classify8(bytes: u64) -> (u8, u8, u8) {
    let digits = bytes_in_range(bytes, b'0', b'9');
    // setting bit 5 maps A..Z onto a..z and nothing else into a..z
    let letters = bytes_in_range(bytes | (ONES * 0x20), b'a', b'z');
    let apostrophes = bytes_in_range(bytes, b'\'', b'\'');
    (gather_high_bits(digits | letters), gather_high_bits(digits), gather_high_bits(apostrophes))
}

#[inline]
fn ascii_token(stopwords: Stopwords, hash: u64, capitalized: bool, has_digit: bool) -> Token {
    let kind = if has_digit {
        TokenKind::Number
    } else if stopwords.contains(hash) {
        TokenKind::Stopword
    } else {
        TokenKind::Word
    };
    Token { hash, kind, capitalized }
}

fn bigram(first: char, second: char) -> Token {
    let mut bytes = [0u8; 8];
    let first_len = first.encode_utf8(&mut bytes).len();
    let second_len = second.encode_utf8(&mut bytes[first_len..]).len();
    Token { hash: hash_bytes(&bytes[..first_len + second_len]), kind: TokenKind::Bigram, capitalized: false }
}

/// Words of at most this many letters, all of them lookalikes, are folded between two Latin words
/// (see [`WordBuffer::flush`]).
const SHORT_LOOKALIKE_WORD: usize = 2;

/// The word being read: lowercased characters plus what is needed to fold homoglyphs on flush.
#[derive(Default)]
#[expect(clippy::struct_excessive_bools, reason = "independent facts about one word, set as it is read")]
struct WordBuffer {
    text: String,
    capitalized: bool,
    has_latin: bool,
    has_lookalike: bool,
    has_digit: bool,
    /// Characters that have no Latin lookalike (Latin letters and digits among them).
    not_lookalike: usize,
    /// The last word flushed was a Latin one.
    after_latin: bool,
    /// A short all-lookalike word after a Latin word, waiting for the next word to say whether it is
    /// folded (see [`WordBuffer::flush`]), and whether it was capitalised.
    pending: Option<(String, bool)>,
}

impl WordBuffer {
    fn push(&mut self, c: char) {
        if self.text.is_empty() {
            self.capitalized = c.is_uppercase();
            self.has_digit = false;
        }
        self.has_digit |= c.is_numeric();
        if c.is_ascii() {
            self.has_latin |= c.is_ascii_alphabetic();
            self.not_lookalike += 1;
            self.text.push(c.to_ascii_lowercase());
            return;
        }
        for lower in c.to_lowercase() {
            let lookalike = latin_lookalike(lower).is_some();
            self.has_lookalike |= lookalike;
            self.not_lookalike += usize::from(!lookalike);
            self.has_latin |= lower.is_alphabetic() && (lower as u32) < 0x250;
            self.text.push(lower);
        }
    }

    /// Ends the word. Homoglyphs are folded inside a word that also has Latin letters, and in a word of
    /// one or two letters that are all lookalikes between two Latin words: a copycat's Cyrillic "а"
    /// for the article "a" in "said а spokesman", which has no Latin letter of its own to give it
    /// away. Such a word waits for the next one before it is pushed. Longer all-lookalike words, and
    /// short ones with Cyrillic or Greek on either side, are left alone: "Москве" after "Reuters" and
    /// "в" in "Reuters: в Москве" are Russian.
    fn flush(&mut self, out: &mut Vec<Token>) {
        if self.text.is_empty() {
            return;
        }
        if self.has_lookalike && self.has_latin {
            self.text = folded(&self.text);
        }
        self.settle(out, self.has_latin);
        let short_lookalike = self.not_lookalike == 0 && self.text.chars().count() <= SHORT_LOOKALIKE_WORD;
        if short_lookalike && self.after_latin {
            self.pending = Some((std::mem::take(&mut self.text), self.capitalized));
        } else {
            push_token(out, &self.text, self.capitalized, self.has_digit);
            self.text.clear();
        }
        self.after_latin = self.has_latin;
        self.not_lookalike = 0;
        self.has_latin = false;
        self.has_lookalike = false;
    }

    /// Pushes the waiting short word, if any: folded when the word after it, which `next_is_latin`
    /// describes, is Latin.
    fn settle(&mut self, out: &mut Vec<Token>, next_is_latin: bool) {
        if let Some((text, capitalized)) = self.pending.take() {
            let text = if next_is_latin { folded(&text) } else { text };
            push_token(out, &text, capitalized, false);
        }
    }

    /// The run of words ends (a bigram script follows, or the text ends): a waiting word is left as
    /// it is, and the next word does not follow a Latin one.
    fn end_run(&mut self, out: &mut Vec<Token>) {
        self.flush(out);
        self.settle(out, false);
        self.after_latin = false;
    }
}

/// `text` with every lookalike replaced by the Latin letter it passes for.
fn folded(text: &str) -> String {
    text.chars().map(|c| latin_lookalike(c).unwrap_or(c)).collect()
}

/// Pushes the token of a word's normalised text.
fn push_token(out: &mut Vec<Token>, text: &str, capitalized: bool, has_digit: bool) {
    let hash = hash_bytes(text.as_bytes());
    let kind = if has_digit {
        TokenKind::Number
    } else if stopwords::contains(hash) {
        TokenKind::Stopword
    } else {
        TokenKind::Word
    };
    out.push(Token { hash, kind, capitalized });
}

/// The hash a token with this exact normalised text gets; for stopword tables and tests.
pub fn token_hash(text: &str) -> u64 {
    hash_bytes(text.as_bytes())
}

// -------------------------------------------------------------------------------------------------
// with offsets (explanations)

/// The ranges of `chars` (normalised text, as characters) that [`tokenize`] makes its tokens of, one
/// per token and in the same order: the general path's word boundaries, without hashing.
pub fn token_ranges(chars: &[char]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut word: Option<Range<usize>> = None;
    let mut previous_unspaced: Option<usize> = None;
    for (at, &c) in chars.iter().enumerate() {
        if c == '\'' && word.is_some() && chars.get(at + 1).is_some_and(|next| next.is_alphanumeric()) {
            continue;
        }
        if c.is_alphanumeric() {
            if is_unspaced_script(c) {
                out.extend(word.take());
                if let Some(previous) = previous_unspaced {
                    out.push(previous..at + 1);
                }
                previous_unspaced = Some(at);
                continue;
            }
            previous_unspaced = None;
            word = Some(word.map_or(at..at + 1, |w| w.start..at + 1));
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        previous_unspaced = None;
        out.extend(word.take());
    }
    out.extend(word);
    out
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
        use TokenKind::*;
        let tokens = toks("The Bank raised rates by 0.25 points");
        assert_eq!(hashes("England's Q3 don't"), vec![token_hash("englands"), token_hash("q3"), token_hash("dont")]);
        assert_eq!(toks("Q3")[0].kind, TokenKind::Number);
        assert_eq!(hashes("rock 'n' roll"), vec![token_hash("rock"), token_hash("n"), token_hash("roll")]);
        let kinds: Vec<TokenKind> = tokens.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, vec![Stopword, Word, Word, Word, Stopword, Number, Number, Word]);
        assert!(tokens[0].capitalized && tokens[1].capitalized && !tokens[2].capitalized);
        assert_eq!(tokens[1].hash, token_hash("bank"));
    }

    #[test]
    fn ascii_fast_path_agrees_with_the_general_path() {
        let ascii = "The Bank's 2024 report': rates rose 0.25pts; \"CEO\" Jane-Doe said so. x AVeryLongWordThatIsLongerThanTheInlineBufferOfTheAsciiPath";
        let mut fast = Vec::new();
        tokenize(ascii, &mut fast);
        // the same text with one non-ASCII character at the end takes the general path
        let mut general = Vec::new();
        tokenize(&format!("{ascii} \u{00e9}"), &mut general);
        general.pop();
        assert_eq!(fast, general);
    }

    #[test]
    fn swar_classification_matches_the_byte_definitions() {
        for byte in 0u8..0x80 {
            for lane in 0..8 {
                let (word, digit, apostrophe) = classify8(u64::from(byte) << (lane * 8));
                assert_eq!(word, u8::from(byte.is_ascii_alphanumeric()) << lane, "byte {byte:#x} lane {lane}");
                assert_eq!(digit, u8::from(byte.is_ascii_digit()) << lane, "byte {byte:#x} lane {lane}");
                assert_eq!(apostrophe, u8::from(byte == b'\'') << lane, "byte {byte:#x} lane {lane}");
            }
        }
        let (word, _, _) = classify8(u64::from_le_bytes(*b"ab1 'Z9."));
        assert_eq!(word, 0b0110_0111);
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_the_general_path_on_any_ascii(text in "[a-zA-Z0-9' .,\n-]{0,300}") {
            let (mut fast, mut general) = (Vec::new(), Vec::new());
            tokenize_ascii(text.as_bytes(), &mut fast);
            tokenize_chars(&text, &mut general);
            proptest::prop_assert_eq!(fast, general);
        }
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
        use TokenKind::*;
        let tokens = toks("苹果公司iPhone销量");
        let kinds: Vec<TokenKind> = tokens.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, vec![Bigram, Bigram, Bigram, Word, Bigram]);
        assert_eq!(tokens[3].hash, token_hash("iphone"));
    }

    #[test]
    fn homoglyphs_inside_latin_words_are_folded() {
        // Cyrillic а, е, о, р, с inside English words
        assert_eq!(hashes("Ukrаinе's рrеsident sаid"), hashes("Ukraine's president said"));
        // a one-letter Cyrillic "а" (and a two-letter "оf") after an English word is the article
        assert_eq!(
            hashes("the minister sаid а spokesman оf the bank"),
            hashes("the minister said a spokesman of the bank")
        );
        assert_eq!(hashes("sаid, а \u{200B}spokesman"), hashes("said a spokesman"));
        // ... but not at either end of a text, next to Russian words, or when longer
        assert_eq!(hashes("а spokesman")[0], token_hash("а"));
        assert_eq!(hashes("said а")[1], token_hash("а"));
        assert_eq!(hashes("сообщила о росте"), vec![token_hash("сообщила"), token_hash("о"), token_hash("росте")]);
        assert_eq!(hashes("Reuters: в Москве")[1..], [token_hash("в"), token_hash("москве")]);
        assert_eq!(hashes("Reuters сор Apple")[1], token_hash("сор"));
        // a bigram script ends the wait: the word before it is not folded
        assert_eq!(hashes("said а 北京")[1], token_hash("а"));
    }

    #[test]
    fn invisible_characters_do_not_split_words() {
        assert_eq!(hashes("pre\u{200B}sident re\u{00AD}port"), hashes("president report"));
        let mut raw = Vec::new();
        tokenize("pre\u{200B}sident", &mut raw);
        assert_eq!(raw.len(), 1);
    }
}
