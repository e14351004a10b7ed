//! Korean-aware text analysis without a dictionary (Lucene's CJK bigram idea): Hangul runs
//! become overlapping bigrams, Latin and digit runs (brands, model numbers) stay whole, and
//! Hangul words are also decomposed into jamo (for typo tolerance) and reduced to their
//! initial consonants (초성 search).

/// A token and where it came from in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    /// Byte offsets in the analysed text.
    pub from: usize,
    pub to: usize,
    pub position: usize,
}

use super::units;

const SYLLABLES: std::ops::RangeInclusive<u32> = 0xAC00..=0xD7A3;

const CHOSEONG: [char; 19] = [
    'ㄱ', 'ㄲ', 'ㄴ', 'ㄷ', 'ㄸ', 'ㄹ', 'ㅁ', 'ㅂ', 'ㅃ', 'ㅅ', 'ㅆ', 'ㅇ', 'ㅈ', 'ㅉ', 'ㅊ', 'ㅋ',
    'ㅌ', 'ㅍ', 'ㅎ',
];
const JUNGSEONG: [char; 21] = [
    'ㅏ', 'ㅐ', 'ㅑ', 'ㅒ', 'ㅓ', 'ㅔ', 'ㅕ', 'ㅖ', 'ㅗ', 'ㅘ', 'ㅙ', 'ㅚ', 'ㅛ', 'ㅜ', 'ㅝ', 'ㅞ',
    'ㅟ', 'ㅠ', 'ㅡ', 'ㅢ', 'ㅣ',
];
const JONGSEONG: [Option<char>; 28] = [
    None,
    Some('ㄱ'),
    Some('ㄲ'),
    Some('ㄳ'),
    Some('ㄴ'),
    Some('ㄵ'),
    Some('ㄶ'),
    Some('ㄷ'),
    Some('ㄹ'),
    Some('ㄺ'),
    Some('ㄻ'),
    Some('ㄼ'),
    Some('ㄽ'),
    Some('ㄾ'),
    Some('ㄿ'),
    Some('ㅀ'),
    Some('ㅁ'),
    Some('ㅂ'),
    Some('ㅄ'),
    Some('ㅅ'),
    Some('ㅆ'),
    Some('ㅇ'),
    Some('ㅈ'),
    Some('ㅊ'),
    Some('ㅋ'),
    Some('ㅌ'),
    Some('ㅍ'),
    Some('ㅎ'),
];

/// A precomposed Hangul syllable (가–힣).
pub fn is_syllable(c: char) -> bool {
    SYLLABLES.contains(&u32::from(c))
}

/// A consonant of the Hangul compatibility jamo block, as typed for a 초성 query (ㄱ–ㅎ).
pub fn is_consonant(c: char) -> bool {
    CHOSEONG.contains(&c)
}

/// The syllable's initial, medial and final jamo indices.
fn parts(c: char) -> Option<(usize, usize, usize)> {
    let index = u32::from(c)
        .checked_sub(0xAC00)
        .filter(|_| is_syllable(c))? as usize;
    Some((index / (21 * 28), (index % (21 * 28)) / 28, index % 28))
}

/// The word with each syllable spelled out in jamo (삼성 → ㅅㅏㅁㅅㅓㅇ); other letters are
/// lowercased and kept, so one typo is one edit.
pub fn jamo(word: &str) -> String {
    let mut out = String::with_capacity(word.len() * 2);
    for c in word.chars() {
        match parts(c) {
            Some((cho, jung, jong)) => {
                out.push(CHOSEONG[cho]);
                out.push(JUNGSEONG[jung]);
                if let Some(last) = JONGSEONG[jong] {
                    out.push(last);
                }
            }
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The initial consonants of the word's syllables (무선청소기 → ㅁㅅㅊㅅㄱ); `None` when the
/// word has no Hangul syllable.
pub fn choseong(word: &str) -> Option<String> {
    let initials: String = word
        .chars()
        .filter_map(parts)
        .map(|(cho, _, _)| CHOSEONG[cho])
        .collect();
    (!initials.is_empty()).then_some(initials)
}

/// A query word typed as initial consonants only (ㅁㅅㅊㅅㄱ).
pub fn is_choseong_query(word: &str) -> bool {
    word.chars().count() >= 2 && word.chars().all(is_consonant)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Hangul,
    Word,
    Connector,
    Other,
}

fn class(c: char) -> Class {
    if is_syllable(c) {
        Class::Hangul
    } else if c.is_alphanumeric() {
        Class::Word
    } else if matches!(c, '-' | '.' | '/' | '_' | '+') {
        Class::Connector
    } else {
        Class::Other
    }
}

/// A run of Hangul syllables, or a word of letters and digits, in a text.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Byte offsets in the text.
    pub start: usize,
    pub end: usize,
    pub hangul: bool,
}

/// Splits text into runs: Hangul syllables, and words of letters and digits that may be
/// joined by connectors (`SM-G991N`, `2.4GHz`).
pub fn runs(text: &str) -> Vec<Run> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let kind = class(c);
        if !matches!(kind, Class::Hangul | Class::Word) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() {
            let next = class(chars[j].1);
            let joins = match kind {
                Class::Hangul => next == Class::Hangul,
                // A connector joins two word characters only.
                _ => {
                    next == Class::Word
                        || (next == Class::Connector
                            && chars
                                .get(j + 1)
                                .is_some_and(|(_, c)| class(*c) == Class::Word))
                }
            };
            if !joins {
                break;
            }
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |(offset, _)| *offset);
        runs.push(Run {
            start,
            end,
            hangul: kind == Class::Hangul,
        });
        i = j;
    }
    runs
}

