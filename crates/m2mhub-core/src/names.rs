//! Device names (SPEC §3.4): 1–64 characters of `A-Z a-z 0-9 _ . -`.

use std::{borrow::Borrow, fmt, sync::Arc};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

/// Longest device name, in bytes (names are ASCII, so also in characters).
pub const MAX_NAME_LEN: usize = 64;

/// A validated device name. Cheap to clone: names are shared across the registry, transaction
/// states and records.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceName(Arc<str>);

impl DeviceName {
    /// Checks `s` against SPEC §3.4.
    pub fn new(s: &str) -> Result<Self, CoreError> {
        if is_valid_name(s) {
            Ok(Self(Arc::from(s)))
        } else {
            Err(CoreError::BadName(describe_bad_name(s)))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// True when `s` is a valid device name.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn describe_bad_name(s: &str) -> String {
    if s.is_empty() {
        "device name is empty".to_owned()
    } else if s.chars().count() > MAX_NAME_LEN {
        format!("device name is longer than {MAX_NAME_LEN} characters")
    } else {
        format!("device name {s:?} may hold only A-Z a-z 0-9 _ . -")
    }
}

impl fmt::Display for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DeviceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Borrow<str> for DeviceName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DeviceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for DeviceName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DeviceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        DeviceName::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_spec_alphabet_and_lengths() {
        for ok in ["a", "low_level", "Door-Lock.2", &"x".repeat(64), "0"] {
            assert!(DeviceName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_empty_long_and_foreign_characters() {
        for bad in ["", &"x".repeat(65), "a b", "é", "a/b", "a\n", "a+b", "ａ"] {
            assert!(DeviceName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = DeviceName::new(&"y".repeat(70)).unwrap_err().to_string();
        assert!(e.contains("longer than 64"), "{e}");
    }
}
