//! API keys: who a caller is. A key is 256 random bits, shown once when it is created; the
//! database keeps only its SHA-256, so a copy of the database grants nothing. A key names one
//! principal (an admin, a partner or a customer) and is revoked, never deleted, so its id still
//! tells who acted in the events it recorded.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eventmall_events::ids::{MAX_TEXT_ID_CHARS, is_text_id};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::any::AnyRow;

use crate::{StoreError, StoreResult};

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "emk_";
/// The random part's size: 256 bits.
const SECRET_BYTES: usize = 32;
/// The random part as written: unpadded base64url of 32 bytes.
const SECRET_CHARS: usize = 43;
/// The longest label a key may carry.
pub const MAX_LABEL_CHARS: usize = 200;

/// A key's role: what kind of principal holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Partner,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Partner => "partner",
            Role::Customer => "customer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "partner" => Some(Role::Partner),
            "customer" => Some(Role::Customer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who holds a key: an admin (known by the key's id), one partner or one customer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    Admin { key_id: String },
    Partner(String),
    Customer(String),
}

impl Principal {
    pub fn role(&self) -> Role {
        match self {
            Principal::Admin { .. } => Role::Admin,
            Principal::Partner(_) => Role::Partner,
            Principal::Customer(_) => Role::Customer,
        }
    }

    /// How the principal is recorded as a command's actor: `admin:<key id>`, `partner:<id>`,
    /// `customer:<id>`.
    pub fn actor(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Admin { key_id } => write!(f, "admin:{key_id}"),
            Principal::Partner(id) => write!(f, "partner:{id}"),
            Principal::Customer(id) => write!(f, "customer:{id}"),
        }
    }
}

/// What a new key is for: a role, whose (for a partner or customer key), and a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    role: Role,
    subject: Option<String>,
    label: String,
}

impl Grant {
    /// `subject` is the partner or customer id; only those roles take one.
    pub fn new(role: Role, subject: Option<&str>, label: &str) -> Result<Self, String> {
        if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
            return Err(format!(
                "a key's label has at most {MAX_LABEL_CHARS} characters and no control characters"
            ));
        }
        let subject = match (role, subject) {
            (Role::Admin, None) => None,
            (Role::Admin, Some(_)) => {
                return Err("an admin key names no partner or customer".into());
            }
            (_, Some(id)) if is_text_id(id) => Some(id.to_owned()),
            (_, Some(_)) => {
                return Err(format!(
                    "a {role} id has 1 to {MAX_TEXT_ID_CHARS} of A-Z a-z 0-9 . _ -"
                ));
            }
            (_, None) => return Err(format!("a {role} key names its {role}")),
        };
        Ok(Self {
            role,
            subject,
            label: label.to_owned(),
        })
    }
}

/// A key as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub key_id: String,
    pub role: Role,
    /// The partner or customer id of a partner or customer key.
    pub subject: Option<String>,
    pub label: String,
    pub created_at_ms: i64,
    /// When it was revoked; a revoked key authenticates nobody.
    pub revoked_at_ms: Option<i64>,
}

impl ApiKey {
    /// Who the key speaks for.
    pub fn principal(&self) -> Principal {
        let subject = self.subject.clone().unwrap_or_default();
        match self.role {
            Role::Admin => Principal::Admin {
                key_id: self.key_id.clone(),
            },
            Role::Partner => Principal::Partner(subject),
            Role::Customer => Principal::Customer(subject),
        }
    }
}

/// A key just created, with the secret that is shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key to send as `Authorization: Bearer <secret>`. Not stored; not shown again.
    pub secret: String,
}

/// The keys in the event store's database.
#[derive(Clone, Debug)]
pub struct ApiKeys {
    pool: AnyPool,
}

const COLUMNS: &str = "key_id, role, subject, label, created_at_ms, revoked_at_ms";

impl ApiKeys {
    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    /// A new key for `grant`.
    pub async fn create(&self, grant: &Grant) -> StoreResult<IssuedKey> {
        insert(&self.pool, grant).await
    }

