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

/// RFC 3394 AES key wrap with AES-128.
fn aes128_wrap(kek: &[u8; 16], key: &[u8]) -> Vec<u8> {
    use aes::cipher::BlockEncrypt;
    let cipher = aes::Aes128::new(GenericArray::from_slice(kek));
    let n = key.len() / 8;
    let mut a = [0xa6u8; 8];
    let mut r = Zeroizing::new(key.to_vec());
    for j in 0..6 {
        for i in 1..=n {
            let mut block = [0u8; 16];
            block[..8].copy_from_slice(&a);
            block[8..].copy_from_slice(&r[(i - 1) * 8..i * 8]);
            let mut ga = GenericArray::from(block);
            cipher.encrypt_block(&mut ga);
            let t = ((n * j + i) as u64).to_be_bytes();
            for k in 0..8 {
                a[k] = ga[k] ^ t[k];
            }
            r[(i - 1) * 8..i * 8].copy_from_slice(&ga[8..]);
            zeroize::Zeroize::zeroize(ga.as_mut_slice());
        }
    }
    let mut out = a.to_vec();
    out.extend_from_slice(&r);
    out
}

/// Encrypts `plaintext` as notary-signer does (random 12-byte salt, 8192 PBKDF2 iterations,
/// random content key and IV). Signet itself never writes these; benchmarks and tests use
/// it to fill a notary-signer database without running one.
pub fn encrypt(plaintext: &[u8], passphrase: &[u8]) -> String {
    encrypt_with(plaintext, passphrase, 8192)
}

/// [`encrypt`] with another PBKDF2 iteration count (Signet's archives use more).
pub fn encrypt_with(plaintext: &[u8], passphrase: &[u8], iterations: u32) -> String {
    use rand::RngCore;
    let iterations = iterations.clamp(1, MAX_P2C);
    let mut rng = rand::rngs::OsRng;
    let mut salt_input = [0u8; 12];
    rng.fill_bytes(&mut salt_input);
    let header = serde_json::json!({
        "alg": "PBES2-HS256+A128KW",
        "enc": "A256GCM",
        "p2c": iterations,
        "p2s": URL_SAFE_NO_PAD.encode(salt_input),
    });
    let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
    let mut salt = b"PBES2-HS256+A128KW\0".to_vec();
    salt.extend_from_slice(&salt_input);
    let mut kek = Zeroizing::new([0u8; 16]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::MIN.saturating_add(iterations - 1),
        &salt,
        passphrase,
        kek.as_mut(),
    );
    let mut cek = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(cek.as_mut());
    let mut iv = [0u8; 12];
    rng.fill_bytes(&mut iv);
    let wrapped = aes128_wrap(&kek, cek.as_ref());
    let mut buf = plaintext.to_vec();
    // A 32-byte key and a 12-byte nonce are always accepted.
    let sealed = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, cek.as_ref())
        .map(ring::aead::LessSafeKey::new)
        .and_then(|k| {
            k.seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(iv),
                ring::aead::Aad::from(header_b64.as_bytes()),
                &mut buf,
            )
        });
    let tag = sealed.map(|t| t.as_ref().to_vec()).unwrap_or_default();
    format!(
        "{header_b64}.{}.{}.{}.{}",
        URL_SAFE_NO_PAD.encode(wrapped),
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(&buf),
        URL_SAFE_NO_PAD.encode(tag)
    )
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
    fn key_wrap_round_trips_and_encrypted_keys_open_with_their_passphrase_only() {
        let kek = [7u8; 16];
        let key = [9u8; 32];
        assert_eq!(
            aes128_unwrap(&kek, &aes128_wrap(&kek, &key))
                .unwrap()
                .as_slice(),
            &key
        );
        let token = encrypt(b"private key bytes", b"alias pass");
        assert_eq!(
            decrypt(&token, b"alias pass").unwrap().as_slice(),
            b"private key bytes"
        );
        assert_eq!(
            decrypt(&token, b"other pass"),
            Err(JweError::WrongPassphrase)
        );
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[3] = URL_SAFE_NO_PAD.encode(b"tampered ciphertext");
        assert_eq!(
            decrypt(&parts.join("."), b"alias pass"),
            Err(JweError::Malformed("content does not authenticate"))
        );
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
