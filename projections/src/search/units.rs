//! Quantities written any way shops and shoppers write them, reduced to one spelling:
//! `1.5L`, `1.5리터` and `1500ml` are all `1500ml`; `3kg` and `3킬로` are `3000g`; `65인치` and
//! `65"` are `65in`; `1TB` is `1000gb`. The analyzer adds the reduced form beside the words, at
//! index and at query time, so either spelling finds the other.

/// Unit spellings, lowercased, with the base unit and how many of it one is. Longer spellings
/// of one prefix come first, as the longest is taken.
const UNITS: &[(&str, &str, f64)] = &[
    ("밀리리터", "ml", 1.0),
    ("리터", "ml", 1000.0),
    ("미리", "ml", 1.0),
    ("밀리", "ml", 1.0),
    ("ml", "ml", 1.0),
    ("l", "ml", 1000.0),
    ("ℓ", "ml", 1000.0),
    ("킬로그램", "g", 1000.0),
    ("킬로", "g", 1000.0),
    ("키로", "g", 1000.0),
    ("kg", "g", 1000.0),
    ("그램", "g", 1.0),
    ("g", "g", 1.0),
    ("인치", "in", 1.0),
    ("inch", "in", 1.0),
    ("in", "in", 1.0),
    ("\"", "in", 1.0),
    ("”", "in", 1.0),
    ("형", "in", 1.0),
    ("기가", "gb", 1.0),
    ("gb", "gb", 1.0),
    ("테라", "gb", 1000.0),
    ("tb", "gb", 1000.0),
];

/// The most digits a quantity's number may have: more is a model or an id, not an amount.
const MAX_DIGITS: usize = 7;

/// The number at the start of `text` (`1.5`, `500`) and the byte length it takes.
fn number(text: &str) -> Option<(f64, usize)> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let whole = digits(text);
    if whole == 0 || whole > MAX_DIGITS {
        return None;
    }
    let mut end = whole;
    if text[whole..].starts_with('.') {
        let fraction = digits(&text[whole + 1..]);
        if fraction > 0 && fraction <= 3 {
            end = whole + 1 + fraction;
        }
    }
    text[..end].parse().ok().map(|value| (value, end))
}

/// The unit spelled at the start of `text` (longest first), and the byte length it takes. A
/// Latin unit must end there: `5l` is litres, `5lb` is not.
fn unit(text: &str) -> Option<(&'static str, f64, usize)> {
    UNITS.iter().find_map(|(spelling, base, factor)| {
        // The text's own prefix of the spelling's length, so the length is the text's too
        // (a character that lowercases to another length, `K` for `k`, does not match).
        let prefix = text.get(..spelling.len())?;
        if prefix.to_lowercase() != *spelling {
            return None;
        }
        let latin = spelling.chars().all(|c| c.is_ascii_alphabetic());
        if latin
            && text[spelling.len()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        {
            return None;
        }
        Some((*base, *factor, spelling.len()))
    })
}

/// The reduced form of a number and a unit.
fn reduced(value: f64, base: &str, factor: f64) -> String {
    let amount = value * factor;
    if (amount - amount.round()).abs() < 1e-6 {
        format!("{}{base}", amount.round() as i64)
    } else {
        format!("{}{base}", (amount * 1000.0).round() / 1000.0)
    }
}

/// A quantity at the start of `text`, a number then its unit with at most one space between:
/// its reduced form and the byte length it takes.
pub fn quantity_at(text: &str) -> Option<(String, usize)> {
    let (value, digits) = number(text)?;
    let rest = &text[digits..];
    let gap = usize::from(rest.starts_with(' '));
    let (base, factor, length) = unit(&rest[gap..])?;
    Some((reduced(value, base, factor), digits + gap + length))
}

/// A query word that is a quantity and nothing more (`1.5L`, `2리터`, `65"`), reduced.
pub fn quantity(word: &str) -> Option<String> {
    quantity_at(word).and_then(|(reduced, length)| (length == word.len()).then_some(reduced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_quantity_reduces_to_one() {
        for (written, wanted) in [
            ("1.5L", "1500ml"),
            ("1.5리터", "1500ml"),
            ("1500ml", "1500ml"),
            ("1500 ml", "1500ml"),
            ("500미리", "500ml"),
            ("3kg", "3000g"),
            ("3킬로", "3000g"),
            ("3 KG", "3000g"),
            ("65인치", "65in"),
            ("65\"", "65in"),
            ("65형", "65in"),
            ("256GB", "256gb"),
            ("1TB", "1000gb"),
            ("2.5kg", "2500g"),
        ] {
            assert_eq!(quantity(written).as_deref(), Some(wanted), "{written}");
        }
    }

    #[test]
    fn numbers_without_a_unit_and_model_numbers_are_not_quantities() {
        for word in ["65", "5lb", "12345678ml", "VS20A956A", "l", "2in1"] {
            assert_eq!(quantity(word), None, "{word}");
        }
        assert_eq!(quantity_at("2in1").map(|q| q.0), None);
        // The Kelvin sign lowercases to a one-byte `k`: not a unit, and no offset inside it.
        assert_eq!(quantity("3\u{212A}g"), None);
        assert_eq!(quantity_at("3\u{212A}g 세제"), None);
    }
}
