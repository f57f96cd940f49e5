//! The federation file (SPEC §7): the witness policy and the member hubs, each with its name
//! (the `hub` of `name@hub` and `hub:tx`), checkpoint origin, verifier key, URL and optional
//! anchor contract. The binary reads the TOML into [`FederationFile`]; [`Federation::new`]
//! checks it, so every part of the hub works from one validated list.

use serde::Deserialize;

use crate::{
    CoreError,
    names::{DeviceName, is_valid_name},
    note::NoteVerifier,
};

/// The file as written (SPEC §7), before it is checked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    /// `[witness]`.
    pub witness: WitnessSection,
    /// `[[member]]`, one per hub.
    pub member: Vec<MemberFile>,
}

/// `[witness]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSection {
    /// Member cosignatures a checkpoint needs, besides its own hub's signature.
    pub cosignatures: usize,
}

/// One `[[member]]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberFile {
    /// The hub name (charset of SPEC §3.4).
    pub name: String,
    /// Its checkpoint origin line, also its key name.
    pub origin: String,
    /// Its verifier key (SPEC §4.3), which also checks its cosignatures.
    pub key: String,
    /// Its base URL (`http://` or `https://`).
    pub url: String,
    /// Its `M2MHubAnchor` contract, `0x` and 40 hex digits.
    #[serde(default)]
    pub anchor: Option<String>,
}

/// A checked member hub.
#[derive(Clone, Debug)]
pub struct Member {
    /// The hub name.
    pub name: String,
    /// Its checkpoint origin (= `key.name()`).
    pub origin: String,
    /// Its verifier key.
    pub key: NoteVerifier,
    /// Its base URL, without a trailing `/`.
    pub url: String,
    /// Its anchor contract address, lowercase, when it anchors.
    pub anchor: Option<String>,
}

/// A checked federation: members in file order, names and origins unique.
#[derive(Clone, Debug)]
pub struct Federation {
    /// Member cosignatures a checkpoint needs (besides its own).
    pub cosignatures: usize,
    /// The members.
    pub members: Vec<Member>,
}

fn bad(msg: String) -> CoreError {
    CoreError::Malformed(msg)
}

impl Federation {
    /// Checks a parsed file: valid unique names and origins, each key named by its origin, URLs
    /// with a scheme, anchors as addresses, and a policy the other members can meet.
    pub fn new(file: FederationFile) -> Result<Federation, CoreError> {
        if file.member.is_empty() {
            return Err(bad("federation has no [[member]]".into()));
        }
        let mut members: Vec<Member> = Vec::with_capacity(file.member.len());
        for m in file.member {
            let name = &m.name;
            if !is_valid_name(name) {
                return Err(bad(format!(
                    "member name {name:?} is not 1–64 characters of A-Z a-z 0-9 _ . -"
                )));
            }
            let key = NoteVerifier::parse(&m.key)
                .map_err(|e| bad(format!("member {name:?}: key: {e}")))?;
            if key.name() != m.origin {
                return Err(bad(format!(
                    "member {name:?}: key is named {:?}, not its origin {:?}",
                    key.name(),
                    m.origin
                )));
            }
            let url = m.url.trim_end_matches('/');
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return Err(bad(format!(
                    "member {name:?}: url {:?} is not an http:// or https:// URL",
                    m.url
                )));
            }
            let anchor = match m.anchor {
                None => None,
                Some(a) => {
                    let hex = a.strip_prefix("0x").unwrap_or("");
                    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad(format!(
                            "member {name:?}: anchor {a:?} is not 0x and 40 hex digits"
                        )));
                    }
                    Some(a.to_ascii_lowercase())
                }
            };
            if members.iter().any(|o| o.name == m.name) {
                return Err(bad(format!("member name {name:?} appears twice")));
            }
            if members.iter().any(|o| o.origin == m.origin) {
                return Err(bad(format!("origin {:?} appears twice", m.origin)));
            }
            members.push(Member {
                url: url.to_owned(),
                name: m.name,
                origin: m.origin,
                key,
                anchor,
            });
        }
        if file.witness.cosignatures >= members.len() {
            return Err(bad(format!(
                "[witness] cosignatures = {} but only {} other member(s) can cosign",
                file.witness.cosignatures,
                members.len() - 1
            )));
        }
        Ok(Federation {
            cosignatures: file.witness.cosignatures,
            members,
        })
    }

    /// The member named `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    /// The member whose checkpoints carry `origin`.
    pub fn by_origin(&self, origin: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.origin == origin)
    }

    /// Every member but `me`: the witnesses of `me`'s checkpoints, and the logs `me` witnesses.
    pub fn others<'a>(&'a self, me: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.iter().filter(move |m| m.name != me)
    }
}

/// The federation as a hub records it: names, origins and keys, and the witness policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The recording hub's own member name.
    pub hub: DeviceName,
    /// Member cosignatures a checkpoint needs, besides its own hub's signature.
    pub cosignatures: u16,
    /// Every member, sorted by name, names unique.
    pub members: Vec<MemberRecord>,
}

