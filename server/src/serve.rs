//! Starting the server: storage, signer, TLS and the accept loop.

use crate::auth::AuthConfig;
use crate::http::HttpConfig;
use crate::service::{ServiceConfig, ServiceParts, TrustService};
use crate::signer::Signer;
use crate::store::{PgStore, SqliteStore, Store};
use crate::tls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use thiserror::Error;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

#[derive(Clone, Debug)]
pub enum TlsMode {
    /// Generate (once) a CA and server certificate under `<data-dir>/tls/`.
    SelfSigned {
        extra_names: Vec<String>,
    },
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Plain HTTP, loopback only.
    Insecure,
}

#[derive(Clone, Debug)]
pub enum Database {
    Sqlite(PathBuf),
    /// A `postgres://` URL; several instances may share it.
    Postgres(String),
}

/// The signed-only registry gate (`http::gate`) in front of a registry.
#[derive(Clone, Debug)]
pub struct GateConfig {
    /// The registry: `http(s)://host[:port][/prefix]`.
    pub upstream: String,
    /// A CA (PEM) to trust for an HTTPS upstream, besides the system roots.
    pub upstream_ca: Option<PathBuf>,
    /// Where the gate listens beside the trust API; `None`: on `listen`, instead of it
    /// (`signet-server gate`).
    pub listen: Option<SocketAddr>,
}

#[derive(Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Where metadata lives; `None` is SQLite in `<data-dir>/signet.sqlite`.
    pub database: Option<Database>,
    pub tls: TlsMode,
    pub http: HttpConfig,
    pub signer_passphrase: Zeroizing<String>,
    /// Token service settings; an unset operator credential is generated into
    /// `<data-dir>/operator.token`.
    pub auth: AuthConfig,
    /// Background renewal ahead of expiry and the expiry gauges.
    pub maintenance: crate::maintenance::MaintenanceConfig,
    /// The signed-only registry gate, if one is served.
    pub gate: Option<GateConfig>,
}

