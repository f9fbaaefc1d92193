//! Proto ↔ domain conversions. Wire types stop here: the engine never sees a prost struct.

use prost_types::Timestamp;

use crate::domain::{Article, Decision, MatchReason, Micros, StoredArticle, Verdict, VerdictKind};
use crate::engine::explain::{ExplainedText, Explanation, SetAsideKind, Span};
use crate::engine::feed::{FeedFilter, FeedPage, FeedQuery, parse_cursor};
use crate::engine::verdicts::Verdicted;
use crate::engine::{ArticleView, MemberView};
use crate::error::{Error, Result};
use crate::proto;
use crate::store::feed::DuplicateEvent;

/// The range protobuf allows for `Timestamp.seconds`: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// Microseconds since the epoch from a protobuf timestamp; out-of-range values are rejected as
/// invalid `field`.
pub fn micros_from_timestamp(field: &'static str, timestamp: &Timestamp) -> Result<Micros> {
    if !(0..1_000_000_000).contains(&timestamp.nanos) {
        return Err(Error::invalid(field, "nanos must be within 0..1e9"));
    }
    if !TIMESTAMP_SECONDS.contains(&timestamp.seconds) {
        return Err(Error::invalid(field, "must be between years 1 and 9999"));
    }
    timestamp
        .seconds
        .checked_mul(1_000_000)
        .and_then(|micros| micros.checked_add(i64::from(timestamp.nanos / 1_000)))
        .ok_or_else(|| Error::invalid(field, "is out of range"))
}

/// A protobuf timestamp from microseconds since the epoch.
pub fn timestamp_from_micros(micros: Micros) -> Timestamp {
    Timestamp { seconds: micros.div_euclid(1_000_000), nanos: (micros.rem_euclid(1_000_000) * 1_000) as i32 }
}

/// The domain article of a request; an absent article is an invalid argument.
pub fn article(article: Option<proto::Article>) -> Result<Article> {
    let article = article.ok_or_else(|| Error::invalid("article", "is required"))?;
    let published_at =
        article.published_at.as_ref().map(|t| micros_from_timestamp("article.published_at", t)).transpose()?;
    Ok(Article {
        id: article.id,
        url: article.url,
        source: article.source,
        title: article.title,
        body: article.body,
        published_at,
    })
}

fn matches(decision: &Decision) -> Vec<proto::Match> {
    decision
        .matches
        .iter()
        .map(|m| proto::Match { id: m.id.clone(), similarity: m.similarity, hamming_distance: m.hamming_distance })
        .collect()
}

/// The `Ingest` answer for a decision.
pub fn ingest_response(decision: Decision) -> proto::IngestResponse {
    proto::IngestResponse {
        matches: matches(&decision),
        id: decision.id,
        duplicate: decision.duplicate,
        cluster_id: decision.cluster_id.map(|c| c.0).unwrap_or_default(),
        canonical_id: decision.canonical_id,
        simhash: decision.simhash,
        error: String::new(),
    }
}

/// The `Check` answer for a decision.
pub fn check_response(decision: Decision) -> proto::CheckResponse {
    proto::CheckResponse {
        matches: matches(&decision),
        duplicate: decision.duplicate,
        cluster_id: decision.cluster_id.map(|c| c.0).unwrap_or_default(),
        canonical_id: decision.canonical_id,
    }
}

/// The `GetArticle` answer.
pub fn article_record(view: ArticleView) -> proto::ArticleRecord {
    let ArticleView { article, canonical_id } = view;
    let StoredArticle { meta, published_us, fingerprint, cluster_id, .. } = article;
    proto::ArticleRecord {
        id: meta.id,
        url: meta.url,
        source: meta.source,
        title: meta.title,
        published_at: Some(timestamp_from_micros(published_us)),
        cluster_id: cluster_id.map(|c| c.0).unwrap_or_default(),
        canonical_id,
        simhash: fingerprint.simhash,
        fingerprint_version: fingerprint.version,
    }
}

/// The `GetCluster` answer: members in canonical order, each with its similarity to the canonical.
pub fn cluster(cluster_id: String, members: Vec<MemberView>) -> proto::Cluster {
    proto::Cluster {
        canonical_id: members.first().map(|m| m.article.meta.id.clone()).unwrap_or_default(),
        cluster_id,
        members: members
            .into_iter()
            .map(|m| proto::ClusterMember {
                published_at: Some(timestamp_from_micros(m.article.published_us)),
                id: m.article.meta.id,
                url: m.article.meta.url,
                source: m.article.meta.source,
                similarity: m.similarity,
            })
            .collect(),
    }
}

