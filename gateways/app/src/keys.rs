//! `eventmall keys`: create, list, rotate and revoke API keys; and the demo's keys, which
//! `up --demo` writes into the data directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use eventmall_store::StoreError;
use eventmall_store::keys::{ApiKeys, Grant, IssuedKey, Principal, Role};

use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; prints it as JSON with its secret, which is not shown again.
    Create {
        /// `admin`, `partner` or `customer`.
        #[arg(long, value_parser = ["admin", "partner", "customer"])]
        role: String,
        /// The partner a partner key acts for.
        #[arg(long)]
        partner: Option<String>,
        /// The customer a customer key acts for.
        #[arg(long)]
        customer: Option<String>,
        /// What the key is for, shown in the list.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// Print every key as JSON lines, revoked ones included; never a secret.
    List,
    /// Revoke a key by its id: it authenticates nobody from then on.
    Revoke { key_id: String },
    /// A new key for the same principal and label; the old one is revoked.
    Rotate { key_id: String },
}

/// The keys in the configured event store, migrated first unless another process holds it.
pub async fn open(settings: &Settings) -> anyhow::Result<ApiKeys> {
    let url = settings.store_url();
    match eventmall_store::connect(&url, 1).await {
        // A running `up` or `serve` holds a SQLite store and migrated it; keys are written
        // beside it.
        Ok(_) | Err(StoreError::Locked(_)) => {}
        Err(error) => return Err(error).context("opening the event store"),
    }
    Ok(ApiKeys::new(eventmall_store::connect_pool(&url).await?))
}

pub async fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let keys = open(settings).await?;
    match command {
        KeysCommand::Create {
            role,
            partner,
            customer,
            label,
        } => {
            let role = Role::parse(&role).context("the role is admin, partner or customer")?;
            let subject = match role {
                Role::Admin => partner.or(customer),
                Role::Partner => partner,
                Role::Customer => customer,
            };
            let grant = Grant::new(role, subject.as_deref(), &label).map_err(anyhow::Error::msg)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&keys.create(&grant).await?)?
            );
        }
        KeysCommand::List => {
            for key in keys.list().await? {
                println!("{}", serde_json::to_string(&key)?);
            }
        }
        KeysCommand::Revoke { key_id } => {
            let revoked = keys
                .revoke(&key_id)
                .await?
                .with_context(|| format!("no key {key_id}"))?;
            println!("{}", serde_json::to_string(&revoked)?);
        }
        KeysCommand::Rotate { key_id } => match keys.rotate(&key_id).await? {
            Some(Ok(issued)) => println!("{}", serde_json::to_string_pretty(&issued)?),
            Some(Err(_)) => anyhow::bail!("key {key_id} is revoked; create a new one"),
            None => anyhow::bail!("no key {key_id}"),
        },
    }
    Ok(())
}

/// The demo's keys: `admin`, each partner's and each customer's, as files of one secret each
/// in `<data dir>/keys/`, named after whom they act for (`partner-001`, `customer-0001`).
#[derive(Clone, Debug, Default)]
pub struct DemoKeys {
    secrets: HashMap<String, String>,
}

impl DemoKeys {
    /// The directory the keys are written to.
    pub fn dir(data_dir: &Path) -> PathBuf {
        data_dir.join("keys")
    }

    /// The keys of `principals` (and an admin's), reusing each one whose file still holds a
    /// live key for it, creating the others.
    pub async fn ensure(
        keys: &ApiKeys,
        dir: &Path,
        principals: impl IntoIterator<Item = Principal>,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let admin = Principal::Admin {
            key_id: String::new(),
        };
        let mut secrets = HashMap::new();
        for principal in std::iter::once(admin).chain(principals) {
            let (name, subject) = match &principal {
                Principal::Admin { .. } => ("admin".to_owned(), None),
                Principal::Partner(id) | Principal::Customer(id) => (id.clone(), Some(id.as_str())),
            };
            let file = dir.join(&name);
            if let Ok(secret) = std::fs::read_to_string(&file)
                && let Some(key) = keys.authenticate(secret.trim()).await?
                && key.role == principal.role()
                && key.subject.as_deref() == subject
            {
                secrets.insert(name, secret.trim().to_owned());
                continue;
            }
            let grant =
                Grant::new(principal.role(), subject, "demo").map_err(anyhow::Error::msg)?;
            let IssuedKey { secret, .. } = keys.create(&grant).await?;
            write_secret(&file, &secret)?;
            secrets.insert(name, secret);
        }
        Ok(Self { secrets })
    }

    /// The secret of the key acting for `name` (`admin`, a partner or customer id).
    pub fn secret(&self, name: &str) -> Option<&str> {
        self.secrets.get(name).map(String::as_str)
    }
}

/// Writes a secret readable by its owner only.
fn write_secret(file: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut out = options
        .open(file)
        .with_context(|| format!("writing {}", file.display()))?;
    writeln!(out, "{secret}")?;
    Ok(())
}
