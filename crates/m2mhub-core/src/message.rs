//! Messages as devices submit them: the JSON shape of SPEC §5, its strict validation into a
//! [`Message`], and the bytes each device signs (SPEC §4.1, see [`crate::signing`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{
    CoreError,
    hash::{Hash, sha256},
    ids::{Seq, TxId},
    names::DeviceName,
    signing::{FederatedFields, SignedFields},
};

/// Largest message contents, in bytes of UTF-8 (SPEC §3.4).
pub const MAX_CONTENTS_LEN: usize = 16 * 1024;

/// What a message does to its transaction (the paper's ops 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Opens a new transaction; the sender becomes its provenance.
    Begin,
    /// Continues an open transaction.
    Continue,
    /// Closes an open transaction for good.
    End,
}

impl Action {
    /// The action's code in signing bytes and entry bytes.
    pub fn code(self) -> u8 {
        match self {
            Action::Begin => 0,
            Action::Continue => 1,
            Action::End => 2,
        }
    }

    /// The action for a code, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Action::Begin),
            1 => Some(Action::Continue),
            2 => Some(Action::End),
            _ => None,
        }
    }

    /// The action's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Begin => "begin",
            Action::Continue => "continue",
            Action::End => "end",
        }
    }

    /// Parses an action name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "begin" => Some(Action::Begin),
            "continue" => Some(Action::Continue),
            "end" => Some(Action::End),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action in JSON: its name, or the paper's numeric op.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ActionJson {
    /// `"begin"`, `"continue"` or `"end"`.
    Name(String),
    /// 0, 1 or 2.
    Code(#[serde(deserialize_with = "crate::jsonint::u64")] u64),
}

/// A message exactly as submitted in JSON (SPEC §5, `POST /v1/messages`), before validation.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Message))]
#[serde(deny_unknown_fields)]
pub struct MessageSubmission {
    /// Sender's device name; `name@hub` in a federation (SPEC §7).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::names::PartyName))]
    pub sender: String,
    /// Receiver's device name; `name@hub` in a federation (SPEC §7).
    #[cfg_attr(feature = "openapi", schema(value_type = crate::names::PartyName))]
    pub receiver: String,
    /// `begin`, `continue` or `end`.
    pub action: ActionJson,
    /// The transaction id; absent or 0 for `begin`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::jsonint::opt_u64"
    )]
    pub tx: Option<u64>,
    /// In a federation (SPEC §7): the transaction's home hub, whose ledger alone may record
    /// the message; absent for a `begin` and for the one-hub form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::names::DeviceName>))]
    pub tx_hub: Option<String>,
    /// The seq of the message that caused this one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::jsonint::opt_u64"
    )]
    #[cfg_attr(feature = "openapi", schema(maximum = 18446744073709551614_u64))]
    pub cause: Option<u64>,
    /// The sender's counter, strictly increasing per sender.
    #[serde(deserialize_with = "crate::jsonint::u64")]
    pub counter: u64,
    /// UTF-8 contents, at most 16 KiB (16,384 bytes of UTF-8).
    #[cfg_attr(feature = "openapi", schema(max_length = 16384))]
    pub contents: String,
    /// Ed25519 signature over the signing bytes, 64 bytes as hex.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[0-9a-fA-F]{128}$", min_length = 128, max_length = 128)
    )]
    pub signature: String,
}

/// A well-formed message: names, sizes and encodings checked, not yet authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Who sent it.
    pub sender: DeviceName,
    /// To whom.
    pub receiver: DeviceName,
    /// What it does to its transaction.
    pub action: Action,
    /// The transaction it names; `TxId(0)` for `begin`.
    pub tx: TxId,
    /// The message that caused it, if the sender says.
    pub cause: Option<Seq>,
    /// The sender's counter.
    pub counter: u64,
    /// The contents.
    pub contents: String,
    /// The sender's Ed25519 signature over [`Message::signing_bytes`].
    pub signature: [u8; 64],
    /// The form the sender signed: the one-hub form (SPEC §4.1) or a federation's (§7).
    pub form: Form,
}

