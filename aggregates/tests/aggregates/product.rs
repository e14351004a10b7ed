use cqrs_es::test::TestFramework;
use eventmall_aggregates::{Product, ProductCommand, ProductError};
use eventmall_events::product::*;
use eventmall_events::{Money, PartnerId, ProductId};

use crate::support::{details, partner};

type Test = TestFramework<Product>;

fn registered() -> ProductEvent {
    ProductRegistered {
        product_id: ProductId::for_partner_sku(&partner(), "SKU-1"),
        partner_id: partner(),
        sku: "SKU-1".into(),
        details: details("삼성 비스포크 제트 무선청소기"),
        price: Money::krw(990_000),
        stock: 10,
    }
    .into()
}

fn register(title: &str, price: i64) -> ProductCommand {
    ProductCommand::Register {
        product_id: ProductId::for_partner_sku(&partner(), "SKU-1"),
        partner_id: partner(),
        sku: "SKU-1".into(),
        details: details(title),
        price: Money::krw(price),
        stock: 10,
    }
}

#[test]
fn register_emits_registered() {
    Test::with(())
        .given_no_previous_events()
        .when(register("삼성 비스포크 제트 무선청소기", 990_000))
        .then_expect_events(vec![registered()]);
}

#[test]
fn register_twice_is_refused() {
    Test::with(())
        .given(vec![registered()])
        .when(register("삼성 비스포크 제트 무선청소기", 990_000))
        .then_expect_error(ProductError::AlreadyRegistered);
}

#[test]
fn register_refuses_price_below_one() {
    for price in [0, -1] {
        Test::with(())
            .given_no_previous_events()
            .when(register("청소기", price))
            .then_expect_error(ProductError::InvalidPrice { amount: price });
    }
}

#[test]
fn register_refuses_empty_or_long_titles() {
    Test::with(())
        .given_no_previous_events()
        .when(register("   ", 1000))
        .then_expect_error(ProductError::InvalidTitle { length: 0 });
    let long = "가".repeat(101);
    Test::with(())
        .given_no_previous_events()
        .when(register(&long, 1000))
        .then_expect_error(ProductError::InvalidTitle { length: 101 });
    let longest = "가".repeat(100);
    assert!(
        Test::with(())
            .given_no_previous_events()
            .when(register(&longest, 1000))
            .inspect_result()
            .is_ok()
    );
}

#[test]
fn register_refuses_an_id_that_is_not_the_partner_sku_uuid() {
    let ProductCommand::Register {
        partner_id,
        sku,
        details,
        price,
        stock,
        ..
    } = register("청소기", 1000)
    else {
        unreachable!()
    };
    Test::with(())
        .given_no_previous_events()
        .when(ProductCommand::Register {
            product_id: ProductId::for_partner_sku(&partner_id, "other"),
            partner_id,
            sku,
            details,
            price,
            stock,
        })
        .then_expect_error(ProductError::IdMismatch);
}

#[test]
fn register_refuses_bad_sku_and_category() {
    let partner_id = partner();
    let sku = "x".repeat(51);
    Test::with(())
        .given_no_previous_events()
        .when(ProductCommand::Register {
            product_id: ProductId::for_partner_sku(&partner_id, &sku),
            partner_id: partner_id.clone(),
            sku,
            details: details("청소기"),
            price: Money::krw(1),
            stock: 0,
        })
        .then_expect_error(ProductError::InvalidSku { length: 51 });
    let mut flat = details("청소기");
    flat.category = vec![];
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::UpdateDetails {
            partner_id,
            details: flat,
        })
        .then_expect_error(ProductError::InvalidCategory);
}

#[test]
fn update_details_emits_only_on_change() {
    let new = details("삼성 비스포크 제트 AI 무선청소기");
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::UpdateDetails {
            partner_id: partner(),
            details: new.clone(),
        })
        .then_expect_events(vec![ProductDetailsUpdated { details: new }.into()]);
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::UpdateDetails {
            partner_id: partner(),
            details: details("삼성 비스포크 제트 무선청소기"),
        })
        .then_expect_events(vec![]);
}

#[test]
fn change_price_records_previous_and_skips_no_change() {
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::ChangePrice {
            partner_id: partner(),
            price: Money::krw(890_000),
        })
        .then_expect_events(vec![
            ProductPriceChanged {
                previous: Money::krw(990_000),
                price: Money::krw(890_000),
            }
            .into(),
        ]);
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::ChangePrice {
            partner_id: partner(),
            price: Money::krw(990_000),
        })
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::ChangePrice {
            partner_id: partner(),
            price: Money::krw(0),
        })
        .then_expect_error(ProductError::InvalidPrice { amount: 0 });
}

