//! Events in the Confluent wire format: a zero magic byte, the writer's schema id as a 4-byte
//! big-endian integer, then the Avro binary datum.
//!
//! [`Codec`] holds what the registry said, and does no I/O: a caller that meets a schema id the
//! codec does not know ([`CodecError::UnknownSchemaId`]) fetches it from the registry, adds it
//! with [`Codec::add_schema`] and decodes again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value;

use crate::avro::{AnyEvent, AvroRecord, Datum, ReadError};
use crate::compiled::{self, Reader};
use crate::ingest::IngestRecord;

/// The first byte of every record in the Confluent wire format.
pub const MAGIC_BYTE: u8 = 0;

/// Length of the wire-format header: magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// Why a record could not be encoded or decoded. None of these panics.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The first byte is not the wire format's magic byte.
    #[error("bad magic byte {0:#04x}: not the Confluent wire format")]
    BadMagicByte(u8),
    /// The record ends before its header or its datum does.
    #[error("truncated record: {0}")]
    Truncated(String),
    /// The registry has not (yet) told us about the writer's schema id.
    #[error("unknown schema id {0}")]
    UnknownSchemaId(u32),
    /// The writer's record cannot be read as one of our event types.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// The datum is not valid Avro for its schema.
    #[error("malformed datum: {0}")]
    Malformed(String),
    /// The registry could not be asked about the writer's schema id; retry later.
    #[error("schema {id} could not be fetched: {reason}")]
    SchemaUnavailable {
        /// The writer's schema id.
        id: u32,
        /// Why the registry did not answer.
        reason: String,
    },
    /// No schema id is registered for an event type we are asked to write.
    #[error("no registered schema for {0}")]
    Unregistered(String),
    /// The event does not fit the schema it is written with.
    #[error("cannot encode {record}: {reason}")]
    Encode {
        /// The record being written.
        record: String,
        /// What apache-avro said.
        reason: String,
    },
}

/// Splits a wire-format record into its schema id and Avro body.
pub fn split(record: &[u8]) -> Result<(u32, &[u8]), CodecError> {
    let Some((&magic, rest)) = record.split_first() else {
        return Err(CodecError::Truncated("empty record".into()));
    };
    if magic != MAGIC_BYTE {
        return Err(CodecError::BadMagicByte(magic));
    }
    let (id, body) = rest.split_first_chunk::<4>().ok_or_else(|| {
        CodecError::Truncated(format!(
            "{} bytes, the header alone needs {HEADER_LEN}",
            record.len()
        ))
    })?;
    Ok((u32::from_be_bytes(*id), body))
}

/// Writes the wire-format header for `schema_id` into `out`.
pub fn write_header(schema_id: u32, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

/// A writer's schema the codec knows, by registry id.
struct Writer {
    schema: Arc<Schema>,
    /// The full record name, for records.
    record_name: Option<String>,
    /// Its datum reader, or why it could not be built.
    reader: Result<&'static Reader, String>,
}

impl fmt::Debug for Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Writer")
            .field("record_name", &self.record_name)
            .field("compiled", &self.reader.is_ok())
            .finish_non_exhaustive()
    }
}

/// Encodes and decodes events in the Confluent wire format against the registry's schemas.
#[derive(Debug)]
pub struct Codec {
    /// The registry id of each current schema, once registered.
    current_ids: HashMap<String, u32>,
    /// Every writer's schema seen, by registry id.
    writers: HashMap<u32, Writer>,
}

impl Default for Codec {
    fn default() -> Self {
        Self::new()
    }
}

impl Codec {
    /// A codec that knows our current event schemas but no registry ids yet.
    pub fn new() -> Self {
        Self {
            current_ids: HashMap::new(),
            writers: HashMap::new(),
        }
    }

    /// Records that the registry knows `schema` as `id`.
    pub fn add_schema(&mut self, id: u32, schema: Schema) {
        let record_name = schema.name().map(|name| name.fullname(None));
        let is_current = record_name
            .as_deref()
            .and_then(compiled::current)
            .is_some_and(|current| current.canonical_form() == schema.canonical_form());
        if let (true, Some(name)) = (is_current, &record_name) {
            self.current_ids.insert(name.clone(), id);
        }
        let reader = compiled::reader(&schema, record_name.as_deref().unwrap_or_default());
        self.writers.insert(
            id,
            Writer {
                schema: Arc::new(schema),
                record_name,
                reader,
            },
        );
    }