/// Which signing bytes a message carries a signature over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Form {
    /// SPEC §4.1 (`m2mhub/message/v1`): bare names, valid inside one hub.
    OneHub,
    /// SPEC §7 (`m2mhub/message/v2`): sender and receiver as `name@hub`, and the
    /// transaction's home hub (`None` for a `begin`).
    Federated {
        /// The transaction's home hub; `None` for a `begin`.
        tx_hub: Option<DeviceName>,
    },
}

impl TryFrom<MessageSubmission> for Message {
    type Error = CoreError;

    fn try_from(s: MessageSubmission) -> Result<Self, CoreError> {
        // A qualified sender makes the federation form (SPEC §7); then every name is qualified.
        let federated = s.sender.contains('@');
        let name = |n: &str, what: &str| {
            if federated && !n.contains('@') {
                return Err(CoreError::Malformed(format!(
                    "{what} {n:?} must be name@hub: the sender is qualified (SPEC §7)"
                )));
            }
            if !federated && n.contains('@') {
                return Err(CoreError::Malformed(format!(
                    "{what} {n:?} is name@hub but the sender is not: qualify both (SPEC §7)"
                )));
            }
            DeviceName::party(n)
        };
        let sender = name(&s.sender, "sender")?;
        let receiver = name(&s.receiver, "receiver")?;
        let action = match s.action {
            ActionJson::Name(n) => Action::parse(&n),
            ActionJson::Code(c) => u8::try_from(c).ok().and_then(Action::from_code),
        }
        .ok_or_else(|| {
            CoreError::Malformed("action must be begin, continue or end (or 0, 1, 2)".into())
        })?;
        let tx = TxId(s.tx.unwrap_or(0));
        // A continue/end without a tx is not malformed: it names tx 0, which never exists, and
        // is recorded as evidence with `unknown_transaction`.
        if action == Action::Begin && tx.0 != 0 {
            return Err(CoreError::Malformed(
                "a begin must carry no tx (absent or 0)".into(),
            ));
        }
        if s.cause == Some(u64::MAX) {
            return Err(CoreError::Malformed("cause is out of range".into()));
        }
        if s.contents.len() > MAX_CONTENTS_LEN {
            return Err(CoreError::Malformed(format!(
                "contents are {} bytes; the limit is {MAX_CONTENTS_LEN}",
                s.contents.len()
            )));
        }
        let signature = parse_hex_array::<64>(&s.signature, "signature")?;
        let form = match (federated, s.tx_hub, action) {
            (false, None, _) => Form::OneHub,
            (false, Some(_), _) => {
                return Err(CoreError::Malformed(
                    "tx_hub is for federated messages, whose names are name@hub (SPEC §7)".into(),
                ));
            }
            (true, None, Action::Begin) => Form::Federated { tx_hub: None },
            (true, Some(_), Action::Begin) => {
                return Err(CoreError::Malformed(
                    "a begin names no tx_hub: its home is the sender's hub".into(),
                ));
            }
            (true, None, _) => {
                return Err(CoreError::Malformed(
                    "a federated continue or end names its transaction's hub in tx_hub".into(),
                ));
            }
            (true, Some(h), _) => Form::Federated {
                tx_hub: Some(DeviceName::new(&h).map_err(|e| {
                    CoreError::Malformed(format!(
                        "tx_hub: {}",
                        e.to_string().replace("device", "hub")
                    ))
                })?),
            },
        };
        Ok(Message {
            sender,
            receiver,
            action,
            tx,
            cause: s.cause.map(Seq),
            counter: s.counter,
            contents: s.contents,
            signature,
            form,
        })
    }
}

impl Message {
    /// SHA-256 of the contents, as signed and as recorded.
    pub fn contents_hash(&self) -> Hash {
        sha256(self.contents.as_bytes())
    }

