//! Explanations: why the engine judges two articles copies or not, in terms a moderation page can
//! show beside the two texts.
//!
//! The verdict is the engine's own (`Engine::judge` in `decide.rs`, the verification an ingest
//! runs): the rule that decided, its thresholds, the containments it compared. Around it, the texts
//! as the fingerprint reads them ([`reading`]): the passages the two share and the spans where they differ (a diff of
//! their token sequences, [`align`]), and what was set aside (quotations left out of word shingles,
//! the sources' learned boilerplate, markup). Offsets point into each text as it was sent.
//!
//! `Explain` by ids needs the articles' texts, which the store keeps only with `--keep-text`
//! ([`compress`] and [`decompress`] are its format).

use std::ops::Range;
use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp};

use crate::domain::{Article, MatchReason, StoredArticle};
use crate::error::{Error, Result};
use crate::fingerprint::features::FeatureKind;
use crate::fingerprint::reading::{self, Reading};
use crate::fingerprint::simhash::hamming;

use super::rules::{Comparison, MatchRule};
use super::{Engine, INLINE_FINGERPRINT_BYTES, sources, templates, validate};

/// zstd level of kept text: fast to write on the ingest path, and most of what higher levels save
/// on news text.
const ZSTD_LEVEL: i32 = 3;

/// The longest an alignment may search for a shortest diff before it settles for a longer one.
const ALIGN_DEADLINE: Duration = Duration::from_secs(2);

/// A stretch of one text, in Unicode scalar values and in bytes of the text as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First character.
    pub start: usize,
    /// One past the last character.
    pub end: usize,
    /// First byte (UTF-8).
    pub start_byte: usize,
    /// One past the last byte.
    pub end_byte: usize,
}

/// A passage both texts have, token for token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedPassage {
    /// Where it is in text a.
    pub a: Span,
    /// Where it is in text b.
    pub b: Span,
    /// Its length in tokens.
    pub tokens: usize,
}

/// Where the texts differ: what a has there, and what b has instead. One side is empty (start = end,
/// where the other's text would go) when only one text has something there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Difference {
    /// a's span.
    pub a: Span,
    /// b's span.
    pub b: Span,
}

/// Why a span of a text did not count as it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SetAsideKind {
    /// A quotation, left out of word shingles (independent reports quote the same words).
    Quotation,
    /// Word shingles learned as boilerplate of either article's source, left out of the comparison.
    Boilerplate,
    /// Markup: tags, comments, scripts and styles, which are not text a reader sees.
    Markup,
}

/// A span of a text that was set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetAside {
    /// Why.
    pub kind: SetAsideKind,
    /// Where.
    pub span: Span,
}

/// One side of an explanation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExplainedText {
    /// The article's id.
    pub id: String,
    /// Its source.
    pub source: String,
    /// Tokens the fingerprint read.
    pub tokens: usize,
    /// What was set aside, in order of position.
    pub set_aside: Vec<SetAside>,
    /// The text the offsets point into, when the caller did not send it (`Explain` by ids).
    pub text: Option<String>,
}

/// One condition of a rule: a measure of the pair against what the rule needs of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The rule it belongs to: a [`MatchReason::name`], `numbers` (the numbers veto) or
    /// `same_source`.
    pub rule: &'static str,
    /// What is measured: `words`, `skeleton` (containments), `words_shared`, `skeleton_shared`
    /// (sampled values shared), `resemblance`, `numbers`, `distinctive_words`,
    /// `distinctive_shared`.
    pub measure: &'static str,
    /// The pair's value.
    pub value: f64,
    /// The least the rule needs.
    pub required: f64,
    /// `value >= required`.
    pub met: bool,
}

