//! What a feed row becomes besides its command: its dead letter, its command's metadata, the
//! product details it states and the digest that says whether it changed.

use eventmall_events::dead_letter::{header, stage};
use eventmall_events::product::ProductDetails;
use eventmall_events::{CommandMetadata, DeadLetter, PartnerId};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::RejectedLine;
use crate::ep::EpProduct;

/// A rejected line's dead letter: its raw bytes, keyed by the partner, with the reason, the
/// partner, the run and the line number.
pub(super) fn dead_letter(partner: &PartnerId, run_id: Uuid, line: RejectedLine) -> DeadLetter {
    DeadLetter::new(Some(partner.0.clone().into_bytes()), Some(line.raw))
        .with_header(header::REASON, line.reason)
        .with_header(header::STAGE, stage::FEED)
        .with_header(header::FEED_PARTNER, partner.0.as_str())
        .with_header(header::FEED_RUN, run_id.to_string())
        .with_header(header::FEED_LINE, line.line.to_string())
}

/// A feed command's metadata: the run correlates, the line (or the absent SKU) causes, the
/// partner's feed acts.
pub(super) fn metadata(
    run_id: Uuid,
    partner: &PartnerId,
    cause: impl std::fmt::Display,
) -> CommandMetadata {
    CommandMetadata {
        correlation_id: run_id.to_string(),
        causation_id: format!("{run_id}:{cause}"),
        traceparent: None,
        actor: Some(format!("feed:{}", partner.0)),
    }
}

pub(super) fn details(product: &EpProduct) -> ProductDetails {
    ProductDetails {
        title: product.title.clone(),
        brand: product.brand.clone(),
        category: product.category.clone(),
        model_number: product.model_number.clone(),
    }
}

/// A digest of what a row tells the Product aggregate: its details and price.
pub(super) fn content(product: &EpProduct) -> String {
    let mut digest = Sha256::new();
    let details = details(product);
    for field in [
        Some(details.title.as_str()),
        details.brand.as_deref(),
        details.model_number.as_deref(),
    ] {
        digest.update(field.unwrap_or("\u{0}"));
        digest.update(b"\x1f");
    }
    for level in &details.category {
        digest.update(level);
        digest.update(b"\x1e");
    }
    digest.update(product.price.to_be_bytes());
    format!("{:x}", digest.finalize())
}
