use std::collections::{BTreeMap, HashSet};

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use eventmall_events::ids::is_text_id;
use eventmall_events::order::{
    OrderCancelled, OrderDelivered, OrderEvent, OrderLine, OrderLinesReturned, OrderPaid,
    OrderPlaced, OrderPurchaseConfirmed, OrderShipped, OrderStatus, ReturnedLine,
};
use eventmall_events::{CustomerId, Money, OrderId, PartnerId, PaymentId, WalletId};
use serde::{Deserialize, Serialize};

use super::catalog::OrderServices;
use super::commands::{LineRequest, OrderCommand, ReturnRequest};
use super::error::OrderError;
use super::personal::{check_address, check_receiver, seal};

const MAX_LINES: usize = 100;
/// The most units of one line: with prices bounded, an order's total stays inside an i64.
pub const MAX_QUANTITY: u32 = 9_999;

/// An order; `None` until placed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub state: Option<OrderState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderState {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub partner_id: PartnerId,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub status: OrderStatus,
    pub payment_id: Option<PaymentId>,
    /// Units returned so far, by line number.
    #[schema(value_type = BTreeMap<String, u32>)]
    pub returned: BTreeMap<u32, u32>,
    pub refunded: Money,
    /// The wallet the order is paid with, if it was placed with one.
    #[serde(default)]
    pub wallet_id: Option<WalletId>,
}