/// The engine's verdict on a pair of articles, with the evidence.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::struct_excessive_bools, reason = "independent facts about the pair, each a field of the answer")]
pub struct Explanation {
    /// The engine verifies the pair: one is a copy of the other (or both of one original).
    pub copy: bool,
    /// The rule that verified it.
    pub reason: Option<MatchReason>,
    /// The conditions of every rule that applied to the pair, the deciding one's among them.
    pub thresholds: Vec<Threshold>,
    /// As a match's similarity: the larger containment.
    pub similarity: f64,
    /// Word-shingle containment, boilerplate left out.
    pub words: f64,
    /// Skeleton-shingle containment, boilerplate left out.
    pub skeleton: f64,
    /// Word-shingle resemblance (estimated Jaccard), boilerplate left out.
    pub resemblance: f64,
    /// Hamming distance between the simhashes (decides nothing).
    pub hamming_distance: u32,
    /// The two are of one source, which holds them to the same-source rule.
    pub same_source: bool,
    /// The shorter has fewer tokens than the short-text threshold, which holds it to the short rules.
    pub short_text: bool,
    /// Both fingerprints are of one version; articles of different versions are never compared.
    pub comparable: bool,
    /// Passages both texts have, in order.
    pub shared: Vec<SharedPassage>,
    /// Where they differ, in order.
    pub differences: Vec<Difference>,
    /// Text a.
    pub a: ExplainedText,
    /// Text b.
    pub b: ExplainedText,
}

/// Kept text as the stores hold it: zstd.
pub fn compress(body: &str) -> Vec<u8> {
    // compressing into memory cannot fail but for allocation; keep the text as is rather than
    // lose it (a zstd frame never starts with what a text does, see `decompress`)
    thread_local! {
        // a compression context costs more to set up than compressing an article does
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            std::cell::RefCell::new(zstd::bulk::Compressor::new(ZSTD_LEVEL).ok());
    }
    COMPRESSOR
        .with_borrow_mut(|compressor| compressor.as_mut().and_then(|c| c.compress(body.as_bytes()).ok()))
        .unwrap_or_else(|| body.as_bytes().to_vec())
}

/// A kept text back, refusing more than `limit` bytes.
pub fn decompress(kept: &[u8], limit: usize) -> Result<String> {
    const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
    let bytes = if kept.starts_with(&ZSTD_MAGIC) {
        zstd::bulk::decompress(kept, limit).map_err(|e| Error::Internal(format!("kept text is corrupt: {e}")))?
    } else {
        kept.to_vec()
    };
    String::from_utf8(bytes).map_err(|e| Error::Internal(format!("kept text is not utf-8: {e}")))
}

/// Which side of a pair a field is on: `ExplainText` names its fields `a.*` and `b.*`.
#[derive(Clone, Copy)]
enum Side {
    A,
    B,
}

impl Side {
    /// `field` of an article (as validation names it, `article.body`) on this side (`a.body`).
    fn field(self, field: &'static str) -> &'static str {
        const FIELDS: [(&str, &str, &str); 6] = [
            ("article.id", "a.id", "b.id"),
            ("article.url", "a.url", "b.url"),
            ("article.source", "a.source", "b.source"),
            ("article.title", "a.title", "b.title"),
            ("article.body", "a.body", "b.body"),
            ("article.published_at", "a.published_at", "b.published_at"),
        ];
        FIELDS.iter().find(|(name, _, _)| *name == field).map_or(field, |&(_, a, b)| match self {
            Side::A => a,
            Side::B => b,
        })
    }

    fn rename(self, error: Error) -> Error {
        match error {
            Error::InvalidArgument { field, reason } => Error::InvalidArgument { field: self.field(field), reason },
            other => other,
        }
    }
}

impl Engine {
    /// The explanation of two texts, neither of them stored: the verification an ingest of `b` makes
    /// on finding `a` among its candidates (with the template values of `b`'s candidates in the
    /// store now, and the boilerplate model as it is), with the texts' shared passages, differences
    /// and what was set aside.
    pub async fn explain_text(&self, a: Article, b: Article) -> Result<Explanation> {
        validate::article(&a, self.config.max_body_bytes).map_err(|e| Side::A.rename(e))?;
        validate::article(&b, self.config.max_body_bytes).map_err(|e| Side::B.rename(e))?;
        let (a_body, b_body) = (a.body.clone(), b.body.clone());
        let a = self.prepare(a).await.map_err(|e| Side::A.rename(e))?;
        let mut b = self.prepare(b).await.map_err(|e| Side::B.rename(e))?;
        b.band_keys = self.band_keys(&b);
        let lookup = self.lookup_others(&b).await?;
        let templates = templates::template_values(&b.fingerprint.words, &lookup.candidates, b.fingerprint.version);
        self.explain_pair(a, b, a_body, b_body, templates, false).await
    }

