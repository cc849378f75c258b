//! `signet`: the docker-compatible content-trust signing client.

mod auth;
mod context;
mod error;
mod image_ref;
mod inspect;
mod keys_cmd;
mod progress;
mod publish;
mod registry;
mod remote;
mod trusted_repo;

use clap::{Args, Parser, Subcommand};
use context::Context;
use error::CliError;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "signet",
    version,
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
    /// CA certificate for the trust server (default: $DOCKER_CONFIG/tls/<host:port>/*.crt).
    #[arg(long, global = true)]
    tlscacert: Option<PathBuf>,
    /// Read key passphrases from this file (first line) instead of prompting.
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
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
        /// IMAGE:TAG
        image: String,
    },
    /// Expiry of every role and the local keys that can sign it.
    Status {
        /// IMAGE
        image: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a signer key: NAME.pub in --dir, the private key in the trust directory.
    Generate {
        name: String,
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Import a private key file as a signer key.
    Load {
        file: PathBuf,
        #[arg(long, default_value = "signer")]
        name: String,
    },
    /// List the keys in the trust directory.
    List,
    /// Delete a key from the trust directory.
    Remove { id: String },
    /// Print a key's public half (PEM).
    Export {
        id: String,
        /// Export the public key (the only kind exported).
        #[arg(long, required = true)]
        public: bool,
    },
    /// Archive private/ like `tar -zcf` (mode 0600).
    Backup {
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Restore keys from a backup after checking each decrypts and matches its ID.
    Restore { archive: PathBuf },
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
enum SignerCommand {
    /// Add a signer to repositories (targets/releases and targets/NAME), initialising them if needed.
    Add {
        name: String,
        #[arg(required = true)]
        images: Vec<String>,
        /// The signer's public key or certificate (PEM).
        #[arg(long, required = true)]
        key: Vec<PathBuf>,
    },
    /// Remove a signer from repositories.
    Remove {
        name: String,
        #[arg(required = true)]
        images: Vec<String>,
        /// Remove even if targets/releases would be left without enough keys.
        #[arg(long)]
        force: bool,
        #[arg(short, long)]
        yes: bool,
    },
}

fn parse_digest(d: &str) -> Result<[u8; 32], CliError> {
    let hex_part = d.strip_prefix("sha256:").unwrap_or(d);
    let bytes = hex::decode(hex_part)
        .map_err(|_| CliError::Usage(format!("digest {d:?} is not sha256:<64 hex>")))?;
    bytes
        .try_into()
        .map_err(|_| CliError::Usage(format!("digest {d:?} is not sha256:<64 hex>")))
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
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Refused("aborted".into()))
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let trust_dir = cli
        .global
        .trust_dir
        .clone()
        .unwrap_or_else(signet_keys::store::default_trust_dir);
    let ctx = Context {
        store: signet_keys::store::KeyStore::new(&trust_dir),
        trust_dir,
        json: cli.global.json,
        server: cli.global.server.clone(),
        tlscacert: cli.global.tlscacert.clone(),
        passphrase_file: cli.global.passphrase_file.clone(),
    };
    match cli.command {
        Command::Key(k) => match k {
            KeyCommand::Generate { name, dir } => keys_cmd::generate(&ctx, &name, &dir),
            KeyCommand::Load { file, name } => keys_cmd::load(&ctx, &file, &name),
            KeyCommand::List => keys_cmd::list(&ctx),
            KeyCommand::Remove { id } => keys_cmd::remove(&ctx, &id),
            KeyCommand::Export { id, .. } => keys_cmd::export_public(&ctx, &id),
            KeyCommand::Backup { output } => keys_cmd::backup(&ctx, output),
            KeyCommand::Restore { archive } => keys_cmd::restore(&ctx, &archive),
            KeyCommand::Rotate {
                image,
                role,
                server_managed,
            } => {
                let r = image_ref::parse(&image)?;
                let mut ed = publish::Editor::open_existing(&ctx, &r.gun)?;
                let id = match (role.as_str(), server_managed) {
                    ("root", false) => ed.rotate_root()?,
                    ("targets", false) => ed.rotate_targets()?,
                    ("snapshot" | "timestamp", true) => ed.rotate_server_key(&role)?,
                    ("snapshot", false) => {
                        return Err(CliError::Usage("client-held snapshot keys are not supported: use --server-managed".into()))
                    }
                    (other, _) => {
                        return Err(CliError::Usage(format!("cannot rotate {other:?} (root, targets, or snapshot/timestamp with --server-managed)")))
                    }
                };
                ed.publish()?;
                if ctx.json {
                    println!(
                        "{}",
                        serde_json::json!({"gun": r.gun, "role": role, "key_id": id.to_string()})
                    );
                } else {
                    println!(
                        "Successfully rotated {role} key for {}: new key {id}",
                        r.gun
                    );
                }
                Ok(())
            }
        },
        Command::Sign {
            image,
            digest,
            size,
        } => {
            let r = image_ref::parse(&image)?;
            let tag = r
                .tag
                .ok_or_else(|| CliError::Usage(format!("{image}: sign needs IMAGE:TAG")))?;
            let (sha, size) = match (digest, size) {
                (Some(d), Some(n)) if n >= 0 => (parse_digest(&d)?, n),
                (Some(_), Some(_)) => {
                    return Err(CliError::Usage("--size must not be negative".into()))
                }
                _ => {
                    let m = registry::resolve(&r.gun, &tag)?;
                    (m.sha256, m.size)
                }
            };
            let mut ed = publish::Editor::open(&ctx, &r.gun)?;
            let init = ed.initialized;
            let roles = ed.add_tag(&tag, sha, size)?;
            ed.publish()?;
            if ctx.json {
                println!(
                    "{}",
                    serde_json::json!({"gun": r.gun, "tag": tag, "digest": format!("sha256:{}", hex::encode(sha)), "roles": roles, "initialized": init})
                );
            } else {
                if init {
                    println!("Initialized \"{}\"", r.gun);
                }
                println!(
                    "Successfully signed {}:{tag} into {}",
                    r.gun,
                    roles.join(", ")
                );
            }
            Ok(())
        }
        Command::Revoke { image, yes } => {
            let r = image_ref::parse(&image)?;
            let what = match &r.tag {
                Some(t) => format!("Revoke the signature of {}:{t}?", r.gun),
                None => format!("Revoke all signatures of {}?", r.gun),
            };
            confirm(&what, yes)?;
            let mut ed = publish::Editor::open_existing(&ctx, &r.gun)?;
            let roles = ed.revoke(r.tag.as_deref())?;
            ed.publish()?;
            report(
                &ctx,
                serde_json::json!({"gun": r.gun, "tag": r.tag, "roles": roles}),
                &format!(
                    "Successfully revoked signatures of {}{} from {}",
                    r.gun,
                    r.tag
                        .as_deref()
                        .map(|t| format!(":{t}"))
                        .unwrap_or_default(),
                    roles.join(", ")
                ),
            );
            Ok(())
        }
        Command::Inspect { image, pretty } => {
            let r = image_ref::parse(&image)?;
            inspect::inspect(&ctx, &r.gun, r.tag.as_deref(), pretty)
        }
        Command::Verify { image } => {
            let r = image_ref::parse(&image)?;
            let tag = r
                .tag
                .ok_or_else(|| CliError::Usage(format!("{image}: verify needs IMAGE:TAG")))?;
            inspect::verify(&ctx, &r.gun, &tag)
        }
        Command::Status { image } => {
            let r = image_ref::parse(&image)?;
            inspect::status(&ctx, &r.gun)
        }
        Command::Signer(s) => match s {
            SignerCommand::Add { name, images, key } => {
                let keys = key
                    .iter()
                    .map(|k| publish::read_public_key(k))
                    .collect::<Result<Vec<_>, _>>()?;
                for image in images {
                    let r = image_ref::parse(&image)?;
                    let mut ed = publish::Editor::open(&ctx, &r.gun)?;
                    let init = ed.initialized;
                    ed.add_signer(&name, keys.clone())?;
                    ed.publish()?;
                    let ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
                    let mut human = String::new();
                    if init {
                        human.push_str(&format!("Successfully initialized \"{}\"\n", r.gun));
                    }
                    human.push_str(&format!("Successfully added signer: {name} to {}", r.gun));
                    report(
                        &ctx,
                        serde_json::json!({"gun": r.gun, "signer": name, "keys": ids, "initialized": init}),
                        &human,
                    );
                }
                Ok(())
            }
            SignerCommand::Remove {
                name,
                images,
                force,
                yes,
            } => {
                confirm(
                    &format!("Remove signer {name} from {}?", images.join(", ")),
                    yes,
                )?;
                for image in images {
                    let r = image_ref::parse(&image)?;
                    let mut ed = publish::Editor::open_existing(&ctx, &r.gun)?;
                    ed.remove_signer(&name, force)?;
                    ed.publish()?;
                    report(
                        &ctx,
                        serde_json::json!({"gun": r.gun, "signer": name, "removed": true}),
                        &format!("Successfully removed {name} from {}", r.gun),
                    );
                }
                Ok(())
            }
        },
    }
}

/// Prints a command's result: its JSON with `--json`, else the human lines.
fn report(ctx: &Context, json: serde_json::Value, human: &str) {
    if ctx.json {
        println!("{json}");
    } else {
        println!("{human}");
    }
}

fn main() -> ExitCode {
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
            // clap's message, on one line: "error: ..." with the usage hint dropped.
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .trim_start()
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let first = first.join(" ");
            let first = first.trim_start_matches("error: ");
            eprintln!("signet: {first} (see signet --help)");
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
