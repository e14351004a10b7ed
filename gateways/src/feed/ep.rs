//! Naver Shopping EP 3.0 TSV: a header row naming the columns, then one product per line,
//! fields separated by tabs. A *full* feed lists every product of the shop; a *summary* feed
//! (it has the `class` column) lists changes, each marked `I` (insert), `U` (update) or `D`
//! (delete) with its `update_time`.
//!
//! Values are taken literally: a quote is a character, not a delimiter. A tab or a line break
//! inside a value cannot be told from a separator, so such a line has the wrong number of
//! columns and is rejected with that reason.

use std::collections::HashMap;
use std::io::{self, BufRead, Read};

use chrono::NaiveDateTime;

use super::encoding::FeedEncoding;

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

/// A summary feed line's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Insert,
    Update,
    Delete,
}

/// How an EP row ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shipping {
    Free,
    /// Paid on delivery (`-1`).
    OnDelivery,
    /// A fee in won.
    Fee(i64),
}

/// One option group of `option_detail`: `name^value|value|…`, groups separated by `;`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionGroup {
    pub name: String,
    pub values: Vec<String>,
}

/// A valid EP row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpProduct {
    /// The shop's product id: the SKU.
    pub id: String,
    pub title: String,
    pub price: i64,
    pub price_mobile: Option<i64>,
    pub normal_price: Option<i64>,
    pub link: String,
    pub image_link: String,
    /// `category_name1` to `category_name4`, without gaps.
    pub category: Vec<String>,
    pub brand: Option<String>,
    pub maker: Option<String>,
    pub model_number: Option<String>,
    pub condition: Option<String>,
    pub shipping: Shipping,
    pub search_tags: Vec<String>,
    pub options: Vec<OptionGroup>,
    /// Summary feeds only.
    pub class: Option<Class>,
    pub update_time: Option<NaiveDateTime>,
}

const CONDITIONS: [&str; 6] = ["신상품", "중고", "리퍼", "전시", "반품", "스크래치"];

/// The EP rule for a product id (the partner's SKU): 1–50 of `A-Z a-z 0-9 - _ .`.
pub fn check_id(id: &str) -> Result<(), String> {
    let length = id.chars().count();
    if length == 0 {
        Err("id is required".to_owned())
    } else if length > 50 {
        Err(format!("id has {length} characters, at most 50"))
    } else if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Err(format!("id {id:?} may hold only A-Z, a-z, 0-9, -, _ and ."))
    } else {
        Ok(())
    }
}

/// Checks a row against the EP rules. A `D` line of a summary feed needs only its id.
pub fn validate(row: &RawRow, kind: FeedKind) -> Result<EpProduct, String> {
    let mut errors = Vec::new();
    let id = row.get("id").unwrap_or_default();
    if let Err(error) = check_id(id) {
        errors.push(error);
    }
    let (class, update_time) = match kind {
        FeedKind::Full => (None, None),
        FeedKind::Summary => {
            let class = match row.get("class") {
                Some("I") => Some(Class::Insert),
                Some("U") => Some(Class::Update),
                Some("D") => Some(Class::Delete),
                other => {
                    errors.push(format!(
                        "class must be I, U or D, got {:?}",
                        other.unwrap_or("")
                    ));
                    None
                }
            };
            let time = row
                .get("update_time")
                .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok());
            if time.is_none() {
                errors.push("update_time must be YYYY-MM-DD HH:MM:SS".to_owned());
            }
            (class, time)
        }
    };
    if class == Some(Class::Delete) {
        return match errors.is_empty() {
            true => Ok(EpProduct::deleted(id, update_time)),
            false => Err(errors.join("; ")),
        };
    }
    let title = row.get("title").unwrap_or_default();
    match title.chars().count() {
        0 => errors.push("title is required".to_owned()),
        n if n > 100 => errors.push(format!("title has {n} characters, at most 100")),
        _ => {}
    }
    let price = required_price(row, "price_pc", &mut errors);
    let price_mobile = optional_price(row, "price_mobile", &mut errors);
    let normal_price = optional_price(row, "normal_price", &mut errors);
    let link = url(row, "link", &mut errors);
    let image_link = url(row, "image_link", &mut errors);
    let category = category(row, &mut errors);
    let condition = row.get("condition").map(str::to_owned);
    if let Some(condition) = &condition
        && !CONDITIONS.contains(&condition.as_str())
    {
        errors.push(format!(
            "condition must be one of {}, got {condition}",
            CONDITIONS.join(", ")
        ));
    }
    let shipping = match row.get("shipping").map(str::parse::<i64>) {
        None => {
            errors
                .push("shipping is required: 0 (free), -1 (paid on delivery) or a fee".to_owned());
            Shipping::Free
        }
        Some(Ok(0)) => Shipping::Free,
        Some(Ok(-1)) => Shipping::OnDelivery,
        Some(Ok(fee)) if fee > 0 => Shipping::Fee(fee),
        Some(_) => {
            errors.push(format!(
                "shipping must be 0, -1 or a fee in won, got {}",
                row.get("shipping").unwrap_or_default()
            ));
            Shipping::Free
        }
    };
    let options = match row.get("option_detail").map(options) {
        None => Vec::new(),
        Some(Ok(options)) => options,
        Some(Err(error)) => {
            errors.push(error);
            Vec::new()
        }
    };
    let search_tags = row
        .get("search_tag")
        .map(|tags| {
            tags.split('|')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(EpProduct {
        id: id.to_owned(),
        title: title.to_owned(),
        price,
        price_mobile,
        normal_price,
        link,
        image_link,
        category,
        brand: row.get("brand").map(str::to_owned),
        maker: row.get("maker").map(str::to_owned),
        model_number: row.get("model_number").map(str::to_owned),
        condition,
        shipping,
        search_tags,
        options,
        class,
        update_time,
    })
}

impl EpProduct {
    fn deleted(id: &str, update_time: Option<NaiveDateTime>) -> Self {
        Self {
            id: id.to_owned(),
            title: String::new(),
            price: 0,
            price_mobile: None,
            normal_price: None,
            link: String::new(),
            image_link: String::new(),
            category: Vec::new(),
            brand: None,
            maker: None,
            model_number: None,
            condition: None,
            shipping: Shipping::Free,
            search_tags: Vec::new(),
            options: Vec::new(),
            class: Some(Class::Delete),
            update_time,
        }
    }
}

/// A price: digits only, at least 1 (no sign, decimals or thousands separators).
fn price(value: &str) -> Option<i64> {
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<i64>().ok())
        .flatten()
        .filter(|p| *p >= 1)
}

