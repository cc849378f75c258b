//! X.509 certificates as notary uses them: root keys are self-signed certificates whose CN is
//! the GUN, carried in metadata as PEM text.

use crate::private_key::PrivateKey;
use crate::public_key::{KeyType, PublicKey};
use thiserror::Error;
use time::OffsetDateTime;
use x509_cert::der::{self, Decode, Encode, Tagged};
use x509_cert::Certificate as X509;

#[derive(Debug, Error)]
pub enum CertificateError {
    #[error("no certificate in PEM data")]
    Empty,
    #[error("PEM data holds something other than certificates")]
    NotCertificates,
    #[error("certificate does not parse: {0}")]
    Parse(String),
    #[error("certificate public key is neither P-256 ECDSA nor RSA")]
    UnsupportedPublicKey,
    #[error("creating certificate: {0}")]
    Create(String),
}

// Signature algorithms with SHA-1, which notary refuses.
const SHA1_SIGNATURE_OIDS: &[&str] = &[
    "1.2.840.113549.1.1.5", // sha1WithRSAEncryption
    "1.2.840.10045.4.1",    // ecdsa-with-SHA1
    "1.2.840.10040.4.3",    // dsa-with-sha1
    "1.3.14.3.2.29",        // sha1WithRSASignature (OIW)
];
const OID_COMMON_NAME: &str = "2.5.4.3";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";

/// A parsed certificate with the facts notary's checks need.
#[derive(Clone, Debug)]
pub struct Certificate {
    cn: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    is_ca: bool,
    signature_oid: String,
    public_key: PublicKey,
    rsa_bits: Option<usize>,
    der: Vec<u8>,
}

impl Certificate {
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, CertificateError> {
        let cert = X509::from_der(der_bytes).map_err(|e| CertificateError::Parse(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let mut cn = String::new();
        for rdn in tbs.subject.0.iter() {
            for atv in rdn.0.iter() {
                if atv.oid.to_string() == OID_COMMON_NAME {
                    cn = directory_string(&atv.value)?;
                }
            }
        }
        let not_before = to_time(tbs.validity.not_before.to_unix_duration())?;
        let not_after = to_time(tbs.validity.not_after.to_unix_duration())?;
        let mut is_ca = false;
        if let Some(exts) = &tbs.extensions {
            for ext in exts {
                if ext.extn_id.to_string() == OID_BASIC_CONSTRAINTS {
                    let bc =
                        x509_cert::ext::pkix::BasicConstraints::from_der(ext.extn_value.as_bytes())
                            .map_err(|e| CertificateError::Parse(e.to_string()))?;
                    is_ca = bc.ca;
                }
            }
        }
        let spki_der = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| CertificateError::Parse(e.to_string()))?;
        let alg = tbs.subject_public_key_info.algorithm.oid.to_string();
        let (public_key, rsa_bits) = if alg == OID_EC {
            // Only P-256 keys can sign in notary; anything else is refused here.
            crate::public_key::p256_from_spki(&spki_der)
                .map_err(|_| CertificateError::UnsupportedPublicKey)?;
            (PublicKey::new(KeyType::Ecdsa, spki_der), None)
        } else if alg == OID_RSA {
            use rsa::traits::PublicKeyParts;
            let key = crate::public_key::rsa_from_spki(&spki_der)
                .map_err(|_| CertificateError::UnsupportedPublicKey)?;
            let bits = key.n().bits();
            (PublicKey::new(KeyType::Rsa, spki_der), Some(bits))
        } else {
            return Err(CertificateError::UnsupportedPublicKey);
        };
        Ok(Certificate {
            cn,
            not_before,
            not_after,
            is_ca,
            signature_oid: cert.signature_algorithm.oid.to_string(),
            public_key,
            rsa_bits,
            der: der_bytes.to_vec(),
        })
    }

    /// Every certificate in a PEM bundle, in order. Any other PEM block type is an error.
    pub fn parse_pem_chain(pem: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
        let blocks =
            crate::pem::parse_all(pem).map_err(|e| CertificateError::Parse(e.to_string()))?;
        if blocks.is_empty() {
            return Err(CertificateError::Empty);
        }
        blocks
            .iter()
            .map(|b| {
                if b.label != "CERTIFICATE" {
                    return Err(CertificateError::NotCertificates);
                }
                Certificate::from_der(&b.data)
            })
            .collect()
    }

    pub fn cn(&self) -> &str {
        &self.cn
    }
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }
    pub fn uses_sha1(&self) -> bool {
        SHA1_SIGNATURE_OIDS.contains(&self.signature_oid.as_str())
    }
    /// Modulus size for RSA keys, `None` for ECDSA.
    pub fn rsa_bits(&self) -> Option<usize> {
        self.rsa_bits
    }
    /// The bare key (`ecdsa` or `rsa` with DER SPKI) — its ID is the canonical key ID.
    pub fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &[], &self.der)
    }
}

fn to_time(d: std::time::Duration) -> Result<OffsetDateTime, CertificateError> {
    OffsetDateTime::from_unix_timestamp(d.as_secs() as i64)
        .map_err(|e| CertificateError::Parse(e.to_string()))
}

fn directory_string(any: &der::Any) -> Result<String, CertificateError> {
    // CN is PrintableString or UTF8String in practice; accept the byte-compatible string types.
    match any.tag() {
        der::Tag::Utf8String
        | der::Tag::PrintableString
        | der::Tag::Ia5String
        | der::Tag::TeletexString => String::from_utf8(any.value().to_vec())
            .map_err(|_| CertificateError::Parse("CN is not valid UTF-8".into())),
        other => Err(CertificateError::Parse(format!(
            "unsupported CN string type {other}"
        ))),
    }
}

