//! Template values: what several stories among an article's candidates share.
//!
//! Wire services repeat whole sentences across different stories ("The Bank of England said it had
//! given the money market a further … mln stg assistance in the afternoon session"). A copy cut down
//! to such a sentence, wrapped in an aggregator's header and footer, shares with its original little
//! more than with every other report of the template, so those shared values are no evidence of a
//! copy. They are found without any state: a value of the new article that candidates of two or more
//! clusters hold is template text, whatever the rest of the index holds. The candidates are what the
//! new article resembles, so they are where its templates show. Counting values over the whole index
//! instead would need a table per process (replicas would disagree), and with the 20 bits a comparison
//! keeps per value (`sketch::COMPARED_BITS`) such a table fills up within a few hundred thousand
//! articles: every value would look common.
//!
//! Used by the distinctive rule ([`super::rules::MatchRule::matches_on_distinctive`]), which
//! compares short texts with these values left out.

use crate::domain::ClusterId;
use crate::fingerprint::sketch::{Sketch, compared};
use crate::store::Candidate;

/// The values of `words`, the new article's word sample, that candidates of two or more clusters hold
/// (as [`compared`] gives them, ascending). Only candidates of fingerprint `version` count: other
/// versions sample other features. Only the article's own values are looked for, by a merge of sorted
/// samples per candidate ([`Sketch::held_by`]): no hashing.
pub fn template_values(words: &Sketch, candidates: &[Candidate], version: u32) -> Vec<u32> {
    let mine: Vec<u32> = words.values.iter().map(|&v| compared(v)).collect();
    // per value of mine: the first cluster seen holding it, and whether another one does too
    let mut first: Vec<Option<&ClusterId>> = vec![None; mine.len()];
    let mut template = vec![false; mine.len()];
    for candidate in candidates.iter().filter(|c| c.article.fingerprint.version == version) {
        let article = &candidate.article;
        // an unassigned candidate is being ingested right now (or its ingest failed): which cluster
        // it joins is not known yet, and counting it as one of its own would let two concurrent
        // copies of one story make their own text look like a template
        let Some(cluster) = &article.cluster_id else { continue };
        words.held_by(&article.fingerprint.words, |i| match first[i] {
            None => first[i] = Some(cluster),
            Some(seen) if seen != cluster => template[i] = true,
            Some(_) => {}
        });
    }
    mine.into_iter().zip(template).filter_map(|(value, template)| template.then_some(value)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ArticleMeta, SourceTier, StoredArticle};
    use crate::fingerprint::{FINGERPRINT_VERSION, fingerprint};

    fn candidate(id: &str, cluster: Option<&str>, body: &str) -> Candidate {
        let article = StoredArticle {
            meta: ArticleMeta { id: id.into(), url: String::new(), source: String::new(), title: String::new() },
            tier: SourceTier::Ordinary,
            published_us: 0,
            ingested_us: 0,
            content_hash: 0,
            fingerprint: fingerprint(body),
            band_keys: vec![],
            cluster_id: cluster.map(|c| ClusterId(c.into())),
        };
        Candidate { article, shared_keys: 1 }
    }

    fn values(body: &str) -> Vec<u32> {
        fingerprint(body).words.values.iter().map(|&v| compared(v)).collect()
    }

    const TEMPLATE: &str = "the central bank said it had given the money market further help in the afternoon session";

    #[test]
    fn text_of_two_clusters_is_template_text_of_one_is_not() {
        let story = |n: u32| {
            let words: Vec<String> = (0..20).map(|i| format!("w{}", n * 100 + i)).collect();
            format!("{TEMPLATE} {}", words.join(" "))
        };
        let (a, b) = (story(1), story(2));
        let teaser = fingerprint(&a).words;
        let templates = template_values(
            &teaser,
            &[candidate("a", Some("c1"), &a), candidate("a-copy", Some("c1"), &a), candidate("b", Some("c2"), &b)],
            FINGERPRINT_VERSION,
        );
        let (in_a, in_b) = (values(&a), values(&b));
        let shared: Vec<u32> = in_a.iter().copied().filter(|v| in_b.contains(v)).collect();
        assert!(!shared.is_empty(), "the two stories share the template's values");
        assert_eq!(templates, shared, "exactly the shared values, ascending");
        assert!(in_a.len() > shared.len(), "story a has text of its own, held by its cluster only");
        // unassigned candidates (ingests in flight) and candidates of another version do not count
        let unassigned = [candidate("x", None, &a), candidate("y", None, &a), candidate("b", Some("c2"), &b)];
        assert!(template_values(&teaser, &unassigned, FINGERPRINT_VERSION).is_empty());
        let mut other = candidate("b", Some("c2"), &b);
        other.article.fingerprint.version += 1;
        assert!(template_values(&teaser, &[candidate("a", Some("c1"), &a), other], FINGERPRINT_VERSION).is_empty());
    }
}