fn required_price(row: &RawRow, column: &str, errors: &mut Vec<String>) -> i64 {
    match row.get(column) {
        None => {
            errors.push(format!("{column} is required"));
            0
        }
        Some(value) => price(value).unwrap_or_else(|| {
            errors.push(format!(
                "{column} must be a whole number of won, at least 1, got {value}"
            ));
            0
        }),
    }
}

fn optional_price(row: &RawRow, column: &str, errors: &mut Vec<String>) -> Option<i64> {
    let value = row.get(column)?;
    let parsed = price(value);
    if parsed.is_none() {
        errors.push(format!(
            "{column} must be a whole number of won, at least 1, got {value}"
        ));
    }
    parsed
}

fn url(row: &RawRow, column: &str, errors: &mut Vec<String>) -> String {
    match row.get(column) {
        Some(value)
            if (value.starts_with("http://") || value.starts_with("https://"))
                && value.len() > "https://".len()
                && !value.contains(char::is_whitespace)
                && value.len() <= 1000 =>
        {
            value.to_owned()
        }
        Some(value) => {
            errors.push(format!("{column} must be an http(s) URL, got {value}"));
            String::new()
        }
        None => {
            errors.push(format!("{column} is required"));
            String::new()
        }
    }
}

fn category(row: &RawRow, errors: &mut Vec<String>) -> Vec<String> {
    let levels: Vec<Option<&str>> = (1..=4)
        .map(|level| row.get(&format!("category_name{level}")))
        .collect();
    let present = levels.iter().take_while(|level| level.is_some()).count();
    if present == 0 {
        errors.push("category_name1 is required".to_owned());
    } else if levels[present..].iter().any(Option::is_some) {
        errors.push(format!(
            "category_name{} is empty but a lower level is not",
            present + 1
        ));
    }
    levels.into_iter().flatten().map(str::to_owned).collect()
}

/// `option_detail`: groups `name^value|value|…` separated by `;`.
fn options(detail: &str) -> Result<Vec<OptionGroup>, String> {
    detail
        .split(';')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(|group| {
            let (name, values) = group
                .split_once('^')
                .ok_or_else(|| format!("option_detail group {group:?} is not name^value|value"))?;
            let values: Vec<String> = values
                .split('|')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            if name.trim().is_empty() || values.is_empty() {
                return Err(format!(
                    "option_detail group {group:?} needs a name and a value"
                ));
            }
            Ok(OptionGroup {
                name: name.trim().to_owned(),
                values,
            })
        })
        .collect()
}
