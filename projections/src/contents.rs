//! What a generation of a read model holds at one cut of the log: its checkpoints and every
//! row (or document) by key. Two generations at the same cut are compared by these: a digest
//! for the verdict, and the keys that differ for the operator.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Checkpoint;

/// How much of a row's text is kept for showing; the digest covers all of it.
pub const SHOWN_CHARS: usize = 160;

/// A generation's rows by key (`<table>/<primary key>`), at the cut its checkpoints name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    pub checkpoints: Vec<Checkpoint>,
    rows: BTreeMap<String, Row>,
}

/// A row's digest, with the start of its text to show.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Row {
    digest: [u8; 32],
    shown: String,
}

/// A key whose row differs between two generations; `None` where a side has no row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    pub key: String,
    pub left: Option<String>,
    pub right: Option<String>,
}

/// The keys that differ between two contents, the first `shown` of them with both rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Differences {
    pub count: usize,
    pub first: Vec<Difference>,
}

impl Contents {
    pub fn new(checkpoints: Vec<Checkpoint>) -> Self {
        Self {
            checkpoints,
            rows: BTreeMap::new(),
        }
    }

    /// Adds the row `value` under `table`/`key`. A key seen twice is a read model without a
    /// unique key: the rows are kept together so that the digest still covers both.
    pub fn insert(&mut self, table: &str, key: &str, value: &str) {
        let row = Row {
            digest: Sha256::digest(value.as_bytes()).into(),
            shown: value.chars().take(SHOWN_CHARS).collect(),
        };
        match self.rows.entry(format!("{table}/{key}")) {
            Entry::Vacant(vacant) => {
                vacant.insert(row);
            }
            Entry::Occupied(mut occupied) => {
                let both = occupied.get_mut();
                let mut digest = Sha256::new();
                digest.update(both.digest);
                digest.update(row.digest);
                both.digest = digest.finalize().into();
            }
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A digest of every key and row, in key order.
    pub fn checksum(&self) -> String {
        let mut digest = Sha256::new();
        for (key, row) in &self.rows {
            digest.update(key.as_bytes());
            digest.update([0]);
            digest.update(row.digest);
        }
        format!("{:x}", digest.finalize())
    }

    /// The keys whose rows differ from `other`'s, in key order; the first `shown` with both.
    pub fn differences(&self, other: &Self, shown: usize) -> Differences {
        let mut differences = Differences::default();
        let mut note = |key: &str, left: Option<&Row>, right: Option<&Row>| {
            differences.count += 1;
            if differences.first.len() < shown {
                differences.first.push(Difference {
                    key: key.to_owned(),
                    left: left.map(|row| row.shown.clone()),
                    right: right.map(|row| row.shown.clone()),
                });
            }
        };
        let mut theirs = other.rows.iter().peekable();
        for (key, row) in &self.rows {
            while let Some((other_key, other_row)) = theirs.next_if(|(k, _)| *k < key) {
                note(other_key, None, Some(other_row));
            }
            match theirs.next_if(|(k, _)| *k == key) {
                Some((_, other_row)) if other_row.digest == row.digest => {}
                other_row => note(key, Some(row), other_row.map(|(_, r)| r)),
            }
        }
        for (other_key, other_row) in theirs {
            note(other_key, None, Some(other_row));
        }
        differences
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(rows: &[(&str, &str)]) -> Contents {
        let mut contents = Contents::default();
        for (key, value) in rows {
            contents.insert("t", key, value);
        }
        contents
    }

    #[test]
    fn equal_rows_have_equal_checksums_and_no_differences() {
        let a = contents(&[("1", "x"), ("2", "y")]);
        let b = contents(&[("2", "y"), ("1", "x")]);
        assert_eq!(a.checksum(), b.checksum());
        assert_eq!(a.differences(&b, 10), Differences::default());
    }

    #[test]
    fn changed_missing_and_extra_keys_are_each_listed_once_in_key_order() {
        let live = contents(&[("1", "x"), ("2", "y"), ("4", "w")]);
        let rebuilt = contents(&[("1", "x"), ("2", "Y"), ("3", "z")]);
        assert_ne!(live.checksum(), rebuilt.checksum());
        let differences = live.differences(&rebuilt, 2);
        assert_eq!(differences.count, 3);
        assert_eq!(
            differences.first,
            vec![
                Difference {
                    key: "t/2".into(),
                    left: Some("y".into()),
                    right: Some("Y".into())
                },
                Difference {
                    key: "t/3".into(),
                    left: None,
                    right: Some("z".into())
                },
            ]
        );
    }
}