    /// The fields the sender signs, given the contents hash.
    pub fn signed_fields<'a>(&'a self, contents_hash: &'a Hash) -> SignedFields<'a> {
        SignedFields {
            sender: self.sender.as_str(),
            receiver: self.receiver.as_str(),
            action: self.action.code(),
            tx: self.tx.0,
            cause: self.cause.map(|c| c.0),
            counter: self.counter,
            contents_hash,
        }
    }

    /// The exact bytes the sender signs (SPEC §4.1, or §7 in a federation).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let h = self.contents_hash();
        self.signing_bytes_for(&h)
    }

    /// [`Message::signing_bytes`], given the contents hash.
    pub fn signing_bytes_for(&self, contents_hash: &Hash) -> Vec<u8> {
        let fields = self.signed_fields(contents_hash);
        match &self.form {
            Form::OneHub => fields.signing_bytes(),
            Form::Federated { tx_hub } => FederatedFields {
                fields,
                tx_hub: tx_hub.as_ref().map_or("", |h| h.as_str()),
            }
            .signing_bytes(),
        }
    }

    /// True for the federation form (SPEC §7).
    pub fn is_federated(&self) -> bool {
        matches!(self.form, Form::Federated { .. })
    }

    /// The hub whose ledger alone may record this message (SPEC §7): the sender's hub for a
    /// `begin`, else the transaction's home hub. `None` for the one-hub form.
    pub fn recording_hub(&self) -> Option<&str> {
        match &self.form {
            Form::OneHub => None,
            Form::Federated { tx_hub: Some(h) } => Some(h.as_str()),
            Form::Federated { tx_hub: None } => self.sender.split().1,
        }
    }

    /// The JSON submission for this message (what a device client sends).
    pub fn to_submission(&self) -> MessageSubmission {
        MessageSubmission {
            sender: self.sender.to_string(),
            receiver: self.receiver.to_string(),
            action: ActionJson::Name(self.action.as_str().to_owned()),
            tx: (self.tx.0 != 0).then_some(self.tx.0),
            tx_hub: match &self.form {
                Form::Federated { tx_hub: Some(h) } => Some(h.to_string()),
                _ => None,
            },
            cause: self.cause.map(|c| c.0),
            counter: self.counter,
            contents: self.contents.clone(),
            signature: hex::encode(self.signature),
        }
    }
}

