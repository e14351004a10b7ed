//! The fast-field columns a search reads, opened once per segment of a searcher's generation.
//! Opening a column by name walks the segment's directory of columns: done for every offer of
//! a page's models, it cost more than the matching itself.

use std::sync::{Arc, Mutex};

use tantivy::columnar::{Column, HasAssociatedColumnType, StrColumn};
use tantivy::{DocAddress, Searcher, SegmentReader};

use super::index::SearchError;

/// One segment's columns; a column no document of the segment has is empty.
pub(super) struct SegmentColumns {
    pub cluster_key: Column<u64>,
    pub partner_key: Column<u64>,
    pub listed: Column<u64>,
    pub id_high: Column<u64>,
    pub id_low: Column<u64>,
    pub price: Column<i64>,
    pub demand: Column<i64>,
    pub in_stock: Column<u64>,
    pub category: Option<StrColumn>,
    pub brand: Option<StrColumn>,
}

impl SegmentColumns {
    fn open(segment: &SegmentReader) -> Result<Self, SearchError> {
        let fast = segment.fast_fields();
        fn column<T>(segment: &SegmentReader, name: &str) -> Result<Column<T>, SearchError>
        where
            T: HasAssociatedColumnType + PartialOrd + Default,
            tantivy::columnar::DynamicColumn: Into<Option<Column<T>>>,
        {
            Ok(segment
                .fast_fields()
                .column_opt(name)?
                .unwrap_or_else(|| Column::build_empty_column(segment.max_doc())))
        }
        Ok(Self {
            cluster_key: column(segment, "cluster_key")?,
            partner_key: column(segment, "partner_key")?,
            listed: column(segment, "listed")?,
            id_high: column(segment, "id_high")?,
            id_low: column(segment, "id_low")?,
            price: column(segment, "price")?,
            demand: column(segment, "demand")?,
            in_stock: column(segment, "in_stock")?,
            category: fast.str("category")?,
            brand: fast.str("brand")?,
        })
    }
}

/// The columns of every segment of one generation, by segment ordinal.
pub(super) struct Columns {
    generation: u64,
    segments: Vec<SegmentColumns>,
}

impl Columns {
    /// The segment's columns; an error only for an ordinal not of this generation.
    pub fn segment(&self, ordinal: u32) -> tantivy::Result<&SegmentColumns> {
        self.segments.get(ordinal as usize).ok_or_else(|| {
            tantivy::TantivyError::InternalError(format!(
                "segment {ordinal} is not of the columns' generation"
            ))
        })
    }

    pub fn of(&self, address: DocAddress) -> Option<&SegmentColumns> {
        self.segments.get(address.segment_ord as usize)
    }
}

/// The last generation's columns, opened again when the searcher moves on.
#[derive(Default)]
pub(super) struct ColumnCache {
    opened: Mutex<Option<Arc<Columns>>>,
}

impl ColumnCache {
    pub fn get(&self, searcher: &Searcher) -> Result<Arc<Columns>, SearchError> {
        let generation = searcher.generation().generation_id();
        let mut opened = self
            .opened
            .lock()
            .map_err(|_| SearchError::Reader("the columns lock is poisoned".into()))?;
        if let Some(columns) = opened.as_ref()
            && columns.generation == generation
        {
            return Ok(columns.clone());
        }
        let columns = Arc::new(Columns {
            generation,
            segments: searcher
                .segment_readers()
                .iter()
                .map(SegmentColumns::open)
                .collect::<Result<_, _>>()?,
        });
        *opened = Some(columns.clone());
        Ok(columns)
    }
}
