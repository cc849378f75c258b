//! PEM blocks with RFC 1421 headers, written byte-for-byte like Go's `encoding/pem`.
//!
//! Notary's key files carry `role:` and `gun:` headers, which most PEM libraries refuse.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PemError {
    #[error("no PEM block found")]
    NoBlock,
    #[error("PEM block {0:?} has no END line (truncated?)")]
    Unterminated(String),
    #[error("PEM block {0:?} body is not valid base64")]
    BadBase64(String),
    #[error("PEM header line is malformed")]
    BadHeader,
}

/// One decoded PEM block. The body is zeroized on drop because it may hold a private key.
pub struct Block {
    pub label: String,
    /// Headers in file order.
    pub headers: Vec<(String, String)>,
    pub data: Zeroizing<Vec<u8>>,
}

impl Block {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every PEM block in `input`, ignoring text between blocks.
pub fn parse_all(input: &[u8]) -> Result<Vec<Block>, PemError> {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let mut blocks = Vec::new();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|r| r.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut body = Zeroizing::new(String::new());
        let mut in_headers = true;
        let mut terminated = false;
        for line in lines.by_ref() {
            if line == end {
                terminated = true;
                break;
            }
            if in_headers {
                if line.is_empty() {
                    in_headers = false;
                    continue;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if !k.contains(' ') && !k.is_empty() {
                        headers.push((k.to_string(), v.trim().to_string()));
                        continue;
                    }
                }
                in_headers = false;
            }
            body.push_str(line.trim());
        }
        if !terminated {
            return Err(PemError::Unterminated(label.to_string()));
        }
        let data = Zeroizing::new(
            B64.decode(body.as_bytes())
                .map_err(|_| PemError::BadBase64(label.to_string()))?,
        );
        blocks.push(Block {
            label: label.to_string(),
            headers,
            data,
        });
    }
    Ok(blocks)
}

/// The first PEM block in `input`.
pub fn parse_one(input: &[u8]) -> Result<Block, PemError> {
    parse_all(input)?
        .into_iter()
        .next()
        .ok_or(PemError::NoBlock)
}

/// Encodes like Go's `pem.Encode`: headers sorted by name, a blank line after them, base64 in
/// 64-character lines.
pub fn encode(label: &str, headers: &[(&str, &str)], data: &[u8]) -> String {
    let mut sorted: Vec<&(&str, &str)> = headers.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    // Sized up front so the text (which may hold an unencrypted key) is never reallocated,
    // leaving no stray copies behind for the caller's Zeroizing wrapper to miss.
    let b64_len = data.len().div_ceil(3) * 4;
    let header_len: usize = sorted.iter().map(|(k, v)| k.len() + v.len() + 3).sum();
    let mut out =
        String::with_capacity(2 * label.len() + 32 + header_len + b64_len + b64_len / 64 + 2);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for (k, v) in &sorted {
        out.push_str(k);
        out.push_str(": ");
        out.push_str(v);
        out.push('\n');
    }
    if !sorted.is_empty() {
        out.push('\n');
    }
    let b64 = Zeroizing::new(B64.encode(data));
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_in_go_order() {
        let enc = encode(
            "PRIVATE KEY",
            &[("role", "targets"), ("gun", "a/b")],
            b"hello",
        );
        assert_eq!(
            enc,
            "-----BEGIN PRIVATE KEY-----\ngun: a/b\nrole: targets\n\naGVsbG8=\n-----END PRIVATE KEY-----\n"
        );
        let b = parse_one(enc.as_bytes()).unwrap();
        assert_eq!(b.header("gun"), Some("a/b"));
        assert_eq!(b.header("role"), Some("targets"));
        assert_eq!(&b.data[..], b"hello");
    }

    #[test]
    fn truncated_block_is_reported() {
        let err = parse_all(b"-----BEGIN PRIVATE KEY-----\nrole: root\n\naGVs\n").err();
        assert_eq!(err, Some(PemError::Unterminated("PRIVATE KEY".into())));
    }
}
