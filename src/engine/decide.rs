//! The decision for one article, from what its lookup saw: which candidates match, and which of
//! their clusters the article unites.
//!
//! - **verification** keeps the candidates that pass the [`MatchRule`] with the boilerplate of both
//!   sources left out; two articles of one source must also resemble each other, or one lie nearly
//!   all inside the other ([`MatchRule::matches_within_source`]): a wire service's update or templated
//!   report is not a copy of its earlier one. Two short articles of different sources may also match
//!   on their distinctive text, with the [`templates`] their candidates share left
//!   out ([`MatchRule::matches_on_distinctive`]): an aggregator's teaser of a wire item.
//! - **links**: the article joins the cluster of its best match. Another matched cluster is merged
//!   in only if its canonical verifies against the joined cluster's canonical (after the article
//!   joined; two canonicals of one source under the same-source rule, as for a direct match). That
//!   is what stops a round-up that quotes two briefs from gluing the briefs' clusters together, while
//!   an original that arrives after two dissimilar copies of itself (an excerpt and a spun copy) still
//!   brings them together: it becomes the canonical, and both copies verify against it.
//! - **held back**: a cluster whose canonical is another story of the article's own publisher, which
//!   the article would replace as canonical, is neither joined nor merged in (a racing ingest that
//!   links the two can still bring them together).
//!
//! What the links lead to is the store's [`Store::assign`](crate::store::Store::assign) for an ingest
//! and [`Decided::assignment`] for a check: both follow [`Assignment`]. An ingest learns boilerplate
//! from the article before it decides; a check, which learns nothing, decides with the model as it
//! would be after learning ([`Engine::decide_as_ingest`]), so that its answer is the ingest's.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::RwLockReadGuard;

use crate::domain::{Assignment, ClusterId, Match, MatchReason, StoredArticle};
use crate::fingerprint::Fingerprint;
use crate::fingerprint::features::FeatureKind;
use crate::fingerprint::simhash::hamming;
use crate::fingerprint::sketch::Overlap;
use crate::store::{ClusterHead, Lookup};

use super::boilerplate::{Boilerplate, Filter, Learned};
use super::rules::{self, Comparison, MatchRule};
use super::{Engine, MAX_MATCHES, sources, templates};

/// A verified candidate, before it is reported.
pub(super) struct Verified {
    pub article: StoredArticle,
    pub similarity: f64,
    /// The rule that verified it.
    pub reason: MatchReason,
    /// The containments the rule saw.
    pub comparison: Comparison,
}

/// How close two articles are, in the order verification ranks matches: similarity, then (among
/// equal similarities: containment saturates when one text lies wholly inside the other) the
/// resemblance of their words.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(super) struct Closeness {
    similarity: f64,
    resemblance: f64,
}

impl Closeness {
    fn of(comparison: &Comparison) -> Closeness {
        Closeness { similarity: comparison.similarity(), resemblance: comparison.words.resemblance() }
    }
}

/// What the engine decided for an article.
pub(super) struct Decided {
    /// The verified candidates, best first.
    pub matches: Vec<Verified>,
    /// Indexes into `matches` of the articles whose clusters the article's is united with, the best
    /// match first.
    links: Vec<usize>,
}

impl Decided {
    /// The linked articles, as the lookup saw them.
    pub fn linked(&self) -> impl Iterator<Item = &StoredArticle> {
        self.links.iter().map(|&index| &self.matches[index].article)
    }

    /// Keeps only the links to articles `keep` accepts (the best match first still).
    pub fn retain_links(&mut self, keep: impl Fn(&StoredArticle) -> bool) {
        let matches = &self.matches;
        self.links.retain(|&index| keep(&matches[index].article));
    }

    /// What assigning `record` with these links leads to in the clusters `lookup` saw: the answer of
    /// a check.
    pub fn assignment(&self, record: &StoredArticle, lookup: &Lookup) -> Assignment {
        Assignment::new(record, self.linked(), |cluster_id| {
            lookup.clusters.iter().find(|head| &head.cluster_id == cluster_id).map(|head| &head.canonical)
        })
    }

    /// The best verified match the article joined (the duplicate feed's evidence), if it joined any.
    pub fn best_link(&self) -> Option<&Verified> {
        self.links.first().map(|&index| &self.matches[index])
    }

    /// The reported form of the verified matches: best first, at most [`MAX_MATCHES`].
    pub fn report(&self, fingerprint: &Fingerprint) -> Vec<Match> {
        self.matches
            .iter()
            .take(MAX_MATCHES)
            .map(|m| Match {
                id: m.article.meta.id.clone(),
                similarity: m.similarity,
                hamming_distance: hamming(fingerprint.simhash, m.article.fingerprint.simhash),
                reason: m.reason,
                words: m.comparison.words.containment(),
                skeleton: m.comparison.skeleton.containment(),
            })
            .collect()
    }
}

