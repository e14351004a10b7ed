//! The policy's durable timers: the due ones read from the event store and fired, each closed
//! with its command (or as moot when nothing is left to do).

use chrono::Utc;
use eventmall_aggregates::policy::TimerKind;
use eventmall_store::{StoreResult, Timer, TimerWrite};
use tracing::warn;

use super::{Cause, Outcome, Policy, Subject, TIMERS_PER_LOOK, Trigger};
use crate::keyed::Failure;

impl Policy {
    /// Fires the timers due now; how many were fired.
    pub async fn fire_due(&self) -> StoreResult<usize> {
        let backend = self.commands.backend();
        let due = backend.due_timers(Utc::now(), TIMERS_PER_LOOK).await?;
        let mut fired = 0;
        for timer in &due {
            if self.fire(timer).await {
                fired += 1;
            }
        }
        metrics::counter!("eventmall_policy_timers_fired_total").increment(fired as u64);
        let open = backend.open_timers().await?;
        metrics::gauge!("eventmall_policy_pending_timers").set(open as f64);
        Ok(fired)
    }

    /// Fires one due timer; false when it must be tried again later.
    pub async fn fire(&self, timer: &Timer) -> bool {
        let cause = Cause {
            event_id: &timer.cause_event_id,
            correlation_id: &timer.correlation_id,
            traceparent: timer.traceparent.as_deref(),
        };
        let fired = TimerWrite::Close {
            timer_id: timer.timer_id.clone(),
            outcome: "fired".into(),
        };
        let reacted = match (TimerKind::parse(&timer.kind), Subject::of_timer(timer)) {
            (Some(kind), Some(subject)) => {
                self.react(&Trigger::Timer(kind), &subject, &cause, vec![fired])
                    .await
            }
            _ => Ok(Outcome::Unfollowable(format!(
                "timer {} of unknown kind or subject",
                timer.timer_id
            ))),
        };
        let outcome = match reacted {
            // Closed with its command, in that command's transaction.
            Ok(Outcome::Done) => return true,
            Ok(Outcome::Nothing) => "moot".to_owned(),
            Ok(Outcome::Unfollowable(reason)) => {
                warn!(timer = %timer.timer_id, %reason, "timer could not be followed");
                format!("unfollowable: {reason}")
            }
            Err(Failure::Poison(reason)) => format!("unfollowable: {reason}"),
            Err(Failure::Transient(error)) => {
                warn!(timer = %timer.timer_id, %error, "timer will be fired again");
                return false;
            }
        };
        let close = TimerWrite::Close {
            timer_id: timer.timer_id.clone(),
            outcome,
        };
        match self.write_timers(&timer.subject, vec![close]).await {
            Ok(()) => true,
            Err(error) => {
                warn!(timer = %timer.timer_id, %error, "timer not closed; fired again later");
                false
            }
        }
    }
}
