//! How the TUF client workflow reaches a trust server. [`trusted_repo`](crate::trusted_repo)
//! and the [`Editor`](crate::editor::Editor) only talk to a [`Transport`]: the HTTPS trust
//! server ([`HttpsTransport`], what docker talks to) is one implementation, an in-memory
//! repository ([`MemoryTransport`], for unit tests of the workflow) the other.

pub mod https;
pub mod memory;

pub use https::HttpsTransport;
pub use memory::MemoryTransport;

use crate::error::CliError;
use signet_keys::PublicKey;

/// Limits the reference client applies (protocol reference §1.11).
pub const TIMESTAMP_LIMIT: u64 = 1 << 20;
pub const DEFAULT_LIMIT: u64 = 100 << 20;
pub const KEY_LIMIT: u64 = 256 << 10;

/// The trust server's side of the Notary v1 protocol, as the client uses it.
pub trait Transport {
    /// Names the server in messages (its URL for HTTPS).
    fn server(&self) -> &str;

    /// A metadata file of a repository (`timestamp.json`, `snapshot.<sha256>.json`,
    /// `<v>.root.json`, ...); `Ok(None)` when the server has no such file. Bodies above
    /// `limit` bytes are refused.
    fn fetch(&self, gun: &str, file: &str, limit: u64) -> Result<Option<Vec<u8>>, CliError>;

    /// The public key the server holds for a server-managed role (`timestamp`, `snapshot`).
    fn server_key(&self, gun: &str, role: &str) -> Result<PublicKey, CliError>;

    /// Asks the server for a new key for a server-managed role.
    fn rotate_server_key(&self, gun: &str, role: &str) -> Result<PublicKey, CliError>;

    /// Publishes signed role files in one update (one part per role, named by the role).
    fn publish(&self, gun: &str, parts: &[(String, Vec<u8>)]) -> Result<(), CliError>;

    /// Signet's handover import: stores another server's files of a repository that does not
    /// exist yet (one part per file, named `<version>.<role>.json`); returns the server's
    /// report. Only Signet serves it.
    fn import(&self, gun: &str, parts: &[(String, Vec<u8>)])
        -> Result<serde_json::Value, CliError>;
}
