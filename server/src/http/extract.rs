//! Extractors: the bearer token, `Accept-Encoding`, the request's host, and the multipart
//! upload of a publish.

use crate::api_error::{ApiError, ErrorCode};
use crate::multipart::{self, MultipartError, Part};
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, Uri};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::convert::Infallible;

/// The `Authorization: Bearer` token, if any.
pub struct Bearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Bearer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Bearer(bearer(&parts.headers).map(str::to_string)))
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    crate::auth::bearer_credential(headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// Whether the client takes gzip (`Accept-Encoding`).
pub struct AcceptsGzip(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptsGzip {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(AcceptsGzip(Self::of(&parts.headers)))
    }
}

impl AcceptsGzip {
    pub fn of(headers: &HeaderMap) -> bool {
        crate::compression::accepts_gzip(
            headers
                .get_all(ACCEPT_ENCODING)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }
}

/// The host the client addressed: the one `Host` header (HTTP/1) or the URI's authority
/// (HTTP/2). The token realm is built from it, so a missing, repeated or malformed one is
/// refused.
pub fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Result<&'a str, ApiError> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h.to_str().ok(),
        (None, None) => uri.authority().map(|a| a.as_str()),
        _ => None,
    };
    match host {
        Some(h) if valid_host(h) => Ok(h),
        _ => Err(ApiError::with_detail(
            ErrorCode::InvalidParameters,
            serde_json::Value::from("the request needs exactly one valid Host header"),
        )),
    }
}

/// `host[:port]` with a DNS name, an IPv4 address or a bracketed IPv6 address.
fn valid_host(h: &str) -> bool {
    let b = h.as_bytes();
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return false;
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after.as_bytes() {
            [] => return true,
            [b':', port @ ..] => (None, Some(port)),
            _ => return false,
        }
    } else {
        match b.iter().rposition(|&c| c == b':') {
            Some(i) => (Some(&b[..i]), Some(&b[i + 1..])),
            None => (Some(b), None),
        }
    };
    port.is_none_or(port_ok) && name.is_none_or(dns_name_ok)
}

/// The port after a `:`: 1–5 digits, at most 65535.
fn port_ok(port: &[u8]) -> bool {
    !port.is_empty()
        && port.len() <= 5
        && port.iter().all(u8::is_ascii_digit)
        && port.iter().fold(0u32, |v, d| v * 10 + u32::from(d - b'0')) <= u32::from(u16::MAX)
}

/// Dot-separated labels of letters, digits, '-' and '_', each 1–63 bytes, 253 in all.
fn dns_name_ok(n: &[u8]) -> bool {
    if n.is_empty() || n.len() > 253 {
        return false;
    }
    let mut label = 0usize;
    for &c in n {
        if c == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
            label += 1;
            if label > 63 {
                return false;
            }
        } else {
            return false;
        }
    }
    label > 0
}

/// Reads and drops a body that will not be used, after the answer has gone out: a client
/// still sending it when the answer comes would otherwise see the connection reset (a
/// broken pipe) instead of the answer. Bounded in bytes and time.
pub fn discard_in_background(body: Body) {
    const DISCARD_BYTES: usize = 16 << 20;
    const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(5);
    tokio::spawn(async move {
        let mut body = body;
        let mut seen = 0usize;
        let _ = tokio::time::timeout(DISCARD_TIME, async {
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len());
                if seen > DISCARD_BYTES {
                    break;
                }
            }
        })
        .await;
    });
}

/// The parts of a publish's multipart body, and the body's size.
pub struct Upload {
    pub parts: Vec<Part>,
    pub body_len: usize,
}

impl Upload {
    /// Reads and splits the body: a declared length over `max_body` is refused at once
    /// (413) without waiting for bytes, a body that grows past it is cut off (413), and a
    /// body that breaks off (a broken chunked encoding, a reset) is a malformed upload (400).
    pub async fn read(
        req: Request<Body>,
        max_body: usize,
        max_part: usize,
    ) -> Result<Upload, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let boundary = multipart::boundary(content_type)
            .map_err(|_| ApiError::new(ErrorCode::MalformedUpload))?;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body as u64) {
            discard_in_background(req.into_body());
            return Err(ApiError::new(ErrorCode::PayloadTooLarge));
        }
        let body = match Limited::new(req.into_body(), max_body).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return Err(ApiError::new(ErrorCode::PayloadTooLarge))
            }
            Err(_) => return Err(ApiError::new(ErrorCode::MalformedUpload)),
        };
        let parts = match multipart::parse(&body, &boundary, max_part) {
            Ok(p) => p,
            Err(MultipartError::PartTooLarge(_)) => {
                return Err(ApiError::new(ErrorCode::PayloadTooLarge))
            }
            Err(_) => return Err(ApiError::new(ErrorCode::MalformedUpload)),
        };
        Ok(Upload {
            parts,
            body_len: body.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_values() {
        for ok in [
            "127.0.0.1:4443",
            "notary.example.com",
            "notary.example.com:443",
            "[::1]:4443",
            "[::1]",
            "localhost",
        ] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "evil\"realm",
            "host:",
            "host:99999",
            "host:1:2",
            "[::1",
            "[zz]:1",
            "a..b",
            "x/y",
        ] {
            assert!(!valid_host(bad), "{bad:?}");
        }
    }

    /// The byte-loop check against the definition it replaced (whose `u16` parse also took a
    /// port of `+80`, which no client sends), on every string of up to five of the bytes that
    /// matter, and some longer ones.
    #[test]
    fn host_check_matches_its_definition() {
        fn by_definition(h: &str) -> bool {
            let (name, port) = if let Some(rest) = h.strip_prefix('[') {
                let Some((addr, after)) = rest.split_once(']') else {
                    return false;
                };
                if addr.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                if after.is_empty() {
                    return true;
                }
                match after.strip_prefix(':') {
                    Some(p) => (None, Some(p)),
                    None => return false,
                }
            } else {
                match h.rsplit_once(':') {
                    Some((n, p)) => (Some(n), Some(p)),
                    None => (Some(h), None),
                }
            };
            let port_ok = port.is_none_or(|p| {
                !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
            });
            let name_ok = name.is_none_or(|n| {
                !n.is_empty()
                    && n.len() <= 253
                    && n.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    })
            });
            port_ok && name_ok
        }
        let mut words =
            crate::image_name::every_string(&["a", "9", ".", ":", "-", "_", "[", "]", " "], 5);
        let long_label = "a".repeat(64);
        words.extend(
            [
                "[::1]:5000",
                "[::1]",
                "[::1]x",
                "[fe80::1]:65535",
                "host:65536",
                "host:99999",
                "host:123456",
                "example.com:443",
                &format!("{long_label}.com"),
                &format!("{}.com", &long_label[1..]),
            ]
            .map(String::from),
        );
        for w in &words {
            assert_eq!(valid_host(w), by_definition(w), "{w:?}");
        }
    }
}
