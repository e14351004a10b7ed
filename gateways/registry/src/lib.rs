//! The schema registry: the Confluent REST API served by Eventmall over the event store's
//! database, and the client side used by the relay and `events tail`, which talks to either
//! that embedded registry or an external one (Confluent, Apicurio's ccompat API, Redpanda).

pub mod http;
mod store;

/// The registry's rules for what it takes, kept with the contract so that they build (and are
/// fuzzed) without a server.
pub use eventmall_events::avro::{compatibility, limits};

/// Which registry the relay and the consumers use, and the embedded one's default level
/// (`[registry]`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrySettings {
    /// An external Confluent-compatible registry; empty means the embedded one.
    pub url: String,
    /// The embedded registry's global compatibility level until one is set through its API.
    pub compatibility: String,
    /// An API key for the external registry, sent as `Authorization: Bearer`: registering
    /// schemas with another Eventmall's registry takes an admin key.
    pub api_key: String,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            compatibility: "BACKWARD_TRANSITIVE".into(),
            api_key: String::new(),
        }
    }
}

use std::sync::Arc;

use apache_avro::Schema;
use async_trait::async_trait;
use eventmall_events::ingest::IngestRecord;
use eventmall_events::{AnyEvent, Codec, CodecError, EventSchema};
use schema_registry_converter::async_impl::schema_registry::{
    SrSettings, get_schema_by_id, post_schema,
};
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};
use tokio::sync::RwLock;

pub use compatibility::Level;
pub use store::{RegistryError, RegistryResult, RegistryStore, SubjectVersion, VersionSpec};