    /// A new key for the principal and label of `key_id`, which is revoked in the same
    /// transaction; `None` when there is no such key, the revoked key when it was already.
    pub async fn rotate(&self, key_id: &str) -> StoreResult<Option<Result<IssuedKey, ApiKey>>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"))
            .bind(key_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(old) = row.as_ref().map(row_key).transpose()? else {
            return Ok(None);
        };
        if old.revoked_at_ms.is_some() {
            return Ok(Some(Err(old)));
        }
        let grant = Grant {
            role: old.role,
            subject: old.subject,
            label: old.label,
        };
        let issued = insert(&mut *tx, &grant).await?;
        revoke(&mut *tx, key_id).await?;
        tx.commit().await?;
        Ok(Some(Ok(issued)))
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list(&self) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at_ms, key_id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_key).collect()
    }

    /// Revokes a key; `None` when there is no such key. Revoking twice keeps the first time.
    pub async fn revoke(&self, key_id: &str) -> StoreResult<Option<ApiKey>> {
        revoke(&self.pool, key_id).await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM api_keys WHERE key_id = $1"))
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_key).transpose()
    }

    /// The live key whose secret this is; `None` for an unknown or revoked one.
    pub async fn authenticate(&self, secret: &str) -> StoreResult<Option<ApiKey>> {
        if !looks_like_key(secret) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at_ms IS NULL"
        ))
        .bind(hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_key).transpose()
    }
}

async fn insert(executor: impl sqlx::AnyExecutor<'_>, grant: &Grant) -> StoreResult<IssuedKey> {
    // ThreadRng is a CSPRNG (ChaCha12), seeded and reseeded from the operating system.
    let mut random = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut random);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(random));
    let key = ApiKey {
        key_id: uuid::Uuid::now_v7().simple().to_string(),
        role: grant.role,
        subject: grant.subject.clone(),
        label: grant.label.clone(),
        created_at_ms: chrono::Utc::now().timestamp_millis(),
        revoked_at_ms: None,
    };
    sqlx::query(
        "INSERT INTO api_keys (key_id, secret_hash, role, subject, label, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.key_id)
    .bind(hash(&secret))
    .bind(key.role.as_str())
    .bind(&key.subject)
    .bind(&key.label)
    .bind(key.created_at_ms)
    .execute(executor)
    .await?;
    Ok(IssuedKey { key, secret })
}

async fn revoke(executor: impl sqlx::AnyExecutor<'_>, key_id: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE api_keys SET revoked_at_ms = $2 WHERE key_id = $1 AND revoked_at_ms IS NULL",
    )
    .bind(key_id)
    .bind(chrono::Utc::now().timestamp_millis())
    .execute(executor)
    .await?;
    Ok(())
}

/// Whether `secret` has a key's shape, before anything is hashed or asked.
fn looks_like_key(secret: &str) -> bool {
    secret.strip_prefix(KEY_PREFIX).is_some_and(|random| {
        random.len() == SECRET_CHARS
            && random
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn hash(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

fn row_key(row: &AnyRow) -> StoreResult<ApiKey> {
    use sqlx::Row;
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        key_id: row.try_get("key_id")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("an API key with role {role:?}")))?,
        subject: row.try_get("subject")?,
        label: row.try_get("label")?,
        created_at_ms: row.try_get("created_at_ms")?,
        revoked_at_ms: row.try_get("revoked_at_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_its_prefix_and_256_random_bits() {
        let random = URL_SAFE_NO_PAD.encode([7u8; SECRET_BYTES]);
        assert!(looks_like_key(&format!("{KEY_PREFIX}{random}")));
        assert!(!looks_like_key(&random));
        assert!(!looks_like_key(&format!("{KEY_PREFIX}{}", &random[1..])));
        assert!(!looks_like_key(&format!("{KEY_PREFIX}{}é", &random[2..])));
    }

    #[test]
    fn only_partner_and_customer_keys_name_someone() {
        assert!(Grant::new(Role::Admin, None, "ops").is_ok());
        assert!(Grant::new(Role::Admin, Some("p"), "").is_err());
        assert!(Grant::new(Role::Partner, None, "").is_err());
        assert!(Grant::new(Role::Customer, Some("a/b"), "").is_err());
        assert!(Grant::new(Role::Customer, Some("customer-1"), "").is_ok());
        assert!(Grant::new(Role::Customer, Some("customer-1"), "a\nb").is_err());
    }
}
