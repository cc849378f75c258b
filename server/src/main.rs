//! `signet-server`: the Signet trust server binary.

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;
use signet_server::http::HttpConfig;
use signet_server::serve::{self, ServeConfig, TlsMode};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "signet-server",
    version,
    about = "Docker Content Trust (Notary v1) trust server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Notary v1 API (default: https://127.0.0.1:4443, SQLite in ./signet-data).
    Serve(ServeArgs),
}

#[derive(Args, Default)]
struct ServeArgs {
    /// TOML file with the same settings (flags and environment win over it).
    #[arg(long, env = "SIGNET_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, env = "SIGNET_LISTEN")]
    listen: Option<SocketAddr>,
    /// Directory for the database, TLS material and the generated signer passphrase.
    #[arg(long, env = "SIGNET_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database: a SQLite file path, or a postgres:// URL shared by several instances
    /// (default <data-dir>/signet.sqlite).
    #[arg(long, env = "SIGNET_DATABASE")]
    database: Option<String>,
    /// TLS certificate (PEM) instead of the generated self-signed one.
    #[arg(long, env = "SIGNET_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for --tls-cert.
    #[arg(long, env = "SIGNET_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Extra DNS names or IPs for the generated server certificate (repeatable).
    #[arg(long = "tls-san", env = "SIGNET_TLS_SAN", value_delimiter = ',')]
    tls_san: Vec<String>,
    /// Serve plain HTTP (allowed on loopback addresses only).
    #[arg(long, env = "SIGNET_INSECURE_HTTP")]
    insecure_http: bool,
    /// File holding the passphrase that encrypts server keys (else SIGNET_SIGNER_PASSPHRASE,
    /// else one generated into <data-dir>/signer.passphrase).
    #[arg(long, env = "SIGNET_SIGNER_PASSPHRASE_FILE")]
    signer_passphrase_file: Option<PathBuf>,
    /// Log filter (error, warn, info, debug, trace).
    #[arg(long, env = "SIGNET_LOG_LEVEL")]
    log_level: Option<String>,
    /// Cache-Control max-age for current metadata, seconds.
    #[arg(long, env = "SIGNET_CURRENT_MAX_AGE")]
    current_max_age: Option<u32>,
    /// Cache-Control max-age for checksum/version URLs, seconds.
    #[arg(long, env = "SIGNET_CONSISTENT_MAX_AGE")]
    consistent_max_age: Option<u32>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "SIGNET_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
}

/// The TOML config file: the same settings as the flags.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default)]
    tls_san: Vec<String>,
    insecure_http: Option<bool>,
    signer_passphrase_file: Option<PathBuf>,
    log_level: Option<String>,
    current_max_age: Option<u32>,
    consistent_max_age: Option<u32>,
    max_body_bytes: Option<usize>,
}

fn signer_passphrase(file: Option<&Path>, data_dir: &Path) -> Result<Zeroizing<String>, String> {
    if let Some(f) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?,
        );
        return Ok(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_string(),
        ));
    }
    if let Ok(p) = std::env::var("SIGNET_SIGNER_PASSPHRASE") {
        if !p.is_empty() {
            return Ok(Zeroizing::new(p));
        }
    }
    let path = data_dir.join("signer.passphrase");
    if let Ok(p) = std::fs::read_to_string(&path) {
        return Ok(Zeroizing::new(p.trim_end().to_string()));
    }
    serve::create_data_dir(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let pass = Zeroizing::new(hex::encode(raw));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, pass.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!(
        "warning: no signer passphrase configured; generated one in {} (set SIGNET_SIGNER_PASSPHRASE or --signer-passphrase-file in production)",
        path.display()
    );
    Ok(pass)
}

fn build_config(args: ServeArgs) -> Result<(ServeConfig, String), String> {
    let file: FileConfig = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => FileConfig::default(),
    };
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 4443)));
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("signet-data"));
    let database = match args.database.or(file.database) {
        None => None,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Some(serve::Database::Postgres(url))
        }
        Some(url) => Some(serve::Database::Sqlite(PathBuf::from(
            url.strip_prefix("sqlite://").unwrap_or(&url),
        ))),
    };
    let mut san = args.tls_san;
    san.extend(file.tls_san);
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => TlsMode::Files { cert, key },
        (None, None) if args.insecure_http || file.insecure_http.unwrap_or(false) => {
            TlsMode::Insecure
        }
        (None, None) => TlsMode::SelfSigned { extra_names: san },
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let defaults = HttpConfig::default();
    let http = HttpConfig {
        current_max_age: args
            .current_max_age
            .or(file.current_max_age)
            .unwrap_or(defaults.current_max_age),
        consistent_max_age: args
            .consistent_max_age
            .or(file.consistent_max_age)
            .unwrap_or(defaults.consistent_max_age),
        max_body_bytes: args
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes),
        max_part_bytes: defaults.max_part_bytes,
    };
    for (name, v) in [
        ("current", http.current_max_age),
        ("consistent", http.consistent_max_age),
    ] {
        if v > 31_536_000 {
            return Err(format!("{name} max-age must be at most 31536000 seconds"));
        }
    }
    let pass = signer_passphrase(
        args.signer_passphrase_file
            .or(file.signer_passphrase_file)
            .as_deref(),
        &data_dir,
    )?;
    let log = args
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    Ok((
        ServeConfig {
            listen,
            data_dir,
            database,
            tls,
            http,
            signer_passphrase: pass,
        },
        log,
    ))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let (cfg, log) = match build_config(args) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("signet-server: {e}");
                    return ExitCode::from(2);
                }
            };
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(log))
                .with_writer(std::io::stderr)
                .init();
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
            rt.block_on(async move {
                let running = match serve::start(cfg).await {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("signet-server: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                println!("signet-server listening on {}", running.url());
                if let Some(ca) = &running.ca_cert {
                    println!("TLS CA certificate: {}", ca.display());
                    println!(
                        "Trust it for docker with: mkdir -p \"$DOCKER_CONFIG/tls/{addr}\" && cp {ca} \"$DOCKER_CONFIG/tls/{addr}/ca.crt\"  (DOCKER_CONFIG defaults to ~/.docker)",
                        addr = running.addr,
                        ca = ca.display()
                    );
                }
                println!("No registries configured: open trust server on this address (no authentication).");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = sigterm() => {}
                }
                running.shutdown().await;
                ExitCode::SUCCESS
            })
        }
    }
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}
