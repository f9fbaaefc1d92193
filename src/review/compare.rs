//! The side-by-side view: two stored articles with the passages they share and the spans where they
//! differ highlighted, the engine's decision on the pair and the thresholds behind it
//! ([`Engine::explain`](crate::engine::Engine::explain)), and the verdict that fits the pair.

use std::ops::Range;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::html::{page, time};
use super::{ReviewPage, Viewer, cluster_href, failure, method};
use crate::engine::ArticleView;
use crate::engine::explain::{Explanation, SetAsideKind, Span};

/// Differences listed under the texts at most (all are highlighted in them).
const LISTED_DIFFERENCES: usize = 200;

#[derive(Deserialize)]
pub(super) struct CompareQuery {
    a: String,
    b: String,
}

/// `/review/compare?a=ID&b=ID`: `a` on the left (the original, as the links give it), `b` on the
/// right.
pub(super) async fn compare(
    State(review): State<ReviewPage>,
    headers: HeaderMap,
    Query(query): Query<CompareQuery>,
) -> Response {
    let viewer = match review.allow(&headers, method::EXPLAIN) {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal.into_response(),
    };
    let (a, b) = (query.a.trim(), query.b.trim());
    let found = futures::try_join!(review.engine.explain(a, b), review.engine.article(a), review.engine.article(b));
    match found {
        Ok((explanation, a, b)) => view(&viewer, &explanation, &a, &b).into_response(),
        Err(error) => failure(&error),
    }
}

/// A piece of a text to highlight: its byte range, its class, and a note (what the other text has
/// there, for a changed span).
struct Mark<'t> {
    range: Range<usize>,
    class: &'static str,
    note: Option<&'t str>,
}

fn bytes(span: &Span) -> Range<usize> {
    span.start_byte..span.end_byte
}

/// `text` with `marks` as `<mark>` elements, every piece escaped. A mark that overlaps one placed
/// before it, is empty, or does not fall on character boundaries is left out rather than trusted.
fn highlighted(text: &str, mut marks: Vec<Mark<'_>>) -> Markup {
    marks.sort_by_key(|mark| (mark.range.start, mark.range.end));
    let mut pieces: Vec<(&str, Option<&Mark<'_>>)> = Vec::new();
    let mut at = 0;
    for mark in &marks {
        let Range { start, end } = mark.range;
        let (Some(before), Some(marked)) = (text.get(at..start), text.get(start..end)) else { continue };
        if start < at || marked.is_empty() {
            continue;
        }
        pieces.push((before, None));
        pieces.push((marked, Some(mark)));
        at = end;
    }
    pieces.push((text.get(at..).unwrap_or_default(), None));
    html! {
        @for (piece, mark) in pieces {
            @match mark {
                Some(mark) => mark class=(mark.class) title=[mark.note.map(|note| format!("the other text: {note}"))] { (piece) },
                None => (piece),
            }
        }
    }
}

/// One side's marks: shared passages, changed spans (with the other side's text as a note), and
/// what was set aside as boilerplate or quotation where nothing else is marked.
fn marks<'t>(explanation: &Explanation, left: bool, other_text: &'t str) -> Vec<Mark<'t>> {
    let pick = |a: &Span, b: &Span| if left { (*a, *b) } else { (*b, *a) };
    let mut marks: Vec<Mark<'t>> = Vec::new();
    for passage in &explanation.shared {
        let (mine, _) = pick(&passage.a, &passage.b);
        marks.push(Mark { range: bytes(&mine), class: "shared", note: None });
    }
    for difference in &explanation.differences {
        let (mine, theirs) = pick(&difference.a, &difference.b);
        let note = other_text.get(bytes(&theirs)).filter(|text| !text.trim().is_empty());
        marks.push(Mark { range: bytes(&mine), class: "changed", note: Some(note.unwrap_or("nothing")) });
    }
    let side = if left { &explanation.a } else { &explanation.b };
    for set_aside in &side.set_aside {
        let class = match set_aside.kind {
            SetAsideKind::Boilerplate => "boilerplate",
            SetAsideKind::Quotation => "quotation",
            SetAsideKind::Markup => "markup",
        };
        marks.push(Mark { range: bytes(&set_aside.span), class, note: None });
    }
    marks
}

/// One article's column.
fn column(view: &ArticleView, class: &str, label: &str, text: Option<&str>, marks: Vec<Mark<'_>>) -> Markup {
    let meta = &view.article.meta;
    let cluster = view.article.cluster_id.as_ref().map(|c| c.as_str().to_string()).unwrap_or_default();
    html! {
        article class=(class) aria-labelledby=(format!("{class}-title")) {
            h2 id=(format!("{class}-title")) { span.muted { (label) ": " } (meta.title) }
            dl.facts {
                dt { "Id" } dd { code { (meta.id) } }
                dt { "Source" } dd { (meta.source) }
                dt { "Published" } dd { (time(view.article.published_us)) }
                dt { "Cluster" } dd { a href=(cluster_href(&cluster, Some(&meta.id))) { code { (cluster) } } }
            }
            @match text {
                Some(text) => div.text { (highlighted(text, marks)) },
                None => p.notice { "The text of this article was not kept." },
            }
        }
    }
}

