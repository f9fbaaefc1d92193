//! Deterministic synthetic news: the one text generator of the load generator (`dedupd bench
//! --synthetic`), the benchmarks and the tests.
//!
//! Words are pseudo-words from a fixed syllable table (letters only, one per rank) between English
//! function words, which the fingerprint keeps in its skeleton. Everything is a function of its
//! arguments, so any text can be made alone, in any order, on any machine.
//!
//! - [`Synthetic`]: a stream of news articles, originals and spun copies of them;
//! - [`spun`]: a copy of any text with a share of its content words swapped and a footer added;
//! - [`prose`] and [`word`]: texts made of numbered words, for tests that need two texts to share
//!   exactly a given stretch.

use std::ops::Range;

use crate::domain::{Article, Micros};

/// Deterministic synthetic news for load runs of any size.
///
/// Article *i* is either an original (its own story) or, with probability [`Synthetic::COPY_SHARE`],
/// a copy of one of the few hundred stories before it: about 12% of its content words swapped for
/// other words, sometimes cut to an excerpt, always with an aggregator footer and published hours
/// later. Content words are drawn with a Zipf-like law (a few words are very common, most are rare,
/// as in news). Texts are about 330 words (~2.2 KB), the length of a typical news article.
pub struct Synthetic {
    seed: u64,
}

/// Function words: spinners leave them alone, and so do [`spun`] copies.
pub const FUNCTION_WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "for", "on", "with", "that", "was", "is", "by", "at", "from", "as", "has",
    "were", "which", "after", "over", "their", "its", "into", "but", "not", "had", "have", "been", "would", "this",
    "they", "he", "she", "when", "than", "more",
];
const SYLLABLES: &[&str] = &[
    "ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu", "na", "pe", "ri", "so", "tu", "va", "we", "xi", "yo",
    "zu", "bra", "cle", "dri", "fro", "glu", "pla", "tre", "sti", "mon", "ver", "lan", "tor",
];
/// Distinct content words of [`Synthetic`] articles.
const VOCABULARY: u64 = 20_000;
const BASE_MICROS: Micros = 1_700_000_000_000_000;
/// What every [`spun`] copy ends with: an aggregator's footer.
const FOOTER: &str = "\n\nRead more news like this on our site. All trademarks belong to their owners. Related articles. Share this story.";

impl Synthetic {
    /// Share of articles that are copies of an earlier story.
    pub const COPY_SHARE: u64 = 33;
    /// How far back (in articles) a copy's original may be.
    const COPY_REACH: u64 = 500;

    /// A stream of articles for this seed: the same seed gives the same articles.
    pub fn new(seed: u64) -> Self {
        Synthetic { seed }
    }

    /// The generator of one decision about article `index`.
    fn rng(&self, index: u64, purpose: u64) -> SplitMix {
        SplitMix(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ purpose)
    }

    /// The story article `index` copies, if it is a copy.
    fn copies(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return None;
        }
        let mut rng = self.rng(index, 1);
        (rng.below(100) < Self::COPY_SHARE).then(|| index - 1 - rng.below(index.min(Self::COPY_REACH)))
    }

    /// The original story of article `index` (following copies of copies back to an original).
    pub fn story(&self, index: u64) -> u64 {
        let mut current = index;
        while let Some(earlier) = self.copies(current) {
            current = earlier;
        }
        current
    }

    /// Article `index` of the stream: id `s{seed}-{index}`, an original on a wire source or a copy
    /// on an aggregator.
    pub fn article(&self, index: u64) -> Article {
        let story = self.story(index);
        let mut text = self.story_text(story);
        let copy = story != index;
        let mut published = BASE_MICROS + story as i64 * 60_000_000;
        if copy {
            let mut rng = self.rng(index, 2);
            text = spin(&text, &mut rng);
            published += (1 + rng.below(72)) as i64 * 3_600_000_000;
        }
        let source =
            if copy { format!("aggregator{}.example", index % 20) } else { format!("wire{}.example", story % 50) };
        Article {
            id: format!("s{}-{index}", self.seed),
            url: format!("https://{source}/{index}"),
            title: format!("Story {story}"),
            source,
            body: text,
            published_at: Some(published),
        }
    }

    /// The original text of `story`: 250 to 410 words in sentences, about a third of them function
    /// words and one in 25 a number. Unrelated to every other story's text.
    pub fn story_text(&self, story: u64) -> String {
        let mut rng = self.rng(story, 3);
        let words = 250 + rng.below(160) as usize;
        sentences(&mut rng, words)
    }
}

