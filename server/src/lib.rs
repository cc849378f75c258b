//! Signet trust server: the Notary v1 HTTP API over SQLite, with server-held keys.
//!
//! - [`serve::start`] runs the server; [`http`] is the API; [`update`] validates uploads as
//!   notary-server does; [`signer`] holds the timestamp/snapshot keys; [`store`] persists.

pub mod admin_api;
pub mod api_error;
pub mod auth;
pub mod backup;
pub mod clock_map;
pub mod compression;
pub mod expiry;
pub mod gc;
pub mod gun_locks;
pub mod healthcheck;
pub mod heap;
pub mod http;
pub mod import;
pub mod metrics;
pub mod multipart;
pub mod password_guard;
pub mod read_cache;
pub mod serve;
pub mod signer;
pub mod store;
pub mod tenancy;
pub mod tls;
pub mod token;
pub mod token_service;
pub mod update;
