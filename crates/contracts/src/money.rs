//! Money as integer cents. JSON keeps the original's shape (`999.99`), but arithmetic never
//! touches binary floating point, and a client's amount is read from the digits it wrote
//! ([`AmountText`]): `999.999` is refused, not rounded to `1000.00`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// An amount in cents. Non-negative amounts only are produced by parsing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// Why a number is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not finite, or beyond the range we store.
    OutOfRange,
    /// More than two decimal places.
    TooPrecise,
    /// Below zero.
    Negative,
    /// Not a number at all (a string, say).
    NotANumber,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::OutOfRange => "must be a finite amount below 10,000,000,000",
            MoneyError::TooPrecise => "must have at most two decimal places",
            MoneyError::Negative => "must not be negative",
            MoneyError::NotANumber => "must be a number such as 19.99",
        })
    }
}

/// Largest amount accepted from input: 10^10 currency units, far above any order, far below
/// where `f64` stops representing cents exactly.
const MAX_CENTS: i64 = 1_000_000_000_000;

impl Money {
    /// Wraps a number of cents.
    pub const fn from_cents(cents: i64) -> Self {
        Money(cents)
    }

    /// The amount in cents.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Parses a decimal number as written (`999.99`, `1e3`, `19.90`), exactly: more than two
    /// decimals that are not zeros is [`MoneyError::TooPrecise`], never a rounding.
    pub fn from_decimal_text(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => {
                let exponent: i64 = unsigned[at + 1..].parse().map_err(|_| MoneyError::NotANumber)?;
                (&unsigned[..at], exponent)
            }
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
            return Err(MoneyError::NotANumber);
        }
        // value = digits × 10^(exponent − fraction length); cents = value × 100.
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        let significant = digits.trim_end_matches('0');
        let trailing_zeros = (digits.len() - significant.len()) as i64;
        let shift = exponent - fraction.len() as i64 + 2 + trailing_zeros;
        if significant.is_empty() {
            return Ok(Money(0));
        }
        if negative {
            return Err(MoneyError::Negative);
        }
        if shift < 0 {
            return Err(MoneyError::TooPrecise);
        }
        if significant.len() as i64 + shift > 13 {
            return Err(MoneyError::OutOfRange);
        }
        let cents: i64 = significant.parse::<i64>().map_err(|_| MoneyError::OutOfRange)?
            * 10i64.checked_pow(shift as u32).ok_or(MoneyError::OutOfRange)?;
        if cents > MAX_CENTS {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Money(cents))
    }

    /// Parses an amount that arrived as a float (our own JSON, a computed value), exactly:
    /// the float's shortest round-trip text must have at most two decimals.
    pub fn from_decimal(value: f64) -> Result<Self, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::OutOfRange);
        }
        Money::from_decimal_text(&value.to_string())
    }

    /// The amount as the JSON number clients expect (`999.99`).
    pub fn as_decimal(self) -> f64 {
        self.0 as f64 / 100.0
    }

    /// `self × quantity`, `None` on overflow.
    pub fn times(self, quantity: i64) -> Option<Money> {
        self.0.checked_mul(quantity).map(Money)
    }

    /// `self + other`, `None` on overflow.
    pub fn plus(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_decimal())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = f64::deserialize(deserializer)?;
        Money::from_decimal(value).map_err(serde::de::Error::custom)
    }
}

/// A JSON number of currency units with at most two decimals, never negative.
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .minimum(Some(0))
            .multiple_of(Some(0.01))
            .description(Some("An amount in currency units, at most two decimals."))
            .examples([serde_json::json!(999.99)])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

/// An amount as a client wrote it in JSON: the number's own text, kept until
/// [`AmountText::parse`] reads it exactly. A float would already have rounded `999.999`.
#[derive(Debug, Clone)]
pub struct AmountText(Box<serde_json::value::RawValue>);

impl AmountText {
    /// The amount, exactly, or why it is not one.
    pub fn parse(&self) -> Result<Money, MoneyError> {
        Money::from_decimal_text(self.0.get())
    }
}

