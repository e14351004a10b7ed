//! Eventmall's adapters to the outside: the SQL event store, the HTTP API, Kafka (relay, local
//! broker, tail), the schema registry, the CLI.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod consistency;
pub mod dead_letters;
pub mod demo;
pub mod feed;
pub mod http;
pub mod ingest;
pub mod kafka;
pub mod projector;
pub mod registry;
pub mod relay;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod views;
pub mod wallet;
