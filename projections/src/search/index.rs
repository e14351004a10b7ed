//! The search index: one tantivy index per generation. Its checkpoints travel in each commit's
//! payload, so the documents and the offsets they account for are committed together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use eventmall_events::AnyEvent;
use eventmall_events::order::OrderEvent;
use tantivy::collector::TopDocs;
use tantivy::index::{IndexMeta, SegmentId};
use tantivy::query::TermQuery;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{Index, IndexReader, IndexWriter, Opstamp, ReloadPolicy, TantivyDocument, Term, doc};

use super::columns::ColumnCache;
use super::dictionary::{Dictionary, DictionaryError};
use super::product::ProductDoc;
use super::suggest::Suggestions;
use super::tokenizer;
use crate::{Checkpoint, Contents, Envelope, ProjectionError};

mod schema;

use schema::schema;
pub use schema::{Fields, cluster_of, concept_term};

/// Reloads tried after a commit for the reader to hold it, merges ending meanwhile.
const RELOADS_AFTER_COMMIT: usize = 16;

/// The file beside a generation's index that holds the dictionary it was built with.
const DICTIONARY_FILE: &str = "dictionary.txt";

/// Memory the writer may use before it flushes a segment.
const WRITER_MEMORY: usize = 128 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("search index document: {0}")]
    Document(String),
    /// The reader's own state: a lock poisoned, a searcher not on the commit it must hold.
    #[error("search index reader: {0}")]
    Reader(String),
    #[error("search index: {0}")]
    Io(#[from] std::io::Error),
    #[error("search {0}")]
    Dictionary(#[from] DictionaryError),
}

/// What a batch changes, before it is committed.
#[derive(Debug, Default)]
pub struct SearchChanges {
    docs: HashMap<String, ProductDoc>,
    orders: HashSet<String>,
    pub duplicates: usize,
}

pub struct SearchIndex {
    pub(super) index: Index,
    pub(super) reader: IndexReader,
    pub(super) fields: Fields,
    /// Taken at the first commit, so a process that only reads (an API beside a projector
    /// process) never holds tantivy's writer lock.
    writer: Mutex<Option<IndexWriter>>,
    /// Serializes reloads. Each reload opens the last commit of its time and then stores its
    /// searcher; two at once could store in the opposite order and leave the reader on the
    /// older commit, where a batch would read documents older than the ones it overwrites.
    reloading: Mutex<()>,
    /// The dictionary this generation was built with.
    pub(super) dictionary: Dictionary,
    pub(super) suggestions: Suggestions,
    pub(super) columns: ColumnCache,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when missing. The reader moves only when told:
    /// at each commit of this process, and at [`SearchIndex::refresh`] for the commits of
    /// another (an API beside a projector process). One process at a time can write (tantivy's
    /// lock).
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        Self::open_with(dir, || Ok(Dictionary::built_in()))
    }

    /// Opens the index in `dir` with the dictionary it was built with; a new index keeps a copy
    /// of what `new_dictionary` gives, asked only then. A changed dictionary so reaches search
    /// through a new generation.
    pub fn open_with(
        dir: &Path,
        new_dictionary: impl FnOnce() -> Result<Dictionary, SearchError>,
    ) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir)?;
        let pinned = dir.join(DICTIONARY_FILE);
        let dictionary = match std::fs::read_to_string(&pinned) {
            Ok(text) => Dictionary::parse(&text)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let dictionary = new_dictionary()?;
                std::fs::write(&pinned, dictionary.text())?;
                dictionary
            }
            Err(error) => return Err(error.into()),
        };
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        Self::with(Index::open_or_create(directory, schema().0)?, dictionary)
    }

    /// An index in memory, for tests.
    pub fn in_ram() -> Result<Self, SearchError> {
        Self::in_ram_with(Dictionary::built_in())
    }

    pub fn in_ram_with(dictionary: Dictionary) -> Result<Self, SearchError> {
        Self::with(Index::create_in_ram(schema().0), dictionary)
    }

    /// Waits for the merges of segments under way to end, and moves the reader to what they
    /// made: an index at rest, as after a rebuild settles. The writer is taken again at the
    /// next commit.
    pub fn wait_for_merges(&self) -> Result<(), SearchError> {
        let writer = self.writer.lock().map_err(|_| poisoned("writer"))?.take();
        if let Some(writer) = writer {
            writer.wait_merging_threads()?;
        }
        self.refresh()?;
        Ok(())
    }

    /// The segments the reader holds: fewer, larger ones answer faster.
    pub fn segment_count(&self) -> usize {
        self.reader.searcher().segment_readers().len()
    }

    /// The dictionary this generation searches with.
    pub fn dictionary(&self) -> &Dictionary {
        &self.dictionary
    }

    fn with(index: Index, dictionary: Dictionary) -> Result<Self, SearchError> {
        tokenizer::register(&index);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            index,
            reader,
            fields: schema().1,
            writer: Mutex::new(None),
            reloading: Mutex::new(()),
            dictionary,
            suggestions: Suggestions::default(),
            columns: ColumnCache::default(),
        })
    }

    /// Brings the reader up to the last commit, if it is behind; answers whether it moved.
    pub fn refresh(&self) -> Result<bool, SearchError> {
        let _one_at_a_time = self.reloading.lock().map_err(|_| poisoned("reload"))?;
        if self.holds_last_commit()? {
            return Ok(false);
        }
        self.reader.reload()?;
        Ok(true)
    }

    /// Whether the searcher holds the last commit: the same segments with the same deletes.
    fn holds_last_commit(&self) -> Result<bool, SearchError> {
        let last = segments_of(&self.index.load_metas()?);
        Ok(self.reader.searcher().generation().segments() == &last)
    }

    /// The checkpoints of the last commit.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, SearchError> {
        let payload = self.index.load_metas()?.payload;
        match payload {
            None => Ok(Vec::new()),
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| SearchError::Document(e.to_string()))
            }
        }
    }

    /// The checkpoints of the last commit, with the reader brought up to at least that commit:
    /// a search that starts after this sees everything they account for.
    pub fn checkpoints_for_reads(&self) -> Result<Vec<Checkpoint>, SearchError> {
        let checkpoints = self.checkpoints()?;
        self.refresh()?;
        Ok(checkpoints)
    }

    /// The product's document as committed.
    pub fn product(&self, product_id: &str) -> Result<Option<ProductDoc>, SearchError> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            Term::from_field_text(self.fields.id, product_id),
            IndexRecordOption::Basic,
        );
        let Some((_, address)) = searcher
            .search(&query, &TopDocs::with_limit(1).order_by_score())?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let doc: TantivyDocument = searcher.doc(address)?;
        let Some(json) = doc.get_first(self.fields.state).and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| SearchError::Document(e.to_string()))
    }

    /// Every document (products by id, and the orders counted) with the checkpoints of the same
    /// commit: the searcher and the commit's payload are read under the reload lock, and read
    /// again when another process committed in between.
    pub fn contents(&self) -> Result<Contents, SearchError> {
        let _one_at_a_time = self.reloading.lock().map_err(|_| poisoned("reload"))?;
        let (metas, searcher) = loop {
            let metas = self.index.load_metas()?;
            let searcher = self.reader.searcher();
            if searcher.generation().segments() == &segments_of(&metas) {
                break (metas, searcher);
            }
            self.reader.reload()?;
        };
        let checkpoints = match metas.payload {
            None => Vec::new(),
            Some(json) => {
                serde_json::from_str(&json).map_err(|e| SearchError::Document(e.to_string()))?
            }
        };
        let mut contents = Contents::new(checkpoints);
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(64)?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id)?;
                let text = |field| {
                    doc.get_first(field)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                contents.insert("documents", &text(self.fields.id), &text(self.fields.state));
            }
        }
        Ok(contents)
    }

    /// A digest of every document: two generations built from the same log have the same one.
    pub fn checksum(&self) -> Result<String, SearchError> {
        Ok(self.contents()?.checksum())
    }

    fn order_counted(&self, order_id: &str) -> Result<bool, SearchError> {
        let term = Term::from_field_text(self.fields.id, &order_marker(order_id));
        Ok(self.reader.searcher().doc_freq(&term)? > 0)
    }

    fn current<'a>(
        &self,
        changes: &'a mut SearchChanges,
        product_id: &str,
    ) -> Result<&'a mut ProductDoc, SearchError> {
        if !changes.docs.contains_key(product_id) {
            let doc = self
                .product(product_id)?
                .unwrap_or_else(|| ProductDoc::placeholder(product_id));
            changes.docs.insert(product_id.to_owned(), doc);
        }
        changes
            .docs
            .get_mut(product_id)
            .ok_or_else(|| SearchError::Document("a document just inserted is gone".into()))
    }

    /// Applies an event to `changes`. A refused event (an update of a product never
    /// registered) leaves them as they were.
    pub fn apply(
        &self,
        changes: &mut SearchChanges,
        envelope: &Envelope<AnyEvent>,
    ) -> Result<Result<(), ProjectionError>, SearchError> {
        match &envelope.event {
            AnyEvent::Product(event) => {
                let doc = self.current(changes, &envelope.aggregate_id)?;
                let mut next = doc.clone();
                match next.apply(&envelope.with(event.clone())) {
                    Ok(true) => *doc = next,
                    Ok(false) => changes.duplicates += 1,
                    Err(refused) => return Ok(Err(refused)),
                }
            }
            AnyEvent::Order(OrderEvent::OrderPlaced(placed)) => {
                let order = &envelope.aggregate_id;
                if changes.orders.contains(order) || self.order_counted(order)? {
                    changes.duplicates += 1;
                    return Ok(Ok(()));
                }
                for line in &placed.lines {
                    let doc = self.current(changes, &line.product_id.to_string())?;
                    doc.ordered(line.quantity, envelope.recorded_at);
                }
                changes.orders.insert(order.clone());
            }
            _ => {}
        }
        Ok(Ok(()))
    }

    /// Sets the next offsets of the partitions in `moved` (an operator's reset), in a commit
    /// of its own; the documents stay as they are.
    pub fn reset_checkpoints(&self, moved: &[Checkpoint]) -> Result<(), SearchError> {
        self.write(SearchChanges::default(), moved, |stored, wanted| {
            stored.0 = wanted.next_offset;
        })
    }

    /// Writes the changes and commits them with the checkpoints moved to `positions`; the
    /// reader sees them when this returns.
    pub fn commit(
        &self,
        changes: SearchChanges,
        positions: &[Checkpoint],
    ) -> Result<(), SearchError> {
        self.write(changes, positions, |stored, moved| {
            stored.0 = stored.0.max(moved.next_offset);
            stored.1 = stored.1.max(moved.position);
        })
    }

    /// Commits `changes` with each partition of `positions` moved by `move_to` from where its
    /// checkpoint stood ((next offset, position)).
    fn write(
        &self,
        changes: SearchChanges,
        positions: &[Checkpoint],
        move_to: impl Fn(&mut (i64, i64), &Checkpoint),
    ) -> Result<(), SearchError> {
        let mut guard = self.writer.lock().map_err(|_| poisoned("writer"))?;
        let writer = match guard.as_mut() {
            Some(writer) => writer,
            None => guard.insert(self.index.writer(WRITER_MEMORY)?),
        };
        let mut checkpoints: BTreeMap<(String, i32), (i64, i64)> = self
            .checkpoints()?
            .into_iter()
            .map(|c| ((c.topic, c.partition), (c.next_offset, c.position)))
            .collect();
        for moved in positions {
            let stored = checkpoints
                .entry((moved.topic.clone(), moved.partition))
                .or_insert((0, 0));
            move_to(stored, moved);
        }
        let result = (|| {
            for doc in changes.docs.values() {
                writer.delete_term(Term::from_field_text(self.fields.id, &doc.product_id));
                writer.add_document(self.document(doc)?)?;
            }
            for order in &changes.orders {
                writer.add_document(doc!(
                    self.fields.kind => "order",
                    self.fields.id => order_marker(order),
                ))?;
            }
            let payload: Vec<Checkpoint> = checkpoints
                .into_iter()
                .map(|((topic, partition), (next_offset, position))| Checkpoint {
                    topic,
                    partition,
                    next_offset,
                    position,
                })
                .collect();
            let payload = serde_json::to_string(&payload)
                .map_err(|e| SearchError::Document(e.to_string()))?;
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&payload);
            prepared.commit()?;
            Ok::<_, SearchError>(())
        })();
        if let Err(error) = result {
            writer.rollback()?;
            return Err(error);
        }
        // The next batch reads what this one wrote: the reader must hold this commit or a later
        // one (no other process writes while this one holds the writer, but a background merge
        // of segments may end between the reload and the check, and write the metas again).
        for _ in 0..RELOADS_AFTER_COMMIT {
            self.refresh()?;
            if self.holds_last_commit()? {
                return Ok(());
            }
        }
        Err(SearchError::Reader(
            "the reader does not hold the commit just made".into(),
        ))
    }

    fn document(&self, product: &ProductDoc) -> Result<TantivyDocument, SearchError> {
        self.fields.document(product, &self.dictionary)
    }
}

#[cfg(test)]
mod tests;

/// A commit's segments with their deletes, as a searcher's generation lists them.
fn segments_of(metas: &IndexMeta) -> BTreeMap<SegmentId, Option<Opstamp>> {
    metas
        .segments
        .iter()
        .map(|segment| (segment.id(), segment.delete_opstamp()))
        .collect()
}

fn poisoned(lock: &str) -> SearchError {
    SearchError::Reader(format!("the {lock} lock is poisoned"))
}

fn order_marker(order_id: &str) -> String {
    format!("order:{order_id}")
}