    /// The explanation of two stored articles from their kept text (see [`Engine::explain_text`]; `b`
    /// plays the article being ingested). `NOT_FOUND` for an unknown id; `FAILED_PRECONDITION` when
    /// either article's text was not kept (`--keep-text`).
    pub async fn explain(&self, a_id: &str, b_id: &str) -> Result<Explanation> {
        validate::id("a_id", a_id)?;
        validate::id("b_id", b_id)?;
        let (a, b) = futures::try_join!(self.stored(a_id), self.stored(b_id))?;
        let (a_text, b_text) = futures::try_join!(self.kept_text(a_id), self.kept_text(b_id))?;
        let lookup = self.lookup_others(&b).await?;
        let templates = templates::template_values(&b.fingerprint.words, &lookup.candidates, b.fingerprint.version);
        self.explain_pair(a, b, a_text, b_text, templates, true).await
    }

    /// A stored, assigned article, or `NOT_FOUND`.
    async fn stored(&self, id: &str) -> Result<StoredArticle> {
        let not_found = || Error::NotFound { what: "article", id: id.to_string() };
        let article = self.store.get(id).await?.ok_or_else(not_found)?;
        // inserted but not yet assigned: an ingest in flight
        article.cluster_id.is_some().then_some(article).ok_or_else(not_found)
    }

    /// The text kept for a stored article, or `FAILED_PRECONDITION` naming the option that keeps it.
    async fn kept_text(&self, id: &str) -> Result<String> {
        let Some(kept) = self.store.text(id).await? else {
            let now = if self.config.keep_text { "on now, but was off when it was ingested" } else { "off" };
            return Err(Error::FailedPrecondition(format!(
                "no text kept for article {id}: explaining stored articles needs --keep-text ({now}; re-ingest the article with it on, or use ExplainText)"
            )));
        };
        // bodies are validated against the limit at ingest; a limit lowered since must not hide them
        decompress(&kept, self.config.max_body_bytes.max(validate::DEFAULT_MAX_BODY_BYTES) * 4)
    }

    /// The explanation of `b` against `a`, whose texts are `a_text` and `b_text`; with `show_texts`,
    /// the texts go in the answer. Large texts are read and aligned on the blocking pool.
    async fn explain_pair(
        &self,
        a: StoredArticle,
        b: StoredArticle,
        a_text: String,
        b_text: String,
        templates: Vec<u32>,
        show_texts: bool,
    ) -> Result<Explanation> {
        let inline = a_text.len() + b_text.len() <= INLINE_FINGERPRINT_BYTES;
        let engine = self.clone();
        let work = move || engine.explanation(&a, &b, a_text, b_text, &templates, show_texts);
        if inline {
            return Ok(work());
        }
        tokio::task::spawn_blocking(work).await.map_err(|e| Error::Internal(format!("explanation task failed: {e}")))
    }

