//! `eventmall demo`: a synthetic channeling world built through the real command path.
//!
//! Each partner's catalog comes in through its Naver EP feed, uploaded to the feed route of a
//! running server (`up --demo`) or ingested in process (`eventmall demo`): one partner in three
//! exports EUC-KR, one in four has two bad rows, one in five ships cash on delivery. Orders and
//! payments go through commands.
//!
//! Partners sell products of one or two themes (vacuum cleaners and their accessories, laptops
//! and peripherals, …) with Korean titles in the "brand gender category name [colour]" pattern,
//! model numbers, four-level categories and EP options; customers have a
//! favourite theme and buy bundles of related items from one partner, pay with their wallet,
//! and some cancel or return. Under `up --demo` they place each order with their wallet and the
//! payment policy pays it (and refunds what is cancelled or returned); the demo drives only
//! what people do: partners ship and deliver, customers confirm, cancel or return. `eventmall
//! demo` alone runs no relay and no policy, so its customers pay by hand, step by step. Everything is drawn from one seeded generator, ids included, and
//! every command carries an idempotency key derived from the seed: the same seed gives the same
//! world, and running it twice appends nothing the second time.

mod feed;
mod themes;
mod upload;
mod world;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventmall_aggregates::order::{LineRequest, ReturnRequest};
use eventmall_aggregates::{OrderCommand, PaymentCommand};
use eventmall_events::order::{OrderStatus, ShippingAddress};
use eventmall_events::{CommandMetadata, Money, PartnerId};
use eventmall_feeds::{FeedEncoding, FeedIngest};
use eventmall_store::idempotency::Internal;
use eventmall_store::{
    CommandError, CommandGateway, CommandRequest, Dispatch, IdempotencyClaim, Receipt,
};
use futures::{StreamExt, TryStreamExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::info;

use feed::ShippingRule;
pub use upload::{FeedUpload, HttpUpload};
use world::{Fate, OrderPlan, ProductPlan, plan_orders, plan_products};
pub use world::{customer_id, partner_id};

/// How big a world to make.
#[derive(Clone, Copy, Debug)]
pub struct DemoPlan {
    pub partners: usize,
    pub products_per_partner: usize,
    pub customers: usize,
    pub orders: usize,
    pub seed: u64,
    /// Commands in flight at once.
    pub concurrency: usize,
}

/// A made-up Korean address for the demo's `index`th order: sealed like any other.
fn shipping_address(index: usize) -> ShippingAddress {
    const NAMES: [&str; 5] = ["김민수", "이서연", "박지훈", "최유나", "정도윤"];
    const STREETS: [&str; 4] = [
        "서울특별시 강남구 테헤란로",
        "부산광역시 해운대구 센텀중앙로",
        "경기도 성남시 분당구 판교역로",
        "대구광역시 수성구 동대구로",
    ];
    ShippingAddress {
        recipient: NAMES[index % NAMES.len()].to_owned(),
        phone: format!("010-{:04}-{:04}", 1000 + index % 9000, 5000 + index % 5000),
        address: format!("{} {}", STREETS[index % STREETS.len()], 1 + index % 300),
        postal_code: format!("{:05}", 1000 + index % 60000),
    }
}

/// Who pays the demo's orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payer {
    /// The customer, command by command: request, authorize, capture, mark paid; refunds too.
    Customer,
    /// The payment policy running beside the demo: orders are placed with the wallet.
    Policy,
}

/// What a demo run did.
#[derive(Debug, Default, Serialize)]
pub struct DemoReport {
    pub products: u64,
    pub orders: u64,
    pub paid: u64,
    pub declined: u64,
    pub cancelled: u64,
    pub delivered: u64,
    pub returned: u64,
    /// Bad rows the demo's feeds carry on purpose, rejected by the ingest.
    pub feed_rows_rejected: u64,
    pub commands: u64,
    pub events_appended: u64,
    pub seconds: f64,
}

#[derive(Default)]
struct Counters {
    paid: AtomicU64,
    declined: AtomicU64,
    cancelled: AtomicU64,
    delivered: AtomicU64,
    returned: AtomicU64,
    commands: AtomicU64,
    events: AtomicU64,
}

/// How long an order placed with a wallet may wait for the policy to pay or cancel it.
const POLICY_WAIT: Duration = Duration::from_secs(60);

/// Builds the world described by `plan` with the feed ingest in this process, its customers
/// paying by hand.
pub async fn run(feeds: &FeedIngest, plan: DemoPlan) -> anyhow::Result<DemoReport> {
    run_through(feeds, feeds.commands(), plan, Payer::Customer).await
}

