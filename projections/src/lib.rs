//! Eventmall's read models and the domain of the projectors that build them.
//!
//! Nothing here does I/O of its own except the search index, whose files are the read model
//! itself: the SQL read models are computed here as changes to rows, which the gateways write
//! in one transaction together with the consumed offsets. [`Projection`] is what the projector
//! runtime asks of a read model.

pub mod checkpoint;
pub mod contents;
pub mod envelope;
pub mod orders;
pub mod projection;
pub mod recommendations;
pub mod search;

pub use checkpoint::{Checkpoint, Generation};
pub use contents::{Contents, Differences};
pub use envelope::Envelope;
pub use projection::{Batch, Delivered, Prepared, Projection, ReadModelError};

/// Why an event could not be applied to a read model. The projector sends its record to the
/// dead letters with this reason and moves on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProjectionError {
    #[error("{event_type} for unknown {aggregate} {id}")]
    UnknownAggregate {
        aggregate: &'static str,
        id: String,
        event_type: &'static str,
    },
    #[error("{0}")]
    Inconsistent(String),
    /// A document larger than a read model analyses (an event from before the bounds on its
    /// fields, or from a producer that skipped them).
    #[error("{what} has {size} characters to analyse, at most {max}")]
    OverBudget {
        what: String,
        size: usize,
        max: usize,
    },
    /// A sum would leave the range of its column.
    #[error("{0} overflows")]
    Overflow(String),
    /// An event past the next one of its aggregate: the ones between have not arrived. A read
    /// model applies each aggregate's events one after the other, so this one is held out (as
    /// a dead letter); the relay's resend of the ones between brings it again.
    #[error("sequence gap in {aggregate}: expected event {expected}, got {got}")]
    Gap {
        aggregate: String,
        expected: i64,
        got: i64,
    },
}

impl ProjectionError {
    /// Checks that `sequence` is the next event of `aggregate`, whose last applied one is
    /// `version` (0 for none).
    pub fn check_next(aggregate: &str, version: i64, sequence: i64) -> Result<()> {
        match sequence == version + 1 {
            true => Ok(()),
            false => Err(Self::Gap {
                aggregate: aggregate.to_owned(),
                expected: version + 1,
                got: sequence,
            }),
        }
    }
}

pub type Result<T, E = ProjectionError> = std::result::Result<T, E>;