/// A verdict as the log keeps it.
pub fn verdict(verdict: Verdict) -> proto::Verdict {
    let kind = match verdict.kind {
        VerdictKind::Distinct => proto::VerdictKind::Distinct,
        VerdictKind::Duplicate => proto::VerdictKind::Duplicate,
        VerdictKind::Canonical => proto::VerdictKind::Canonical,
    };
    proto::Verdict {
        seq: verdict.seq,
        kind: kind.into(),
        article_id: verdict.article_id,
        other_id: verdict.other_id,
        cluster_id: verdict.cluster_id.0,
        from_cluster_id: verdict.from_cluster_id.map(|c| c.0).unwrap_or_default(),
        reviewer: verdict.reviewer,
        reason: verdict.reason,
        at: Some(timestamp_from_micros(verdict.at)),
    }
}

/// The answer to a verdict.
pub fn verdict_response(verdicted: Verdicted) -> proto::VerdictResponse {
    proto::VerdictResponse {
        verdict: Some(verdict(verdicted.verdict)),
        canonical_id: verdicted.canonical_id,
        moved_ids: verdicted.moved,
        from_canonical_id: verdicted.from_canonical_id.unwrap_or_default(),
    }
}

/// A `ListVerdicts` page token: the `seq` to list below. Empty: from the newest.
pub fn page_token(token: &str) -> Result<Option<u64>> {
    if token.is_empty() {
        return Ok(None);
    }
    match token.parse::<u64>() {
        Ok(seq) if seq > 0 => Ok(Some(seq)),
        _ => Err(Error::invalid("page_token", "is not a token a previous page returned")),
    }
}

/// The `ListVerdicts` answer for a page of `page_size` asked for: the next token is the last
/// verdict's `seq` while older ones may remain.
pub fn verdicts_page(verdicts: Vec<Verdict>, page_size: usize) -> proto::ListVerdictsResponse {
    let next_page_token = match verdicts.last() {
        Some(last) if verdicts.len() == page_size && last.seq > 1 => last.seq.to_string(),
        _ => String::new(),
    };
    proto::ListVerdictsResponse { verdicts: verdicts.into_iter().map(verdict).collect(), next_page_token }
}

// -------------------------------------------------------------------------------------------------
// the duplicate feed

/// The wire form of a rule.
pub fn match_reason(reason: MatchReason) -> proto::MatchReason {
    match reason {
        MatchReason::Words => proto::MatchReason::Words,
        MatchReason::Skeleton => proto::MatchReason::Skeleton,
        MatchReason::ShortWords => proto::MatchReason::ShortWords,
        MatchReason::ShortSkeleton => proto::MatchReason::ShortSkeleton,
        MatchReason::Distinctive => proto::MatchReason::Distinctive,
    }
}

/// The wire form of a feed event; `removed` as `ListDuplicates` found it.
pub fn duplicate_event(event: DuplicateEvent, removed: bool) -> proto::DuplicateEvent {
    proto::DuplicateEvent {
        cursor: event.cursor.to_string(),
        found_at: Some(timestamp_from_micros(event.found_us())),
        article: Some(proto::FeedArticle {
            id: event.article.id,
            url: event.article.url,
            source: event.article.source,
            title: event.article.title,
            published_at: Some(timestamp_from_micros(event.published_us)),
        }),
        canonical_id: event.canonical_id,
        cluster_id: event.cluster_id.0,
        similarity: event.similarity,
        rule: match_reason(event.reason).into(),
        matched_id: event.matched_id,
        canonical_source: event.canonical_source,
        removed,
    }
}

/// The engine's query for a `ListDuplicates` request.
pub fn feed_query(request: proto::ListDuplicatesRequest) -> Result<FeedQuery> {
    let page_token = match request.page_token.as_str() {
        "" => None,
        token => Some(parse_cursor("page_token", token)?),
    };
    Ok(FeedQuery {
        since: request.since.as_ref().map(|t| micros_from_timestamp("since", t)).transpose()?,
        until: request.until.as_ref().map(|t| micros_from_timestamp("until", t)).transpose()?,
        filter: FeedFilter::new(&request.source, request.min_similarity)?,
        page_size: request.page_size as usize,
        page_token,
    })
}

/// The `ListDuplicates` answer.
pub fn feed_page(page: FeedPage) -> proto::ListDuplicatesResponse {
    proto::ListDuplicatesResponse {
        duplicates: page.duplicates.into_iter().map(|listed| duplicate_event(listed.event, listed.removed)).collect(),
        next_page_token: page.next_page_token.map(|token| token.to_string()).unwrap_or_default(),
    }
}

