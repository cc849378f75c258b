//! The Notary dialect of TUF.
//!
//! - [`canonical`]: canonical JSON as docker/go writes it; signatures are over
//!   `canonical(parse(signed))`.
//! - [`Root`], [`Targets`], [`Snapshot`], [`Timestamp`]: one type per role; [`Signed`] pairs
//!   a typed role with its [`Envelope`] (raw bytes as received, generic `signed`, signatures).
//! - [`sign_and_serialize`]: the producer, byte-identical to what notary's Go code writes.
//! - [`upload_shape::check`]: the envelope shape notary-server requires of an upload, and no
//!   repeated keys.
//! - Verification as methods: [`Envelope::verify_threshold`], [`Signed::check_expiry`],
//!   [`FileMeta::check_hashes`], and [`root_policy::validate_root`] for root certificates.

pub mod canonical;
pub mod error;
pub mod file_meta;
pub mod go_json;
pub mod go_time;
pub mod history;
pub mod key_object;
pub mod role_name;
pub mod root;
pub mod root_policy;
pub mod signed;
pub mod snapshot;
pub mod targets;
pub mod timestamp;
pub mod upload_shape;

pub use error::TufError;
pub use file_meta::{sha256_hex, FileMeta, HashBytes};
pub use go_time::GoTime;
pub use key_object::KeyObject;
pub use root::{RoleKeySet, RoleKeys, Root};
pub use signed::{
    envelope_bytes, serialize_with, sign_and_serialize, Envelope, Role, Signature, Signed,
    SignedRoot, SignedSnapshot, SignedTargets, SignedTimestamp,
};
pub use snapshot::Snapshot;
pub use targets::{DelegatedRole, Delegations, Targets};
pub use timestamp::Timestamp;
