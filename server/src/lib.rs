//! Signet trust server: the Notary v1 HTTP API over SQLite, with server-held keys.
//!
//! Layers, each depending only on those below it:
//!
//! - [`http`]: axum routes, extractors, responses, tower layers and the connection handling;
//! - [`service`]: the trust service (reads, publishes, server keys, changefeed, the access
//!   decision, the token service), with no HTTP types;
//! - the domain: [`update`] validates uploads as notary-server does, [`store`] persists,
//!   [`signer`] holds the timestamp/snapshot keys, [`tenancy`] models registries and roles,
//!   [`read_cache`] keeps current metadata in memory, [`import`] brings other servers' data
//!   and [`foreign_keys`] keeps what was imported without its timestamp key read-only;
//! - `signet-tuf` and `signet-keys`.
//!
//! [`serve::start`] puts them together.

pub mod api_error;
pub mod auth;
pub mod backup;
pub mod clock_map;
pub mod compression;
pub mod expiry;
pub mod foreign_keys;
pub mod gate;
pub mod gc;
pub mod gun_locks;
pub mod healthcheck;
pub mod heap;
pub mod http;
pub mod image_name;
pub mod import;
pub mod maintenance;
pub mod metrics;
pub mod multipart;
pub mod password_guard;
pub mod read_cache;
pub mod serve;
pub mod service;
pub mod signer;
pub mod store;
pub mod tenancy;
pub mod timespan;
pub mod tls;
pub mod token;
pub mod update;
pub mod validated_roots;
