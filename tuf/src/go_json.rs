//! The escaping Go's `encoding/json` applies when it writes the signed envelope.
//!
//! The canonical `signed` bytes pass through Go's compactor, which escapes `<`, `>`, `&`,
//! U+2028 and U+2029; ordinary strings (signature fields) are also escaped that way plus
//! control characters. Hashes in snapshot and timestamp are over these wire bytes.

/// Escapes HTML characters and line/paragraph separators inside already-valid JSON.
pub fn html_escape(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        match b {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            // U+2028 / U+2029 are E2 80 A8 / E2 80 A9 in UTF-8.
            0xE2 if i + 2 < json.len()
                && json[i + 1] == 0x80
                && (json[i + 2] == 0xA8 || json[i + 2] == 0xA9) =>
            {
                out.extend_from_slice(if json[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                continue;
            }
            // Raw control bytes can only be inside strings in canonical output. Go's compactor
            // would refuse them (so Go never produces such a file); escaping keeps our output
            // valid JSON that parses back to the same value.
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b if b < 0x20 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// A string as Go's `json.Marshal` writes it.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            html_escape("{\"b\":\"<&>é\n\u{2028}\"}".as_bytes()),
            "{\"b\":\"\\u003c\\u0026\\u003eé\\n\\u2028\"}".as_bytes()
        );
        assert_eq!(
            string("a<b>\n\u{1}\"\\"),
            "\"a\\u003cb\\u003e\\n\\u0001\\\"\\\\\""
        );
    }
}