/// A text of exactly `words` words, made as [`Synthetic`] stories are: the same seed gives the same
/// text, and different seeds give unrelated texts.
pub fn text(seed: u64, words: usize) -> String {
    sentences(&mut SplitMix(seed ^ 0x5EED_0FA2_71C1_E000), words.max(1))
}

/// `words` words in sentences, about a third of them function words and one in 25 a number.
fn sentences(rng: &mut SplitMix, words: usize) -> String {
    let mut text = String::with_capacity(words * 7);
    let mut sentence = 0;
    for position in 0..words {
        if position > 0 {
            text.push(' ');
        }
        let draw = rng.below(100);
        if draw < 35 {
            text.push_str(FUNCTION_WORDS[rng.below(FUNCTION_WORDS.len() as u64) as usize]);
        } else if draw < 39 {
            text.push_str(&(1 + rng.below(9_999)).to_string());
        } else {
            push_word(&mut text, zipf(rng));
        }
        sentence += 1;
        if sentence > 8 && rng.below(10) == 0 {
            text.push('.');
            sentence = 0;
        }
    }
    text.push('.');
    text
}

/// A word rank in `0..VOCABULARY` with P(rank) roughly proportional to 1 / rank.
fn zipf(rng: &mut SplitMix) -> u64 {
    let uniform = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    ((VOCABULARY as f64).powf(uniform) as u64).saturating_sub(1).min(VOCABULARY - 1)
}

/// The pseudo-word of a rank: two or three syllables picked by the rank's digits in base 32.
fn push_word(text: &mut String, rank: u64) {
    let scrambled = rank.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 20;
    let syllables = 2 + (scrambled % 2) as usize;
    for position in 0..syllables {
        text.push_str(SYLLABLES[((scrambled >> (1 + 5 * position)) % SYLLABLES.len() as u64) as usize]);
    }
    // the rank itself, in letters, keeps every rank's word distinct
    let mut rest = rank;
    while rest > 0 {
        text.push((b'a' + (rest % 26) as u8) as char);
        rest /= 26;
    }
}

/// The content word of rank `rank`: letters only (no digit, so never a number to the fingerprint),
/// and a different word for every rank.
pub fn word(rank: u64) -> String {
    let mut word = String::new();
    push_word(&mut word, rank);
    word
}

/// The words `words` of an endless text whose word *k* is a function word when k is a multiple of
/// three and [`word`]`(k)` otherwise: two ranges share exactly the words of their intersection.
pub fn prose(words: Range<u64>) -> String {
    let mut text = String::new();
    for k in words {
        if !text.is_empty() {
            text.push(' ');
        }
        if k.is_multiple_of(3) {
            text.push_str(FUNCTION_WORDS[(k % FUNCTION_WORDS.len() as u64) as usize]);
        } else {
            push_word(&mut text, k);
        }
    }
    text
}

/// A spun copy of `text`, as article spinners make them: about `percent`% of its content words (not
/// function words, not numbers) swapped for other words, and an aggregator footer appended.
/// Deterministic for a `seed`.
pub fn spun(text: &str, percent: u64, seed: u64) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    respin(&words, percent, &mut SplitMix(seed))
}

/// A [`Synthetic`] copy: a third of copies cut to an excerpt (40–80% of the words, from the start),
/// then [`respin`] at 12%.
fn spin(text: &str, rng: &mut SplitMix) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let keep = if rng.below(3) == 0 { words.len() * (40 + rng.below(40) as usize) / 100 } else { words.len() };
    respin(&words[..keep.clamp(1, words.len())], 12, rng)
}

