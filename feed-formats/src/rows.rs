//! A feed's rows, checked against the EP rules, whatever format they came in.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::BufRead;

use crate::ep::{self, EpProduct, EpReader, FeedError, FeedKind, RejectedLine};
use crate::{FeedEncoding, RowSource};

/// One line of a feed, checked.
#[derive(Debug)]
pub enum FeedRow {
    Valid {
        line: u64,
        product: Box<EpProduct>,
        raw: Vec<u8>,
    },
    Rejected(RejectedLine),
}

/// The rows of a feed, checked against the EP rules; an id seen before in the same feed is
/// rejected (the first one counts).
pub struct FeedRows<S> {
    source: S,
    /// 128-bit digests of the ids seen: 16 bytes a row however long the id; a chance
    /// collision (a row wrongly taken for a duplicate) is negligible.
    seen: HashSet<u128>,
}

/// Two SipHash digests of an id, with different keys, as one 128-bit value.
fn digest(id: &str) -> u128 {
    let half = |salt: u8| {
        let mut hasher = std::hash::DefaultHasher::new();
        salt.hash(&mut hasher);
        id.hash(&mut hasher);
        hasher.finish()
    };
    (u128::from(half(0)) << 64) | u128::from(half(1))
}

/// An EP TSV feed's rows.
pub type EpRows<R> = FeedRows<EpReader<R>>;

impl<R: BufRead> EpRows<R> {
    pub fn new(input: R, encoding: FeedEncoding) -> Result<Self, FeedError> {
        Ok(FeedRows::from_source(EpReader::new(input, encoding)?))
    }
}

impl<S: RowSource> FeedRows<S> {
    pub fn from_source(source: S) -> Self {
        Self {
            source,
            seen: HashSet::new(),
        }
    }

    pub fn kind(&self) -> FeedKind {
        self.source.kind()
    }

    /// The next row, or `None` at the end.
    pub fn next_row(&mut self) -> Result<Option<FeedRow>, FeedError> {
        let Some(row) = self.source.next_row()? else {
            return Ok(None);
        };
        let row = match row {
            Err(rejected) => return Ok(Some(FeedRow::Rejected(rejected))),
            Ok(row) => row,
        };
        let checked = ep::validate(&row, self.kind()).and_then(|product| {
            match self.seen.insert(digest(&product.id)) {
                true => Ok(product),
                false => Err(format!("id {} appears earlier in this feed", product.id)),
            }
        });
        Ok(Some(match checked {
            Ok(product) => FeedRow::Valid {
                line: row.line,
                product: Box::new(product),
                raw: row.raw,
            },
            Err(reason) => FeedRow::Rejected(RejectedLine {
                line: row.line,
                reason,
                id: row.get("id").map(str::to_owned),
                raw: row.raw,
            }),
        }))
    }
}
