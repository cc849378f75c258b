//! `signet-server import`: bring repositories from another Notary v1 server into this
//! server's store (see `signet_server::import`). Prints one line per repository (or a JSON
//! summary with `--json`), a progress line on a terminal, and exits non-zero when any
//! repository was refused. And `signet-server export`, which writes the archive
//! `import --archive` reads.

use clap::{ArgGroup, Args};
use signet_server::import::archive::Archive;
use signet_server::import::archive::ArchiveKeys;
use signet_server::import::chain::SourceFile;
use signet_server::import::notary_db::{redact, NotaryDb};
use signet_server::import::notary_http::{read_gun_file, NotaryHttp};
use signet_server::import::{
    chain::History, Importer, NotarySignerKeys, Outcome, RepositoryReport, ServerKeySource,
    SignerPassphrases, SourceKey,
};
use signet_server::import::{client_cache, ImportError};
use signet_server::signer::Signer;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;
use zeroize::Zeroizing;

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true).multiple(true).args(["gun", "gun_file", "all"])))]
#[command(group(ArgGroup::new("source").required(true).args(["notary_db", "from_cache", "archive", "from"])))]
pub struct ImportArgs {
    /// notary-server's database: postgres://… (Harbor) or mysql://user:password@host/db.
    #[arg(long, value_name = "URL")]
    pub notary_db: Option<String>,
    /// notary-signer's database, to import the server-held timestamp/snapshot keys.
    #[arg(long, value_name = "URL", requires = "notary_db")]
    pub signer_db: Option<String>,
    /// A client's trust cache (~/.docker/trust, a notary trust dir, or a repository's
    /// metadata folder), when the server is gone: the newest versions it verified.
    #[arg(long, value_name = "DIR")]
    pub from_cache: Option<PathBuf>,
    /// A live Notary server (https://notary.example.com), for sources whose server keys
    /// cannot be exported: every version it serves, fetched with token auth (credentials in
    /// NOTARY_AUTH, base64 of user:password, as notary's CLI takes them). Served read-only
    /// until the root key holder hands over (`signet migrate`).
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// CA certificate of the --from server (besides the system's).
    #[arg(long, value_name = "FILE", requires = "from")]
    pub tlscacert: Option<PathBuf>,
    /// A trust archive made by `signet-server export` on another Signet server.
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// File with the passphrase the archive's server keys were exported under (else
    /// SIGNET_ARCHIVE_PASSPHRASE).
    #[arg(long, value_name = "FILE", requires = "archive")]
    pub archive_passphrase_file: Option<PathBuf>,
    /// Where a notary-signer passphrase alias is read from (default: the environment
    /// variable NOTARY_SIGNER_<ALIAS>, as notary-signer reads it). Repeatable.
    #[arg(
        long = "signer-passphrase",
        value_name = "ALIAS=ENVVAR",
        requires = "signer_db"
    )]
    pub signer_passphrase: Vec<String>,
    /// Repository to import (repeatable).
    #[arg(long)]
    pub gun: Vec<String>,
    /// File naming repositories to import, one a line (# comments allowed).
    #[arg(long, value_name = "FILE")]
    pub gun_file: Option<PathBuf>,
    /// Import every repository of the source (not with --from: a Notary server does not
    /// list its repositories).
    #[arg(long, conflicts_with_all = ["gun", "gun_file", "from"])]
    pub all: bool,
    /// Print a JSON summary (per repository: versions imported, skipped, refused and why).
    #[arg(long)]
    pub json: bool,
    /// Repositories verified and stored in parallel (each worker has its own source
    /// connections).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub jobs: u16,
    /// File with Signet's own signer passphrase (else SIGNET_SIGNER_PASSPHRASE, else
    /// <data-dir>/signer.passphrase), the one `serve` uses.
    #[arg(long, env = "SIGNET_SIGNER_PASSPHRASE_FILE")]
    pub signer_passphrase_file: Option<PathBuf>,
}

/// Where one worker reads repositories from.
enum Source {
    NotaryDb(NotaryDb),
    Cache(PathBuf),
    /// An archive read once and shared by the workers (each takes its repositories out).
    Archive(Arc<Mutex<BTreeMap<String, Vec<SourceFile>>>>),
    Http(NotaryHttp),
}

