//! Device names (SPEC §3.4): 1–64 characters of `A-Z a-z 0-9 _ . -`; and, in a federation
//! (SPEC §7), a device of another member hub as `name@hub`, which this module calls a *party*.

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

    /// Checks `s` as a party (SPEC §7): a device name, or `name@hub` with both parts device
    /// names (a hub's member name has the same charset).
    pub fn party(s: &str) -> Result<Self, CoreError> {
        if is_valid_party(s) {
            Ok(Self(Arc::from(s)))
        } else {
            match s.split_once('@') {
                Some((n, h)) => Err(CoreError::BadName(format!(
                    "{s:?} is not name@hub: {}",
                    if is_valid_name(n) {
                        describe_bad_name(h).replace("device name", "hub name")
                    } else {
                        describe_bad_name(n)
                    }
                ))),
                None => Err(CoreError::BadName(describe_bad_name(s))),
            }
        }
    }

    /// `name@hub`, for a valid device name and hub name.
    pub fn qualified(name: &str, hub: &str) -> Self {
        debug_assert!(is_valid_name(name) && is_valid_name(hub));
        Self(Arc::from(format!("{name}@{hub}")))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bare name and, for `name@hub`, the hub.
    pub fn split(&self) -> (&str, Option<&str>) {
        split_party(&self.0)
    }

    /// This name as `name@hub`: itself when qualified, else qualified with `hub` (the hub whose
    /// ledger holds the bare name).
    pub fn qualify(&self, hub: &str) -> DeviceName {
        match self.split() {
            (_, Some(_)) => self.clone(),
            (n, None) => Self::qualified(n, hub),
        }
    }
}

/// `name` as `name@hub`: itself when already qualified, else qualified with `hub` (the hub
/// whose ledger writes it bare).
pub fn qualify_str(name: &str, hub: &str) -> String {
    match split_party(name) {
        (_, Some(_)) => name.to_owned(),
        (n, None) => format!("{n}@{hub}"),
    }
}

/// The bare name and, for `name@hub`, the hub.
pub fn split_party(s: &str) -> (&str, Option<&str>) {
    match s.split_once('@') {
        Some((n, h)) => (n, Some(h)),
        None => (s, None),
    }
}

/// A [`DeviceName`] that may be `name@hub` (SPEC §7), as a wire type: only its OpenAPI schema
/// differs.
#[cfg(feature = "openapi")]
#[derive(Debug)]
pub struct PartyName;

/// True when `s` is a device name or `name@hub` (SPEC §7).
pub fn is_valid_party(s: &str) -> bool {
    match s.split_once('@') {
        Some((n, h)) => is_valid_name(n) && is_valid_name(h),
        None => is_valid_name(s),
    }
}

/// How `party`, a name as the ledger of hub `here` writes it (bare for its own devices), is
/// written in the ledger of the hub that holds `holder` (also as `here` writes it): what a
/// holder's exception list names. Outside a federation (`here` is `None`) names are bare.
pub fn as_seen_by<'a>(
    party: &'a str,
    holder: &str,
    here: Option<&str>,
) -> std::borrow::Cow<'a, str> {
    let Some(here) = here else {
        return party.into();
    };
    let (name, hub) = split_party(party);
    let hub = hub.unwrap_or(here);
    let holder_hub = split_party(holder).1.unwrap_or(here);
    if hub == holder_hub {
        name.into()
    } else {
        format!("{name}@{hub}").into()
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
    fn parties_are_names_or_name_at_hub() {
        for ok in ["a", "tv@home", "x.1@grid-2"] {
            assert!(DeviceName::party(ok).is_ok(), "{ok}");
        }
        for bad in ["@home", "tv@", "tv@home@x", "a b@h", "tv@h b", ""] {
            assert!(DeviceName::party(bad).is_err(), "{bad:?}");
        }
        assert!(DeviceName::new("tv@home").is_err());
        let e = DeviceName::party("tv@h b").unwrap_err().to_string();
        assert!(e.contains("hub name"), "{e}");
        let p = DeviceName::party("tv@home").unwrap();
        assert_eq!(p.split(), ("tv", Some("home")));
        assert_eq!(p.qualify("grid").as_str(), "tv@home");
        assert_eq!(qualify_str("tv", "home"), "tv@home");
        assert_eq!(qualify_str("tv@home", "grid"), "tv@home");
        assert_eq!(
            DeviceName::new("tv").unwrap().qualify("grid").as_str(),
            "tv@grid"
        );
    }

    #[test]
    fn names_as_another_hub_writes_them() {
        // At hub `grid`: its own `meter` as seen by `tv@home` is `meter@grid`, and `x@home`
        // as seen by `tv@home` is `x`.
        assert_eq!(as_seen_by("meter", "tv@home", Some("grid")), "meter@grid");
        assert_eq!(as_seen_by("x@home", "tv@home", Some("grid")), "x");
        assert_eq!(as_seen_by("x@home", "lamp", Some("grid")), "x@home");
        assert_eq!(as_seen_by("meter", "lamp", Some("grid")), "meter");
        assert_eq!(as_seen_by("meter", "lamp", None), "meter");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = DeviceName::new(&"y".repeat(70)).unwrap_err().to_string();
        assert!(e.contains("longer than 64"), "{e}");
    }
}
