//! The policy as a consumer group of the order and payment topics, with the loop that fires
//! its due timers.

use std::time::Duration;

use eventmall_events::dead_letter::stage;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Policy, TOPICS};
use crate::keyed::KeyedConsumer;
use crate::{PolicySettings, Result};

/// The policy as a consumer group, with its timer loop.
pub struct PolicyConsumer {
    policy: Policy,
    consumer: KeyedConsumer,
    timer_poll: Duration,
}

impl PolicyConsumer {
    /// Subscribes to the order and payment topics, which must exist.
    pub fn connect(
        policy: Policy,
        bootstrap_servers: &str,
        settings: &PolicySettings,
    ) -> Result<Self> {
        let consumer = KeyedConsumer::subscribe(
            bootstrap_servers,
            &settings.group,
            settings.session_timeout_ms,
            &TOPICS,
            stage::POLICY,
        )?;
        Ok(Self {
            policy,
            consumer,
            timer_poll: Duration::from_millis(settings.timer_poll_ms.max(10)),
        })
    }

    /// Follows the events and fires the due timers until `stop`.
    pub async fn run(self, stop: CancellationToken) -> Result<()> {
        info!("payment policy started");
        let timers = async {
            while !stop.is_cancelled() {
                if let Err(error) = self.policy.fire_due().await {
                    warn!(%error, "due timers not read");
                }
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = tokio::time::sleep(self.timer_poll) => {}
                }
            }
        };
        tokio::join!(self.consumer.run(&self.policy, &stop), timers);
        info!("payment policy stopped");
        Ok(())
    }
}
