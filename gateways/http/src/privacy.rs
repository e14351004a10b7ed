//! `POST /v1/admin/customers/{id}/forget`, and opening personal data for the read routes.

use axum::Json;
use axum::extract::{Path, State};
use eventmall_events::order::ShippingAddress;
use eventmall_events::pii::REDACTED;
use eventmall_projections::orders::{OrderView, Shipping};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::party_id;
use crate::problem::ReadProblems;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(forget))
}

#[derive(Serialize, ToSchema)]
struct Forgotten {
    customer_id: String,
    /// Data keys destroyed now; 0 when the customer had none left (already forgotten, or never
    /// gave personal data).
    keys_destroyed: u64,
}

/// Forget a customer: destroy its data keys. Its shipping addresses and delivery receivers,
/// which the event store, Kafka and the read models hold only sealed with those keys, can never
/// be read again, and every read shows them `[redacted]`. Its orders, payments, sales and
/// settlements stay as they are.
#[utoipa::path(
    post,
    path = "/v1/admin/customers/{id}/forget",
    tag = "operations",
    params(("id" = String, Path, pattern = r"^[A-Za-z0-9._-]{1,100}$", description = "The customer")),
    responses((status = 200, description = "The customer's keys are destroyed", body = Forgotten), ReadProblems),
)]
async fn forget(
    State(state): State<AppState>,
    Path(customer): Path<String>,
) -> Result<Json<Forgotten>, ApiError> {
    let customer_id = party_id(customer)?;
    let keys_destroyed = state.vault.forget(&customer_id).await?;
    Ok(Json(Forgotten {
        customer_id,
        keys_destroyed,
    }))
}

/// Opens the personal data of order views for a reader who may see them: the shipping
/// address, and a timeline step's sealed detail (a delivery's receiver).
pub async fn open(state: &AppState, views: &mut [OrderView]) -> Result<(), ApiError> {
    let mut opener = state.vault.opener();
    for view in views {
        if let Some(Shipping::Sealed(sealed)) = &view.shipping {
            let opened = opener.open(sealed).await?;
            let address = serde_json::from_str(&opened).unwrap_or_else(|_| redacted());
            view.shipping = Some(Shipping::Address(address));
        }
        for step in &mut view.timeline {
            if let Some(detail) = &step.detail {
                step.detail = Some(opener.open(detail).await?);
            }
        }
    }
    Ok(())
}

fn redacted() -> ShippingAddress {
    ShippingAddress {
        recipient: REDACTED.into(),
        phone: REDACTED.into(),
        address: REDACTED.into(),
        postal_code: REDACTED.into(),
    }
}
