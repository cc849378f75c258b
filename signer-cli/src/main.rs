//! `signet`: the docker-compatible content-trust signing client.

//! Parses the command line and dispatches to [`signet_cli::commands`]; prints what they
//! return.

#[path = "../../packaging/clap_docs.rs"]
mod clap_docs;

use clap::{Args, CommandFactory, Parser, Subcommand};
use signet_cli::commands::{
    cosign, forget, inspect, key, migrate, pull, push, revoke, sign, signer, status, verify, Report,
};
use signet_cli::context::parse_timeout;
use signet_cli::docker_daemon::DockerCli;
use signet_cli::docker_plugin;
use signet_cli::image_ref;
use signet_cli::{out, outln, CliError, Context};
use std::path::PathBuf;
use std::process::ExitCode;

/// The version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SIGNET_GIT_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "signet",
    version = VERSION,
    about = "Sign, verify and manage Docker Content Trust (Notary v1) data"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// Trust directory (default: $DOCKER_CONFIG/trust, else ~/.docker/trust).
    #[arg(long, global = true, env = "SIGNET_TRUST_DIR")]
    trust_dir: Option<PathBuf>,
    /// Trust server URL (default: $DOCKER_CONTENT_TRUST_SERVER, else https://<registry host>).
    #[arg(long, global = true)]
    server: Option<String>,
    /// Extra CA certificate for the trust server, the registry and their token services (always
    /// trusted too: the system store and $DOCKER_CONFIG/tls|certs.d/<host:port>/*.crt).
    #[arg(long, global = true)]
    tlscacert: Option<PathBuf>,
    /// Read key passphrases from this file (first line) instead of prompting.
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// How long to wait to connect to a server and for each read or write (e.g. 30s, 2m, 45).
    #[arg(long, global = true, default_value = "30s", value_parser = parse_timeout)]
    timeout: std::time::Duration,
}

#[derive(Subcommand)]
enum Command {
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
enum PluginCommand {
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
enum KeyCommand {
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
enum CosignCommand {
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
enum SignerCommand {
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

fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "{question}: pass --yes to confirm non-interactively"
        )));
    }
    out!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Refused("aborted".into()))
    }
}

/// Prints a command's warnings to standard error and its result to standard output.
fn print(ctx: &Context, report: &dyn Report) {
    for w in report.warnings() {
        eprintln!("{w}");
    }
    out!("{}", report.render(ctx.json));
}

