//! Naver Shopping EP 3.0 TSV: a header row naming the columns, then one product per line,
//! fields separated by tabs. A *full* feed lists every product of the shop; a *summary* feed
//! (it has the `class` column) lists changes, each marked `I` (insert), `U` (update) or `D`
//! (delete) with its `update_time`.
//!
//! Values are taken literally: a quote is a character, not a delimiter. A tab or a line break
//! inside a value cannot be told from a separator, so such a line has the wrong number of
//! columns and is rejected with that reason.

mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::{self, BufRead, Read};

pub use rules::{Class, EpProduct, OptionGroup, Shipping, validate};

use crate::encoding::FeedEncoding;

/// The longest line read; a longer one is rejected and skipped without being held whole.
pub const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// Columns a feed must have.
const REQUIRED: [&str; 6] = [
    "id",
    "title",
    "price_pc",
    "link",
    "image_link",
    "category_name1",
];

/// Checks that the EP columns a feed must have are there, and tells its kind: a summary feed
/// has `class`.
pub(crate) fn kind_of(columns: &HashMap<String, usize>) -> Result<FeedKind, FeedError> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|name| !columns.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        return Err(FeedError::MissingColumns(missing.join(", ")));
    }
    Ok(match columns.contains_key("class") {
        true => FeedKind::Summary,
        false => FeedKind::Full,
    })
}

/// Whether a feed is the whole catalog or a list of changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    /// Every product of the shop: the ones it does not list are delisted.
    Full,
    /// Changes only, each with `class` and `update_time`.
    Summary,
}

/// A line the reader could not turn into a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedLine {
    /// 1-based, counting the header.
    pub line: u64,
    pub reason: String,
    /// The line's bytes as read (cut at 4 KiB for an overlong line).
    pub raw: Vec<u8>,
    /// The product id in its `id` column, when that can be read: a full feed does not delist
    /// a product whose line was rejected.
    pub id: Option<String>,
}

/// One data line, its fields by column name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRow {
    pub line: u64,
    fields: Vec<String>,
    columns: std::sync::Arc<HashMap<String, usize>>,
    pub raw: Vec<u8>,
}

impl RawRow {
    pub(crate) fn new(
        line: u64,
        fields: Vec<String>,
        columns: std::sync::Arc<HashMap<String, usize>>,
        raw: Vec<u8>,
    ) -> Self {
        Self {
            line,
            fields,
            columns,
            raw,
        }
    }

    /// The trimmed value of `column`; `None` when the feed has no such column or it is empty.
    pub fn get(&self, column: &str) -> Option<&str> {
        let value = self.fields.get(*self.columns.get(column)?)?.trim();
        (!value.is_empty()).then_some(value)
    }
}

/// Reads an EP TSV feed from any byte stream, a line at a time.
pub struct EpReader<R> {
    input: R,
    /// Where the `id` column is.
    id_column: usize,
    encoding: FeedEncoding,
    columns: std::sync::Arc<HashMap<String, usize>>,
    width: usize,
    kind: FeedKind,
    line: u64,
    buffer: Vec<u8>,
}

/// Why a feed could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the feed is empty: it has no header row")]
    Empty,
    #[error("the header row is not {0}")]
    HeaderEncoding(FeedEncoding),
    #[error("the header row lacks the columns {0}")]
    MissingColumns(String),
    #[error("the header row names {0} twice")]
    DuplicateColumn(String),
    #[error("reading the feed: {0}")]
    Io(#[from] io::Error),
}

