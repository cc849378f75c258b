//! `signet-server serve`'s settings: flags, environment, the TOML file, and the checks that
//! turn them into a [`ServeConfig`] (and where the admin commands find the same data).

use crate::DbArgs;
use clap::Args;
use serde::Deserialize;
use signet_server::http::HttpConfig;
use signet_server::serve::{self, ServeConfig, TlsMode};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Args, Default)]
pub(crate) struct ServeArgs {
    /// TOML file with the same settings (flags and environment win over it).
    #[arg(long, env = "SIGNET_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on: 127.0.0.1:4443, localhost:4443, [::1]:4443, or :4443
    /// for every interface.
    #[arg(long, env = "SIGNET_LISTEN")]
    listen: Option<String>,
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
    /// Log level: error, warn, info (one line per request), debug or trace.
    #[arg(long, env = "SIGNET_LOG_LEVEL")]
    log_level: Option<String>,
    /// Log line format: text or json.
    #[arg(long, env = "SIGNET_LOG_FORMAT")]
    log_format: Option<String>,
    /// Longest a request may take, body included, seconds (answered 408 after).
    #[arg(long, env = "SIGNET_REQUEST_TIMEOUT")]
    request_timeout: Option<u64>,
    /// Longest a TLS handshake may take, seconds.
    #[arg(long, env = "SIGNET_TLS_HANDSHAKE_TIMEOUT")]
    tls_handshake_timeout: Option<u64>,
    /// Longest a request's headers may take to arrive, seconds.
    #[arg(long, env = "SIGNET_HEADER_READ_TIMEOUT")]
    header_read_timeout: Option<u64>,
    /// A connection idle this long (no request in flight, no bytes moving) is closed, seconds.
    #[arg(long, env = "SIGNET_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// Connections served at once (more wait in the listen backlog).
    #[arg(long, env = "SIGNET_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// On SIGTERM, how long in-flight requests get to finish, seconds.
    #[arg(long, env = "SIGNET_SHUTDOWN_GRACE")]
    shutdown_grace: Option<u64>,
    /// Cache-Control max-age for current metadata, seconds.
    #[arg(long, env = "SIGNET_CURRENT_MAX_AGE")]
    current_max_age: Option<u32>,
    /// Cache-Control max-age for checksum/version URLs, seconds.
    #[arg(long, env = "SIGNET_CONSISTENT_MAX_AGE")]
    consistent_max_age: Option<u32>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "SIGNET_MAX_BODY_BYTES")]
    max_body_bytes: Option<usize>,
    /// Memory for cached current metadata, MiB (0 disables the cache).
    #[arg(long, env = "SIGNET_READ_CACHE_MIB")]
    read_cache_mib: Option<usize>,
    /// How often the background pass renews server-held metadata and refreshes the expiry
    /// gauges (e.g. 1h, 10m).
    #[arg(long, env = "SIGNET_MAINTENANCE_INTERVAL")]
    maintenance_interval: Option<String>,
    /// Renew a server-held timestamp or snapshot that expires within this span (e.g. 3d).
    #[arg(long, env = "SIGNET_RENEW_AHEAD")]
    renew_ahead: Option<String>,
    /// `iss` of issued tokens (a registry's auth.token.issuer must match).
    #[arg(long, env = "SIGNET_TOKEN_ISSUER")]
    token_issuer: Option<String>,
    /// Service name of the trust routes (challenge `service`, token `aud`).
    #[arg(long, env = "SIGNET_TOKEN_SERVICE")]
    token_service: Option<String>,
    /// Token endpoint URL announced in challenges (default: https://<request host>/oauth2/token).
    #[arg(long, env = "SIGNET_TOKEN_REALM")]
    token_realm: Option<String>,
    /// Lifetime of issued access tokens, seconds.
    #[arg(long, env = "SIGNET_TOKEN_TTL")]
    token_ttl: Option<i64>,
    /// File with the operator credential for /admin/v1/ (else SIGNET_OPERATOR_TOKEN, else one
    /// generated into <data-dir>/operator.token).
    #[arg(long, env = "SIGNET_OPERATOR_TOKEN_FILE")]
    operator_token_file: Option<PathBuf>,
    /// Token-endpoint password checks running at once (each argon2id hash takes 19 MiB);
    /// default: the number of CPUs, between 2 and 4.
    #[arg(long, env = "SIGNET_PASSWORD_CHECK_THREADS")]
    password_check_threads: Option<usize>,
    /// Also serve the signed-only registry gate in front of this registry URL
    /// (http(s)://host[:port]), on --gate-listen.
    #[arg(long, env = "SIGNET_GATE_UPSTREAM", requires = "gate_listen")]
    gate_upstream: Option<String>,
    /// Where the gate listens beside the trust API (HOST:PORT, :PORT).
    #[arg(long, env = "SIGNET_GATE_LISTEN", requires = "gate_upstream")]
    gate_listen: Option<String>,
    /// CA (PEM) to trust for an HTTPS gate upstream, besides the system roots.
    #[arg(long, env = "SIGNET_GATE_UPSTREAM_CA")]
    gate_upstream_ca: Option<PathBuf>,
}