    fn explanation(
        &self,
        a: &StoredArticle,
        b: &StoredArticle,
        a_text: String,
        b_text: String,
        templates: &[u32],
        show_texts: bool,
    ) -> Explanation {
        let judgement = self.judge(a, b, templates);
        let comparison = judgement.comparison;
        let rule = &self.config.rule;
        let same_source = sources::same_source(&a.meta.source, &b.meta.source);
        let (a_reading, b_reading) = (reading::read(&a_text), reading::read(&b_text));
        let (a_offsets, b_offsets) = (Offsets::new(&a_text), Offsets::new(&b_text));
        let alignment = align(&a_reading, &b_reading);
        let span_a = |tokens: &Range<usize>| a_offsets.span(&token_bytes(&a_reading, tokens, a_text.len()));
        let span_b = |tokens: &Range<usize>| b_offsets.span(&token_bytes(&b_reading, tokens, b_text.len()));
        let shared = alignment
            .iter()
            .filter(|segment| segment.equal)
            .map(|s| SharedPassage { a: span_a(&s.a), b: span_b(&s.b), tokens: s.a.len() })
            .collect();
        let differences =
            alignment.iter().filter(|s| !s.equal).map(|s| Difference { a: span_a(&s.a), b: span_b(&s.b) }).collect();
        let boilerplate = |reading: &Reading| -> Vec<Range<usize>> {
            let shingles = reading.word_shingles();
            self.with_filter(&a.meta.source, &b.meta.source, |filter| {
                merged(
                    shingles
                        .iter()
                        .filter(|&&(_, _, value)| filter.contains(FeatureKind::Words, value))
                        .map(|&(first, last, _)| reading.spans[first].start..reading.spans[last].end),
                )
            })
        };
        let side = |article: &StoredArticle, reading: &Reading, offsets: &Offsets, text: String| {
            let mut set_aside: Vec<SetAside> = Vec::new();
            if reading.quotes_left_out {
                set_aside.extend(
                    reading
                        .quotations
                        .iter()
                        .map(|q| (SetAsideKind::Quotation, q))
                        .map(|(kind, bytes)| SetAside { kind, span: offsets.span(bytes) }),
                );
            }
            set_aside.extend(
                boilerplate(reading)
                    .iter()
                    .map(|bytes| SetAside { kind: SetAsideKind::Boilerplate, span: offsets.span(bytes) }),
            );
            set_aside.extend(
                reading.markup.iter().map(|bytes| SetAside { kind: SetAsideKind::Markup, span: offsets.span(bytes) }),
            );
            set_aside.sort_by_key(|s| (s.span.start, s.span.end, s.kind));
            ExplainedText {
                id: article.meta.id.clone(),
                source: article.meta.source.clone(),
                tokens: reading.tokens.len(),
                set_aside,
                text: show_texts.then_some(text),
            }
        };
        Explanation {
            copy: judgement.reason.is_some(),
            reason: judgement.reason,
            thresholds: thresholds(rule, &comparison, same_source, judgement.distinctive.as_ref()),
            similarity: comparison.similarity(),
            words: comparison.words.containment(),
            skeleton: comparison.skeleton.containment(),
            resemblance: comparison.words.resemblance(),
            hamming_distance: hamming(a.fingerprint.simhash, b.fingerprint.simhash),
            same_source,
            short_text: comparison.tokens < rule.short_tokens,
            comparable: a.fingerprint.version == b.fingerprint.version,
            shared,
            differences,
            a: side(a, &a_reading, &a_offsets, a_text),
            b: side(b, &b_reading, &b_offsets, b_text),
        }
    }
}

/// The conditions of the rules that apply to a comparison ([`MatchRule::reason`],
/// [`MatchRule::reason_within_source`], [`MatchRule::matches_on_distinctive`]), each with the pair's
/// value.
fn thresholds(
    rule: &MatchRule,
    c: &Comparison,
    same_source: bool,
    distinctive: Option<&crate::fingerprint::sketch::Overlap>,
) -> Vec<Threshold> {
    let threshold = |rule: &'static str, measure: &'static str, value: f64, required: f64| Threshold {
        rule,
        measure,
        value,
        required,
        met: value >= required,
    };
    let (words, skeleton) = (c.words.containment(), c.skeleton.containment());
    let (words_shared, skeleton_shared) = (c.words.shared as f64, c.skeleton.shared as f64);
    let mut out = Vec::new();
    if c.numbers.smaller >= rule.numbers_min {
        out.push(threshold("numbers", "numbers", c.numbers.containment(), rule.numbers));
    }
    if c.tokens < rule.short_tokens {
        let (name, min) = (MatchReason::ShortWords.name(), rule.short_min_shared as f64);
        out.extend([
            threshold(name, "words", words, rule.short_words),
            threshold(name, "words_shared", words_shared, min),
        ]);
        let name = MatchReason::ShortSkeleton.name();
        out.extend([
            threshold(name, "skeleton", skeleton, rule.short_skeleton),
            threshold(name, "skeleton_shared", skeleton_shared, rule.min_shared as f64),
            threshold(name, "words", words, rule.short_words_floor),
            threshold(name, "words_shared", words_shared, rule.short_min_shared as f64),
        ]);
    } else {
        let (name, min) = (MatchReason::Words.name(), rule.min_shared as f64);
        out.extend([threshold(name, "words", words, rule.words), threshold(name, "words_shared", words_shared, min)]);
        let name = MatchReason::Skeleton.name();
        out.extend([
            threshold(name, "skeleton", skeleton, rule.skeleton),
            threshold(name, "skeleton_shared", skeleton_shared, min),
            threshold(name, "words", words, rule.words_floor),
        ]);
    }
    if same_source {
        out.extend([
            threshold("same_source", "resemblance", c.words.resemblance(), rule.same_source_resemblance),
            threshold("same_source", "words", words, rule.same_source_containment),
        ]);
    }
    if let Some(distinctive) = distinctive {
        let name = MatchReason::Distinctive.name();
        out.extend([
            threshold(name, "distinctive_words", distinctive.containment(), rule.distinctive_words),
            threshold(name, "distinctive_shared", distinctive.shared as f64, rule.distinctive_min_shared as f64),
        ]);
    }
    out
}

/// A run of tokens of a against a run of b: equal (a shared passage) or not (a difference, one side
/// possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Whether the two runs are the same tokens.
    pub equal: bool,
    /// Token indexes of a.
    pub a: Range<usize>,
    /// Token indexes of b.
    pub b: Range<usize>,
}