/// One member hub in a [`Membership`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// Its hub name (charset of SPEC §3.4).
    pub name: DeviceName,
    /// Its checkpoint origin, also its key name.
    pub origin: String,
    /// Its verifier key (SPEC §4.3), canonical.
    pub key: String,
}

impl Membership {
    /// Checks what [`crate::entry::Entry::from_bytes`] requires of a membership, for one built in memory.
    pub fn check(&self) -> Result<(), CoreError> {
        let bad = crate::entry::bad;
        if self.members.len() > usize::from(u16::MAX)
            || self
                .members
                .iter()
                .any(|m| m.key.len() > usize::from(u16::MAX))
        {
            return Err(bad("membership does not fit its encoding".into()));
        }
        if !self.members.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(bad("members are not sorted by name and unique".into()));
        }
        if !self.members.iter().any(|m| m.name == self.hub) {
            return Err(bad(format!("hub {:?} is not a member", self.hub.as_str())));
        }
        if usize::from(self.cosignatures) >= self.members.len() {
            return Err(bad("cosignatures must be fewer than the members".into()));
        }
        for m in &self.members {
            let v = crate::note::NoteVerifier::parse(&m.key)
                .map_err(|e| bad(format!("member {:?}: {e}", m.name.as_str())))?;
            if v.name() != m.origin || v.verifier_key() != m.key {
                return Err(bad(format!(
                    "member {:?}: key is not the canonical key named by its origin",
                    m.name.as_str()
                )));
            }
        }
        Ok(())
    }
}

impl Federation {
    /// The membership hub `hub` records (SPEC §7): every member's name, origin and key, sorted
    /// by name, and the policy.
    pub fn membership(&self, hub: &str) -> Result<Membership, CoreError> {
        let mut members = self
            .members
            .iter()
            .map(|m| {
                Ok(MemberRecord {
                    name: DeviceName::new(&m.name)?,
                    origin: m.origin.clone(),
                    key: m.key.verifier_key(),
                })
            })
            .collect::<Result<Vec<_>, CoreError>>()?;
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let m = Membership {
            hub: DeviceName::new(hub)?,
            cosignatures: u16::try_from(self.cosignatures)
                .map_err(|_| bad("cosignatures do not fit a u16".into()))?,
            members,
        };
        m.check()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::note::NoteSigner;

    fn key(origin: &str, seed: u8) -> String {
        NoteSigner::new(origin, SigningKey::from_bytes(&[seed; 32]))
            .map(|s| s.verifier_key())
            .unwrap_or_default()
    }

    fn member(name: &str, seed: u8) -> MemberFile {
        let origin = format!("m2mhub/{name}");
        MemberFile {
            name: name.into(),
            key: key(&origin, seed),
            origin,
            url: format!("http://127.0.0.1:80{seed:02}/"),
            anchor: None,
        }
    }

    fn file(members: Vec<MemberFile>, cosignatures: usize) -> FederationFile {
        FederationFile {
            witness: WitnessSection { cosignatures },
            member: members,
        }
    }

    #[test]
    fn a_good_file_is_checked_and_looked_up() {
        let f = Federation::new(file(vec![member("home", 1), member("grid", 2)], 1));
        let f = f.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            f.member("grid").map(|m| m.url.as_str()),
            Some("http://127.0.0.1:8002")
        );
        assert_eq!(
            f.by_origin("m2mhub/home").map(|m| m.name.as_str()),
            Some("home")
        );
        let others: Vec<_> = f.others("home").map(|m| m.name.as_str()).collect();
        assert_eq!(others, ["grid"]);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let cases: Vec<(FederationFile, &str)> = vec![
            (file(vec![], 0), "no [[member]]"),
            (
                file(vec![member("home", 1), member("home", 2)], 0),
                "appears twice",
            ),
            (
                file(vec![member("home", 1), member("grid", 2)], 2),
                "only 1 other member",
            ),
            (
                file(
                    vec![MemberFile {
                        name: "a b".into(),
                        ..member("x", 1)
                    }],
                    0,
                ),
                "is not 1–64 characters",
            ),
            (
                file(
                    vec![MemberFile {
                        origin: "m2mhub/other".into(),
                        ..member("home", 1)
                    }],
                    0,
                ),
                "not its origin",
            ),
            (
                file(
                    vec![MemberFile {
                        url: "127.0.0.1:80".into(),
                        ..member("home", 1)
                    }],
                    0,
                ),
                "not an http",
            ),
            (
                file(
                    vec![MemberFile {
                        anchor: Some("0x12".into()),
                        ..member("home", 1)
                    }],
                    0,
                ),
                "40 hex digits",
            ),
            (
                file(
                    vec![MemberFile {
                        key: "m2mhub/home+00000000+AQ".into(),
                        ..member("home", 1)
                    }],
                    0,
                ),
                "key:",
            ),
        ];
        for (f, want) in cases {
            match Federation::new(f) {
                Ok(_) => panic!("accepted a file that should fail with {want:?}"),
                Err(e) => assert!(e.to_string().contains(want), "{e} lacks {want:?}"),
            }
        }
    }
}
