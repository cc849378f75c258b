//! `signet` as a docker CLI plugin. Installed as `docker-trust` (Docker 29 and later, where
//! `trust` is no longer built in) or `docker-signet` (Docker 28 and earlier, which refuses a
//! plugin that shadows a built-in command), the same binary speaks docker's plugin protocol:
//!
//! - `docker-<name> docker-cli-plugin-metadata` prints the metadata JSON docker validates
//!   (`SchemaVersion` "0.1.0", a non-empty `Vendor`);
//! - docker runs the plugin with its own arguments: docker's global flags (`--context`, `-H`,
//!   `--config`, TLS flags, `-D`, `-l`) first, then the plugin's name, then the subcommand —
//!   the global flags are kept for the docker CLI Signet calls to reach the daemon.

use crate::context::Context;
use crate::docker_daemon::DockerCli;
use crate::error::CliError;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use trust_commands::TrustCommandError;

pub mod trust_commands;

pub const METADATA_SUBCOMMAND: &str = "docker-cli-plugin-metadata";
pub const HOOKS_SUBCOMMAND: &str = "docker-cli-plugin-hooks";

/// The plugin name when this binary runs as `docker-<name>`.
pub fn plugin_name(argv0: &std::ffi::OsStr) -> Option<String> {
    let base = Path::new(argv0).file_name()?.to_str()?;
    let name = base.strip_prefix("docker-")?;
    is_valid_plugin_name(name).then(|| name.to_string())
}

/// docker's rule for plugin names: `^[a-z][a-z0-9]*$`.
pub fn is_valid_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// The metadata docker reads before listing or running the plugin.
/// `URL` is the package's `repository` (docker leaves an empty field out, and so does Signet).
pub fn metadata_json() -> String {
    let mut m = serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "Signet",
        "Version": env!("CARGO_PKG_VERSION"),
        "ShortDescription": "Docker Content Trust: inspect, sign, verified pull and signed push",
    });
    let url = env!("CARGO_PKG_REPOSITORY");
    if !url.is_empty() {
        m["URL"] = url.into();
    }
    m.to_string()
}

/// docker's global flags, as they arrive before the plugin's name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    /// Every global flag with its value, in order, for the docker CLI Signet runs.
    pub forwarded: Vec<String>,
    /// `--config DIR`: docker's configuration directory (and so the trust directory).
    pub config: Option<String>,
}

const VALUE_FLAGS: &[&str] = &[
    "--config",
    "-c",
    "--context",
    "-H",
    "--host",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];
const BOOL_FLAGS: &[&str] = &["-D", "--debug", "--tls", "--tlsverify"];

/// Splits `[global flags] <name> <args…>` into the global flags and `<args…>`.
pub fn split_global_flags(
    name: &str,
    args: &[String],
) -> Result<(GlobalFlags, Vec<String>), String> {
    let mut g = GlobalFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == name {
            return Ok((g, args[i + 1..].to_vec()));
        }
        if !arg.starts_with('-') {
            return Err(format!(
                "docker-{name} is a docker CLI plugin: run it as `docker {name} …` (or run `signet` itself)"
            ));
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        if VALUE_FLAGS.contains(&flag) {
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| format!("flag needs an argument: {flag}"))?
                }
            };
            if flag == "--config" {
                g.config = Some(value.clone());
            }
            g.forwarded.push(flag.to_string());
            g.forwarded.push(value);
        } else if BOOL_FLAGS.contains(&flag) {
            g.forwarded.push(arg.clone());
        } else {
            return Err(format!("unknown flag: {flag}"));
        }
        i += 1;
    }
    Err(format!(
        "docker-{name}: the docker CLI did not pass the plugin name {name:?}"
    ))
}

#[derive(Parser)]
#[command(
    disable_version_flag = true,
    about = "Manage trust on Docker images (Signet)"
)]
struct TrustCli {
    #[command(subcommand)]
    command: TrustCommand,
}

