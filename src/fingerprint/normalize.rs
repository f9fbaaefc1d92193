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
/// Applied by the tokeniser only inside words that also contain Latin letters, so Russian or Greek text
/// is left alone.
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
    let fold = |c: char| (!is_invisible(c)).then(|| fold_punctuation(c));
    // most non-ASCII news text (curly quotes, accented letters) is already in NFKC: the quick check
    // answers that without the much slower decomposition and recomposition
    if unicode_normalization::is_nfkc_quick(text.chars()) == unicode_normalization::IsNormalized::Yes {
        return Cow::Owned(text.chars().filter_map(fold).collect());
    }
    Cow::Owned(text.nfkc().filter_map(fold).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
