//! How a refused command is classified, whatever the aggregate.

/// The class of a refusal; the HTTP layer maps it to a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectionKind {
    /// The aggregate does not exist (yet).
    NotFound,
    /// The caller may not change this aggregate.
    Forbidden,
    /// An invariant or a legal transition would be broken.
    Invariant,
    /// A service port (catalog, wallet) could not answer; the command may be retried.
    Unavailable,
}

/// A typed refusal of a command.
pub trait Rejection: std::error::Error {
    /// Its class.
    fn kind(&self) -> RejectionKind;
    /// A stable, machine-readable code (`illegal-transition`).
    fn code(&self) -> &'static str;
}