impl Engine {
    /// Verifies an article's candidates and picks the clusters it unites, with the boilerplate model
    /// as it is: an ingest's decision (the model has learned from the article already) or a replay's.
    pub(super) fn decide(&self, record: &StoredArticle, lookup: &Lookup) -> Decided {
        Decider { engine: self, learning: None }.decide(record, lookup)
    }

    /// The decision an ingest of `record` would make, storing nothing: [`Engine::decide`] with the
    /// boilerplate model as it will be once it has learned from the article, which an ingest does
    /// before it decides.
    pub(super) fn decide_as_ingest(&self, record: &StoredArticle, lookup: &Lookup) -> Decided {
        let source = sources::boilerplate_key(&record.meta.source);
        let learning = Learning { source, record, learned: OnceCell::new() };
        Decider { engine: self, learning: Some(learning) }.decide(record, lookup)
    }

    /// How two articles compare, the boilerplate of both sources left out.
    pub(super) fn compare(&self, a: &StoredArticle, b: &StoredArticle) -> Comparison {
        Decider { engine: self, learning: None }.compare(a, b)
    }

    /// How close `a` and `b` are, when they verify as copies of each other (the rule, and between two
    /// articles of one source the same-source rule: the merge check of an ingest), else `None`.
    pub(super) fn verifies(&self, a: &StoredArticle, b: &StoredArticle) -> Option<Closeness> {
        let decider = Decider { engine: self, learning: None };
        let comparison = decider.compare(a, b);
        decider.matches(a, b, &comparison).then(|| Closeness::of(&comparison))
    }

    /// How close `a` and `b` are, whether or not they verify.
    pub(super) fn closeness(&self, a: &StoredArticle, b: &StoredArticle) -> Closeness {
        Closeness::of(&self.compare(a, b))
    }

    /// Runs `f` with the boilerplate filter of a comparison between articles of sources `a` and `b`,
    /// each spelling of a source under its one key.
    pub(super) fn with_filter<T>(&self, a: &str, b: &str, f: impl FnOnce(Filter<'_>) -> T) -> T {
        f(self.model().filter(&sources::boilerplate_key(a), &sources::boilerplate_key(b)))
    }

    /// The boilerplate model, for reading (a poisoned lock only means another thread panicked while
    /// holding it, and the model is still usable).
    fn model(&self) -> RwLockReadGuard<'_, Boilerplate> {
        self.boilerplate.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An article the model has not learned from yet, for deciding as if it had.
struct Learning<'r> {
    /// The article's source, as the model keys it.
    source: Cow<'r, str>,
    record: &'r StoredArticle,
    /// What learning it would add ([`Boilerplate::preview`]), found when a comparison with its
    /// source first needs it: most checks compare few candidates, or none.
    learned: OnceCell<Learned>,
}

/// One decision's view of the engine: its rule and boilerplate model, and for a check the article
/// the model is to have learned from.
struct Decider<'d> {
    engine: &'d Engine,
    learning: Option<Learning<'d>>,
}

