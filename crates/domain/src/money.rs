//! Money as integer cents. APIs speak dollars (`100`, `12.5`, `"12.50"`) with at most two
//! decimals; nothing inside Tollgate ever holds a float amount.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of US dollars in integer cents. May be negative (a balance can be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

/// Why a dollar amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a plain decimal number.
    #[error("not a decimal dollar amount")]
    NotANumber,
    /// More than two digits after the decimal point.
    #[error("at most two decimals are allowed")]
    TooPrecise,
    /// Beyond what Tollgate accepts (±10^13 dollars).
    #[error("amount is out of range")]
    OutOfRange,
}

const MAX_DOLLARS: i64 = 10_000_000_000_000;

impl Cents {
    /// Zero dollars.
    pub const ZERO: Cents = Cents(0);

    /// Whole dollars.
    pub fn from_dollars(dollars: i64) -> Self {
        Cents(dollars * 100)
    }

    /// Parse a decimal dollar string such as `12`, `12.5`, `-0.05`.
    pub fn parse_dollars(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(MoneyError::NotANumber);
        }
        if digits.contains('.') && frac.is_empty() {
            return Err(MoneyError::NotANumber);
        }
        // Trailing zeros beyond two decimals carry no value ("1.500" is 1.50).
        let frac = frac.trim_end_matches('0');
        if frac.len() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let whole: i64 = whole.parse().map_err(|_| MoneyError::OutOfRange)?;
        if whole > MAX_DOLLARS {
            return Err(MoneyError::OutOfRange);
        }
        let frac_cents = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().map_err(|_| MoneyError::NotANumber)? * 10,
            _ => frac.parse::<i64>().map_err(|_| MoneyError::NotANumber)?,
        };
        let cents = whole * 100 + frac_cents;
        Ok(Cents(if negative { -cents } else { cents }))
    }

    /// Parse a dollar figure of any precision (a KMS spend such as `520.123456`), rounding
    /// up to the next cent: usage read this way is never under-counted.
    pub fn parse_dollars_rounding_up(text: &str) -> Result<Self, MoneyError> {
        let text = text.trim();
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if frac.len() <= 2 {
            return Cents::parse_dollars(text);
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::NotANumber);
        }
        let cut = Cents::parse_dollars(&format!("{whole}.{}", &frac[..2]))?;
        let rest_nonzero = frac[2..].bytes().any(|b| b != b'0');
        // Away from zero only for positive amounts: -1.001 rounds up to -1.00.
        Ok(if rest_nonzero && !whole.starts_with('-') {
            Cents(cut.0 + 1)
        } else {
            cut
        })
    }

    /// The amount as a JSON-friendly dollar number (exact for two decimals).
    pub fn as_dollars_f64(self) -> f64 {
        // i64 cents up to 10^15 are exact in f64, and /100 rounds to the nearest double,
        // which prints back as the same two-decimal text.
        self.0 as f64 / 100.0
    }

    /// Add, refusing overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    /// Subtract, refusing overflow.
    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }
}

impl fmt::Display for Cents {
    /// Dollars with exactly two decimals: `12.50`, `-0.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Cents {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cents::parse_dollars(s)
    }
}

/// In OpenAPI documents: a JSON number of dollars (requests also take a decimal string).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Cents {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some(
                "US dollars with at most two decimals (kept as integer cents).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Cents {}

impl Serialize for Cents {
    /// Serialised as a dollar number (`12.5`), the API's unit.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_dollars_f64())
    }
}

impl<'de> Deserialize<'de> for Cents {
    /// Accepts a JSON number or a decimal string of dollars with at most two decimals.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Cents;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dollar amount with at most two decimals")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cents, E> {
                if v.abs() > MAX_DOLLARS {
                    return Err(E::custom(MoneyError::OutOfRange));
                }
                Ok(Cents::from_dollars(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cents, E> {
                let v = i64::try_from(v).map_err(|_| E::custom(MoneyError::OutOfRange))?;
                self.visit_i64(v)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cents, E> {
                if !v.is_finite() {
                    return Err(E::custom(MoneyError::NotANumber));
                }
                // Rust prints the shortest text that round-trips, so 12.5 reads as "12.5"
                // and 0.1 + 0.2 style noise shows up as too many decimals and is refused.
                Cents::parse_dollars(&format!("{v}")).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cents, E> {
                Cents::parse_dollars(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_precision_rounding_up() {
        assert_eq!(
            Cents::parse_dollars_rounding_up("520.123456"),
            Ok(Cents(52_013))
        );
        assert_eq!(
            Cents::parse_dollars_rounding_up("520.12"),
            Ok(Cents(52_012))
        );
        assert_eq!(
            Cents::parse_dollars_rounding_up("520.1200"),
            Ok(Cents(52_012))
        );
        assert_eq!(Cents::parse_dollars_rounding_up("7"), Ok(Cents(700)));
        assert_eq!(Cents::parse_dollars_rounding_up("-1.001"), Ok(Cents(-100)));
        assert!(Cents::parse_dollars_rounding_up("1.00x").is_err());
        assert!(Cents::parse_dollars_rounding_up("1e3").is_err());
    }

    #[test]
    fn parses_dollar_text() {
        assert_eq!(Cents::parse_dollars("100"), Ok(Cents(10_000)));
        assert_eq!(Cents::parse_dollars("12.5"), Ok(Cents(1_250)));
        assert_eq!(Cents::parse_dollars("12.05"), Ok(Cents(1_205)));
        assert_eq!(Cents::parse_dollars("1.500"), Ok(Cents(150)));
        assert_eq!(Cents::parse_dollars("-0.05"), Ok(Cents(-5)));
        assert_eq!(Cents::parse_dollars("0.001"), Err(MoneyError::TooPrecise));
        for bad in ["", ".5", "5.", "1e3", "abc", "1.2.3", "--1", "+1", " 1 2"] {
            assert_eq!(
                Cents::parse_dollars(bad),
                Err(MoneyError::NotANumber),
                "{bad}"
            );
        }
        assert_eq!(
            Cents::parse_dollars("99999999999999999999"),
            Err(MoneyError::OutOfRange)
        );
    }

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Cents(1_250).to_string(), "12.50");
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(Cents(0).to_string(), "0.00");
    }

    #[test]
    fn json_round_trip_in_dollars() {
        let c: Cents = serde_json::from_str("12.5").unwrap();
        assert_eq!(c, Cents(1_250));
        assert_eq!(serde_json::to_string(&c).unwrap(), "12.5");
        let c: Cents = serde_json::from_str("\"0.10\"").unwrap();
        assert_eq!(c, Cents(10));
        assert!(serde_json::from_str::<Cents>("12.345").is_err());
        assert!(serde_json::from_str::<Cents>("true").is_err());
        assert_eq!(serde_json::from_str::<Cents>("7").unwrap(), Cents(700));
    }
}
