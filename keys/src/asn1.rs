//! A minimal DER reader and writer for the few fixed structures notary's key files use.
//!
//! Notary writes PKCS#8 that standard parsers reject (EC version 1 without a public key, a
//! private OID for Ed25519), so the structures are walked by hand; this module only knows
//! tag-length-value framing, never what the values mean.

use thiserror::Error;

pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_BIT_STRING: u8 = 0x03;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_NULL: u8 = 0x05;
pub const TAG_OID: u8 = 0x06;
pub const TAG_SEQUENCE: u8 = 0x30;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum Asn1Error {
    #[error("DER data ends early")]
    Truncated,
    #[error("expected DER tag 0x{expected:02x}, found 0x{found:02x}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("DER length is not in minimal or supported form")]
    BadLength,
    #[error("DER integer does not fit")]
    IntegerRange,
}

/// Reads consecutive TLVs from a byte slice.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// Next TLV: its tag and value.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), Asn1Error> {
        let (&tag, rest) = self.data.split_first().ok_or(Asn1Error::Truncated)?;
        let (&first, mut rest) = rest.split_first().ok_or(Asn1Error::Truncated)?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(Asn1Error::BadLength);
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | b as usize;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err(Asn1Error::Truncated);
        }
        let (value, remaining) = rest.split_at(len);
        self.data = remaining;
        Ok((tag, value))
    }

    pub fn expect(&mut self, tag: u8) -> Result<&'a [u8], Asn1Error> {
        let (found, value) = self.any()?;
        if found != tag {
            return Err(Asn1Error::UnexpectedTag {
                expected: tag,
                found,
            });
        }
        Ok(value)
    }

    pub fn sequence(&mut self) -> Result<Reader<'a>, Asn1Error> {
        Ok(Reader::new(self.expect(TAG_SEQUENCE)?))
    }

    /// A non-negative INTEGER that fits in a u64.
    pub fn small_uint(&mut self) -> Result<u64, Asn1Error> {
        let bytes = self.expect(TAG_INTEGER)?;
        if bytes.is_empty() || bytes.len() > 9 || bytes[0] & 0x80 != 0 {
            return Err(Asn1Error::IntegerRange);
        }
        let mut v: u64 = 0;
        for &b in bytes {
            if v > (u64::MAX >> 8) {
                return Err(Asn1Error::IntegerRange);
            }
            v = (v << 8) | b as u64;
        }
        Ok(v)
    }
}

/// Appends one TLV to `out`.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
}

pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    write_tlv(&mut out, tag, value);
    out
}

/// A SEQUENCE of already-encoded elements.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    let body: Vec<u8> = parts.concat();
    tlv(TAG_SEQUENCE, &body)
}

pub fn small_uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    let mut body = bytes[skip..].to_vec();
    if body[0] & 0x80 != 0 {
        body.insert(0, 0);
    }
    tlv(TAG_INTEGER, &body)
}

/// Object identifiers as their DER value bytes (without tag and length).
pub mod oid {
    /// id-ecPublicKey 1.2.840.10045.2.1
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// prime256v1 1.2.840.10045.3.1.7
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// rsaEncryption 1.2.840.113549.1.1.1
    pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// Notary's private Ed25519 OID 1.3.6.1.4.1.11591.15.1
    pub const ED25519_NOTARY: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01];
    /// RFC 8410 Ed25519 1.3.101.112
    pub const ED25519_RFC8410: &[u8] = &[0x2b, 0x65, 0x70];
    /// PBES2 1.2.840.113549.1.5.13
    pub const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
    /// PBKDF2 1.2.840.113549.1.5.12
    pub const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
    /// hmacWithSHA1 1.2.840.113549.2.7
    pub const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
    /// aes256-CBC 2.16.840.1.101.3.4.1.42
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        let value = vec![7u8; 300];
        let enc = tlv(TAG_OCTET_STRING, &value);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let mut r = Reader::new(&enc);
        assert_eq!(r.expect(TAG_OCTET_STRING).unwrap(), &value[..]);
        assert!(r.is_empty());
    }

    #[test]
    fn truncated_value_is_an_error() {
        let mut r = Reader::new(&[0x04, 0x05, 1, 2]);
        assert_eq!(r.any(), Err(Asn1Error::Truncated));
    }

    #[test]
    fn integers() {
        assert_eq!(small_uint(2048), vec![0x02, 0x02, 0x08, 0x00]);
        assert_eq!(small_uint(0), vec![0x02, 0x01, 0x00]);
        assert_eq!(small_uint(128), vec![0x02, 0x02, 0x00, 0x80]);
        let enc = small_uint(2048);
        assert_eq!(Reader::new(&enc).small_uint().unwrap(), 2048);
    }
}
