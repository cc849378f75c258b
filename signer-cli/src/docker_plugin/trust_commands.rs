//! docker 28's `docker trust` subcommands, for the docker CLI plugin: the same arguments,
//! prompts, messages (standard output and error, in docker's order) and outcomes, on Signet's
//! verified client and its [`commands`](crate::commands). Where docker's own code would do
//! nothing or something other than asked, the difference is named in the function's comment.

use crate::commands::{self, key, pull, push, revoke, sign, signer, Report};
use crate::context::Context;
use crate::docker_daemon::{familiar_name, DaemonError, DockerCli};
use crate::docker_format::{self, TrustInfo};
use crate::error::CliError;
use crate::image_ref::{self, ImageRef};
use crate::trusted_repo::TrustedRepo;
use std::io::{BufRead, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrustCommandError {
    /// docker's message for a failed command (printed on standard error, exit status 1).
    #[error("{0}")]
    Failed(String),
    /// The user answered no at a confirmation prompt: docker 28 prints nothing and exits 0.
    #[error("cancelled")]
    Cancelled,
}

impl From<CliError> for TrustCommandError {
    fn from(e: CliError) -> Self {
        TrustCommandError::Failed(e.to_string())
    }
}

impl From<DaemonError> for TrustCommandError {
    fn from(e: DaemonError) -> Self {
        TrustCommandError::Failed(e.to_string())
    }
}

/// An I/O error as Go's `os` package words it: `open /x: no such file or directory`.
fn go_path_error(op: &str, path: &Path, e: &std::io::Error) -> String {
    let text = e.to_string();
    // Rust appends " (os error N)" to the C library's text, which Go writes in lower case.
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    let text = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{op} {}: {text}", path.display())
}

fn failed(msg: impl Into<String>) -> TrustCommandError {
    TrustCommandError::Failed(msg.into())
}

/// Prints a command's warnings on standard error.
fn warn(report: &dyn Report) {
    for w in report.warnings() {
        eprintln!("{w}");
    }
}

/// A verified repository, `Ok(None)` when the server has no trust data for it.
fn fetch_repo(ctx: &Context, gun: &str) -> Result<Option<TrustedRepo>, CliError> {
    match commands::fetch_verified(ctx, gun) {
        Ok(repo) => {
            for w in &repo.warnings {
                eprintln!("{w}");
            }
            Ok(Some(repo))
        }
        Err(CliError::NoTrustData(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// docker's `prompt.Confirm`: the question with ` [y/N] ` on standard output, one line read.
fn confirm(question: &str) -> bool {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{question} [y/N] ");
    let _ = out.flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => line.trim().eq_ignore_ascii_case("y"),
        _ => false,
    }
}

fn lookup(ctx: &Context, remote: &str) -> Result<TrustInfo, String> {
    let r = image_ref::parse(remote).map_err(|e| e.to_string())?;
    match fetch_repo(ctx, &r.gun) {
        Ok(Some(repo)) => Ok(TrustInfo::from_repo(&repo, r.tag.as_deref())),
        Ok(None) => Err(format!("no signatures or cannot access {remote}")),
        // docker says only the first part (the cause is a debug log there); a verification
        // failure is worth naming.
        Err(e) => Err(format!("no signatures or cannot access {remote}: {e}")),
    }
}

/// `docker trust inspect [--pretty] IMAGE[:TAG]...`
pub fn inspect(ctx: &Context, remotes: &[String], pretty: bool) -> Result<(), TrustCommandError> {
    let mut out = std::io::stdout().lock();
    if pretty {
        for (n, remote) in remotes.iter().enumerate() {
            let info = lookup(ctx, remote).map_err(TrustCommandError::Failed)?;
            let _ = out.write_all(docker_format::inspect_pretty(remote, &info).as_bytes());
            if n + 1 < remotes.len() {
                let _ = out.write_all(b"\n\n");
            }
        }
        return Ok(());
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for remote in remotes {
        match lookup(ctx, remote) {
            Ok(info) => found.push((remote.clone(), info)),
            Err(e) => errors.push(e),
        }
    }
    let _ = out.write_all(docker_format::inspect_json(&found).as_bytes());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(failed(errors.join("\n")))
    }
}

/// The digest and size docker's `trust sign` takes for an already released tag: the first
/// released entry in notary's walk order (`targets` before `targets/releases`).
fn released_target(repo: &TrustedRepo, tag: &str) -> Option<([u8; 32], i64)> {
    let files = std::iter::once(&repo.targets).chain(repo.delegations.get("targets/releases"));
    for f in files {
        if let Some(meta) = f.signed.target_map().get(tag) {
            let sha = meta
                .hash("sha256")
                .and_then(|h| <[u8; 32]>::try_from(h).ok())?;
            return Some((sha, meta.length));
        }
    }
    None
}

/// Prints what `push`/`sign` signed after a push, in docker's words.
fn print_pushed(pushed: &push::Pushed) {
    warn(pushed);
    outln!("{}", pushed.human());
}

/// `docker trust sign [--local] IMAGE:TAG`. A tag already released is signed again with the
/// user's keys; otherwise (or with `--local`) the local image is pushed through the daemon
/// and its manifest signed. A repository without trust data is first initialised with a signer
/// named after the registry user, as docker does; with no registry user known, as a trusted
/// `docker push` initialised it (the repository key signs the tag).
pub fn sign(
    ctx: &Context,
    docker: &DockerCli,
    image: &str,
    local: bool,
) -> Result<(), TrustCommandError> {
    let r = image_ref::parse(image)?;
    let Some(tag) = r.tag.clone() else {
        return Err(failed(format!("no tag specified for {image}")));
    };
    let local_ref = format!("{}:{tag}", familiar_name(&r.gun));
    let mut repo = fetch_repo(ctx, &r.gun)?;
    if repo.is_none() {
        // docker checks for the local image before it initialises anything.
        require_local_image(docker, &local_ref)?;
        if let Some(user) = registry_user(&r.gun) {
            init_with_signer(ctx, &r, &user)
                .map_err(|e| failed(format!("could not initialize {}: {e}", r.gun)))?;
            outln!("Created signer: {user}");
            outln!("Finished initializing signed repository for {image}");
            repo = fetch_repo(ctx, &r.gun)?;
        }
        // Without a registry user the push below initialises the repository as a trusted
        // `docker push` did (the repository key signs the tag).
    }
    let released = repo
        .as_ref()
        .and_then(|repo| Some((repo, released_target(repo, &tag)?)));
    match (released, local) {
        (Some((repo, (sha256, size))), false) => {
            outln!("Signing and pushing trust metadata for {image}");
            let digest = hex::encode(sha256);
            let mut existing =
                docker_format::released_rows(&TrustInfo::from_repo(repo, Some(&tag)).targets)
                    .into_iter()
                    .find(|row| row.digest == digest)
                    .map(|row| row.signers)
                    .unwrap_or_default();
            existing.sort();
            let signed = sign::sign(ctx, &r, sign::Manifest::Given { sha256, size })
                .map_err(|e| failed(format!("failed to sign {}:{tag}: {e}", r.gun)))?;
            outln!(
                "Existing signatures for tag {tag} digest {digest} from:\n{}",
                existing.join(", ")
            );
            warn(&signed);
            outln!("Successfully signed {}:{tag}", r.gun);
            Ok(())
        }
        _ => {
            require_local_image(docker, &local_ref)?;
            eprintln!(
                "Signing and pushing trust data for local image {image}, may overwrite remote trust data"
            );
            let pushed = docker.push(&local_ref, &tag)?;
            print_pushed(&push::sign_pushed(ctx, &r, pushed.sha256, pushed.size)?);
            Ok(())
        }
    }
}

fn require_local_image(docker: &DockerCli, reference: &str) -> Result<(), TrustCommandError> {
    if docker.image_exists(reference)? {
        Ok(())
    } else {
        Err(failed(format!(
            "Error response from daemon: No such image: {reference}"
        )))
    }
}

/// The user name docker's credentials hold for the repository's registry.
fn registry_user(gun: &str) -> Option<String> {
    let host = gun.split('/').next()?;
    match crate::auth::credentials(host)? {
        crate::auth::Credentials::Password { user, .. } if !user.is_empty() => Some(user),
        _ => None,
    }
}

/// What docker's `trust sign` does to a repository without trust data: initialise it (root
/// key reused or created, new repository key, snapshot key on the server) with the signer
/// `targets/<registry user>` (also in `targets/releases`), whose key is the first stored key
/// of that role or a new one.
fn init_with_signer(ctx: &Context, image: &ImageRef, user: &str) -> Result<(), CliError> {
    let mut pass = ctx.passphrases()?;
    let existing = ctx
        .store
        .list()?
        .into_iter()
        .filter(|k| k.role == user)
        .min_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let key = match existing {
        Some(k) => ctx.store.load(&k.id, pass.as_mut())?.1.public_key(),
        None => {
            let k = signet_keys::PrivateKey::generate_ecdsa();
            ctx.store.add(&k, user, None, pass.as_mut())?;
            k.public_key()
        }
    };
    let mut ed = crate::editor::Editor::open(ctx, &image.gun)?;
    ed.add_signer(user, vec![key])?;
    ed.publish()?;
    Ok(())
}

/// `docker trust revoke [-y] IMAGE[:TAG]`
pub fn revoke(ctx: &Context, remote: &str, yes: bool) -> Result<(), TrustCommandError> {
    let r = image_ref::parse(remote)?;
    if r.tag.is_none()
        && !yes
        && !confirm(&format!(
            "Confirm you would like to delete all signature data for {remote}?"
        ))
    {
        return Err(TrustCommandError::Cancelled);
    }
    let wrap = |e: String| failed(format!("could not remove signature for {remote}: {e}"));
    let repo = fetch_repo(ctx, &r.gun)
        .map_err(|e| wrap(e.to_string()))?
        .ok_or_else(|| wrap(format!("remote trust data does not exist for {}", r.gun)))?;
    let nothing_released = repo.targets.signed.target_map().is_empty()
        && repo
            .delegations
            .get("targets/releases")
            .is_none_or(|f| f.signed.target_map().is_empty());
    match &r.tag {
        Some(tag) if released_target(&repo, tag).is_none() => {
            return Err(wrap(format!("No valid trust data for {tag}")));
        }
        None if nothing_released => return Err(wrap("no signed tags to remove".into())),
        _ => {}
    }
    let revoked = revoke::revoke(ctx, &r).map_err(|e| wrap(e.to_string()))?;
    warn(&revoked);
    outln!("Successfully deleted signature for {remote}");
    Ok(())
}

/// `docker trust pull IMAGE[:TAG]` (Signet's addition): `signet pull`.
pub fn pull(ctx: &Context, docker: &DockerCli, image: &str) -> Result<(), TrustCommandError> {
    let r = image_ref::parse(image)?;
    let target = pull::resolve(ctx, &r)?;
    for w in &target.warnings {
        eprintln!("{w}");
    }
    outln!("{}", target.announcement());
    let pulled = target.pull(docker)?;
    eprintln!("{}", pulled.human());
    Ok(())
}

/// `docker trust push IMAGE:TAG` (Signet's addition): `signet push`.
pub fn push(ctx: &Context, docker: &DockerCli, image: &str) -> Result<(), TrustCommandError> {
    let r: ImageRef = image_ref::parse(image)?;
    print_pushed(&push::push(ctx, docker, &r)?);
    Ok(())
}

/// docker's rule for key and signer names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn bad_name(kind: &str, name: &str) -> TrustCommandError {
    failed(format!("{kind} name \"{name}\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character"))
}

/// `docker trust key generate NAME [--dir DIR]`
pub fn key_generate(
    ctx: &Context,
    name: &str,
    dir: Option<&Path>,
) -> Result<(), TrustCommandError> {
    let dir: PathBuf = match dir {
        Some(d) => d.to_path_buf(),
        None => std::env::current_dir().map_err(|e| failed(e.to_string()))?,
    };
    if !valid_name(name) {
        return Err(bad_name("key", name));
    }
    if std::fs::metadata(&dir).is_err() {
        return Err(failed(format!(
            "public key path does not exist: \"{}\"",
            dir.display()
        )));
    }
    let pub_path = dir.join(format!("{name}.pub"));
    if std::fs::metadata(&pub_path).is_ok() {
        return Err(failed(format!(
            "public key file already exists: \"{}\"",
            pub_path.display()
        )));
    }
    outln!("Generating key for {name}...");
    let generated = key::generate(ctx, name, &dir)
        .map_err(|e| failed(format!("failed to generate key for {name}: {e}")))?;
    outln!("{}", generated.human());
    Ok(())
}

/// `docker trust key load [--name NAME] KEYFILE`
pub fn key_load(ctx: &Context, file: &Path, name: &str) -> Result<(), TrustCommandError> {
    if !name.is_empty() && !valid_name(name) {
        return Err(bad_name("key", name));
    }
    let shown = file.display();
    outln!("Loading key from \"{shown}\"...");
    let refuse = |e: String| failed(format!("refusing to load key from {shown}: {e}"));
    let meta = std::fs::metadata(file).map_err(|e| refuse(go_path_error("stat", file, &e)))?;
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "private key file {shown} must not be readable or writable by others"
        )));
    }
    key::load(ctx, file, name)
        .map_err(|e| failed(format!("error importing key from {shown}: {e}")))?;
    outln!("Successfully imported key from {shown}");
    Ok(())
}

