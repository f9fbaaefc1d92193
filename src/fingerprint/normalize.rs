//! Text normalisation: the step that makes cosmetic variants of the same text byte-identical.
//!
//! Copycat sites change what a reader does not see: curly vs straight quotes, dash styles, NFKC variants
//! (full-width letters, ligatures), invisible characters (zero-width spaces, soft hyphens, bidi marks)
//! and homoglyphs (Cyrillic "а" inside a Latin word). Everything here folds those away; letter case is
//! folded too, by the tokeniser, which records whether a word was capitalised as a separate signal.
//!
//! ASCII text (most English news) needs none of this, so [`normalize`] borrows it unchanged; only text
//! with non-ASCII characters pays for NFKC.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use super::reading::Placed;

/// Characters that render as nothing (or are only layout hints) and are dropped, so that a word with a
/// zero-width space or soft hyphen inside is still the same word.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'            // soft hyphen
        | '\u{034F}'          // combining grapheme joiner
        | '\u{061C}'          // arabic letter mark
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // hangul fillers
        | '\u{180E}'          // mongolian vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space/non-joiner/joiner, lrm, rlm
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{206F}' // bidi isolates, deprecated format characters
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}'          // byte order mark / zero-width no-break space
    )
}

/// Folds typographic variants to one form: quotes to `'` and `"`, dashes to `-`, every kind of space to
/// ` `. Other characters are returned unchanged.
pub fn fold_punctuation(c: char) -> char {
    match c {
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '`' | '\u{00B4}' => '\'',
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' | '\u{00AB}' | '\u{00BB}' => '"',
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => '-',
        c if c.is_whitespace() => ' ',
        c => c,
    }
}

/// The Latin letter a lowercase Cyrillic or Greek letter is commonly passed off as, if any.
///
/// Applied by the tokeniser only inside words that also contain Latin letters, or to a one- or
/// two-letter word of lookalikes between two Latin words, so Russian or Greek text is left alone.
#[expect(clippy::match_same_arms, reason = "one arm per script and letter, as the tables are checked")]
pub fn latin_lookalike(c: char) -> Option<char> {
    let latin = match c {
        // cyrillic
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'н' | 'һ' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' | 'ү' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ӏ' => 'l',
        'ԛ' => 'q',
        'ԝ' => 'w',
        // greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        _ => return None,
    };
    Some(latin)
}

/// NFKC-normalises `text` and drops invisible characters and folds punctuation. ASCII text is returned
/// as is (it is already in that form).
pub fn normalize(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    if let Some(folded) = fold_news_text(text) {
        return Cow::Owned(folded);
    }
    // invisibles go before NFKC: one between a letter and its combining mark (a combining grapheme
    // joiner) keeps them from composing, and dropped afterwards it would leave them uncomposed, a
    // text that a second pass changes and that differs from the same text without it
    let text: Cow<'_, str> = if text.chars().any(is_invisible) {
        Cow::Owned(text.chars().filter(|&c| !is_invisible(c)).collect())
    } else {
        Cow::Borrowed(text)
    };
    let fold = |c: char| (!is_invisible(c)).then(|| fold_punctuation(c));
    // most non-ASCII news text (curly quotes, accented letters) is already in NFKC: the quick check
    // answers that without the much slower decomposition and recomposition
    if unicode_normalization::is_nfkc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        return Cow::Owned(text.chars().filter_map(fold).collect());
    }
    Cow::Owned(text.nfkc().filter_map(fold).collect())
}

