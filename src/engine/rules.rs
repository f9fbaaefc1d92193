//! The match rule: when two fingerprints are the same story.
//!
//! A whole-text simhash cannot decide it: a spinner moves a copy as far from its original as
//! unrelated articles are from each other. So articles are compared by their sketches
//! ([`compare`]): word-shingle containment is precise but a heavy spinner destroys it, skeleton
//! containment survives spinning but is low-entropy. A match needs high containment on word
//! shingles, or high containment on the skeleton *and* some on word shingles ([`MatchRule::matches`]);
//! short texts are held to stricter thresholds, since their samples are small and their skeletons
//! generic. Two articles of one source must also resemble each other
//! ([`MatchRule::matches_within_source`]), and two short texts of different sources may also match on
//! their distinctive word shingles ([`MatchRule::matches_on_distinctive`]). [`may_match`] rules out
//! most candidates before any of that.
//!
//! Pure functions of two fingerprints and what to leave out of them; the engine supplies the
//! boilerplate ([`super::boilerplate`]) and template values ([`super::templates`]) and applies the
//! rules (the engine's `decide.rs`).

use crate::domain::MatchReason;
use crate::fingerprint::Fingerprint;
use crate::fingerprint::features::FeatureKind;
use crate::fingerprint::sketch::Overlap;

/// How two fingerprints compare: the containment of each sketch, boilerplate left out.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Comparison {
    /// Word shingles shared.
    pub words: Overlap,
    /// Skeleton shingles shared.
    pub skeleton: Overlap,
    /// Sampled numbers shared, for the numbers veto (nothing left out).
    pub numbers: Overlap,
    /// The fewer tokens of the two texts.
    pub tokens: u32,
}

impl Comparison {
    /// The similarity reported to clients: the larger of the two containments, in 0..1.
    pub fn similarity(&self) -> f64 {
        self.words.containment().max(self.skeleton.containment())
    }
}

/// Compares two fingerprints, ignoring values `boilerplate` says are boilerplate. Symmetric.
pub fn compare(a: &Fingerprint, b: &Fingerprint, boilerplate: impl Fn(FeatureKind, u32) -> bool) -> Comparison {
    Comparison {
        words: a.words.overlap(&b.words, |v| boilerplate(FeatureKind::Words, v)),
        skeleton: a.skeleton.overlap(&b.skeleton, |v| boilerplate(FeatureKind::Skeleton, v)),
        numbers: a.numbers.overlap(&b.numbers, |_| false),
        tokens: a.tokens.min(b.tokens),
    }
}

/// Whether a pair can match at all, cheaply: the numbers veto and the shared-value minimums of
/// [`MatchRule::matches`] and [`MatchRule::matches_on_distinctive`] checked with boilerplate left in,
/// which can only overcount shared values. `false` means [`compare`] followed by either rule is
/// `false` for any boilerplate and template values; most candidates (they share as little as one band
/// key) stop here, before any boilerplate lookup.
pub fn may_match(a: &Fingerprint, b: &Fingerprint, rule: &MatchRule) -> bool {
    if rule.vetoed_by_numbers(&a.numbers.overlap(&b.numbers, |_| false)) {
        return false;
    }
    // the distinctive rule's minimum is the highest of the three by default; taken in all the same, so
    // that a rule built with a lower one stays sound
    let words_needed = rule.min_shared.min(rule.short_min_shared).min(rule.distinctive_min_shared);
    a.words.shared_upper_bound(&b.words) >= words_needed
        || a.skeleton.shared_upper_bound(&b.skeleton) >= rule.min_shared
}

