//! Money: an integer amount of the currency's smallest unit. Never floating point.

use std::collections::HashSet;
use std::fmt;

use apache_avro::schema::{EnumSchema, Name, NamespaceRef, RecordField};
use apache_avro::{AvroSchema, AvroSchemaComponent, Schema};
use serde::{Deserialize, Serialize};

/// A currency. KRW has no minor unit, so its amounts are whole won.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum Currency {
    /// South Korean won.
    #[default]
    KRW,
}

/// In Avro, the enum `eventmall.Currency` of ISO 4217 codes.
impl AvroSchemaComponent for Currency {
    fn get_schema_in_ctxt(named: &mut HashSet<Name>, _: NamespaceRef) -> Schema {
        let name = Name::new_with_enclosing_namespace("Currency", Some("eventmall"))
            .unwrap_or_else(|_| unreachable!("a valid Avro name"));
        if !named.insert(name.clone()) {
            return Schema::Ref { name };
        }
        Schema::Enum(
            EnumSchema::builder()
                .name(name)
                .doc(Some("ISO 4217 currency code.".to_owned()))
                .symbols(vec!["KRW".to_owned()])
                .default("KRW".to_owned())
                .build(),
        )
    }

    fn get_record_fields_in_ctxt(
        _: &mut HashSet<Name>,
        _: NamespaceRef,
    ) -> Option<Vec<RecordField>> {
        None
    }

    fn field_default() -> Option<serde_json::Value> {
        Some("KRW".into())
    }
}

/// An amount in the smallest unit of `currency`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, AvroSchema, utoipa::ToSchema,
)]
#[avro(namespace = "eventmall")]
pub struct Money {
    /// Amount in the smallest unit (won for KRW).
    pub amount: i64,
    /// Currency of the amount.
    #[serde(default)]
    pub currency: Currency,
}

impl Money {
    /// An amount of won.
    pub const fn krw(amount: i64) -> Self {
        Self {
            amount,
            currency: Currency::KRW,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self {
            amount: 0,
            currency,
        }
    }

    /// `self + other`, or `None` on a currency mismatch or an overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then_some(())?;
        Some(Money {
            amount: self.amount.checked_add(other.amount)?,
            currency: self.currency,
        })
    }

    /// `self - other`, or `None` on a currency mismatch or an overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then_some(())?;
        Some(Money {
            amount: self.amount.checked_sub(other.amount)?,
            currency: self.currency,
        })
    }

    /// `self × quantity`, or `None` on an overflow.
    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        Some(Money {
            amount: self.amount.checked_mul(i64::from(quantity))?,
            currency: self.currency,
        })
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(
            Money::krw(2).checked_add(Money::krw(3)),
            Some(Money::krw(5))
        );
        assert_eq!(Money::krw(i64::MAX).checked_add(Money::krw(1)), None);
        assert_eq!(Money::krw(5).checked_mul(3), Some(Money::krw(15)));
        assert_eq!(Money::krw(i64::MAX).checked_mul(2), None);
    }

    #[test]
    fn currency_defaults_to_krw_in_json() {
        let money: Money = serde_json::from_str(r#"{"amount": 1000}"#).unwrap();
        assert_eq!(money, Money::krw(1000));
    }
}
