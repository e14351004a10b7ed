//! Avro datum readers and writers, built once per schema for the life of the process.
//!
//! Building one walks its schema and names every named type in it, which costs more than
//! reading or writing most event datums; the codec used to do it for every record. Our current
//! schemas are compiled on first use. A writer's schema learned from the registry is interned
//! by its canonical form: a registry holds a bounded number of schemas, and each is compiled
//! once however many codecs meet it.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;

use crate::{avro, ingest};

/// A datum reader of one writer's schema, with our current schema of the record when the
/// writer's differs (its values are resolved to ours).
pub(crate) struct Reader {
    pub(crate) datum: GenericDatumReader<'static>,
    pub(crate) ours: Option<&'static Schema>,
}

/// Our current schema of every record (events and ingest records), by full record name.
static CURRENT: LazyLock<HashMap<String, Schema>> = LazyLock::new(|| {
    avro::contract()
        .into_iter()
        .chain(ingest::contract())
        .map(|schema| (schema.record_name, schema.schema))
        .collect()
});

/// A datum writer for each current schema, or why it could not be built.
static WRITERS: LazyLock<HashMap<&'static str, Result<GenericDatumWriter<'static>, String>>> =
    LazyLock::new(|| {
        CURRENT
            .iter()
            .map(|(name, schema)| {
                let writer = GenericDatumWriter::builder(schema)
                    .human_readable(true)
                    .build()
                    .map_err(|e| e.to_string());
                (name.as_str(), writer)
            })
            .collect()
    });

/// The reader of each writer's schema met (or why it could not be built), by its canonical
/// form.
type Readers = HashMap<String, Result<&'static Reader, String>>;
static READERS: LazyLock<Mutex<Readers>> = LazyLock::new(Mutex::default);

/// Our current schema of `record_name`.
pub(crate) fn current(record_name: &str) -> Option<&'static Schema> {
    CURRENT.get(record_name)
}

/// The datum writer of our current schema of `record_name`, or why it could not be built.
pub(crate) fn writer(
    record_name: &str,
) -> Option<Result<&'static GenericDatumWriter<'static>, &'static str>> {
    WRITERS
        .get(record_name)
        .map(|writer| writer.as_ref().map_err(String::as_str))
}

/// The reader of `writer`, a record schema named `record_name`, compiled on first use.
pub(crate) fn reader(writer: &Schema, record_name: &str) -> Result<&'static Reader, String> {
    let canonical = writer.canonical_form();
    let mut readers = READERS.lock().map_err(|_| "the reader cache is poisoned")?;
    if let Some(known) = readers.get(&canonical) {
        return known.clone();
    }
    let ours = current(record_name).filter(|ours| ours.canonical_form() != canonical);
    let writer: &'static Schema = Box::leak(Box::new(writer.clone()));
    let compiled = GenericDatumReader::builder(writer)
        .human_readable(true)
        .build()
        .map(|datum| &*Box::leak(Box::new(Reader { datum, ours })))
        .map_err(|e| e.to_string());
    readers.insert(canonical, compiled.clone());
    compiled
}
