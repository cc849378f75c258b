//! `signet-server`: the Signet trust server binary.

/// `println!` for a command's output, through [`stdout::report`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::report(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for a command's output, through [`stdout::report`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::report(format_args!($($arg)*))
    };
}

/// `println!` for the start-up banner, through [`stdout::banner`].
macro_rules! banner {
    ($($arg:tt)*) => {
        $crate::stdout::banner(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod admin;
#[path = "../../packaging/clap_docs.rs"]
mod clap_docs;
mod import_cmd;
mod run_server;
mod serve_args;
mod stdout;

use clap::{Args, CommandFactory, Parser, Subcommand};
use run_server::run_server;
use serve_args::{
    admin_storage, build_config, build_gate_config, existing_storage, parse_listen,
    read_file_config, signer_passphrase, ServeArgs,
};
use signet_server::serve;
use signet_server::tenancy::AdminService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "signet-server",
    version = VERSION,
    about = "Docker Content Trust (Notary v1) trust server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SIGNET_GIT_COMMIT"),
    ")"
);

#[derive(Subcommand)]
enum Command {
    /// Serve the Notary v1 API (default: https://127.0.0.1:4443, SQLite in ./signet-data).
    Serve(Box<ServeArgs>),
    /// Serve only the signed-only registry gate on --listen: a reverse proxy in front of an
    /// OCI registry that serves a manifest only when its repository's trust data signs it
    /// (same database and settings as serve; policy per registry: `registry gate`).
    Gate {
        /// The registry behind the gate: http(s)://host[:port].
        #[arg(long, env = "SIGNET_GATE_UPSTREAM")]
        upstream: String,
        /// CA (PEM) to trust for an HTTPS upstream, besides the system roots.
        #[arg(long, env = "SIGNET_GATE_UPSTREAM_CA")]
        upstream_ca: Option<PathBuf>,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Manage registries (tenants) and their content-trust policy.
    Registry {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        cmd: admin::RegistryCmd,
    },
    /// Manage users and service principals.
    Identity {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        cmd: admin::IdentityCmd,
    },
    /// Assign and revoke roles (Owner, Contributor, Reader, AcrPull, AcrPush, AcrDelete, AcrImageSigner).
    Role {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        cmd: admin::RoleCmd,
    },
    /// Reset a repository's trust data.
    Repository {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        cmd: admin::RepositoryCmd,
    },
    /// Show the audit log of changes (newest first), optionally filtered.
    Audit {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        filter: admin::AuditArgs,
    },
    /// List the metadata and root certificates that expire within a time span, earliest
    /// first, with what to do about each.
    Expiring {
        #[command(flatten)]
        db: DbArgs,
        /// How far ahead to look (e.g. 30d, 36h).
        #[arg(long, default_value = "30d")]
        within: String,
        /// One JSON document instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Remove old metadata versions: keeps every root, each role's newest --keep versions
    /// and every version a current file's checksum names. Prints what it removed.
    Gc {
        #[command(flatten)]
        db: DbArgs,
        /// How many of each role's newest versions to keep (at least 1: the current one).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        keep: u32,
        /// Report what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run again after every interval (e.g. 24h, 7d) until stopped; one JSON line per run.
        #[arg(long)]
        every: Option<String>,
    },
    /// Take a consistent snapshot of the running server's SQLite database (trust data,
    /// sealed server keys, registries, identities, audit log) into a new file. For
    /// PostgreSQL use pg_dump (README).
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The backup file to create (mode 0600; never overwritten).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Restore a backup into a new or empty data directory. Bring the signer passphrase the
    /// backed-up server used, and TLS material, as after any move.
    Restore {
        /// A file made by `signet-server backup`.
        file: PathBuf,
        /// The data directory to create (or an empty one).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Import repositories from a notary-server database (with the server-held keys from
    /// notary-signer's), a client's trust cache or another Signet server's archive, verified
    /// and stored verbatim.
    Import {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        args: Box<import_cmd::ImportArgs>,
    },
    /// Write repositories (every version; server keys only when asked) to a trust archive
    /// for `import --archive` on another Signet server, or as a per-repository backup.
    Export {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        args: Box<import_cmd::ExportArgs>,
    },
    /// Check that the server on this machine answers its health route (exit 0) or not
    /// (exit 1, one line why). Uses the same settings as `serve`.
    Healthcheck {
        #[command(flatten)]
        db: DbArgs,
        /// The server's --listen (HOST:PORT, localhost:PORT or :PORT).
        #[arg(long, env = "SIGNET_LISTEN")]
        listen: Option<String>,
        /// CA to verify the server with (default: <data-dir>/tls/ca.crt, the generated one).
        #[arg(long)]
        tls_ca: Option<PathBuf>,
        #[arg(long, env = "SIGNET_INSECURE_HTTP")]
        insecure_http: bool,
    },
    /// Print a shell completion script (e.g. signet-server completion bash >
    /// /etc/bash_completion.d/signet-server).
    Completion {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (signet-server.1 and one per subcommand) into a directory.
    ManPages {
        /// Where to write them, e.g. /usr/local/share/man/man1.
        dir: PathBuf,
    },
    /// Print the token signing certificate (PEM), for a registry's `auth.token.rootcertbundle`.
    TokenCertificate {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// Where the admin commands find the server's data: the same settings `serve` uses.
#[derive(Args, Clone)]
struct DbArgs {
    /// TOML config file (its data_dir and database are used).
    #[arg(long, env = "SIGNET_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[arg(long, env = "SIGNET_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// SQLite file path or postgres:// URL.
    #[arg(long, env = "SIGNET_DATABASE", global = true)]
    database: Option<String>,
}

/// What the operator brings to a restored data directory (printed by `restore`).
const RESTORE_NEXT: &str = "Start the server on this data directory with the signer passphrase the backed-up server used (--signer-passphrase-file or SIGNET_SIGNER_PASSPHRASE, or copy signer.passphrase from the old data directory if the server generated it; without it the server-held keys cannot be opened) and its TLS certificate and key (--tls-cert/--tls-key), or let it generate a new self-signed CA that clients must then trust.";

/// Prints a command's output, or its error as one line; the exit status follows.
fn report(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(out) => {
            outln!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signet-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The store and signer the import and export commands work on (same settings as `serve`).
fn import_target(
    db: &DbArgs,
    signer_passphrase_file: Option<PathBuf>,
) -> Result<import_cmd::ImportTarget, String> {
    let (data_dir, database) = admin_storage(db)?;
    serve::create_data_dir(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let file = read_file_config(db.config.as_deref())?;
    let pass = signer_passphrase(
        signer_passphrase_file
            .or(file.signer_passphrase_file)
            .as_deref(),
        &data_dir,
    )?;
    let store = serve::open_store(database.as_ref(), &data_dir)
        .map_err(|e| format!("opening the database: {e}"))?;
    let signer = signet_server::signer::Signer::open(store.clone(), pass.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(import_cmd::ImportTarget { store, signer })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let admin = |db: &DbArgs, run: &dyn Fn(&AdminService) -> Result<String, String>| {
        let result = existing_storage(db).and_then(|(data_dir, database)| {
            let store = serve::open_store(database.as_ref(), &data_dir)
                .map_err(|e| format!("opening the database: {e}"))?;
            let svc = AdminService::new(store, admin::actor());
            run(&svc)
        });
        match result {
            Ok(out) => {
                if !out.is_empty() {
                    outln!("{out}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("signet-server: {e}");
                ExitCode::FAILURE
            }
        }
    };
    match cli.command {
        Command::Registry { db, cmd } => admin(&db, &|svc| admin::registry(svc, &cmd)),
        Command::Identity { db, cmd } => admin(&db, &|svc| admin::identity(svc, &cmd)),
        Command::Role { db, cmd } => admin(&db, &|svc| admin::role(svc, &cmd)),
        Command::Repository { db, cmd } => admin(&db, &|svc| admin::repository(svc, &cmd)),
        Command::Audit { db, filter } => admin(&db, &|svc| admin::audit(svc, &filter)),
        Command::Healthcheck {
            db,
            listen,
            tls_ca,
            insecure_http,
        } => report((|| {
            let file = read_file_config(db.config.as_deref())?;
            let (data_dir, _) = admin_storage(&db)?;
            let listen = match listen.or(file.listen) {
                Some(l) => parse_listen(&l)?,
                None => SocketAddr::from(([127, 0, 0, 1], 4443)),
            };
            let plain = insecure_http || file.insecure_http.unwrap_or(false);
            let ca = (!plain).then(|| tls_ca.unwrap_or_else(|| data_dir.join("tls/ca.crt")));
            let addr = signet_server::healthcheck::probe_address(listen);
            signet_server::healthcheck::check(addr, ca.as_deref(), std::time::Duration::from_secs(5))
                .map(|status| format!("{addr}: {status}"))
                .map_err(|e| e.to_string())
        })()),
        Command::Completion { shell } => {
            clap_docs::completion(&mut Cli::command(), shell);
            ExitCode::SUCCESS
        }
        Command::ManPages { dir } => report(
            clap_docs::write_man_pages(Cli::command(), &dir)
                .map(|pages| {
                    pages
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .map_err(|(path, e)| format!("{}: {e}", path.display())),
        ),
        Command::Expiring { db, within, json } => {
            let ahead = match admin::parse_duration(&within) {
                Ok(d) => d,
                Err(e) => return report(Err(format!("--within: {e}"))),
            };
            let found = admin_storage(&db).and_then(|(data_dir, database)| {
                let store = serve::open_store(database.as_ref(), &data_dir)
                    .map_err(|e| format!("opening the database: {e}"))?;
                let until = time::OffsetDateTime::now_utc() + ahead;
                signet_server::expiry::expiring(store.as_ref(), until)
                    .map(|(list, broken)| (until, list, broken))
                    .map_err(|e| e.to_string())
            });
            let (until, list, broken) = match found {
                Ok(f) => f,
                Err(e) => return report(Err(e)),
            };
            let rfc3339 = |t: time::OffsetDateTime| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            };
            if json {
                let entries: Vec<serde_json::Value> = list
                    .iter()
                    .map(|e| {
                        let mut v = serde_json::to_value(e).unwrap_or_default();
                        v["remedy"] = e.remedy().into();
                        v
                    })
                    .collect();
                let broken: Vec<String> = broken.iter().map(|e| e.to_string()).collect();
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "until": rfc3339(until),
                        "expiring": entries,
                        "unreadable": broken,
                    }))
                    .unwrap_or_default()
                );
            } else {
                if list.is_empty() {
                    outln!("nothing expires before {}", rfc3339(until));
                }
                for e in &list {
                    let what = match e.version {
                        Some(v) => format!("{} v{v}", e.what),
                        None => e.what.clone(),
                    };
                    outln!("{}  {}  {what}: {}", rfc3339(e.expires), e.gun, e.remedy());
                }
                for b in &broken {
                    eprintln!("signet-server: {b}");
                }
            }
            if broken.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Gc {
            db,
            keep,
            dry_run,
            every,
        } => {
            let interval = match every.as_deref().map(admin::parse_duration).transpose() {
                Ok(i) => i,
                Err(e) => return report(Err(format!("--every: {e}"))),
            };
            if interval.is_some_and(|i| i < time::Duration::minutes(1)) {
                return report(Err("--every must be at least 1m".into()));
            }
            let store = match existing_storage(&db).and_then(|(data_dir, database)| {
                serve::open_store(database.as_ref(), &data_dir)
                    .map_err(|e| format!("opening the database: {e}"))
            }) {
                Ok(s) => s,
                Err(e) => return report(Err(e)),
            };
            loop {
                let run = signet_server::gc::collect(store.as_ref(), keep as usize, dry_run)
                    .map_err(|e| e.to_string())
                    .map(|r| {
                        if interval.is_some() {
                            serde_json::to_string(&r).unwrap_or_default()
                        } else {
                            serde_json::to_string_pretty(&r).unwrap_or_default()
                        }
                    });
                let Some(interval) = interval else {
                    return report(run);
                };
                match run {
                    Ok(line) => outln!("{line}"),
                    // A periodic run outlives a database hiccup; the next run retries.
                    Err(e) => eprintln!("signet-server: gc: {e}"),
                }
                std::thread::sleep(interval.unsigned_abs());
            }
        }
        Command::Backup { db, output } => report(existing_storage(&db).and_then(|(data_dir, database)| {
            let path = match database {
                None => data_dir.join("signet.sqlite"),
                Some(serve::Database::Sqlite(p)) => p,
                Some(serve::Database::Postgres(_)) => {
                    return Err("backup copies a SQLite database; for PostgreSQL use pg_dump (see the README's backup section)".into())
                }
            };
            let contents = signet_server::backup::backup(&path, &output).map_err(|e| e.to_string())?;
            Ok(serde_json::json!({"backup": output, "database": path, "contents": contents}).to_string())
        })),
        Command::Restore { file, data_dir } => report((|| {
            let (db, contents) =
                signet_server::backup::restore(&file, &data_dir).map_err(|e| e.to_string())?;
            eprintln!("{RESTORE_NEXT}");
            Ok(serde_json::json!({"restored": db, "contents": contents}).to_string())
        })()),
        Command::Import { db, args } => {
            let result = import_target(&db, args.signer_passphrase_file.clone())
                .and_then(|target| import_cmd::run(&args, target, admin::actor()));
            match result {
                Ok(code) => ExitCode::from(code),
                Err(e) => {
                    eprintln!("signet-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Export { db, args } => {
            match import_target(&db, args.signer_passphrase_file.clone())
                .and_then(|target| import_cmd::export(&args, target))
            {
                Ok(summary) => {
                    outln!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("signet-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::TokenCertificate { db } => {
            let result = existing_storage(&db).and_then(|(data_dir, database)| {
                let store = serve::open_store(database.as_ref(), &data_dir)
                    .map_err(|e| format!("opening the database: {e}"))?;
                signet_server::token::stored_certificate_pem(store.as_ref())
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "no token signing key yet: start the server once".to_string())
            });
            match result {
                Ok(pem) => {
                    out!("{pem}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("signet-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => run_server(build_config(*args)),
        Command::Gate {
            upstream,
            upstream_ca,
            serve,
        } => run_server(build_gate_config(*serve, upstream, upstream_ca)),
    }
}