/// Builds the world described by `plan`: each partner's catalog through its EP feed, uploaded
/// to `feeds`, then orders (and payments, as `payer` says) through `commands`.
pub async fn run_through(
    feeds: &impl FeedUpload,
    commands: &CommandGateway,
    plan: DemoPlan,
    payer: Payer,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let products = plan_products(&mut rng, &plan);
    let orders = plan_orders(&mut rng, &plan, &products);
    let driver = Driver {
        commands,
        seed: plan.seed,
        payer,
        counters: Counters::default(),
    };
    let mut feed_rows_rejected = 0;
    // Products are planned partner by partner.
    let mut partners: Vec<&PartnerId> = products.iter().map(|p| &p.partner_id).collect();
    partners.dedup();
    for (index, partner) in partners.into_iter().enumerate() {
        let shelf: Vec<&ProductPlan> = products
            .iter()
            .filter(|p| &p.partner_id == partner)
            .collect();
        // Some shops export EUC-KR, and some feeds have bad rows.
        let encoding = match index % 3 {
            1 => FeedEncoding::EucKr,
            _ => FeedEncoding::Utf8,
        };
        // Most shops ship free above a price; one in five has the customer pay on delivery.
        let shipping = match index % 5 {
            3 => ShippingRule::OnDelivery,
            _ => ShippingRule::FreeAbove,
        };
        let feed = feed::ep_feed(partner, &shelf, index % 4 == 2, shipping, encoding);
        let run = feeds.upload(partner, encoding, feed).await?;
        driver.counters.events.fetch_add(
            (run.counts.registered + run.counts.updated + run.counts.delisted) as u64,
            Ordering::Relaxed,
        );
        feed_rows_rejected += run.counts.rejected as u64;
    }
    info!(
        products = products.len(),
        "demo catalog ingested through partner feeds"
    );
    let concurrency = plan.concurrency.max(1);
    futures::stream::iter(orders.iter())
        .map(|order| driver.order(order))
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let c = &driver.counters;
    let report = DemoReport {
        products: products.len() as u64,
        orders: orders.len() as u64,
        paid: c.paid.load(Ordering::Relaxed),
        declined: c.declined.load(Ordering::Relaxed),
        cancelled: c.cancelled.load(Ordering::Relaxed),
        delivered: c.delivered.load(Ordering::Relaxed),
        returned: c.returned.load(Ordering::Relaxed),
        feed_rows_rejected,
        commands: c.commands.load(Ordering::Relaxed),
        events_appended: c.events.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
    };
    info!(?report, "demo done");
    Ok(report)
}

struct Driver<'a> {
    commands: &'a CommandGateway,
    seed: u64,
    payer: Payer,
    counters: Counters,
}

