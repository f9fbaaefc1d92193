//! HTML in a body read as the text a reader sees.
//!
//! Scrapers often store a page's markup with its text: `<p>` tags, `&nbsp;`, `&#8217;`, inline
//! scripts. Left in, tag names and entity names become words that two copies of one article share
//! only if their sites use the same markup, and a copy with markup looks less like its plain-text
//! original than it is. [`to_text`] drops tags (a block-level tag becomes a paragraph break), the
//! contents of `<script>` and `<style>`, and comments, and decodes entities. Text without a tag or an
//! entity is returned as is, so plain text pays for one scan.

use std::borrow::Cow;
use std::ops::Range;

use super::reading::Placed;

/// Elements whose start or end breaks a paragraph.
const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// Elements whose content is not text a reader sees.
const HIDDEN_TAGS: &[&str] = &["script", "style", "noscript", "template"];

/// The text a reader sees of `text`: tags, comments and hidden elements removed, entities decoded.
/// Borrowed when `text` has neither a tag nor an entity.
pub fn to_text(text: &str) -> Cow<'_, str> {
    if !has_markup(text) {
        return Cow::Borrowed(text);
    }
    let stripped = strip_tags(text);
    match html_escape::decode_html_entities(&stripped) {
        Cow::Borrowed(_) => Cow::Owned(stripped),
        Cow::Owned(decoded) => Cow::Owned(decoded),
    }
}

/// Whether `text` has what looks like a tag (`<` then a letter, `/` or `!`) or an entity (`&` then
/// a letter or `#`, up to a `;`).
fn has_markup(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(at, &b)| match b {
        b'<' => bytes.get(at + 1).is_some_and(|&next| next.is_ascii_alphabetic() || next == b'/' || next == b'!'),
        b'&' => {
            bytes.get(at + 1).is_some_and(|&next| next.is_ascii_alphabetic() || next == b'#')
                && bytes[at + 1..].iter().take(12).any(|&c| c == b';')
        }
        _ => false,
    })
}

/// The name of the tag starting at `rest` (after the `<` and an optional `/`), as written.
fn tag_name(rest: &str) -> &str {
    let end = rest.bytes().position(|b| !b.is_ascii_alphanumeric()).unwrap_or(rest.len());
    &rest[..end]
}

/// Whether `name` is one of `tags`, ignoring ASCII case.
fn is_one_of(name: &str, tags: &[&str]) -> bool {
    tags.iter().any(|tag| tag.eq_ignore_ascii_case(name))
}

/// `text` with its tags removed: block-level tags become a paragraph break, hidden elements and
/// comments disappear, a `<` that does not open a tag stays.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            out.push(' ');
            continue;
        }
        let closing = after.starts_with('/');
        let name = tag_name(after.trim_start_matches('/'));
        let is_tag =
            (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphabetic())) || after.starts_with('!');
        if !is_tag {
            out.push('<');
            rest = after;
            continue;
        }
        let Some(close) = after.find('>') else {
            // no `>` anywhere after this one: no later tag can close either, so the rest is text
            out.push('<');
            rest = after;
            break;
        };
        rest = &after[close + 1..];
        if !closing && is_one_of(name, HIDDEN_TAGS) {
            let end = format!("</{name}");
            rest = find_ignoring_case(rest, &end)
                .map_or("", |at| rest[at..].find('>').map_or("", |gt| &rest[at + gt + 1..]));
            out.push(' ');
            continue;
        }
        if is_one_of(name, BLOCK_TAGS) {
            out.push_str("\n\n");
        } else if !out.ends_with(char::is_whitespace) && rest.starts_with(char::is_whitespace) {
            out.push(' ');
        }
    }
    out.push_str(rest);
    out
}

/// The byte offset of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ignoring_case(haystack: &str, needle: &str) -> Option<usize> {
    let (hay, needle) = (haystack.as_bytes(), needle.as_bytes());
    hay.windows(needle.len()).position(|window| window.eq_ignore_ascii_case(needle))
}

// -------------------------------------------------------------------------------------------------
// with offsets (explanations)

/// [`to_text`], each character with the bytes of `text` it was read from, and the byte ranges of the
/// markup dropped (tags, comments, hidden elements) pushed to `markup`. Characters that stand in for
/// a tag (a paragraph break, a space) carry the tag's range.
pub fn to_text_placed(text: &str, markup: &mut Vec<Range<usize>>) -> Vec<Placed> {
    if !has_markup(text) {
        return placed(text, 0);
    }
    decode_placed(&strip_tags_placed(text, markup))
}

/// The characters of `text`, which starts at byte `offset` of the text as sent.
fn placed(text: &str, offset: usize) -> Vec<Placed> {
    text.char_indices().map(|(at, c)| Placed::new(c, offset + at, offset + at + c.len_utf8())).collect()
}