impl OrderState {
    fn remaining(&self, line: &OrderLine) -> u32 {
        line.quantity - self.returned.get(&line.line_no).copied().unwrap_or(0)
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = OrderEvent::AGGREGATE_TYPE;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = OrderServices;

    async fn handle(
        &mut self,
        command: OrderCommand,
        services: &OrderServices,
        sink: &EventSink<Self>,
    ) -> Result<(), OrderError> {
        let event: OrderEvent = match command {
            OrderCommand::Place {
                order_id,
                customer_id,
                lines,
                wallet_id,
                shipping,
            } => {
                if self.state.is_some() {
                    return Err(OrderError::AlreadyPlaced);
                }
                let mut placed = place(order_id, customer_id, lines, wallet_id, services).await?;
                if let Some(address) = shipping {
                    check_address(&address)?;
                    let json = serde_json::to_string(&address)
                        .map_err(|e| OrderError::InvalidShipping(e.to_string()))?;
                    placed.shipping = Some(seal(services, &placed.customer_id, &json).await?);
                }
                placed.into()
            }
            OrderCommand::MarkPaid { payment_id, amount } => self
                .pay(payment_id, amount, Secured::Captured, services)
                .await?
                .into(),
            OrderCommand::MarkPaidOnHold { payment_id, amount } => self
                .pay(payment_id, amount, Secured::Held, services)
                .await?
                .into(),
            OrderCommand::Ship {
                carrier,
                tracking_number,
                by_partner,
            } => {
                self.expect_seller(&by_partner)?;
                self.expect_status("ship", &[OrderStatus::Paid])?;
                non_blank("carrier", &carrier)?;
                non_blank("tracking_number", &tracking_number)?;
                OrderShipped {
                    carrier,
                    tracking_number,
                }
                .into()
            }
            OrderCommand::Deliver {
                receiver,
                by_partner,
            } => {
                self.expect_seller(&by_partner)?;
                let state = self.expect_status("deliver", &[OrderStatus::Shipped])?;
                let receiver = match receiver {
                    Some(receiver) => {
                        check_receiver(&receiver)?;
                        Some(seal(services, &state.customer_id, &receiver).await?)
                    }
                    None => None,
                };
                OrderDelivered { receiver }.into()
            }
            OrderCommand::ConfirmPurchase { automatic } => {
                self.expect_status("confirm the purchase of", &[OrderStatus::Delivered])?;
                OrderPurchaseConfirmed { automatic }.into()
            }
            OrderCommand::Cancel { reason } => {
                let state =
                    self.expect_status("cancel", &[OrderStatus::Placed, OrderStatus::Paid])?;
                non_blank("reason", &reason)?;
                OrderCancelled {
                    reason,
                    refund_due: state.status == OrderStatus::Paid,
                }
                .into()
            }
            OrderCommand::Return { lines, reason } => {
                let state = self.expect_status("return", &[OrderStatus::Delivered])?;
                non_blank("reason", &reason)?;
                returned_lines(state, &lines, reason)?.into()
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: OrderEvent) {
        if let OrderEvent::OrderPlaced(placed) = event {
            self.state = Some(OrderState {
                order_id: placed.order_id,
                customer_id: placed.customer_id,
                partner_id: placed.partner_id,
                lines: placed.lines,
                total: placed.total,
                status: OrderStatus::Placed,
                payment_id: None,
                returned: BTreeMap::new(),
                refunded: Money::zero(placed.total.currency),
                wallet_id: placed.wallet_id,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            debug_assert!(false, "order event before placement");
            return;
        };
        match event {
            OrderEvent::OrderPlaced(_) => {}
            OrderEvent::OrderPaid(e) => {
                state.status = OrderStatus::Paid;
                state.payment_id = Some(e.payment_id);
            }
            OrderEvent::OrderShipped(_) => state.status = OrderStatus::Shipped,
            OrderEvent::OrderDelivered(_) => state.status = OrderStatus::Delivered,
            OrderEvent::OrderPurchaseConfirmed(_) => {
                state.status = OrderStatus::PurchaseConfirmed;
            }
            OrderEvent::OrderCancelled(_) => state.status = OrderStatus::Cancelled,
            OrderEvent::OrderLinesReturned(e) => {
                for line in &e.lines {
                    *state.returned.entry(line.line_no).or_default() += line.quantity;
                }
                state.refunded.amount += e.refund.amount;
                if state.lines.iter().all(|line| state.remaining(line) == 0) {
                    state.status = OrderStatus::Returned;
                }
            }
        }
    }
}

/// How the money of a payment that pays an order must be secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Secured {
    /// Taken by the wallet.
    Captured,
    /// Held by the wallet, to be captured later.
    Held,
}

impl Order {
    /// The order paid by `payment_id`: of its customer, for its total, secured as asked.
    async fn pay(
        &self,
        payment_id: PaymentId,
        amount: Money,
        secured: Secured,
        services: &OrderServices,
    ) -> Result<OrderPaid, OrderError> {
        let state = self.expect_status("pay", &[OrderStatus::Placed])?;
        if amount != state.total {
            return Err(OrderError::AmountMismatch {
                paid: amount,
                total: state.total,
            });
        }
        check_payment(state, payment_id, secured, services).await?;
        Ok(OrderPaid { payment_id, amount })
    }

    /// The state, if the order is in one of `allowed`; otherwise the refusal naming its status.
    /// A partner acting on the order must be the one selling it.
    fn expect_seller(&self, partner: &PartnerId) -> Result<(), OrderError> {
        let state = self.state.as_ref().ok_or(OrderError::NotPlaced)?;
        match *partner == state.partner_id {
            true => Ok(()),
            false => Err(OrderError::NotSeller {
                seller: state.partner_id.clone(),
            }),
        }
    }

    fn expect_status(
        &self,
        action: &'static str,
        allowed: &[OrderStatus],
    ) -> Result<&OrderState, OrderError> {
        let state = self.state.as_ref().ok_or(OrderError::NotPlaced)?;
        if !allowed.contains(&state.status) {
            return Err(OrderError::IllegalTransition {
                action,
                status: state.status,
            });
        }
        Ok(state)
    }
}

async fn place(
    order_id: OrderId,
    customer_id: CustomerId,
    requests: Vec<LineRequest>,
    wallet_id: Option<WalletId>,
    services: &OrderServices,
) -> Result<OrderPlaced, OrderError> {
    let ids = [
        ("customer_id", Some(&customer_id.0)),
        ("wallet_id", wallet_id.as_ref().map(|w| &w.0)),
    ];
    for (field, id) in ids {
        if let Some(id) = id
            && !is_text_id(id)
        {
            let id = id.clone();
            return Err(OrderError::InvalidId { field, id });
        }
    }
    if requests.is_empty() || requests.len() > MAX_LINES {
        return Err(OrderError::LineCount {
            count: requests.len(),
        });
    }
    let mut seen = HashSet::new();
    let mut partner: Option<PartnerId> = None;
    let mut lines = Vec::with_capacity(requests.len());
    let mut total: Option<Money> = None;
    for (line_no, request) in (1..).zip(requests) {
        if !(1..=MAX_QUANTITY).contains(&request.quantity) {
            return Err(OrderError::InvalidQuantity { line_no });
        }
        let product_id = request.product_id;
        if !seen.insert(product_id) {
            return Err(OrderError::DuplicateProduct { product_id });
        }
        let entry = services
            .catalog
            .entry(product_id)
            .await
            .map_err(|e| OrderError::Catalog(e.to_string()))?
            .ok_or(OrderError::UnknownProduct { product_id })?;
        if !entry.listed {
            return Err(OrderError::ProductDelisted { product_id });
        }
        match &partner {
            None => partner = Some(entry.partner_id.clone()),
            Some(first) if *first != entry.partner_id => {
                return Err(OrderError::MixedPartners {
                    product_id,
                    partner_id: entry.partner_id,
                });
            }
            Some(_) => {}
        }
        let line_total = entry
            .price
            .checked_mul(request.quantity)
            .ok_or(OrderError::TotalOverflow)?;
        total = Some(match total {
            None => line_total,
            Some(sum) => sum
                .checked_add(line_total)
                .ok_or(OrderError::TotalOverflow)?,
        });
        lines.push(OrderLine {
            line_no,
            product_id,
            title: entry.title,
            category: entry.category,
            unit_price: entry.price,
            quantity: request.quantity,
        });
    }
    let (Some(partner_id), Some(total)) = (partner, total) else {
        return Err(OrderError::LineCount { count: 0 });
    };
    Ok(OrderPlaced {
        order_id,
        customer_id,
        partner_id,
        lines,
        total,
        wallet_id,
        shipping: None,
    })
}

/// The payment is this order's, by its customer, and the wallet captured the order's total
/// (or holds it, when that is what is asked).
async fn check_payment(
    state: &OrderState,
    payment_id: PaymentId,
    secured: Secured,
    services: &OrderServices,
) -> Result<(), OrderError> {
    let payment = services
        .payments
        .payment(payment_id)
        .await
        .map_err(|e| OrderError::Catalog(e.to_string()))?
        .ok_or(OrderError::UnknownPayment { payment_id })?;
    if payment.order_id != state.order_id || payment.customer_id != state.customer_id {
        return Err(OrderError::NotThisOrdersPayment { payment_id });
    }
    let secured = match secured {
        Secured::Captured => payment.captured,
        Secured::Held => payment.held,
    };
    if secured != state.total {
        return Err(OrderError::NotCaptured {
            payment_id,
            captured: secured,
            total: state.total,
        });
    }
    Ok(())
}

fn returned_lines(
    state: &OrderState,
    requests: &[ReturnRequest],
    reason: String,
) -> Result<OrderLinesReturned, OrderError> {
    if requests.is_empty() || requests.len() > MAX_LINES {
        return Err(OrderError::LineCount {
            count: requests.len(),
        });
    }
    let mut asked: BTreeMap<u32, u32> = BTreeMap::new();
    for request in requests {
        if request.quantity == 0 {
            return Err(OrderError::InvalidQuantity {
                line_no: request.line_no,
            });
        }
        let sum = asked.entry(request.line_no).or_default();
        *sum = sum.saturating_add(request.quantity);
    }
    let mut lines = Vec::with_capacity(asked.len());
    let mut refund = Money::zero(state.total.currency);
    for (line_no, quantity) in asked {
        let line = state
            .lines
            .iter()
            .find(|line| line.line_no == line_no)
            .ok_or(OrderError::UnknownLine { line_no })?;
        let remaining = state.remaining(line);
        if quantity > remaining {
            return Err(OrderError::ReturnExceedsLine {
                line_no,
                remaining,
                requested: quantity,
            });
        }
        let amount = line
            .unit_price
            .checked_mul(quantity)
            .ok_or(OrderError::TotalOverflow)?;
        refund = refund
            .checked_add(amount)
            .ok_or(OrderError::TotalOverflow)?;
        lines.push(ReturnedLine {
            line_no,
            quantity,
            amount,
        });
    }
    Ok(OrderLinesReturned {
        lines,
        refund,
        reason,
    })
}

fn non_blank(field: &'static str, value: &str) -> Result<(), OrderError> {
    if value.trim().is_empty() {
        return Err(OrderError::Blank { field });
    }
    Ok(())
}
