//! Completions as a shopper types, and "did you mean" for a query that finds little, both from
//! the index's own words (titles, brands and categories, whole).
//!
//! Completions are a sorted table of keys, each word spelled in jamo (`삼서` is a prefix of
//! `삼성` in jamo), as its initial consonants (`ㅅㅅ`) and as its consonants (`ㅅㅁㅅㅇ`, so
//! `ㅅㅁ` finds 삼성 as typed without vowels). A prefix is a range of keys; a segment tree over
//! the words' weights (listings, and units ordered) gives the heaviest ten in it.

use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, Searcher, TERMINATED, Term};

use super::analyzer::{choseong, is_consonant, jamo};
use super::index::{Fields, SearchError};

/// How stale the completions may get while the index changes: they are built again, at the
/// next request, once this old.
const REBUILD_AFTER: Duration = Duration::from_secs(10);
/// Units ordered a listing adds to its words' weight at most, so that one runaway seller does
/// not own a prefix.
const MAX_UNITS: u64 = 1_000;
/// The longest prefix looked up, in characters.
pub const MAX_PREFIX_CHARS: usize = 32;

/// The completions of one searcher, built when first asked for and again when stale.
#[derive(Default)]
pub struct Suggestions {
    built: Mutex<Option<(Instant, Arc<Completions>)>>,
}

impl Suggestions {
    pub fn get(
        &self,
        searcher: &Searcher,
        fields: &Fields,
    ) -> Result<Arc<Completions>, SearchError> {
        let mut built = self
            .built
            .lock()
            .map_err(|_| SearchError::Reader("the suggestions lock is poisoned".into()))?;
        if let Some((at, completions)) = built.as_ref()
            && (at.elapsed() < REBUILD_AFTER
                || completions.generation == searcher.generation().generation_id())
        {
            return Ok(completions.clone());
        }
        let completions = Arc::new(Completions::build(searcher, fields)?);
        *built = Some((Instant::now(), completions.clone()));
        Ok(completions)
    }
}

/// One table of keys, sorted, with a max-tree over the weights of their words.
struct Table {
    keys: Vec<(String, u32)>,
    /// The tree's leaves are the keys; each node holds the index of its heaviest key.
    tree: Vec<u32>,
    leaves: usize,
}

impl Table {
    fn new(mut keys: Vec<(String, u32)>, weights: &[u64]) -> Self {
        keys.sort_unstable();
        keys.dedup();
        let leaves = keys.len().next_power_of_two().max(1);
        let mut tree = vec![u32::MAX; 2 * leaves];
        for i in 0..keys.len() {
            tree[leaves + i] = i as u32;
        }
        let weight = |keys: &[(String, u32)], i: u32| match i {
            u32::MAX => 0,
            i => weights[keys[i as usize].1 as usize] + 1,
        };
        for node in (1..leaves).rev() {
            let (left, right) = (tree[2 * node], tree[2 * node + 1]);
            tree[node] = if weight(&keys, left) >= weight(&keys, right) {
                left
            } else {
                right
            };
        }
        Self { keys, tree, leaves }
    }

    /// The keys starting with `prefix`, as a range of positions.
    fn range(&self, prefix: &str) -> (usize, usize) {
        let from = self.keys.partition_point(|(key, _)| key.as_str() < prefix);
        let to = from + self.keys[from..].partition_point(|(key, _)| key.starts_with(prefix));
        (from, to)
    }

    /// The heaviest key in positions `from..to`.
    fn heaviest(&self, from: usize, to: usize, weights: &[u64]) -> Option<usize> {
        let weight = |i: u32| weights[self.keys[i as usize].1 as usize];
        let (mut low, mut high) = (from + self.leaves, to + self.leaves);
        let mut best: Option<u32> = None;
        while low < high {
            for node in [
                (low & 1 == 1).then_some(low),
                (high & 1 == 1).then(|| high - 1),
            ]
            .into_iter()
            .flatten()
            {
                let candidate = self.tree[node];
                if candidate != u32::MAX && best.is_none_or(|b| weight(candidate) > weight(b)) {
                    best = Some(candidate);
                }
            }
            low = low.div_ceil(2);
            high /= 2;
        }
        best.map(|b| b as usize)
    }

    /// The words of the heaviest keys starting with `prefix`, heaviest first.
    fn top(&self, prefix: &str, weights: &[u64], limit: usize, out: &mut Vec<u32>) {
        let (from, to) = self.range(prefix);
        let mut ranges = BinaryHeap::new();
        let push = |ranges: &mut BinaryHeap<(u64, usize, usize, usize)>, from: usize, to: usize| {
            if let Some(best) = (from < to)
                .then(|| self.heaviest(from, to, weights))
                .flatten()
            {
                ranges.push((weights[self.keys[best].1 as usize], best, from, to));
            }
        };
        push(&mut ranges, from, to);
        while let Some((_, best, from, to)) = ranges.pop() {
            let word = self.keys[best].1;
            if !out.contains(&word) {
                out.push(word);
                if out.len() >= limit {
                    return;
                }
            }
            push(&mut ranges, from, best);
            push(&mut ranges, best + 1, to);
        }
    }
}

/// A suggestion and how much it weighs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub text: String,
    /// Listings with the word, plus the units they sold.
    pub weight: u64,
}

pub struct Completions {
    generation: u64,
    words: Vec<String>,
    weights: Vec<u64>,
    spelled: Table,
    consonants: Table,
}