/// The tokens of the main text fields: Hangul bigrams (a lone syllable as itself), and each
/// Latin/digit word whole and lowercased; a word with connectors also gives its parts and its
/// parts joined (`sm-g991n`, `sm`, `g991n`, `smg991n`) at the same position.
pub fn tokens(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut position = 0;
    for Run { start, end, hangul } in runs(text) {
        let run = &text[start..end];
        if hangul {
            let offsets: Vec<usize> = run
                .char_indices()
                .map(|(o, _)| start + o)
                .chain([end])
                .collect();
            let syllables = offsets.len() - 1;
            if syllables == 1 {
                pieces.push(piece(text, start, end, position));
                position += 1;
            }
            for pair in offsets.windows(3) {
                pieces.push(piece(text, pair[0], pair[2], position));
                position += 1;
            }
            continue;
        }
        let whole = run.to_lowercase();
        let parts: Vec<&str> = run
            .split(|c: char| class(c) == Class::Connector)
            .filter(|p| !p.is_empty())
            .collect();
        pieces.push(Piece {
            text: whole,
            from: start,
            to: end,
            position,
        });
        // A quantity (`1.5L`, `2리터`, `65"`) also in its reduced form; its number is not split.
        let quantity = units::quantity_at(&text[start..]);
        let number = run.parse::<f64>().is_ok();
        if let Some((reduced, length)) = &quantity {
            pieces.push(Piece {
                text: reduced.clone(),
                from: start,
                to: start + length,
                position,
            });
        }
        if parts.len() > 1 && quantity.is_none() && !number {
            let mut offset = start;
            for part in &parts {
                let from = offset + run[offset - start..].find(part).unwrap_or(0);
                pieces.push(Piece {
                    text: part.to_lowercase(),
                    from,
                    to: from + part.len(),
                    position,
                });
                offset = from + part.len();
            }
            pieces.push(Piece {
                text: parts.concat().to_lowercase(),
                from: start,
                to: end,
                position,
            });
        }
        position += 1;
    }
    pieces
}

fn piece(text: &str, from: usize, to: usize, position: usize) -> Piece {
    Piece {
        text: text[from..to].to_owned(),
        from,
        to,
        position,
    }
}

/// The most syllables of a word the jamo and 초성 fields keep from where it starts: a query
/// matches a word's beginning, and no one types more than this many syllables as one word.
/// It keeps the expansion linear in the text: a run of n syllables gives at most n tokens of
/// at most this length, not n²/2 syllables.
pub const MAX_SUFFIX_SYLLABLES: usize = 12;

/// The first [`MAX_SUFFIX_SYLLABLES`] characters of a query word, as the index keeps them.
pub fn indexed_prefix(word: &str) -> &str {
    word.char_indices()
        .nth(MAX_SUFFIX_SYLLABLES)
        .map_or(word, |(end, _)| &word[..end])
}

/// Each Hangul run and each syllable boundary inside it, as the suffixes that start there (cut
/// to [`MAX_SUFFIX_SYLLABLES`]): the words a 초성 or typo query can start matching at.
fn hangul_suffixes(text: &str) -> Vec<(usize, usize, &str)> {
    let mut suffixes = Vec::new();
    for Run { start, end, hangul } in runs(text) {
        if !hangul {
            continue;
        }
        for (offset, _) in text[start..end].char_indices() {
            let from = start + offset;
            if end - from >= 2 * 3 || offset == 0 {
                let word = indexed_prefix(&text[from..end]);
                suffixes.push((from, from + word.len(), word));
            }
        }
    }
    suffixes
}

/// Tokens of the words field: each Hangul run (its first [`MAX_SUFFIX_SYLLABLES`] syllables)
/// and each Latin word of two letters or more, whole and lowercased; numbers are left out.
pub fn word_tokens(text: &str) -> Vec<Piece> {
    runs(text)
        .into_iter()
        .filter(|run| {
            let word = &text[run.start..run.end];
            run.hangul || (word.len() >= 2 && word.chars().any(char::is_alphabetic))
        })
        .enumerate()
        .map(|(position, run)| {
            let word = indexed_prefix(&text[run.start..run.end]);
            Piece {
                text: word.to_lowercase(),
                from: run.start,
                to: run.start + word.len(),
                position,
            }
        })
        .collect()
}

