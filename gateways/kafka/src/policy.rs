//! The payment policy's runner: the order↔payment process manager, its own consumer group on
//! the order and payment topics, and the keeper of its durable timers.
//!
//! For each event it loads the order and its payment as they are now, asks the decisions
//! ([`eventmall_aggregates::policy`]) what follows, and issues that command under the key
//! `policy/<event_id>/<step>`: a redelivered, replayed or republished event finds its key used
//! and appends nothing, and its wallet call is not made again (the key is looked up before the
//! aggregate is loaded). A command carries the event's correlation id and traceparent, and the
//! event's id as its causation id.
//!
//! A timer is set in the same transaction as the step that sets it (the payment request and its
//! authorization deadline), or on its own when the step is only the timer (a delivery's
//! automatic confirmation); setting it again changes nothing. A due timer's command closes the
//! timer in the same transaction, under `policy/<event that set it>/<timer kind>`; a timer
//! whose reason has passed is closed as moot.
//!
//! Steps about one payment take turns (within a process): an order event and a payment event
//! of one purchase arrive on different topics and partitions, and two crossing ones (a capture
//! and a cancellation) would otherwise both decide the refund and both call the wallet. Across
//! policy instances the wallet's own idempotency (by payment and refunded total) is the guard.
//!
//! A command its aggregate refuses (the other aggregate moved meanwhile) is decided again on
//! the new state, at most [`REDECISIONS`] times; an event that still cannot be followed goes to
//! the dead letters with the reason. Nothing is retried forever but what may pass: a database
//! or a registry that does not answer.

mod consumer;
mod timers;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use eventmall_aggregates::RejectionKind;
use eventmall_aggregates::order::OrderState;
use eventmall_aggregates::payment::PaymentState;
use eventmall_aggregates::policy::{
    self, Facts, PolicyCommand, PolicyRules, Reaction, Step, TimerKind,
};
use eventmall_events::order::OrderEvent;
use eventmall_events::payment::PaymentEvent;
use eventmall_events::{AnyEvent, CommandMetadata, OrderId, PaymentId};
use eventmall_registry::RegisteredCodec;
use eventmall_store::idempotency::Internal;
use eventmall_store::{
    Append, CommandError, CommandGateway, CommandRequest, Dispatch, IdempotencyClaim, Receipt,
    StoreResult, Timer, TimerWrite,
};
use tokio::sync::{Mutex, MutexGuard};
use tracing::debug;

pub use consumer::PolicyConsumer;

use crate::Consumed;
use crate::keyed::{Failure, Handler};
use crate::projector::decode::{Undecoded, decode};

/// Times a refused command is decided again on the new state before the event is given up.
pub const REDECISIONS: usize = 2;
/// Stripes of the per-payment turns.
const TURNS: usize = 256;
/// Due timers fired per look.
const TIMERS_PER_LOOK: i64 = 100;
/// Who the policy's commands are recorded as.
pub const ACTOR: &str = "policy";

/// The topics the policy follows.
pub const TOPICS: [&str; 2] = [OrderEvent::TOPIC, PaymentEvent::TOPIC];

/// What caused a step: an event, or a timer set by one.
struct Cause<'a> {
    event_id: &'a str,
    correlation_id: &'a str,
    traceparent: Option<&'a str>,
}

impl Cause<'_> {
    fn metadata(&self) -> CommandMetadata {
        CommandMetadata {
            correlation_id: self.correlation_id.to_owned(),
            causation_id: self.event_id.to_owned(),
            traceparent: self.traceparent.map(str::to_owned),
            actor: Some(ACTOR.to_owned()),
        }
    }

    /// The key of the command this cause's `step` issues.
    fn claim(&self, step: &str) -> IdempotencyClaim {
        IdempotencyClaim::internal(
            Internal::Policy,
            format_args!("{}/{step}", self.event_id),
            step.to_owned(),
        )
    }

    fn timer(&self, request: policy::TimerRequest) -> Timer {
        Timer {
            timer_id: request.kind.timer_id(&request.subject),
            kind: request.kind.as_str().to_owned(),
            subject: request.subject,
            due_at: request.due_at,
            cause_event_id: self.event_id.to_owned(),
            correlation_id: self.correlation_id.to_owned(),
            traceparent: self.traceparent.map(str::to_owned),
        }
    }
}

