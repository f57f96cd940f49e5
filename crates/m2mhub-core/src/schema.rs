//! OpenAPI schemas (utoipa `ToSchema`) of the core's wire types whose JSON Schema no derive can
//! state: a device name (SPEC §3.4), an action given by name or by the paper's op code, a
//! notice code and a set of them. Compiled only with feature `openapi`, which the server turns
//! on for its `/v1/openapi.json`; a device's build never has it.

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr,
        schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type},
    },
};

use crate::{
    message::ActionJson,
    names::{DeviceName, MAX_NAME_LEN, PartyName},
    notice::{Notice, Notices},
};

/// SPEC §3.4's alphabet of a device name, as a JSON Schema (ECMA-262) pattern.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9_.-]+$";

/// A device name or `name@hub` (SPEC §7), each part 1–64 characters of SPEC §3.4.
pub const PARTY_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}(@[A-Za-z0-9_.-]{1,64})?$";

/// Hex of `n` bytes, either case, as a JSON Schema pattern.
pub fn hex_pattern(n: usize) -> String {
    format!("^[0-9a-fA-F]{{{}}}$", 2 * n)
}

/// A SHA-256 hash as 64 lowercase hex digits, as the API writes hashes (leaf hashes, roots,
/// proof paths). Only a schema: the values are `String`s built with `hex::encode`.
#[derive(Debug)]
pub struct HashHex;

impl PartialSchema for HashHex {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[0-9a-f]{64}$"))
            .into()
    }
}

impl ToSchema for HashHex {}

impl PartialSchema for DeviceName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NAME_PATTERN))
            .min_length(Some(1))
            .max_length(Some(MAX_NAME_LEN))
            .description(Some(
                "a device name (SPEC §3.4): 1–64 characters of A-Z a-z 0-9 _ . -",
            ))
            .into()
    }
}

impl ToSchema for DeviceName {}

impl PartialSchema for PartyName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(PARTY_PATTERN))
            .min_length(Some(1))
            .max_length(Some(2 * MAX_NAME_LEN + 1))
            .description(Some(
                "a device name (SPEC §3.4), or name@hub for a device of a federation's member \
                 hub (SPEC §7)",
            ))
            .into()
    }
}

impl ToSchema for PartyName {}

impl PartialSchema for ActionJson {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["begin", "continue", "end"])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([0, 1, 2])),
            )
            .description(Some(
                "begin, continue or end, or the paper's op code 0, 1 or 2",
            ))
            .into()
    }
}

impl ToSchema for ActionJson {
    fn name() -> std::borrow::Cow<'static, str> {
        "ActionIn".into()
    }
}

impl PartialSchema for Notice {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Notice::ALL.map(Notice::code)))
            .description(Some("a failed check of SPEC §3.3"))
            .into()
    }
}

impl ToSchema for Notice {}

impl PartialSchema for Notices {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Notice::schema())
            .max_items(Some(Notice::ALL.len()))
            .unique_items(true)
            .description(Some("failed checks, in SPEC §3.3 order; empty when valid"))
            .into()
    }
}

impl ToSchema for Notices {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::is_valid_name;

    #[test]
    fn the_name_pattern_is_the_rule() {
        // The pattern's class, spelled out, is exactly the bytes a name may hold.
        for b in 0u8..=127 {
            let s = (b as char).to_string();
            let in_class = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
            assert_eq!(is_valid_name(&s), in_class, "{b}");
        }
        assert_eq!(NAME_PATTERN, "^[A-Za-z0-9_.-]+$");
        assert_eq!(hex_pattern(32), "^[0-9a-fA-F]{64}$");
    }
}
