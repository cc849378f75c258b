//! The shape every uploaded metadata file must have before it is validated as a role.
//!
//! notary-server decodes each uploaded part into its `SignedMeta` envelope (`signed` with
//! `_type`, `expires`, `version`; `signatures` with `keyid`, `method`, base64 `sig`) and
//! answers `MALFORMED_JSON` when that decoding fails; only then does it validate the role.
//! [`check`] applies the same decoding rules (a JSON `null` stands for an absent value, as in
//! Go), and additionally refuses a key repeated within any JSON object: readers disagree on
//! which copy counts (Go takes the last, others the first), so a repeated key could show a
//! reader content that is not what the signatures were checked over.

use crate::go_time::GoTime;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ShapeError {
    #[error("metadata is not UTF-8")]
    NotUtf8,
    #[error("metadata is not valid JSON: {0}")]
    Syntax(String),
    #[error("metadata repeats the key {0:?} within one JSON object")]
    DuplicateKey(String),
    #[error("metadata does not have the signed envelope's shape: {0}")]
    Envelope(String),
    #[error("a signature is not base64")]
    SignatureNotBase64,
}

/// Checks an uploaded file's syntax, its envelope shape and that no JSON object repeats a key.
pub fn check(raw: &[u8]) -> Result<(), ShapeError> {
    // Checked on its own: strings skipped by the passes below are not all decoded.
    std::str::from_utf8(raw).map_err(|_| ShapeError::NotUtf8)?;
    let mut de = serde_json::Deserializer::from_slice(raw);
    match UniqueKeys::deserialize(&mut de) {
        Ok(UniqueKeys) => {}
        Err(e) => {
            let msg = e.to_string();
            return Err(match msg.strip_prefix(DUPLICATE) {
                Some(rest) => ShapeError::DuplicateKey(
                    rest.split(" at line ").next().unwrap_or(rest).to_string(),
                ),
                None => ShapeError::Syntax(msg),
            });
        }
    }
    de.end().map_err(|e| ShapeError::Syntax(e.to_string()))?;
    let envelope: Option<Object<SignedMetaShape>> =
        serde_json::from_slice(raw).map_err(|e| ShapeError::Envelope(e.to_string()))?;
    for sig in envelope
        .and_then(|e| e.0.signatures)
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .map(|s| s.0)
    {
        if let Some(s) = sig.sig {
            B64.decode(s.as_bytes())
                .map_err(|_| ShapeError::SignatureNotBase64)?;
        }
    }
    Ok(())
}

/// The envelope notary-server decodes (its `SignedMeta`); unknown fields are ignored, as in Go.
#[derive(serde::Deserialize)]
struct SignedMetaShape {
    #[serde(default)]
    #[allow(dead_code)]
    signed: Option<Object<SignedCommonShape>>,
    #[serde(default)]
    signatures: Option<Vec<Option<Object<SignatureShape>>>>,
}

/// A Go struct decodes only from a JSON object, while a derived serde struct also accepts a
/// list of its fields.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Object)
            }
        }
        d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct SignedCommonShape {
    #[serde(default, rename = "_type")]
    type_name: Option<String>,
    #[serde(default)]
    expires: Option<GoTime>,
    #[serde(default)]
    version: Option<i64>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct SignatureShape {
    #[serde(default)]
    keyid: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

const DUPLICATE: &str = "duplicate key ";

/// Any JSON value, walked without being built, refusing a repeated key in any object.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E: de::Error>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<UniqueKeys>()?;
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("{DUPLICATE}{key}")));
            }
            seen.insert(key);
        }
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"signed":{"_type":"Targets","expires":"2030-01-01T00:00:00Z","version":2,"targets":{}},"signatures":[{"keyid":"ab","method":"ecdsa","sig":"AAEC"}]}"#;

    #[test]
    fn a_well_formed_file_and_go_nulls_pass() {
        check(GOOD.as_bytes()).unwrap();
        for ok in [
            "null",
            "{}",
            r#"{"signed":null,"signatures":null}"#,
            r#"{"signed":{},"signatures":[]}"#,
            r#"{"signed":{"_type":null,"expires":null,"version":null},"signatures":[null]}"#,
            r#"{"signed":{"version":-3},"signatures":[{"keyid":null,"sig":null}],"extra":[1,{"a":2}]}"#,
            // The same key in two different objects is not a repetition.
            r#"{"signed":{"targets":{"a":{"length":1},"b":{"length":1}}},"x":{"length":1}}"#,
        ] {
            check(ok.as_bytes()).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn shape_errors_are_named() {
        fn kind(e: &ShapeError) -> &'static str {
            match e {
                ShapeError::NotUtf8 => "NotUtf8",
                ShapeError::Syntax(_) => "Syntax",
                ShapeError::DuplicateKey(_) => "DuplicateKey",
                ShapeError::Envelope(_) => "Envelope",
                ShapeError::SignatureNotBase64 => "SignatureNotBase64",
            }
        }
        let cases: &[(&str, &str)] = &[
            ("[]", "Envelope"),
            ("\"x\"", "Envelope"),
            ("7", "Envelope"),
            (r#"{"signed":[]}"#, "Envelope"),
            (r#"{"signed":"x"}"#, "Envelope"),
            (r#"{"signed":{"_type":1}}"#, "Envelope"),
            (r#"{"signed":{"version":"1"}}"#, "Envelope"),
            (r#"{"signed":{"version":1.5}}"#, "Envelope"),
            (r#"{"signed":{"version":1e3}}"#, "Envelope"),
            (r#"{"signed":{"version":99999999999999999999}}"#, "Envelope"),
            (r#"{"signed":{"expires":"tomorrow"}}"#, "Envelope"),
            (r#"{"signed":{"expires":5}}"#, "Envelope"),
            (r#"{"signatures":{}}"#, "Envelope"),
            (r#"{"signatures":"abc"}"#, "Envelope"),
            (r#"{"signatures":[1]}"#, "Envelope"),
            (r#"{"signatures":[{"keyid":7}]}"#, "Envelope"),
            (r#"{"signatures":[{"method":[]}]}"#, "Envelope"),
            (
                r#"{"signatures":[{"sig":"not base64!"}]}"#,
                "SignatureNotBase64",
            ),
            (r#"{"signatures":[{"sig":12}]}"#, "Envelope"),
            ("{", "Syntax"),
            ("{} {}", "Syntax"),
            ("", "Syntax"),
        ];
        for (input, expected) in cases {
            let e = check(input.as_bytes()).expect_err(input);
            assert_eq!(kind(&e), *expected, "{input}: {e:?}");
        }
        assert_eq!(check(b"{\"a\":\"\xff\"}"), Err(ShapeError::NotUtf8));
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth() {
        for (input, key) in [
            (r#"{"signed":{},"signed":{}}"#, "signed"),
            (
                r#"{"signed":{"_type":"Targets","version":1,"version":2}}"#,
                "version",
            ),
            (
                r#"{"signed":{"targets":{"app":{"length":1},"app":{"length":2}}}}"#,
                "app",
            ),
            (r#"{"x":[{"a":1,"b":{"c":1,"c":1}}]}"#, "c"),
            // An escaped spelling is the same key once decoded.
            (r#"{"signed":{"a":1,"\u0061":2}}"#, "a"),
        ] {
            assert_eq!(
                check(input.as_bytes()),
                Err(ShapeError::DuplicateKey(key.to_string())),
                "{input}"
            );
        }
    }
}
