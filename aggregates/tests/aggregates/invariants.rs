//! Random command sequences never break an invariant, a refused command changes nothing, and
//! replaying the emitted events rebuilds the same state.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use eventmall_aggregates::order::{LineRequest, OrderStatus, ReturnRequest};
use eventmall_aggregates::payment::PaymentStatus;
use eventmall_aggregates::{Order, OrderCommand, Payment, PaymentCommand, Product, ProductCommand};
use eventmall_events::product::ProductDetails;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId};
use proptest::prelude::*;

use crate::support::{ScriptedWallet, entry, order_services, payment_services};

/// Runs `commands` one by one, checking `invariant` after each, and that a refused command
/// leaves the aggregate as it was. Returns the aggregate and every event it emitted.
fn run<A>(
    commands: Vec<A::Command>,
    services: &A::Services,
    invariant: impl Fn(&A),
) -> (A, Vec<A::Event>)
where
    A: Aggregate + Clone + PartialEq + std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut aggregate = A::default();
    let mut history = Vec::new();
    for command in commands {
        let before = aggregate.clone();
        let sink = EventSink::default();
        let result = runtime.block_on(aggregate.handle(command, services, &sink));
        let events = runtime.block_on(sink.collect());
        if result.is_err() {
            assert!(events.is_empty(), "a refused command emitted events");
            assert_eq!(aggregate, before, "a refused command changed state");
        }
        history.extend(events);
        invariant(&aggregate);
    }
    let mut replayed = A::default();
    for event in history.clone() {
        replayed.apply(event);
    }
    assert_eq!(
        replayed, aggregate,
        "replaying the events gives another state"
    );
    (aggregate, history)
}

fn money() -> impl Strategy<Value = Money> + Clone {
    prop_oneof![Just(0i64), Just(-5), 1i64..200_000].prop_map(Money::krw)
}

fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![Just(String::new()), "[가-힣a-z ]{1,120}"]
}

fn product_command() -> impl Strategy<Value = ProductCommand> {
    let partner = prop_oneof![Just("shop-1"), Just("shop-2")].prop_map(PartnerId::from);
    let details = || {
        (text(), proptest::collection::vec("[가-힣]{0,3}", 0..6)).prop_map(|(title, category)| {
            ProductDetails {
                title,
                brand: None,
                category,
                model_number: None,
            }
        })
    };
    prop_oneof![
        (partner.clone(), details(), money(), any::<u32>()).prop_map(
            |(partner_id, details, price, stock)| ProductCommand::Register {
                product_id: ProductId::for_partner_sku(&partner_id, "SKU"),
                partner_id,
                sku: "SKU".into(),
                details,
                price,
                stock,
            }
        ),
        (partner.clone(), details()).prop_map(|(partner_id, details)| {
            ProductCommand::UpdateDetails {
                partner_id,
                details,
            }
        }),
        (partner.clone(), money())
            .prop_map(|(partner_id, price)| ProductCommand::ChangePrice { partner_id, price }),
        (partner.clone(), 0u32..5)
            .prop_map(|(partner_id, stock)| ProductCommand::ChangeStock { partner_id, stock }),
        partner
            .clone()
            .prop_map(|partner_id| ProductCommand::Delist {
                partner_id,
                reason: None
            }),
        partner.prop_map(|partner_id| ProductCommand::Relist {
            partner_id,
            reason: None,
        }),
    ]
}

