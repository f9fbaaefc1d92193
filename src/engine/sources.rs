//! Source tiers: which sources may be trusted as originals and which are known aggregators.
//!
//! Publication times are claims. A scraper can backdate its copy, and clamping future dates (see
//! [`crate::engine`]) does not stop a copy that claims an earlier time than the original. Operators
//! usually know both ends of the spectrum: the agencies and papers they license from, and the
//! aggregators that keep showing up as copies. The tier is the first field of the canonical order
//! ([`StoredArticle::canonical_rank`](crate::domain::StoredArticle::canonical_rank)), so a trusted
//! source outranks any ordinary or aggregator source whatever time it claims, and an aggregator never
//! outranks an ordinary source.
//!
//! The tier is decided once, at ingest, and stored with the article: changing the lists affects the
//! articles ingested afterwards, never the order of a cluster already stored (stores keep members
//! sorted by rank, and a silent re-rank would change canonicals under a reader).

use std::borrow::Cow;

use crate::domain::SourceTier;

/// The configured lists. A source matches an entry when it equals it or is a subdomain of it, after
/// lowercasing and dropping a leading `www.`: `bbc.co.uk` matches `bbc.co.uk` and `news.bbc.co.uk`,
/// not `notbbc.co.uk`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceTiers {
    trusted: Vec<String>,
    aggregators: Vec<String>,
}

impl SourceTiers {
    /// Empty entries are ignored; a source on both lists is trusted.
    pub fn new<S: AsRef<str>>(trusted: &[S], aggregators: &[S]) -> Self {
        let clean = |list: &[S]| -> Vec<String> {
            list.iter().map(|entry| canonical_source(entry.as_ref())).filter(|entry| !entry.is_empty()).collect()
        };
        SourceTiers { trusted: clean(trusted), aggregators: clean(aggregators) }
    }

    /// The tier of an article of `source`.
    pub fn tier(&self, source: &str) -> SourceTier {
        if self.trusted.is_empty() && self.aggregators.is_empty() {
            return SourceTier::Ordinary;
        }
        let source = canonical_source(source);
        if source.is_empty() {
            return SourceTier::Ordinary;
        }
        if self.trusted.iter().any(|entry| covers(entry, &source)) {
            return SourceTier::Trusted;
        }
        if self.aggregators.iter().any(|entry| covers(entry, &source)) {
            return SourceTier::Aggregator;
        }
        SourceTier::Ordinary
    }
}

/// Whether two articles come from one source: case, a trailing dot and `www.` ignored, as the lists
/// spell sources, but a subdomain is a source of its own (unlike a list entry, which covers its
/// subdomains: `news.reuters.com` may well publish what `reuters.com` wrote). An empty source is
/// nobody's, not a source of its own.
pub fn same_source(a: &str, b: &str) -> bool {
    let (a, b) = (bare_source(a), bare_source(b));
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

/// The key under which the boilerplate model knows a source: the source as [`same_source`] compares
/// it (lowercase, no trailing dot or `www.`), so that `www.Wire.example` and `wire.example` learn one
/// footer together. Borrowed unless the source has capitals: the model is asked for every candidate
/// comparison.
pub fn boilerplate_key(source: &str) -> Cow<'_, str> {
    let bare = bare_source(source);
    if bare.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(bare.to_ascii_lowercase())
    } else {
        Cow::Borrowed(bare)
    }
}

/// What [`canonical_source`] gives, but for the letter case and without allocating: [`same_source`]
/// runs for every candidate that passes the cheap checks.
fn bare_source(source: &str) -> &str {
    let source = source.trim().trim_end_matches('.');
    match source.get(..4) {
        Some(www) if www.eq_ignore_ascii_case("www.") => &source[4..],
        _ => source,
    }
}

fn canonical_source(source: &str) -> String {
    let source = source.trim().trim_end_matches('.').to_ascii_lowercase();
    match source.strip_prefix("www.") {
        Some(rest) => rest.to_string(),
        None => source,
    }
}

fn covers(entry: &str, source: &str) -> bool {
    match source.strip_suffix(entry) {
        Some("") => true,
        Some(prefix) => prefix.ends_with('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_subdomains_match_lookalikes_do_not() {
        let tiers = SourceTiers::new(&["BBC.co.uk", "reuters.com"], &["www.dailyworldwire.com", ""]);
        assert_eq!(tiers.tier("bbc.co.uk"), SourceTier::Trusted);
        assert_eq!(tiers.tier("news.bbc.co.uk"), SourceTier::Trusted);
        assert_eq!(tiers.tier("www.Reuters.com."), SourceTier::Trusted);
        assert_eq!(tiers.tier("notbbc.co.uk"), SourceTier::Ordinary);
        assert_eq!(tiers.tier("bbc.co.uk.evil.example"), SourceTier::Ordinary);
        assert_eq!(tiers.tier("dailyworldwire.com"), SourceTier::Aggregator);
        assert_eq!(tiers.tier("m.dailyworldwire.com"), SourceTier::Aggregator);
        assert_eq!(tiers.tier(""), SourceTier::Ordinary);
        assert_eq!(tiers.tier("example.org"), SourceTier::Ordinary);
    }

    #[test]
    fn trusted_wins_over_aggregator_and_empty_lists_are_ordinary() {
        let both = SourceTiers::new(&["example.org"], &["example.org"]);
        assert_eq!(both.tier("example.org"), SourceTier::Trusted);
        assert_eq!(SourceTiers::default().tier("bbc.co.uk"), SourceTier::Ordinary);
    }

    #[test]
    fn one_source_as_the_lists_spell_it_and_no_source_is_nobody() {
        assert!(same_source("reuters.com", "www.Reuters.com."));
        assert!(!same_source("reuters.com", "news.reuters.com"));
        assert!(!same_source("reuters.com", "bbc.co.uk"));
        assert!(!same_source("", ""));
        assert!(!same_source(" ", "www."));
        for (a, b) in [("WWW.Example.org.", "example.org"), ("wwwx.org", "x.org"), ("ww.x", "ww.x"), ("é.fr", "É.fr")]
        {
            assert_eq!(same_source(a, b), canonical_source(a) == canonical_source(b), "{a} / {b}");
        }
        // the boilerplate model's key is the same canonical form, whichever way it is spelled
        for source in ["WWW.Example.org.", "example.org", " www.example.ORG ", "wwwx.org", "", "É.fr"] {
            assert_eq!(boilerplate_key(source), canonical_source(source), "{source}");
        }
        assert!(matches!(boilerplate_key("www.wire.example"), Cow::Borrowed("wire.example")));
    }

    #[test]
    fn tiers_order_trusted_first() {
        assert!(SourceTier::Trusted < SourceTier::Ordinary);
        assert!(SourceTier::Ordinary < SourceTier::Aggregator);
    }
}
