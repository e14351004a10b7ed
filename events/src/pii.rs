//! Personal data in events: sealed text. A field that holds personal data (a shipping address,
//! a delivery's receiver) holds it encrypted with its customer's data key, as
//! `pii:v1:<key id>:<base64url of nonce and ciphertext>`. The event store, Kafka and the read
//! models only ever see that; the key lives beside the events, and destroying it (forgetting
//! the customer) leaves every copy unreadable. Sealing and opening are the event store's
//! (`eventmall-store`'s vault); this is the format.

/// What every sealed text starts with.
pub const SEALED_PREFIX: &str = "pii:v1:";

/// What a reader shows in place of sealed text whose key was destroyed.
pub const REDACTED: &str = "[redacted]";

/// The key id and payload of sealed text; `None` for text that is not sealed (plain text
/// recorded before sealing existed).
pub fn parse_sealed(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix(SEALED_PREFIX)?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_names_its_key() {
        assert_eq!(parse_sealed("pii:v1:k1:abc"), Some(("k1", "abc")));
        assert_eq!(parse_sealed("본인"), None);
        assert_eq!(parse_sealed("pii:v1:nokey"), None);
    }
}
