//! `serve` and `gate`: starting the configured listeners, the startup banner, and running
//! until SIGINT or SIGTERM.

use crate::serve_args::LogSettings;
use signet_server::serve::{self, TlsMode};
use std::process::ExitCode;

/// `serve` and `gate`: starts the configured listeners and runs until SIGINT or SIGTERM.
pub(crate) fn run_server(config: Result<(serve::ServeConfig, LogSettings), String>) -> ExitCode {
    let (cfg, log) = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("signet-server: {e}");
            return ExitCode::from(2);
        }
    };
    log.install();
    // Database work runs on blocking threads; a small bound keeps memory flat under
    // load (every extra thread can bring its own allocator arena) while still letting
    // SQLite readers and PostgreSQL connections work in parallel.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signet-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The names in the generated certificate: what clients may call this server.
    let cert_names = match &cfg.tls {
        TlsMode::SelfSigned { extra_names } => extra_names.clone(),
        _ => Vec::new(),
    };
    let gate_upstream = cfg.gate.as_ref().map(|g| g.upstream.clone());
    let cfg_gate_only = cfg.gate.as_ref().is_some_and(|g| g.listen.is_none());
    rt.block_on(async move {
        let running = match serve::start(cfg).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("signet-server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let gate_only = cfg_gate_only;
        if let (Some(gate), Some(upstream)) = (running.gate_addr, &gate_upstream) {
            banner!(
                "signed-only registry gate listening on {}://{gate}, in front of {upstream}",
                running.scheme
            );
        }
        if !gate_only {
            banner!("signet-server listening on {}", running.url());
        }
        if let Some(ca) = &running.ca_cert {
            banner!("TLS CA certificate: {}", ca.display());
            // Clients name the server, never 0.0.0.0: on every interface, the folder
            // is named after the host clients use.
            let (hostport, note) = if running.addr.ip().is_unspecified() {
                let port = running.addr.port();
                match cert_names.first() {
                    Some(name) if name.contains(':') => (format!("[{name}]:{port}"), String::new()),
                    Some(name) => (format!("{name}:{port}"), String::new()),
                    None => (
                        format!("HOST:{port}"),
                        "; HOST: the name or address clients use for this server (add it to the certificate with --tls-san)".to_string(),
                    ),
                }
            } else {
                (running.addr.to_string(), String::new())
            };
            if gate_only {
                banner!(
                    "Trust it for dockerd with: mkdir -p /etc/docker/certs.d/{hostport} && cp {ca} /etc/docker/certs.d/{hostport}/ca.crt{note}",
                    ca = ca.display()
                );
            } else {
                banner!(
                    "Trust it for docker with: mkdir -p \"$DOCKER_CONFIG/tls/{hostport}\" && cp {ca} \"$DOCKER_CONFIG/tls/{hostport}/ca.crt\"  (DOCKER_CONFIG defaults to ~/.docker{note})",
                    ca = ca.display()
                );
            }
        }
        let registries = running.service.tenancy().registries.len();
        if gate_only {
            if registries == 0 {
                banner!("No registries configured: the gate serves only signed manifests of every repository (trust data under <the host clients address>/<repository>).");
            } else {
                banner!("{registries} registries configured: each one's gate policy applies (signet-server registry gate NAME).");
            }
        } else if registries == 0 {
            banner!("No registries configured: open trust server on this address (no authentication). Create a registry with `signet-server registry create` to require tokens.");
        } else {
            banner!("{registries} registries configured: trust routes require tokens from {}/oauth2/token", running.url());
        }
        if !gate_only {
            banner!("Token signing certificate (registry rootcertbundle): {}", running.token_cert.display());
            if let Some(f) = &running.operator_token_file {
                banner!("Admin API /admin/v1/ operator credential: {}", f.display());
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm() => {}
        }
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
