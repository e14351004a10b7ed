use eventmall_events::CodecError;
use eventmall_projections::ReadModelError;
use eventmall_registry::RegistryClientError;
use eventmall_store::StoreError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong between Eventmall and a Kafka cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("topic {0} does not exist")]
    NoSuchTopic(String),
    #[error("the local broker: {0}")]
    Broker(String),
    #[error("the local broker: {context}: {source}")]
    BrokerFile {
        context: String,
        source: std::io::Error,
    },
    #[error("reading {0} timed out")]
    Timeout(&'static str),
    #[error("no Kafka cluster is configured for this process")]
    NoCluster,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryClientError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    ReadModel(#[from] ReadModelError),
    #[error(transparent)]
    ReadModels(#[from] eventmall_read_models::Error),
    /// Another rebuild holds the projection.
    #[error(transparent)]
    Held(#[from] eventmall_read_models::replays::Held),
    /// A generation is not in a state the step needs.
    #[error(transparent)]
    Generation(#[from] eventmall_read_models::generations::Refused),
    /// A replay step refused, with why.
    #[error("{0}")]
    Replay(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
