//! Integers in request JSON as JSON Schema reads them: `2.0` and `2e0` are the number 2
//! (RFC 8259 has one number type; JSON Schema 2020-12 calls any whole number an integer), so
//! a request field the API documents as an integer takes them too. Only whole numbers within
//! ±2^53 are taken written that way: past it a float no longer names one integer exactly. Any
//! other fraction, a negative number or one past the field's range stays an error. serde's own
//! `u64` takes only the plain spelling, hence these `deserialize_with` helpers.

use std::fmt;

use serde::{
    Deserializer,
    de::{Error, Unexpected, Visitor},
};

/// Largest whole number a JSON float names exactly.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

struct Whole;

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a whole number from 0 to 18446744073709551615")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<u64, E> {
        if v.fract() == 0.0 && (0.0..=EXACT_FLOAT).contains(&v) {
            // Exact: a whole number within ±2^53.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(v as u64)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

/// A `u64` field.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(Whole)
}

/// A `u32` field.
pub fn u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = d.deserialize_any(Whole)?;
    u32::try_from(v).map_err(|_| D::Error::invalid_value(Unexpected::Unsigned(v), &"a u32"))
}

/// An optional `u64` field (`null` is none); give it `#[serde(default)]` too.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("null or a whole number from 0 to 18446744073709551615")
        }

        fn visit_none<E: Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }

        fn visit_unit<E: Error>(self) -> Result<Option<u64>, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
            u64(d).map(Some)
        }
    }
    d.deserialize_option(Opt)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct T {
        #[serde(deserialize_with = "super::u64")]
        n: u64,
        #[serde(default, deserialize_with = "super::opt_u64")]
        o: Option<u64>,
        #[serde(default, deserialize_with = "super::u32")]
        c: u32,
    }

    fn parse(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn whole_numbers_in_any_spelling_within_the_exact_range() {
        let t = |n, o, c| T { n, o, c };
        assert_eq!(parse(r#"{"n": 2}"#).unwrap(), t(2, None, 0));
        assert_eq!(parse(r#"{"n": 2.0, "o": 3e0}"#).unwrap(), t(2, Some(3), 0));
        assert_eq!(
            parse(r#"{"n": 18446744073709551615, "o": null}"#).unwrap(),
            t(u64::MAX, None, 0)
        );
        assert_eq!(
            parse(r#"{"n": 9007199254740992.0, "c": 4294967295}"#).unwrap(),
            t(1 << 53, None, u32::MAX)
        );
    }

    #[test]
    fn fractions_negatives_inexact_floats_and_overflow_are_refused() {
        for bad in [
            r#"{"n": 2.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": -1.0}"#,
            r#"{"n": 9007199254740994.0}"#,
            r#"{"n": 18446744073709551616}"#,
            r#"{"n": "2"}"#,
            r#"{"n": 1, "c": 4294967296}"#,
            r#"{"n": 1, "o": 0.5}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
