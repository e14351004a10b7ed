//! Eventmall's adapters to the outside: the SQL event store, the HTTP API, the CLI.

pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod http;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod wallet;