/// `signet-server gate`: the serve settings with the gate on --listen instead of the trust API.
pub(crate) fn build_gate_config(
    mut args: ServeArgs,
    upstream: String,
    upstream_ca: Option<PathBuf>,
) -> Result<(ServeConfig, LogSettings), String> {
    args.gate_upstream = None;
    args.gate_listen = None;
    let (mut cfg, log) = build_config(args)?;
    cfg.gate = Some(serve::GateConfig {
        upstream,
        upstream_ca,
        listen: None,
    });
    Ok((cfg, log))
}

/// The TOML config file: the same settings as the flags.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileConfig {
    pub(crate) listen: Option<String>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) database: Option<String>,
    pub(crate) tls_cert: Option<PathBuf>,
    pub(crate) tls_key: Option<PathBuf>,
    #[serde(default)]
    pub(crate) tls_san: Vec<String>,
    pub(crate) insecure_http: Option<bool>,
    pub(crate) signer_passphrase_file: Option<PathBuf>,
    pub(crate) log_level: Option<String>,
    pub(crate) log_format: Option<String>,
    pub(crate) request_timeout: Option<u64>,
    pub(crate) tls_handshake_timeout: Option<u64>,
    pub(crate) header_read_timeout: Option<u64>,
    pub(crate) idle_timeout: Option<u64>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) shutdown_grace: Option<u64>,
    pub(crate) current_max_age: Option<u32>,
    pub(crate) consistent_max_age: Option<u32>,
    pub(crate) max_body_bytes: Option<usize>,
    pub(crate) read_cache_mib: Option<usize>,
    pub(crate) maintenance_interval: Option<String>,
    pub(crate) renew_ahead: Option<String>,
    pub(crate) token_issuer: Option<String>,
    pub(crate) token_service: Option<String>,
    pub(crate) token_realm: Option<String>,
    pub(crate) token_ttl: Option<i64>,
    pub(crate) operator_token_file: Option<PathBuf>,
    pub(crate) password_check_threads: Option<usize>,
}

pub(crate) fn read_file_config(path: Option<&Path>) -> Result<FileConfig, String> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
        }
        None => Ok(FileConfig::default()),
    }
}

pub(crate) fn database_from(url: Option<String>) -> Option<serve::Database> {
    match url {
        None => None,
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Some(serve::Database::Postgres(url))
        }
        Some(url) => Some(serve::Database::Sqlite(PathBuf::from(
            url.strip_prefix("sqlite://").unwrap_or(&url),
        ))),
    }
}

/// The data directory and database the admin commands work on (same rules as `serve`).
pub(crate) fn admin_storage(db: &DbArgs) -> Result<(PathBuf, Option<serve::Database>), String> {
    let file = read_file_config(db.config.as_deref())?;
    let data_dir = db
        .data_dir
        .clone()
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("signet-data"));
    Ok((
        data_dir,
        database_from(db.database.clone().or(file.database)),
    ))
}

