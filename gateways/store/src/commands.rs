//! The command path every caller takes (HTTP, feeds, ingest topics, the demo): load the
//! aggregate, check the expected version, let the aggregate decide, append what it decided,
//! all in one place. The Order aggregate's ports (catalog, payments) read the store (`ports`).

mod measured;
mod ports;

use std::sync::Arc;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use eventmall_aggregates::{
    Order, OrderCommand, OrderServices, Payment, PaymentCommand, PaymentServices, Product,
    ProductCommand, Rejection, RejectionKind,
};
use eventmall_events::CommandMetadata;
use eventmall_events::order::OrderEvent;
use eventmall_events::payment::PaymentEvent;
use eventmall_events::product::ProductEvent;
use serde::Serialize;
use tracing::instrument;

use crate::idempotency::{self, Retention};
use crate::pii::PiiVault;
use crate::wallet::{SimulatedWallet, WalletLimits};
use crate::{
    Committed, EventBackend, IdempotencyClaim, IdempotencyRecord, LoadedAggregate, RecordedRefusal,
    SqlEventStore, StoreError, StoreSettings, TimerWrite, WalletSettings,
};
use measured::measured;
use ports::{NoVault, StoreCatalog, StoreLedger};

/// A command with everything around it.
#[derive(Clone, Debug)]
pub struct CommandRequest<C> {
    pub aggregate_id: String,
    pub command: C,
    /// The version the caller saw (`If-Match`); a different current version is a conflict.
    pub expected_version: Option<i64>,
    pub metadata: CommandMetadata,
    pub idempotency: Option<IdempotencyClaim>,
    /// Timers the same step sets or closes, written with the command's events.
    pub timers: Vec<TimerWrite>,
}

impl<C> CommandRequest<C> {
    pub fn new(aggregate_id: impl ToString, command: C, metadata: CommandMetadata) -> Self {
        Self {
            aggregate_id: aggregate_id.to_string(),
            command,
            expected_version: None,
            metadata,
            idempotency: None,
            timers: Vec::new(),
        }
    }

    /// The request under an idempotency key: a repeat replays the first result.
    pub fn idempotent(mut self, claim: IdempotencyClaim) -> Self {
        self.idempotency = Some(claim);
        self
    }

    /// The request with timer changes that commit with its events, or not at all.
    pub fn with_timers(mut self, timers: Vec<TimerWrite>) -> Self {
        self.timers = timers;
        self
    }
}

/// What an accepted command did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's version after the command.
    pub version: i64,
    /// Position of the command's last event; the consistency token for reads.
    pub global_position: Option<i64>,
    /// Types of the events appended, in order; empty when nothing changed.
    pub events: Vec<String>,
    /// True when this is the recorded answer to an earlier request with the same key.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Rejected(Box<dyn Rejection + Send + Sync>),
    #[error("expected version {expected}, but the aggregate changed{}", actual.map(|v| format!(" (now {v})")).unwrap_or_default())]
    VersionConflict { expected: i64, actual: Option<i64> },
    #[error("idempotency key was used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an accepted command appended, as the domain's events; empty when it changed nothing or
/// is the recorded answer to an earlier request with the same key.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatched<E> {
    pub receipt: Receipt,
    pub events: Vec<E>,
}

/// Executes commands against the three aggregates.
#[derive(Clone)]
pub struct CommandGateway {
    pub products: SqlEventStore<Product>,
    pub orders: SqlEventStore<Order>,
    pub payments: SqlEventStore<Payment>,
    order_services: OrderServices,
    payment_services: PaymentServices,
    /// How long a client's idempotency keys are kept.
    retention: Retention,
}

impl CommandGateway {
    pub fn new(
        backend: Arc<dyn EventBackend>,
        settings: &StoreSettings,
        payment_services: PaymentServices,
    ) -> Self {
        fn store<A: Aggregate + Clone>(
            backend: &Arc<dyn EventBackend>,
            settings: &StoreSettings,
        ) -> SqlEventStore<A> {
            SqlEventStore::new(
                backend.clone(),
                settings.snapshot_every,
                settings.aggregate_cache,
            )
        }
        let products = store(&backend, settings);
        let payments = store(&backend, settings);
        let order_services = OrderServices {
            catalog: Arc::new(StoreCatalog {
                products: products.clone(),
            }),
            payments: Arc::new(StoreLedger {
                payments: payments.clone(),
            }),
            pii: Arc::new(NoVault),
        };
        let payment_services = measured::wallet(payment_services);
        Self {
            orders: store(&backend, settings),
            payments,
            products,
            order_services,
            payment_services,
            retention: settings.idempotency_retention(),
        }
    }

