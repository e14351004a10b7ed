//! The vault of customers' data keys: it seals personal data before it is recorded, opens it
//! for the read routes, and forgets a customer by destroying its keys (crypto-shredding). The
//! keys live in the event store's database (`customer_keys`), never in events or on Kafka.
//!
//! Sealing is AES-256-GCM with a random 96-bit nonce and the key id as associated data:
//! `pii:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use eventmall_aggregates::order::{CatalogError, PiiSealer};
use eventmall_events::CustomerId;
use eventmall_events::pii::{REDACTED, SEALED_PREFIX, parse_sealed};
use rand::RngCore;
use sqlx::{AnyPool, Row};
use tracing::warn;

use crate::{StoreError, StoreResult};

const NONCE_BYTES: usize = 12;

/// The customers' data keys, in the event store's database.
#[derive(Clone, Debug)]
pub struct PiiVault {
    pool: AnyPool,
}

/// A customer's live key.
struct DataKey {
    key_id: String,
    cipher: Aes256Gcm,
}

impl PiiVault {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// `plaintext` sealed with `customer`'s live key, made first if it has none.
    pub async fn seal_for(&self, customer: &str, plaintext: &str) -> StoreResult<String> {
        let key = self.live_key(customer).await?;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: key.key_id.as_bytes(),
        };
        let sealed = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .map_err(|_| StoreError::Corrupt("AES-GCM refused to seal".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!(
            "{SEALED_PREFIX}{}:{}",
            key.key_id,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    async fn live_key(&self, customer: &str) -> StoreResult<DataKey> {
        if let Some(key) = self.find_live(customer).await? {
            return Ok(key);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        // Another process making one at the same moment wins; its key is then the one found.
        sqlx::query(
            "INSERT INTO customer_keys (key_id, customer_id, data_key, created_at_ms) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(uuid::Uuid::now_v7().simple().to_string())
        .bind(customer)
        .bind(STANDARD.encode(key))
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?;
        self.find_live(customer)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("no live data key for {customer}")))
    }

    async fn find_live(&self, customer: &str) -> StoreResult<Option<DataKey>> {
        let row = sqlx::query(
            "SELECT key_id, data_key FROM customer_keys \
             WHERE customer_id = $1 AND destroyed_at_ms IS NULL",
        )
        .bind(customer)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let key_id: String = row.try_get("key_id")?;
        let data_key: Option<String> = row.try_get("data_key")?;
        Ok(data_key
            .and_then(|key| cipher(&key))
            .map(|cipher| DataKey { key_id, cipher }))
    }

    /// Destroys every key of `customer`: what they sealed can never be read again. How many
    /// keys were destroyed.
    pub async fn forget(&self, customer: &str) -> StoreResult<u64> {
        let destroyed = sqlx::query(
            "UPDATE customer_keys SET data_key = NULL, destroyed_at_ms = $2 \
             WHERE customer_id = $1 AND destroyed_at_ms IS NULL",
        )
        .bind(customer)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(destroyed)
    }

    /// An opener for one request: it looks each key up once.
    pub fn opener(&self) -> Opener<'_> {
        Opener {
            vault: self,
            keys: HashMap::new(),
        }
    }
}

fn cipher(key: &str) -> Option<Aes256Gcm> {
    let bytes = STANDARD.decode(key).ok()?;
    (bytes.len() == 32).then(|| Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)))
}

/// Opens sealed text for one read, each key looked up once.
pub struct Opener<'a> {
    vault: &'a PiiVault,
    keys: HashMap<String, Option<Aes256Gcm>>,
}

impl Opener<'_> {
    /// The plaintext of sealed text; [`REDACTED`] when its key was destroyed (or the text was
    /// tampered with); text that is not sealed (recorded before sealing existed) as it is.
    pub async fn open(&mut self, text: &str) -> StoreResult<String> {
        let Some((key_id, payload)) = parse_sealed(text) else {
            return Ok(text.to_owned());
        };
        if !self.keys.contains_key(key_id) {
            let key: Option<Option<String>> =
                sqlx::query("SELECT data_key FROM customer_keys WHERE key_id = $1")
                    .bind(key_id)
                    .fetch_optional(&self.vault.pool)
                    .await?
                    .map(|row| row.try_get("data_key"))
                    .transpose()?;
            let cipher = key.flatten().and_then(|key| cipher(&key));
            self.keys.insert(key_id.to_owned(), cipher);
        }
        let Some(Some(cipher)) = self.keys.get(key_id) else {
            return Ok(REDACTED.to_owned());
        };
        let opened = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .filter(|bytes| bytes.len() > NONCE_BYTES)
            .and_then(|bytes| {
                let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
                let payload = Payload {
                    msg: sealed,
                    aad: key_id.as_bytes(),
                };
                cipher.decrypt(Nonce::from_slice(nonce), payload).ok()
            })
            .and_then(|plain| String::from_utf8(plain).ok());
        Ok(opened.unwrap_or_else(|| {
            warn!(key_id, "sealed text that its key does not open");
            REDACTED.to_owned()
        }))
    }
}

#[async_trait]
impl PiiSealer for PiiVault {
    async fn seal(&self, customer: &CustomerId, plaintext: &str) -> Result<String, CatalogError> {
        self.seal_for(&customer.0, plaintext)
            .await
            .map_err(|e| CatalogError(e.to_string()))
    }
}