/// The side-by-side page.
fn view(viewer: &Viewer, explanation: &Explanation, a: &ArticleView, b: &ArticleView) -> Markup {
    let a_text = explanation.a.text.as_deref();
    let b_text = explanation.b.text.as_deref();
    let same_cluster = a.article.cluster_id == b.article.cluster_id;
    let (a_id, b_id) = (&a.article.meta.id, &b.article.meta.id);
    page(
        "Side by side",
        Some(viewer),
        &html! {
            h1 { "Side by side" }
            p.summary role="status" {
                @if explanation.copy {
                    "The engine judges these copies"
                    @if let Some(reason) = explanation.reason { " by the " strong { (super::rule_name(reason)) } " rule" }
                } @else {
                    "The engine judges these different stories"
                }
                ", similarity " (format!("{:.3}", explanation.similarity)) "; they are "
                @if same_cluster { "in one cluster." } @else { "in different clusters." }
            }
            p.legend {
                "Highlighted: " mark.shared { "passages both have" } " "
                mark.changed { "where they differ" } " (hover for the other text) "
                mark.boilerplate { "boilerplate" } " " mark.quotation { "quotations" } " "
                mark.markup { "markup" } " (set aside)."
            }
            div.columns {
                (column(a, "side-a", "A", a_text, a_text.map(|_| marks(explanation, true, b_text.unwrap_or_default())).unwrap_or_default()))
                (column(b, "side-b", "B", b_text, b_text.map(|_| marks(explanation, false, a_text.unwrap_or_default())).unwrap_or_default()))
            }
            @if viewer.may_moderate {
                h2 { "Verdict" }
                form.verdict method="post" action=(if same_cluster { "/review/verdicts/distinct" } else { "/review/verdicts/duplicate" }) {
                    input type="hidden" name="article_id" value=(b_id);
                    @if same_cluster {
                        input type="hidden" name="from_id" value=(a_id);
                    } @else {
                        input type="hidden" name="of_id" value=(a_id);
                    }
                    label for="compare-reason" { "Reason" }
                    input #compare-reason type="text" name="reason" maxlength="1000";
                    @if same_cluster {
                        button type="submit" { "Not a copy: B is not a copy of A" }
                    } @else {
                        button type="submit" { "Same story: B is a copy of A" }
                    }
                }
            }
            h2 { "Why" }
            dl.facts {
                dt { "Word containment" } dd { (format!("{:.3}", explanation.words)) }
                dt { "Skeleton containment" } dd { (format!("{:.3}", explanation.skeleton)) }
                dt { "Resemblance" } dd { (format!("{:.3}", explanation.resemblance)) }
                dt { "Simhash distance" } dd { (explanation.hamming_distance) " bits" }
                dt { "Same source" } dd { (if explanation.same_source { "yes" } else { "no" }) }
                dt { "Short text" } dd { (if explanation.short_text { "yes" } else { "no" }) }
            }
            @if !explanation.thresholds.is_empty() {
                table.thresholds {
                    caption { "The conditions of each rule that applied" }
                    thead { tr {
                        th scope="col" { "Rule" } th scope="col" { "Measure" }
                        th.number scope="col" { "Value" } th.number scope="col" { "Needed" } th scope="col" { "Met" }
                    } }
                    tbody {
                        @for threshold in &explanation.thresholds {
                            tr {
                                td { (threshold.rule) } td { (threshold.measure) }
                                td.number { (format!("{:.3}", threshold.value)) }
                                td.number { (format!("{:.3}", threshold.required)) }
                                td { (if threshold.met { "yes" } else { "no" }) }
                            }
                        }
                    }
                }
            }
            @if let (Some(a_text), Some(b_text)) = (a_text, b_text) {
                @if !explanation.differences.is_empty() {
                    table.differences {
                        caption { "Where they differ, in order" }
                        thead { tr { th scope="col" { "A has" } th scope="col" { "B has" } } }
                        tbody {
                            @for difference in explanation.differences.iter().take(LISTED_DIFFERENCES) {
                                tr {
                                    td { (a_text.get(bytes(&difference.a)).unwrap_or_default()) }
                                    td { (b_text.get(bytes(&difference.b)).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(range: Range<usize>, class: &'static str) -> Mark<'static> {
        Mark { range, class, note: None }
    }

    /// Marks become `<mark>` elements around escaped text; overlapping, empty and out-of-boundary
    /// marks are left out.
    #[test]
    fn highlights_escape_and_skip_bad_marks() {
        let text = "a <b> é c";
        let html =
            highlighted(text, vec![mark(2..5, "shared"), mark(3..4, "changed"), mark(7..8, "x"), mark(9..9, "y")])
                .into_string();
        assert_eq!(html, r#"a <mark class="shared">&lt;b&gt;</mark> é c"#);
        let noted = Mark { range: 0..1, class: "changed", note: Some("\"q\"") };
        assert_eq!(
            highlighted(text, vec![noted]).into_string(),
            r#"<mark class="changed" title="the other text: &quot;q&quot;">a</mark> &lt;b&gt; é c"#
        );
    }
}