/// [`normalize`] of the non-ASCII text most news is (ASCII with curly quotes, dashes, accented
/// letters, currency signs, non-breaking spaces, ellipses), in one pass and without NFKC's machinery;
/// `None` for text with anything else (combining marks, scripts whose letters compose, compatibility
/// forms that are not ASCII), which takes the general path. Exactly what that path returns: every
/// character is a starter that NFKC leaves alone or maps to ASCII (which nothing composes with), so
/// NFKC changes nothing else. Why: the general path (NFKC's quick check, a fold and a `String::push`
/// per character) costs most of a fingerprint of such a text, where this path costs little more than
/// ASCII does (`cargo bench --bench fingerprint`, `4KB-unicode`). ASCII runs are copied through a
/// table, and non-ASCII characters are looked up through a small cache ([`FOLD_CACHE`]). A text that
/// turns out to need the general path (a combining mark near its end) pays for both.
fn fold_news_text(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    // what each non-ASCII character folds to, direct-mapped by its code point ('\0': empty)
    let mut folds: [(char, Folded); FOLD_CACHE] = [('\0', ([0; 8], 0)); FOLD_CACHE];
    let mut at = 0;
    while at < bytes.len() {
        let run = bytes[at..].iter().position(|b| !b.is_ascii()).unwrap_or(bytes.len() - at);
        out.extend(bytes[at..at + run].iter().map(|&b| ASCII_FOLDED[usize::from(b)]));
        at += run;
        if at == bytes.len() {
            break;
        }
        // `at` is where a non-ASCII character starts
        let c = text.get(at..)?.chars().next()?;
        at += c.len_utf8();
        if is_stable_ideograph(c) {
            let mut buffer = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        let slot = &mut folds[c as usize % FOLD_CACHE];
        if slot.0 != c {
            *slot = (c, fold_stable(c)?);
        }
        let (folded, len) = &slot.1;
        out.extend_from_slice(&folded[..usize::from(*len)]);
    }
    String::from_utf8(out).ok()
}

/// Slots of [`fold_news_text`]'s cache of folded characters: the letters of an alphabet (Cyrillic,
/// Greek, accented Latin) get one each; CJK skips it ([`is_stable_ideograph`]).
const FOLD_CACHE: usize = 128;

/// CJK unified ideographs and precomposed Hangul syllables: starters that NFKC leaves alone (what
/// [`fold_stable`] finds for each, a unit test checks them all) and too many to cache, so they skip
/// the lookup: through the cache, Chinese text was slower than the general path.
fn is_stable_ideograph(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')
}

/// A character's fold: up to 8 bytes of UTF-8, and how many of them there are.
type Folded = ([u8; 8], u8);

/// What [`normalize`] makes of one non-ASCII character (UTF-8, up to 8 bytes, and their count) when
/// that is the same in any context: nothing for an invisible one; the character folded when NFKC
/// leaves it alone and it is a starter; its NFKC folded when that is ASCII (≤ 8 bytes, which nothing
/// composes with). `None` otherwise.
fn fold_stable(c: char) -> Option<Folded> {
    use unicode_normalization::IsNormalized;
    use unicode_normalization::char::canonical_combining_class;
    let mut out: Folded = ([0; 8], 0);
    if is_invisible(c) {
        return Some(out);
    }
    if canonical_combining_class(c) != 0 {
        return None;
    }
    match unicode_normalization::is_nfkc_quick(std::iter::once(c)) {
        IsNormalized::Yes => {
            let folded = fold_punctuation(c).encode_utf8(&mut out.0[..4]).len();
            out.1 = folded as u8;
        }
        IsNormalized::Maybe => return None,
        IsNormalized::No => {
            for mapped in std::iter::once(c).nfkc().map(fold_punctuation) {
                if !mapped.is_ascii() || usize::from(out.1) == out.0.len() {
                    return None;
                }
                out.0[usize::from(out.1)] = mapped as u8;
                out.1 += 1;
            }
        }
    }
    Some(out)
}

/// [`fold_punctuation`] of every ASCII byte: ASCII whitespace to a space, the backtick to `'`.
const ASCII_FOLDED: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = match byte as u8 {
            b'\t' | b'\n' | 0x0B | 0x0C | b'\r' => b' ',
            b'`' => b'\'',
            other => other,
        };
        byte += 1;
    }
    table
};

// -------------------------------------------------------------------------------------------------
// with offsets (explanations)