/// When two articles are the same story. The thresholds are configurable (`dedupd serve` and
/// `dedupd eval` flags); the defaults were tuned on labelled sets of spun and excerpted copies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchRule {
    /// Word-shingle containment that alone makes a match.
    pub words: f64,
    /// Skeleton containment that makes a match together with [`MatchRule::words_floor`].
    pub skeleton: f64,
    /// Word-shingle containment a skeleton match needs too: structure alone is not a copy.
    pub words_floor: f64,
    /// Shared sampled values needed on the sketch that decides: guards against tiny samples.
    pub min_shared: usize,
    /// Texts with fewer tokens than this are short: their samples are small and their structure
    /// (skeleton) is shared by any two briefs of the same template, so they match on word shingles
    /// ([`MatchRule::short_words`]), or on a skeleton that is nearly all shared together with a good
    /// part of the word shingles; never on structure alone.
    pub short_tokens: u32,
    /// Word-shingle containment that alone makes a short text match.
    pub short_words: f64,
    /// A short text also matches when its skeleton is nearly all shared ([`MatchRule::short_skeleton`])
    /// and so is a good part of its word shingles ([`MatchRule::short_words_floor`]): a spun excerpt of
    /// a brief. Both are stricter than the long-text skeleton rule.
    pub short_skeleton: f64,
    /// Word-shingle containment a short text's skeleton match needs too.
    pub short_words_floor: f64,
    /// Shared sampled values a short text's match needs ([`MatchRule::min_shared`] for short texts).
    pub short_min_shared: usize,
    /// Numbers veto: when both texts have at least [`MatchRule::numbers_min`] sampled numbers, fewer
    /// than this share of the smaller set in the other means different facts (templated wire items:
    /// the same earnings or bond-issue template with other figures). Spinners leave numbers alone, and
    /// containment tolerates the numbers a header adds (dates) or an excerpt drops.
    pub numbers: f64,
    /// Sampled numbers both texts need for the numbers veto to apply.
    pub numbers_min: usize,
    /// Two articles of one source must also *resemble* each other this much (word shingles,
    /// [`Overlap::resemblance`]: an estimate of their Jaccard similarity), unless one is nearly all
    /// inside the other ([`MatchRule::same_source_containment`]). A publisher's own brief and its
    /// update, or its templated reports (rate changes, bond issues, a central bank's daily
    /// operations), contain much of each other's text without being copies of each other; its
    /// re-sends and corrections resemble their first version closely, and an aggregator's excerpt of
    /// a story lies wholly inside its full copy of it. Copies on other sources are not held to it.
    /// 0 turns it off. Applied by [`MatchRule::matches_within_source`] to the pairs that
    /// [`super::sources::same_source`] says are of one source.
    pub same_source_resemblance: f64,
    /// The word containment at which two articles of one source match whatever their resemblance.
    pub same_source_containment: f64,
    /// Distinctive rule: two short texts of different sources also match when this share of the
    /// smaller one's *distinctive* word-shingle values is in the other, with at least
    /// [`MatchRule::distinctive_min_shared`] of them shared. Distinctive values are those that are
    /// neither boilerplate nor template text (held by the new article's candidates of two or more
    /// clusters; the engine finds them). For a teaser, a wire item cut down to a sentence or two and
    /// wrapped in as many words of an aggregator's header, footer and related-headline list: the
    /// aggregator's changing text (dates, other stories' titles) keeps its containment under
    /// [`MatchRule::words`], which cannot be lowered for everyone because templated wire items share
    /// whole sentences. 0 turns it off. See [`MatchRule::matches_on_distinctive`].
    pub distinctive_words: f64,
    /// The distinctive rule applies when the shorter text has fewer tokens than this: a long text's
    /// excerpt outweighs any header and footer, and long related stories share many distinctive
    /// phrases (names, quotes).
    pub distinctive_tokens: u32,
    /// Shared distinctive values the distinctive rule needs: more than the other rules ask, since it
    /// accepts a lower containment.
    pub distinctive_min_shared: usize,
}

impl Default for MatchRule {
    fn default() -> Self {
        MatchRule {
            words: 0.55,
            skeleton: 0.55,
            words_floor: 0.15,
            min_shared: 4,
            short_tokens: 50,
            short_words: 0.7,
            short_skeleton: 0.70,
            short_words_floor: 0.40,
            short_min_shared: 3,
            numbers: 0.34,
            numbers_min: 6,
            same_source_resemblance: 0.5,
            same_source_containment: 0.9,
            distinctive_words: 0.4,
            distinctive_tokens: 100,
            distinctive_min_shared: 6,
        }
    }
}

impl MatchRule {
    /// Whether a comparison is a verified match.
    pub fn matches(&self, c: &Comparison) -> bool {
        self.reason(c).is_some()
    }

    /// The rule that makes a comparison a verified match, if any (word shingles are asked first).
    pub fn reason(&self, c: &Comparison) -> Option<MatchReason> {
        let (words, skeleton) = (c.words.containment(), c.skeleton.containment());
        if self.vetoed_by_numbers(&c.numbers) {
            return None;
        }
        if c.tokens < self.short_tokens {
            if words >= self.short_words && c.words.shared >= self.short_min_shared {
                return Some(MatchReason::ShortWords);
            }
            let on_skeleton = skeleton >= self.short_skeleton
                && c.skeleton.shared >= self.min_shared
                && words >= self.short_words_floor
                && c.words.shared >= self.short_min_shared;
            return on_skeleton.then_some(MatchReason::ShortSkeleton);
        }
        if words >= self.words && c.words.shared >= self.min_shared {
            return Some(MatchReason::Words);
        }
        let on_skeleton =
            skeleton >= self.skeleton && c.skeleton.shared >= self.min_shared && words >= self.words_floor;
        on_skeleton.then_some(MatchReason::Skeleton)
    }