/// The two readings' token sequences aligned: a diff of their tokens (the fingerprint's, so case,
/// punctuation and markup do not count), then cleaned up so that a few common words between two
/// changes do not split them: an equal run shorter than the changes on both sides of it joins them
/// (the semantic clean-up of diff-match-patch, strictly shorter so that a spinner's one-word swaps
/// either side of one kept word stay apart), which keeps swapped words side by side and lets
/// unrelated texts read as one difference rather than a scatter of shared "the"s.
pub fn align(a: &Reading, b: &Reading) -> Vec<Segment> {
    let (a_keys, b_keys): (Vec<u64>, Vec<u64>) =
        (a.tokens.iter().map(|t| t.hash).collect(), b.tokens.iter().map(|t| t.hash).collect());
    let deadline = Instant::now() + ALIGN_DEADLINE;
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &a_keys, &b_keys, Some(deadline));
    let mut out: Vec<Segment> = Vec::with_capacity(ops.len());
    for op in ops {
        let (a_range, b_range) = (op.old_range(), op.new_range());
        if let DiffOp::Equal { .. } = op {
            out.push(Segment { equal: true, a: a_range, b: b_range });
            continue;
        }
        // a change: joined to a change just before it, then to the changes around a short equal run
        let mut change = Segment { equal: false, a: a_range, b: b_range };
        if let Some(last) = out.last()
            && !last.equal
        {
            change = joined(last, &change);
            out.pop();
        }
        while let [.., before, equal] = out.as_slice()
            && !before.equal
            && equal.equal
            && equal.a.len() < before.a.len().max(before.b.len())
            && equal.a.len() < change.a.len().max(change.b.len())
        {
            change = joined(before, &change);
            out.truncate(out.len() - 2);
        }
        out.push(change);
    }
    out
}

/// One change from `first` to `last` (and whatever lies between them).
fn joined(first: &Segment, last: &Segment) -> Segment {
    Segment { equal: false, a: first.a.start..last.a.end, b: first.b.start..last.b.end }
}

/// The bytes of a run of tokens; an empty run is the point after the token before it.
fn token_bytes(reading: &Reading, tokens: &Range<usize>, text_len: usize) -> Range<usize> {
    if tokens.is_empty() {
        let at = match tokens.start {
            0 => reading.spans.first().map_or(0, |s| s.start),
            i => reading.spans.get(i - 1).map_or(text_len, |s| s.end),
        };
        return at..at;
    }
    reading.spans[tokens.start].start..reading.spans[tokens.end - 1].end
}

