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

/// A self-signed root certificate for `gun` as notary and docker make it: subject `CN=<gun>`
/// only, random serial, KeyUsage digitalSignature|keyEncipherment, ExtKeyUsage codeSigning,
/// basicConstraints CA=false, ECDSA-SHA256. Returns the `ecdsa-x509` key for root.json.
pub fn root_certificate(
    key: &PrivateKey,
    gun: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<PublicKey, CertificateError> {
    let pkcs8 = key
        .to_standard_pkcs8_der()
        .map_err(|e| CertificateError::Create(e.to_string()))?;
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_slice())
        .map_err(|e| CertificateError::Create(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, gun);
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| CertificateError::Create(e.to_string()))?;
    let pem = crate::pem::encode("CERTIFICATE", &[], cert.der());
    Ok(PublicKey::new(KeyType::EcdsaX509, pem.into_bytes()))
}