/// [`strip_tags`] keeping each character's origin: the same scan, pushing what it pushes.
fn strip_tags_placed(text: &str, markup: &mut Vec<Range<usize>>) -> Vec<Placed> {
    let mut out: Vec<Placed> = Vec::with_capacity(text.len());
    let stand_in = |out: &mut Vec<Placed>, s: &str, range: &Range<usize>| {
        out.extend(s.chars().map(|c| Placed::new(c, range.start, range.end)));
    };
    let mut rest_at = 0;
    while let Some(open) = text[rest_at..].find('<') {
        let open = rest_at + open;
        out.extend(placed(&text[rest_at..open], rest_at));
        let after_at = open + 1;
        let after = &text[after_at..];
        if let Some(comment) = after.strip_prefix("!--") {
            let comment_at = after_at + 3;
            rest_at = comment.find("-->").map_or(text.len(), |end| comment_at + end + 3);
            let range = open..rest_at;
            stand_in(&mut out, " ", &range);
            markup.push(range);
            continue;
        }
        let closing = after.starts_with('/');
        let name = tag_name(after.trim_start_matches('/'));
        let is_tag =
            (!name.is_empty() && name.starts_with(|c: char| c.is_ascii_alphabetic())) || after.starts_with('!');
        if !is_tag {
            out.push(Placed::new('<', open, open + 1));
            rest_at = after_at;
            continue;
        }
        let Some(close) = after.find('>') else {
            out.push(Placed::new('<', open, open + 1));
            rest_at = after_at;
            break;
        };
        rest_at = after_at + close + 1;
        if !closing && is_one_of(name, HIDDEN_TAGS) {
            let end = format!("</{name}");
            let rest = &text[rest_at..];
            rest_at = find_ignoring_case(rest, &end)
                .map_or(text.len(), |at| rest[at..].find('>').map_or(text.len(), |gt| rest_at + at + gt + 1));
            let range = open..rest_at;
            stand_in(&mut out, " ", &range);
            markup.push(range);
            continue;
        }
        let range = open..rest_at;
        if is_one_of(name, BLOCK_TAGS) {
            stand_in(&mut out, "\n\n", &range);
        } else if !out.last().is_some_and(|p| p.c.is_whitespace()) && text[rest_at..].starts_with(char::is_whitespace) {
            stand_in(&mut out, " ", &range);
        }
        markup.push(range);
    }
    out.extend(placed(&text[rest_at..], rest_at));
    out
}

/// Longest entity read (`&` to `;`), in characters.
const MAX_ENTITY_CHARS: usize = 32;

/// The entities of `chars` decoded, each decoded character carrying the entity's range: what
/// `html_escape::decode_html_entities` does to the text, one entity at a time.
fn decode_placed(chars: &[Placed]) -> Vec<Placed> {
    let mut out = Vec::with_capacity(chars.len());
    let mut at = 0;
    while at < chars.len() {
        let here = chars[at];
        if here.c != '&' {
            out.push(here);
            at += 1;
            continue;
        }
        let name_len = chars[at + 1..]
            .iter()
            .take(MAX_ENTITY_CHARS)
            .take_while(|p| p.c.is_ascii_alphanumeric() || p.c == '#')
            .count();
        let semicolon = at + 1 + name_len;
        if name_len == 0 || chars.get(semicolon).is_none_or(|p| p.c != ';') {
            out.push(here);
            at += 1;
            continue;
        }
        let entity: String = chars[at..=semicolon].iter().map(|p| p.c).collect();
        if let Cow::Owned(decoded) = html_escape::decode_html_entities(&entity) {
            let (start, end) = (here.start, chars[semicolon].end);
            out.extend(decoded.chars().map(|c| Placed::new(c, start as usize, end as usize)));
            at = semicolon + 1;
        } else {
            out.push(here);
            at += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        let text = "Profits rose 5% & more in Q1 < Q2, said R&D.";
        assert!(matches!(to_text(text), Cow::Borrowed(_)));
    }

    #[test]
    fn markup_reads_as_its_text() {
        let html = "<p>The minister&nbsp;said it&#8217;s <b>over</b>.</p><p>Talks end &amp; start</p>";
        let text = to_text(html);
        assert_eq!(
            text.split_whitespace().collect::<Vec<_>>().join(" "),
            "The minister said it\u{2019}s over. Talks end & start"
        );
        assert!(text.contains("\n\n"), "paragraphs stay apart: {text:?}");
    }

    #[test]
    fn scripts_styles_and_comments_are_not_text() {
        let html =
            "<div>Before<script type=\"x\">var a = \"<p>\";</script><!-- ad slot -->After<STYLE>p{}</STYLE></div>";
        assert_eq!(to_text(html).split_whitespace().collect::<Vec<_>>(), ["Before", "After"]);
    }

    #[test]
    fn an_unclosed_tag_is_text() {
        // no `>` after them: every `<a` is text, and the scan ends at the first
        let text = "<a".repeat(1000) + " &amp; more";
        assert_eq!(to_text(&text), "<a".repeat(1000) + " & more");
        assert_eq!(to_text("<p>kept</p> then <a href=x"), "\n\nkept\n\n then <a href=x");
    }

    #[test]
    fn a_lone_angle_bracket_stays() {
        assert_eq!(to_text("a <b and c &amp; d"), "a <b and c & d");
        assert_eq!(to_text("x < 3 &amp; y"), "x < 3 & y");
    }
}
