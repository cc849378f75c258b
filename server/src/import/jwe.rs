//! notary-signer's encrypted private keys: JWE compact serialisation with the key wrapped by
//! `PBES2-HS256+A128KW` (PBKDF2-HMAC-SHA256 of the alias passphrase, AES key wrap) and the
//! content encrypted with `A256GCM` (RFC 7516/7518), as notary-signer writes them through
//! jose2go.

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, KeyInit};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JweError {
    #[error("not a JWE compact token ({0})")]
    Malformed(&'static str),
    #[error("unsupported JWE algorithms alg={alg} enc={enc} (notary-signer writes PBES2-HS256+A128KW with A256GCM)")]
    Unsupported { alg: String, enc: String },
    #[error("the passphrase does not decrypt this key")]
    WrongPassphrase,
}

/// PBKDF2 iteration counts above this are refused: jose2go writes 8192, and an absurd count
/// in a tampered row must not stall the import.
const MAX_P2C: u32 = 1_000_000;

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    enc: String,
    p2s: String,
    p2c: u32,
    #[serde(default)]
    zip: Option<String>,
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, JweError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| JweError::Malformed(what))
}

/// RFC 3394 AES key unwrap with AES-128; `None` when the integrity check fails.
fn aes128_unwrap(kek: &[u8; 16], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return None;
    }
    let cipher = aes::Aes128::new(GenericArray::from_slice(kek));
    let n = wrapped.len() / 8 - 1;
    let mut a = [0u8; 8];
    a.copy_from_slice(&wrapped[..8]);
    let mut r = Zeroizing::new(wrapped[8..].to_vec());
    for j in (0..6).rev() {
        for i in (1..=n).rev() {
            let t = (n * j + i) as u64;
            let mut block = [0u8; 16];
            for (k, b) in t.to_be_bytes().iter().enumerate() {
                block[k] = a[k] ^ b;
            }
            block[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            let mut ga = GenericArray::from(block);
            cipher.decrypt_block(&mut ga);
            a.copy_from_slice(&ga[..8]);
            r[(i - 1) * 8..i * 8].copy_from_slice(&ga[8..]);
            zeroize::Zeroize::zeroize(ga.as_mut_slice());
        }
    }
    (a == [0xa6; 8]).then_some(r)
}

/// Decrypts a notary-signer `private` column with its alias passphrase.
pub fn decrypt(token: &str, passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header_b64, wrapped, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::Malformed("expected five dot-separated parts"));
    };
    let header: Header = serde_json::from_slice(&b64(header_b64, "header")?)
        .map_err(|_| JweError::Malformed("header JSON"))?;
    if header.alg != "PBES2-HS256+A128KW" || header.enc != "A256GCM" || header.zip.is_some() {
        return Err(JweError::Unsupported {
            alg: header.alg,
            enc: header.enc,
        });
    }
    if header.p2c == 0 || header.p2c > MAX_P2C {
        return Err(JweError::Malformed("p2c out of range"));
    }
    let mut salt = b"PBES2-HS256+A128KW\0".to_vec();
    salt.extend_from_slice(&b64(&header.p2s, "p2s")?);
    let mut kek = Zeroizing::new([0u8; 16]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(header.p2c).ok_or(JweError::Malformed("p2c"))?,
        &salt,
        passphrase,
        kek.as_mut(),
    );
    let cek =
        aes128_unwrap(&kek, &b64(wrapped, "encrypted key")?).ok_or(JweError::WrongPassphrase)?;
    let iv = b64(iv, "iv")?;
    let nonce = ring::aead::Nonce::try_assume_unique_for_key(&iv)
        .map_err(|_| JweError::Malformed("iv must be 12 bytes"))?;
    let key = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &cek)
        .map_err(|_| JweError::Malformed("content key must be 32 bytes"))?;
    let mut buf = Zeroizing::new(b64(ciphertext, "ciphertext")?);
    buf.extend_from_slice(&b64(tag, "tag")?);
    let plain_len = ring::aead::LessSafeKey::new(key)
        .open_in_place(
            nonce,
            ring::aead::Aad::from(header_b64.as_bytes()),
            &mut buf,
        )
        // The key unwrapped, so the passphrase was right: the content was altered.
        .map_err(|_| JweError::Malformed("content does not authenticate"))?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3394 §4.1: 128-bit key data wrapped with a 128-bit KEK.
    #[test]
    fn key_unwrap_matches_rfc3394() {
        let kek: [u8; 16] = hex::decode("000102030405060708090A0B0C0D0E0F")
            .unwrap()
            .try_into()
            .unwrap();
        let wrapped = hex::decode("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5").unwrap();
        let key = aes128_unwrap(&kek, &wrapped).unwrap();
        assert_eq!(
            hex::encode(key.as_slice()),
            "00112233445566778899aabbccddeeff"
        );
        let mut bad = wrapped.clone();
        bad[3] ^= 1;
        assert!(aes128_unwrap(&kek, &bad).is_none());
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(
            decrypt("a.b.c", b"x"),
            Err(JweError::Malformed("expected five dot-separated parts"))
        );
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"dir","enc":"A256GCM","p2s":"","p2c":1}"#);
        assert!(matches!(
            decrypt(&format!("{header}.a.b.c.d"), b"x"),
            Err(JweError::Unsupported { .. })
        ));
    }
}
