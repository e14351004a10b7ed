//! Whose an aggregate is, for the routes that act on one by its id: a product is its partner's,
//! an order its customer's and its partner's, a payment its customer's. Owners never change, so
//! the check before the command holds when the command runs. An aggregate that does not exist
//! has no owner to protect; its command answers 404.

use eventmall_events::{OrderId, PaymentId, ProductId};

use crate::auth::Caller;
use crate::{ApiError, AppState};

/// Who of an order's parties may act.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderParty {
    Customer,
    CustomerOrPartner,
}

/// 403 unless the caller is the product's partner.
pub async fn product(state: &AppState, caller: &Caller, id: &ProductId) -> Result<(), ApiError> {
    let loaded = state.commands.products.load(&id.to_string()).await?;
    match loaded.aggregate.state {
        Some(product) => caller.for_partner(&product.partner_id.0),
        None => Ok(()),
    }
}

/// 403 unless the caller is one of the order's `party`.
pub async fn order(
    state: &AppState,
    caller: &Caller,
    id: &OrderId,
    party: OrderParty,
) -> Result<(), ApiError> {
    let loaded = state.commands.orders.load(&id.to_string()).await?;
    let Some(order) = loaded.aggregate.state else {
        return Ok(());
    };
    match party {
        OrderParty::Customer => caller.for_customer(&order.customer_id.0),
        OrderParty::CustomerOrPartner => {
            caller.for_order(&order.customer_id.0, &order.partner_id.0)
        }
    }
}

/// 403 unless the caller is the payment's customer.
pub async fn payment(state: &AppState, caller: &Caller, id: &PaymentId) -> Result<(), ApiError> {
    let loaded = state.commands.payments.load(&id.to_string()).await?;
    match loaded.aggregate.state {
        Some(payment) => caller.for_customer(&payment.customer_id.0),
        None => Ok(()),
    }
}