/// [`normalize`] of placed characters, each output character carrying the origin of what it was made
/// from. NFKC is applied per starter and the combining marks after it (which is where it composes),
/// so a text whose composition crosses starters (Hangul jamo) may normalise slightly differently
/// from [`normalize`]; the explanation it serves only points at words.
pub fn normalize_placed(chars: Vec<Placed>) -> Vec<Placed> {
    if chars.iter().all(|p| p.c.is_ascii()) {
        return chars;
    }
    let mut out = Vec::with_capacity(chars.len());
    let mut cluster = String::new();
    let mut at = 0;
    while at < chars.len() {
        let mut end = at + 1;
        while chars.get(end).is_some_and(|p| unicode_normalization::char::canonical_combining_class(p.c) != 0) {
            end += 1;
        }
        let (start, stop) = (chars[at].start as usize, chars[end - 1].end as usize);
        cluster.clear();
        cluster.extend(chars[at..end].iter().map(|p| p.c));
        out.extend(cluster.nfkc().filter(|&c| !is_invisible(c)).map(|c| Placed::new(fold_punctuation(c), start, stop)));
        at = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Found by the `fingerprint` fuzz target: a combining grapheme joiner between a letter and its
    /// mark kept them apart through NFKC, so a second pass composed them.
    #[test]
    fn an_invisible_between_a_letter_and_its_mark_does_not_keep_them_apart() {
        let hidden = "zu A\u{034F}\u{0308}rger";
        assert_eq!(normalize(hidden), "zu \u{00C4}rger");
        assert_eq!(normalize(&normalize(hidden)), normalize(hidden));
    }

    /// The general path alone: invisibles out, NFKC, then the fold.
    fn general(text: &str) -> String {
        let visible: String = text.chars().filter(|&c| !is_invisible(c)).collect();
        visible.nfkc().filter(|&c| !is_invisible(c)).map(fold_punctuation).collect()
    }

    proptest! {
        #[test]
        fn the_news_text_path_agrees_with_nfkc(chars in prop::collection::vec(prop::sample::select(&[
            'a', 'Z', ' ', '\n', '`', '\'', '.', '1', '\u{2019}', '\u{201C}', '\u{2014}', '\u{00A0}', '\u{2026}',
            '\u{00E9}', '\u{00A3}', '\u{20AC}', '\u{2033}', '\u{FB01}', '\u{FF21}', '\u{0301}', '\u{3164}',
            '\u{FFA0}', '\u{1FEF}', '\u{FE58}', '\u{0410}', '\u{0419}', '\u{0306}',
            '\u{1100}', '\u{1161}', '\u{AC00}', '\u{11A8}', '\u{200B}', '\u{00AD}', '\u{3000}', '\u{0430}',
            '\u{4E2D}', '\u{0627}', '\u{0651}', '\u{2126}', '\u{212B}', '\u{00BD}', '\u{2002}',
        ][..]), 0..40)) {
            let text: String = chars.into_iter().collect();
            if let Some(fast) = fold_news_text(&text) {
                prop_assert_eq!(fast, general(&text));
            }
            prop_assert_eq!(normalize(&text).into_owned(), if text.is_ascii() { text.clone() } else { general(&text) });
        }

        #[test]
        fn any_text_normalizes_as_nfkc_does(
            text in any::<String>(),
            news in "[a-z .,\u{2018}-\u{201D}\u{2014}\u{00E0}-\u{00FF}]{0,60}",
        ) {
            // any code points (mostly taking the general path), and news-like text (mostly the fast one)
            for text in [text, news] {
                let expected = if text.is_ascii() { text.clone() } else { general(&text) };
                prop_assert_eq!(normalize(&text).into_owned(), expected);
            }
        }
    }

    #[test]
    fn the_ascii_table_is_fold_punctuation() {
        for byte in 0..128u8 {
            assert_eq!(ASCII_FOLDED[usize::from(byte)] as char, fold_punctuation(byte as char), "byte {byte}");
        }
    }

    #[test]
    fn stable_ideographs_are_what_fold_stable_finds() {
        for c in ('\u{4E00}'..='\u{9FFF}').chain('\u{AC00}'..='\u{D7A3}') {
            assert!(is_stable_ideograph(c));
            let mut expected = [0u8; 8];
            let len = c.encode_utf8(&mut expected[..4]).len();
            assert_eq!(fold_stable(c), Some((expected, len as u8)), "{c:?}");
        }
    }

    #[test]
    fn news_text_takes_the_fast_path() {
        let text = "\u{201C}It\u{2019}s \u{00A3}5\u{00A0}m \u{2014} caf\u{00E9}\u{2026}\u{201D} \u{FB01}ne";
        assert_eq!(fold_news_text(text).as_deref(), Some("\"It's \u{00A3}5 m - caf\u{00E9}...\" fine"));
        assert_eq!(fold_news_text("e\u{0301}"), None, "a combining mark takes the general path");
    }

    #[test]
    fn ascii_is_borrowed_unchanged() {
        assert!(matches!(normalize("Plain ASCII, text."), Cow::Borrowed("Plain ASCII, text.")));
    }

    #[test]
    fn folds_quotes_dashes_and_spaces() {
        assert_eq!(normalize("\u{201C}it\u{2019}s\u{201D} \u{2014} a\u{00A0}test"), "\"it's\" - a test");
    }

    #[test]
    fn drops_invisible_characters() {
        assert_eq!(normalize("re\u{00AD}port\u{200B}ed \u{FEFF}x"), "reported x");
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        // full-width letters and the "fi" ligature
        assert_eq!(normalize("\u{FF21}\u{FF22} \u{FB01}ne"), "AB fine");
    }
}