    /// The gateway with the simulated wallet behind the payments (the default wallet).
    pub fn with_simulated_wallet(
        backend: Arc<dyn EventBackend>,
        store: &StoreSettings,
        wallet: &WalletSettings,
    ) -> Self {
        let wallet = SimulatedWallet::new(WalletLimits {
            starting_balance: wallet.starting_balance,
            per_payment_limit: wallet.per_payment_limit,
        });
        let services = PaymentServices {
            wallet: Arc::new(wallet),
        };
        Self::new(backend, store, services)
    }

    pub fn backend(&self) -> &Arc<dyn EventBackend> {
        self.products.backend()
    }

    /// How long a client's idempotency keys are kept.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// The gateway sealing personal data with the customers' keys of `vault`. Without one,
    /// an order with a shipping address or a delivery with a receiver is refused (503).
    pub fn with_pii(mut self, vault: PiiVault) -> Self {
        self.order_services.pii = Arc::new(vault);
        self
    }
}

/// Executes commands of type `C`; the gateway implements it once per aggregate.
pub trait Dispatch<C: Send>: Sync {
    /// The events of the aggregate `C` is for.
    type Event: Send;

    /// Runs the command; answers its receipt and the events it appended.
    fn execute(
        &self,
        request: CommandRequest<C>,
    ) -> impl Future<Output = Result<Dispatched<Self::Event>, CommandError>> + Send;

    /// Runs the command; answers its receipt.
    fn dispatch(
        &self,
        request: CommandRequest<C>,
    ) -> impl Future<Output = Result<Receipt, CommandError>> + Send {
        async move { self.execute(request).await.map(|done| done.receipt) }
    }
}

impl Dispatch<ProductCommand> for CommandGateway {
    type Event = ProductEvent;

    async fn execute(
        &self,
        request: CommandRequest<ProductCommand>,
    ) -> Result<Dispatched<ProductEvent>, CommandError> {
        let command = request.command.name();
        let run = execute(&self.products, &(), self.retention, request);
        measured(Product::TYPE, command, run).await
    }
}

impl Dispatch<OrderCommand> for CommandGateway {
    type Event = OrderEvent;

    async fn execute(
        &self,
        request: CommandRequest<OrderCommand>,
    ) -> Result<Dispatched<OrderEvent>, CommandError> {
        let command = request.command.name();
        let run = execute(&self.orders, &self.order_services, self.retention, request);
        measured(Order::TYPE, command, run).await
    }
}

impl Dispatch<PaymentCommand> for CommandGateway {
    type Event = PaymentEvent;

    async fn execute(
        &self,
        request: CommandRequest<PaymentCommand>,
    ) -> Result<Dispatched<PaymentEvent>, CommandError> {
        let command = request.command.name();
        let run = execute(
            &self.payments,
            &self.payment_services,
            self.retention,
            request,
        );
        measured(Payment::TYPE, command, run).await
    }
}

/// Runs a command in its span, a child of whatever sent it; while spans are recorded, its
/// events carry that span's traceparent, so the relay and the consumers continue the trace.
#[instrument(name = "command", skip_all, fields(
    otel.name = format!("{} command", A::TYPE),
    aggregate_type = A::TYPE,
    aggregate_id = %request.aggregate_id,
))]
async fn execute<A>(
    store: &SqlEventStore<A>,
    services: &A::Services,
    retention: Retention,
    mut request: CommandRequest<A::Command>,
) -> Result<Dispatched<A::Event>, CommandError>
where
    A: Aggregate + Clone,
    A::Error: Rejection + Send + Sync + 'static,
{
    if let Some(traceparent) = eventmall_telemetry::current() {
        request.metadata.traceparent = Some(traceparent);
    }
    if let Some(claim) = &request.idempotency
        && let Some(record) =
            idempotency::recorded(store.backend().as_ref(), claim, retention).await?
    {
        return replay(record, claim).map(Dispatched::replayed);
    }
    let mut context = store.load(&request.aggregate_id).await?;
    if let Some(expected) = request.expected_version
        && expected != context.version
    {
        return Err(CommandError::VersionConflict {
            expected,
            actual: Some(context.version),
        });
    }
    let sink = EventSink::default();
    let claim = request.idempotency;
    if let Err(rejection) = context
        .aggregate
        .handle(request.command, services, &sink)
        .await
    {
        return refuse(store, &context, claim, rejection).await;
    }
    let events = sink.collect().await;
    match store
        .append(
            &events,
            &context,
            &request.metadata,
            claim.clone(),
            request.timers,
        )
        .await
    {
        Ok(committed) => Ok(Dispatched {
            receipt: receipt::<A>(committed),
            events,
        }),
        Err(StoreError::Conflict { .. }) => Err(CommandError::VersionConflict {
            expected: context.version,
            actual: None,
        }),
        Err(StoreError::IdempotencyKeyUsed(record)) => match &claim {
            Some(claim) => replay(*record, claim).map(Dispatched::replayed),
            None => Err(CommandError::IdempotencyKeyReused),
        },
        Err(error) => Err(error.into()),
    }
}