// Positional arguments are collected as lists and counted as docker counts them (see
// `ArgRule`), so a wrong count gets docker's message rather than clap's.
#[derive(Subcommand)]
enum TrustCommand {
    /// Return low-level information about keys and signatures
    Inspect {
        #[arg(value_name = "IMAGE[:TAG]")]
        args: Vec<String>,
        /// Print the information in a human friendly format
        #[arg(long)]
        pretty: bool,
    },
    /// Sign an image
    Sign {
        #[arg(value_name = "IMAGE:TAG")]
        args: Vec<String>,
        /// Sign a locally tagged image
        #[arg(long)]
        local: bool,
    },
    /// Remove trust for an image
    Revoke {
        #[arg(value_name = "IMAGE[:TAG]")]
        args: Vec<String>,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        yes: bool,
    },
    /// Manage keys for signing Docker images
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage entities who can sign Docker images
    #[command(subcommand)]
    Signer(SignerCommand),
    /// Pull an image by its signed digest and tag it (what DOCKER_CONTENT_TRUST=1 docker pull did)
    Pull {
        #[arg(value_name = "IMAGE[:TAG]")]
        args: Vec<String>,
    },
    /// Push an image and sign the pushed digest (what DOCKER_CONTENT_TRUST=1 docker push did)
    Push {
        #[arg(value_name = "IMAGE:TAG")]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate and load a signing key-pair
    Generate {
        #[arg(value_name = "NAME")]
        args: Vec<String>,
        /// Directory to generate key in, defaults to current directory
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Load a private key file for signing
    Load {
        #[arg(value_name = "KEYFILE")]
        args: Vec<String>,
        /// Name for the loaded key
        #[arg(long, default_value = "signer")]
        name: String,
    },
}

#[derive(Subcommand)]
enum SignerCommand {
    /// Add a signer
    Add {
        #[arg(value_name = "NAME REPOSITORY")]
        args: Vec<String>,
        /// Path to the signer's public key file
        #[arg(long)]
        key: Vec<PathBuf>,
    },
    /// Remove a signer
    Remove {
        #[arg(value_name = "NAME REPOSITORY")]
        args: Vec<String>,
        /// Do not prompt for confirmation before removing the most recent signer
        #[arg(short, long)]
        force: bool,
    },
}

/// docker's positional-argument rules (`cli.ExactArgs`, `cli.RequiresMinArgs`).
#[derive(Clone, Copy)]
enum ArgRule {
    Exactly(usize),
    AtLeast(usize),
}

/// Each subcommand's path below the plugin name, its usage (cobra's `Use` after the name, as
/// docker 28 writes it) and its argument rule.
const USAGES: &[(&str, &str, ArgRule)] = &[
    (
        "inspect",
        "IMAGE[:TAG] [IMAGE[:TAG]...]",
        ArgRule::AtLeast(1),
    ),
    ("sign", "IMAGE:TAG", ArgRule::Exactly(1)),
    ("revoke", "[OPTIONS] IMAGE[:TAG]", ArgRule::Exactly(1)),
    ("key generate", "NAME", ArgRule::Exactly(1)),
    ("key load", "[OPTIONS] KEYFILE", ArgRule::Exactly(1)),
    (
        "signer add",
        "OPTIONS NAME REPOSITORY [REPOSITORY...] ",
        ArgRule::AtLeast(2),
    ),
    (
        "signer remove",
        "[OPTIONS] NAME REPOSITORY [REPOSITORY...]",
        ArgRule::AtLeast(2),
    ),
    ("pull", "IMAGE[:TAG]", ArgRule::Exactly(1)),
    ("push", "IMAGE:TAG", ArgRule::Exactly(1)),
];

/// The subcommand `rest` names (`key generate`, `inspect`, …), if any.
fn subcommand_of(rest: &[String]) -> Option<&'static (&'static str, &'static str, ArgRule)> {
    let words: Vec<&str> = rest
        .iter()
        .filter(|a| !a.starts_with('-'))
        .take(2)
        .map(String::as_str)
        .collect();
    USAGES.iter().find(|(path, _, _)| {
        let want: Vec<&str> = path.split(' ').collect();
        words.len() >= want.len() && words[..want.len()] == want[..]
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "argument"
    } else {
        "arguments"
    }
}

/// Checks the argument count as docker does; the error is docker's text.
fn check_args(name: &str, sub: &str, args: &[String]) -> Result<(), TrustCommandError> {
    let Some((path, usage, rule)) = USAGES.iter().find(|(p, _, _)| *p == sub) else {
        return Ok(());
    };
    let command = format!("docker {name} {path}");
    let line = format!("{command} {usage}");
    match *rule {
        ArgRule::Exactly(n) if args.len() != n => Err(TrustCommandError::Failed(format!(
            "docker: '{command}' requires {n} {}\n\nUsage:  {line}\n\nRun '{command} --help' for more information",
            plural(n)
        ))),
        ArgRule::AtLeast(n) if args.len() < n => Err(TrustCommandError::Failed(format!(
            "docker: '{command}' requires at least {n} {}\n\nUsage:  {line}\n\nSee '{command} --help' for more information",
            plural(n)
        ))),
        _ => Ok(()),
    }
}

/// Runs as the plugin `docker-<name>` with the arguments docker passed.
pub fn run(name: &str, args: Vec<OsString>) -> ExitCode {
    let args: Vec<String> = match args.into_iter().map(OsString::into_string).collect() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("docker-{name}: arguments must be UTF-8");
            return ExitCode::from(1);
        }
    };
    match args.first().map(String::as_str) {
        Some(METADATA_SUBCOMMAND) => {
            outln!("{}", metadata_json());
            return ExitCode::SUCCESS;
        }
        // Signet registers no hooks; docker only calls this when a config asks for it.
        Some(HOOKS_SUBCOMMAND) => return ExitCode::SUCCESS,
        _ => {}
    }
    let (globals, rest) = match split_global_flags(name, &args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(125);
        }
    };
    if let Some(dir) = &globals.config {
        // docker's --config names the configuration (and trust) directory for this run.
        std::env::set_var("DOCKER_CONFIG", dir);
    }
    let cli = match TrustCli::try_parse_from(
        std::iter::once(format!("docker {name}")).chain(rest.iter().cloned()),
    ) {
        Ok(c) => c,
        Err(e) => return clap_error(name, &rest, e),
    };
    let ctx = Context::new(signet_keys::store::default_trust_dir());
    let docker = DockerCli::from_env(globals.forwarded);
    match dispatch(name, &ctx, &docker, cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        // docker 28 ends a command the user declined without a message and with status 0.
        Err(TrustCommandError::Cancelled) => ExitCode::SUCCESS,
        Err(TrustCommandError::Failed(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(
    name: &str,
    ctx: &Context,
    docker: &DockerCli,
    command: TrustCommand,
) -> Result<(), TrustCommandError> {
    let check = |sub: &str, args: &[String]| check_args(name, sub, args);
    match command {
        TrustCommand::Inspect { args, pretty } => {
            check("inspect", &args)?;
            trust_commands::inspect(ctx, &args, pretty)
        }
        TrustCommand::Sign { args, local } => {
            check("sign", &args)?;
            trust_commands::sign(ctx, docker, &args[0], local)
        }
        TrustCommand::Revoke { args, yes } => {
            check("revoke", &args)?;
            trust_commands::revoke(ctx, &args[0], yes)
        }
        TrustCommand::Key(KeyCommand::Generate { args, dir }) => {
            check("key generate", &args)?;
            trust_commands::key_generate(ctx, &args[0], dir.as_deref())
        }
        TrustCommand::Key(KeyCommand::Load { args, name }) => {
            check("key load", &args)?;
            trust_commands::key_load(ctx, Path::new(&args[0]), &name)
        }
        TrustCommand::Signer(SignerCommand::Add { args, key }) => {
            check("signer add", &args)?;
            trust_commands::signer_add(ctx, &args[0], &args[1..], &key)
        }
        TrustCommand::Signer(SignerCommand::Remove { args, force }) => {
            check("signer remove", &args)?;
            trust_commands::signer_remove(ctx, &args[0], &args[1..], force)
        }
        TrustCommand::Pull { args } => {
            check("pull", &args)?;
            trust_commands::pull(ctx, docker, &args[0])
        }
        TrustCommand::Push { args } => {
            check("push", &args)?;
            trust_commands::push(ctx, docker, &args[0])
        }
    }
}

/// Flag errors as docker prints them (`unknown flag: --x`, usage, exit status 125).
fn clap_error(name: &str, rest: &[String], e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let problem = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) => {
            let arg = arg.split('=').next().unwrap_or(arg);
            match arg.strip_prefix("--") {
                Some(_) => format!("unknown flag: {arg}"),
                None => {
                    let c = arg.trim_start_matches('-').chars().next().unwrap_or('-');
                    format!("unknown shorthand flag: '{c}' in {arg}")
                }
            }
        }
        _ => e
            .render()
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_string(),
    };
    match subcommand_of(rest) {
        Some((path, usage, _)) => {
            let command = format!("docker {name} {path}");
            eprintln!(
                "{problem}\n\nUsage:  {command} {usage}\n\nRun '{command} --help' for more information"
            );
        }
        None => eprintln!("{problem}\n\nRun 'docker {name} --help' for more information"),
    }
    ExitCode::from(125)
}

/// The docker CLI's major version (client side only, no daemon needed).
fn docker_major_version(docker: &str) -> Result<u32, CliError> {
    let out = Command::new(docker)
        .args(["version", "--format", "{{.Client.Version}}"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| {
            CliError::Usage(format!(
                "cannot run {docker} to find its version ({e}): pass --name trust (Docker 29+) or --name signet"
            ))
        })?;
    // With no daemon reachable docker still prints the client version, then fails.
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().next().unwrap_or("").trim();
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "cannot read the version of {docker} ({version:?}): pass --name trust (Docker 29+) or --name signet"
            ))
        })
}

