//! The payment policy over a real broker: a wallet order placed over HTTP is requested,
//! authorized, captured and paid by the policy alone; declines, timeouts, cancels, returns and
//! the automatic confirmation end in the expected states of both aggregates; redelivered and
//! republished events repeat no command and no wallet call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eventmall_aggregates::order::{OrderCommand, OrderState};
use eventmall_aggregates::payment::{
    AuthorizationOutcome, PaymentCommand, PaymentServices, PaymentState, PaymentStatus,
    WalletError, WalletGateway,
};
use eventmall_aggregates::policy::Capture;
use eventmall_events::order::OrderStatus;
use eventmall_events::{CommandMetadata, CustomerId, Money, OrderId, PaymentId, WalletId};
use eventmall_kafka::PolicySettings;
use eventmall_kafka::policy::{Policy, PolicyConsumer, TOPICS};
use eventmall_store::{CommandGateway, CommandRequest, Dispatch, SimulatedWallet, WalletLimits};
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, on_both_backends};
use crate::kafka::{TestBroker, kafka_settings};
use crate::projector::records_on;

const PRICE: i64 = 12_000;

/// The simulated wallet, counting every call by payment and step. A wallet id starting with
/// `silent` never answers an authorization.
#[derive(Default)]
struct CountingWallet {
    inner: Option<SimulatedWallet>,
    calls: Mutex<HashMap<(PaymentId, &'static str), usize>>,
}

impl CountingWallet {
    fn new() -> Self {
        Self {
            inner: Some(SimulatedWallet::new(WalletLimits {
                starting_balance: 10_000_000,
                per_payment_limit: 5_000_000,
            })),
            calls: Mutex::default(),
        }
    }

    fn count(&self, payment_id: PaymentId, step: &'static str) {
        *self
            .calls
            .lock()
            .unwrap()
            .entry((payment_id, step))
            .or_default() += 1;
    }

    fn calls(&self, payment_id: PaymentId, step: &'static str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .get(&(payment_id, step))
            .copied()
            .unwrap_or(0)
    }

    fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    fn wallet(&self) -> &SimulatedWallet {
        self.inner.as_ref().unwrap()
    }
}

#[async_trait]
impl WalletGateway for CountingWallet {
    async fn authorize(
        &self,
        payment_id: PaymentId,
        wallet_id: &WalletId,
        holder: &CustomerId,
        amount: Money,
    ) -> Result<AuthorizationOutcome, WalletError> {
        self.count(payment_id, "authorize");
        if wallet_id.0.starts_with("silent") {
            return Err(WalletError("the wallet did not answer".into()));
        }
        self.wallet()
            .authorize(payment_id, wallet_id, holder, amount)
            .await
    }

    async fn capture(&self, payment_id: PaymentId, amount: Money) -> Result<(), WalletError> {
        self.count(payment_id, "capture");
        self.wallet().capture(payment_id, amount).await
    }

    async fn refund(
        &self,
        payment_id: PaymentId,
        amount: Money,
        refunded_total: Money,
    ) -> Result<(), WalletError> {
        self.count(payment_id, "refund");
        self.wallet()
            .refund(payment_id, amount, refunded_total)
            .await
    }

    async fn void(&self, payment_id: PaymentId) -> Result<(), WalletError> {
        self.count(payment_id, "void");
        self.wallet().void(payment_id).await
    }
}

/// An app, a broker with the relay publishing to it, and the policy following it.
struct World {
    app: TestApp,
    broker: TestBroker,
    wallet: Arc<CountingWallet>,
    product: String,
    settings: PolicySettings,
    /// The policy groups started in this process.
    groups: Vec<String>,
    stop: CancellationToken,
    running: Vec<JoinHandle<()>>,
}

impl World {
    async fn new(app: TestApp, adjust: impl FnOnce(&mut PolicySettings)) -> Self {
        let mut world = Self::without_policy(app, adjust).await;
        world.start_policy(&world.settings.group.clone()).await;
        world
    }

