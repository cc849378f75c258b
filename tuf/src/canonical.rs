//! Canonical JSON exactly as notary's `docker/go/canonical/json` writes it.
//!
//! No whitespace; object keys sorted bytewise; strings with only `"` and `\` escaped and every
//! other byte (control characters, `<>&`, U+2028, non-ASCII) copied raw, with no Unicode
//! normalisation; whole floats written as integers. Signatures are made and checked over
//! `canonical(parse(signed))`, so this encoder must work from a generic JSON value.

use serde_json::Value;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error(
        "number {0} has a fractional part or is not finite; canonical JSON allows integers only"
    )]
    NonIntegerNumber(String),
}

/// Canonical bytes of a JSON value.
pub fn to_canonical(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value)?;
    Ok(out)
}

fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // serde_json's Map is a BTreeMap<String, _> (preserve_order is off in this
            // workspace), whose order is bytewise: exactly Go's sort of string keys.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k);
                out.push(b':');
                write_value(out, v)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_number(out: &mut Vec<u8>, n: &serde_json::Number) -> Result<(), CanonicalError> {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else {
        // Go decodes into float64 and writes whole values through int64.
        let f = n.as_f64().unwrap_or(f64::NAN);
        if !f.is_finite() || f.fract() != 0.0 || f.abs() >= 9.2e18 {
            return Err(CanonicalError::NonIntegerNumber(n.to_string()));
        }
        out.extend_from_slice((f as i64).to_string().as_bytes());
    }
    Ok(())
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The example verified against notary's Go encoder (protocol reference §4.1).
    #[test]
    fn matches_go_encoder_vector() {
        let v: Value =
            serde_json::from_str(r#"{"b":"<&>é\n\t\"\\","a":1.0,"c":[true,null]}"#).unwrap();
        assert_eq!(
            to_canonical(&v).unwrap(),
            "{\"a\":1,\"b\":\"<&>é\n\t\\\"\\\\\",\"c\":[true,null]}".as_bytes()
        );
    }

    #[test]
    fn fractions_are_refused() {
        let v: Value = serde_json::from_str(r#"{"a":1.5}"#).unwrap();
        assert!(to_canonical(&v).is_err());
    }

    #[test]
    fn prefix_keys_sort_bytewise() {
        let v: Value =
            serde_json::from_str(r#"{"ab":1,"a":2,"_type":3,"B":4,"é":5,"z":6}"#).unwrap();
        assert_eq!(
            to_canonical(&v).unwrap(),
            r#"{"B":4,"_type":3,"a":2,"ab":1,"z":6,"é":5}"#.as_bytes()
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let string = prop_oneof![
            "[a-z<>&\"\\\\]{0,6}",
            "\\PC{0,6}",
            Just("\u{2028}\u{2029}".to_string()),
            Just("e\u{301}".to_string()), // non-NFC: must not be normalised
            Just("\u{0}\u{1f}\n\t".to_string()),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            string.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((prop_oneof!["[ab]{0,3}", "\\PC{0,3}"], inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_is_a_fixed_point(v in arb_json()) {
            let once = to_canonical(&v).unwrap();
            // Canonical bytes may hold raw control characters, which JSON parsers refuse; they
            // travel in the envelope's escaped form.
            let wire = crate::go_json::html_escape(&once);
            let reparsed: Value = serde_json::from_slice(&wire).unwrap();
            prop_assert_eq!(to_canonical(&reparsed).unwrap(), once);
        }
    }
}