impl<R: BufRead> EpReader<R> {
    /// Reads the header row.
    pub fn new(mut input: R, encoding: FeedEncoding) -> Result<Self, FeedError> {
        let mut buffer = Vec::new();
        let header = match next_line(&mut input, &mut buffer)? {
            Some(Line::Text) => encoding
                .decode(&buffer, true)
                .ok_or(FeedError::HeaderEncoding(encoding))?
                .into_owned(),
            Some(Line::TooLong) => {
                return Err(FeedError::MissingColumns("(header too long)".into()));
            }
            None => return Err(FeedError::Empty),
        };
        let mut columns = HashMap::new();
        let names: Vec<String> = header
            .split('\t')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        for (at, name) in names.iter().enumerate() {
            if columns.insert(name.clone(), at).is_some() {
                return Err(FeedError::DuplicateColumn(name.clone()));
            }
        }
        let kind = kind_of(&columns)?;
        Ok(Self {
            input,
            id_column: columns["id"],
            encoding,
            width: names.len(),
            columns: std::sync::Arc::new(columns),
            kind,
            line: 1,
            buffer,
        })
    }

    pub fn kind(&self) -> FeedKind {
        self.kind
    }

    /// The next data row, a rejected line, or `None` at the end. Blank lines are skipped.
    pub fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedLine>>, FeedError> {
        loop {
            let read = next_line(&mut self.input, &mut self.buffer)?;
            self.line += 1;
            let line = self.line;
            let raw = || self.buffer.clone();
            let id = self.raw_id();
            match read {
                None => return Ok(None),
                Some(Line::TooLong) => {
                    return Ok(Some(Err(RejectedLine {
                        line,
                        reason: format!("the line is longer than {MAX_LINE_BYTES} bytes"),
                        raw: self.buffer[..self.buffer.len().min(4096)].to_vec(),
                        id,
                    })));
                }
                Some(Line::Text) if self.buffer.iter().all(u8::is_ascii_whitespace) => continue,
                Some(Line::Text) => {
                    let Some(text) = self.encoding.decode(&self.buffer, false) else {
                        return Ok(Some(Err(RejectedLine {
                            line,
                            reason: format!("the line is not valid {}", self.encoding),
                            raw: raw(),
                            id,
                        })));
                    };
                    let fields: Vec<String> = text.split('\t').map(str::to_owned).collect();
                    if fields.len() != self.width {
                        return Ok(Some(Err(RejectedLine {
                            line,
                            reason: format!(
                                "{} columns where the header has {} (a tab or line break inside a value?)",
                                fields.len(),
                                self.width
                            ),
                            raw: raw(),
                            id,
                        })));
                    }
                    return Ok(Some(Ok(RawRow {
                        line,
                        fields,
                        columns: self.columns.clone(),
                        raw: raw(),
                    })));
                }
            }
        }
    }
}

impl<R> EpReader<R> {
    /// The `id` field of the line in the buffer, when it is plain ASCII as EP ids are: it is
    /// readable even when the rest of the line is not.
    fn raw_id(&self) -> Option<String> {
        let field = self.buffer.split(|b| *b == b'\t').nth(self.id_column)?;
        let id = std::str::from_utf8(field).ok()?.trim();
        (!id.is_empty() && id.is_ascii()).then(|| id.to_owned())
    }
}

pub(crate) enum Line {
    Text,
    TooLong,
}

/// Reads one line into `buffer`, without its `\n` or `\r\n`; an overlong line is skipped to its
/// end, keeping only its start.
pub(crate) fn next_line(
    input: &mut impl BufRead,
    buffer: &mut Vec<u8>,
) -> io::Result<Option<Line>> {
    buffer.clear();
    let read = input
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buffer)?;
    if read == 0 {
        return Ok(None);
    }
    if buffer.last() != Some(&b'\n') && buffer.len() > MAX_LINE_BYTES {
        let mut skipped = Vec::new();
        loop {
            skipped.clear();
            let n = input
                .by_ref()
                .take(64 * 1024)
                .read_until(b'\n', &mut skipped)?;
            if n == 0 || skipped.last() == Some(&b'\n') {
                break;
            }
        }
        buffer.truncate(4096);
        return Ok(Some(Line::TooLong));
    }
    if buffer.last() == Some(&b'\n') {
        buffer.pop();
    }
    if buffer.last() == Some(&b'\r') {
        buffer.pop();
    }
    Ok(Some(Line::Text))
}