fn run(cli: Cli) -> Result<(), CliError> {
    let trust_dir = cli
        .global
        .trust_dir
        .clone()
        .unwrap_or_else(signet_keys::store::default_trust_dir);
    let mut ctx = Context::new(trust_dir);
    ctx.json = cli.global.json;
    ctx.server = match &cli.command {
        Command::Migrate { to: Some(to), .. } => Some(to.clone()),
        _ => cli.global.server.clone(),
    };
    ctx.tlscacert = cli.global.tlscacert.clone();
    ctx.passphrase_file = cli.global.passphrase_file.clone();
    ctx.timeout = cli.global.timeout;
    let ctx = ctx;
    match cli.command {
        Command::Key(k) => match k {
            KeyCommand::Generate { name, dir } => print(&ctx, &key::generate(&ctx, &name, &dir)?),
            KeyCommand::Load { file, name } => print(&ctx, &key::load(&ctx, &file, &name)?),
            KeyCommand::List => print(&ctx, &key::list(&ctx)?),
            KeyCommand::Remove { id } => print(&ctx, &key::remove(&ctx, &id)?),
            KeyCommand::Export { id, .. } => print(&ctx, &key::export_public(&ctx, &id)?),
            KeyCommand::Backup { output } => print(&ctx, &key::backup(&ctx, output)?),
            KeyCommand::Restore { archive } => print(&ctx, &key::restore(&ctx, &archive)?),
            KeyCommand::Rotate {
                image,
                role,
                server_managed,
            } => {
                let r = image_ref::parse(&image)?;
                print(&ctx, &key::rotate(&ctx, &r, &role, server_managed)?)
            }
        },
        Command::Sign {
            image,
            digest,
            size,
            cosign,
            no_cosign,
        } => {
            let r = image_ref::parse(&image)?;
            if r.tag.is_none() {
                return Err(CliError::Usage(format!("{image}: sign needs IMAGE:TAG")));
            }
            let manifest = match (digest, size) {
                (Some(d), Some(size)) => sign::Manifest::Given {
                    sha256: sign::parse_digest(&d)?,
                    size,
                },
                _ => sign::Manifest::FromRegistry,
            };
            let choice = match (cosign, no_cosign) {
                (true, _) => sign::Cosign::Yes,
                (_, true) => sign::Cosign::No,
                _ => sign::Cosign::Setting,
            };
            print(&ctx, &sign::sign_with(&ctx, &r, manifest, choice)?)
        }
        Command::Migrate {
            image,
            from,
            from_tlscacert,
            from_cache,
            ..
        } => {
            let r = image_ref::parse(&image)?;
            let source = match (from, from_cache) {
                (Some(url), _) => migrate::Source::Server {
                    url,
                    ca: from_tlscacert,
                },
                (None, Some(dir)) => migrate::Source::Cache(dir),
                (None, None) => {
                    return Err(CliError::Usage(
                        "give --from URL or --from-cache DIR".into(),
                    ))
                }
            };
            print(&ctx, &migrate::migrate(&ctx, &r, &source)?)
        }
        Command::Revoke { image, yes } => {
            let r = image_ref::parse(&image)?;
            confirm(&revoke::question(&r), yes)?;
            print(&ctx, &revoke::revoke(&ctx, &r)?)
        }
        Command::Inspect { image, pretty } => {
            let r = image_ref::parse(&image)?;
            let inspection = inspect::inspect(&ctx, &r.gun, r.tag.as_deref())?;
            for w in inspection.warnings() {
                eprintln!("{w}");
            }
            if pretty {
                out!("{}", inspection.tables());
            } else {
                outln!("{}", inspection.docker_json());
            }
        }
        Command::Verify {
            image,
            cosign: true,
            key: Some(key),
        } => {
            let r = image_ref::parse(&image)?;
            print(&ctx, &cosign::verify(&ctx, &r, &key)?)
        }
        Command::Verify { image, .. } => {
            let r = image_ref::parse(&image)?;
            let tag = r
                .tag
                .ok_or_else(|| CliError::Usage(format!("{image}: verify needs IMAGE:TAG")))?;
            print(&ctx, &verify::verify(&ctx, &r.gun, &tag)?)
        }
        Command::Status { image } => {
            let r = image_ref::parse(&image)?;
            print(&ctx, &status::status(&ctx, &r.gun)?)
        }
        Command::Forget { image, yes } => {
            let r = image_ref::parse(&image)?;
            confirm(&forget::question(&ctx, &r.gun), yes)?;
            print(&ctx, &forget::forget(&ctx, &r.gun)?)
        }
        Command::Pull { image } => {
            let r = image_ref::parse(&image)?;
            let target = pull::resolve(&ctx, &r)?;
            for w in &target.warnings {
                eprintln!("{w}");
            }
            if !ctx.json {
                outln!("{}", target.announcement());
            }
            let docker = DockerCli::from_env(Vec::new()).with_progress_on_stderr(ctx.json);
            let pulled = target.pull(&docker)?;
            // docker prints its "Tagging" line on standard error.
            if ctx.json {
                out!("{}", pulled.render(true));
            } else {
                eprintln!("{}", pulled.human());
            }
        }
        Command::Push { image } => {
            let r = image_ref::parse(&image)?;
            let docker = DockerCli::from_env(Vec::new()).with_progress_on_stderr(ctx.json);
            print(&ctx, &push::push(&ctx, &docker, &r)?)
        }
        Command::Completion { shell } => clap_docs::completion(&mut Cli::command(), shell),
        Command::ManPages { dir } => {
            let pages = clap_docs::write_man_pages(Cli::command(), &dir).map_err(|(path, e)| {
                CliError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            for p in pages {
                outln!("{}", p.display());
            }
        }
        Command::Plugin(PluginCommand::Install { name, dir }) => {
            let path = docker_plugin::install(name.as_deref(), dir.as_deref())?;
            if ctx.json {
                outln!("{}", serde_json::json!({ "installed": path }));
            } else {
                outln!("Installed {}", path.display());
            }
        }
        Command::Cosign(c) => match c {
            CosignCommand::Backfill { image, dry_run } => {
                let r = image_ref::parse(&image)?;
                if r.tag.is_some() {
                    return Err(CliError::Usage(format!(
                        "{image}: backfill takes a repository (every signed tag), not a tag"
                    )));
                }
                print(&ctx, &cosign::backfill(&ctx, &r.gun, dry_run)?)
            }
            CosignCommand::ExportKey {
                name,
                image,
                key_id,
                output,
                force,
            } => {
                let image = image.as_deref().map(image_ref::parse).transpose()?;
                print(
                    &ctx,
                    &cosign::export_key(
                        &ctx,
                        &name,
                        image.as_ref(),
                        key_id.as_deref(),
                        &output,
                        force,
                    )?,
                )
            }
            CosignCommand::DualSign { state } => print(
                &ctx,
                &cosign::dual_sign(&ctx, state.as_deref().map(|s| s == "on"))?,
            ),
        },
        Command::Signer(s) => match s {
            SignerCommand::Add { name, images, key } => {
                let keys = key
                    .iter()
                    .map(|k| signer::read_public_key(k))
                    .collect::<Result<Vec<_>, _>>()?;
                for image in images {
                    let r = image_ref::parse(&image)?;
                    print(&ctx, &signer::add(&ctx, &r.gun, &name, &keys)?);
                }
            }
            SignerCommand::Remove {
                name,
                images,
                force,
                yes,
            } => {
                confirm(&signer::remove_question(&name, &images), yes)?;
                for image in images {
                    let r = image_ref::parse(&image)?;
                    print(&ctx, &signer::remove(&ctx, &r.gun, &name, force)?);
                }
            }
        },
    }
    Ok(())
}

/// clap's message on one line: the error, with its suggestions ("a similar subcommand
/// exists: 'sign'") kept and the usage block dropped.
fn usage_error_line(rendered: &str) -> String {
    let mut paragraphs = rendered.trim().split("\n\n");
    let first = paragraphs
        .next()
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let first = first.trim_start_matches("error: ");
    let tips: Vec<&str> = paragraphs
        .flat_map(str::lines)
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("tip: "))
        .collect();
    if tips.is_empty() {
        format!("signet: {first} (see signet --help)")
    } else {
        format!("signet: {first} ({}; see signet --help)", tips.join("; "))
    }
}

fn main() -> ExitCode {
    // Installed as docker-<name>, the binary is a docker CLI plugin.
    let mut args = std::env::args_os();
    if let Some(name) = args.next().as_deref().and_then(docker_plugin::plugin_name) {
        return docker_plugin::run(&name, args.collect());
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("{}", usage_error_line(&e.render().to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signet: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every argument says what it is in `--help`.
    #[test]
    fn every_subcommand_and_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let cmd = Cli::command();
        cmd.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&cmd, "signet", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn usage_errors_keep_claps_suggestions_on_one_line() {
        let e = Cli::try_parse_from(["signet", "verfy", "x"])
            .err()
            .expect("error");
        assert_eq!(
            usage_error_line(&e.render().to_string()),
            "signet: unrecognized subcommand 'verfy' (a similar subcommand exists: 'verify'; see signet --help)"
        );
    }
}
