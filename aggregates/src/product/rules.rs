//! The rules a product's fields follow, whatever door it comes in through: the HTTP API, a
//! partner's feed (EP TSV, CSV, JSON Lines) or an ingest topic. They are Naver Shopping EP 3.0's
//! rules, which partners' systems already follow. Each door phrases a violation in its own
//! words (a feed names its EP column), but the verdict is this module's.

use eventmall_events::Money;
use eventmall_events::product::ProductDetails;

use super::error::ProductError;

/// The longest SKU (a partner's product id), in characters.
pub const MAX_SKU_CHARS: usize = 50;
/// The longest title, in characters after trimming.
pub const MAX_TITLE_CHARS: usize = 100;
/// Category levels at most, from the top.
pub const MAX_CATEGORY_LEVELS: usize = 4;
/// The longest brand or maker, in characters.
pub const MAX_BRAND_CHARS: usize = 60;
/// The longest model number, in characters.
pub const MAX_MODEL_NUMBER_CHARS: usize = 60;
/// The longest category level name, in characters.
pub const MAX_CATEGORY_LEVEL_CHARS: usize = 50;
/// The highest price, in the currency's smallest unit (₩10,000,000,000): with an order's
/// lines and quantities bounded too, an order's total stays far inside an i64.
pub const MAX_PRICE: i64 = 10_000_000_000;
/// What a SKU may hold besides ASCII letters and digits.
pub const SKU_PUNCTUATION: &str = "-_.";

/// A SKU: 1 to [`MAX_SKU_CHARS`] of `A-Z a-z 0-9 - _ .`.
pub fn check_sku(sku: &str) -> Result<(), ProductError> {
    let length = sku.chars().count();
    if length == 0 || length > MAX_SKU_CHARS {
        return Err(ProductError::InvalidSku { length });
    }
    if !sku
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SKU_PUNCTUATION.contains(c))
    {
        return Err(ProductError::SkuCharacters {
            sku: sku.to_owned(),
        });
    }
    Ok(())
}

/// A title: 1 to [`MAX_TITLE_CHARS`] characters, counted after trimming.
pub fn check_title(title: &str) -> Result<(), ProductError> {
    let length = title.trim().chars().count();
    if length == 0 || length > MAX_TITLE_CHARS {
        return Err(ProductError::InvalidTitle { length });
    }
    Ok(())
}

/// A category path from the top: 1 to [`MAX_CATEGORY_LEVELS`] levels, none blank, each at most
/// [`MAX_CATEGORY_LEVEL_CHARS`].
pub fn check_category(levels: &[String]) -> Result<(), ProductError> {
    if levels.is_empty()
        || levels.len() > MAX_CATEGORY_LEVELS
        || levels.iter().any(|level| level.trim().is_empty())
    {
        return Err(ProductError::InvalidCategory);
    }
    for level in levels {
        check_length("category level", level, MAX_CATEGORY_LEVEL_CHARS)?;
    }
    Ok(())
}

/// A brand or maker: at most [`MAX_BRAND_CHARS`].
pub fn check_brand(brand: &str) -> Result<(), ProductError> {
    check_length("brand", brand, MAX_BRAND_CHARS)
}

/// A model number: at most [`MAX_MODEL_NUMBER_CHARS`].
pub fn check_model_number(model_number: &str) -> Result<(), ProductError> {
    check_length("model number", model_number, MAX_MODEL_NUMBER_CHARS)
}

fn check_length(field: &'static str, value: &str, max: usize) -> Result<(), ProductError> {
    let length = value.chars().count();
    if length > max {
        return Err(ProductError::TooLong { field, length, max });
    }
    Ok(())
}

/// A price: 1 to [`MAX_PRICE`] of its currency's smallest unit.
pub fn check_price(price: Money) -> Result<(), ProductError> {
    if !(1..=MAX_PRICE).contains(&price.amount) {
        return Err(ProductError::InvalidPrice {
            amount: price.amount,
        });
    }
    Ok(())
}