/// A refusal, recorded under the request's idempotency key (if any) so the same request again
/// gets it again: an upstream record redelivered after the world changed must not succeed where
/// it first failed. A port that did not answer decided nothing; that is not recorded.
async fn refuse<A>(
    store: &SqlEventStore<A>,
    context: &LoadedAggregate<A>,
    claim: Option<IdempotencyClaim>,
    rejection: A::Error,
) -> Result<Dispatched<A::Event>, CommandError>
where
    A: Aggregate + Clone,
    A::Error: Rejection + Send + Sync + 'static,
{
    if let Some(claim) = claim
        && rejection.kind() != RejectionKind::Unavailable
    {
        let refusal = RecordedRefusal {
            kind: kind_name(rejection.kind()).to_owned(),
            code: rejection.code().to_owned(),
            message: rejection.to_string(),
        };
        match store.record_refusal(context, claim.clone(), refusal).await {
            Ok(()) => {}
            // Another request with the key got there first: its outcome is the answer.
            Err(StoreError::IdempotencyKeyUsed(record)) => {
                return replay(*record, &claim).map(Dispatched::replayed);
            }
            Err(error) => return Err(error.into()),
        }
    }
    Err(CommandError::Rejected(Box::new(rejection)))
}

fn kind_name(kind: RejectionKind) -> &'static str {
    match kind {
        RejectionKind::NotFound => "not-found",
        RejectionKind::Forbidden => "forbidden",
        RejectionKind::Invariant => "invariant",
        RejectionKind::Unavailable => "unavailable",
    }
}

/// A refusal read back from an idempotency key.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Replayed {
    kind: RejectionKind,
    code: &'static str,
    message: String,
}

impl Rejection for Replayed {
    fn kind(&self) -> RejectionKind {
        self.kind
    }

    fn code(&self) -> &'static str {
        self.code
    }
}

impl Replayed {
    fn from(refusal: RecordedRefusal) -> Self {
        let kind = match refusal.kind.as_str() {
            "not-found" => RejectionKind::NotFound,
            "forbidden" => RejectionKind::Forbidden,
            _ => RejectionKind::Invariant,
        };
        Self {
            kind,
            code: interned(&refusal.code),
            message: refusal.message,
        }
    }
}

/// `code` as a `&'static str`: refusal codes are a fixed few, each kept once for the process.
fn interned(code: &str) -> &'static str {
    static CODES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut codes = CODES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = codes.iter().find(|known| **known == code) {
        return known;
    }
    let code: &'static str = Box::leak(code.to_owned().into_boxed_str());
    codes.push(code);
    code
}

impl<E> Dispatched<E> {
    fn replayed(receipt: Receipt) -> Self {
        Self {
            receipt,
            events: Vec::new(),
        }
    }
}

fn receipt<A: Aggregate>(committed: Committed) -> Receipt {
    Receipt {
        aggregate_type: A::TYPE.to_owned(),
        global_position: committed.global_position(),
        aggregate_id: committed.aggregate_id,
        version: committed.version,
        events: committed.event_types,
        replayed: false,
    }
}

/// The recorded answer for a key used before, if this is the same request.
fn replay(record: IdempotencyRecord, claim: &IdempotencyClaim) -> Result<Receipt, CommandError> {
    if record.fingerprint != claim.fingerprint {
        return Err(CommandError::IdempotencyKeyReused);
    }
    if let Some(refusal) = record.refusal {
        return Err(CommandError::Rejected(Box::new(Replayed::from(refusal))));
    }
    Ok(Receipt {
        aggregate_type: record.aggregate_type,
        aggregate_id: record.aggregate_id,
        version: record.version,
        global_position: record.global_position,
        events: record.event_types,
        replayed: true,
    })
}
