//! What every command shares: the trust directory, the key store, passphrase sources, the
//! trust server, output mode.

use crate::error::CliError;
use crate::transport::{HttpsTransport, Transport};
use signet_keys::passphrase::{
    ChainPassphrase, EnvPassphrase, FixedPassphrase, PassphraseSource, PromptPassphrase,
};
use signet_keys::store::KeyStore;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;

/// What a request may take before it is abandoned (`--timeout`).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct Context {
    pub trust_dir: PathBuf,
    pub store: KeyStore,
    /// Machine-readable output (commands' `--json`).
    pub json: bool,
    /// Trust server URL (`--server`); else `DOCKER_CONTENT_TRUST_SERVER`, else the registry.
    pub server: Option<String>,
    /// CA certificate for the trust server (`--tlscacert`).
    pub tlscacert: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
    /// A passphrase given by the embedding program, tried first.
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    /// Connect and read timeout of every request.
    pub timeout: std::time::Duration,
    /// Replaces the HTTPS trust server for every repository (an in-memory one in tests).
    pub transport: Option<Rc<dyn Transport>>,
}

impl Context {
    /// A context for a trust directory with every other setting at its default.
    pub fn new(trust_dir: PathBuf) -> Context {
        Context {
            store: KeyStore::new(&trust_dir),
            trust_dir,
            json: false,
            server: None,
            tlscacert: None,
            passphrase_file: None,
            passphrase: None,
            timeout: DEFAULT_TIMEOUT,
            transport: None,
        }
    }

    /// Passphrases: `--passphrase-file`, then docker's and notary's variables, then a prompt
    /// when standard input is a terminal.
    pub fn passphrases(&self) -> Result<Box<dyn PassphraseSource>, CliError> {
        self.passphrase_chain(std::io::stdin().is_terminal())
    }

    /// The passphrases given without asking (embedding program, file, variables).
    pub fn given_passphrases(&self) -> Result<Box<dyn PassphraseSource>, CliError> {
        self.passphrase_chain(false)
    }

    fn passphrase_chain(&self, prompt: bool) -> Result<Box<dyn PassphraseSource>, CliError> {
        let mut chain: Vec<Box<dyn PassphraseSource>> = Vec::new();
        if let Some(p) = &self.passphrase {
            chain.push(Box::new(FixedPassphrase::new(p.as_str())));
        }
        if let Some(f) = &self.passphrase_file {
            chain.push(Box::new(FixedPassphrase::from_file(f)?));
        }
        chain.push(Box::new(EnvPassphrase::from_process_env()));
        if prompt {
            chain.push(Box::new(PromptPassphrase::default()));
        }
        Ok(Box::new(ChainPassphrase(chain)))
    }

    /// The trust server for a GUN: `--server`, `DOCKER_CONTENT_TRUST_SERVER`, else docker's
    /// default for the registry.
    pub fn transport(&self, gun: &str) -> Result<Rc<dyn Transport>, CliError> {
        if let Some(t) = &self.transport {
            return Ok(t.clone());
        }
        let server = self
            .server
            .clone()
            .or_else(|| {
                std::env::var("DOCKER_CONTENT_TRUST_SERVER")
                    .ok()
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| crate::image_ref::default_server(gun));
        let registry_host = gun.split('/').next().unwrap_or(gun);
        Ok(Rc::new(HttpsTransport::new(
            &server,
            self.tlscacert.as_deref(),
            registry_host,
            self.timeout,
        )?))
    }
}

/// `30`, `30s`, `2m`: whole seconds or minutes, at least one second.
pub fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = match s.strip_suffix('s') {
        Some(d) => (d, 1),
        None => match s.strip_suffix('m') {
            Some(d) => (d, 60),
            None => (s, 1),
        },
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(std::time::Duration::from_secs(n * unit)),
        _ => Err(format!(
            "{s:?} is not a timeout: use seconds or minutes such as 30s or 2m"
        )),
    }
}
