//! The fingerprint's reading of a text, with offsets: which tokens it reads, where each one lies in the
//! text as sent, and what it sets aside (markup, quotations).
//!
//! [`read`] runs the stages of [`super::Fingerprinter`] (html, normalize, quotes, tokenize) on
//! characters that remember the bytes of the original text they came from, so that an explanation can
//! point at words in the text a client sent. The tokens are the fingerprint's own (the same hashes and
//! kinds, from [`super::tokenize::tokenize`]), so their word shingles are the fingerprint's word
//! shingles. Like the rest of this module it decides nothing.

use std::ops::Range;

use super::features;
use super::sketch::compared;
use super::tokenize::{self, Token};
use super::{MIN_PROSE_TOKENS, html, normalize, quotes};

/// A character of a text being read, with the byte range of the text as sent that it was read from
/// (an entity, a character NFKC folded, or the tag a paragraph break stands in for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The character.
    pub c: char,
    /// First byte of its origin.
    pub start: u32,
    /// One past the last byte of its origin.
    pub end: u32,
}

impl Placed {
    /// A character read from bytes `start..end`.
    pub fn new(c: char, start: usize, end: usize) -> Self {
        Placed { c, start: start as u32, end: end as u32 }
    }
}

/// A text as the fingerprint reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reading {
    /// Every token, in order: what skeleton shingles and numbers are taken from.
    pub tokens: Vec<Token>,
    /// The bytes of the text each token was read from.
    pub spans: Vec<Range<usize>>,
    /// Whether each token is inside a quotation.
    pub quoted: Vec<bool>,
    /// Whether word shingles leave the quoted tokens out (the text has enough tokens outside
    /// quotations, [`MIN_PROSE_TOKENS`]).
    pub quotes_left_out: bool,
    /// The quotations (marks included), as byte ranges of the text.
    pub quotations: Vec<Range<usize>>,
    /// The markup dropped (tags, comments, scripts and styles), as byte ranges of the text.
    pub markup: Vec<Range<usize>>,
}

impl Reading {
    /// The indexes of the tokens word shingles are taken from, in order.
    pub fn prose(&self) -> Vec<usize> {
        (0..self.tokens.len()).filter(|&i| !(self.quotes_left_out && self.quoted[i])).collect()
    }

    /// The word shingles of the text with where they lie: for each, the indexes of the first and last
    /// prose token it covers and its value as comparisons see it ([`compared`]).
    pub fn word_shingles(&self) -> Vec<(usize, usize, u32)> {
        let prose = self.prose();
        let tokens: Vec<Token> = prose.iter().map(|&i| self.tokens[i]).collect();
        let (mut scratch, mut hashes) = (Vec::new(), Vec::new());
        features::word_shingles(&tokens, &mut scratch, &mut hashes);
        let width = features::WORD_SHINGLE.min(prose.len());
        hashes
            .iter()
            .enumerate()
            .map(|(at, &hash)| (prose[at], prose[at + width - 1], compared((hash >> 32) as u32)))
            .collect()
    }
}

