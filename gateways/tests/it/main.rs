//! Integration tests: the event store on SQLite and PostgreSQL, and the HTTP API end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod bad_input;
mod concurrency;
mod demo;
mod event_store;
mod helpers;
mod idempotency;
mod out_of_order;
mod sqlite_writer;