/// `docker trust signer add --key FILE... NAME REPOSITORY...`
pub fn signer_add(
    ctx: &Context,
    name: &str,
    repos: &[String],
    keys: &[PathBuf],
) -> Result<(), TrustCommandError> {
    if !valid_name(name) {
        return Err(bad_name("signer", name));
    }
    if name == "releases" {
        return Err(failed(
            "releases is a reserved keyword, use a different signer name",
        ));
    }
    if keys.is_empty() {
        return Err(failed(
            "path to a public key must be provided using the `--key` flag",
        ));
    }
    let mut public = Vec::new();
    for k in keys {
        if let Err(e) = std::fs::File::open(k) {
            return Err(failed(format!(
                "unable to read public key from file: {}",
                go_path_error("open", k, &e)
            )));
        }
        public.push(signer::read_public_key(k).map_err(|e| {
            failed(format!(
                "could not parse public key from file: {}: {e}",
                k.display()
            ))
        })?);
    }
    let mut failed_repos = Vec::new();
    for repo in repos {
        outln!("Adding signer \"{name}\" to {repo}...");
        let added = image_ref::parse(repo).and_then(|r| signer::add(ctx, &r.gun, name, &public));
        match added {
            Ok(added) => {
                warn(&added);
                if added.initialized {
                    outln!("Initializing signed repository for {repo}...");
                    outln!("Successfully initialized \"{repo}\"");
                }
                outln!("Successfully added signer: {name} to {repo}\n");
            }
            Err(e) => {
                eprintln!("{e}\n");
                failed_repos.push(repo.as_str());
            }
        }
    }
    if failed_repos.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "failed to add signer to: {}",
            failed_repos.join(", ")
        )))
    }
}

