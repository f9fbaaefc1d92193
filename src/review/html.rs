//! The review page's HTML. maud escapes every value interpolated with `(…)`: article text, titles,
//! sources and ids are hostile input and only ever reach the page that way (nothing here uses
//! `PreEscaped`).

use maud::{DOCTYPE, Markup, html};

use super::{FeedItem, Viewer, compare_href, encode, rule_name};
use crate::domain::{Micros, rfc3339};
use crate::engine::MemberView;
use crate::engine::feed::{SourceCount, SourceCounts};

/// A whole page: header with navigation, the article search and who is signed in, then `main`.
pub(super) fn page(title: &str, viewer: Option<&Viewer>, main: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · dedupd review" }
                link rel="stylesheet" href="/review/static/review.css";
                script src="/review/static/review.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    nav aria-label="Review" {
                        a.brand href="/review" { "dedupd review" }
                        @if viewer.is_some() {
                            a href="/review" { "Live feed" }
                            a href="/review/sources" { "Sources" }
                        }
                    }
                    @if let Some(viewer) = viewer {
                        form.search role="search" method="get" action="/review/articles" {
                            label for="find-article" { "Article id" }
                            input #find-article type="search" name="id" required;
                            button type="submit" { "Find" }
                        }
                        div.who {
                            @if viewer.signed_in {
                                span { "Signed in as " strong { (viewer.name) } @if let Some(role) = viewer.role { " (" (role) ")" } }
                                form method="post" action="/review/logout" {
                                    button type="submit" { "Sign out" }
                                }
                            } @else {
                                span { "Open access (no API keys configured)" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    }
}

/// A short page with a heading and one message (errors, refusals).
pub fn message(title: &str, text: &str) -> Markup {
    page(
        title,
        None,
        &html! {
            h1 { (title) }
            p.message { (text) }
            p { a href="/review" { "Back to the review page" } }
        },
    )
}

/// The sign-in form: an API key that may read (verdicts need one that may moderate).
pub fn login(error: Option<&str>) -> Markup {
    page(
        "Sign in",
        None,
        &html! {
            h1 { "Sign in" }
            p { "Sign in with an API key from the server's auth file: a key with the "
                code { "read" } " role shows copies, one with " code { "moderate" } " or "
                code { "admin" } " can also record verdicts." }
            @if let Some(error) = error {
                p.error role="alert" { "Not signed in: " (error) "." }
            }
            form.login method="post" action="/review/login" {
                label for="token" { "API key" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// The live feed of new copies: the latest, then the page's script adds each new one at the top
/// (from `events`, a server-sent event stream).
pub fn feed(viewer: &Viewer, items: &[FeedItem], events: &str, source: &str, min_similarity: Option<f64>) -> Markup {
    page(
        "Live feed",
        Some(viewer),
        &html! {
            h1 { "Live feed" }
            form.filters method="get" action="/review" {
                label for="feed-source" { "Source" }
                input #feed-source type="text" name="source" value=(source);
                label for="feed-min" { "Minimum similarity" }
                input #feed-min type="number" name="min_similarity" min="0" max="1" step="0.05"
                    value=[min_similarity.map(|m| m.to_string())];
                button type="submit" { "Filter" }
            }
            p #feed-status .status role="status" aria-live="polite" { "Copies found from now on appear at the top." }
            table #feed data-events=(events) {
                caption { "Copies found, newest first" }
                thead {
                    tr {
                        th scope="col" { "Found" }
                        th scope="col" { "Copy" }
                        th scope="col" { "Source" }
                        th scope="col" { "Canonical" }
                        th.number scope="col" { "Similarity" }
                        th scope="col" { "Rule" }
                    }
                }
                tbody {
                    @for item in items {
                        tr data-id=(item.id) {
                            td { (item.found) }
                            td { a href=(item.compare) { (item.title) } br; code.id { (item.id) } }
                            td { (item.source) }
                            td { a href=(item.cluster) { (item.canonical) } }
                            td.number { (item.similarity) }
                            td { (item.rule) }
                        }
                    }
                }
            }
            @if items.is_empty() {
                p #feed-empty { "No copies found yet." }
            }
        },
    )
}

/// Which sources publish the most copies, and whose originals are copied most.
pub fn sources(viewer: &Viewer, counts: &SourceCounts) -> Markup {
    let table = |caption: &str, heading: &str, rows: &[SourceCount]| {
        html! {
            table.sources {
                caption { (caption) }
                thead { tr { th scope="col" { (heading) } th.number scope="col" { "Copies" } } }
                tbody {
                    @for row in rows.iter().take(50) {
                        tr {
                            td { a href=(format!("/review?source={}", encode(&row.source))) { (row.source) } }
                            td.number { (row.count) }
                        }
                    }
                }
            }
        }
    };
    page(
        "Sources",
        Some(viewer),
        &html! {
            h1 { "Sources" }
            p { "Over the latest " (counts.events) " duplicates found." }
            div.columns {
                section aria-labelledby="copiers" {
                    h2 #copiers { "Publishing the most copies" }
                    (table("Sources of copies, most first", "Source", &counts.copiers))
                }
                section aria-labelledby="copied" {
                    h2 #copied { "Originals copied the most" }
                    (table("Sources of the canonicals copied, most first", "Source of the original", &counts.copied))
                }
            }
        },
    )
}

/// A time for people, to the second, UTC.
pub fn short_time(micros: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| rfc3339(micros))
}

/// A time for people, with the machine-readable one beside it.
pub(super) fn time(micros: Micros) -> Markup {
    html! { time datetime=(rfc3339(micros)) { (short_time(micros)) } }
}

/// One cluster: canonical first, each copy with source, time and similarity, and the verdict
/// buttons for a viewer who may moderate. One form holds them all (each button names its article),
/// so a cluster of hundreds of copies stays one small page.
pub fn cluster(
    viewer: &Viewer,
    cluster_id: &str,
    members: &[MemberView],
    marked: Option<&str>,
    split_from: Option<&str>,
) -> Markup {
    let canonical = members.first().map(|m| m.article.meta.id.as_str()).unwrap_or_default();
    let copies = members.len().saturating_sub(1);
    page(
        "Cluster",
        Some(viewer),
        &html! {
            h1 { "Cluster " code { (cluster_id) } }
            @if let (Some(article), Some(from)) = (marked, split_from) {
                p.notice role="status" {
                    "Not a copy: " strong { (article) } " and the copies that follow it moved here from cluster "
                    a href=(super::cluster_href(from, None)) { code { (from) } } "."
                }
            }
            p.summary {
                "Canonical " strong { (canonical) } " and " (copies) @if copies == 1 { " copy" } @else { " copies" } "."
            }
            form #verdicts method="post" action="/review/verdicts/distinct" {
                input type="hidden" name="cluster_id" value=(cluster_id);
                input type="hidden" name="from_id" value=(canonical);
                @if viewer.may_moderate {
                    div.reason {
                        label for="reason" { "Reason for a verdict (recorded with it)" }
                        input #reason type="text" name="reason" maxlength="1000";
                    }
                }
                table.members {
                    caption { "Members in canonical order" }
                    thead {
                        tr {
                            th scope="col" { "" }
                            th scope="col" { "Article" }
                            th scope="col" { "Source" }
                            th scope="col" { "Published" }
                            th.number scope="col" { "Similarity" }
                            th scope="col" { "Rule" }
                            @if viewer.may_moderate { th scope="col" { "Verdict" } }
                        }
                    }
                    tbody {
                        @for (index, member) in members.iter().enumerate() {
                            @let meta = &member.article.meta;
                            @let is_marked = marked == Some(meta.id.as_str());
                            tr.marked[is_marked] data-id=(meta.id) aria-current=[is_marked.then_some("true")] {
                                td { @if index == 0 { span.badge.canonical { "canonical" } } @else { span.badge { "copy" } } }
                                td {
                                    @if index == 0 {
                                        span.title { (meta.title) }
                                    } @else {
                                        a.title href=(compare_href(canonical, &meta.id)) { (meta.title) }
                                    }
                                    br;
                                    code.id { (meta.id) }
                                }
                                td { (meta.source) }
                                td { (time(member.article.published_us)) }
                                td.number { (format!("{:.3}", member.similarity)) }
                                td {
                                    @match member.reason {
                                        Some(reason) => (rule_name(reason)),
                                        None if index == 0 => "",
                                        None => span.muted { "through another member" },
                                    }
                                }
                                @if viewer.may_moderate {
                                    td.actions {
                                        @if index > 0 {
                                            button type="submit" name="article_id" value=(meta.id) formaction="/review/verdicts/distinct" {
                                                "Not a copy" span.visually-hidden { ": " (meta.id) }
                                            }
                                            button type="submit" name="article_id" value=(meta.id) formaction="/review/verdicts/canonical" {
                                                "Make canonical" span.visually-hidden { ": " (meta.id) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if viewer.may_moderate {
                h2 { "Same story" }
                form.same-story method="post" action="/review/verdicts/duplicate" {
                    input type="hidden" name="of_id" value=(canonical);
                    label for="same-story-id" { "Article id of a copy the engine kept apart" }
                    input #same-story-id type="text" name="article_id" required;
                    label for="same-story-reason" { "Reason" }
                    input #same-story-reason type="text" name="reason" maxlength="1000";
                    button type="submit" { "Same story" }
                }
            }
        },
    )
}