/// Like [`admin_storage`], for commands that work on an existing server's data: a SQLite
/// database that does not exist yet is refused with where it was looked for, instead of
/// quietly creating a new, empty one the running server never sees.
pub(crate) fn existing_storage(db: &DbArgs) -> Result<(PathBuf, Option<serve::Database>), String> {
    let (data_dir, database) = admin_storage(db)?;
    let sqlite = match &database {
        None => Some(data_dir.join("signet.sqlite")),
        Some(serve::Database::Sqlite(p)) => Some(p.clone()),
        Some(serve::Database::Postgres(_)) => None,
    };
    if let Some(serve::Database::Postgres(url)) = &database {
        let found = signet_server::store::postgres::has_signet_schema(url)
            .map_err(|e| format!("opening the database: {e}"))?;
        if !found {
            return Err("this PostgreSQL database has no Signet tables: point --database (or SIGNET_DATABASE, --config) at the one the servers use; only `signet-server serve` creates them".into());
        }
    }
    if let Some(path) = sqlite.filter(|p| !p.is_file()) {
        let shown = std::path::absolute(&path).unwrap_or(path);
        return Err(format!(
            "no Signet database at {}: run this where the server keeps its data, or point at it with --data-dir DIR (or SIGNET_DATA_DIR, --database, --config); only `signet-server serve` and `restore` create one",
            shown.display()
        ));
    }
    Ok((data_dir, database))
}

pub(crate) fn read_secret_file(f: &Path) -> Result<Zeroizing<String>, String> {
    let text =
        Zeroizing::new(std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?);
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("{}: empty", f.display()));
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}

pub(crate) fn signer_passphrase(
    file: Option<&Path>,
    data_dir: &Path,
) -> Result<Zeroizing<String>, String> {
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

/// `HOST:PORT` as operators write it: an IP address (`[::1]` for IPv6), `localhost`, a host
/// name this machine resolves, or nothing before the colon for every interface (as Go's
/// servers, docker's and notary's among them, read `:4443`).
pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let bad = |why: &str| {
        format!(
            "--listen '{s}': {why} (use HOST:PORT such as 127.0.0.1:4443, localhost:4443 or :4443)"
        )
    };
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port is not a number up to 65535"))?;
    match host {
        "" => Ok(SocketAddr::from(([0, 0, 0, 0], port))),
        "localhost" => Ok(SocketAddr::from(([127, 0, 0, 1], port))),
        h => std::net::ToSocketAddrs::to_socket_addrs(&(h, port))
            .map_err(|e| bad(&format!("cannot resolve '{h}': {e}")))?
            .next()
            .ok_or_else(|| bad(&format!("'{h}' resolves to no address"))),
    }
}

/// How the server logs.
pub(crate) struct LogSettings {
    level: &'static str,
    json: bool,
}

impl LogSettings {
    fn parse(level: Option<String>, format: Option<String>) -> Result<LogSettings, String> {
        let level = match level.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None | Some("info") => "info",
            Some("error") => "error",
            Some("warn") | Some("warning") => "warn",
            Some("debug") => "debug",
            Some("trace") => "trace",
            Some(other) => {
                return Err(format!(
                    "log level {other:?} is not one of error, warn, info, debug, trace"
                ))
            }
        };
        let json = match format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => return Err(format!("log format {other:?} is not text or json")),
        };
        Ok(LogSettings { level, json })
    }

    /// Logs go to stderr, without colours unless it is a terminal.
    pub(crate) fn install(&self) {
        use std::io::IsTerminal;
        let filter = tracing_subscriber::EnvFilter::new(self.level);
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal());
        if self.json {
            builder.json().init();
        } else {
            builder.init();
        }
    }
}

/// A number of seconds from a flag or the file, within `1..=max`.
pub(crate) fn seconds(
    name: &str,
    value: Option<u64>,
    default: std::time::Duration,
    max: u64,
) -> Result<std::time::Duration, String> {
    match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(std::time::Duration::from_secs(v)),
        Some(v) => Err(format!(
            "{name} must be between 1 and {max} seconds, not {v}"
        )),
    }
}

