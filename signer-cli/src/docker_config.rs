//! Where docker keeps its client configuration: `$DOCKER_CONFIG` (else `~/.docker`), with
//! `config.json` (credentials) and `tls/<host:port>/` (CA certificates of trust servers).

use std::path::{Path, PathBuf};

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker"),
    }
}

/// CA files for the trust server: `--tlscacert`, else `$DOCKER_CONFIG/tls/<host:port>/*.crt`.
pub fn trust_server_ca_files(server: &str, explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let hostport = server
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or("");
    let dir = docker_config_dir().join("tls").join(hostport);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
