//! The SQL read models' checkpoints, which move in the same transaction as the rows they
//! account for.

use std::sync::{Arc, Mutex};

use eventmall_projections::projection::{Commit, Positions};
use eventmall_projections::{Checkpoint, Generation};
use sqlx::{Any, AnyPool, Transaction};

use crate::database::{WriteTx, begin_write};
use crate::{Error, Result};

/// The checkpoints table.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS projection_checkpoints (\
    projector TEXT NOT NULL, generation BIGINT NOT NULL, topic TEXT NOT NULL, \
    partition_id BIGINT NOT NULL, next_offset BIGINT NOT NULL, \
    position BIGINT NOT NULL DEFAULT 0, \
    PRIMARY KEY (projector, generation, topic, partition_id))";

/// Every checkpoint of a projector's generation.
pub(crate) async fn load<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    projector: &str,
    generation: Generation,
) -> Result<Vec<Checkpoint>> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT topic, partition_id, next_offset, position FROM projection_checkpoints \
         WHERE projector = $1 AND generation = $2 ORDER BY topic, partition_id",
    )
    .bind(projector)
    .bind(i64::from(generation.0))
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(topic, partition, next_offset, position)| Checkpoint {
            topic,
            partition: i32::try_from(partition).unwrap_or_default(),
            next_offset,
            position,
        })
        .collect())
}

/// Moves the checkpoints to `positions` inside `tx` and answers where each partition stood
/// before: records below that were applied already and must be skipped. The move is a
/// compare-and-set, so a zombie instance whose partition was reassigned cannot commit.
async fn advance(
    tx: &mut Transaction<'_, Any>,
    projector: &str,
    generation: Generation,
    positions: &[Checkpoint],
) -> Result<Positions> {
    let mut before = Positions::with_capacity(positions.len());
    for position in positions {
        let stored: Option<i64> = sqlx::query_scalar(
            "SELECT next_offset FROM projection_checkpoints \
             WHERE projector = $1 AND generation = $2 AND topic = $3 AND partition_id = $4",
        )
        .bind(projector)
        .bind(i64::from(generation.0))
        .bind(&position.topic)
        .bind(i64::from(position.partition))
        .fetch_optional(&mut **tx)
        .await?;
        let moved = match stored {
            Some(stored) if stored >= position.next_offset => true,
            Some(stored) => {
                sqlx::query(
                    "UPDATE projection_checkpoints SET next_offset = $1, \
                     position = CASE WHEN position > $7 THEN position ELSE $7 END \
                     WHERE projector = $2 AND generation = $3 AND topic = $4 \
                     AND partition_id = $5 AND next_offset = $6",
                )
                .bind(position.next_offset)
                .bind(projector)
                .bind(i64::from(generation.0))
                .bind(&position.topic)
                .bind(i64::from(position.partition))
                .bind(stored)
                .bind(position.position)
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1
            }
            None => {
                sqlx::query(
                    "INSERT INTO projection_checkpoints \
                     (projector, generation, topic, partition_id, next_offset, position) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(projector)
                .bind(i64::from(generation.0))
                .bind(&position.topic)
                .bind(i64::from(position.partition))
                .bind(position.next_offset)
                .bind(position.position)
                .execute(&mut **tx)
                .await?
                .rows_affected()
                    == 1
            }
        };
        if !moved {
            return Err(Error::Fenced {
                topic: position.topic.clone(),
                partition: position.partition,
            });
        }
        before.insert(
            (position.topic.clone(), position.partition),
            stored.unwrap_or(0),
        );
    }
    Ok(before)
}

/// Sets the next offsets of `moved` partitions (an operator's reset), keeping their positions.
pub(crate) async fn reset(
    pool: &AnyPool,
    projector: &str,
    generation: Generation,
    moved: &[Checkpoint],
) -> Result<()> {
    let mut tx = begin_write(pool).await?;
    for checkpoint in moved {
        sqlx::query(
            "INSERT INTO projection_checkpoints \
             (projector, generation, topic, partition_id, next_offset, position) \
             VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (projector, generation, topic, partition_id) \
             DO UPDATE SET next_offset = excluded.next_offset",
        )
        .bind(projector)
        .bind(i64::from(generation.0))
        .bind(&checkpoint.topic)
        .bind(i64::from(checkpoint.partition))
        .bind(checkpoint.next_offset)
        .execute(&mut **tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A batch's write transaction, begun with the checkpoints moved to `positions` in it; and where
/// each partition stood before.
pub(crate) async fn begin(
    pool: &AnyPool,
    projector: &str,
    generation: Generation,
    positions: &[Checkpoint],
) -> Result<(WriteTx, Positions)> {
    let mut tx = begin_write(pool).await?;
    let before = advance(&mut tx, projector, generation, positions).await?;
    Ok((tx, before))
}

/// The commit and the rollback of a batch's transaction, left for the runtime to await one of.
pub(crate) fn finish(tx: WriteTx) -> (Commit, Commit) {
    let slot = Arc::new(Mutex::new(Some(tx)));
    let take = |slot: &Mutex<Option<WriteTx>>| slot.lock().ok().and_then(|mut tx| tx.take());
    let kept = slot.clone();
    let commit: Commit = Box::pin(async move {
        match take(&kept) {
            Some(tx) => tx.commit().await.map_err(|e| Error::from(e).into()),
            None => Ok(()),
        }
    });
    let rollback: Commit = Box::pin(async move {
        match take(&slot) {
            Some(tx) => tx.rollback().await.map_err(|e| Error::from(e).into()),
            None => Ok(()),
        }
    });
    (commit, rollback)
}
