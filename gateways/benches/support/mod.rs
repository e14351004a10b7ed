//! What the benchmarks share.
// Each benchmark is its own crate and uses a part of this.
#![allow(dead_code)]

use eventmall_aggregates::ProductCommand;
use eventmall_events::{CommandMetadata, PartnerId, ProductId};
use eventmall_gateways::commands::{CommandGateway, CommandRequest, Dispatch};

/// A numeric setting from the environment, or `default`.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Registers `n` products of the partner `bench` through the command gateway.
pub async fn register_products(commands: &CommandGateway, n: usize) -> Vec<ProductId> {
    let partner = PartnerId::from("bench");
    let mut ids = Vec::new();
    for i in 0..n {
        let sku = format!("LAT-{i}");
        let id = ProductId::for_partner_sku(&partner, &sku);
        let command = ProductCommand::Register {
            product_id: id,
            partner_id: partner.clone(),
            sku,
            details: eventmall_events::product::ProductDetails {
                title: format!("삼성 무선청소기 VS{i:05}"),
                brand: Some("삼성".into()),
                category: vec!["가전".into(), "청소기".into()],
                model_number: Some(format!("VS{i:05}")),
            },
            price: eventmall_events::Money::krw(100_000),
            stock: 10,
        };
        commands
            .dispatch(CommandRequest::new(
                id,
                command,
                CommandMetadata::new_root(None),
            ))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}
