use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use eventmall_events::ids::is_text_id;
use eventmall_events::product::{
    ProductDelisted, ProductDetails, ProductDetailsUpdated, ProductEvent, ProductPriceChanged,
    ProductRegistered, ProductRelisted, ProductStockChanged,
};
use eventmall_events::{Money, PartnerId, ProductId};
use serde::{Deserialize, Serialize};

use super::commands::{LISTED_STOCK, ProductCommand};
use super::error::ProductError;
use super::rules::{check_details, check_price, check_sku};

/// A product; `None` until registered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub state: Option<ProductState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductState {
    pub product_id: ProductId,
    pub partner_id: PartnerId,
    pub sku: String,
    pub details: ProductDetails,
    pub price: Money,
    pub stock: u32,
    pub listed: bool,
}

impl Aggregate for Product {
    const TYPE: &'static str = ProductEvent::AGGREGATE_TYPE;
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ProductCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ProductError> {
        let events: Vec<ProductEvent> = match command {
            ProductCommand::Register {
                product_id,
                partner_id,
                sku,
                details,
                price,
                stock,
            } => {
                if self.state.is_some() {
                    return Err(ProductError::AlreadyRegistered);
                }
                vec![register(
                    product_id, partner_id, sku, details, price, stock,
                )?]
            }
            ProductCommand::List {
                product_id,
                partner_id,
                sku,
                details,
                price,
                stock,
            } => match self.state {
                None => {
                    let stock = stock.unwrap_or(LISTED_STOCK);
                    vec![register(
                        product_id, partner_id, sku, details, price, stock,
                    )?]
                }
                Some(_) => {
                    let state = self.owned_by(&partner_id)?;
                    if state.product_id != product_id || state.sku != sku {
                        return Err(ProductError::IdMismatch);
                    }
                    [
                        update_details(state, details)?,
                        change_price(state, price)?,
                        stock.and_then(|stock| change_stock(state, stock)),
                        relist(state, Some("listed again".to_owned())),
                    ]
                    .into_iter()
                    .flatten()
                    .collect()
                }
            },
            ProductCommand::UpdateDetails {
                partner_id,
                details,
            } => Vec::from_iter(update_details(self.owned_by(&partner_id)?, details)?),
            ProductCommand::ChangePrice { partner_id, price } => {
                Vec::from_iter(change_price(self.owned_by(&partner_id)?, price)?)
            }
            ProductCommand::ChangeStock { partner_id, stock } => {
                Vec::from_iter(change_stock(self.owned_by(&partner_id)?, stock))
            }
            ProductCommand::Delist { partner_id, reason } => {
                let state = self.owned_by(&partner_id)?;
                Vec::from_iter(state.listed.then(|| ProductDelisted { reason }.into()))
            }
            ProductCommand::Relist { partner_id, reason } => {
                Vec::from_iter(relist(self.owned_by(&partner_id)?, reason))
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ProductEvent) {
        if let ProductEvent::ProductRegistered(registered) = event {
            self.state = Some(ProductState {
                product_id: registered.product_id,
                partner_id: registered.partner_id,
                sku: registered.sku,
                details: registered.details,
                price: registered.price,
                stock: registered.stock,
                listed: true,
            });
            return;
        }
        let Some(state) = self.state.as_mut() else {
            debug_assert!(false, "product event before registration");
            return;
        };
        match event {
            ProductEvent::ProductRegistered(_) => {}
            ProductEvent::ProductDetailsUpdated(e) => state.details = e.details,
            ProductEvent::ProductPriceChanged(e) => state.price = e.price,
            ProductEvent::ProductStockChanged(e) => state.stock = e.stock,
            ProductEvent::ProductDelisted(_) => state.listed = false,
            ProductEvent::ProductRelisted(_) => state.listed = true,
        }
    }
}

impl Product {
    fn owned_by(&self, partner_id: &PartnerId) -> Result<&ProductState, ProductError> {
        let state = self.state.as_ref().ok_or(ProductError::NotRegistered)?;
        if &state.partner_id != partner_id {
            return Err(ProductError::NotOwner {
                owner: state.partner_id.clone(),
            });
        }
        Ok(state)
    }
}

fn register(
    product_id: ProductId,
    partner_id: PartnerId,
    sku: String,
    details: ProductDetails,
    price: Money,
    stock: u32,
) -> Result<ProductEvent, ProductError> {
    if !is_text_id(&partner_id.0) {
        return Err(ProductError::InvalidId {
            field: "partner_id",
            id: partner_id.0,
        });
    }
    check_sku(&sku)?;
    if ProductId::for_partner_sku(&partner_id, &sku) != product_id {
        return Err(ProductError::IdMismatch);
    }
    check_details(&details)?;
    check_price(price)?;
    Ok(ProductRegistered {
        product_id,
        partner_id,
        sku,
        details,
        price,
        stock,
    }
    .into())
}

fn update_details(
    state: &ProductState,
    details: ProductDetails,
) -> Result<Option<ProductEvent>, ProductError> {
    check_details(&details)?;
    Ok((state.details != details).then(|| ProductDetailsUpdated { details }.into()))
}

fn change_price(state: &ProductState, price: Money) -> Result<Option<ProductEvent>, ProductError> {
    check_price(price)?;
    Ok((state.price != price).then(|| {
        ProductPriceChanged {
            previous: state.price,
            price,
        }
        .into()
    }))
}

fn change_stock(state: &ProductState, stock: u32) -> Option<ProductEvent> {
    (state.stock != stock).then(|| {
        ProductStockChanged {
            stock,
            previous: Some(state.stock),
        }
        .into()
    })
}

fn relist(state: &ProductState, reason: Option<String>) -> Option<ProductEvent> {
    (!state.listed).then(|| ProductRelisted { reason }.into())
}
