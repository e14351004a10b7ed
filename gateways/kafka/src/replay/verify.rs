//! `replay verify`: the live generation against a scratch rebuild at the live one's cut. The
//! scratch generation consumes from offset 0 up to exactly the offsets the live one had applied
//! when its contents were read, and stops there; both are then compared row by row.

use eventmall_projections::{Checkpoint, Contents, Differences};
use eventmall_read_models::generations::{self, GenerationState};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::Replay;
use crate::Result;
use crate::projector::Until;

/// A comparison of two generations at one cut.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Verified {
    pub projector: String,
    /// The offsets both were compared at.
    #[schema(value_type = Vec<Object>)]
    pub cut: Vec<Checkpoint>,
    pub rows: usize,
    pub live_checksum: String,
    pub rebuilt_checksum: String,
    pub clean: bool,
    /// The keys that differ; `left` is the live generation's row, `right` the rebuilt one's.
    pub differences: Differences,
}

impl Verified {
    pub(super) fn compare(
        projector: &str,
        live: &Contents,
        rebuilt: &Contents,
        shown: usize,
    ) -> Self {
        let differences = live.differences(rebuilt, shown);
        Self {
            projector: projector.to_owned(),
            cut: live.checkpoints.clone(),
            rows: live.len(),
            live_checksum: live.checksum(),
            rebuilt_checksum: rebuilt.checksum(),
            clean: differences.count == 0,
            differences,
        }
    }
}

impl Replay {
    /// Builds a scratch generation to the live one's cut, compares the two, and drops the
    /// scratch one.
    pub async fn verify(&self, name: &str) -> Result<Verified> {
        let name = eventmall_read_models::Stores::known(name)?;
        let pool = &self.stores.pool;
        let key = self.stores.key(name);
        let live = generations::live(pool, &key).await?;
        let live = self.stores.open(name, live).await?.contents().await?;
        let scratch = generations::create(pool, &key, GenerationState::Scratch).await?;
        info!(projector = name, %scratch, cut = ?live.checkpoints, "verifying against a scratch rebuild");
        let built = async {
            let read_model = self.stores.open(name, scratch).await?;
            self.projector(&read_model.projection())?
                .until(Until::at(&live.checkpoints))
                .spawn(CancellationToken::new())
                .await??;
            read_model.contents().await.map_err(crate::Error::from)
        }
        .await;
        let dropped = self
            .drop_generation(name, scratch, GenerationState::Scratch)
            .await;
        let verified = Verified::compare(name, &live, &built?, self.settings.shown_differences);
        dropped?;
        Ok(verified)
    }
}
