//! Reading client input as leniently as the original did where that costs nothing, and as
//! strictly as people, mail headers and logs need: whole numbers written as `1.0`, ids and
//! names free of control characters, long values shortened before they are echoed.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Why `text` is not acceptable as a value shown to people and put in emails and headers:
/// control characters (NUL, escape sequences, newlines in a one-line value) break mail
/// headers, logs and terminals. `multiline` values (descriptions) may hold line breaks and
/// tabs. `None` when fine.
pub fn control_characters(text: &str, multiline: bool) -> Option<&'static str> {
    let bad = text.chars().any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    match (bad, multiline) {
        (false, _) => None,
        (true, false) => Some("must not contain control characters such as line breaks or NUL"),
        (true, true) => Some("must not contain control characters other than line breaks and tabs"),
    }
}

/// Most characters of a client's value repeated in an error message.
const ECHO_MAX: usize = 64;

/// `value`, cut to 64 characters (with an ellipsis) for repeating it in a message: a 5,000
/// character id need not come back 5,000 characters long.
pub fn shorten(value: &str) -> std::borrow::Cow<'_, str> {
    match value.char_indices().nth(ECHO_MAX) {
        None => value.into(),
        Some((cut, _)) => format!("{}…", &value[..cut]).into(),
    }
}

struct WholeNumber;

impl Visitor<'_> for WholeNumber {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("is too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // `1.0` is the whole number 1 (the original accepted it); `1.5` is not.
        if v.fract() == 0.0 && v.abs() < 9.0e15 { Ok(v as i64) } else { Err(E::custom("must be a whole number")) }
    }
}

/// `deserialize_with` for an optional whole number that may be written `1.0`.
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(WholeNumber).map(Some)
        }
    }
    deserializer.deserialize_option(Optional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "whole_number")]
        quantity: Option<i64>,
    }

    fn quantity(json: &str) -> Result<Option<i64>, String> {
        serde_json::from_str::<Body>(json).map(|b| b.quantity).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        assert_eq!(quantity(r#"{"quantity": 3}"#), Ok(Some(3)));
        assert_eq!(quantity(r#"{"quantity": 1.0}"#), Ok(Some(1)));
        assert_eq!(quantity(r#"{}"#), Ok(None));
        assert_eq!(quantity(r#"{"quantity": null}"#), Ok(None));
        assert!(quantity(r#"{"quantity": 1.5}"#).is_err());
        assert!(quantity(r#"{"quantity": "2"}"#).is_err());
    }

    #[test]
    fn long_values_are_shortened() {
        assert_eq!(shorten("prod-001"), "prod-001");
        let long = "x".repeat(5_000);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), 65);
        assert!(short.ends_with('…'));
        assert_eq!(shorten(&"é".repeat(100)).chars().count(), 65, "cut on a character boundary");
    }

    #[test]
    fn control_characters_are_named() {
        assert!(control_characters("A\nB", false).is_some());
        assert!(control_characters("A\u{0}", true).is_some());
        assert!(control_characters("line\nline\ttab", true).is_none());
        assert!(control_characters("Zoë & Co", false).is_none());
    }
}
