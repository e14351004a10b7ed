//! Eventmall on Kafka, through rdkafka: client settings and topics, the local broker that `up`
//! starts, the relay that publishes the store, the projector runtime that feeds the read
//! models and the supervisor that runs them per generation, the replay tooling (rebuilds,
//! swaps, verify, offset resets, republish), the ingest consumer of upstream producers, the
//! dead letters, read-your-writes, and `events tail`.

pub mod broker;
pub mod client;
pub mod consistency;
pub mod dead_letters;
mod error;
pub mod ingest;
pub mod keyed;
pub mod policy;
pub mod projector;
pub mod record;
pub mod relay;
pub mod replay;
mod settings;
pub mod tail;

pub use client::{client_config, ensure_topics, partition_ends, producer_config};
pub use error::{Error, Result};
pub use record::Consumed;
pub use settings::{
    BrokerSettings, IngestSettings, KafkaSettings, PolicySettings, ProjectorSettings,
    RelaySettings, ReplaySettings,
};