    /// The numbers veto ([`MatchRule::numbers`]): both texts have enough sampled numbers, and too few
    /// of the smaller set are in the other.
    pub fn vetoed_by_numbers(&self, numbers: &Overlap) -> bool {
        numbers.smaller >= self.numbers_min && numbers.containment() < self.numbers
    }

    /// Whether the distinctive rule can apply to a comparison at all (it is on, the texts are short
    /// enough, the numbers do not veto): the engine looks for template values only then.
    pub fn distinctive_applies(&self, c: &Comparison) -> bool {
        self.distinctive_words > 0.0 && c.tokens < self.distinctive_tokens && !self.vetoed_by_numbers(&c.numbers)
    }

    /// Whether a comparison of two articles of *different* sources matches on distinctive values
    /// ([`MatchRule::distinctive_words`]): `distinctive` is their word overlap with boilerplate and
    /// template values left out. The engine asks only for pairs [`MatchRule::matches`] rejected, and
    /// never for two articles of one source, whose templated reports are what the rule must not join
    /// (two articles without a source are of different sources here, as for the same-source rule).
    pub fn matches_on_distinctive(&self, c: &Comparison, distinctive: &Overlap) -> bool {
        self.distinctive_applies(c)
            && distinctive.shared >= self.distinctive_min_shared
            && distinctive.containment() >= self.distinctive_words
    }

    /// Whether a comparison of two articles of one source is a verified match: [`MatchRule::matches`],
    /// and the [`MatchRule::same_source_resemblance`] or [`MatchRule::same_source_containment`].
    pub fn matches_within_source(&self, c: &Comparison) -> bool {
        self.reason_within_source(c).is_some()
    }

    /// [`MatchRule::reason`] for two articles of one source: `None` unless
    /// [`MatchRule::matches_within_source`].
    pub fn reason_within_source(&self, c: &Comparison) -> Option<MatchReason> {
        self.reason(c).filter(|_| {
            c.words.resemblance() >= self.same_source_resemblance
                || c.words.containment() >= self.same_source_containment
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fingerprint::fingerprint;
    use crate::synthetic::Synthetic;

    /// The words of a synthetic story (250 to 410 of them).
    fn story(seed: u64) -> Vec<String> {
        Synthetic::new(seed).story_text(0).split(' ').map(str::to_string).collect()
    }

    /// The first `cut` words of story `a` followed by story `b`: some such pairs match, some do not.
    fn prefix_then(a: &[String], cut: usize, b: &[String]) -> String {
        a.iter().take(cut).chain(b).cloned().collect::<Vec<_>>().join(" ")
    }

    proptest! {
        #[test]
        fn may_match_never_rejects_a_match(a in any::<u64>(), b in any::<u64>(), cut in 0usize..400, modulus in 2u32..9) {
            // boilerplate is an arbitrary value subset
            let (a, b) = (story(a), story(b));
            let (fa, fb) = (fingerprint(&a.join(" ")), fingerprint(&prefix_then(&a, cut, &b)));
            let filtered = compare(&fa, &fb, |_, v| v % modulus == 0);
            // template values: another arbitrary subset, left out on top of the boilerplate
            let distinctive = fa.words.overlap(&fb.words, |v| v % modulus == 0 || v % (modulus + 1) == 1);
            let rule = MatchRule::default();
            let matched = rule.matches(&filtered)
                || rule.matches(&compare(&fa, &fb, |_, _| false))
                || rule.matches_on_distinctive(&filtered, &distinctive);
            prop_assert!(!matched || may_match(&fa, &fb, &rule));
        }

        #[test]
        fn comparison_and_match_are_symmetric(a in any::<u64>(), b in any::<u64>(), cut in 0usize..400) {
            let (a, b) = (story(a), story(b));
            let (fa, fb) = (fingerprint(&a.join(" ")), fingerprint(&prefix_then(&a, cut, &b)));
            let (ab, ba) = (compare(&fa, &fb, |_, _| false), compare(&fb, &fa, |_, _| false));
            prop_assert_eq!(ab, ba);
            prop_assert_eq!(MatchRule::default().matches(&ab), MatchRule::default().matches(&ba));
        }
    }
}