/// Ranges in order of their starts, overlapping or touching ones merged.
fn merged(ranges: impl Iterator<Item = Range<usize>>) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for range in ranges {
        match out.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => out.push(range),
        }
    }
    out
}

/// Byte offsets of a text to character (Unicode scalar value) offsets.
struct Offsets {
    /// The character offset of each byte that starts a character (and of the end); empty for ASCII
    /// text, whose offsets are the same.
    chars: Vec<u32>,
}

impl Offsets {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            return Offsets { chars: Vec::new() };
        }
        let mut chars = vec![0u32; text.len() + 1];
        let mut count = 0u32;
        for (at, _) in text.char_indices() {
            chars[at] = count;
            count += 1;
        }
        chars[text.len()] = count;
        Offsets { chars }
    }

    fn char_at(&self, byte: usize) -> usize {
        if self.chars.is_empty() {
            return byte;
        }
        self.chars.get(byte).map_or(0, |&c| c as usize)
    }

    fn span(&self, bytes: &Range<usize>) -> Span {
        Span {
            start: self.char_at(bytes.start),
            end: self.char_at(bytes.end),
            start_byte: bytes.start,
            end_byte: bytes.end,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::EngineConfig;
    use crate::store::memory::MemoryStore;
    use crate::synthetic::{Synthetic, spun};

    fn engine() -> Engine {
        Engine::new(Arc::new(MemoryStore::new()), EngineConfig { keep_text: true, ..EngineConfig::default() })
    }

    fn article(id: &str, source: &str, body: &str) -> Article {
        Article {
            id: id.into(),
            url: String::new(),
            source: source.into(),
            title: String::new(),
            body: body.into(),
            published_at: Some(1_000_000),
        }
    }

    /// The characters of `text` a span covers.
    fn chars(text: &str, start: usize, end: usize) -> String {
        text.chars().skip(start).take(end - start).collect()
    }

    /// The words of a stretch, as the fingerprint folds them, markup aside.
    fn words(stretch: &str) -> Vec<String> {
        let mut text = String::new();
        let mut in_tag = false;
        for c in stretch.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
    }

    /// Shared passages point at the same words in both texts, in characters and in bytes, also in
    /// text with accents, CJK and a curly apostrophe, and with markup in one of them.
    #[tokio::test]
    async fn shared_passages_point_at_the_same_words_in_both_texts() {
        let a = "Der Bürgermeister von München sagte am Dienstag, dass die neue Brücke über die Isar \
                 im Frühjahr eröffnet wird. 北京时间 also reported it\u{2019}s the largest project in \
                 decades, costing 412 million euros. Critics said the money was wasted.";
        let b = "<p>NEWS: der BÜRGERMEISTER von München sagte am Dienstag, dass die neue Brücke über die \
                 Isar im Frühjahr eröffnet wird.</p> 北京时间 also reported it's the largest project in \
                 decades, costing 412 million euros. Share this story with friends.";
        let explanation =
            engine().explain_text(article("a", "a.example", a), article("b", "b.example", b)).await.unwrap();
        assert!(!explanation.shared.is_empty());
        let mut shared_words = 0;
        for passage in &explanation.shared {
            let (in_a, in_b) = (chars(a, passage.a.start, passage.a.end), chars(b, passage.b.start, passage.b.end));
            assert_eq!(words(&in_a), words(&in_b), "{in_a:?} / {in_b:?}");
            assert_eq!(in_a, a[passage.a.start_byte..passage.a.end_byte], "bytes and characters agree");
            assert_eq!(in_b, b[passage.b.start_byte..passage.b.end_byte]);
            shared_words += passage.tokens;
        }
        assert!(shared_words >= 30, "most words are shared: {shared_words}");
        let first = &explanation.shared[0];
        assert!(chars(a, first.a.start, first.a.end).starts_with("Der Bürgermeister von München"));
        assert!(chars(b, first.b.start, first.b.end).starts_with("der BÜRGERMEISTER"));
        // what only one has is a difference with an empty side
        let news = explanation.differences.iter().find(|d| chars(b, d.b.start, d.b.end) == "NEWS").expect("the header");
        assert_eq!(news.a.start, news.a.end, "a has nothing there");
        let markup: Vec<String> = explanation
            .b
            .set_aside
            .iter()
            .filter(|s| s.kind == SetAsideKind::Markup)
            .map(|s| chars(b, s.span.start, s.span.end))
            .collect();
        assert_eq!(markup, ["<p>", "</p>"]);
    }

    /// A spun copy: the verdict is the skeleton or words rule, and each swapped word sits beside its
    /// replacement.
    #[tokio::test]
    async fn a_spun_copy_shows_the_swapped_words_side_by_side() {
        let original = Synthetic::new(4).story_text(0);
        let copy = spun(&original, 30, 9);
        let explanation = engine()
            .explain_text(article("a", "a.example", &original), article("b", "b.example", &copy))
            .await
            .unwrap();
        assert!(explanation.copy, "{explanation:?}");
        // each word's characters, in each text (the spinner keeps the word count and swaps in place)
        let positions = |text: &str| -> Vec<(usize, usize)> {
            let mut at = 0;
            let mut out = Vec::new();
            for word in text.split(' ') {
                let end = at + word.chars().count();
                out.push((at, end));
                at = end + 1;
            }
            out
        };
        let (a_at, b_at) = (positions(&original), positions(&copy));
        let (a_words, b_words): (Vec<&str>, Vec<&str>) = (original.split(' ').collect(), copy.split(' ').collect());
        let swaps: Vec<usize> = (0..a_words.len()).filter(|&i| a_words[i] != b_words[i]).collect();
        assert!(swaps.len() > 10, "the spinner swapped words");
        let beside = |i: usize| {
            explanation.differences.iter().any(|d| {
                d.a.start <= a_at[i].0 && a_at[i].1 <= d.a.end && d.b.start <= b_at[i].0 && b_at[i].1 <= d.b.end
            })
        };
        let shown = swaps.iter().filter(|&&i| beside(i)).count();
        assert!(shown * 10 >= swaps.len() * 9, "{shown} of {} swaps inside a difference", swaps.len());
        // side by side, not buried in long differences: few words per difference on either side
        let differing: usize =
            explanation.differences.iter().map(|d| chars(&original, d.a.start, d.a.end).split(' ').count()).sum();
        assert!(differing <= 2 * swaps.len(), "{differing} words differ for {} swaps", swaps.len());
        // the footer the spinner added is the last difference, where a ends
        let last = explanation.differences.last().expect("the footer");
        assert_eq!(last.a.end, original.chars().count() - 1, "a's last word, before its full stop");
        assert!(chars(&copy, last.b.start, last.b.end).ends_with("Share this story"));
        assert_eq!(last.b.end, copy.chars().count() - 1, "up to the footer's last word");
    }

    /// Quotations left out of word shingles and the sources' learned boilerplate are reported as set
    /// aside, where they are.
    #[tokio::test]
    async fn quotations_and_boilerplate_are_set_aside() {
        let engine = engine();
        let footer = "Subscribe to the Daily Harbour newsletter for more stories like this one every morning";
        for i in 0..4 {
            let body = format!("{} {footer}", Synthetic::new(20 + i).story_text(0));
            engine.ingest(article(&format!("h{i}"), "harbour.example", &body)).await.unwrap();
        }
        let quote = "\u{201C}We will not back down from this fight, whatever it costs,\u{201D}";
        let a = format!("{} The minister said {quote} on Monday. {footer}", Synthetic::new(30).story_text(0));
        let b = Synthetic::new(31).story_text(0);
        let explanation =
            engine.explain_text(article("a", "harbour.example", &a), article("b", "other.example", &b)).await.unwrap();
        let set_aside = |kind| -> Vec<String> {
            explanation
                .a
                .set_aside
                .iter()
                .filter(|s| s.kind == kind)
                .map(|s| chars(&a, s.span.start, s.span.end))
                .collect()
        };
        assert_eq!(set_aside(SetAsideKind::Quotation), [quote]);
        let boilerplate = set_aside(SetAsideKind::Boilerplate);
        assert!(!boilerplate.is_empty() && boilerplate.iter().all(|b| footer.contains(b.as_str())), "{boilerplate:?}");
        assert!(explanation.b.set_aside.is_empty(), "b has neither quotes nor boilerplate");
    }

    /// The verdict and its measures are the ones an ingest reports for the same pair.
    #[tokio::test]
    async fn the_verdict_is_the_ingests() {
        let original = Synthetic::new(5).story_text(0);
        let pairs = [
            (original.clone(), format!("Wire report. {original}"), Some(MatchReason::Words)),
            (original.clone(), spun(&original, 45, 3), None),
            (original.clone(), Synthetic::new(6).story_text(0), None),
        ];
        for (i, (a, b, expected)) in pairs.into_iter().enumerate() {
            let engine = engine();
            let (a, b) = (article(&format!("a{i}"), "a.example", &a), article(&format!("b{i}"), "b.example", &b));
            let explained = engine.explain_text(a.clone(), b.clone()).await.unwrap();
            engine.ingest(a).await.unwrap();
            let decision = engine.ingest(b).await.unwrap();
            let matched = decision.matches.first();
            assert_eq!(explained.reason, matched.map(|m| m.reason), "pair {i}");
            assert_eq!(explained.copy, decision.duplicate, "pair {i}");
            if let Some(expected) = expected {
                assert_eq!(explained.reason, Some(expected));
            }
            if let Some(matched) = matched {
                assert_eq!((explained.words, explained.skeleton), (matched.words, matched.skeleton));
                assert_eq!(explained.hamming_distance, matched.hamming_distance);
            }
            // a copy meets every threshold of its rule, and a non-copy none of its rules
            let rule_met = |name: &str| explained.thresholds.iter().filter(|t| t.rule == name).all(|t| t.met);
            match explained.reason {
                Some(reason) => assert!(rule_met(reason.name()), "pair {i}: {:?}", explained.thresholds),
                None => assert!(!rule_met("words") && !rule_met("skeleton"), "pair {i}: {:?}", explained.thresholds),
            }
            // by ids, from the kept texts: the same verdict
            let by_ids = engine.explain(&format!("a{i}"), &format!("b{i}")).await.unwrap();
            assert_eq!(
                (by_ids.copy, by_ids.reason, by_ids.shared.len()),
                (explained.copy, explained.reason, explained.shared.len())
            );
            assert!(by_ids.a.text.is_some() && explained.a.text.is_none());
        }
    }

    /// Without kept text, explaining stored articles is a failed precondition naming the option; an
    /// unknown id is not found.
    #[tokio::test]
    async fn explaining_stored_articles_needs_kept_text() {
        let engine = Engine::new(Arc::new(MemoryStore::new()), EngineConfig::default());
        let body = Synthetic::new(7).story_text(0);
        engine.ingest(article("a", "a.example", &body)).await.unwrap();
        engine.ingest(article("b", "b.example", &body)).await.unwrap();
        match engine.explain("a", "b").await {
            Err(Error::FailedPrecondition(message)) => assert!(message.contains("--keep-text"), "{message}"),
            other => panic!("expected a failed precondition, got {other:?}"),
        }
        assert!(matches!(engine.explain("a", "nobody").await, Err(Error::NotFound { .. })));
        assert!(matches!(engine.explain("", "b").await, Err(Error::InvalidArgument { field: "a_id", .. })));
    }

    #[test]
    fn kept_text_round_trips() {
        let text = "Café 北京 ".repeat(500);
        let kept = compress(&text);
        assert!(kept.len() < text.len() / 10, "compressed: {} of {} bytes", kept.len(), text.len());
        assert_eq!(decompress(&kept, text.len()).unwrap(), text);
        assert!(matches!(decompress(&kept, 10), Err(Error::Internal(_))), "a limit refuses more");
    }
}