impl Decider<'_> {
    /// Verifies an article's candidates and picks the clusters it unites.
    fn decide(&self, record: &StoredArticle, lookup: &Lookup) -> Decided {
        let matches = self.verify(record, lookup);
        let held_back = self.held_back(record, &lookup.clusters);
        let links = links(|a, b| self.pair(a, b), record, &matches, &lookup.clusters, &held_back);
        Decided { matches, links }
    }

    /// [`Engine::with_filter`], with what learning the article would add when `a` or `b` is its
    /// source.
    fn with_filter<T>(&self, a: &str, b: &str, f: impl FnOnce(Filter<'_>) -> T) -> T {
        let model = self.engine.model();
        let (a, b) = (sources::boilerplate_key(a), sources::boilerplate_key(b));
        let learning = self.learning.as_ref().filter(|learning| learning.source == a || learning.source == b);
        let Some(learning) = learning else {
            return f(model.filter(&a, &b));
        };
        let learned = learning.learned.get_or_init(|| model.preview(&learning.source, &learning.record.fingerprint));
        f(model.filter_after(&a, &b, learned))
    }

    /// The verified candidates, best first: by similarity, then resemblance, then id (so the order
    /// never depends on the store).
    fn verify(&self, record: &StoredArticle, lookup: &Lookup) -> Vec<Verified> {
        // found once per lookup, and only if some pair needs them
        let found = OnceCell::new();
        let templates = || {
            found
                .get_or_init(|| {
                    templates::template_values(
                        &record.fingerprint.words,
                        &lookup.candidates,
                        record.fingerprint.version,
                    )
                })
                .as_slice()
        };
        let mut verified: Vec<Verified> = lookup
            .candidates
            .iter()
            .filter(|candidate| candidate.article.fingerprint.version == record.fingerprint.version)
            .filter(|candidate| {
                rules::may_match(&record.fingerprint, &candidate.article.fingerprint, &self.engine.config.rule)
            })
            .filter_map(|candidate| {
                let (reason, comparison) = self.direct_pair(record, &candidate.article, &templates);
                reason.map(|reason| Verified {
                    article: candidate.article.clone(),
                    similarity: comparison.similarity(),
                    reason,
                    comparison,
                })
            })
            .collect();
        verified.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                // among candidates of equal similarity (an excerpt lies wholly inside both a story and
                // its update) the closer one is the better match
                .then_with(|| b.comparison.words.resemblance().total_cmp(&a.comparison.words.resemblance()))
                .then_with(|| a.article.meta.id.cmp(&b.article.meta.id))
        });
        verified
    }

    /// How two articles compare, the boilerplate of both sources left out.
    fn compare(&self, a: &StoredArticle, b: &StoredArticle) -> Comparison {
        self.with_filter(&a.meta.source, &b.meta.source, |filter| {
            rules::compare(&a.fingerprint, &b.fingerprint, |kind, value| filter.contains(kind, value))
        })
    }

    /// The word overlap of two articles with the boilerplate of both sources and the `templates` left
    /// out: what the distinctive rule compares ([`MatchRule::matches_on_distinctive`]).
    fn distinctive_overlap(&self, a: &StoredArticle, b: &StoredArticle, templates: &[u32]) -> Overlap {
        self.with_filter(&a.meta.source, &b.meta.source, |filter| {
            a.fingerprint.words.overlap(&b.fingerprint.words, |value| {
                filter.contains(FeatureKind::Words, value) || templates.binary_search(&value).is_ok()
            })
        })
    }

    /// Whether two clusters' canonicals verify against each other (the merge check of [`links`]): the
    /// rule, and between two canonicals of one named source the same-source rule too, as for a direct
    /// match. A copy of a publisher's update matches the update and (through the text they share) the
    /// publisher's earlier article; that does not make the two one story, any more than a direct match
    /// would. One aggregator's full copy and excerpt of a story still pass (the excerpt lies wholly
    /// inside, [`MatchRule::same_source_containment`]). The distinctive rule is not asked: it never
    /// joins two articles of one source, and the teasers it is for are seldom a cluster's canonical.
    /// If the new article is itself the joined canonical and matched the other canonical directly,
    /// [`links`] takes that match as it is (a teaser matched on distinctive text need not pass this
    /// check too).
    fn pair(&self, a: &StoredArticle, b: &StoredArticle) -> bool {
        self.matches(a, b, &self.compare(a, b))
    }

    /// The rule for a comparison of `a` and `b`: [`MatchRule::matches`], or between two articles of
    /// one source [`MatchRule::matches_within_source`].
    fn matches(&self, a: &StoredArticle, b: &StoredArticle, comparison: &Comparison) -> bool {
        self.reason(a, b, comparison).is_some()
    }

    /// The rule that makes `a` and `b` a match ([`Decider::matches`]), if any.
    fn reason(&self, a: &StoredArticle, b: &StoredArticle, comparison: &Comparison) -> Option<MatchReason> {
        if sources::same_source(&a.meta.source, &b.meta.source) {
            return self.engine.config.rule.reason_within_source(comparison);
        }
        self.engine.config.rule.reason(comparison)
    }

    /// The clusters the article must not join: those whose canonical is another story of the
    /// article's own publisher (one source, and the same-source rule fails between them) that the
    /// article would replace as canonical (it ranks first). Joining would rename the original of
    /// every copy there after a story they are not copies of: a publisher's earlier brief arriving
    /// late, found through a copy of its later update. Such a cluster can still hold the article's
    /// copies (one that arrived first and matched the later story); they stay there.
    fn held_back<'c>(&self, record: &StoredArticle, clusters: &'c [ClusterHead]) -> Vec<&'c ClusterId> {
        clusters
            .iter()
            .filter(|head| {
                record.canonical_rank() < head.canonical.canonical_rank()
                    && sources::same_source(&record.meta.source, &head.canonical.meta.source)
                    && !self.engine.config.rule.matches_within_source(&self.compare(record, &head.canonical))
            })
            .map(|head| &head.cluster_id)
            .collect()
    }

    /// The rule that verifies an article against a candidate, if any, and how they compare: the rule, and between two
    /// articles of one named source the same-source rule too ([`MatchRule::same_source_resemblance`]);
    /// between two short articles of different sources the distinctive rule may match what the rule
    /// did not ([`MatchRule::matches_on_distinctive`], with the candidates' `templates`).
    fn direct_pair<'t>(
        &self,
        a: &StoredArticle,
        b: &StoredArticle,
        templates: &impl Fn() -> &'t [u32],
    ) -> (Option<MatchReason>, Comparison) {
        let comparison = self.compare(a, b);
        let rule: &MatchRule = &self.engine.config.rule;
        if let Some(reason) = self.reason(a, b, &comparison) {
            return (Some(reason), comparison);
        }
        // the distinctive rule never joins two articles of one source
        let distinctive = !sources::same_source(&a.meta.source, &b.meta.source)
            && rule.distinctive_applies(&comparison)
            && rule.matches_on_distinctive(&comparison, &self.distinctive_overlap(a, b, templates()));
        (distinctive.then_some(MatchReason::Distinctive), comparison)
    }
}