    /// Whether the registry id of `id` is known.
    pub fn knows(&self, id: u32) -> bool {
        self.writers.contains_key(&id)
    }

    /// Appends `event` in the wire format, with the registry id of its current schema.
    pub fn encode(&self, event: &AnyEvent, out: &mut Vec<u8>) -> Result<(), CodecError> {
        self.encode_record(event, out)
    }

    /// Appends an ingest record in the wire format, as an upstream producer writes it.
    pub fn encode_ingest(
        &self,
        record: &IngestRecord,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.encode_record(record, out)
    }

    /// Decodes a wire-format record into an event, resolving the writer's schema against ours.
    pub fn decode(&self, record: &[u8]) -> Result<AnyEvent, CodecError> {
        self.decode_record(record)
    }

    /// Decodes a wire-format record of an ingest topic, resolving the writer's schema against
    /// ours.
    pub fn decode_ingest(&self, record: &[u8]) -> Result<IngestRecord, CodecError> {
        self.decode_record(record)
    }

    fn encode_record<R: AvroRecord>(&self, value: &R, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let record = value.record_name();
        let (Some(&id), Some(writer)) = (self.current_ids.get(&record), compiled::writer(&record))
        else {
            return Err(CodecError::Unregistered(record));
        };
        let writer = writer.map_err(|reason| CodecError::Encode {
            record: record.clone(),
            reason: reason.to_owned(),
        })?;
        write_header(id, out);
        value
            .write_avro(writer, out)
            .map_err(|error| CodecError::Encode {
                record,
                reason: error.to_string(),
            })
    }

    fn decode_record<R: AvroRecord>(&self, record: &[u8]) -> Result<R, CodecError> {
        let (id, body) = split(record)?;
        let writer = self
            .writers
            .get(&id)
            .ok_or(CodecError::UnknownSchemaId(id))?;
        let name = writer
            .record_name
            .as_deref()
            .ok_or_else(|| CodecError::TypeMismatch(format!("schema {id} is not a record")))?;
        let unknown = || CodecError::TypeMismatch(format!("{name} is not a record of this topic"));
        compiled::current(name).ok_or_else(unknown)?;
        let reader = writer
            .reader
            .as_ref()
            .map_err(|reason| CodecError::Malformed(format!("schema {id}: {reason}")))?;
        let datum = Datum { reader, body };
        R::read_avro(name, datum).map_err(|error| match error {
            ReadError::UnknownRecord => unknown(),
            ReadError::TrailingBytes(left) => {
                CodecError::Malformed(format!("{left} bytes left after the {name} datum"))
            }
            ReadError::Mismatch(reason) => CodecError::TypeMismatch(format!("{name}: {reason}")),
            ReadError::Avro(error) => classify(name, &error),
        })
    }

    /// Decodes a wire-format record of any registered schema into a generic Avro value.
    pub fn decode_value(&self, record: &[u8]) -> Result<(u32, Value), CodecError> {
        let (id, body) = split(record)?;
        let writer = self
            .writers
            .get(&id)
            .ok_or(CodecError::UnknownSchemaId(id))?;
        let mut rest = body;
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&writer.schema)
            .human_readable(true)
            .build()
            .and_then(|reader| reader.read_value(&mut rest))
            .map_err(|error| classify(&format!("schema {id}"), &error))?;
        match rest.len() {
            0 => Ok((id, value)),
            left => Err(CodecError::Malformed(format!(
                "{left} bytes left after the datum"
            ))),
        }
    }
}

/// Tells a truncated datum (the reader ran out of bytes) from other decoding failures.
fn classify(what: &str, error: &apache_avro::Error) -> CodecError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::UnexpectedEof
        {
            return CodecError::Truncated(format!("{what}: {error}"));
        }
        source = current.source();
    }
    CodecError::Malformed(format!("{what}: {error}"))
}
