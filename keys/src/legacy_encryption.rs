//! The old OpenSSL PEM encryption (`Proc-Type: 4,ENCRYPTED` + `DEK-Info`) that notary before
//! 0.4 wrote with Go's `x509.EncryptPEMBlock`, and that `openssl ec -aes256` still writes.
//!
//! The key is derived with OpenSSL's MD5-based `EVP_BytesToKey` (one iteration, the first 8
//! bytes of the IV as salt). It is weak, so it is only ever read, never written.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};
use thiserror::Error;
use zeroize::Zeroizing;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LegacyEncryptionError {
    #[error("encrypted PEM block has no DEK-Info header")]
    MissingDekInfo,
    #[error("DEK-Info header is malformed")]
    MalformedDekInfo,
    #[error("unsupported legacy PEM cipher {0} (only AES-128/192/256-CBC)")]
    UnsupportedCipher(String),
    #[error("encrypted PEM body is not whole AES blocks")]
    BadLength,
    /// The padding after decryption is wrong: in practice a wrong passphrase.
    #[error("incorrect passphrase")]
    IncorrectPassphrase,
}

/// `EVP_BytesToKey(MD5, salt = iv[..8], count = 1)` as Go's `x509.DecryptPEMBlock` does it.
fn derive_key(passphrase: &[u8], salt: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 16));
    let mut digest: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::new());
    while out.len() < len {
        let mut h = Md5::new();
        h.update(&digest[..]);
        h.update(passphrase);
        h.update(salt);
        *digest = h.finalize().to_vec();
        out.extend_from_slice(&digest);
    }
    out.truncate(len);
    out
}

/// Decrypts the body of a legacy encrypted PEM block given its `DEK-Info` header value.
pub fn decrypt(
    dek_info: Option<&str>,
    ciphertext: &[u8],
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, LegacyEncryptionError> {
    let dek = dek_info.ok_or(LegacyEncryptionError::MissingDekInfo)?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or(LegacyEncryptionError::MalformedDekInfo)?;
    let key_len = match cipher.trim() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        other => return Err(LegacyEncryptionError::UnsupportedCipher(other.to_string())),
    };
    let iv: [u8; 16] = hex::decode(iv_hex.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(LegacyEncryptionError::MalformedDekInfo)?;
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(LegacyEncryptionError::BadLength);
    }
    let key = derive_key(passphrase, &iv[..8], key_len);
    let mut buf = Zeroizing::new(ciphertext.to_vec());
    let plain_len = match key_len {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
            .map_err(|_| LegacyEncryptionError::MalformedDekInfo)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, &iv)
            .map_err(|_| LegacyEncryptionError::MalformedDekInfo)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &iv)
            .map_err(|_| LegacyEncryptionError::MalformedDekInfo)?
            .decrypt_padded_mut::<Pkcs7>(&mut buf)
            .map(|p| p.len()),
    }
    .map_err(|_| LegacyEncryptionError::IncorrectPassphrase)?;
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenSSL's `EVP_BytesToKey` output for a known input (computed with
    /// `openssl enc -aes-256-cbc -pass pass:password -S 0102030405060708 -P -md md5`, no -iter).
    #[test]
    fn key_derivation_matches_openssl() {
        let key = derive_key(b"password", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        assert_eq!(
            hex::encode(&key[..]).to_uppercase(),
            "E7B0971E52CA5CC8D0539FB3412F6316F7BA2E6EE293D9F3457B99436B51CE02"
        );
    }

    #[test]
    fn unsupported_cipher_is_named() {
        assert_eq!(
            decrypt(Some("DES-EDE3-CBC,0011223344556677"), &[0u8; 16], b"x").err(),
            Some(LegacyEncryptionError::UnsupportedCipher(
                "DES-EDE3-CBC".into()
            ))
        );
    }
}
