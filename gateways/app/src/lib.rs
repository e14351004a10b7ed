//! The `eventmall` binary's library: layered configuration, telemetry, the application and the
//! roles it runs, the command line, and the demo world. Everything else is in the crates beside
//! this one; this is where they are wired together.

pub mod cli;
pub mod config;
pub mod demo;
pub mod keys;
pub mod replay;
pub mod roles;
pub mod startup;
pub mod telemetry;
