//! CSV and JSON Lines feeds: a partner's own columns or keys, turned into EP fields by the
//! partner's field mapping, then checked by the same EP rules.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ep::{self, Line, RawRow, next_line};
use crate::{FeedEncoding, FeedError, FeedKind, RejectedLine};

/// EP fields a mapping may fill.
const EP_FIELDS: [&str; 20] = [
    "id",
    "title",
    "price_pc",
    "price_mobile",
    "normal_price",
    "link",
    "image_link",
    "category_name1",
    "category_name2",
    "category_name3",
    "category_name4",
    "brand",
    "maker",
    "model_number",
    "condition",
    "shipping",
    "search_tag",
    "option_detail",
    "class",
    "update_time",
];

/// Which of the partner's columns (CSV) or keys (JSON Lines) fills each EP field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// EP field (`id`, `title`, `price_pc`, …) → the partner's column or key.
    #[schema(example = json!({"id": "sku", "title": "name", "price_pc": "price", "link": "url",
        "image_link": "image", "category_name1": "category"}))]
    pub fields: BTreeMap<String, String>,
}

impl FieldMapping {
    /// Checks that every target is an EP field and the required ones are mapped.
    pub fn check(&self) -> Result<(), String> {
        if let Some(unknown) = self
            .fields
            .keys()
            .find(|f| !EP_FIELDS.contains(&f.as_str()))
        {
            return Err(format!(
                "{unknown} is not an EP field; one of {}",
                EP_FIELDS.join(", ")
            ));
        }
        if let Some(blank) = self
            .fields
            .iter()
            .find(|(_, source)| source.trim().is_empty())
        {
            return Err(format!("{} maps to an empty column name", blank.0));
        }
        ep::kind_of(&self.positions())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// EP field → position, for rows whose fields come in the mapping's order.
    fn positions(&self) -> HashMap<String, usize> {
        self.fields
            .keys()
            .enumerate()
            .map(|(i, field)| (field.clone(), i))
            .collect()
    }
}

/// A source of rows, whatever the format.
pub trait RowSource {
    fn kind(&self) -> FeedKind;
    /// The next row, a rejected line, or `None` at the end.
    fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedLine>>, FeedError>;
}

impl<R: BufRead> RowSource for ep::EpReader<R> {
    fn kind(&self) -> FeedKind {
        ep::EpReader::kind(self)
    }

    fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedLine>>, FeedError> {
        ep::EpReader::next_row(self)
    }
}

impl<S: RowSource + ?Sized> RowSource for Box<S> {
    fn kind(&self) -> FeedKind {
        (**self).kind()
    }

    fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedLine>>, FeedError> {
        (**self).next_row()
    }
}

/// A CSV feed (RFC 4180: quoted fields may hold commas, quotes and line breaks) with a header
/// row, read record by record.
pub struct CsvSource<R> {
    reader: csv::Reader<R>,
    encoding: FeedEncoding,
    /// For each mapped EP field in mapping order, the CSV column it comes from.
    sources: Vec<usize>,
    columns: Arc<HashMap<String, usize>>,
    width: usize,
    kind: FeedKind,
    record: csv::ByteRecord,
}

impl<R: BufRead> CsvSource<R> {
    pub fn new(
        input: R,
        encoding: FeedEncoding,
        mapping: &FieldMapping,
    ) -> Result<Self, FeedError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .from_reader(input);
        let header = reader.byte_headers().map_err(csv_error)?.clone();
        if header.is_empty() {
            return Err(FeedError::Empty);
        }
        let mut names = Vec::with_capacity(header.len());
        for (at, field) in header.iter().enumerate() {
            let field = if at == 0 {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            let name = encoding
                .decode(field, false)
                .ok_or(FeedError::HeaderEncoding(encoding))?;
            names.push(name.trim().to_owned());
        }
        let mut sources = Vec::with_capacity(mapping.fields.len());
        let mut missing = Vec::new();
        for source in mapping.fields.values() {
            match names.iter().position(|name| name == source) {
                Some(at) => sources.push(at),
                None => missing.push(source.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(FeedError::MissingColumns(missing.join(", ")));
        }
        let columns = mapping.positions();
        let kind = ep::kind_of(&columns)?;
        Ok(Self {
            reader,
            encoding,
            sources,
            columns: Arc::new(columns),
            width: names.len(),
            kind,
            record: csv::ByteRecord::new(),
        })
    }
}

fn csv_error(error: csv::Error) -> FeedError {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => FeedError::Io(error),
        other => FeedError::Io(std::io::Error::other(format!("{other:?}"))),
    }
}

impl<R: BufRead> RowSource for CsvSource<R> {
    fn kind(&self) -> FeedKind {
        self.kind
    }

    fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedLine>>, FeedError> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(error) => match error.kind() {
                csv::ErrorKind::Io(_) => return Err(csv_error(error)),
                _ => {
                    let line = error.position().map_or(0, |p| p.line());
                    return Ok(Some(Err(RejectedLine {
                        line,
                        reason: format!("not CSV: {error}"),
                        raw: Vec::new(),
                        id: None,
                    })));
                }
            },
        }
        let record = &self.record;
        let line = record.position().map_or(0, |p| p.line());
        let raw = record.iter().collect::<Vec<_>>().join(&b","[..]);
        if record.len() != self.width {
            return Ok(Some(Err(RejectedLine {
                line,
                reason: format!(
                    "{} columns where the header has {}",
                    record.len(),
                    self.width
                ),
                raw,
                id: None,
            })));
        }
        let mut fields = Vec::with_capacity(self.sources.len());
        for &source in &self.sources {
            match self.encoding.decode(&record[source], false) {
                Some(value) => fields.push(value.into_owned()),
                None => {
                    return Ok(Some(Err(RejectedLine {
                        line,
                        reason: format!("the record is not valid {}", self.encoding),
                        raw,
                        id: None,
                    })));
                }
            }
        }
        Ok(Some(Ok(RawRow::new(
            line,
            fields,
            self.columns.clone(),
            raw,
        ))))
    }
}

/// A JSON Lines feed: one JSON object a line.
pub struct JsonlSource<R> {
    input: R,
    encoding: FeedEncoding,
    mapping: FieldMapping,
    columns: Arc<HashMap<String, usize>>,
    kind: FeedKind,
    line: u64,
    buffer: Vec<u8>,
}

impl<R: BufRead> JsonlSource<R> {
    pub fn new(
        input: R,
        encoding: FeedEncoding,
        mapping: &FieldMapping,
    ) -> Result<Self, FeedError> {
        let columns = mapping.positions();
        let kind = ep::kind_of(&columns)?;
        Ok(Self {
            input,
            encoding,
            mapping: mapping.clone(),
            columns: Arc::new(columns),
            kind,
            line: 0,
            buffer: Vec::new(),
        })
    }
}

impl<R: BufRead> RowSource for JsonlSource<R> {
    fn kind(&self) -> FeedKind {
        self.kind
    }

    fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedLine>>, FeedError> {
        loop {
            let read = next_line(&mut self.input, &mut self.buffer)?;
            self.line += 1;
            let line = self.line;
            let reject = |reason: String, raw: &[u8]| {
                Ok(Some(Err(RejectedLine {
                    line,
                    reason,
                    raw: raw.to_vec(),
                    id: None,
                })))
            };
            match read {
                None => return Ok(None),
                Some(Line::TooLong) => {
                    return reject(
                        format!("the line is longer than {} bytes", ep::MAX_LINE_BYTES),
                        &self.buffer,
                    );
                }
                Some(Line::Text) if self.buffer.iter().all(u8::is_ascii_whitespace) => continue,
                Some(Line::Text) => {}
            }
            let Some(text) = self.encoding.decode(&self.buffer, line == 1) else {
                return reject(
                    format!("the line is not valid {}", self.encoding),
                    &self.buffer,
                );
            };
            let object = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(object)) => object,
                Ok(_) => return reject("the line is not a JSON object".into(), &self.buffer),
                Err(error) => return reject(format!("not JSON: {error}"), &self.buffer),
            };
            let fields = self
                .mapping
                .fields
                .values()
                .map(|key| match object.get(key) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                })
                .collect();
            return Ok(Some(Ok(RawRow::new(
                line,
                fields,
                self.columns.clone(),
                self.buffer.clone(),
            ))));
        }
    }
}
