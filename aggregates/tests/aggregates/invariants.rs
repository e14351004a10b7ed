//! Random command sequences never break an invariant, a refused command changes nothing, and
//! replaying the emitted events rebuilds the same state.

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use eventmall_aggregates::order::{LineRequest, OrderState, OrderStatus, ReturnRequest};
use eventmall_aggregates::payment::PaymentStatus;
use eventmall_aggregates::{Order, OrderCommand, Payment, PaymentCommand, Product, ProductCommand};
use eventmall_events::product::ProductDetails;
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, ProductId, WalletId};
use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;

use crate::support::{CapturedPayments, ScriptedWallet, entry, order_services, payment_services};

/// Runs `commands` one by one, checking `invariant` after each, and that a refused command
/// leaves the aggregate as it was. Returns the aggregate and every event it emitted.
fn run<A>(
    commands: Vec<A::Command>,
    services: &A::Services,
    invariant: impl FnMut(&A),
) -> (A, Vec<A::Event>)
where
    A: Aggregate + Clone + PartialEq + std::fmt::Debug,
{
    run_steps(commands, |_, command| command, services, invariant)
}

/// [`run`], with each step turned into its command on the aggregate as it is at that step.
fn run_steps<A, S>(
    steps: Vec<S>,
    command_of: impl Fn(&A, S) -> A::Command,
    services: &A::Services,
    mut invariant: impl FnMut(&A),
) -> (A, Vec<A::Event>)
where
    A: Aggregate + Clone + PartialEq + std::fmt::Debug,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut aggregate = A::default();
    let mut history = Vec::new();
    for step in steps {
        let command = command_of(&aggregate, step);
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
            wallet_id: None,
            shipping: None,
        }),
        money().prop_map(|amount| OrderCommand::MarkPaid {
            payment_id: PaymentId::new(),
            amount,
        }),
        text().prop_map(|carrier| OrderCommand::Ship {
            carrier,
            tracking_number: "1".into(),
            by_partner: PartnerId::from("shop-1"),
        }),
        Just(OrderCommand::Deliver {
            receiver: None,
            by_partner: PartnerId::from("shop-1"),
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

/// A step of an order's life: a command, or one whose amounts must match the order (paying the
/// total, returning what is left), which random amounts practically never do.
#[derive(Clone, Debug)]
enum OrderStep {
    Command(OrderCommand),
    PayTheTotal,
    ReturnTheRest,
}

/// An order of the shop's listed products: one or both, one to three units each.
fn placement() -> impl Strategy<Value = OrderCommand> {
    let skus = proptest::sample::subsequence(vec!["A", "B"], 1..=2);
    (skus, proptest::collection::vec(1u32..4, 2)).prop_map(|(skus, quantities)| {
        OrderCommand::Place {
            order_id: OrderId::new(),
            customer_id: CustomerId::from("kim"),
            lines: skus
                .iter()
                .zip(quantities)
                .map(|(sku, quantity)| LineRequest {
                    product_id: ProductId::for_partner_sku(&PartnerId::from("shop-1"), sku),
                    quantity,
                })
                .collect(),
            wallet_id: None,
            shipping: None,
        }
    })
}

fn order_step() -> impl Strategy<Value = OrderStep> {
    let command = |command: OrderCommand| Just(OrderStep::Command(command));
    let returned = (1u32..4, 1u32..3).prop_map(|(line_no, quantity)| {
        OrderStep::Command(OrderCommand::Return {
            lines: vec![ReturnRequest { line_no, quantity }],
            reason: "불량".into(),
        })
    });
    prop_oneof![
        4 => Just(OrderStep::PayTheTotal),
        3 => command(OrderCommand::Ship {
            carrier: "CJ대한통운".into(),
            tracking_number: "1".into(),
            by_partner: PartnerId::from("shop-1"),
        }),
        3 => command(OrderCommand::Deliver {
            receiver: None,
            by_partner: PartnerId::from("shop-1"),
        }),
        2 => command(OrderCommand::ConfirmPurchase { automatic: false }),
        1 => command(OrderCommand::Cancel { reason: "변심".into() }),
        3 => returned,
        1 => Just(OrderStep::ReturnTheRest),
        2 => order_command().prop_map(OrderStep::Command),
    ]
}

/// The command a step asks of the order as it is.
fn order_command_of(order: &Order, step: OrderStep) -> OrderCommand {
    let state = order.state.as_ref();
    match step {
        OrderStep::Command(command) => command,
        OrderStep::PayTheTotal => OrderCommand::MarkPaid {
            payment_id: PaymentId::new(),
            amount: state.map_or(Money::krw(1), |s| s.total),
        },
        OrderStep::ReturnTheRest => OrderCommand::Return {
            lines: state.map_or_else(Vec::new, |s| {
                s.lines
                    .iter()
                    .map(|line| ReturnRequest {
                        line_no: line.line_no,
                        quantity: line.quantity
                            - s.returned.get(&line.line_no).copied().unwrap_or(0),
                    })
                    .filter(|r| r.quantity > 0)
                    .collect()
            }),
            reason: "전체 반품".into(),
        },
    }
}

fn check_order(state: &OrderState) {
    assert!((1..=100).contains(&state.lines.len()));
    let total: i64 = state
        .lines
        .iter()
        .map(|l| l.unit_price.amount * i64::from(l.quantity))
        .sum();
    assert_eq!(total, state.total.amount);
    let mut refunded = 0;
    for line in &state.lines {
        assert!(line.quantity >= 1);
        let returned = state.returned.get(&line.line_no).copied().unwrap_or(0);
        assert!(returned <= line.quantity);
        refunded += line.unit_price.amount * i64::from(returned);
    }
    assert_eq!(refunded, state.refunded.amount);
    let all_returned = state
        .lines
        .iter()
        .all(|l| state.returned.get(&l.line_no) == Some(&l.quantity));
    assert_eq!(all_returned, state.status == OrderStatus::Returned);
    if matches!(state.status, OrderStatus::Placed) {
        assert!(state.payment_id.is_none());
    }
}

/// Random lives of an order keep its invariants, and they are lives worth the name: a good
/// share of them gets paid, shipped, delivered, refunded in part and returned whole.
#[test]
fn order_invariants_hold_through_every_state_an_order_reaches() {
    const CASES: u32 = 512;
    let payments = CapturedPayments::default();
    let services = order_services(
        &[
            entry("A", "shop-1", 12_000, true),
            entry("B", "shop-1", 3_500, true),
            entry("C", "shop-1", 1_000, false),
            entry("D", "shop-2", 1_000, true),
        ],
        payments.clone(),
    );
    // The wallet captures whatever an order is asked to be marked paid with.
    let command_of = |order: &Order, step| {
        let command = order_command_of(order, step);
        if let (OrderCommand::MarkPaid { payment_id, amount }, Some(state)) =
            (&command, &order.state)
        {
            payments.capture(*payment_id, state.order_id, &state.customer_id.0, *amount);
        }
        command
    };
    let reached: RefCell<BTreeMap<&str, u32>> = RefCell::default();
    let lives = (placement(), proptest::collection::vec(order_step(), 8..30));
    let mut runner = TestRunner::new(ProptestConfig::with_cases(CASES));
    runner
        .run(&lives, |(place, steps)| {
            let mut seen = std::collections::BTreeSet::new();
            let steps = std::iter::once(OrderStep::Command(place))
                .chain(steps)
                .collect();
            run_steps(steps, command_of, &services, |order: &Order| {
                let Some(state) = &order.state else { return };
                check_order(state);
                seen.insert(state.status.as_str());
                if state.refunded.amount > 0 {
                    seen.insert("refunded");
                }
            });
            for state in seen {
                *reached.borrow_mut().entry(state).or_default() += 1;
            }
            Ok(())
        })
        .unwrap();
    let reached = reached.into_inner();
    for (state, least) in [
        ("paid", 0.5),
        ("shipped", 0.3),
        ("delivered", 0.2),
        ("refunded", 0.07),
        ("returned", 0.04),
        ("purchase_confirmed", 0.08),
        ("cancelled", 0.15),
    ] {
        let share = f64::from(reached.get(state).copied().unwrap_or(0)) / f64::from(CASES);
        assert!(
            share >= least,
            "{state}: {share:.2} of the runs, at least {least} wanted; reached {reached:?}"
        );
    }
}