impl Completions {
    /// Every word of the listed products, weighed by listings and units ordered.
    fn build(searcher: &Searcher, fields: &Fields) -> Result<Self, SearchError> {
        let mut weighed: HashMap<String, u64> = HashMap::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(fields.words)?;
            let listed = segment.fast_fields().u64("listed")?.first_or_default_col(0);
            let popularity = segment
                .fast_fields()
                .i64("popularity")?
                .first_or_default_col(0);
            let alive = segment.alive_bitset();
            let mut terms = inverted.terms().stream()?;
            while terms.advance() {
                let Ok(word) = std::str::from_utf8(terms.key()) else {
                    continue;
                };
                let mut postings = inverted
                    .read_postings_from_terminfo(terms.value(), IndexRecordOption::Basic)?;
                let mut weight = 0u64;
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if alive.is_none_or(|a| a.is_alive(doc)) && listed.get_val(doc) == 1 {
                        weight += 1 + u64::try_from(popularity.get_val(doc))
                            .unwrap_or(0)
                            .min(MAX_UNITS);
                    }
                    doc = postings.advance();
                }
                if weight > 0 {
                    *weighed.entry(word.to_owned()).or_default() += weight;
                }
            }
        }
        let (words, weights): (Vec<String>, Vec<u64>) = weighed.into_iter().unzip();
        let mut spelled = Vec::with_capacity(words.len());
        let mut consonants = Vec::new();
        for (n, word) in words.iter().enumerate() {
            let n = n as u32;
            let spelling = jamo(word);
            if let Some(initials) = choseong(word) {
                consonants.push((initials, n));
                consonants.push((spelling.chars().filter(|c| is_consonant(*c)).collect(), n));
            }
            spelled.push((spelling, n));
        }
        Ok(Self {
            generation: searcher.generation().generation_id(),
            spelled: Table::new(spelled, &weights),
            consonants: Table::new(consonants, &weights),
            words,
            weights,
        })
    }

    /// Up to `limit` words completing `prefix`, heaviest first: a prefix typed as consonants
    /// only (`ㅅㅁ`) by the words' initials and consonants, any other by jamo (`삼서`, `gal`).
    pub fn complete(&self, prefix: &str, limit: usize) -> Vec<Suggestion> {
        let prefix: String = prefix
            .trim()
            .chars()
            .take(MAX_PREFIX_CHARS)
            .filter(|c| !c.is_whitespace())
            .collect();
        if prefix.is_empty() || limit == 0 {
            return Vec::new();
        }
        let mut found = Vec::new();
        if prefix.chars().all(is_consonant) {
            self.consonants
                .top(&prefix, &self.weights, limit, &mut found);
        } else {
            self.spelled
                .top(&jamo(&prefix), &self.weights, limit, &mut found);
        }
        found
            .into_iter()
            .map(|n| Suggestion {
                text: self.words[n as usize].clone(),
                weight: self.weights[n as usize],
            })
            .collect()
    }
}

/// Edits between two jamo spellings, or `None` when more than `most`.
fn distance(a: &[char], b: &[char], most: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > most {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(x != y))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        if current.iter().min().is_some_and(|m| *m > most) {
            return None;
        }
        previous = current;
    }
    previous.last().copied().filter(|d| *d <= most)
}

/// The words of the index that start like `word`: Hangul ones with its first initial consonant
/// (a contiguous block of syllables), others with its first letter.
fn neighbourhood(word: &str) -> Option<(String, String)> {
    let first = word.chars().next()?;
    let code = u32::from(first);
    if (0xAC00..=0xD7A3).contains(&code) {
        let block = (code - 0xAC00) / 588;
        let from = char::from_u32(0xAC00 + block * 588)?;
        let to = char::from_u32(0xAC00 + (block + 1) * 588)?;
        return Some((from.to_string(), to.to_string()));
    }
    let next = char::from_u32(code + 1)?;
    Some((first.to_string(), next.to_string()))
}

/// The word of the index closest to `word` in jamo, within a quarter of its jamo (at least
/// one), the most frequent of the closest; `None` when `word` is itself frequent enough.
pub fn correction(
    searcher: &Searcher,
    fields: &Fields,
    word: &str,
) -> Result<Option<String>, SearchError> {
    let word = word.to_lowercase();
    let own = searcher.doc_freq(&Term::from_field_text(fields.words, &word))?;
    let spelled: Vec<char> = jamo(&word).chars().collect();
    let most = (spelled.len() / 4).max(1);
    let Some((from, to)) = neighbourhood(&word) else {
        return Ok(None);
    };
    let mut best: Option<(usize, u64, String)> = None;
    let mut frequencies: HashMap<String, u64> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(fields.words)?;
        let mut terms = inverted
            .terms()
            .range()
            .ge(from.as_bytes())
            .lt(to.as_bytes())
            .into_stream()?;
        while terms.advance() {
            if let Ok(term) = std::str::from_utf8(terms.key()) {
                *frequencies.entry(term.to_owned()).or_default() +=
                    u64::from(terms.value().doc_freq);
            }
        }
    }
    for (term, frequency) in frequencies {
        if term == word || frequency <= own.saturating_mul(4) {
            continue;
        }
        let other: Vec<char> = jamo(&term).chars().collect();
        if let Some(edits) = distance(&spelled, &other, most) {
            let better = best
                .as_ref()
                .is_none_or(|(e, f, _)| edits < *e || (edits == *e && frequency > *f));
            if better {
                best = Some((edits, frequency, term));
            }
        }
    }
    Ok(best.map(|(_, _, term)| term))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_in_jamo() {
        let spell = |w: &str| jamo(w).chars().collect::<Vec<_>>();
        assert_eq!(distance(&spell("삼송"), &spell("삼성"), 1), Some(1));
        assert_eq!(distance(&spell("갤력시"), &spell("갤럭시"), 1), Some(1));
        assert_eq!(distance(&spell("삼송"), &spell("노트북"), 2), None);
        assert_eq!(neighbourhood("삼송").map(|r| r.0), Some("사".to_owned()));
    }
}
