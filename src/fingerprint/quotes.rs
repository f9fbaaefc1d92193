//! Quoted speech set aside: the text an article's own writer wrote.
//!
//! Independent reports of one event quote the same statements word for word, so shared quotations
//! are not evidence that one article copies another; the writer's own sentences around them are.
//! [`without_quotes`] removes every passage between double quotation marks (after
//! [`super::normalize`], every kind of double quote is `"`). Quotes are paired within a paragraph; an
//! opening mark left unclosed at a paragraph's end runs to that end, as news style opens each
//! paragraph of a long quotation without closing the one before.

use std::borrow::Cow;
use std::ops::Range;

/// `text` with its quoted passages (marks included) replaced by a space. Borrowed when `text` has no
/// `"`.
pub fn without_quotes(text: &str) -> Cow<'_, str> {
    if !text.contains('"') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, paragraph) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut quoted = false;
        for (j, part) in paragraph.split('"').enumerate() {
            if j > 0 {
                quoted = !quoted;
                if quoted {
                    out.push(' ');
                }
            }
            if !quoted {
                out.push_str(part);
            }
        }
    }
    Cow::Owned(out)
}

/// Which characters of `chars` (normalised text) [`without_quotes`] removes: the quoted passages with
/// their marks, as ranges of `chars`.
pub fn quoted_ranges(chars: &[char]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    for (at, &c) in chars.iter().enumerate() {
        match (c, open) {
            ('"', None) => open = Some(at),
            ('"', Some(start)) => {
                out.push(start..at + 1);
                open = None;
            }
            // an unclosed quote runs to the end of its paragraph
            ('\n', Some(start)) => {
                out.push(start..at);
                open = None;
            }
            _ => {}
        }
    }
    out.extend(open.map(|start| start..chars.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        without_quotes(text).split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn quoted_passages_go_and_the_rest_stays() {
        assert_eq!(words("He said \"we will not back down\" on Monday."), ["He", "said", "on", "Monday."]);
        assert_eq!(words("No quotes at all."), ["No", "quotes", "at", "all."]);
        assert!(matches!(without_quotes("No quotes at all."), Cow::Borrowed(_)));
    }

    #[test]
    fn an_unclosed_quote_runs_to_the_end_of_its_paragraph_only() {
        let text = "She said: \"The first paragraph of a long quote\nThe writer again.";
        assert_eq!(words(text), ["She", "said:", "The", "writer", "again."]);
    }
}
