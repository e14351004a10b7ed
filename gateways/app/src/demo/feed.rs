//! The demo partners' EP 3.0 feeds, written from the planned catalog.

use std::fmt::Write;

use eventmall_events::PartnerId;

use super::ProductPlan;
use eventmall_feeds::FeedEncoding;

const HEADER: &str = "id\ttitle\tprice_pc\tnormal_price\tlink\timage_link\tcategory_name1\tcategory_name2\tcategory_name3\tcategory_name4\tbrand\tmodel_number\tcondition\tshipping\tsearch_tag\toption_detail";

/// Free shipping from this price on; a fee below it.
const FREE_SHIPPING_FROM: i64 = 30_000;
const SHIPPING_FEE: i64 = 3_000;

/// How a partner charges for shipping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShippingRule {
    /// Free from [`FREE_SHIPPING_FROM`], a fee below it.
    FreeAbove,
    /// The customer pays the carrier on delivery (EP `-1`).
    OnDelivery,
}

/// A partner's full feed of `shelf`, in `encoding`; with `bad_rows`, two rows the EP rules
/// reject (a negative price, no category).
pub fn ep_feed(
    partner: &PartnerId,
    shelf: &[&ProductPlan],
    bad_rows: bool,
    shipping: ShippingRule,
    encoding: FeedEncoding,
) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    let site = format!("https://{}.shop.example", partner.0);
    for product in shelf {
        let (sku, details) = (&product.sku, &product.details);
        let levels: Vec<&str> = (0..4)
            .map(|i| details.category.get(i).map_or("", String::as_str))
            .collect();
        let shipping = match shipping {
            ShippingRule::OnDelivery => -1,
            ShippingRule::FreeAbove if product.price >= FREE_SHIPPING_FROM => 0,
            ShippingRule::FreeAbove => SHIPPING_FEE,
        };
        let _ = writeln!(
            text,
            "{sku}\t{title}\t{price}\t{normal}\t{site}/p/{sku}\t{site}/img/{sku}.jpg\t{levels}\t{brand}\t{model}\t신상품\t{shipping}\t{tags}\t{options}",
            title = details.title,
            price = product.price,
            normal = product.price / 10 * 11,
            levels = levels.join("\t"),
            brand = details.brand.as_deref().unwrap_or(""),
            model = details.model_number.as_deref().unwrap_or(""),
            tags = details.category.join("|"),
            options = product.options,
        );
    }
    if bad_rows {
        let _ = writeln!(
            text,
            "BAD-PRICE\t반품 특가 상품\t-1000\t\t{site}/p/bad\t{site}/img/bad.jpg\t가전\t\t\t\t\t\t\t0\t\t"
        );
        let _ = writeln!(
            text,
            "BAD-CATEGORY\t분류 없는 상품\t1000\t\t{site}/p/bad2\t{site}/img/bad2.jpg\t\t\t\t\t\t\t\t0\t\t"
        );
    }
    match encoding {
        FeedEncoding::Utf8 => text.into_bytes(),
        FeedEncoding::EucKr => encoding_rs::EUC_KR.encode(&text).0.into_owned(),
    }
}