#[derive(Debug, Error)]
pub enum ServeError {
    #[error("refusing to serve plain HTTP on non-loopback address {0}")]
    InsecureNonLoopback(SocketAddr),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Signer(#[from] crate::signer::SignerError),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("starting: {0}")]
    Startup(String),
    #[error("{0}")]
    TokenKey(#[from] crate::token::TokenKeyError),
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running server.
pub struct Running {
    /// The trust API's address (the gate's, when only the gate is served).
    pub addr: SocketAddr,
    /// The gate's address, when one is served.
    pub gate_addr: Option<SocketAddr>,
    /// The CA clients should trust (self-signed mode).
    pub ca_cert: Option<PathBuf>,
    pub scheme: &'static str,
    pub service: Arc<TrustService>,
    /// PEM certificate of the token signing key (a registry's `rootcertbundle`).
    pub token_cert: PathBuf,
    /// Where the generated operator credential was written (when none was configured).
    pub operator_token_file: Option<PathBuf>,
    shutdown: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting connections, lets in-flight requests finish (within the configured
    /// grace period) and waits for that.
    pub async fn shutdown(mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }

    /// Waits until the server stops (it runs until shut down).
    pub async fn wait(mut self) {
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

/// Creates the data directory (mode 0700: it holds the sealed keys' database, the TLS keys
/// and possibly the generated signer passphrase). An existing directory is left as it is.
pub fn create_data_dir(path: &std::path::Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
}

/// Opens the configured database (SQLite in `<data-dir>/signet.sqlite` by default). Blocking.
pub fn open_store(
    database: Option<&Database>,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn Store>, crate::store::StoreError> {
    Ok(match database {
        None => Arc::new(SqliteStore::open(&data_dir.join("signet.sqlite"))?),
        Some(Database::Sqlite(path)) => Arc::new(SqliteStore::open(path)?),
        Some(Database::Postgres(url)) => Arc::new(PgStore::open(url)?),
    })
}

fn write_file(path: &std::path::Path, data: &[u8], mode: u32) -> Result<(), ServeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| ServeError::File {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(data).map_err(err)
}

/// Reads a secret file, or creates it (0600) with 32 random bytes in hex.
fn read_or_create_secret(path: &std::path::Path) -> Result<Zeroizing<String>, ServeError> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = Zeroizing::new(s);
        let trimmed = s.trim();
        if !trimmed.is_empty() {
            return Ok(Zeroizing::new(trimmed.to_string()));
        }
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, raw.as_mut());
    let secret = Zeroizing::new(hex::encode(raw.as_ref()));
    write_file(path, secret.as_bytes(), 0o600)?;
    Ok(secret)
}

pub async fn start(cfg: ServeConfig) -> Result<Running, ServeError> {
    if matches!(cfg.tls, TlsMode::Insecure) && !cfg.listen.ip().is_loopback() {
        return Err(ServeError::InsecureNonLoopback(cfg.listen));
    }
    create_data_dir(&cfg.data_dir).map_err(|source| ServeError::DataDir {
        path: cfg.data_dir.display().to_string(),
        source,
    })?;
    // Opening the database (the PostgreSQL client is blocking) and deriving the signer's
    // key-encryption key (argon2id) both block: keep them off the async runtime.
    let (database, data_dir, passphrase) = (
        cfg.database.clone(),
        cfg.data_dir.clone(),
        cfg.signer_passphrase.clone(),
    );
    let issuer = cfg.auth.issuer.clone();
    let (store, signer, token_keys, tenancy) =
        tokio::task::spawn_blocking(move || -> Result<_, ServeError> {
            let store = open_store(database.as_ref(), &data_dir)?;
            let signer = Arc::new(Signer::open(store.clone(), passphrase.as_bytes())?);
            let keys = crate::token::TokenKeys::load_or_create(store.as_ref(), &signer, &issuer)?;
            let tenancy = crate::tenancy::load(store.as_ref())?;
            Ok((store, signer, Arc::new(keys), tenancy))
        })
        .await
        .map_err(|e| ServeError::Startup(e.to_string()))??;
    let token_cert = cfg.data_dir.join("token-signing.crt");
    write_file(&token_cert, token_keys.certificate_pem().as_bytes(), 0o644)?;
    let mut auth = cfg.auth.clone();
    let mut operator_token_file = None;
    if auth.operator_token.is_none() {
        let path = cfg.data_dir.join("operator.token");
        auth.operator_token = Some(read_or_create_secret(&path)?);
        operator_token_file = Some(path);
    }
    let (acceptor, ca_cert, scheme) = match &cfg.tls {
        TlsMode::SelfSigned { extra_names } => {
            let ss = tls::ensure_self_signed(&cfg.data_dir, extra_names)?;
            let sc = tls::server_config(&ss.server_cert, &ss.server_key)?;
            (
                Some(tokio_rustls::TlsAcceptor::from(sc)),
                Some(ss.ca_cert),
                "https",
            )
        }
        TlsMode::Files { cert, key } => {
            let sc = tls::server_config(cert, key)?;
            (Some(tokio_rustls::TlsAcceptor::from(sc)), None, "https")
        }
        TlsMode::Insecure => (None, None, "http"),
    };
    let bind = |addr: SocketAddr| async move {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = l
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok::<_, ServeError>((l, local))
    };
    let (listener, addr) = bind(cfg.listen).await?;
    let gate_listener = match cfg.gate.as_ref().and_then(|g| g.listen) {
        Some(a) => {
            if matches!(cfg.tls, TlsMode::Insecure) && !a.ip().is_loopback() {
                return Err(ServeError::InsecureNonLoopback(a));
            }
            Some(bind(a).await?)
        }
        None => None,
    };
    let service = TrustService::new(ServiceParts {
        store,
        signer,
        config: ServiceConfig {
            read_cache_bytes: cfg.http.read_cache_bytes,
            maintenance: Some(cfg.maintenance.clone()),
        },
        auth,
        token_keys,
        tenancy,
    });
    let gate_router = match &cfg.gate {
        Some(g) => {
            let upstream = crate::http::gate::upstream::Upstream::parse(&g.upstream)
                .map_err(ServeError::Startup)?;
            let client = crate::http::gate::upstream::client(g.upstream_ca.as_deref())
                .map_err(ServeError::Startup)?;
            Some(crate::http::gate::router(
                service.clone(),
                upstream,
                client,
                scheme,
            ))
        }
        None => None,
    };
    // The gate speaks HTTP/1.1 only: its refusals carry their message in the status line's
    // reason phrase too, which HTTP/2 does not have (containerd reads no body on HEAD).
    let gate_acceptor = acceptor.as_ref().map(|a| {
        let mut c = (*a.config().clone()).clone();
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(c))
    });
    let mut listeners = Listeners {
        limits: cfg.http.connections.clone(),
        shutdown: Vec::new(),
        tasks: Vec::new(),
    };
    let mut gate_addr = None;
    match (gate_router, gate_listener) {
        (Some(gate), Some((gl, ga))) => {
            listeners.spawn(
                listener,
                acceptor,
                crate::http::router(service.clone(), &cfg.http, scheme),
            );
            listeners.spawn(gl, gate_acceptor, gate);
            gate_addr = Some(ga);
        }
        (Some(gate), None) => {
            listeners.spawn(listener, gate_acceptor, gate);
            gate_addr = Some(addr);
        }
        (None, _) => listeners.spawn(
            listener,
            acceptor,
            crate::http::router(service.clone(), &cfg.http, scheme),
        ),
    }
    Ok(Running {
        addr,
        gate_addr,
        ca_cert,
        scheme,
        service,
        token_cert,
        operator_token_file,
        shutdown: listeners.shutdown,
        tasks: listeners.tasks,
    })
}

/// The listener tasks started so far, each with the sender that stops it.
struct Listeners {
    limits: crate::http::listener::Limits,
    shutdown: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Listeners {
    fn spawn<S>(
        &mut self,
        listener: TcpListener,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        service: S,
    ) where
        S: tower::Service<
                axum::http::Request<axum::body::Body>,
                Response = axum::http::Response<axum::body::Body>,
                Error = std::convert::Infallible,
            > + crate::http::listener::ForClient
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.shutdown.push(tx);
        self.tasks.push(tokio::spawn(crate::http::listener::serve(
            listener,
            acceptor,
            service,
            self.limits.clone(),
            async move {
                let _ = rx.await;
            },
        )));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_new_data_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("signet-data");
        super::create_data_dir(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