/// Tokens of the jamo field: each Hangul word's suffixes from every syllable, in jamo.
pub fn jamo_tokens(text: &str) -> Vec<Piece> {
    hangul_suffixes(text)
        .into_iter()
        .enumerate()
        .map(|(position, (from, to, word))| Piece {
            text: jamo(word),
            from,
            to,
            position,
        })
        .collect()
}

/// Tokens of the 초성 field: each Hangul word's suffixes from every syllable, as initials.
pub fn choseong_tokens(text: &str) -> Vec<Piece> {
    hangul_suffixes(text)
        .into_iter()
        .enumerate()
        .filter_map(|(position, (from, to, word))| {
            Some(Piece {
                text: choseong(word)?,
                from,
                to,
                position,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(pieces: Vec<Piece>) -> Vec<String> {
        pieces.into_iter().map(|p| p.text).collect()
    }

    #[test]
    fn hangul_runs_become_overlapping_bigrams() {
        assert_eq!(
            texts(tokens("무선청소기")),
            ["무선", "선청", "청소", "소기"]
        );
        assert_eq!(texts(tokens("새 청소기")), ["새", "청소", "소기"]);
    }

    #[test]
    fn latin_and_digit_runs_stay_whole_and_lowercased() {
        assert_eq!(
            texts(tokens("삼성 비스포크 VS20A956A 2in1")),
            ["삼성", "비스", "스포", "포크", "vs20a956a", "2in1"]
        );
        assert_eq!(
            texts(tokens("갤럭시 SM-G991N")),
            ["갤럭", "럭시", "sm-g991n", "sm", "g991n", "smg991n"]
        );
        assert_eq!(
            texts(tokens("Nike에어맥스")),
            ["nike", "에어", "어맥", "맥스"]
        );
    }

    #[test]
    fn offsets_point_into_the_text() {
        let text = "LG 코드제로 A9S";
        for piece in tokens(text) {
            assert_eq!(text[piece.from..piece.to].to_lowercase(), piece.text);
        }
    }

    #[test]
    fn jamo_and_initials() {
        assert_eq!(jamo("삼성"), "ㅅㅏㅁㅅㅓㅇ");
        assert_eq!(jamo("삼송"), "ㅅㅏㅁㅅㅗㅇ");
        assert_eq!(jamo("닭"), "ㄷㅏㄺ");
        assert_eq!(choseong("무선청소기").as_deref(), Some("ㅁㅅㅊㅅㄱ"));
        assert_eq!(choseong("LG"), None);
        assert!(is_choseong_query("ㅁㅅㅊㅅㄱ"));
        assert!(!is_choseong_query("ㅁ"));
        assert!(!is_choseong_query("무ㅅ"));
    }

    #[test]
    fn initials_and_jamo_are_indexed_from_every_syllable() {
        assert_eq!(
            texts(choseong_tokens("무선청소기")),
            ["ㅁㅅㅊㅅㄱ", "ㅅㅊㅅㄱ", "ㅊㅅㄱ", "ㅅㄱ"]
        );
        assert_eq!(texts(jamo_tokens("삼성")), ["ㅅㅏㅁㅅㅓㅇ"]);
    }

    #[test]
    fn long_runs_expand_linearly() {
        let run = "가".repeat(80_000);
        let tokens = choseong_tokens(&run);
        assert_eq!(tokens.len(), 79_999);
        assert!(
            tokens
                .iter()
                .all(|t| t.text.chars().count() <= MAX_SUFFIX_SYLLABLES)
        );
        assert_eq!(tokens.last().map(|t| t.text.as_str()), Some("ㄱㄱ"));
        assert_eq!(indexed_prefix(&"나".repeat(20)), "나".repeat(12));
    }

    proptest::proptest! {
        /// Highlights slice titles by these offsets: they must fall between characters,
        /// whatever the text (quantities next to letters that lowercase to other lengths too).
        #[test]
        fn every_token_lies_between_characters(
            text in "(\\PC|[0-9]{1,3}(\\.[0-9])?( )?(\u{212A}g|kg|KG|리터|ℓ|\"|İn|인치)){0,12}"
        ) {
            let all = [tokens(&text), word_tokens(&text), jamo_tokens(&text), choseong_tokens(&text)];
            for piece in all.into_iter().flatten() {
                proptest::prop_assert!(piece.from <= piece.to && piece.to <= text.len());
                proptest::prop_assert!(text.is_char_boundary(piece.from) && text.is_char_boundary(piece.to));
            }
        }
    }
}
