//! The EP 3.0 rules of a row: the product rules every door shares (SKU, title, price,
//! category, from `eventmall_aggregates`), phrased with the EP column names, and the rules of
//! EP's own fields (links, condition, shipping, options, a summary feed's class and time).

use chrono::NaiveDateTime;
use eventmall_aggregates::product::rules::{
    MAX_CATEGORY_LEVELS, check_brand, check_category, check_model_number, check_price, check_sku,
    check_title, phrase,
};
use eventmall_events::Money;

use super::{FeedKind, RawRow};

/// A summary feed line's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Insert,
    Update,
    Delete,
}

/// How an EP row ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shipping {
    Free,
    /// Paid on delivery (`-1`).
    OnDelivery,
    /// A fee in won.
    Fee(i64),
}

/// One option group of `option_detail`: `name^value|value|…`, groups separated by `;`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionGroup {
    pub name: String,
    pub values: Vec<String>,
}

/// A valid EP row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpProduct {
    /// The shop's product id: the SKU.
    pub id: String,
    pub title: String,
    pub price: i64,
    pub price_mobile: Option<i64>,
    pub normal_price: Option<i64>,
    pub link: String,
    pub image_link: String,
    /// `category_name1` to `category_name4`, without gaps.
    pub category: Vec<String>,
    pub brand: Option<String>,
    pub maker: Option<String>,
    pub model_number: Option<String>,
    pub condition: Option<String>,
    pub shipping: Shipping,
    pub search_tags: Vec<String>,
    pub options: Vec<OptionGroup>,
    /// Summary feeds only.
    pub class: Option<Class>,
    pub update_time: Option<NaiveDateTime>,
}

const CONDITIONS: [&str; 6] = ["신상품", "중고", "리퍼", "전시", "반품", "스크래치"];

/// Checks a row against the EP rules. A `D` line of a summary feed needs only its id.
pub fn validate(row: &RawRow, kind: FeedKind) -> Result<EpProduct, String> {
    let mut errors = Vec::new();
    let id = row.get("id").unwrap_or_default();
    if let Err(error) = check_sku(id) {
        errors.push(phrase(&error, "id"));
    }
    let (class, update_time) = match kind {
        FeedKind::Full => (None, None),
        FeedKind::Summary => {
            let class = match row.get("class") {
                Some("I") => Some(Class::Insert),
                Some("U") => Some(Class::Update),
                Some("D") => Some(Class::Delete),
                other => {
                    errors.push(format!(
                        "class must be I, U or D, got {:?}",
                        other.unwrap_or("")
                    ));
                    None
                }
            };
            let time = row
                .get("update_time")
                .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok());
            if time.is_none() {
                errors.push("update_time must be YYYY-MM-DD HH:MM:SS".to_owned());
            }
            (class, time)
        }
    };
    if class == Some(Class::Delete) {
        return match errors.is_empty() {
            true => Ok(EpProduct::deleted(id, update_time)),
            false => Err(errors.join("; ")),
        };
    }
    let title = row.get("title").unwrap_or_default();
    if let Err(error) = check_title(title) {
        errors.push(phrase(&error, "title"));
    }
    let price = required_price(row, "price_pc", &mut errors);
    let price_mobile = optional_price(row, "price_mobile", &mut errors);
    let normal_price = optional_price(row, "normal_price", &mut errors);
    let link = url(row, "link", &mut errors);
    let image_link = url(row, "image_link", &mut errors);
    let category = category(row, &mut errors);
    for (column, check) in [
        ("brand", check_brand as fn(&str) -> _),
        ("maker", check_brand),
        ("model_number", check_model_number),
    ] {
        if let Some(Err(error)) = row.get(column).map(check) {
            errors.push(phrase(&error, column));
        }
    }
    let condition = row.get("condition").map(str::to_owned);
    if let Some(condition) = &condition
        && !CONDITIONS.contains(&condition.as_str())
    {
        errors.push(format!(
            "condition must be one of {}, got {condition}",
            CONDITIONS.join(", ")
        ));
    }
    let shipping = match row.get("shipping").map(str::parse::<i64>) {
        None => {
            errors
                .push("shipping is required: 0 (free), -1 (paid on delivery) or a fee".to_owned());
            Shipping::Free
        }
        Some(Ok(0)) => Shipping::Free,
        Some(Ok(-1)) => Shipping::OnDelivery,
        Some(Ok(fee)) if fee > 0 => Shipping::Fee(fee),
        Some(_) => {
            errors.push(format!(
                "shipping must be 0, -1 or a fee in won, got {}",
                row.get("shipping").unwrap_or_default()
            ));
            Shipping::Free
        }
    };
    let options = match row.get("option_detail").map(options) {
        None => Vec::new(),
        Some(Ok(options)) => options,
        Some(Err(error)) => {
            errors.push(error);
            Vec::new()
        }
    };
    let search_tags = row
        .get("search_tag")
        .map(|tags| {
            tags.split('|')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(EpProduct {
        id: id.to_owned(),
        title: title.to_owned(),
        price,
        price_mobile,
        normal_price,
        link,
        image_link,
        category,
        brand: row.get("brand").map(str::to_owned),
        maker: row.get("maker").map(str::to_owned),
        model_number: row.get("model_number").map(str::to_owned),
        condition,
        shipping,
        search_tags,
        options,
        class,
        update_time,
    })
}

impl EpProduct {
    fn deleted(id: &str, update_time: Option<NaiveDateTime>) -> Self {
        Self {
            id: id.to_owned(),
            title: String::new(),
            price: 0,
            price_mobile: None,
            normal_price: None,
            link: String::new(),
            image_link: String::new(),
            category: Vec::new(),
            brand: None,
            maker: None,
            model_number: None,
            condition: None,
            shipping: Shipping::Free,
            search_tags: Vec::new(),
            options: Vec::new(),
            class: Some(Class::Delete),
            update_time,
        }
    }
}

/// A price in won: digits only (no sign, decimals or thousands separators), and then the
/// product rule's at least 1.
fn price(value: &str) -> Option<i64> {
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse::<i64>().ok())
        .flatten()
        .filter(|won| check_price(Money::krw(*won)).is_ok())
}