pub(crate) fn build_config(args: ServeArgs) -> Result<(ServeConfig, LogSettings), String> {
    let file = read_file_config(args.config.as_deref())?;
    let listen = match args.listen.or(file.listen) {
        Some(l) => parse_listen(&l)?,
        None => SocketAddr::from(([127, 0, 0, 1], 4443)),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("signet-data"));
    let database = database_from(args.database.or(file.database));
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
    let gate = match (args.gate_upstream, args.gate_listen) {
        (Some(upstream), Some(l)) => Some(serve::GateConfig {
            upstream,
            upstream_ca: args.gate_upstream_ca,
            listen: Some(parse_listen(&l)?),
        }),
        _ => None,
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
        read_cache_bytes: match args.read_cache_mib.or(file.read_cache_mib) {
            Some(mib) if mib > 1 << 20 => {
                return Err("read cache must be at most 1048576 MiB".into())
            }
            Some(mib) => mib << 20,
            None => defaults.read_cache_bytes,
        },
        request_timeout: seconds(
            "request timeout",
            args.request_timeout.or(file.request_timeout),
            defaults.request_timeout,
            3600,
        )?,
        connections: signet_server::http::listener::Limits {
            handshake_timeout: seconds(
                "TLS handshake timeout",
                args.tls_handshake_timeout.or(file.tls_handshake_timeout),
                defaults.connections.handshake_timeout,
                300,
            )?,
            header_read_timeout: seconds(
                "header read timeout",
                args.header_read_timeout.or(file.header_read_timeout),
                defaults.connections.header_read_timeout,
                300,
            )?,
            idle_timeout: seconds(
                "idle timeout",
                args.idle_timeout.or(file.idle_timeout),
                defaults.connections.idle_timeout,
                3600,
            )?,
            max_connections: match args.max_connections.or(file.max_connections) {
                None => defaults.connections.max_connections,
                Some(n) if (1..=1_000_000).contains(&n) => n,
                Some(n) => {
                    return Err(format!(
                        "max connections must be between 1 and 1000000, not {n}"
                    ))
                }
            },
            shutdown_grace: seconds(
                "shutdown grace",
                args.shutdown_grace.or(file.shutdown_grace),
                defaults.connections.shutdown_grace,
                3600,
            )?,
        },
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
    let log = LogSettings::parse(
        args.log_level.or(file.log_level),
        args.log_format.or(file.log_format),
    )?;
    let defaults = signet_server::auth::AuthConfig::default();
    let operator_token = match args.operator_token_file.or(file.operator_token_file) {
        Some(f) => Some(read_secret_file(&f)?),
        None => std::env::var("SIGNET_OPERATOR_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(Zeroizing::new),
    };
    let token_ttl = args
        .token_ttl
        .or(file.token_ttl)
        .unwrap_or(defaults.token_ttl_secs);
    if !(60..=86_400).contains(&token_ttl) {
        return Err("token TTL must be between 60 and 86400 seconds".into());
    }
    let password_check_threads = args
        .password_check_threads
        .or(file.password_check_threads)
        .unwrap_or(defaults.password_checks.workers);
    if !(1..=64).contains(&password_check_threads) {
        return Err("password check threads must be between 1 and 64".into());
    }
    let auth = signet_server::auth::AuthConfig {
        issuer: args
            .token_issuer
            .or(file.token_issuer)
            .unwrap_or(defaults.issuer),
        service: args
            .token_service
            .or(file.token_service)
            .unwrap_or(defaults.service),
        realm: args.token_realm.or(file.token_realm),
        token_ttl_secs: token_ttl,
        refresh_ttl_secs: defaults.refresh_ttl_secs,
        operator_token,
        password_checks: signet_server::password_guard::GuardConfig {
            workers: password_check_threads,
            ..defaults.password_checks
        },
    };
    let maintenance = {
        let defaults = signet_server::maintenance::MaintenanceConfig::default();
        let span = |flag: &str, v: Option<String>| {
            v.map(|s| {
                signet_server::timespan::parse_duration(&s).map_err(|e| format!("--{flag}: {e}"))
            })
            .transpose()
        };
        let interval = span(
            "maintenance-interval",
            args.maintenance_interval.or(file.maintenance_interval),
        )?
        .map(|d| d.unsigned_abs())
        .unwrap_or(defaults.interval);
        let renew_ahead = span("renew-ahead", args.renew_ahead.or(file.renew_ahead))?
            .unwrap_or(defaults.renew_ahead);
        if interval < std::time::Duration::from_secs(1) {
            return Err("--maintenance-interval must be at least 1s".into());
        }
        if renew_ahead > time::Duration::days(365) {
            return Err("--renew-ahead must be at most 365d".into());
        }
        signet_server::maintenance::MaintenanceConfig {
            interval,
            renew_ahead,
        }
    };
    Ok((
        ServeConfig {
            maintenance,
            listen,
            data_dir,
            database,
            tls,
            http,
            signer_passphrase: pass,
            auth,
            gate,
        },
        log,
    ))
}
