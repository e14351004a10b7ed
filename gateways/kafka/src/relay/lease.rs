//! The relay's row in the database: the position published up to and the lease that makes one
//! relay instance the active one. Only the lease holder can move the position.

use std::time::Duration;

use sqlx::AnyPool;

/// A relay instance's hold on its relay name.
#[derive(Clone, Debug)]
pub struct RelayLease {
    pool: AnyPool,
    name: String,
    holder: String,
    ttl: Duration,
}

/// What the database says about a relay.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RelayRow {
    pub name: String,
    pub position: i64,
    pub holder: String,
    pub lease_expires_at_ms: i64,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl RelayLease {
    pub fn new(pool: AnyPool, name: &str, ttl: Duration) -> Self {
        Self {
            pool,
            name: name.to_owned(),
            holder: format!("{}-{}", hostname(), uuid::Uuid::now_v7()),
            ttl,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long the lease lasts unrenewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn expiry(&self) -> i64 {
        now_ms() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Takes or renews the lease; answers the published position when this instance holds it.
    pub async fn acquire(&self) -> Result<Option<i64>, sqlx::Error> {
        let taken = sqlx::query(
            "INSERT INTO relay_state (name, position, holder, lease_expires_at_ms) VALUES ($1, 0, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             lease_expires_at_ms = excluded.lease_expires_at_ms \
             WHERE relay_state.holder = excluded.holder OR relay_state.lease_expires_at_ms < $4",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(self.expiry())
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        if !taken {
            return Ok(None);
        }
        sqlx::query_scalar("SELECT position FROM relay_state WHERE name = $1 AND holder = $2")
            .bind(&self.name)
            .bind(&self.holder)
            .fetch_optional(&self.pool)
            .await
    }

    /// How long until another instance's hold lapses, so that a standby asks again just then
    /// rather than up to a whole standby interval later.
    pub async fn lapses_in(&self) -> Result<Duration, sqlx::Error> {
        let expires: Option<i64> =
            sqlx::query_scalar("SELECT lease_expires_at_ms FROM relay_state WHERE name = $1")
                .bind(&self.name)
                .fetch_optional(&self.pool)
                .await?;
        let left = expires.map_or(0, |at| at.saturating_sub(now_ms()).max(0));
        Ok(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
    }

    /// Records that everything up to `position` is delivered, renewing the lease. `false` means
    /// the lease was lost to another instance and nothing was written.
    pub async fn commit(&self, position: i64) -> Result<bool, sqlx::Error> {
        let updated = sqlx::query(
            "UPDATE relay_state SET position = $1, lease_expires_at_ms = $2 \
             WHERE name = $3 AND holder = $4 AND position <= $5",
        )
        .bind(position)
        .bind(self.expiry())
        .bind(&self.name)
        .bind(&self.holder)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Gives the lease up so that a standby takes over at once.
    pub async fn release(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE relay_state SET lease_expires_at_ms = 0 WHERE name = $1 AND holder = $2",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Every relay's row.
pub async fn relay_rows(pool: &AnyPool) -> Result<Vec<RelayRow>, sqlx::Error> {
    let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT name, position, holder, lease_expires_at_ms FROM relay_state ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, position, holder, lease_expires_at_ms)| RelayRow {
            name,
            position,
            holder,
            lease_expires_at_ms,
        })
        .collect())
}

/// This machine's name, from the kernel.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "relay".into())
}
