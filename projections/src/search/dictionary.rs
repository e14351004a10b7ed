//! The search dictionary: groups of words that mean the same to a shopper (synonyms, and brands
//! and product lines in Hangul and Latin). Each group is a *concept*; the index tags a product
//! with the concepts its text names, and a query word that is all dictionary words also matches
//! their concepts, so `랩탑` finds a `노트북` and `갤럭시` finds a `Galaxy`.
//!
//! A dictionary is pinned to a search generation: the index keeps the copy it was built with
//! beside its files, since its documents carry that copy's concepts.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::analyzer::{Run, runs};

/// The dictionary Eventmall ships with.
pub const BUILT_IN: &str = include_str!("dictionary.txt");

/// Bounds on a dictionary, so a bad file cannot make every document expensive.
pub const MAX_GROUPS: usize = 20_000;
pub const MAX_WORDS_IN_GROUP: usize = 32;
pub const MAX_WORD_CHARS: usize = 24;
/// The longest Hangul word looked for inside a run, in syllables.
const LONGEST_HANGUL: usize = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DictionaryError {
    #[error("dictionary line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("dictionary has more than {MAX_GROUPS} groups")]
    TooLarge,
}

#[derive(Clone, Debug)]
pub struct Dictionary {
    text: String,
    /// Each word, normalised, and the concept (group) it belongs to.
    words: HashMap<String, u32>,
}

/// A word as the dictionary keys it: lowercased, without spaces, hyphens or dots.
fn normalise(word: &str) -> String {
    word.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '_' | '/' | '+'))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Dictionary {
    /// Reads a dictionary: a group a line, words separated by commas, `#` comments.
    pub fn parse(text: &str) -> Result<Self, DictionaryError> {
        let mut words = HashMap::new();
        let mut groups = 0u32;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let refuse = |reason: String| DictionaryError::Line {
                line: n + 1,
                reason,
            };
            let group: Vec<String> = line.split(',').map(normalise).collect();
            if group.len() < 2 || group.len() > MAX_WORDS_IN_GROUP {
                return Err(refuse(format!(
                    "a group has 2 to {MAX_WORDS_IN_GROUP} words, this one {}",
                    group.len()
                )));
            }
            for word in &group {
                if word.is_empty() || word.chars().count() > MAX_WORD_CHARS {
                    return Err(refuse(format!(
                        "a word has 1 to {MAX_WORD_CHARS} characters"
                    )));
                }
                if !word.chars().all(char::is_alphanumeric) {
                    return Err(refuse(format!("{word:?} is not letters and digits")));
                }
                if let Some(other) = words.insert(word.clone(), groups)
                    && other != groups
                {
                    return Err(refuse(format!("{word:?} is in an earlier group too")));
                }
            }
            groups += 1;
            if groups as usize > MAX_GROUPS {
                return Err(DictionaryError::TooLarge);
            }
        }
        Ok(Self {
            text: text.to_owned(),
            words,
        })
    }

    pub fn built_in() -> Self {
        #[allow(clippy::expect_used)]
        Self::parse(BUILT_IN).expect("the built-in dictionary is valid (its test says so)")
    }

    /// The text it was read from, as a generation keeps it.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first 12 hex digits of the text's SHA-256: which dictionary a generation holds.
    pub fn digest(&self) -> String {
        let digest = Sha256::digest(self.text.as_bytes());
        digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
    }

    fn concept(&self, word: &str) -> Option<u32> {
        self.words.get(&normalise(word)).copied()
    }

    /// Every concept a text names, as the index tags a document: each Latin word and pair of
    /// Latin words (`Air Max`), and each dictionary word inside a Hangul run (a one-syllable
    /// word only where another ends: `갤럭시탭`, not the `북` of `노트북`).
    pub fn concepts(&self, text: &str) -> Vec<u32> {
        let mut found = Vec::new();
        let runs = runs(text);
        for (i, run) in runs.iter().enumerate() {
            let word = &text[run.start..run.end];
            if run.hangul {
                self.hangul_concepts(word, &mut found, false);
                continue;
            }
            found.extend(self.concept(word));
            if let Some(next) = runs.get(i + 1).filter(|next| !next.hangul) {
                found.extend(self.concept(&text[run.start..next.end]));
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The dictionary words in a Hangul run. With `greedy`, the longest word at each place
    /// and on from its end, and `None` unless they cover the whole run.
    fn hangul_concepts(&self, run: &str, found: &mut Vec<u32>, greedy: bool) -> Option<()> {
        let bounds: Vec<usize> = run
            .char_indices()
            .map(|(o, _)| o)
            .chain([run.len()])
            .collect();
        let syllables = bounds.len() - 1;
        let mut ends = vec![false; syllables + 1];
        ends[0] = true;
        let mut at = 0;
        while at < syllables {
            let longest = LONGEST_HANGUL.min(syllables - at);
            let mut matched = None;
            for length in (1..=longest).rev() {
                if length == 1 && !ends[at] {
                    continue;
                }
                if let Some(concept) = self.concept(&run[bounds[at]..bounds[at + length]]) {
                    found.push(concept);
                    ends[at + length] = true;
                    matched = matched.or(Some(length));
                    if greedy {
                        break;
                    }
                }
            }
            match (greedy, matched) {
                (true, Some(length)) => at += length,
                (true, None) => return None,
                (false, _) => at += 1,
            }
        }
        Some(())
    }

    /// The concepts of a query word made only of dictionary words (`랩탑`, `갤럭시탭`,
    /// `galaxy`), each of them required; `None` when some part of it is not in the dictionary.
    pub fn word_concepts(&self, word: &str) -> Option<Vec<u32>> {
        let runs: Vec<Run> = runs(word);
        let mut found = Vec::new();
        for run in &runs {
            let text = &word[run.start..run.end];
            if run.hangul {
                self.hangul_concepts(text, &mut found, true)?;
            } else {
                found.push(self.concept(text)?);
            }
        }
        (!found.is_empty()).then_some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_dictionary_reads() {
        assert!(Dictionary::parse(BUILT_IN).is_ok());
    }

    #[test]
    fn hangul_and_latin_spellings_share_a_concept() {
        let d = Dictionary::built_in();
        assert_eq!(d.word_concepts("갤럭시"), d.word_concepts("Galaxy"));
        assert_eq!(d.word_concepts("나이키"), d.word_concepts("NIKE"));
        assert_eq!(d.word_concepts("랩탑"), d.word_concepts("노트북"));
        assert_eq!(d.word_concepts("갤럭시탭").map(|c| c.len()), Some(2));
        assert_eq!(d.word_concepts("갤럭시노트"), None);
        let title = d.concepts("[정품] Nike Air Max 에어맥스 갤럭시탭 노트북");
        for word in ["nike", "air", "max", "airmax", "galaxy", "tab", "laptop"] {
            let concept = d.word_concepts(word).unwrap()[0];
            assert!(title.contains(&concept), "{word}");
        }
        assert!(
            !d.concepts("노트북")
                .contains(&d.word_concepts("book").unwrap()[0])
        );
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number() {
        for (text, line) in [
            ("삼성, samsung\nlonely\n", 2),
            ("a, b\n\nb, c\n", 3),
            ("x, y!\n", 1),
            (&format!("a, {}\n", "b".repeat(30)), 1),
        ] {
            let error = Dictionary::parse(text).unwrap_err();
            assert!(
                matches!(error, DictionaryError::Line { line: l, .. } if l == line),
                "{error}"
            );
        }
    }
}