fn order_command() -> impl Strategy<Value = OrderCommand> {
    let skus = ["A", "B", "C", "D"];
    let line = (0usize..4, 0u32..4).prop_map(move |(i, quantity)| LineRequest {
        product_id: ProductId::for_partner_sku(
            &PartnerId::from(if i == 3 { "shop-2" } else { "shop-1" }),
            skus[i],
        ),
        quantity,
    });
    let returned =
        (0u32..4, 0u32..4).prop_map(|(line_no, quantity)| ReturnRequest { line_no, quantity });
    prop_oneof![
        proptest::collection::vec(line, 0..4).prop_map(|lines| OrderCommand::Place {
            order_id: OrderId::new(),
            customer_id: CustomerId::from("kim"),
            lines,
        }),
        money().prop_map(|amount| OrderCommand::MarkPaid {
            payment_id: PaymentId::new(),
            amount,
        }),
        text().prop_map(|carrier| OrderCommand::Ship {
            carrier,
            tracking_number: "1".into(),
            by_partner: None,
        }),
        Just(OrderCommand::Deliver {
            receiver: None,
            by_partner: None,
        }),
        any::<bool>().prop_map(|automatic| OrderCommand::ConfirmPurchase { automatic }),
        text().prop_map(|reason| OrderCommand::Cancel { reason }),
        proptest::collection::vec(returned, 0..3).prop_map(|lines| OrderCommand::Return {
            lines,
            reason: "불량".into(),
        }),
    ]
}

fn payment_command() -> impl Strategy<Value = PaymentCommand> {
    prop_oneof![
        money().prop_map(|amount| PaymentCommand::Request {
            payment_id: PaymentId::new(),
            order_id: OrderId::new(),
            customer_id: CustomerId::from("kim"),
            wallet_id: WalletId::from("w"),
            amount,
        }),
        Just(PaymentCommand::Authorize),
        text().prop_map(|reason| PaymentCommand::Decline { reason }),
        proptest::option::of(money()).prop_map(|amount| PaymentCommand::Capture { amount }),
        money().prop_map(|amount| PaymentCommand::Refund {
            amount,
            reason: "반품".into(),
        }),
        text().prop_map(|reason| PaymentCommand::Void { reason }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn product_invariants_hold(commands in proptest::collection::vec(product_command(), 1..25)) {
        run::<Product>(commands, &(), |product| {
            if let Some(state) = &product.state {
                assert!(state.price.amount >= 1);
                let title = state.details.title.trim().chars().count();
                assert!((1..=100).contains(&title));
                assert!((1..=4).contains(&state.details.category.len()));
                assert_eq!(state.product_id, ProductId::for_partner_sku(&state.partner_id, &state.sku));
            }
        });
    }

    #[test]
    fn order_invariants_hold(commands in proptest::collection::vec(order_command(), 1..25)) {
        let services = order_services(&[
            entry("A", "shop-1", 12_000, true),
            entry("B", "shop-1", 3_500, true),
            entry("C", "shop-1", 1_000, false),
            entry("D", "shop-2", 1_000, true),
        ]);
        run::<Order>(commands, &services, |order| {
            let Some(state) = &order.state else { return };
            assert!((1..=100).contains(&state.lines.len()));
            let total: i64 = state.lines.iter().map(|l| l.unit_price.amount * i64::from(l.quantity)).sum();
            assert_eq!(total, state.total.amount);
            let mut refunded = 0;
            for line in &state.lines {
                assert!(line.quantity >= 1);
                let returned = state.returned.get(&line.line_no).copied().unwrap_or(0);
                assert!(returned <= line.quantity);
                refunded += line.unit_price.amount * i64::from(returned);
            }
            assert_eq!(refunded, state.refunded.amount);
            let all_returned = state.lines.iter().all(|l| state.returned.get(&l.line_no) == Some(&l.quantity));
            assert_eq!(all_returned, state.status == OrderStatus::Returned);
            if matches!(state.status, OrderStatus::Placed) {
                assert!(state.payment_id.is_none());
            }
        });
    }

    #[test]
    fn payment_invariants_hold(commands in proptest::collection::vec(payment_command(), 1..25)) {
        let services = payment_services(ScriptedWallet::default());
        run::<Payment>(commands, &services, |payment| {
            let Some(state) = &payment.state else { return };
            assert!(state.amount.amount >= 1);
            assert!(state.authorized.amount <= state.amount.amount);
            assert!(state.captured.amount <= state.authorized.amount);
            assert!(state.refunded.amount <= state.captured.amount);
            assert!(state.refunded.amount >= 0);
            if state.status == PaymentStatus::Refunded {
                assert_eq!(state.refunded, state.captured);
            }
            if state.status == PaymentStatus::Voided {
                assert_eq!(state.captured.amount, 0);
            }
        });
    }
}