/// Where schemas are registered and looked up by id.
#[async_trait]
pub trait SchemaRegistry: Send + Sync {
    /// Registers `schema` under `subject`, answering its id.
    async fn register(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryClientError>;
    /// The schema registered as `id`.
    async fn schema(&self, id: u32) -> Result<Schema, RegistryClientError>;
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryClientError {
    #[error("schema {0} is not in the registry")]
    NotFound(u32),
    #[error("the registry refused {subject}: {reason}")]
    Refused { subject: String, reason: String },
    #[error("the registry is unavailable: {0}")]
    Unavailable(String),
}

fn to_text(schema: &Schema) -> Result<String, RegistryClientError> {
    serde_json::to_string(schema).map_err(|e| RegistryClientError::Unavailable(e.to_string()))
}

fn parse(id: u32, text: &str) -> Result<Schema, RegistryClientError> {
    Schema::parse_str(text).map_err(|e| RegistryClientError::Refused {
        subject: format!("schema {id}"),
        reason: e.to_string(),
    })
}

#[async_trait]
impl SchemaRegistry for RegistryStore {
    async fn register(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryClientError> {
        let id = RegistryStore::register(self, subject, &to_text(schema)?)
            .await
            .map_err(|error| match error {
                RegistryError::Store(e) => RegistryClientError::Unavailable(e.to_string()),
                other => RegistryClientError::Refused {
                    subject: subject.to_owned(),
                    reason: other.to_string(),
                },
            })?;
        u32::try_from(id)
            .map_err(|_| RegistryClientError::Unavailable(format!("schema id {id} out of range")))
    }

    async fn schema(&self, id: u32) -> Result<Schema, RegistryClientError> {
        match RegistryStore::schema(self, i64::from(id)).await {
            Ok(text) => parse(id, &text),
            Err(RegistryError::SchemaNotFound) => Err(RegistryClientError::NotFound(id)),
            Err(e) => Err(RegistryClientError::Unavailable(e.to_string())),
        }
    }
}

/// An external registry speaking the Confluent REST API, through `schema_registry_converter`.
pub struct RemoteRegistry {
    settings: SrSettings,
}

impl RemoteRegistry {
    pub fn new(url: &str) -> Self {
        Self {
            settings: SrSettings::new(url.trim_end_matches('/').to_owned()),
        }
    }

    /// The registry at `url`, sent `key` as a bearer token: an Eventmall API key, which an
    /// Eventmall registry wants for writes (registering a schema) and not for reads.
    pub fn with_key(url: &str, key: &str) -> Result<Self, RegistryClientError> {
        let settings = SrSettings::new_builder(url.trim_end_matches('/').to_owned())
            .set_token_authorization(key)
            .build()
            .map_err(|e| RegistryClientError::Unavailable(e.to_string()))?;
        Ok(Self { settings })
    }

    /// The registry of `settings`: with its key when one is configured.
    pub fn from_settings(settings: &RegistrySettings) -> Result<Self, RegistryClientError> {
        match settings.api_key.as_str() {
            "" => Ok(Self::new(&settings.url)),
            key => Self::with_key(&settings.url, key),
        }
    }
}

#[async_trait]
impl SchemaRegistry for RemoteRegistry {
    async fn register(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryClientError> {
        let name = schema.name().map(|name| name.fullname(None));
        let supplied = SuppliedSchema::new(name, SchemaType::Avro, to_text(schema)?);
        post_schema(&self.settings, subject.to_owned(), supplied)
            .await
            .map(|registered| registered.id)
            .map_err(|e| match e.retriable {
                true => RegistryClientError::Unavailable(e.to_string()),
                false => RegistryClientError::Refused {
                    subject: subject.to_owned(),
                    reason: e.to_string(),
                },
            })
    }

    async fn schema(&self, id: u32) -> Result<Schema, RegistryClientError> {
        match get_schema_by_id(id, &self.settings).await {
            Ok(registered) => parse(id, &registered.schema),
            Err(e) if e.error.contains("404") || e.error.contains("40403") => {
                Err(RegistryClientError::NotFound(id))
            }
            Err(e) => Err(RegistryClientError::Unavailable(e.to_string())),
        }
    }
}

/// A [`Codec`] kept in step with a registry: our schemas registered once, writers' schemas
/// fetched the first time their id is seen.
#[derive(Clone)]
pub struct RegisteredCodec {
    registry: Arc<dyn SchemaRegistry>,
    codec: Arc<RwLock<Codec>>,
}

impl RegisteredCodec {
    pub fn new(registry: Arc<dyn SchemaRegistry>) -> Self {
        Self {
            registry,
            codec: Arc::new(RwLock::new(Codec::new())),
        }
    }

    /// Registers every event type's current schema under its TopicRecordNameStrategy subject.
    pub async fn register(&self, schemas: &[EventSchema]) -> Result<(), RegistryClientError> {
        for event in schemas {
            let id = self
                .registry
                .register(&event.subject(), &event.schema)
                .await?;
            self.codec
                .write()
                .await
                .add_schema(id, event.schema.clone());
        }
        Ok(())
    }

    /// The codec, for encoding (after [`register`](Self::register)).
    pub async fn codec(&self) -> tokio::sync::RwLockReadGuard<'_, Codec> {
        self.codec.read().await
    }

    /// Fetches the writer's schema of `record` when it is new to the codec.
    pub async fn learn(&self, record: &[u8]) -> Result<(), CodecError> {
        let (id, _) = eventmall_events::codec::split(record)?;
        if self.codec.read().await.knows(id) {
            return Ok(());
        }
        match self.registry.schema(id).await {
            Ok(schema) => {
                self.codec.write().await.add_schema(id, schema);
                Ok(())
            }
            Err(RegistryClientError::NotFound(_)) => Err(CodecError::UnknownSchemaId(id)),
            Err(e) => Err(CodecError::SchemaUnavailable {
                id,
                reason: e.to_string(),
            }),
        }
    }

    /// Decodes an event record, fetching its writer's schema when needed.
    pub async fn decode(&self, record: &[u8]) -> Result<AnyEvent, CodecError> {
        self.learn(record).await?;
        self.codec.read().await.decode(record)
    }

    /// Decodes an ingest record, fetching its writer's schema when needed.
    pub async fn decode_ingest(&self, record: &[u8]) -> Result<IngestRecord, CodecError> {
        self.learn(record).await?;
        self.codec.read().await.decode_ingest(record)
    }

    /// Decodes a record of any registered schema into JSON.
    pub async fn decode_json(&self, record: &[u8]) -> Result<(u32, serde_json::Value), CodecError> {
        self.learn(record).await?;
        let (id, value) = self.codec.read().await.decode_value(record)?;
        let json =
            serde_json::Value::try_from(value).map_err(|e| CodecError::Malformed(e.to_string()))?;
        Ok((id, json))
    }
}
