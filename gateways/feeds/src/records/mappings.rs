//! The partners' field mappings for CSV and JSON Lines feeds: a new version on every change.

use chrono::Utc;
use sqlx::Row;

use super::FeedRecords;
use crate::{FeedFormat, FieldMapping};

impl FeedRecords {
    /// Stores `fields` as the partner's newest mapping for `format`; answers its version.
    pub async fn put_mapping(
        &self,
        partner: &str,
        format: FeedFormat,
        fields: &FieldMapping,
    ) -> Result<i64, sqlx::Error> {
        let json =
            serde_json::to_string(fields).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        // The next version; two writers racing for it collide on the primary key.
        let row = sqlx::query(
            "INSERT INTO feed_mappings (partner_id, format, version, fields, created_at_ms) \
             SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4 FROM feed_mappings \
             WHERE partner_id = $1 AND format = $2 RETURNING version",
        )
        .bind(partner)
        .bind(format.as_str())
        .bind(json)
        .bind(Utc::now().timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        row.try_get(0)
    }

    /// The partner's newest mapping for `format`, with its version.
    pub async fn mapping(
        &self,
        partner: &str,
        format: FeedFormat,
    ) -> Result<Option<(i64, FieldMapping)>, sqlx::Error> {
        let Some(row) = sqlx::query(
            "SELECT version, fields FROM feed_mappings WHERE partner_id = $1 AND format = $2 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(partner)
        .bind(format.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let fields: String = row.try_get(1)?;
        let mapping =
            serde_json::from_str(&fields).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        Ok(Some((row.try_get(0)?, mapping)))
    }
}
