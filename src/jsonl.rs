//! The article file format: JSON Lines, one article per line, as `dedupd ingest`, `dedupd check`,
//! `dedupd bench --file` and `dedupd eval` read it.
//!
//! `{"id": …, "url": …, "source": …, "title": …, "body": …, "published_at": "RFC 3339"}`; every
//! field but `id` may be left out.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::{Article, Micros};

/// One article line.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ArticleLine {
    /// The article's id (required).
    pub id: String,
    /// Where it was published.
    #[serde(default)]
    pub url: String,
    /// The publishing site (a domain).
    #[serde(default)]
    pub source: String,
    /// The headline.
    #[serde(default)]
    pub title: String,
    /// The text compared.
    #[serde(default)]
    pub body: String,
    /// RFC 3339.
    #[serde(default)]
    pub published_at: Option<String>,
}

impl ArticleLine {
    /// The domain article; a `published_at` that is not RFC 3339 is an error naming the article.
    pub fn into_article(self) -> anyhow::Result<Article> {
        let published_at = match &self.published_at {
            None => None,
            Some(text) if text.is_empty() => None,
            Some(text) => Some(
                parse_rfc3339_micros(text)
                    .map_err(|e| anyhow::anyhow!("article {:?}: published_at {text:?}: {e}", self.id))?,
            ),
        };
        Ok(Article {
            id: self.id,
            url: self.url,
            source: self.source,
            title: self.title,
            body: self.body,
            published_at,
        })
    }
}

/// Parses an RFC 3339 time into microseconds since the epoch.
pub fn parse_rfc3339_micros(text: &str) -> anyhow::Result<Micros> {
    let time = chrono::DateTime::parse_from_rfc3339(text)?;
    Ok(time.timestamp_micros())
}

/// Every row of a JSON Lines file (blank lines skipped); an error names the file and line.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(&line).map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), number + 1))?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_becomes_an_article_and_a_bad_time_names_it() {
        let line: ArticleLine =
            serde_json::from_str(r#"{"id": "a1", "body": "text", "published_at": "2024-03-01T12:00:00+01:00"}"#)
                .expect("a line");
        let article = line.into_article().expect("an article");
        assert_eq!((article.id.as_str(), article.source.as_str()), ("a1", ""));
        assert_eq!(article.published_at, Some(1_709_290_800_000_000));
        let undated: ArticleLine = serde_json::from_str(r#"{"id": "a2", "published_at": ""}"#).expect("a line");
        assert_eq!(undated.into_article().expect("an article").published_at, None);
        let bad: ArticleLine = serde_json::from_str(r#"{"id": "a3", "published_at": "yesterday"}"#).expect("a line");
        let error = bad.into_article().expect_err("not RFC 3339").to_string();
        assert!(error.contains("\"a3\"") && error.contains("yesterday"), "{error}");
    }
}