// -------------------------------------------------------------------------------------------------
// explanations

/// The two articles of an `ExplainText` request; an absent one is an invalid `a` or `b`.
pub fn article_pair(request: proto::ExplainTextRequest) -> Result<(Article, Article)> {
    let a = request.a.ok_or_else(|| Error::invalid("a", "is required"))?;
    let b = request.b.ok_or_else(|| Error::invalid("b", "is required"))?;
    let rename = |side: &'static str| {
        move |error: Error| match error {
            Error::InvalidArgument { field: "article.published_at", reason } => {
                Error::InvalidArgument { field: if side == "a" { "a.published_at" } else { "b.published_at" }, reason }
            }
            other => other,
        }
    };
    Ok((article(Some(a)).map_err(rename("a"))?, article(Some(b)).map_err(rename("b"))?))
}

fn span(span: Span) -> proto::Span {
    let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    proto::Span {
        start: narrow(span.start),
        end: narrow(span.end),
        start_byte: narrow(span.start_byte),
        end_byte: narrow(span.end_byte),
    }
}

fn explained_text(text: ExplainedText) -> proto::ExplainedText {
    use proto::set_aside::Kind;
    proto::ExplainedText {
        id: text.id,
        source: text.source,
        tokens: u32::try_from(text.tokens).unwrap_or(u32::MAX),
        set_aside: text
            .set_aside
            .into_iter()
            .map(|s| proto::SetAside {
                kind: match s.kind {
                    SetAsideKind::Quotation => Kind::Quotation,
                    SetAsideKind::Boilerplate => Kind::Boilerplate,
                    SetAsideKind::Markup => Kind::Markup,
                }
                .into(),
                span: Some(span(s.span)),
            })
            .collect(),
        text: text.text.unwrap_or_default(),
    }
}

/// The `Explain` and `ExplainText` answer.
pub fn explanation(explanation: Explanation) -> proto::Explanation {
    proto::Explanation {
        copy: explanation.copy,
        rule: explanation.reason.map(|r| r.name().to_string()).unwrap_or_default(),
        thresholds: explanation
            .thresholds
            .iter()
            .map(|t| proto::Threshold {
                rule: t.rule.to_string(),
                measure: t.measure.to_string(),
                value: t.value,
                required: t.required,
                met: t.met,
            })
            .collect(),
        similarity: explanation.similarity,
        words: explanation.words,
        skeleton: explanation.skeleton,
        resemblance: explanation.resemblance,
        hamming_distance: explanation.hamming_distance,
        same_source: explanation.same_source,
        short_text: explanation.short_text,
        comparable: explanation.comparable,
        shared: explanation
            .shared
            .iter()
            .map(|s| proto::SharedPassage {
                a: Some(span(s.a)),
                b: Some(span(s.b)),
                tokens: u32::try_from(s.tokens).unwrap_or(u32::MAX),
            })
            .collect(),
        differences: explanation
            .differences
            .iter()
            .map(|d| proto::Difference { a: Some(span(d.a)), b: Some(span(d.b)) })
            .collect(),
        a: Some(explained_text(explanation.a)),
        b: Some(explained_text(explanation.b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_micros() {
        for micros in [0, 1, 1_700_000_000_123_456, -1, -1_500_000] {
            let timestamp = timestamp_from_micros(micros);
            assert!((0..1_000_000_000).contains(&timestamp.nanos));
            assert_eq!(micros_from_timestamp("t", &timestamp).ok(), Some(micros));
        }
    }

    #[test]
    fn bad_timestamps_are_invalid_arguments() {
        let bad_nanos = Timestamp { seconds: 1, nanos: -5 };
        assert!(matches!(micros_from_timestamp("t", &bad_nanos), Err(Error::InvalidArgument { field: "t", .. })));
        for seconds in [i64::MAX, i64::MIN, 253_402_300_800, -62_135_596_801] {
            let out_of_range = Timestamp { seconds, nanos: 0 };
            assert!(matches!(micros_from_timestamp("t", &out_of_range), Err(Error::InvalidArgument { .. })));
        }
    }

    #[test]
    fn a_missing_article_is_an_invalid_argument() {
        assert!(matches!(article(None), Err(Error::InvalidArgument { field: "article", .. })));
    }

    #[test]
    fn page_tokens_are_seqs() {
        assert_eq!(page_token("").ok(), Some(None));
        assert_eq!(page_token("17").ok(), Some(Some(17)));
        for bad in ["0", "-3", "x", "1.5"] {
            assert!(matches!(page_token(bad), Err(Error::InvalidArgument { field: "page_token", .. })), "{bad}");
        }
    }
}