    /// The world before its policy starts.
    async fn without_policy(app: TestApp, adjust: impl FnOnce(&mut PolicySettings)) -> Self {
        let broker = TestBroker::in_memory().await;
        let mut settings = PolicySettings {
            timer_poll_ms: 50,
            ..PolicySettings::default()
        };
        adjust(&mut settings);
        let product = app.register_product("shop-1", "A", PRICE).await;
        let (relay, relay_stop) = app.start_relay(&broker).await;
        let mut world = Self {
            app,
            broker,
            wallet: Arc::new(CountingWallet::new()),
            product,
            settings,
            groups: Vec::new(),
            stop: CancellationToken::new(),
            running: Vec::new(),
        };
        world.running.push(relay);
        let stop = world.stop.clone();
        world.running.push(tokio::spawn(async move {
            stop.cancelled().await;
            relay_stop.cancel();
        }));
        world
    }

    /// The command path over the world's wallet.
    fn gateway(&self) -> CommandGateway {
        CommandGateway::new(
            self.app.backend().clone(),
            &self.app.settings.store,
            PaymentServices {
                wallet: self.wallet.clone(),
            },
        )
    }

    /// Starts a policy consumer in `group`, over the world's wallet.
    async fn start_policy(&mut self, group: &str) {
        let commands = self.gateway();
        let mut topics = TOPICS.to_vec();
        topics.push(eventmall_events::dead_letter::TOPIC);
        eventmall_kafka::ensure_topics(&self.broker.bootstrap(), &kafka_settings(), &topics)
            .await
            .unwrap();
        let settings = PolicySettings {
            group: group.to_owned(),
            ..self.settings.clone()
        };
        let policy = Policy::new(commands, self.app.codec(), settings.rules());
        let consumer =
            PolicyConsumer::connect(policy, &self.broker.bootstrap(), &settings).unwrap();
        self.groups.push(group.to_owned());
        let stop = self.stop.clone();
        self.running.push(tokio::spawn(async move {
            consumer.run(stop).await.unwrap();
        }));
    }

    async fn stop(self) {
        self.stop.cancel();
        for running in self.running {
            let _ = running.await;
        }
    }

