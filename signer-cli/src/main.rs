//! `signet`: the docker-compatible content-trust signing client.

//! Parses the command line and dispatches to [`signet_cli::commands`]; prints what they
//! return.

mod args;
#[path = "../../packaging/clap_docs.rs"]
mod clap_docs;

use args::{Cli, Command, CosignCommand, KeyCommand, PluginCommand, SignerCommand};
use clap::{CommandFactory, Parser};
use signet_cli::commands::{
    cosign, forget, inspect, key, migrate, pull, push, revoke, sign, signer, status, verify, Report,
};
use signet_cli::docker_daemon::DockerCli;
use signet_cli::docker_plugin;
use signet_cli::image_ref;
use signet_cli::{out, outln, CliError, Context};
use std::process::ExitCode;

/// The version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SIGNET_GIT_COMMIT"),
    ")"
);

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