#[test]
fn change_stock_emits_only_on_change() {
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::ChangeStock {
            partner_id: partner(),
            stock: 3,
        })
        .then_expect_events(vec![
            ProductStockChanged {
                stock: 3,
                previous: Some(10),
            }
            .into(),
        ]);
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::ChangeStock {
            partner_id: partner(),
            stock: 10,
        })
        .then_expect_events(vec![]);
}

#[test]
fn delist_and_relist_toggle_once() {
    let delisted: ProductEvent = ProductDelisted {
        reason: Some("품절".into()),
    }
    .into();
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::Delist {
            partner_id: partner(),
            reason: Some("품절".into()),
        })
        .then_expect_events(vec![delisted.clone()]);
    Test::with(())
        .given(vec![registered(), delisted.clone()])
        .when(ProductCommand::Delist {
            partner_id: partner(),
            reason: None,
        })
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![registered(), delisted])
        .when(ProductCommand::Relist {
            partner_id: partner(),
            reason: None,
        })
        .then_expect_events(vec![ProductRelisted { reason: None }.into()]);
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::Relist {
            partner_id: partner(),
            reason: None,
        })
        .then_expect_events(vec![]);
}

#[test]
fn only_the_owner_changes_a_product() {
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::ChangeStock {
            partner_id: PartnerId::from("shop-2"),
            stock: 1,
        })
        .then_expect_error(ProductError::NotOwner { owner: partner() });
}

#[test]
fn commands_on_an_unregistered_product_are_not_found() {
    Test::with(())
        .given_no_previous_events()
        .when(ProductCommand::Relist {
            partner_id: partner(),
            reason: None,
        })
        .then_expect_error(ProductError::NotRegistered);
}

fn list(title: &str, price: i64, stock: Option<u32>) -> ProductCommand {
    ProductCommand::List {
        product_id: ProductId::for_partner_sku(&partner(), "SKU-1"),
        partner_id: partner(),
        sku: "SKU-1".into(),
        details: details(title),
        price: Money::krw(price),
        stock,
    }
}

#[test]
fn list_registers_a_new_product_with_the_listed_stock_when_none_is_stated() {
    let mut expected = registered();
    if let ProductEvent::ProductRegistered(registered) = &mut expected {
        registered.stock = eventmall_aggregates::LISTED_STOCK;
    }
    Test::with(())
        .given_no_previous_events()
        .when(list("삼성 비스포크 제트 무선청소기", 990_000, None))
        .then_expect_events(vec![expected]);
}

#[test]
fn list_of_a_known_product_changes_only_what_differs_and_relists() {
    Test::with(())
        .given(vec![registered()])
        .when(list("삼성 비스포크 제트 무선청소기", 990_000, None))
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![registered()])
        .when(list("삼성 비스포크 제트 무선청소기", 990_000, Some(10)))
        .then_expect_events(vec![]);
    Test::with(())
        .given(vec![
            registered(),
            ProductDelisted {
                reason: Some("품절".into()),
            }
            .into(),
        ])
        .when(list("삼성 제트 무선청소기 2024", 890_000, Some(3)))
        .then_expect_events(vec![
            ProductDetailsUpdated {
                details: details("삼성 제트 무선청소기 2024"),
            }
            .into(),
            ProductPriceChanged {
                previous: Money::krw(990_000),
                price: Money::krw(890_000),
            }
            .into(),
            ProductStockChanged {
                stock: 3,
                previous: Some(10),
            }
            .into(),
            ProductRelisted {
                reason: Some("listed again".into()),
            }
            .into(),
        ]);
}

#[test]
fn list_refuses_what_register_and_update_refuse() {
    Test::with(())
        .given(vec![registered()])
        .when(list("청소기", 0, None))
        .then_expect_error(ProductError::InvalidPrice { amount: 0 });
    Test::with(())
        .given(vec![registered()])
        .when(list("", 1, None))
        .then_expect_error(ProductError::InvalidTitle { length: 0 });
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::List {
            product_id: ProductId::for_partner_sku(&partner(), "SKU-1"),
            partner_id: PartnerId::from("shop-2"),
            sku: "SKU-1".into(),
            details: details("청소기"),
            price: Money::krw(1),
            stock: None,
        })
        .then_expect_error(ProductError::NotOwner { owner: partner() });
    Test::with(())
        .given(vec![registered()])
        .when(ProductCommand::List {
            product_id: ProductId::for_partner_sku(&partner(), "SKU-2"),
            partner_id: partner(),
            sku: "SKU-2".into(),
            details: details("청소기"),
            price: Money::krw(1),
            stock: None,
        })
        .then_expect_error(ProductError::IdMismatch);
}
