//! Exact decimal newtypes. In JSON they are strings (`"1234.50"`), in the database
//! scaled integers (`BIGINT`), in code `rust_decimal::Decimal`. Input with more
//! decimals than the storage scale, or out of range, is rejected — never rounded.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecimalError {
    Syntax,
    TooPrecise { max_scale: u32 },
    OutOfRange { max_integer_digits: u32 },
}

impl fmt::Display for DecimalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecimalError::Syntax => {
                write!(f, "must be a decimal number in a string, like \"1234.50\"")
            }
            DecimalError::TooPrecise { max_scale } => {
                write!(f, "at most {max_scale} decimal places are allowed")
            }
            DecimalError::OutOfRange { max_integer_digits } => {
                write!(f, "at most {max_integer_digits} digits before the decimal point are allowed")
            }
        }
    }
}

/// Parses a plain decimal literal (`-12.5`, `0.0001`); no exponent, no spaces, no `+`.
fn parse_plain(s: &str, scale: u32, int_digits: u32) -> Result<Decimal, DecimalError> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int_part) || frac_part.is_some_and(|f| !digits(f)) {
        return Err(DecimalError::Syntax);
    }
    let frac = frac_part.unwrap_or("");
    // Trailing zeros beyond the scale carry no information; accept "1.50000" for scale 4.
    let significant = frac.trim_end_matches('0');
    if significant.len() as u32 > scale {
        return Err(DecimalError::TooPrecise { max_scale: scale });
    }
    let int_trimmed = int_part.trim_start_matches('0');
    if int_trimmed.len() as u32 > int_digits {
        return Err(DecimalError::OutOfRange { max_integer_digits: int_digits });
    }
    let normalized = if significant.is_empty() {
        format!(
            "{}{}",
            if s.starts_with('-') { "-" } else { "" },
            if int_trimmed.is_empty() { "0" } else { int_trimmed }
        )
    } else {
        format!(
            "{}{}.{}",
            if s.starts_with('-') { "-" } else { "" },
            if int_trimmed.is_empty() { "0" } else { int_trimmed },
            significant
        )
    };
    Decimal::from_str(&normalized).map_err(|_| DecimalError::Syntax)
}

