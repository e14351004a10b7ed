//! Integration tests: the event store on SQLite and PostgreSQL, the HTTP API end to end, and
//! Kafka (relay, registry, tail) against brokers the tests start.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod auth;
mod bad_input;
mod catch_up;
mod concurrency;
mod console;
mod dead_letters;
mod demo;
mod deploy;
mod event_store;
mod exactly_once;
mod faults;
mod feed;
mod hardening;
mod helpers;
mod idempotency;
mod ingest;
mod interop;
mod kafka;
mod observability;
mod openapi;
mod out_of_order;
mod policy;
mod privacy;
mod product_rules;
mod projector;
mod read_api;
mod registry;
mod relay;
mod replay;
mod scale_out;
mod sqlite_writer;
mod up;
