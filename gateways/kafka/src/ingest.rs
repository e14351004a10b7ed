//! The ingest consumer: upstream producers' Avro records on the ingest topics, turned into
//! commands.
//!
//! Each record's command carries the producer's event id as its idempotency key, stored with
//! the events it appends. A record delivered again, after a crash or a rebalance, replays the
//! recorded result and appends nothing. Records are consumed per key, in order
//! ([`crate::keyed`]).
//!
//! A record that cannot become a command goes to the dead letters with the reason: a bad magic
//! byte, an unknown schema id, a truncated body, a failed check, a refused command. A registry
//! or a database that does not answer is retried in place.

pub mod translate;

use eventmall_aggregates::RejectionKind;
use eventmall_events::dead_letter::stage;
use eventmall_events::ingest::{self, IngestRecord};
use eventmall_events::{CodecError, CommandMetadata};
use eventmall_registry::RegisteredCodec;
use eventmall_store::idempotency::Internal;
use eventmall_store::{
    CommandError, CommandGateway, CommandRequest, Dispatch, IdempotencyClaim, Receipt,
};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use translate::IngestCommand;

pub use crate::keyed::Failure;
use crate::keyed::{Handler, KeyedConsumer};
use crate::{Consumed, IngestSettings, Result};

/// Turns ingest records into commands: decode, check, run, under the producer's event id.
#[derive(Clone)]
pub struct IngestCommands {
    commands: CommandGateway,
    codec: RegisteredCodec,
}

/// Consumes the ingest topics as one consumer group.
pub struct IngestConsumer {
    handler: IngestCommands,
    consumer: KeyedConsumer,
}

impl IngestConsumer {
    /// Registers the ingest contract and subscribes to the ingest topics; the topics must exist.
    pub async fn connect(
        commands: CommandGateway,
        codec: RegisteredCodec,
        bootstrap_servers: &str,
        settings: &IngestSettings,
    ) -> Result<Self> {
        let handler = IngestCommands::new(commands, codec).await?;
        let consumer = KeyedConsumer::subscribe(
            bootstrap_servers,
            &settings.group,
            settings.session_timeout_ms,
            &ingest::TOPICS,
            stage::INGEST,
        )?;
        Ok(Self { handler, consumer })
    }

    /// Consumes until `stop`; the batch in hand is finished first.
    pub async fn run(self, stop: CancellationToken) -> Result<()> {
        self.consumer.run(&self.handler, &stop).await;
        Ok(())
    }
}

impl Handler for IngestCommands {
    async fn handle(&self, record: &Consumed) -> Result<(), Failure> {
        self.execute(record).await.map(drop)
    }
}

impl IngestCommands {
    /// Registers the ingest contract, whose schemas producers look up.
    pub async fn new(commands: CommandGateway, codec: RegisteredCodec) -> Result<Self> {
        codec.register(&ingest::contract()).await?;
        Ok(Self { commands, codec })
    }

    /// Runs the command of one record, at most once per event id; or says why not.
    pub async fn execute(&self, record: &Consumed) -> Result<Receipt, Failure> {
        let value = record
            .value
            .as_deref()
            .ok_or_else(|| Failure::Poison("the record has no value".into()))?;
        let decoded = self.decode(value).await?;
        if decoded.topic() != record.topic {
            return Err(Failure::Poison(format!(
                "a {} belongs on {}, not {}",
                decoded.record_name(),
                decoded.topic(),
                record.topic
            )));
        }
        let command = translate::command(&decoded).map_err(Failure::Poison)?;
        let metadata = CommandMetadata {
            correlation_id: decoded.event_id().to_owned(),
            causation_id: format!("{}/{}/{}", record.topic, record.partition, record.offset),
            traceparent: record.header("traceparent").map(str::to_owned),
            actor: Some(format!("ingest:{}", decoded.partner_id())),
        };
        // Event ids are the partner's own: two partners' producers may both count from 1.
        let claim = IdempotencyClaim::internal(
            Internal::Ingest,
            format_args!(
                "{}/{}/{}",
                record.topic,
                decoded.partner_id(),
                decoded.event_id()
            ),
            fingerprint(&decoded),
        );
        let executed = match command {
            IngestCommand::Product { id, command } => {
                let request = CommandRequest::new(id, command, metadata).idempotent(claim);
                self.commands.dispatch(request).await
            }
            IngestCommand::Order { id, command } => {
                let request = CommandRequest::new(id, command, metadata).idempotent(claim);
                self.commands.dispatch(request).await
            }
        };
        executed.map_err(|error| match error {
            CommandError::Rejected(refusal) if refusal.kind() == RejectionKind::Unavailable => {
                Failure::Transient(refusal.to_string())
            }
            CommandError::Rejected(refusal) => {
                Failure::Poison(format!("refused: {}: {refusal}", refusal.code()))
            }
            CommandError::IdempotencyKeyReused => Failure::Poison(format!(
                "event_id {} was used before for a different record",
                decoded.event_id()
            )),
            CommandError::VersionConflict { .. } | CommandError::Store(_) => {
                Failure::Transient(error.to_string())
            }
        })
    }

    async fn decode(&self, value: &[u8]) -> Result<IngestRecord, Failure> {
        self.codec
            .decode_ingest(value)
            .await
            .map_err(|error| match error {
                CodecError::SchemaUnavailable { .. } => Failure::Transient(error.to_string()),
                other => Failure::Poison(other.to_string()),
            })
    }
}

/// What makes two records with one event id the same record: their content, whatever schema
/// version wrote it.
fn fingerprint(record: &IngestRecord) -> String {
    let content = serde_json::to_vec(record).unwrap_or_default();
    format!("{:x}", Sha256::digest(content))
}
