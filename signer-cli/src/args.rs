//! The command line of `signet`: its global flags and subcommands, as clap parses them.

use crate::VERSION;
use clap::{Args, Parser, Subcommand};
use signet_cli::context::parse_timeout;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "signet",
    version = VERSION,
    about = "Sign, verify and manage Docker Content Trust (Notary v1) data"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args)]
pub struct Global {
    /// Trust directory (default: $DOCKER_CONFIG/trust, else ~/.docker/trust).
    #[arg(long, global = true, env = "SIGNET_TRUST_DIR")]
    pub trust_dir: Option<PathBuf>,
    /// Trust server URL (default: $DOCKER_CONTENT_TRUST_SERVER, else https://<registry host>).
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// Extra CA certificate for the trust server, the registry and their token services (always
    /// trusted too: the system store and $DOCKER_CONFIG/tls|certs.d/<host:port>/*.crt).
    #[arg(long, global = true)]
    pub tlscacert: Option<PathBuf>,
    /// Read key passphrases from this file (first line) instead of prompting.
    #[arg(long, global = true)]
    pub passphrase_file: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// How long to wait to connect to a server and for each read or write (e.g. 30s, 2m, 45).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_timeout)]
    pub timeout: std::time::Duration,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage signing keys in the trust directory.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage the signers (delegations) of repositories.
    #[command(subcommand)]
    Signer(SignerCommand),
    /// Sign a tag: add its digest to every role you can sign, initialising the repository if needed.
    Sign {
        /// IMAGE:TAG
        image: String,
        /// Manifest digest (sha256:...); looked up in the registry when omitted.
        #[arg(long, requires = "size")]
        digest: Option<String>,
        /// Manifest size in bytes (with --digest).
        #[arg(long, requires = "digest")]
        size: Option<i64>,
        /// Also write a cosign signature of the digest with the same keys, into the registry
        /// (default: the `signet cosign dual-sign` setting).
        #[arg(long, conflicts_with = "no_cosign")]
        cosign: bool,
        /// Write the Notary signature only, whatever the dual-sign setting says.
        #[arg(long)]
        no_cosign: bool,
    },
    /// Remove the signature of a tag (or of every tag) from the roles you can sign.
    Revoke {
        /// IMAGE[:TAG]
        image: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Show signed tags, signers and keys of a repository (verified).
    Inspect {
        /// IMAGE[:TAG]
        image: String,
        /// Human-readable tables instead of JSON.
        #[arg(long)]
        pretty: bool,
    },
    /// Print the digest of a signed tag if, and only if, it verifies.
    Verify {
        /// IMAGE:TAG (with --cosign: IMAGE[:TAG], default tag latest)
        image: String,
        /// Check the tag's cosign signature in the registry instead of the Notary trust data.
        #[arg(long, requires = "key")]
        cosign: bool,
        /// The cosign public key (PEM) the signature must verify with.
        #[arg(long, requires = "cosign")]
        key: Option<PathBuf>,
    },
    /// The bridge to Sigstore: cosign signatures made with the Notary signing keys.
    #[command(subcommand)]
    Cosign(CosignCommand),
    /// Expiry of every role and the local keys that can sign it.
    Status {
        /// IMAGE
        image: String,
    },
    /// Drop this client's trust data of a repository (after its trust data was reset on
    /// purpose); keys stay.
    Forget {
        /// IMAGE (repository)
        image: String,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
    /// Pull IMAGE[:TAG] through the docker daemon by its verified signed digest, then tag it
    /// (what DOCKER_CONTENT_TRUST=1 docker pull did).
    Pull {
        /// IMAGE[:TAG] (tag "latest" when omitted)
        image: String,
    },
    /// Push IMAGE:TAG through the docker daemon and sign the pushed manifest (what
    /// DOCKER_CONTENT_TRUST=1 docker push did).
    Push {
        /// IMAGE:TAG
        image: String,
    },
    /// Hand a repository over from another Notary server to Signet: import its trust data
    /// (unless the operator did) and, with the root key, rotate the timestamp key (and the
    /// snapshot key unless you hold it) to Signet's in a new root, and publish.
    #[command(group(clap::ArgGroup::new("source").required(true).args(["from", "from_cache"])))]
    Migrate {
        /// IMAGE (repository)
        image: String,
        /// The old Notary server (https://HOST[:PORT]); docker's credentials for the
        /// registry open it.
        #[arg(long)]
        from: Option<String>,
        /// CA certificate of the --from server and its token service.
        #[arg(long, requires = "from")]
        from_tlscacert: Option<PathBuf>,
        /// A client's trust directory that read the repository, when the old server is gone.
        #[arg(long)]
        from_cache: Option<PathBuf>,
        /// The Signet server (default: --server, $DOCKER_CONTENT_TRUST_SERVER, the registry).
        #[arg(long)]
        to: Option<String>,
    },
    /// Install signet as a docker CLI plugin.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Print a shell completion script (e.g. signet completion bash >
    /// /etc/bash_completion.d/signet).
    Completion {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (signet.1 and one per subcommand) into a directory.
    ManPages {
        /// Where to write them, e.g. /usr/local/share/man/man1.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Copy this binary into docker's plugin directory as docker-trust (Docker 29+) or
    /// docker-signet (Docker 28 and earlier, where trust is built in).
    Install {
        /// trust or signet (default: chosen by the installed docker's version)
        #[arg(long)]
        name: Option<String>,
        /// Plugin directory (default: $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Generate a signer key: NAME.pub in --dir, the private key in the trust directory.
    Generate {
        /// The signer's name (lower-case letters, digits, '-', '_'); the key's role.
        name: String,
        /// Where to write NAME.pub.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Import a private key file as a signer key.
    Load {
        /// The private key file (PEM, encrypted or not).
        file: PathBuf,
        /// The signer's name (the key's role).
        #[arg(long, default_value = "signer")]
        name: String,
    },
    /// List the keys in the trust directory.
    List,
    /// Delete a key from the trust directory.
    Remove {
        /// The key ID (64 hex characters, as `key list` shows).
        id: String,
    },
    /// Print a key's public half (PEM).
    Export {
        /// The key ID (64 hex characters, as `key list` shows).
        id: String,
        /// Export the public key (the only kind exported).
        #[arg(long, required = true)]
        public: bool,
    },
    /// Archive private/ like `tar -zcf` (mode 0600).
    Backup {
        /// The archive to create (default: signet-keys-<date>.tar.gz; never overwritten).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Restore keys from a backup after checking each decrypts and matches its ID.
    Restore {
        /// A backup made by `key backup` (or `tar -zcf … private`).
        archive: PathBuf,
    },
    /// Replace a repository's root, targets or (server-managed) snapshot key.
    Rotate {
        /// IMAGE (repository)
        image: String,
        /// root, targets or snapshot
        role: String,
        /// Let the server hold the new key (required for snapshot and timestamp).
        #[arg(long)]
        server_managed: bool,
    },
}

#[derive(Subcommand)]
pub enum CosignCommand {
    /// Add the missing cosign signatures of every tag the repository's trust data signs.
    Backfill {
        /// IMAGE (repository)
        image: String,
        /// Only report what would be signed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write a signer's public key as a cosign verifier takes it (PKIX PEM).
    ExportKey {
        /// Signer (delegation) name, as in `signet signer add NAME`, or a key ID.
        name: String,
        /// Read the key from this repository's trust data instead of the local key store.
        #[arg(long)]
        image: Option<String>,
        /// The key to export when the signer has several (ID or prefix).
        #[arg(long)]
        key_id: Option<String>,
        /// Output file (`-` for standard output).
        #[arg(short, long, default_value = "cosign.pub")]
        output: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Show, or turn on or off, a cosign signature with every `signet sign`.
    DualSign {
        /// on or off; without it, show the current setting.
        #[arg(value_parser = ["on", "off"])]
        state: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SignerCommand {
    /// Add a signer to repositories (targets/releases and targets/NAME), initialising them if needed.
    Add {
        /// The signer's name (becomes the delegation targets/NAME).
        name: String,
        /// The repositories (IMAGE), one or more.
        #[arg(required = true)]
        images: Vec<String>,
        /// The signer's public key or certificate (PEM).
        #[arg(long, required = true)]
        key: Vec<PathBuf>,
    },
    /// Remove a signer from repositories.
    Remove {
        /// The signer's name.
        name: String,
        /// The repositories (IMAGE), one or more.
        #[arg(required = true)]
        images: Vec<String>,
        /// Remove even if targets/releases would be left without enough keys, or signed by
        /// no remaining signer (its tags unpullable until one signs again).
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
    },
}