/// `signet plugin install [--name trust|signet] [--dir DIR]`: copies this binary to
/// `DIR/docker-<name>` (default `$DOCKER_CONFIG/cli-plugins`, else `~/.docker/cli-plugins`).
/// Without `--name`: `trust` when the installed docker is 29 or later, else `signet`.
pub fn install(name: Option<&str>, dir: Option<&Path>) -> Result<PathBuf, CliError> {
    let name = match name {
        Some(n @ ("trust" | "signet")) => n.to_string(),
        Some(other) => {
            return Err(CliError::Usage(format!(
                "plugin name {other:?}: use trust (Docker 29+) or signet (Docker 28 and earlier, where trust is built in)"
            )))
        }
        None => {
            let docker = std::env::var("SIGNET_DOCKER").unwrap_or_else(|_| "docker".into());
            if docker_major_version(&docker)? >= 29 {
                "trust".into()
            } else {
                "signet".into()
            }
        }
    };
    let dir = match dir {
        Some(d) => d.to_path_buf(),
        None => crate::docker_config::docker_config_dir().join("cli-plugins"),
    };
    std::fs::create_dir_all(&dir).map_err(|e| CliError::file(&dir, e))?;
    let exe = std::env::current_exe().map_err(|e| CliError::Usage(e.to_string()))?;
    let bytes = std::fs::read(&exe).map_err(|e| CliError::file(&exe, e))?;
    let target = dir.join(format!("docker-{name}"));
    // Written beside the target and renamed over it, so a running docker never sees half a file.
    let tmp = dir.join(format!(".docker-{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &target)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::file(&target, e));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn global_flags_come_before_the_plugin_name() {
        let (g, rest) = split_global_flags(
            "trust",
            &s(&[
                "-D",
                "--context",
                "ci",
                "-H=unix:///x.sock",
                "--config",
                "/cfg",
                "trust",
                "inspect",
                "--pretty",
                "app",
            ]),
        )
        .unwrap();
        assert_eq!(rest, s(&["inspect", "--pretty", "app"]));
        assert_eq!(g.config.as_deref(), Some("/cfg"));
        assert_eq!(
            g.forwarded,
            s(&[
                "-D",
                "--context",
                "ci",
                "-H",
                "unix:///x.sock",
                "--config",
                "/cfg"
            ])
        );
        assert!(split_global_flags("trust", &s(&["--bogus", "trust"])).is_err());
        assert!(split_global_flags("trust", &s(&["inspect", "x"])).is_err());
        assert!(split_global_flags("trust", &s(&["--context"])).is_err());
    }

    #[test]
    fn names_and_metadata_follow_dockers_rules() {
        assert_eq!(
            plugin_name(std::ffi::OsStr::new("/x/cli-plugins/docker-trust")).as_deref(),
            Some("trust")
        );
        assert_eq!(plugin_name(std::ffi::OsStr::new("signet")), None);
        assert_eq!(plugin_name(std::ffi::OsStr::new("docker-Bad")), None);
        let m: serde_json::Value = serde_json::from_str(&metadata_json()).unwrap();
        assert_eq!(m["SchemaVersion"], "0.1.0");
        assert_eq!(m["Vendor"], "Signet");
        assert!(!m["Version"].as_str().unwrap().is_empty());
    }
}
