//! Dollar amounts on the wire, integer cents inside.
//!
//! The KMS speaks dollars as JSON numbers (`100`, `12.5`). The simulator keeps integer
//! cents and refuses anything that cents cannot hold exactly: negatives, more than two
//! decimals, non-finite or absurdly large numbers, and every non-number (strings too).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

/// Largest accepted amount: one trillion dollars, in cents.
pub const MAX_CENTS: i64 = 100_000_000_000_000;

/// A non-negative dollar amount read from JSON, held as cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dollars(pub(crate) i64);

impl<'de> Deserialize<'de> for Dollars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DollarsVisitor)
    }
}

struct DollarsVisitor;

impl Visitor<'_> for DollarsVisitor {
    type Value = Dollars;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative dollar amount with at most 2 decimals")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dollars, E> {
        v.checked_mul(100)
            .and_then(|c| i64::try_from(c).ok())
            .filter(|c| *c <= MAX_CENTS)
            .map(Dollars)
            .ok_or_else(|| E::custom(format!("amount {v} is too large")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dollars, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dollars, E> {
        if !v.is_finite() || v < 0.0 {
            return Err(E::invalid_value(Unexpected::Float(v), &self));
        }
        // `-0.0` prints as "-0"; fold it into zero first.
        let v = if v == 0.0 { 0.0 } else { v };
        // Rust prints the shortest text that reads back as the same f64, never in
        // exponent form, so this recovers the decimals the sender wrote.
        parse_cents(&v.to_string())
            .map(Dollars)
            .ok_or_else(|| E::invalid_value(Unexpected::Float(v), &self))
    }
}

/// Cents from a plain decimal text such as `12`, `12.5` or `0.05`; `None` for more than
/// two decimals, signs, exponents or amounts above [`MAX_CENTS`].
pub(crate) fn parse_cents(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) || frac.len() > 2 {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac_cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    whole
        .checked_mul(100)?
        .checked_add(frac_cents)
        .filter(|c| *c <= MAX_CENTS)
}

/// The JSON number for `cents`: an integer for whole dollars (`100`), else a decimal (`12.5`).
pub fn to_json(cents: i64) -> serde_json::Value {
    if cents % 100 == 0 {
        serde_json::Value::from(cents / 100)
    } else {
        serde_json::Value::from(to_dollars(cents))
    }
}

/// `cents` as a floating-point dollar amount (exact to the cent for amounts the simulator holds).
pub fn to_dollars(cents: i64) -> f64 {
    // The simulator's amounts are far below 2^53, so the conversion is exact and the
    // division is correctly rounded to the nearest double of the decimal value.
    #[allow(clippy::cast_precision_loss)]
    let c = cents as f64;
    c / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Dollars>(json)
            .map(|d| d.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_whole_and_decimal_dollars() {
        assert_eq!(read("100"), Ok(10_000));
        assert_eq!(read("12.5"), Ok(1_250));
        assert_eq!(read("12.50"), Ok(1_250));
        assert_eq!(read("0.29"), Ok(29));
        assert_eq!(read("0.1"), Ok(10));
        assert_eq!(read("1e2"), Ok(10_000));
        assert_eq!(read("0"), Ok(0));
        assert_eq!(read("-0"), Ok(0));
        assert_eq!(read("-0.0"), Ok(0));
    }

    #[test]
    fn rejects_what_cents_cannot_hold() {
        assert!(read("12.345").is_err());
        assert!(read("1.005").is_err());
        assert!(read("0.001").is_err());
        assert!(read("-1").is_err());
        assert!(read("-0.5").is_err());
        assert!(read("1e300").is_err());
        assert!(read("18446744073709551615").is_err());
        assert!(read("\"10\"").is_err());
        assert!(read("true").is_err());
        assert!(read("null").is_err());
        assert!(read("[1]").is_err());
    }

    #[test]
    fn writes_integers_for_whole_dollars() {
        assert_eq!(to_json(10_000).to_string(), "100");
        assert_eq!(to_json(1_250).to_string(), "12.5");
        assert_eq!(to_json(29).to_string(), "0.29");
        assert_eq!(to_json(0).to_string(), "0");
        assert_eq!(to_json(123_456_789).to_string(), "1234567.89");
    }

    #[test]
    fn parses_plain_decimal_text() {
        assert_eq!(parse_cents("7"), Some(700));
        assert_eq!(parse_cents("7.05"), Some(705));
        assert_eq!(parse_cents("7."), Some(700));
        assert_eq!(parse_cents(".5"), None);
        assert_eq!(parse_cents("1e5"), None);
        assert_eq!(parse_cents("-1"), None);
    }
}
