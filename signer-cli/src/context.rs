//! What every command shares: the trust directory, the key store, passphrase sources, the
//! trust server, output mode.

use crate::error::CliError;
use crate::remote::Remote;
use signet_keys::passphrase::{
    ChainPassphrase, EnvPassphrase, FixedPassphrase, PassphraseSource, PromptPassphrase,
};
use signet_keys::store::KeyStore;
use std::io::IsTerminal;
use std::path::PathBuf;

pub struct Context {
    pub trust_dir: PathBuf,
    pub store: KeyStore,
    pub json: bool,
    pub server: Option<String>,
    pub tlscacert: Option<PathBuf>,
    pub passphrase_file: Option<PathBuf>,
}

impl Context {
    /// Passphrases: `--passphrase-file`, then docker's and notary's variables, then a prompt
    /// when standard input is a terminal.
    pub fn passphrases(&self) -> Result<Box<dyn PassphraseSource>, CliError> {
        let mut chain: Vec<Box<dyn PassphraseSource>> = Vec::new();
        if let Some(f) = &self.passphrase_file {
            chain.push(Box::new(FixedPassphrase::from_file(f)?));
        }
        chain.push(Box::new(EnvPassphrase::from_process_env()));
        if std::io::stdin().is_terminal() {
            chain.push(Box::new(PromptPassphrase::default()));
        }
        Ok(Box::new(ChainPassphrase(chain)))
    }

    /// The trust server for a GUN: `--server`, `DOCKER_CONTENT_TRUST_SERVER`, else docker's
    /// default for the registry.
    pub fn remote(&self, gun: &str) -> Result<Remote, CliError> {
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
        Remote::new(&server, self.tlscacert.as_deref(), registry_host)
    }
}
