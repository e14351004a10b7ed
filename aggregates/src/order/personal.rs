//! The personal data an order carries (its shipping address, a delivery's receiver): checked,
//! then sealed with the customer's data key through the vault port before any event holds it.

use eventmall_events::CustomerId;
use eventmall_events::order::ShippingAddress;

use super::catalog::OrderServices;
use super::error::OrderError;

/// Personal data as sealed text, with the customer's data key.
pub(super) async fn seal(
    services: &OrderServices,
    customer: &CustomerId,
    plaintext: &str,
) -> Result<String, OrderError> {
    services
        .pii
        .seal(customer, plaintext)
        .await
        .map_err(|e| OrderError::Vault(e.to_string()))
}

/// The longest receiver a carrier reports.
const MAX_RECEIVER_CHARS: usize = 100;

pub(super) fn check_receiver(receiver: &str) -> Result<(), OrderError> {
    match receiver.chars().count() <= MAX_RECEIVER_CHARS && !receiver.chars().any(char::is_control)
    {
        true => Ok(()),
        false => Err(OrderError::InvalidReceiver {
            max: MAX_RECEIVER_CHARS,
        }),
    }
}

/// A shipping address as its schema describes it: every field present and within bounds.
pub(super) fn check_address(address: &ShippingAddress) -> Result<(), OrderError> {
    let text = |field: &str, value: &str, max: usize| {
        let chars = value.chars().count();
        match (1..=max).contains(&chars)
            && !value.trim().is_empty()
            && !value.chars().any(char::is_control)
        {
            true => Ok(()),
            false => Err(OrderError::InvalidShipping(format!(
                "{field} has 1 to {max} characters, not blank, no control characters"
            ))),
        }
    };
    text("recipient", &address.recipient, 100)?;
    text("address", &address.address, 300)?;
    let phone = address.phone.strip_prefix('+').unwrap_or(&address.phone);
    let phone_ok = (7..=20).contains(&address.phone.len())
        && phone.starts_with(|c: char| c.is_ascii_digit())
        && phone.ends_with(|c: char| c.is_ascii_digit())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || c == ' ' || c == '-');
    if !phone_ok {
        return Err(OrderError::InvalidShipping(
            "phone has 7 to 20 of digits, spaces and -, with a leading + at most".into(),
        ));
    }
    let postal = &address.postal_code;
    if !(3..=10).contains(&postal.len())
        || !postal
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(OrderError::InvalidShipping(
            "postal_code has 3 to 10 of digits, letters and -".into(),
        ));
    }
    Ok(())
}