/// The matches the article's cluster is united with, as indexes into `matches` (see the module doc
/// for the rule); `verifies` says whether two canonicals verify against each other. Matches in a
/// `held_back` cluster are left out ([`Decider::held_back`]).
fn links(
    verifies: impl Fn(&StoredArticle, &StoredArticle) -> bool,
    record: &StoredArticle,
    matches: &[Verified],
    clusters: &[ClusterHead],
    held_back: &[&ClusterId],
) -> Vec<usize> {
    let eligible: Vec<usize> = (0..matches.len())
        .filter(|&index| matches[index].article.cluster_id.as_ref().is_none_or(|c| !held_back.contains(&c)))
        .collect();
    let Some((&best_index, others)) = eligible.split_first() else { return vec![] };
    let best = &matches[best_index].article;
    let head = |cluster_id: &Option<ClusterId>| {
        cluster_id.as_ref().and_then(|c| clusters.iter().find(|head| &head.cluster_id == c))
    };
    // the canonical of the joined cluster once the article is in it, in the store's canonical order
    let best_canonical = head(&best.cluster_id).map(|h| &h.canonical).unwrap_or(best);
    let joined_canonical =
        if record.canonical_rank() < best_canonical.canonical_rank() { record } else { best_canonical };
    let mut linked = vec![best_index];
    let mut joined: Vec<Option<ClusterId>> = vec![best.cluster_id.clone()];
    for &index in others {
        let other = &matches[index].article;
        let Some(cluster_id) = &other.cluster_id else {
            // unassigned: an ingest racing with this one; linking it is what makes the two meet
            linked.push(index);
            continue;
        };
        if joined.contains(&Some(cluster_id.clone())) {
            continue;
        }
        let Some(other_head) = head(&other.cluster_id) else {
            continue;
        };
        // the new article itself is the joined canonical and matched this cluster's canonical
        // directly: that match (under whichever rule made it) is the check
        let matched_directly = std::ptr::eq(joined_canonical, record) && other.meta.id == other_head.canonical.meta.id;
        if matched_directly || verifies(joined_canonical, &other_head.canonical) {
            linked.push(index);
            joined.push(Some(cluster_id.clone()));
        }
    }
    linked
}

// -------------------------------------------------------------------------------------------------
// one pair, for explanations

/// How the engine judges one pair ([`Engine::judge`]).
pub(super) struct Judgement {
    /// The rule that verified the pair, if any.
    pub reason: Option<MatchReason>,
    /// How the two compare, the boilerplate of both sources left out.
    pub comparison: Comparison,
    /// The word overlap the distinctive rule compared, when it applied to the pair.
    pub distinctive: Option<Overlap>,
}

impl Engine {
    /// The verification of `b` against `a`, as an ingest of `b` that found `a` among its candidates
    /// makes it ([`Decider::direct_pair`]), with `templates` the template values of `b`'s candidates
    /// and the boilerplate model as it is. Fingerprints of different versions never match.
    pub(super) fn judge(&self, a: &StoredArticle, b: &StoredArticle, templates: &[u32]) -> Judgement {
        let decider = Decider { engine: self, learning: None };
        let (reason, comparison) = decider.direct_pair(b, a, &|| templates);
        let rule = &self.config.rule;
        let distinctive = (!sources::same_source(&a.meta.source, &b.meta.source)
            && rule.distinctive_applies(&comparison))
        .then(|| decider.distinctive_overlap(b, a, templates));
        let comparable = a.fingerprint.version == b.fingerprint.version;
        Judgement { reason: reason.filter(|_| comparable), comparison, distinctive }
    }
}
