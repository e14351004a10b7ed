//! What the fuzz targets share: the inputs they build once, and draining a feed's rows.

use std::sync::OnceLock;

use eventmall_events::Codec;
use eventmall_feed_formats::{FeedEncoding, FeedError, FeedRows, FieldMapping, RowSource};

/// A codec that knows every schema a record on our topics may have been written with: each
/// current event and ingest schema, and every published version in `schemas/`.
pub fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| {
        let mut codec = Codec::new();
        let current = eventmall_events::avro::contract()
            .into_iter()
            .chain(eventmall_events::ingest::contract());
        for (id, event) in (1..).zip(current) {
            codec.add_schema(id, event.schema);
        }
        for (id, schema) in (1_000..).zip(published()) {
            codec.add_schema(id, schema);
        }
        codec
    })
}

/// Every published schema version: `schemas/<topic>/<record>/v<N>.avsc`.
pub fn published() -> Vec<apache_avro::Schema> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
    let mut schemas = Vec::new();
    let dirs = |path: &std::path::Path| {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|dir| dir.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        entries.sort();
        entries
    };
    for topic in dirs(std::path::Path::new(root)) {
        for record in dirs(&topic) {
            for version in dirs(&record) {
                if let Ok(text) = std::fs::read_to_string(&version)
                    && let Ok(schema) = apache_avro::Schema::parse_str(&text)
                {
                    schemas.push(schema);
                }
            }
        }
    }
    schemas
}

/// A partner's mapping of its CSV columns or JSON keys to EP fields.
pub fn mapping() -> FieldMapping {
    let fields = [
        ("id", "sku"),
        ("title", "name"),
        ("price_pc", "price"),
        ("link", "url"),
        ("image_link", "image"),
        ("category_name1", "category"),
        ("brand", "brand"),
        ("class", "class"),
        ("update_time", "updated"),
    ];
    FieldMapping {
        fields: fields
            .into_iter()
            .map(|(ep, own)| (ep.to_owned(), own.to_owned()))
            .collect(),
    }
}

/// The feed's encoding, chosen by the input's first byte; the rest is the feed.
pub fn encoded(data: &[u8]) -> (FeedEncoding, &[u8]) {
    match data.split_first() {
        Some((first, rest)) if first % 2 == 1 => (FeedEncoding::EucKr, rest),
        Some((_, rest)) => (FeedEncoding::Utf8, rest),
        None => (FeedEncoding::Utf8, data),
    }
}

/// Reads every row; a feed error ends it, as it ends a run.
pub fn drain<S: RowSource>(mut rows: FeedRows<S>) -> Result<u64, FeedError> {
    let mut count = 0;
    while rows.next_row()?.is_some() {
        count += 1;
    }
    Ok(count)
}