/// `words` with about `percent`% of the content words replaced, then the footer.
fn respin(words: &[&str], percent: u64, rng: &mut SplitMix) -> String {
    let mut copy = String::with_capacity(words.iter().map(|w| w.len() + 1).sum::<usize>() + FOOTER.len());
    for (position, word) in words.iter().enumerate() {
        if position > 0 {
            copy.push(' ');
        }
        let content = !FUNCTION_WORDS.contains(word) && !word.starts_with(|c: char| c.is_ascii_digit());
        if content && rng.below(100) < percent {
            push_word(&mut copy, zipf(rng));
        } else {
            copy.push_str(word);
        }
    }
    copy.push_str(FOOTER);
    copy
}

/// splitmix64: small, fast and the same on every platform, which is all synthetic text (and a test's
/// shuffle) needs. The state is the seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), uniform enough for test data.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// The items of `items` in a random order (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_articles_are_deterministic_and_ids_unique() {
        let a = Synthetic::new(7);
        let b = Synthetic::new(7);
        let first: Vec<Article> = (0..200).map(|i| a.article(i)).collect();
        let again: Vec<Article> = (0..200).rev().map(|i| b.article(i)).rev().collect();
        assert_eq!(first, again);
        let ids: std::collections::HashSet<&str> = first.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids.len(), first.len());
        let copies = (0..200).filter(|&i| a.story(i) != i).count();
        assert!((30..100).contains(&copies), "{copies} copies of 200");
    }

    #[test]
    fn copies_are_published_after_their_story() {
        let synthetic = Synthetic::new(3);
        for index in 0..300 {
            let story = synthetic.story(index);
            if story != index {
                assert!(synthetic.article(index).published_at > synthetic.article(story).published_at);
            }
        }
    }

    #[test]
    fn words_are_letters_and_distinct_and_prose_ranges_share_their_intersection() {
        let words: Vec<String> = (0..5_000).map(word).collect();
        assert!(words.iter().all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())));
        assert_eq!(words.iter().collect::<std::collections::HashSet<_>>().len(), words.len());
        let (whole, tail) = (prose(0..90), prose(60..90));
        assert!(whole.ends_with(&tail), "word k is the same word in every range");
        assert_eq!(whole.split(' ').count(), 90);
    }

    #[test]
    fn texts_have_their_length_and_depend_on_their_seed_only() {
        for words in [1, 25, 300, 5_000] {
            let made = text(3, words);
            assert_eq!(made.split(' ').count(), words);
            assert_eq!(made, text(3, words), "deterministic");
        }
        let (a, b) = (text(1, 300), text(2, 300));
        let a_words: std::collections::HashSet<&str> = a.split(' ').filter(|w| w.len() > 6).collect();
        let shared = b.split(' ').filter(|w| a_words.contains(w)).count();
        assert!(shared < 30, "two seeds share {shared} of 300 words");
        let mut items: Vec<u32> = (0..50).collect();
        SplitMix(4).shuffle(&mut items);
        assert_ne!(items, (0..50).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..50).collect::<Vec<_>>(), "a shuffle keeps every item");
    }

    #[test]
    fn a_spun_copy_keeps_function_words_and_numbers_and_adds_the_footer() {
        let text = Synthetic::new(5).story_text(1);
        let copy = spun(&text, 30, 9);
        assert_eq!(copy, spun(&text, 30, 9), "deterministic");
        assert!(copy.ends_with(FOOTER));
        let (original, copied): (Vec<&str>, Vec<&str>) =
            (text.split(' ').collect(), copy.trim_end_matches(FOOTER).split(' ').collect());
        assert_eq!(original.len(), copied.len());
        let kept = |w: &&str| FUNCTION_WORDS.contains(w) || w.starts_with(|c: char| c.is_ascii_digit());
        assert!(original.iter().zip(&copied).filter(|(o, _)| kept(o)).all(|(o, c)| o == c));
        let swapped = original.iter().zip(&copied).filter(|(o, c)| o != c).count();
        assert!(swapped > original.len() / 10, "{swapped} of {} words swapped", original.len());
        assert_eq!(spun(&text, 0, 9).trim_end_matches(FOOTER), text);
    }
}
