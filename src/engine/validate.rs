//! Input validation: every client-supplied field is checked here, before anything is fingerprinted or
//! stored, and each failure names its field.

use crate::domain::Article;
use crate::error::{Error, Result};

/// Longest accepted article id, in bytes.
pub const MAX_ID_BYTES: usize = 512;
/// Longest accepted url, source or title, in bytes: metadata, not content.
pub const MAX_META_BYTES: usize = 8 * 1024;
/// Default limit on the body, in bytes (configurable, see [`crate::config::ServeConfig`]).
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Checks an article id (also used for `GetArticle` and `DeleteArticle`).
pub fn id(field: &'static str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::invalid(field, format!("is {} bytes, at most {MAX_ID_BYTES} allowed", id.len())));
    }
    if id.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// Checks every field of an incoming article.
pub fn article(article: &Article, max_body_bytes: usize) -> Result<()> {
    id("article.id", &article.id)?;
    for (field, value) in
        [("article.url", &article.url), ("article.source", &article.source), ("article.title", &article.title)]
    {
        if value.len() > MAX_META_BYTES {
            return Err(Error::invalid(field, format!("is {} bytes, at most {MAX_META_BYTES} allowed", value.len())));
        }
    }
    if article.body.trim().is_empty() {
        return Err(Error::invalid("article.body", "must not be empty or whitespace only"));
    }
    if article.body.len() > max_body_bytes {
        return Err(Error::invalid(
            "article.body",
            format!("is {} bytes, at most {max_body_bytes} allowed", article.body.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article_with(id: &str, body: &str) -> Article {
        Article {
            id: id.into(),
            url: String::new(),
            source: String::new(),
            title: String::new(),
            body: body.into(),
            published_at: None,
        }
    }

    fn field_of(result: Result<()>) -> &'static str {
        match result {
            Err(Error::InvalidArgument { field, .. }) => field,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_normal_article() {
        assert!(article(&article_with("feed:1", "Some text."), 100).is_ok());
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(field_of(article(&article_with("", "text"), 100)), "article.id");
        assert_eq!(field_of(article(&article_with(&"x".repeat(513), "text"), 100)), "article.id");
        assert_eq!(field_of(article(&article_with("a\u{0}b", "text"), 100)), "article.id");
        assert_eq!(field_of(article(&article_with("a\nb", "text"), 100)), "article.id");
        assert!(article(&article_with(&"x".repeat(512), "text"), 100).is_ok());
    }

    #[test]
    fn rejects_empty_blank_and_oversized_bodies() {
        assert_eq!(field_of(article(&article_with("a", ""), 100)), "article.body");
        assert_eq!(field_of(article(&article_with("a", " \n\t\u{3000}"), 100)), "article.body");
        assert_eq!(field_of(article(&article_with("a", &"x".repeat(101)), 100)), "article.body");
    }
}
