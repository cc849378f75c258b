//! Where docker keeps its client configuration: `$DOCKER_CONFIG` (else `~/.docker`), with
//! `config.json` (credentials) and `tls/<host:port>/` (CA certificates of trust servers).

use std::path::PathBuf;

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    }
}