    /// Places an order of `quantity` units over HTTP, paid with `wallet`.
    async fn place(&self, customer: &str, wallet: &str, quantity: u32) -> OrderId {
        let placed = self
            .app
            .post(
                "/v1/orders",
                json!({"customer_id": customer, "wallet_id": wallet,
                       "lines": [{"product_id": self.product, "quantity": quantity}]}),
            )
            .await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        placed.body["aggregate_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    async fn order(&self, order: OrderId) -> OrderState {
        let loaded = self.app.commands.orders.load(&order.to_string()).await;
        loaded.unwrap().aggregate.state.unwrap()
    }

    async fn payment(&self, order: OrderId) -> Option<PaymentState> {
        let id = PaymentId::for_order(order).to_string();
        let loaded = self.app.commands.payments.load(&id).await.unwrap();
        loaded.aggregate.state
    }

    /// Waits until the order and its payment are in these states.
    async fn until(&self, order: OrderId, status: OrderStatus, payment: PaymentStatus) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = (
                self.order(order).await.status,
                self.payment(order).await.map(|p| p.status),
            );
            if now == (status, Some(payment)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "order {order} stayed at {now:?}, not ({status}, {payment})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Posts an order command as the seller or customer would.
    async fn act(&self, order: OrderId, path: &str, body: serde_json::Value) {
        let reply = self
            .app
            .post(&format!("/v1/orders/{order}/{path}"), body)
            .await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }

    async fn ship_and_deliver(&self, order: OrderId) {
        let ship =
            json!({"carrier": "CJ대한통운", "tracking_number": "1234", "partner_id": "shop-1"});
        self.act(order, "ship", ship).await;
        self.act(order, "deliver", json!({"partner_id": "shop-1"}))
            .await;
    }

    /// Every stored event of the order and of its payment, oldest first.
    async fn history(&self, order: OrderId) -> Vec<eventmall_events::StoredEvent> {
        let payment = PaymentId::for_order(order).to_string();
        let order = order.to_string();
        let mut events: Vec<_> = self
            .app
            .stored()
            .await
            .into_iter()
            .filter(|e| e.aggregate_id == order || e.aggregate_id == payment)
            .collect();
        events.sort_by_key(|e| e.global_position);
        events
    }

    /// Waits until every stored event is published and followed by the policy groups this
    /// world started, and what they appended meanwhile too.
    async fn settle(&self) {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        self.settle_for(&groups).await;
    }

    /// Waits until every stored event is published and `groups` have committed past every
    /// record of the policy's topics (a record is committed once handled), until nothing more
    /// is appended.
    async fn settle_for(&self, groups: &[&str]) {
        loop {
            let last = self.app.last_position().await;
            self.app.wait_published(last).await;
            for group in groups {
                self.wait_followed(group).await;
            }
            if self.app.last_position().await == last {
                return;
            }
        }
    }

    async fn wait_followed(&self, group: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ends: i64 = TOPICS.iter().map(|t| records_on(&self.broker, t)).sum();
            let committed = committed(&self.broker, group);
            if committed >= ends {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{group} committed {committed} of {ends} records"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Records of the policy's topics `group` has committed past.
fn committed(broker: &TestBroker, group: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = eventmall_kafka::client_config(&broker.bootstrap())
        .set("group.id", group)
        .create()
        .unwrap();
    let mut list = rdkafka::TopicPartitionList::new();
    for topic in TOPICS {
        for partition in 0..kafka_settings().partitions {
            list.add_partition(topic, partition);
        }
    }
    let Ok(offsets) = consumer.committed_offsets(list, Duration::from_secs(5)) else {
        return 0;
    };
    offsets
        .elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(offset) => offset,
            _ => 0,
        })
        .sum()
}

fn types(events: &[eventmall_events::StoredEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

async fn happy_path_from_placed_to_paid(app: TestApp) {
    let world = World::new(app, |_| {}).await;
    let (_projectors, _stop_projectors) = world.app.start_projectors(&world.broker).await;
    let order = world.place("kim", "wallet-kim", 2).await;
    world
        .until(order, OrderStatus::Paid, PaymentStatus::Captured)
        .await;
    let payment = world.payment(order).await.unwrap();
    assert_eq!(payment.captured, Money::krw(2 * PRICE));
    assert_eq!(
        world.order(order).await.payment_id,
        Some(payment.payment_id)
    );
    for step in ["authorize", "capture"] {
        assert_eq!(world.wallet.calls(payment.payment_id, step), 1, "{step}");
    }
    // The authorization's deadline, set with the request, was cancelled by the authorization.
    let deadline: (String, Option<String>) =
        sqlx::query_as("SELECT kind, outcome FROM policy_timers WHERE subject = $1")
            .bind(payment.payment_id.to_string())
            .fetch_one(&world.app.store_pool)
            .await
            .unwrap();
    assert_eq!(
        deadline,
        ("authorization_timeout".into(), Some("cancelled".into()))
    );

    // One order followed from placed to paid through the event metadata alone: one
    // correlation, each step caused by the event before it, the policy as its actor.
    let history = world.history(order).await;
    assert_eq!(
        types(&history),
        [
            "OrderPlaced",
            "PaymentRequested",
            "PaymentAuthorized",
            "PaymentCaptured",
            "OrderPaid"
        ]
    );
    let placed = &history[0].metadata;
    assert!(placed.traceparent.is_some(), "the request's trace");
    for pair in history.windows(2) {
        let (cause, effect) = (&pair[0].metadata, &pair[1].metadata);
        assert_eq!(effect.correlation_id, placed.correlation_id);
        assert_eq!(effect.causation_id, cause.event_id.to_string());
        assert_eq!(effect.actor.as_deref(), Some("policy"));
        assert_eq!(effect.traceparent, placed.traceparent);
    }

    // The order view shows its payment, from the payment events.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let view = loop {
        let view = world.app.get(&format!("/v1/orders/{order}")).await;
        if view.status == 200
            && view.body["status"] == "paid"
            && view.body["payments"][0]["status"] == "captured"
        {
            break view.body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", view.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let shown = &view["payments"][0];
    assert_eq!(shown["payment_id"], payment.payment_id.to_string());
    assert_eq!(shown["authorized"]["amount"], 2 * PRICE);
    assert_eq!(shown["captured"]["amount"], 2 * PRICE);
    assert_eq!(shown["refunded"]["amount"], 0);
    world.stop().await;
}

async fn a_decline_cancels_the_order(app: TestApp) {
    let world = World::new(app, |_| {}).await;
    let order = world.place("lee", "blocked-lee", 1).await;
    world
        .until(order, OrderStatus::Cancelled, PaymentStatus::Declined)
        .await;
    let history = world.history(order).await;
    let cancelled = history.last().unwrap();
    assert_eq!(cancelled.event_type, "OrderCancelled");
    assert_eq!(
        cancelled.payload["reason"],
        "payment declined: wallet_blocked"
    );
    world.stop().await;
}

async fn a_payment_not_authorized_in_time_cancels_its_order(app: TestApp) {
    let world = World::new(app, |policy| policy.authorization_timeout_secs = 1).await;
    let order = world.place("park", "silent-park", 1).await;
    world
        .until(order, OrderStatus::Cancelled, PaymentStatus::Declined)
        .await;
    let history = world.history(order).await;
    assert_eq!(
        types(&history),
        [
            "OrderPlaced",
            "PaymentRequested",
            "PaymentDeclined",
            "OrderCancelled"
        ]
    );
    assert_eq!(history[2].payload["reason"], "authorization_timeout");
    assert_eq!(
        history[3].payload["reason"],
        "payment declined: authorization_timeout"
    );
    world.stop().await;
}

async fn a_cancel_after_capture_is_refunded(app: TestApp) {
    let world = World::new(app, |_| {}).await;
    let (_projectors, _stop_projectors) = world.app.start_projectors(&world.broker).await;
    let order = world.place("kim", "wallet-kim", 3).await;
    world
        .until(order, OrderStatus::Paid, PaymentStatus::Captured)
        .await;
    world
        .act(order, "cancel", json!({"reason": "단순 변심"}))
        .await;
    world
        .until(order, OrderStatus::Cancelled, PaymentStatus::Refunded)
        .await;
    let payment = world.payment(order).await.unwrap();
    assert_eq!(payment.refunded, Money::krw(3 * PRICE));
    assert_eq!(world.wallet.calls(payment.payment_id, "refund"), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view = world.app.get(&format!("/v1/orders/{order}")).await;
        let shown = &view.body["payments"][0];
        if shown["status"] == "refunded" {
            assert_eq!(shown["refunded"]["amount"], 3 * PRICE);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", view.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world.stop().await;
}

async fn a_cancel_before_capture_is_voided(app: TestApp) {
    let world = World::new(app, |policy| policy.capture = Capture::OnShipment).await;
    let order = world.place("kim", "wallet-kim", 1).await;
    // Captured at shipment: paid as soon as the wallet holds the total.
    world
        .until(order, OrderStatus::Paid, PaymentStatus::Authorized)
        .await;
    world
        .act(order, "cancel", json!({"reason": "단순 변심"}))
        .await;
    world
        .until(order, OrderStatus::Cancelled, PaymentStatus::Voided)
        .await;
    let payment = world.payment(order).await.unwrap();
    assert_eq!(world.wallet.calls(payment.payment_id, "capture"), 0);
    assert_eq!(world.wallet.calls(payment.payment_id, "void"), 1);
    assert_eq!(
        world
            .wallet
            .wallet()
            .available(&"wallet-kim".into())
            .unwrap(),
        10_000_000,
        "the hold was released"
    );
    world.stop().await;
}

async fn capture_at_shipment_captures_when_the_order_ships(app: TestApp) {
    let world = World::new(app, |policy| policy.capture = Capture::OnShipment).await;
    let order = world.place("kim", "wallet-kim", 1).await;
    world
        .until(order, OrderStatus::Paid, PaymentStatus::Authorized)
        .await;
    world.ship_and_deliver(order).await;
    world
        .until(order, OrderStatus::Delivered, PaymentStatus::Captured)
        .await;
    world.stop().await;
}

async fn a_partial_return_refunds_exactly_its_lines(app: TestApp) {
    let world = World::new(app, |_| {}).await;
    let order = world.place("kim", "wallet-kim", 3).await;
    world
        .until(order, OrderStatus::Paid, PaymentStatus::Captured)
        .await;
    world.ship_and_deliver(order).await;
    let give_back = json!({"lines": [{"line_no": 1, "quantity": 2}], "reason": "상품 불량"});
    world.act(order, "return", give_back).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while world.payment(order).await.unwrap().refunded.amount == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never refunded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let payment = world.payment(order).await.unwrap();
    assert_eq!(payment.refunded, Money::krw(2 * PRICE));
    assert_eq!(payment.status, PaymentStatus::Captured, "one unit is kept");
    world.stop().await;
}

async fn a_delivered_order_is_confirmed_automatically(app: TestApp) {
    let world = World::new(app, |policy| policy.confirmation_after_secs = 1).await;
    let order = world.place("kim", "wallet-kim", 1).await;
    world
        .until(order, OrderStatus::Paid, PaymentStatus::Captured)
        .await;
    world.ship_and_deliver(order).await;
    world
        .until(
            order,
            OrderStatus::PurchaseConfirmed,
            PaymentStatus::Captured,
        )
        .await;
    let history = world.history(order).await;
    let confirmed = history.last().unwrap();
    assert_eq!(confirmed.event_type, "OrderPurchaseConfirmed");
    assert_eq!(confirmed.payload["automatic"], true);
    assert_eq!(confirmed.metadata.actor.as_deref(), Some("policy"));
    world.stop().await;
}

async fn an_order_without_a_wallet_waits_for_an_explicit_payment(app: TestApp) {
    let world = World::new(app, |_| {}).await;
    let placed = world
        .app
        .post(
            "/v1/orders",
            json!({"customer_id": "kim", "lines": [{"product_id": world.product, "quantity": 1}]}),
        )
        .await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order: OrderId = placed.body["aggregate_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    world.settle().await;
    assert_eq!(world.order(order).await.status, OrderStatus::Placed);
    assert!(world.payment(order).await.is_none());
    // Paid by hand, as before: the policy leaves a client's own payment alone.
    world.app.pay(&order.to_string()).await;
    world.settle().await;
    assert_eq!(world.order(order).await.status, OrderStatus::Paid);
    assert_eq!(world.wallet.total_calls(), 0);
    world.stop().await;
}

/// A paid order partly returned and refunded, and a declined one, with everything settled: a
/// partial refund is the step a second delivery could repeat, the payment having more to give
/// back. Answers the store's event count and the wallet calls so far.
async fn settled_purchases(world: &World) -> (usize, usize) {
    let orders = [
        world.place("kim", "wallet-kim", 3).await,
        world.place("lee", "blocked-lee", 1).await,
    ];
    world
        .until(orders[0], OrderStatus::Paid, PaymentStatus::Captured)
        .await;
    world
        .until(orders[1], OrderStatus::Cancelled, PaymentStatus::Declined)
        .await;
    world.ship_and_deliver(orders[0]).await;
    let give_back = json!({"lines": [{"line_no": 1, "quantity": 1}], "reason": "상품 불량"});
    world.act(orders[0], "return", give_back).await;
    world.settle().await;
    let calls = world.wallet.total_calls();
    assert_eq!(
        calls, 4,
        "authorize, capture and refund, and one declined authorization"
    );
    (world.app.stored().await.len(), calls)
}

/// Every event delivered again, to a policy in a new group reading from the start: nothing is
/// appended, and the wallet hears nothing more.
async fn redelivered_events_repeat_no_command_and_no_wallet_call(app: TestApp) {
    let mut world = World::new(app, |_| {}).await;
    let (stored, calls) = settled_purchases(&world).await;
    world.start_policy("eventmall-policy-again").await;
    world.settle().await;
    assert_eq!(world.app.stored().await.len(), stored, "nothing appended");
    assert_eq!(world.wallet.total_calls(), calls, "no wallet call");
    world.stop().await;
}

/// The replay tooling republishes the whole log (`replay republish`): the policy, in its own
/// group, gets every event a second time and repeats nothing.
async fn a_republished_log_repeats_no_command(app: TestApp) {
    let world = World::new(app, |_| {}).await;
    let (stored, calls) = settled_purchases(&world).await;
    let republished = eventmall_kafka::replay::republish(
        world.app.backend().clone(),
        &world.app.codec(),
        &world.broker.bootstrap(),
        &crate::kafka::relay_settings(),
        1,
        None,
    )
    .await
    .unwrap();
    assert!(republished.records.values().sum::<u64>() >= stored as u64);
    world.settle().await;
    assert_eq!(world.app.stored().await.len(), stored, "nothing appended");
    assert_eq!(world.wallet.total_calls(), calls, "no wallet call");
    world.stop().await;
}

/// A capture that crossed the order's cancellation (both happened before the policy saw
/// either): the policy, starting late, refunds it once and dead-letters nothing.
async fn a_capture_that_crossed_a_cancel_is_refunded_once(app: TestApp) {
    let mut world = World::without_policy(app, |_| {}).await;
    let order = world.place("kim", "wallet-kim", 1).await;
    let payment_id = PaymentId::for_order(order);
    let gateway = world.gateway();
    let by_hand = || CommandMetadata::new_root(Some("test".into()));
    let request = PaymentCommand::Request {
        payment_id,
        order_id: order,
        customer_id: CustomerId::from("kim"),
        wallet_id: WalletId::from("wallet-kim"),
        amount: Money::krw(PRICE),
    };
    for command in [
        request,
        PaymentCommand::Authorize,
        PaymentCommand::Capture { amount: None },
    ] {
        let request = CommandRequest::new(payment_id, command, by_hand());
        gateway.dispatch(request).await.unwrap();
    }
    let cancel = OrderCommand::Cancel {
        reason: "단순 변심".into(),
    };
    gateway
        .dispatch(CommandRequest::new(order, cancel, by_hand()))
        .await
        .unwrap();

    world.start_policy("eventmall-policy").await;
    world
        .until(order, OrderStatus::Cancelled, PaymentStatus::Refunded)
        .await;
    world.settle().await;
    assert_eq!(world.wallet.calls(payment_id, "refund"), 1);
    let refunds = world
        .history(order)
        .await
        .into_iter()
        .filter(|e| e.event_type == "PaymentRefunded")
        .count();
    assert_eq!(refunds, 1);
    let letters = crate::kafka::drain(
        &world.broker.bootstrap(),
        &[eventmall_events::dead_letter::TOPIC],
    );
    assert!(letters.is_empty(), "{} dead letters", letters.len());
    world.stop().await;
}

on_both_backends!(
    a_capture_that_crossed_a_cancel_is_refunded_once,
    happy_path_from_placed_to_paid,
    a_decline_cancels_the_order,
    a_payment_not_authorized_in_time_cancels_its_order,
    a_cancel_after_capture_is_refunded,
    a_cancel_before_capture_is_voided,
    capture_at_shipment_captures_when_the_order_ships,
    a_partial_return_refunds_exactly_its_lines,
    a_delivered_order_is_confirmed_automatically,
    an_order_without_a_wallet_waits_for_an_explicit_payment,
    redelivered_events_repeat_no_command_and_no_wallet_call,
    a_republished_log_repeats_no_command,
);

/// `eventmall policy` as its own process, its log (JSON, on standard error) read line by line
/// into `log`.
fn policy_process(
    world: &World,
    group: &str,
    log: Arc<Mutex<Vec<serde_json::Value>>>,
) -> tokio::process::Child {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eventmall"))
        .arg("policy")
        .arg("--data-dir")
        .arg(world.app.data.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", world.broker.bootstrap())
        .env("EVENTMALL__STORE__URL", world.app.store_url())
        .env("EVENTMALL__POLICY__GROUP", group)
        .env("EVENTMALL__POLICY__CONFIRMATION_AFTER_SECS", "6")
        .env("EVENTMALL__POLICY__TIMER_POLL_MS", "100")
        .env("EVENTMALL__LOG__FORMAT", "json")
        .env(
            "EVENTMALL__LOG__FILTER",
            "warn,eventmall_store::wallet=debug",
        )
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(entry) = serde_json::from_str(&line) {
                log.lock().unwrap().push(entry);
            }
        }
    });
    child
}

/// The wallet calls a policy process logged, by payment and step.
fn wallet_calls(log: &Mutex<Vec<serde_json::Value>>) -> HashMap<(String, String), usize> {
    let mut calls = HashMap::new();
    for entry in log.lock().unwrap().iter() {
        if entry["message"] == "wallet call" {
            let key = (
                entry["payment_id"].as_str().unwrap_or_default().to_owned(),
                entry["step"].as_str().unwrap_or_default().to_owned(),
            );
            *calls.entry(key).or_default() += 1;
        }
    }
    calls
}

/// The policy process killed with SIGKILL once every order is paid and a confirmation timer is
/// pending, then started again with none of its offsets committed (a new group: every event is
/// delivered again, the worst a kill between a command and its offset commit can do). Nothing
/// is appended twice, the wallet hears nothing more, and the pending timer fires once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_and_restarted_it_repeats_nothing_and_fires_a_pending_timer_once() {
    let world = World::without_policy(crate::helpers::spawn_postgres_app().await, |_| {}).await;
    let first_log = Arc::new(Mutex::new(Vec::new()));
    let mut first = policy_process(&world, "eventmall-policy", first_log.clone());
    let mut orders = Vec::new();
    for i in 0..12 {
        orders.push(
            world
                .place(&format!("c{i}"), &format!("wallet-c{i}"), 1)
                .await,
        );
    }
    for &order in &orders {
        world
            .until(order, OrderStatus::Paid, PaymentStatus::Captured)
            .await;
    }
    world.ship_and_deliver(orders[0]).await;
    let pending = "SELECT COUNT(*) FROM policy_timers \
                   WHERE kind = 'automatic_confirmation' AND closed_at IS NULL";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (open,): (i64,) = sqlx::query_as(pending)
            .fetch_one(&world.app.store_pool)
            .await
            .unwrap();
        if open == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no timer set");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(world.order(orders[0]).await.status, OrderStatus::Delivered);
    assert_eq!(world.app.backend().open_timers().await.unwrap(), 1);
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let before = world.app.stored().await.len();
    let first_calls = wallet_calls(&first_log);
    for &order in &orders {
        let payment = PaymentId::for_order(order).to_string();
        for step in ["authorize", "capture"] {
            let calls = first_calls.get(&(payment.clone(), step.to_owned()));
            assert_eq!(calls, Some(&1), "{step} of {payment}");
        }
    }

    let second_log = Arc::new(Mutex::new(Vec::new()));
    let _second = policy_process(&world, "eventmall-policy-restarted", second_log.clone());
    world
        .until(
            orders[0],
            OrderStatus::PurchaseConfirmed,
            PaymentStatus::Captured,
        )
        .await;
    // Every event taken in again.
    world.settle_for(&["eventmall-policy-restarted"]).await;
    assert_eq!(
        world.app.stored().await.len(),
        before + 1,
        "only the timer's confirmation was appended"
    );
    assert!(
        wallet_calls(&second_log).is_empty(),
        "{:?}",
        wallet_calls(&second_log)
    );
    let (outcome,): (String,) =
        sqlx::query_as("SELECT outcome FROM policy_timers WHERE kind = 'automatic_confirmation'")
            .fetch_one(&world.app.store_pool)
            .await
            .unwrap();
    assert_eq!(outcome, "fired");
    assert_eq!(world.app.backend().open_timers().await.unwrap(), 0);
    let history = world.history(orders[0]).await;
    let confirmed = history
        .iter()
        .filter(|e| e.event_type == "OrderPurchaseConfirmed")
        .count();
    assert_eq!(confirmed, 1);
    world.stop().await;
}
