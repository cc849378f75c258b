//! gzip for large metadata: bodies are compressed once, when they enter the read cache, and
//! served compressed to clients that send `Accept-Encoding: gzip`.
//!
//! Go's HTTP transport (docker, notary) asks for gzip on its own and decompresses
//! transparently, dropping the compressed length, so notary's size checks apply to the
//! decompressed bytes: the wire changes, what the client verifies does not. A targets file
//! shrinks by about 45% (its random hashes are most of it); small files (a timestamp) gain
//! nothing and stay plain.

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// Bodies shorter than this are never compressed: the gzip header and the client's
/// decompression cost more than the bytes saved.
pub const GZIP_MIN_BYTES: usize = 4096;

/// The gzip encoding of `body`, if it is large enough and compression actually saves at
/// least a tenth. CPU-bound (about 30 ms for 2 MB): call it off the async workers.
pub fn gzip_if_worthwhile(body: &[u8]) -> Option<Bytes> {
    if body.len() < GZIP_MIN_BYTES {
        return None;
    }
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 2), Compression::default());
    enc.write_all(body).ok()?;
    let out = enc.finish().ok()?;
    (out.len() <= body.len() - body.len() / 10).then(|| Bytes::from(out))
}

/// Whether the request's `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): a `gzip` or `*`
/// coding whose quality is not zero, unless `gzip` itself is refused with `q=0`.
/// `values` are the request's `Accept-Encoding` header values.
pub fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a str>) -> bool {
    let mut star = None;
    for value in values {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return !q_zero;
            }
            if coding == "*" {
                star = Some(!q_zero);
            }
        }
    }
    star.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn headers<'a>(values: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
        values.iter().copied()
    }

    #[test]
    fn accept_encoding_negotiation() {
        assert!(accepts_gzip(headers(&["gzip"])), "Go's transport default");
        assert!(accepts_gzip(headers(&["deflate, gzip;q=0.5"])));
        assert!(accepts_gzip(headers(&["br", "GZIP"])));
        assert!(accepts_gzip(headers(&["*"])));
        assert!(!accepts_gzip(headers(&[])));
        assert!(!accepts_gzip(headers(&["identity"])));
        assert!(!accepts_gzip(headers(&["gzip;q=0"])));
        assert!(!accepts_gzip(headers(&["gzip; q=0.000"])));
        assert!(
            !accepts_gzip(headers(&["*, gzip;q=0"])),
            "explicit refusal wins"
        );
        assert!(!accepts_gzip(headers(&["*;q=0"])));
    }

    #[test]
    fn large_bodies_round_trip_and_small_ones_stay_plain() {
        assert!(gzip_if_worthwhile(&[b'a'; GZIP_MIN_BYTES - 1]).is_none());
        let body: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("\"tag-{i}\":{{\"hashes\":{{}},\"length\":{i}}},").into_bytes())
            .collect();
        let gz = gzip_if_worthwhile(&body).expect("compressible");
        assert!(gz.len() < body.len() / 2, "{} of {}", gz.len(), body.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, body);
        // Random bytes do not shrink: no compressed copy is kept.
        use rand::{RngCore, SeedableRng};
        let mut noise = vec![0u8; 8192];
        rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut noise);
        assert!(gzip_if_worthwhile(&noise).is_none());
    }
}