impl Driver<'_> {
    /// Sends one command with an idempotency key unique to this seed and step.
    async fn send<C>(
        &self,
        step: String,
        aggregate_id: impl ToString,
        command: C,
    ) -> Result<Receipt, CommandError>
    where
        C: Serialize + Send,
        CommandGateway: Dispatch<C>,
    {
        let fingerprint = format!(
            "{:x}",
            Sha256::digest(serde_json::to_vec(&command).unwrap_or_default())
        );
        let mut request = CommandRequest::new(
            aggregate_id,
            command,
            CommandMetadata::new_root(Some("demo".into())),
        );
        request.idempotency = Some(IdempotencyClaim::internal(
            Internal::Demo,
            format_args!("{}-{step}", self.seed),
            fingerprint,
        ));
        let receipt = self.commands.dispatch(request).await?;
        self.counters.commands.fetch_add(1, Ordering::Relaxed);
        if !receipt.replayed {
            self.counters
                .events
                .fetch_add(receipt.events.len() as u64, Ordering::Relaxed);
        }
        Ok(receipt)
    }

    /// Pays the order by hand, as a client without the policy does; false when the wallet
    /// declined (the order is then cancelled).
    async fn pay(&self, order: &OrderPlan, total: i64) -> Result<bool, CommandError> {
        let step = |name: &str| format!("order-{}-{name}", order.index);
        let request = PaymentCommand::Request {
            payment_id: order.payment_id,
            order_id: order.order_id,
            customer_id: order.customer_id.clone(),
            wallet_id: order.wallet_id.clone(),
            amount: Money::krw(total),
        };
        self.send(step("pay-request"), order.payment_id, request)
            .await?;
        let authorized = self
            .send(
                step("authorize"),
                order.payment_id,
                PaymentCommand::Authorize,
            )
            .await?;
        if authorized.events.iter().any(|e| e == "PaymentDeclined") {
            let cancel = OrderCommand::Cancel {
                reason: "결제 거절".into(),
            };
            self.send(step("cancel"), order.order_id, cancel).await?;
            return Ok(false);
        }
        let capture = PaymentCommand::Capture { amount: None };
        self.send(step("capture"), order.payment_id, capture)
            .await?;
        let paid = OrderCommand::MarkPaid {
            payment_id: order.payment_id,
            amount: Money::krw(total),
        };
        self.send(step("mark-paid"), order.order_id, paid).await?;
        Ok(true)
    }

    /// Waits for the policy to pay the order (true) or cancel it on a decline (false).
    async fn paid_by_policy(&self, order: &OrderPlan) -> anyhow::Result<bool> {
        let deadline = Instant::now() + POLICY_WAIT;
        loop {
            let loaded = self
                .commands
                .orders
                .load(&order.order_id.to_string())
                .await?;
            match loaded.aggregate.state.map(|state| state.status) {
                Some(OrderStatus::Placed) | None => {}
                Some(OrderStatus::Cancelled) => return Ok(false),
                Some(_) => return Ok(true),
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "order {} was not paid by the payment policy within {POLICY_WAIT:?}: is the \
                 policy running?",
                order.order_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn order(&self, order: &OrderPlan) -> anyhow::Result<()> {
        let step = |name: &str| format!("order-{}-{name}", order.index);
        let total: i64 = order
            .lines
            .iter()
            .map(|&(_, quantity, price)| price * i64::from(quantity))
            .sum();
        // An order left placed waits for an explicit payment: no wallet.
        let by_policy = self.payer == Payer::Policy && !matches!(order.fate, Fate::LeftPlaced);
        let place = OrderCommand::Place {
            order_id: order.order_id,
            customer_id: order.customer_id.clone(),
            lines: order
                .lines
                .iter()
                .map(|&(product_id, quantity, _)| LineRequest {
                    product_id,
                    quantity,
                })
                .collect(),
            wallet_id: by_policy.then(|| order.wallet_id.clone()),
            shipping: Some(shipping_address(order.index)),
        };
        self.send(step("place"), order.order_id, place).await?;
        if let Fate::LeftPlaced = order.fate {
            return Ok(());
        }
        let paid = match by_policy {
            true => self.paid_by_policy(order).await?,
            false => self.pay(order, total).await?,
        };
        if !paid {
            self.counters.declined.fetch_add(1, Ordering::Relaxed);
            self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.counters.paid.fetch_add(1, Ordering::Relaxed);
        match order.fate {
            Fate::LeftPlaced | Fate::Paid => return Ok(()),
            Fate::CancelledAfterPayment => {
                let cancel = OrderCommand::Cancel {
                    reason: "단순 변심".into(),
                };
                self.send(step("cancel"), order.order_id, cancel).await?;
                if !by_policy {
                    let refund = PaymentCommand::Refund {
                        amount: Money::krw(total),
                        reason: "주문 취소".into(),
                    };
                    self.send(step("refund"), order.payment_id, refund).await?;
                }
                self.counters.cancelled.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Fate::Delivered | Fate::Confirmed | Fate::PartlyReturned => {}
        }
        let ship = OrderCommand::Ship {
            carrier: "CJ대한통운".into(),
            tracking_number: format!("{:012}", order.index * 7919 + 100_000),
            by_partner: order.partner_id.clone(),
        };
        self.send(step("ship"), order.order_id, ship).await?;
        let deliver = OrderCommand::Deliver {
            receiver: Some(["본인", "경비실", "문앞"][order.index % 3].to_owned()),
            by_partner: order.partner_id.clone(),
        };
        self.send(step("deliver"), order.order_id, deliver).await?;
        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
        match order.fate {
            Fate::Confirmed => {
                self.send(
                    step("confirm"),
                    order.order_id,
                    OrderCommand::ConfirmPurchase {
                        automatic: order.index.is_multiple_of(4),
                    },
                )
                .await?;
            }
            Fate::PartlyReturned => {
                let (_, _, price) = order.lines[0];
                let give_back = OrderCommand::Return {
                    lines: vec![ReturnRequest {
                        line_no: 1,
                        quantity: 1,
                    }],
                    reason: "상품 불량".into(),
                };
                self.send(step("return"), order.order_id, give_back).await?;
                if !by_policy {
                    let refund = PaymentCommand::Refund {
                        amount: Money::krw(price),
                        reason: "반품".into(),
                    };
                    self.send(step("refund"), order.payment_id, refund).await?;
                }
                self.counters.returned.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        Ok(())
    }
}