/// A violation of these rules phrased for a field of a door's own format, named `field` (a
/// feed's `id` or `title` column): "id has 51 characters, at most 50".
pub fn phrase(error: &ProductError, field: &str) -> String {
    match error {
        ProductError::InvalidSku { length: 0 } | ProductError::InvalidTitle { length: 0 } => {
            format!("{field} is required")
        }
        ProductError::InvalidSku { length } => {
            format!("{field} has {length} characters, at most {MAX_SKU_CHARS}")
        }
        ProductError::InvalidTitle { length } => {
            format!("{field} has {length} characters, at most {MAX_TITLE_CHARS}")
        }
        ProductError::SkuCharacters { sku } => {
            format!("{field} {sku:?} may hold only A-Z, a-z, 0-9, -, _ and .")
        }
        ProductError::InvalidPrice { amount } => {
            format!("{field} must be 1 to {MAX_PRICE}, got {amount}")
        }
        ProductError::TooLong { length, max, .. } => {
            format!("{field} has {length} characters, at most {max}")
        }
        ProductError::InvalidCategory => {
            format!("{field} must have 1 to {MAX_CATEGORY_LEVELS} non-empty levels")
        }
        other => format!("{field}: {other}"),
    }
}

/// A product's details: its title, brand, category and model number.
pub fn check_details(details: &ProductDetails) -> Result<(), ProductError> {
    check_title(&details.title)?;
    if let Some(brand) = &details.brand {
        check_brand(brand)?;
    }
    if let Some(model_number) = &details.model_number {
        check_model_number(model_number)?;
    }
    check_category(&details.category)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_follow_the_ep_id_rule() {
        for good in ["A", "a-1_b.C", &"x".repeat(MAX_SKU_CHARS)] {
            assert_eq!(check_sku(good), Ok(()), "{good}");
        }
        assert_eq!(check_sku(""), Err(ProductError::InvalidSku { length: 0 }));
        assert_eq!(
            check_sku(&"x".repeat(51)),
            Err(ProductError::InvalidSku { length: 51 })
        );
        for bad in ["A/5", "a b", "가나", "tab\there"] {
            assert_eq!(
                check_sku(bad),
                Err(ProductError::SkuCharacters { sku: bad.into() }),
                "{bad}"
            );
        }
    }

    #[test]
    fn titles_are_counted_after_trimming() {
        assert_eq!(check_title(&format!("  {}  ", "가".repeat(100))), Ok(()));
        assert_eq!(
            check_title(&"가".repeat(101)),
            Err(ProductError::InvalidTitle { length: 101 })
        );
        assert_eq!(
            check_title(" \t "),
            Err(ProductError::InvalidTitle { length: 0 })
        );
    }

    #[test]
    fn categories_have_one_to_four_levels_none_blank() {
        let levels = |n: usize| vec!["가전".to_owned(); n];
        assert_eq!(check_category(&levels(1)), Ok(()));
        assert_eq!(check_category(&levels(4)), Ok(()));
        for bad in [levels(0), levels(5), vec!["가전".into(), " ".into()]] {
            assert_eq!(check_category(&bad), Err(ProductError::InvalidCategory));
        }
    }

    #[test]
    fn prices_are_one_to_the_maximum() {
        assert_eq!(check_price(Money::krw(1)), Ok(()));
        assert_eq!(check_price(Money::krw(MAX_PRICE)), Ok(()));
        for bad in [0, MAX_PRICE + 1, 1 << 62] {
            assert_eq!(
                check_price(Money::krw(bad)),
                Err(ProductError::InvalidPrice { amount: bad })
            );
        }
    }

    #[test]
    fn brands_model_numbers_and_category_levels_are_bounded() {
        let details = |brand: usize, model: usize, level: usize| ProductDetails {
            title: "청소기".into(),
            brand: Some("삼".repeat(brand)),
            category: vec!["가".repeat(level)],
            model_number: Some("A".repeat(model)),
        };
        assert_eq!(check_details(&details(60, 60, 50)), Ok(()));
        assert_eq!(
            check_details(&details(8_000, 1, 1)),
            Err(ProductError::TooLong {
                field: "brand",
                length: 8_000,
                max: MAX_BRAND_CHARS
            })
        );
        assert!(check_details(&details(1, 61, 1)).is_err());
        assert!(check_details(&details(1, 1, 51)).is_err());
    }
}
