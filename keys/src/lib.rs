//! Signing keys in the format notary and docker keep in `~/.docker/trust/private`.
//!
//! - [`KeyId`], [`KeyType`], [`PublicKey`]: keys as TUF metadata lists them, and verification.
//! - [`PrivateKey`]: ECDSA P-256 (default), Ed25519 and RSA signing keys.
//! - [`certificate`]: root certificates (CN = GUN) and their parsing.
//! - [`key_file`]: the PEM key files with `role:`/`gun:` headers and notary's PKCS#8
//!   ([`pkcs8`]), plus the legacy `Proc-Type`-encrypted PEM ([`legacy_encryption`]) for reading.
//! - [`store::KeyStore`]: the `private/` directory of a trust dir.
//! - [`passphrase`]: where passphrases come from (docker/notary variables, files, prompts).

pub mod asn1;
pub mod certificate;
pub mod key_file;
pub mod key_id;
pub mod legacy_encryption;
pub mod passphrase;
pub mod pem;
pub mod pkcs8;
pub mod private_key;
pub mod public_key;
pub mod store;

pub use certificate::{root_certificate, Certificate, CertificateError};
pub use key_id::KeyId;
pub use private_key::{KeySignature, PreparedKey, PrivateKey};
pub use public_key::{KeyError, KeyType, PublicKey};