/// What [`AmountText::parse`] accepts and the services require of a price: above 0, at most
/// two decimals, at most 10,000,000,000.
impl utoipa::PartialSchema for AmountText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .exclusive_minimum(Some(0))
            .maximum(Some(MAX_CENTS / 100))
            .multiple_of(Some(0.01))
            .description(Some("An amount in currency units, above 0, at most two decimals (`999.99`); more decimals are refused, never rounded."))
            .examples([serde_json::json!(999.99)])
            .into()
    }
}

impl utoipa::ToSchema for AmountText {
    fn name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }
}

impl<'de> Deserialize<'de> for AmountText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<serde_json::value::RawValue>::deserialize(deserializer).map(AmountText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_decimal_amounts_exactly() {
        assert_eq!(Money::from_decimal(999.99), Ok(Money::from_cents(99_999)));
        assert_eq!(Money::from_decimal(19.9), Ok(Money::from_cents(1990)));
        // A computed float is not two decimals: refused, not rounded.
        assert_eq!(Money::from_decimal(0.1 + 0.2), Err(MoneyError::TooPrecise));
    }

    #[test]
    fn reads_the_digits_as_written() {
        let parse = Money::from_decimal_text;
        assert_eq!(parse("999.99"), Ok(Money::from_cents(99_999)));
        assert_eq!(parse("19.90"), Ok(Money::from_cents(1_990)));
        assert_eq!(parse("19.900000"), Ok(Money::from_cents(1_990)), "trailing zeros are no precision");
        assert_eq!(parse("1e3"), Ok(Money::from_cents(100_000)));
        assert_eq!(parse("12.5E-1"), Ok(Money::from_cents(125)));
        assert_eq!(parse("0"), Ok(Money::from_cents(0)));
        assert_eq!(parse("-0.0"), Ok(Money::from_cents(0)));
        assert_eq!(parse("10000000000"), Ok(Money::from_cents(1_000_000_000_000)));
        for too_precise in ["999.999", "1234567.899", "100.0000001", "19.999", "100.00000000000000001", "1e-3"] {
            assert_eq!(parse(too_precise), Err(MoneyError::TooPrecise), "{too_precise}");
        }
        assert_eq!(parse("-1"), Err(MoneyError::Negative));
        assert_eq!(parse("10000000000.01"), Err(MoneyError::OutOfRange));
        assert_eq!(parse("1e400"), Err(MoneyError::OutOfRange));
        for not_a_number in ["\"12\"", "abc", "", ".", "1.2.3", "1e", "0x10", "NaN"] {
            assert_eq!(parse(not_a_number), Err(MoneyError::NotANumber), "{not_a_number}");
        }
    }

    #[test]
    fn amount_text_keeps_what_the_client_wrote() {
        #[derive(serde::Deserialize)]
        struct Body {
            price: AmountText,
        }
        let body: Result<Body, _> = serde_json::from_str(r#"{"price": 999.999}"#);
        assert_eq!(body.map(|b| b.price.parse()).ok(), Some(Err(MoneyError::TooPrecise)));
        let body: Result<Body, _> = serde_json::from_str(r#"{"price": 1099.99}"#);
        assert_eq!(body.map(|b| b.price.parse()).ok(), Some(Ok(Money::from_cents(109_999))));
    }

    #[test]
    fn rejects_fractions_of_a_cent_and_negatives() {
        assert_eq!(Money::from_decimal(1.001), Err(MoneyError::TooPrecise));
        assert_eq!(Money::from_decimal(-1.0), Err(MoneyError::Negative));
        assert_eq!(Money::from_decimal(f64::NAN), Err(MoneyError::OutOfRange));
        assert_eq!(Money::from_decimal(1e13), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn serialises_with_the_original_numeric_shape() {
        let json = serde_json::to_string(&Money::from_cents(99_999)).unwrap_or_default();
        assert_eq!(json, "999.99");
        assert_eq!(Money::from_cents(1990).to_string(), "19.90");
    }
}