/// What a trigger of the policy is about, to decide on.
enum Trigger<'a> {
    Order(&'a OrderEvent, DateTime<Utc>),
    Payment(&'a PaymentEvent),
    Timer(TimerKind),
}

/// Decides and issues the policy's commands; shared by the consumer and the timer loop.
#[derive(Clone)]
pub struct Policy {
    commands: CommandGateway,
    codec: RegisteredCodec,
    rules: PolicyRules,
    /// One turn at a time per payment (striped): an order event and a payment event of one
    /// purchase come on different topics, and would otherwise decide the same compensation
    /// side by side and both call the wallet.
    turns: Arc<[Mutex<()>]>,
}

impl Policy {
    pub fn new(commands: CommandGateway, codec: RegisteredCodec, rules: PolicyRules) -> Self {
        Self {
            commands,
            codec,
            rules,
            turns: (0..TURNS).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The turn of the payment `subject` is about: for an order, the payment the policy
    /// requests for it (a payment a client requested itself is not the policy's to race on).
    async fn turn(&self, subject: &Subject) -> MutexGuard<'_, ()> {
        let payment_id = match subject {
            Subject::Payment(payment_id) => *payment_id,
            Subject::Order(order_id) => PaymentId::for_order(*order_id),
        };
        let stripe = payment_id.0.as_u128() % self.turns.len() as u128;
        self.turns[stripe as usize].lock().await
    }

    /// Follows one record of the order or payment topic.
    pub async fn follow(&self, record: &Consumed) -> std::result::Result<(), Failure> {
        let envelope = decode(record, &self.codec)
            .await
            .map_err(|undecoded| match undecoded {
                Undecoded::Poison(reason) => Failure::Poison(reason),
                Undecoded::Unavailable(error) => Failure::Transient(error.to_string()),
            })?;
        let event_id = envelope.event_id.to_string();
        let correlation_id = record
            .header("correlation_id")
            .unwrap_or(&event_id)
            .to_owned();
        let cause = Cause {
            event_id: &event_id,
            correlation_id: &correlation_id,
            traceparent: record.header("traceparent"),
        };
        let (trigger, subject) = match &envelope.event {
            AnyEvent::Order(event) if policy::follows_order_event(event, &self.rules) => (
                Trigger::Order(event, envelope.recorded_at),
                Subject::Order(parse(&envelope.aggregate_id)?),
            ),
            AnyEvent::Payment(event) if policy::follows_payment_event(event) => (
                Trigger::Payment(event),
                Subject::Payment(parse(&envelope.aggregate_id)?),
            ),
            AnyEvent::Order(_) | AnyEvent::Payment(_) => return Ok(()),
            AnyEvent::Product(_) => {
                return Err(Failure::Poison(
                    "a product event on the policy's topics".into(),
                ));
            }
        };
        match self.react(&trigger, &subject, &cause, Vec::new()).await? {
            Outcome::Done | Outcome::Nothing => Ok(()),
            Outcome::Unfollowable(reason) => Err(Failure::Poison(reason)),
        }
    }

    /// Decides what follows `trigger` and does it; a refused command is decided again on the
    /// new state. `closing` timers are closed with the step's command.
    async fn react(
        &self,
        trigger: &Trigger<'_>,
        subject: &Subject,
        cause: &Cause<'_>,
        closing: Vec<TimerWrite>,
    ) -> std::result::Result<Outcome, Failure> {
        let _turn = self.turn(subject).await;
        let mut refusals = Vec::new();
        for _ in 0..=REDECISIONS {
            let (order, payment) = self.facts(subject).await.map_err(transient)?;
            let facts = Facts {
                order: order.as_ref(),
                payment: payment.as_ref(),
            };
            let reaction = match trigger {
                Trigger::Order(event, recorded_at) => {
                    policy::on_order_event(event, *recorded_at, facts, &self.rules)
                }
                Trigger::Payment(event) => policy::on_payment_event(event, facts, &self.rules),
                Trigger::Timer(kind) => policy::on_timer(*kind, facts),
            };
            let Reaction {
                step,
                set,
                cancel,
                unfollowable,
            } = reaction;
            let mut timers: Vec<TimerWrite> = cancel
                .into_iter()
                .map(|timer_id| TimerWrite::Close {
                    timer_id,
                    outcome: "cancelled".into(),
                })
                .collect();
            timers.extend(set.map(|request| TimerWrite::Set(cause.timer(request))));
            if let Some(reason) = unfollowable {
                self.write_timers(&subject.to_string(), timers)
                    .await
                    .map_err(transient)?;
                return Ok(Outcome::Unfollowable(reason));
            }
            let Some(step) = step else {
                self.write_timers(&subject.to_string(), timers)
                    .await
                    .map_err(transient)?;
                return Ok(Outcome::Nothing);
            };
            timers.extend(closing.iter().cloned());
            match self.issue(&step, cause, timers).await {
                Ok(receipt) => {
                    debug!(step = step.name, replayed = receipt.replayed, "policy step");
                    let outcome = if receipt.replayed { "replayed" } else { "done" };
                    stepped(step.name, outcome);
                    return Ok(Outcome::Done);
                }
                Err(CommandError::Rejected(refusal))
                    if refusal.kind() != RejectionKind::Unavailable =>
                {
                    stepped(step.name, "refused");
                    refusals.push(format!("{}: {}: {refusal}", step.name, refusal.code()));
                }
                Err(CommandError::Rejected(refusal)) => {
                    stepped(step.name, "unavailable");
                    return Err(Failure::Transient(refusal.to_string()));
                }
                Err(CommandError::IdempotencyKeyReused) => {
                    stepped(step.name, "key_reused");
                    return Err(Failure::Poison(format!(
                        "the key of step {} was used for another step",
                        step.name
                    )));
                }
                Err(error @ (CommandError::VersionConflict { .. } | CommandError::Store(_))) => {
                    stepped(step.name, "unavailable");
                    return Err(Failure::Transient(error.to_string()));
                }
            }
        }
        Ok(Outcome::Unfollowable(format!(
            "refused each time it was decided: {}",
            refusals.join("; ")
        )))
    }

    /// Issues a step's command under its key, with the timers it sets or closes.
    async fn issue(
        &self,
        step: &Step,
        cause: &Cause<'_>,
        timers: Vec<TimerWrite>,
    ) -> std::result::Result<Receipt, CommandError> {
        // Decided again after a refusal, the same step replays that refusal (its key recorded
        // it): only another step can succeed.
        let claim = cause.claim(step.name);
        let metadata = cause.metadata();
        match &step.command {
            PolicyCommand::Order { order_id, command } => {
                let request = CommandRequest::new(order_id, command.clone(), metadata);
                let request = request.idempotent(claim).with_timers(timers);
                self.commands.dispatch(request).await
            }
            PolicyCommand::Payment {
                payment_id,
                command,
            } => {
                let request = CommandRequest::new(payment_id, command.clone(), metadata);
                let request = request.idempotent(claim).with_timers(timers);
                self.commands.dispatch(request).await
            }
        }
    }

    /// The order and its payment, as they are now.
    async fn facts(
        &self,
        subject: &Subject,
    ) -> StoreResult<(Option<OrderState>, Option<PaymentState>)> {
        match subject {
            Subject::Order(order_id) => {
                let order = self.order(*order_id).await?;
                let payment = match order.as_ref().and_then(policy::payment_of) {
                    Some(payment_id) => self.payment(payment_id).await?,
                    None => None,
                };
                Ok((order, payment))
            }
            Subject::Payment(payment_id) => {
                let payment = self.payment(*payment_id).await?;
                let order = match &payment {
                    Some(paid) => self.order(paid.order_id).await?,
                    None => None,
                };
                Ok((order, payment))
            }
        }
    }

    async fn order(&self, order_id: OrderId) -> StoreResult<Option<OrderState>> {
        let loaded = self.commands.orders.load(&order_id.to_string()).await?;
        Ok(loaded.aggregate.state)
    }

    async fn payment(&self, payment_id: PaymentId) -> StoreResult<Option<PaymentState>> {
        let loaded = self.commands.payments.load(&payment_id.to_string()).await?;
        Ok(loaded.aggregate.state)
    }

    /// Timer changes that come with no command.
    async fn write_timers(&self, subject: &str, timers: Vec<TimerWrite>) -> StoreResult<()> {
        if timers.is_empty() {
            return Ok(());
        }
        let append = Append::timers(ACTOR, subject, timers);
        self.commands.backend().append(append).await.map(drop)
    }
}

impl Handler for Policy {
    async fn handle(&self, record: &Consumed) -> std::result::Result<(), Failure> {
        self.follow(record).await
    }
}

/// How a trigger ended.
enum Outcome {
    /// Its step's command was issued (or had been, under its key).
    Done,
    /// Nothing was to be done.
    Nothing,
    /// It cannot be followed, for this reason.
    Unfollowable(String),
}

/// The aggregate a trigger is about.
#[derive(Clone, Copy, Debug)]
enum Subject {
    Order(OrderId),
    Payment(PaymentId),
}

impl Subject {
    fn of_timer(timer: &Timer) -> Option<Self> {
        match TimerKind::parse(&timer.kind)? {
            TimerKind::AuthorizationTimeout => timer.subject.parse().ok().map(Self::Payment),
            TimerKind::AutomaticConfirmation => timer.subject.parse().ok().map(Self::Order),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Order(id) => id.fmt(f),
            Self::Payment(id) => id.fmt(f),
        }
    }
}

fn parse<T: std::str::FromStr>(id: &str) -> std::result::Result<T, Failure> {
    id.parse()
        .map_err(|_| Failure::Poison(format!("the record's key {id:?} is not an aggregate id")))
}

fn transient(error: impl std::fmt::Display) -> Failure {
    Failure::Transient(error.to_string())
}

/// Counts one issue of a policy step by its outcome.
fn stepped(step: &'static str, outcome: &'static str) {
    metrics::counter!("eventmall_policy_steps_total", "step" => step, "outcome" => outcome)
        .increment(1);
}
