//! The dead-letter topic: records a consumer could not use, and feed lines a run rejected,
//! kept whole with why and where they came from, so that nothing is dropped silently and each
//! can be looked at and retried.
//!
//! A dead letter keeps its source record's key, raw value and headers, and adds the headers of
//! [`header`]. Its value is cut to fit the broker's record size when it would not; the header
//! [`header::VALUE_TRUNCATED_FROM`] then says how long it was.

/// The topic of every dead letter.
pub const TOPIC: &str = "eventmall.dead-letter.v1";

/// The letters retried: keyed `<partition>/<offset>` of the letter, valued with the JSON of
/// where its record went (`topic`, `partition`, `offset`). A retried letter is listed no more
/// and not retried twice.
pub const RETRIED_TOPIC: &str = "eventmall.dead-letter.retried.v1";

/// Headers a dead letter adds to those of its source record.
pub mod header {
    /// Why the record was refused.
    pub const REASON: &str = "dead_letter.reason";
    /// Who refused it: a projector's name, [`super::stage::INGEST`], [`super::stage::FEED`] or
    /// [`super::stage::POLICY`].
    pub const STAGE: &str = "dead_letter.stage";
    /// The topic the record was read from.
    pub const SOURCE_TOPIC: &str = "dead_letter.source_topic";
    /// Its partition there.
    pub const SOURCE_PARTITION: &str = "dead_letter.source_partition";
    /// Its offset there.
    pub const SOURCE_OFFSET: &str = "dead_letter.source_offset";
    /// The length in bytes of a value that was cut to fit the broker's record size.
    pub const VALUE_TRUNCATED_FROM: &str = "dead_letter.value_truncated_from";
    /// A rejected feed line's partner (stage `feed`), in place of a source topic.
    pub const FEED_PARTNER: &str = "feed.partner_id";
    /// A rejected feed line's run.
    pub const FEED_RUN: &str = "feed.run_id";
    /// A rejected feed line's number, 1-based, the header counted.
    pub const FEED_LINE: &str = "feed.line";
}

/// The stages that refuse records, besides the projectors (which go by their names).
pub mod stage {
    /// The ingest consumer of the upstream producers' topics.
    pub const INGEST: &str = "ingest";
    /// A partner feed's run: its rejected lines.
    pub const FEED: &str = "feed";
    /// The payment policy: events it cannot follow.
    pub const POLICY: &str = "policy";
}

/// A dead letter to send: key, value and headers, as the record will carry them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeadLetter {
    /// The source record's key.
    pub key: Option<Vec<u8>>,
    /// The source record's raw value.
    pub value: Option<Vec<u8>>,
    /// The source record's headers, then the dead letter's own.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl DeadLetter {
    /// A letter of `key` and `value`, without headers yet.
    pub fn new(key: Option<Vec<u8>>, value: Option<Vec<u8>>) -> Self {
        Self {
            key,
            value,
            headers: Vec::new(),
        }
    }

    /// The letter with one more header.
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The value of header `name`, when it is there and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }
}
