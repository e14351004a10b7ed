use eventmall_events::product::ProductDetails;
use eventmall_events::{Money, PartnerId, ProductId};
use serde::{Deserialize, Serialize};

/// Units in stock of a product listed without a stock level: feeds list what is for sale and
/// carry no stock.
pub const LISTED_STOCK: u32 = 1;

/// What a partner (or its feed) asks of a product. Every command names the partner acting, so
/// the aggregate can refuse a partner that does not own the product.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProductCommand {
    Register {
        product_id: ProductId,
        partner_id: PartnerId,
        sku: String,
        details: ProductDetails,
        price: Money,
        stock: u32,
    },
    /// The product as the partner's feed or systems state it now, whole: registers it when
    /// new; otherwise updates what differs and lists it again. Nothing when all is the same.
    List {
        product_id: ProductId,
        partner_id: PartnerId,
        sku: String,
        details: ProductDetails,
        price: Money,
        /// `None` keeps the current stock; a new product then has [`LISTED_STOCK`].
        stock: Option<u32>,
    },
    UpdateDetails {
        partner_id: PartnerId,
        details: ProductDetails,
    },
    ChangePrice {
        partner_id: PartnerId,
        price: Money,
    },
    ChangeStock {
        partner_id: PartnerId,
        stock: u32,
    },
    Delist {
        partner_id: PartnerId,
        reason: Option<String>,
    },
    Relist {
        partner_id: PartnerId,
        reason: Option<String>,
    },
}

impl ProductCommand {
    /// The command's name, as metrics label it: one of a fixed set.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Register { .. } => "Register",
            Self::List { .. } => "List",
            Self::UpdateDetails { .. } => "UpdateDetails",
            Self::ChangePrice { .. } => "ChangePrice",
            Self::ChangeStock { .. } => "ChangeStock",
            Self::Delist { .. } => "Delist",
            Self::Relist { .. } => "Relist",
        }
    }
}
