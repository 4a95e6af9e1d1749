//! Money as integer cents. JSON keeps the original's shape (`999.99`), but arithmetic never
//! touches binary floating point.

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
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::OutOfRange => "must be a finite amount below 10,000,000,000",
            MoneyError::TooPrecise => "must have at most two decimal places",
            MoneyError::Negative => "must not be negative",
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

    /// Parses a JSON number such as `999.99`, refusing anything that is not exactly cents.
    pub fn from_decimal(value: f64) -> Result<Self, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::OutOfRange);
        }
        if value < 0.0 {
            return Err(MoneyError::Negative);
        }
        let scaled = value * 100.0;
        let cents = scaled.round();
        if cents > MAX_CENTS as f64 {
            return Err(MoneyError::OutOfRange);
        }
        // A two-decimal literal is within a few ulps of an integer once scaled.
        if (scaled - cents).abs() > 1e-6 * cents.abs().max(1.0) {
            return Err(MoneyError::TooPrecise);
        }
        Ok(Money(cents as i64))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_two_decimal_amounts_exactly() {
        assert_eq!(Money::from_decimal(999.99), Ok(Money::from_cents(99_999)));
        assert_eq!(Money::from_decimal(0.1 + 0.2), Ok(Money::from_cents(30)));
        assert_eq!(Money::from_decimal(19.9), Ok(Money::from_cents(1990)));
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