/// Reads `body` as [`super::fingerprint`] does, keeping offsets.
pub fn read(body: &str) -> Reading {
    let mut markup = Vec::new();
    let visible = html::to_text_placed(body, &mut markup);
    let placed = normalize::normalize_placed(visible);
    let chars: Vec<char> = placed.iter().map(|p| p.c).collect();
    let text: String = chars.iter().collect();
    let mut tokens = Vec::new();
    tokenize::tokenize(&text, &mut tokens);
    let ranges = tokenize::token_ranges(&chars);
    debug_assert_eq!(tokens.len(), ranges.len(), "one range per token");
    let kept = tokens.len().min(ranges.len());
    tokens.truncate(kept);
    let quoted_chars = quotes::quoted_ranges(&chars);
    let quoted: Vec<bool> =
        ranges[..kept].iter().map(|r| quoted_chars.iter().any(|q| q.start <= r.start && r.end <= q.end)).collect();
    let prose_tokens = quoted.iter().filter(|&&q| !q).count();
    let origin = |r: &Range<usize>| placed[r.start].start as usize..placed[r.end - 1].end as usize;
    Reading {
        tokens,
        spans: ranges[..kept].iter().map(origin).collect(),
        quoted,
        quotes_left_out: !quoted_chars.is_empty() && prose_tokens >= MIN_PROSE_TOKENS,
        quotations: quoted_chars.iter().filter(|q| !q.is_empty()).map(origin).collect(),
        markup,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fingerprint::fingerprint;
    use crate::fingerprint::sketch::Sketch;

    /// The words sketch of a reading's word shingles: the fingerprint's, if the reading reads as the
    /// fingerprint does.
    fn words_sketch(reading: &Reading) -> Sketch {
        let prose: Vec<Token> = reading.prose().iter().map(|&i| reading.tokens[i]).collect();
        let (mut scratch, mut hashes, mut values) = (Vec::new(), Vec::new(), Vec::new());
        features::word_shingles(&prose, &mut scratch, &mut hashes);
        Sketch::from_features(&hashes, &mut values)
    }

    fn words_at(body: &str, reading: &Reading) -> Vec<String> {
        reading.spans.iter().map(|span| body[span.clone()].to_string()).collect()
    }

    #[test]
    fn spans_point_at_the_words_of_the_text_as_sent() {
        let body = "<p>The minister&nbsp;said it&#8217;s <b>over</b>.</p><script>var x;</script>Café «déjà» vu";
        let reading = read(body);
        assert_eq!(
            words_at(body, &reading),
            ["The", "minister", "said", "it&#8217;s", "over", "Café", "déjà", "vu"],
            "an entity inside a word belongs to it"
        );
        let markup: Vec<&str> = reading.markup.iter().map(|m| &body[m.clone()]).collect();
        assert_eq!(markup, ["<p>", "<b>", "</b>", "</p>", "<script>var x;</script>"]);
        assert_eq!(reading.quotations.iter().map(|q| &body[q.clone()]).collect::<Vec<_>>(), ["«déjà»"]);
        assert!(!reading.quotes_left_out, "too few tokens outside the quotation to leave it out");
    }

    #[test]
    fn long_texts_leave_their_quotations_out_of_word_shingles() {
        let prose = crate::synthetic::text(3, 60);
        let body = format!("{prose} The minister said \u{201C}we will not back down\u{201D} on Monday.");
        let reading = read(&body);
        assert!(reading.quotes_left_out);
        let quoted: Vec<&str> =
            reading.spans.iter().zip(&reading.quoted).filter(|(_, q)| **q).map(|(s, _)| &body[s.clone()]).collect();
        assert_eq!(quoted, ["we", "will", "not", "back", "down"]);
        assert_eq!(words_sketch(&reading), fingerprint(&body).words);
    }

    #[test]
    fn chinese_bigrams_span_two_characters() {
        let body = "北京时间 report";
        let reading = read(body);
        assert_eq!(words_at(body, &reading), ["北京", "京时", "时间", "report"]);
    }

    proptest! {
        /// Whatever the text, the reading's tokens are the fingerprint's, so its word shingles are
        /// the fingerprint's (texts that NFKC composes across starters aside, which this alphabet
        /// does not have).
        #[test]
        fn a_reading_has_the_fingerprints_word_shingles(
            words in prop::collection::vec(prop::sample::select(&[
                "the", "minister", "said", "\u{201C}we", "go\u{201D}", "<p>", "</p>", "&amp;", "it&#8217;s",
                "Café", "naïve", "déjà", "北京", "時間", "Ukrаinе's", "2024", "rock'n'roll", "\n", "\"", "«", "»",
                "<script>x</script>", "<!-- c -->", "<b>bold</b>", "e\u{301}t\u{e9}", "\u{200B}", "ﬁnance",
            ][..]), 0..120),
        ) {
            let body = words.join(" ");
            let reading = read(&body);
            let fp = fingerprint(&body);
            prop_assert_eq!(reading.tokens.len(), fp.tokens as usize);
            prop_assert_eq!(words_sketch(&reading), fp.words);
            for span in &reading.spans {
                prop_assert!(body.is_char_boundary(span.start) && body.is_char_boundary(span.end));
                prop_assert!(span.start < span.end);
            }
        }

        #[test]
        fn any_text_reads_without_panicking(body in any::<String>()) {
            let reading = read(&body);
            prop_assert_eq!(reading.tokens.len(), reading.spans.len());
            for span in reading.spans.iter().chain(&reading.markup).chain(&reading.quotations) {
                prop_assert!(span.start <= span.end && span.end <= body.len());
                prop_assert!(body.is_char_boundary(span.start) && body.is_char_boundary(span.end));
            }
        }
    }
}