/// Parses exactly `N` bytes of hex (either case), naming `what` in the error.
pub fn parse_hex_array<const N: usize>(s: &str, what: &str) -> Result<[u8; N], CoreError> {
    let mut out = [0u8; N];
    if s.len() != 2 * N {
        return Err(CoreError::Malformed(format!(
            "{what} must be {N} bytes as {} hex digits",
            2 * N
        )));
    }
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| CoreError::Malformed(format!("{what} is not valid hex")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(json: &str) -> Result<Message, CoreError> {
        let s: MessageSubmission =
            serde_json::from_str(json).map_err(|e| CoreError::Malformed(e.to_string()))?;
        Message::try_from(s)
    }

    const SIG: &str = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn parses_a_well_formed_continue() {
        let m = submission(&format!(
            r#"{{"sender":"a","receiver":"b","action":"continue","tx":3,"cause":7,"counter":9,"contents":"hi","signature":"{SIG}"}}"#
        ))
        .unwrap();
        assert_eq!(m.action, Action::Continue);
        assert_eq!(m.tx, TxId(3));
        assert_eq!(m.cause, Some(Seq(7)));
    }

    #[test]
    fn a_continue_without_tx_names_tx_zero() {
        let m = submission(&format!(
            r#"{{"sender":"a","receiver":"b","action":"continue","counter":1,"contents":"","signature":"{SIG}"}}"#
        ))
        .unwrap();
        assert_eq!(m.tx, TxId(0));
    }

    #[test]
    fn accepts_the_papers_numeric_ops() {
        let m = submission(&format!(
            r#"{{"sender":"a","receiver":"b","action":2,"tx":3,"counter":9,"contents":"","signature":"{SIG}"}}"#
        ))
        .unwrap();
        assert_eq!(m.action, Action::End);
    }

    #[test]
    fn rejects_malformed_submissions() {
        let cases = [
            (r#""action":"begin","tx":4"#, "no tx"),
            (r#""action":"jump""#, "action must be"),
            (r#""action":7"#, "action must be"),
            (
                r#""action":"end","tx":1,"cause":18446744073709551615"#,
                "cause",
            ),
        ];
        for (fields, want) in cases {
            let json = format!(
                r#"{{"sender":"a","receiver":"b",{fields},"counter":1,"contents":"","signature":"{SIG}"}}"#
            );
            let e = submission(&json).unwrap_err().to_string();
            assert!(e.contains(want), "{fields}: {e}");
        }
    }

    #[test]
    fn rejects_bad_signature_encoding_and_oversized_contents() {
        let short = r#"{"sender":"a","receiver":"b","action":"begin","counter":1,"contents":"","signature":"abcd"}"#;
        assert!(
            submission(short)
                .unwrap_err()
                .to_string()
                .contains("signature")
        );
        let big = "x".repeat(MAX_CONTENTS_LEN + 1);
        let json = format!(
            r#"{{"sender":"a","receiver":"b","action":"begin","counter":1,"contents":"{big}","signature":"{SIG}"}}"#
        );
        assert!(submission(&json).unwrap_err().to_string().contains("limit"));
    }

    #[test]
    fn the_federation_form_qualifies_every_name() {
        let base =
            |fields: &str| format!(r#"{{{fields},"counter":1,"contents":"","signature":"{SIG}"}}"#);
        let m = submission(&base(
            r#""sender":"tv@home","receiver":"meter@grid","action":"begin""#,
        ))
        .unwrap();
        assert_eq!(m.form, Form::Federated { tx_hub: None });
        assert_eq!(m.recording_hub(), Some("home"));
        let m = submission(&base(
            r#""sender":"tv@home","receiver":"meter@grid","action":"end","tx":4,"tx_hub":"grid""#,
        ))
        .unwrap();
        assert_eq!(m.recording_hub(), Some("grid"));
        assert_eq!(m.to_submission().tx_hub.as_deref(), Some("grid"));
        let v1 = submission(&base(
            r#""sender":"tv","receiver":"meter","action":"begin""#,
        ))
        .unwrap();
        assert_eq!((&v1.form, v1.recording_hub()), (&Form::OneHub, None));
        let cases = [
            (
                r#""sender":"tv@home","receiver":"meter","action":"begin""#,
                "must be name@hub",
            ),
            (
                r#""sender":"tv","receiver":"meter@grid","action":"begin""#,
                "qualify both",
            ),
            (
                r#""sender":"tv","receiver":"m","action":"end","tx":1,"tx_hub":"g""#,
                "tx_hub is for",
            ),
            (
                r#""sender":"a@h","receiver":"b@h","action":"begin","tx_hub":"h""#,
                "names no tx_hub",
            ),
            (
                r#""sender":"a@h","receiver":"b@h","action":"end","tx":1"#,
                "names its transaction",
            ),
            (
                r#""sender":"a@h","receiver":"b@h","action":"end","tx":1,"tx_hub":"a b""#,
                "tx_hub",
            ),
            (
                r#""sender":"a@h@i","receiver":"b@h","action":"begin""#,
                "name@hub",
            ),
        ];
        for (fields, want) in cases {
            let e = submission(&base(fields)).unwrap_err().to_string();
            assert!(e.contains(want), "{fields}: {e}");
        }
    }

    #[test]
    fn rejects_unknown_fields_and_bad_names() {
        let extra = format!(
            r#"{{"sender":"a","receiver":"b","action":"begin","counter":1,"contents":"","signature":"{SIG}","x":1}}"#
        );
        assert!(submission(&extra).is_err());
        let bad = format!(
            r#"{{"sender":"a b","receiver":"b","action":"begin","counter":1,"contents":"","signature":"{SIG}"}}"#
        );
        assert!(submission(&bad).is_err());
    }
}
