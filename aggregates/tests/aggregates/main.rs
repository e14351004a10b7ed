//! Given/when/then tests of the aggregates, with no I/O.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod invariants;
mod order;
mod payment;
mod policy;
mod product;
mod support;