/// How long notary's and docker's root certificates are valid: ten years of 365 days.
pub const ROOT_CERT_VALIDITY: time::Duration = time::Duration::days(3650);

/// [`root_certificate`] valid from now for [`ROOT_CERT_VALIDITY`], as `notary init` and
/// docker make it.
pub fn new_root_certificate(key: &PrivateKey, gun: &str) -> Result<PublicKey, CertificateError> {
    let now = OffsetDateTime::now_utc();
    root_certificate(key, gun, now, now + ROOT_CERT_VALIDITY)
}

/// A self-signed root certificate for `gun` as notary and docker make it: subject `CN=<gun>`
/// only, random 128-bit serial, KeyUsage digitalSignature|keyEncipherment (critical),
/// ExtKeyUsage codeSigning, basicConstraints CA=false (critical), ECDSA-SHA256, and no other
/// extension. The DER is what Go's `x509.CreateCertificate` writes for notary's template, so
/// the certificate has the same structure byte for byte apart from key, serial, times and
/// signature. Returns the `ecdsa-x509` key for root.json. Only ECDSA P-256 keys are accepted,
/// as notary only makes root certificates for those.
pub fn root_certificate(
    key: &PrivateKey,
    gun: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<PublicKey, CertificateError> {
    use crate::asn1::{sequence, tlv, TAG_BIT_STRING, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID};
    let PrivateKey::Ecdsa(secret) = key else {
        return Err(CertificateError::Create(format!(
            "root certificates need an ECDSA P-256 key, not {}",
            key.algorithm()
        )));
    };
    if not_after <= not_before {
        return Err(CertificateError::Create(
            "NotAfter is not after NotBefore".into(),
        ));
    }
    const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
    const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
    const TRUE: &[u8] = &[0x01, 0x01, 0xff];

    // Go: rand.Int(rand.Reader, 2^128), encoded as a minimal positive INTEGER.
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    let mut serial_body: Vec<u8> = serial.iter().copied().skip_while(|&b| b == 0).collect();
    if serial_body.first().is_none_or(|&b| b & 0x80 != 0) {
        serial_body.insert(0, 0);
    }
    let alg = sequence(&[&tlv(TAG_OID, ECDSA_WITH_SHA256)]);
    let name = sequence(&[&tlv(
        0x31,
        &sequence(&[&tlv(TAG_OID, CN), &go_directory_string(gun)]),
    )]);
    let validity = sequence(&[&go_time(not_before)?, &go_time(not_after)?]);
    let spki = crate::public_key::p256_spki(&secret.public_key());
    let extension = |oid: &[u8], critical: bool, value: &[u8]| {
        let mut parts: Vec<Vec<u8>> = vec![tlv(TAG_OID, oid)];
        if critical {
            parts.push(TRUE.to_vec());
        }
        parts.push(tlv(TAG_OCTET_STRING, value));
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        sequence(&refs)
    };
    // digitalSignature (bit 0) | keyEncipherment (bit 2) = 0b101, 5 unused bits.
    let key_usage = tlv(TAG_BIT_STRING, &[0x05, 0xa0]);
    let ext_key_usage = sequence(&[&tlv(TAG_OID, CODE_SIGNING)]);
    // CA=false is the DEFAULT, so DER leaves it out.
    let basic_constraints = sequence(&[]);
    let extensions = sequence(&[
        &extension(KEY_USAGE, true, &key_usage),
        &extension(EXT_KEY_USAGE, false, &ext_key_usage),
        &extension(BASIC_CONSTRAINTS, true, &basic_constraints),
    ]);
    let tbs = sequence(&[
        &tlv(0xa0, &tlv(TAG_INTEGER, &[2])),
        &tlv(TAG_INTEGER, &serial_body),
        &alg,
        &name,
        &validity,
        &name,
        &spki,
        &tlv(0xa3, &extensions),
    ]);
    let signature: p256::ecdsa::Signature = {
        use p256::ecdsa::signature::Signer;
        p256::ecdsa::SigningKey::from(secret).sign(&tbs)
    };
    let mut sig_bits = vec![0u8];
    sig_bits.extend_from_slice(signature.to_der().as_bytes());
    let der = sequence(&[&tbs, &alg, &tlv(TAG_BIT_STRING, &sig_bits)]);
    // Parse back once so a certificate we hand out is one we accept ourselves.
    Certificate::from_der(&der)?;
    let pem = crate::pem::encode("CERTIFICATE", &[], &der);
    Ok(PublicKey::new(KeyType::EcdsaX509, pem.into_bytes()))
}

/// The CN value with the string type Go's `encoding/asn1` picks for an untyped string:
/// PrintableString when every character is in its set (`*` and `&` excluded), else UTF8String.
fn go_directory_string(s: &str) -> Vec<u8> {
    let printable = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    let tag = if printable { 0x13 } else { 0x0c };
    crate::asn1::tlv(tag, s.as_bytes())
}

/// X.509 time as Go writes it: UTCTime for 1950–2049, GeneralizedTime otherwise, whole
/// seconds in UTC.
fn go_time(t: OffsetDateTime) -> Result<Vec<u8>, CertificateError> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let (tag, year) = if (1950..2050).contains(&t.year()) {
        (0x17, format!("{:02}", t.year() % 100))
    } else if (0..=9999).contains(&t.year()) {
        (0x18, format!("{:04}", t.year()))
    } else {
        return Err(CertificateError::Create(format!(
            "year {} cannot be written in a certificate",
            t.year()
        )));
    };
    let text = format!(
        "{year}{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(crate::asn1::tlv(tag, text.as_bytes()))
}