macro_rules! scaled_decimal {
    ($name:ident, $scale:expr, $int_digits:expr, $min_display_scale:expr, $doc:literal, $example:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(Decimal);

        impl $name {
            /// Decimal places kept in storage.
            pub const SCALE: u32 = $scale;
            /// Digits allowed before the decimal point (keeps the scaled value inside i64).
            pub const INTEGER_DIGITS: u32 = $int_digits;
            pub const ZERO: $name = $name(Decimal::ZERO);

            /// Checked constructor: refuses values that storage could not hold exactly.
            pub fn new(d: Decimal) -> Result<Self, DecimalError> {
                let n = d.normalize();
                if n.scale() > Self::SCALE {
                    return Err(DecimalError::TooPrecise { max_scale: Self::SCALE });
                }
                let limit = Decimal::from(10i64.pow(Self::INTEGER_DIGITS));
                if n.abs() >= limit {
                    return Err(DecimalError::OutOfRange { max_integer_digits: Self::INTEGER_DIGITS });
                }
                Ok($name(n))
            }

            pub fn parse(s: &str) -> Result<Self, DecimalError> {
                parse_plain(s, Self::SCALE, Self::INTEGER_DIGITS).and_then(Self::new)
            }

            pub fn value(&self) -> Decimal {
                self.0
            }

            /// The value as stored: an integer in units of 10^-SCALE.
            pub fn to_scaled(&self) -> i64 {
                let mut d = self.0;
                d.rescale(Self::SCALE);
                // In range by construction (INTEGER_DIGITS + SCALE <= 18 digits).
                i64::try_from(d.mantissa()).expect("scaled decimal within i64 by construction")
            }

            pub fn from_scaled(v: i64) -> Self {
                $name(Decimal::new(v, Self::SCALE).normalize())
            }

            pub fn is_negative(&self) -> bool {
                self.0.is_sign_negative() && !self.0.is_zero()
            }

            /// The JSON Schema pattern for the string form.
            pub fn pattern() -> String {
                format!("^-?[0-9]{{1,{}}}(\\.[0-9]{{1,{}}})?$", Self::INTEGER_DIGITS, Self::SCALE)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = self.0.normalize();
                let min_scale: u32 = $min_display_scale;
                if d.scale() < min_scale {
                    d.rescale(min_scale);
                }
                write!(f, "{}", d)
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a decimal number in a string, like \"{}\"", $example)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::parse(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some($name::pattern()))
                    .description(Some($doc))
                    .examples([serde_json::json!($example)])
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

scaled_decimal!(
    Money,
    4,
    14,
    2,
    "An exact amount of money as a decimal string (up to 4 decimal places), in the currency of its document.",
    "1234.50"
);
scaled_decimal!(Quantity, 4, 14, 0, "An exact quantity as a decimal string (up to 4 decimal places).", "12.5");
scaled_decimal!(
    Rate,
    8,
    10,
    0,
    "An exact rate, percentage or exchange rate as a decimal string (up to 8 decimal places).",
    "23.5"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_round_trips_through_storage() {
        let m = Money::parse("1234.5").unwrap();
        assert_eq!(m.to_scaled(), 12_345_000);
        assert_eq!(Money::from_scaled(12_345_000), m);
        assert_eq!(m.to_string(), "1234.50");
        assert_eq!(Money::parse("-0.0001").unwrap().to_scaled(), -1);
        assert_eq!(Money::parse("10").unwrap().to_string(), "10.00");
        assert_eq!(Money::parse("1.2345").unwrap().to_string(), "1.2345");
    }

    #[test]
    fn money_rejects_over_precise_and_out_of_range() {
        assert_eq!(Money::parse("1.23456"), Err(DecimalError::TooPrecise { max_scale: 4 }));
        assert!(Money::parse("1.23450").is_ok(), "trailing zeros are not precision");
        assert!(Money::parse("99999999999999.9999").is_ok());
        assert_eq!(Money::parse("100000000000000"), Err(DecimalError::OutOfRange { max_integer_digits: 14 }));
        assert_eq!(Money::parse("99999999999999.9999").unwrap().to_scaled(), 999_999_999_999_999_999);
        assert_eq!(Money::parse("-99999999999999.9999").unwrap().to_scaled(), -999_999_999_999_999_999);
    }

    #[test]
    fn syntax_is_strict() {
        for bad in ["", "-", "1e5", "+1", " 1", "1.", ".5", "1,5", "NaN", "0x10", "1.2.3"] {
            assert_eq!(Money::parse(bad), Err(DecimalError::Syntax), "{bad:?}");
        }
        assert_eq!(Money::parse("007.10").unwrap().to_string(), "7.10");
    }

    #[test]
    fn rate_keeps_eight_decimals() {
        let r = Rate::parse("4.12345678").unwrap();
        assert_eq!(r.to_scaled(), 412_345_678);
        assert_eq!(Rate::from_scaled(412_345_678).to_string(), "4.12345678");
        assert!(Rate::parse("0.123456789").is_err());
        assert!(Rate::parse("9999999999.99999999").is_ok());
        assert!(Rate::parse("10000000000").is_err());
    }

    #[test]
    fn quantity_displays_normalized() {
        assert_eq!(Quantity::parse("12.5000").unwrap().to_string(), "12.5");
        assert_eq!(Quantity::from_scaled(120_000).to_string(), "12");
    }

    #[test]
    fn json_is_a_string_and_numbers_are_refused() {
        let m: Money = serde_json::from_str("\"19.99\"").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"19.99\"");
        assert!(serde_json::from_str::<Money>("19.99").is_err());
        assert!(serde_json::from_str::<Money>("\"19.99999\"").is_err());
    }

    #[test]
    fn new_checks_decimal_values() {
        assert!(Money::new(Decimal::new(123456, 5)).is_err());
        assert!(Money::new(Decimal::new(1234560, 5)).is_ok());
    }
}

/// Property tests (issue 17): any text is parsed or refused without a panic; what the
/// OpenAPI pattern allows is accepted; what is accepted prints in the pattern and
/// parses back to itself, and survives storage as a scaled integer.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// The documented pattern `^-?[0-9]{1,I}(\.[0-9]{1,S})?$`, by hand.
    fn in_pattern(s: &str, int_digits: u32, scale: u32) -> bool {
        let digits =
            |p: &str, max: u32| !p.is_empty() && p.len() as u32 <= max && p.bytes().all(|b| b.is_ascii_digit());
        let body = s.strip_prefix('-').unwrap_or(s);
        match body.split_once('.') {
            Some((i, f)) => digits(i, int_digits) && digits(f, scale),
            None => digits(body, int_digits),
        }
    }

    macro_rules! check_all {
        ($s:expr, $($t:ty),+) => {$(
            let accepted = <$t>::parse($s);
            if in_pattern($s, <$t>::INTEGER_DIGITS, <$t>::SCALE) {
                prop_assert!(accepted.is_ok(), "{} refused {:?} the schema allows: {:?}", stringify!($t), $s, accepted);
            }
            if let Ok(v) = accepted {
                let shown = v.to_string();
                prop_assert!(in_pattern(&shown, <$t>::INTEGER_DIGITS, <$t>::SCALE), "{} prints {:?}", stringify!($t), shown);
                prop_assert!(!shown.starts_with("-0") || shown.trim_start_matches("-0").trim_start_matches('.').trim_matches('0').len() > 0, "negative zero {:?}", shown);
                prop_assert_eq!(<$t>::parse(&shown), Ok(v));
                prop_assert_eq!(<$t>::from_scaled(v.to_scaled()), v);
                prop_assert_eq!(v.value(), Decimal::from_str($s).unwrap_or_default().normalize());
            }
        )+};
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_text_is_parsed_or_refused(s in "\\PC{0,30}") {
            check_all!(&s, Money, Quantity, Rate);
        }

        #[test]
        fn decimal_text(s in "-?0{0,3}[0-9]{0,16}(\\.[0-9]{0,10}0{0,3})?") {
            check_all!(&s, Money, Quantity, Rate);
        }

        #[test]
        fn values_in_range(mantissa in -999_999_999_999_999_999i64..=999_999_999_999_999_999, scale in 0u32..=10) {
            let d = Decimal::new(mantissa, scale);
            let m = Money::new(d);
            let fits = d.normalize().scale() <= Money::SCALE && d.abs() < Decimal::from(10i64.pow(Money::INTEGER_DIGITS));
            prop_assert_eq!(m.is_ok(), fits);
            if let Ok(m) = m {
                prop_assert_eq!(Money::from_scaled(m.to_scaled()), m);
                prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
            }
        }
    }
}