/// `docker trust signer remove [-f] NAME REPOSITORY...`. docker asks for confirmation when the
/// signer's signatures are all that keep `targets/releases` at its threshold. (docker 28's own
/// code then removes nothing unless that question was asked and answered yes; Signet removes
/// the signer as docker's documentation describes.)
pub fn signer_remove(
    ctx: &Context,
    name: &str,
    repos: &[String],
    force: bool,
) -> Result<(), TrustCommandError> {
    let mut failed_repos = Vec::new();
    for repo in repos {
        outln!("Removing signer \"{name}\" from {repo}...");
        if let Err(e) = remove_one(ctx, name, repo, force) {
            eprintln!("{e}\n");
            failed_repos.push(repo.as_str());
        }
    }
    if failed_repos.is_empty() {
        Ok(())
    } else {
        Err(failed(format!(
            "error removing signer from: {}",
            failed_repos.join(", ")
        )))
    }
}

fn remove_one(ctx: &Context, name: &str, repo: &str, force: bool) -> Result<(), String> {
    let r = image_ref::parse(repo).map_err(|e| e.to_string())?;
    if name == "releases" {
        return Err("releases is a reserved keyword and cannot be removed".into());
    }
    let trusted = fetch_repo(ctx, &r.gun)
        .map_err(|e| format!("error retrieving signers for {repo}: {e}"))?
        .ok_or_else(|| {
            format!("error retrieving signers for {repo}: remote trust data does not exist")
        })?;
    let info = TrustInfo::from_repo(&trusted, None);
    let Some(signer_keys) = info.signers.get(name) else {
        return Err(format!("no signer {name} for repository {repo}"));
    };
    let threshold = trusted
        .targets
        .signed
        .delegation("targets/releases")
        .map(|d| d.threshold)
        .unwrap_or(1);
    let signatures = trusted
        .delegations
        .get("targets/releases")
        .map(|f| f.envelope.signatures().to_vec())
        .unwrap_or_default();
    if signatures.is_empty() {
        return Err("all signed tags are currently revoked, use docker trust sign to fix".into());
    }
    let remaining = signatures
        .iter()
        .filter(|s| !signer_keys.contains(&s.keyid))
        .count() as i64;
    if remaining < threshold
        && !force
        && !confirm(&format!(
            "The signer \"{name}\" signed the last released version of {repo}. Removing this signer will make {repo} unpullable. Are you sure you want to continue?"
        ))
    {
        return Ok(());
    }
    // The question above is docker's guard; answered (or forced), the removal goes ahead.
    let removed = signer::remove(ctx, &r.gun, name, true).map_err(|e| e.to_string())?;
    warn(&removed);
    outln!("Successfully removed {name} from {repo}\n");
    Ok(())
}
