//! The user's docker daemon, reached through the user's own docker CLI: its context,
//! `DOCKER_HOST`, TLS settings, registry credentials and credential helpers apply exactly as
//! for a `docker pull` or `docker push` typed by hand. Signet only ever asks it to pull by
//! digest, tag, push and inspect; the trust decisions are Signet's.

use crate::error::CliError;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use thiserror::Error;

/// Set by the docker CLI when it runs a plugin: the command it was started as.
pub const ORIGINAL_CLI_ENV: &str = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND";

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error("cannot run {program}: {reason} (is the docker CLI installed and on PATH?)")]
    NotRunnable { program: String, reason: String },
    #[error("`docker {action}` failed ({status})")]
    Failed { action: String, status: String },
    #[error("`docker push {reference}` did not report the pushed manifest's digest and size")]
    NoDigest { reference: String },
    #[error("`docker push {reference}` pushed tag {pushed:?}, not the tag asked for")]
    WrongTag { reference: String, pushed: String },
}

impl From<DaemonError> for CliError {
    fn from(e: DaemonError) -> Self {
        CliError::Refused(e.to_string())
    }
}

/// The manifest a push stored in the registry, as the daemon reports it
/// (`<tag>: digest: sha256:<hex> size: <bytes>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedManifest {
    pub tag: String,
    pub sha256: [u8; 32],
    pub size: i64,
}

/// The docker CLI that talks to the daemon.
pub struct DockerCli {
    program: OsString,
    /// docker's global flags the user gave (`--context`, `-H`, `--config`, TLS flags), passed
    /// on to every invocation.
    globals: Vec<String>,
    /// docker's progress output goes to standard error (standard output carries JSON).
    progress_to_stderr: bool,
}

impl DockerCli {
    /// The CLI that started this plugin, else `docker` from `PATH`.
    pub fn from_env(globals: Vec<String>) -> DockerCli {
        let program = std::env::var_os(ORIGINAL_CLI_ENV)
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| OsString::from("docker"));
        DockerCli {
            program,
            globals,
            progress_to_stderr: false,
        }
    }

    /// Sends docker's progress output to standard error instead of standard output.
    pub fn with_progress_on_stderr(mut self, on_stderr: bool) -> DockerCli {
        self.progress_to_stderr = on_stderr;
        self
    }

    fn progress_stream(&self) -> Stdio {
        if self.progress_to_stderr {
            Stdio::from(std::io::stderr())
        } else {
            Stdio::inherit()
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.globals);
        // docker ≤ 28 would otherwise run its own content-trust code on pull and push (and
        // sign a push itself); Signet does the trust part.
        c.env_remove("DOCKER_CONTENT_TRUST");
        c
    }

    fn program_name(&self) -> String {
        self.program.to_string_lossy().into_owned()
    }

    /// Runs `docker <args>` with the user's terminal for output.
    fn run(&self, args: &[&str]) -> Result<(), DaemonError> {
        let status = self
            .command()
            .args(args)
            .stdin(Stdio::null())
            .stdout(self.progress_stream())
            .status()
            .map_err(|e| DaemonError::NotRunnable {
                program: self.program_name(),
                reason: e.to_string(),
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(DaemonError::Failed {
                action: args.join(" "),
                status: status.to_string(),
            })
        }
    }

    /// `docker pull NAME@sha256:…`: the daemon checks the content against the digest.
    pub fn pull_by_digest(&self, name: &str, sha256: &[u8; 32]) -> Result<(), DaemonError> {
        self.run(&["pull", &format!("{name}@sha256:{}", hex::encode(sha256))])
    }

    /// `docker tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<(), DaemonError> {
        self.run(&["tag", source, target])
    }

    /// Whether the daemon has an image by this reference.
    pub fn image_exists(&self, reference: &str) -> Result<bool, DaemonError> {
        let status = self
            .command()
            .args(["image", "inspect", "--format", "{{.Id}}", reference])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| DaemonError::NotRunnable {
                program: self.program_name(),
                reason: e.to_string(),
            })?;
        Ok(status.success())
    }

    /// `docker push NAME:TAG`, its progress copied to standard output line by line; returns
    /// the digest and size of the manifest the registry stored.
    pub fn push(&self, reference: &str, tag: &str) -> Result<PushedManifest, DaemonError> {
        let mut child = self
            .command()
            .args(["push", reference])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| DaemonError::NotRunnable {
                program: self.program_name(),
                reason: e.to_string(),
            })?;
        let mut pushed = None;
        if let Some(stdout) = child.stdout.take() {
            let mut out: Box<dyn Write> = if self.progress_to_stderr {
                Box::new(std::io::stderr().lock())
            } else {
                Box::new(std::io::stdout().lock())
            };
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(out, "{line}");
                if let Some(m) = parse_push_result(&line) {
                    pushed = Some(m);
                }
            }
        }
        let status = child.wait().map_err(|e| DaemonError::NotRunnable {
            program: self.program_name(),
            reason: e.to_string(),
        })?;
        if !status.success() {
            return Err(DaemonError::Failed {
                action: format!("push {reference}"),
                status: status.to_string(),
            });
        }
        let pushed = pushed.ok_or_else(|| DaemonError::NoDigest {
            reference: reference.to_string(),
        })?;
        if pushed.tag != tag {
            return Err(DaemonError::WrongTag {
                reference: reference.to_string(),
                pushed: pushed.tag,
            });
        }
        Ok(pushed)
    }
}

/// The daemon's closing push message: `<tag>: digest: sha256:<64 hex> size: <n>`.
pub fn parse_push_result(line: &str) -> Option<PushedManifest> {
    let (tag, rest) = line.trim().split_once(": digest: ")?;
    let (digest, size) = rest.split_once(" size: ")?;
    let hex_part = digest.strip_prefix("sha256:")?;
    let sha256: [u8; 32] = hex::decode(hex_part).ok()?.try_into().ok()?;
    let size: i64 = size.trim().parse().ok().filter(|n| *n > 0)?;
    Some(PushedManifest {
        tag: tag.to_string(),
        sha256,
        size,
    })
}

/// docker's familiar form of a repository name: `alpine` for `docker.io/library/alpine`,
/// `me/app` for `docker.io/me/app`, other registries unchanged.
pub fn familiar_name(gun: &str) -> &str {
    match gun.strip_prefix("docker.io/") {
        Some(rest) => rest.strip_prefix("library/").unwrap_or(rest),
        None => gun,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_daemons_push_result() {
        let line = format!("v1: digest: sha256:{} size: 528", "ab".repeat(32));
        let m = parse_push_result(&line).unwrap();
        assert_eq!((m.tag.as_str(), m.sha256, m.size), ("v1", [0xab; 32], 528));
        assert!(parse_push_result("v1: digest: sha256:abcd size: 528").is_none());
        assert!(parse_push_result("5f70bf18a086: Pushed").is_none());
        assert_eq!(familiar_name("docker.io/library/alpine"), "alpine");
        assert_eq!(familiar_name("docker.io/me/app"), "me/app");
        assert_eq!(
            familiar_name("registry.test:5000/team/app"),
            "registry.test:5000/team/app"
        );
    }
}