impl Source {
    fn guns(&mut self) -> Result<Vec<String>, String> {
        match self {
            Source::NotaryDb(db) => db.guns(),
            Source::Cache(dir) => client_cache::guns(dir),
            Source::Archive(repos) => Ok(lock(repos).keys().cloned().collect()),
            Source::Http(_) => Err(ImportError::Usage(
                "a Notary server does not list its repositories: give --gun or --gun-file".into(),
            )),
        }
        .map_err(|e| e.to_string())
    }

    /// The repository's files, and how much of its history they are when the source says
    /// per repository.
    fn files(&mut self, gun: &str) -> Result<(Vec<SourceFile>, Option<History>), ImportError> {
        match self {
            Source::NotaryDb(db) => db.files(gun).map(|f| (f, None)),
            Source::Cache(dir) => client_cache::files(dir, gun).map(|f| (f, None)),
            Source::Archive(repos) => Ok((lock(repos).remove(gun).unwrap_or_default(), None)),
            Source::Http(source) => source.files(gun).map(|(f, h)| (f, Some(h))),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An archive's keys shared by the workers.
struct SharedArchiveKeys(Arc<Mutex<ArchiveKeys>>);

impl ServerKeySource for SharedArchiveKeys {
    fn server_key(&mut self, key_id: &str) -> Result<Option<SourceKey>, ImportError> {
        lock(&self.0).server_key(key_id)
    }
}

/// What the workers open their sources from.
enum SourceSpec {
    NotaryDb {
        url: String,
        signer_url: Option<String>,
        passphrases: SignerPassphrases,
    },
    Cache(PathBuf),
    Archive {
        path: PathBuf,
        repos: Arc<Mutex<BTreeMap<String, Vec<SourceFile>>>>,
        keys: Option<Arc<Mutex<ArchiveKeys>>>,
    },
    Http(NotaryHttp),
}

impl SourceSpec {
    fn describe(&self) -> String {
        match self {
            SourceSpec::NotaryDb { url, .. } => format!("notary-db {}", redact(url)),
            SourceSpec::Cache(dir) => format!("client cache {}", dir.display()),
            SourceSpec::Archive { path, .. } => format!("archive {}", path.display()),
            SourceSpec::Http(source) => format!("notary-server {}", source.base()),
        }
    }

    fn history(&self) -> History {
        match self {
            SourceSpec::NotaryDb { .. } => History::Complete,
            SourceSpec::Cache(_) | SourceSpec::Archive { .. } | SourceSpec::Http(_) => {
                History::Partial
            }
        }
    }

    /// A database source stops the run when it fails; a cache or archive only refuses the
    /// repository it could not read.
    fn failure_is_fatal(&self) -> bool {
        matches!(self, SourceSpec::NotaryDb { .. })
    }

    /// One worker's connections.
    #[allow(clippy::type_complexity)]
    fn open(&self) -> Result<(Source, Option<Box<dyn ServerKeySource>>), String> {
        Ok(match self {
            SourceSpec::NotaryDb {
                url,
                signer_url,
                passphrases,
            } => {
                let keys: Option<Box<dyn ServerKeySource>> = match signer_url {
                    Some(signer_url) => Some(Box::new(NotarySignerKeys {
                        db: NotaryDb::connect(signer_url).map_err(|e| e.to_string())?,
                        passphrases: passphrases.clone(),
                    })),
                    None => None,
                };
                (
                    Source::NotaryDb(NotaryDb::connect(url).map_err(|e| e.to_string())?),
                    keys,
                )
            }
            SourceSpec::Cache(dir) => (Source::Cache(dir.clone()), None),
            SourceSpec::Http(source) => (Source::Http(source.clone()), None),
            SourceSpec::Archive { repos, keys, .. } => (
                Source::Archive(repos.clone()),
                keys.as_ref()
                    .map(|k| Box::new(SharedArchiveKeys(k.clone())) as Box<dyn ServerKeySource>),
            ),
        })
    }
}

pub struct ImportTarget {
    pub store: std::sync::Arc<dyn signet_server::store::Store>,
    pub signer: Signer,
}

fn passphrase_map(pairs: &[String]) -> Result<SignerPassphrases, String> {
    let mut out = SignerPassphrases::default();
    for p in pairs {
        let (alias, var) = p
            .split_once('=')
            .filter(|(a, v)| !a.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("--signer-passphrase {p:?}: expected ALIAS=ENVVAR"))?;
        out.env_by_alias.insert(alias.to_string(), var.to_string());
    }
    Ok(out)
}

/// Runs the import; returns the process exit status (0 all imported or skipped, 1 when a
/// repository was refused) or an error that stopped the whole run.
pub fn run(args: &ImportArgs, target: ImportTarget, actor: String) -> Result<u8, String> {
    let passphrases = passphrase_map(&args.signer_passphrase)?;
    let tenancy = signet_server::tenancy::load(target.store.as_ref())
        .map_err(|e| format!("reading registries: {e}"))?;
    let spec = match (&args.notary_db, &args.from_cache, &args.archive) {
        _ if args.from.is_some() => {
            let url = args.from.as_deref().unwrap_or_default();
            SourceSpec::Http(
                NotaryHttp::new(url, args.tlscacert.as_deref()).map_err(|e| e.to_string())?,
            )
        }
        (Some(url), _, _) => SourceSpec::NotaryDb {
            url: url.clone(),
            signer_url: args.signer_db.clone(),
            passphrases,
        },
        (None, Some(dir), _) => SourceSpec::Cache(dir.clone()),
        (None, None, Some(path)) => {
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut archive = Archive::read(std::io::BufReader::new(file))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let keys = if archive.keys.is_empty() {
                None
            } else {
                let passphrase = archive_passphrase(args.archive_passphrase_file.as_deref())
                    .map_err(|e| format!("{e} (the archive holds server keys)"))?;
                archive
                    .keys
                    .open(passphrase.as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Some(Arc::new(Mutex::new(archive.keys)))
            };
            SourceSpec::Archive {
                path: path.clone(),
                repos: Arc::new(Mutex::new(archive.repositories)),
                keys,
            }
        }
        (None, None, None) => {
            return Err(
                "give --notary-db URL, --from URL, --from-cache DIR or --archive FILE".into(),
            )
        }
    };
    let mut opened = spec.open()?;
    let guns = if args.all {
        opened.0.guns()?
    } else {
        let mut guns = args.gun.clone();
        if let Some(f) = &args.gun_file {
            guns.extend(read_gun_file(f).map_err(|e| e.to_string())?);
        }
        guns
    };
    let importer = Importer {
        store: target.store.as_ref(),
        signer: &target.signer,
        tenancy: &tenancy,
        actor,
        source: spec.describe(),
        history: spec.history(),
    };
    let jobs = usize::from(args.jobs).clamp(1, 16).min(guns.len().max(1));
    target
        .store
        .begin_bulk_import()
        .map_err(|e| format!("preparing the database: {e}"))?;
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Result<(usize, RepositoryReport), String>>();
    let mut reports: Vec<Option<RepositoryReport>> = vec![None; guns.len()];
    let mut fatal: Option<String> = None;
    std::thread::scope(|scope| {
        let mut first = Some(opened);
        for _ in 0..jobs {
            let tx = tx.clone();
            let opened = first.take().map(Ok).unwrap_or_else(|| spec.open());
            let (guns, next, stop, importer, spec) = (&guns, &next, &stop, &importer, &spec);
            scope.spawn(move || {
                let (mut source, mut keys) = match opened {
                    Ok(o) => o,
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(gun) = guns.get(i) else { break };
                    let report = match source.files(gun) {
                        Err(e @ ImportError::Source(_)) if spec.failure_is_fatal() => {
                            stop.store(true, Ordering::Relaxed);
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                        Err(e) => RepositoryReport::refused(gun, 0, e),
                        Ok((files, _)) if files.is_empty() => {
                            RepositoryReport::refused(gun, 0, ImportError::NotInSource)
                        }
                        Ok((files, history)) => importer.import_as(
                            gun,
                            files,
                            keys.as_deref_mut().map(|k| k as &mut dyn ServerKeySource),
                            history.unwrap_or(importer.history),
                        ),
                    };
                    if tx.send(Ok((i, report))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0usize;
        for msg in rx {
            match msg {
                Ok((i, report)) => {
                    done += 1;
                    if !args.json {
                        if progress {
                            eprint!("\r\x1b[K");
                        }
                        outln!("{}", report.line());
                    }
                    if progress {
                        let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                        eprint!("\r\x1b[K[{done}/{}] {rate:.0}/s {}", guns.len(), report.gun);
                    }
                    reports[i] = Some(report);
                }
                Err(e) => {
                    fatal.get_or_insert(e);
                }
            }
        }
    });
    if progress {
        eprint!("\r\x1b[K");
    }
    target
        .store
        .end_bulk_import()
        .map_err(|e| format!("syncing the database: {e}"))?;
    if let Some(e) = fatal {
        return Err(e);
    }
    let reports: Vec<RepositoryReport> = reports.into_iter().flatten().collect();
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    let (imported, skipped, refused) = (
        count(Outcome::Imported),
        count(Outcome::Skipped),
        count(Outcome::Refused),
    );
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let summary = serde_json::json!({
            "imported": imported,
            "skipped": skipped,
            "refused": refused,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "repositories": reports,
        });
        outln!("{summary}");
    } else {
        outln!(
            "{} repositories: {imported} imported, {skipped} skipped (identical), {refused} refused ({seconds:.1} s)",
            reports.len()
        );
    }
    let _ = std::io::stdout().flush();
    Ok(if refused > 0 { 1 } else { 0 })
}

/// The archive passphrase: from a file (first line), else SIGNET_ARCHIVE_PASSPHRASE.
fn archive_passphrase(file: Option<&Path>) -> Result<Zeroizing<String>, String> {
    let pass = match file {
        Some(f) => Zeroizing::new(
            std::fs::read_to_string(f)
                .map_err(|e| format!("{}: {e}", f.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string(),
        ),
        None => Zeroizing::new(std::env::var("SIGNET_ARCHIVE_PASSPHRASE").unwrap_or_default()),
    };
    if pass.is_empty() {
        return Err(
            "no archive passphrase: give --archive-passphrase-file F or SIGNET_ARCHIVE_PASSPHRASE"
                .into(),
        );
    }
    Ok(pass)
}

#[derive(Args)]
#[command(group(ArgGroup::new("which").required(true).args(["gun", "registry", "all"])))]
pub struct ExportArgs {
    /// Repository to export (repeatable).
    #[arg(long)]
    pub gun: Vec<String>,
    /// Every repository under a registry's login server.
    #[arg(long)]
    pub registry: Option<String>,
    /// Every repository.
    #[arg(long)]
    pub all: bool,
    /// The archive to create (mode 0600; never overwritten).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also export the timestamp/snapshot keys the current roots list, encrypted under the
    /// archive passphrase (--archive-passphrase-file, else SIGNET_ARCHIVE_PASSPHRASE).
    #[arg(long)]
    pub include_server_keys: bool,
    /// File holding the archive passphrase (first line).
    #[arg(long, value_name = "FILE", requires = "include_server_keys")]
    pub archive_passphrase_file: Option<PathBuf>,
    /// File with Signet's own signer passphrase (as `serve` and `import` take it).
    #[arg(long, env = "SIGNET_SIGNER_PASSPHRASE_FILE")]
    pub signer_passphrase_file: Option<PathBuf>,
}

/// Writes the archive; returns the JSON summary line.
pub fn export(args: &ExportArgs, target: ImportTarget) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let store = target.store.as_ref();
    let all = store.guns().map_err(|e| e.to_string())?;
    let guns: Vec<String> = if args.all {
        all
    } else if let Some(name) = &args.registry {
        let tenancy = signet_server::tenancy::load(store).map_err(|e| e.to_string())?;
        let registry = tenancy
            .registries
            .get(name)
            .ok_or_else(|| format!("no registry named {name}"))?;
        let prefix = format!("{}/", registry.login_server.to_ascii_lowercase());
        all.into_iter()
            .filter(|g| g.to_ascii_lowercase().starts_with(&prefix))
            .collect()
    } else {
        for g in &args.gun {
            if !all.contains(g) {
                return Err(format!("{g}: no trust data stored for this repository"));
            }
        }
        args.gun.clone()
    };
    let passphrase = if args.include_server_keys {
        Some(archive_passphrase(args.archive_passphrase_file.as_deref())?)
    } else {
        None
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.output)
        .map_err(|e| format!("{}: {e}", args.output.display()))?;
    let written = signet_server::import::archive::export(
        store,
        &target.signer,
        &guns,
        passphrase.as_ref().map(|p| p.as_bytes()),
        std::io::BufWriter::new(file),
    );
    match written {
        Ok(done) => Ok(serde_json::json!({"archive": args.output, "exported": done}).to_string()),
        Err(e) => {
            // A half-written archive is of no use to anyone.
            let _ = std::fs::remove_file(&args.output);
            Err(e.to_string())
        }
    }
}