fn required_price(row: &RawRow, column: &str, errors: &mut Vec<String>) -> i64 {
    match row.get(column) {
        None => {
            errors.push(format!("{column} is required"));
            0
        }
        Some(value) => price(value).unwrap_or_else(|| {
            errors.push(format!(
                "{column} must be a whole number of won, at least 1, got {value}"
            ));
            0
        }),
    }
}

fn optional_price(row: &RawRow, column: &str, errors: &mut Vec<String>) -> Option<i64> {
    let value = row.get(column)?;
    let parsed = price(value);
    if parsed.is_none() {
        errors.push(format!(
            "{column} must be a whole number of won, at least 1, got {value}"
        ));
    }
    parsed
}

fn url(row: &RawRow, column: &str, errors: &mut Vec<String>) -> String {
    match row.get(column) {
        Some(value)
            if (value.starts_with("http://") || value.starts_with("https://"))
                && value.len() > "https://".len()
                && !value.contains(char::is_whitespace)
                && value.len() <= 1000 =>
        {
            value.to_owned()
        }
        Some(value) => {
            errors.push(format!("{column} must be an http(s) URL, got {value}"));
            String::new()
        }
        None => {
            errors.push(format!("{column} is required"));
            String::new()
        }
    }
}

/// `category_name1` to `category_name4`: the levels from the top, without gaps.
fn category(row: &RawRow, errors: &mut Vec<String>) -> Vec<String> {
    let levels: Vec<Option<&str>> = (1..=MAX_CATEGORY_LEVELS)
        .map(|level| row.get(&format!("category_name{level}")))
        .collect();
    let present = levels.iter().take_while(|level| level.is_some()).count();
    let category: Vec<String> = levels.iter().flatten().map(|l| (*l).to_owned()).collect();
    if present == 0 {
        errors.push("category_name1 is required".to_owned());
    } else if levels[present..].iter().any(Option::is_some) {
        errors.push(format!(
            "category_name{} is empty but a lower level is not",
            present + 1
        ));
    } else if let Err(error) = check_category(&category) {
        errors.push(phrase(&error, "category"));
    }
    category
}

/// `option_detail`: groups `name^value|value|…` separated by `;`.
fn options(detail: &str) -> Result<Vec<OptionGroup>, String> {
    detail
        .split(';')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(|group| {
            let (name, values) = group
                .split_once('^')
                .ok_or_else(|| format!("option_detail group {group:?} is not name^value|value"))?;
            let values: Vec<String> = values
                .split('|')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            if name.trim().is_empty() || values.is_empty() {
                return Err(format!(
                    "option_detail group {group:?} needs a name and a value"
                ));
            }
            Ok(OptionGroup {
                name: name.trim().to_owned(),
                values,
            })
        })
        .collect()
}
