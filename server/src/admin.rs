//! The admin commands of `signet-server`: argument shapes and their mapping onto the admin
//! service. Output is JSON; errors are one line.

use clap::{ArgAction, Subcommand, ValueEnum};
use signet_server::tenancy::service::{AuditFilter, RegistrySpec, RegistryUpdate};
use signet_server::tenancy::{AdminError, AdminService, IdentityKind, Role, RoleAssignment};
use std::io::BufRead;

#[derive(Subcommand)]
pub enum RegistryCmd {
    /// Create a registry (content trust starts disabled).
    Create {
        name: String,
        /// Host part of the registry's image names, e.g. myreg.example.com or registry.test:5000.
        #[arg(long)]
        login_server: String,
        #[arg(long, value_enum)]
        sku: SkuArg,
        /// Customer-managed key identifier (encryption is fixed at creation; such a registry
        /// cannot use content trust).
        #[arg(long)]
        cmk: Option<String>,
        /// Enable the admin user (its password is printed once).
        #[arg(long)]
        admin_user: bool,
        /// Let anyone pull images and trust data without credentials.
        #[arg(long)]
        anonymous_pull: bool,
    },
    /// Change a registry's SKU, admin user or anonymous pull.
    Update {
        name: String,
        #[arg(long, value_enum)]
        sku: Option<SkuArg>,
        #[arg(long, action = ArgAction::Set)]
        admin_user: Option<bool>,
        #[arg(long, action = ArgAction::Set)]
        anonymous_pull: Option<bool>,
        /// Generate a new admin password (printed once).
        #[arg(long)]
        regenerate_admin_password: bool,
        /// Refused: encryption can only be chosen at creation.
        #[arg(long)]
        cmk: Option<String>,
    },
    Show {
        name: String,
    },
    List,
    /// Delete a registry with its roles and all of its trust data (images are untouched).
    Delete {
        name: String,
        #[arg(long)]
        yes: bool,
    },
    /// Show, enable or disable content trust. Disabling deletes all trust data of the
    /// registry, irreversibly.
    ContentTrust {
        name: String,
        #[arg(value_enum)]
        action: TrustAction,
        #[arg(long)]
        yes: bool,
    },
    /// Show or set the signed-only gate's policy: enforce (refuse unsigned manifests), audit
    /// (serve, log and count what would be refused) or off. Without a mode, shows it.
    Gate {
        name: String,
        /// enforce, audit or off.
        mode: Option<String>,
        /// A signer (delegation `targets/<signer>`) that must have signed every pulled tag;
        /// repeatable. None: `targets/releases`, else `targets`, as docker reads them.
        #[arg(long = "signer")]
        signers: Vec<String>,
        /// Repositories served unchecked, by glob (`*` within a path segment, `**` across);
        /// repeatable.
        #[arg(long = "exempt")]
        exempt: Vec<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SkuArg {
    #[value(name = "Basic", alias = "basic")]
    Basic,
    #[value(name = "Standard", alias = "standard")]
    Standard,
    #[value(name = "Premium", alias = "premium")]
    Premium,
}

impl SkuArg {
    fn as_str(self) -> &'static str {
        match self {
            SkuArg::Basic => "Basic",
            SkuArg::Standard => "Standard",
            SkuArg::Premium => "Premium",
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TrustAction {
    Enable,
    Disable,
    Show,
}

#[derive(Subcommand)]
pub enum IdentityCmd {
    /// Add a user or service principal; the password is read from stdin.
    Add {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long, default_value = "user", value_parser = ["user", "service-principal"])]
        kind: String,
    },
    /// Replace an identity's password (read from stdin). Its roles stay; refresh tokens
    /// issued against the old password stop working.
    SetPassword {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Remove an identity and every role it holds.
    Remove {
        name: String,
    },
    List,
}

#[derive(Subcommand)]
pub enum RepositoryCmd {
    /// Delete one repository's trust data — every version of every role and its
    /// server-held keys — so it can start again with a new root (e.g. after losing the root
    /// key). Images are untouched.
    Reset {
        /// The repository's GUN, e.g. registry.example.com/team/app.
        gun: String,
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
pub enum RoleCmd {
    Assign(RoleArgs),
    Revoke(RoleArgs),
    List {
        #[arg(long)]
        registry: Option<String>,
        #[arg(long)]
        identity: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct RoleArgs {
    #[arg(long)]
    registry: String,
    /// Limit the role to one repository of the registry.
    #[arg(long)]
    repository: Option<String>,
    #[arg(long)]
    identity: String,
    /// Owner, Contributor, Reader, AcrPull, AcrPush, AcrDelete or AcrImageSigner.
    #[arg(long)]
    role: String,
}

impl RoleArgs {
    fn assignment(&self) -> Result<RoleAssignment, String> {
        let role = Role::parse(&self.role).ok_or_else(|| {
            format!(
                "role '{}' is not one of Owner, Contributor, Reader, AcrPull, AcrPush, AcrDelete, AcrImageSigner",
                self.role
            )
        })?;
        Ok(RoleAssignment {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            identity: self.identity.clone(),
            role,
        })
    }
}

/// Who the audit log names for a change made here.
pub fn actor() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        // SAFETY: getuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::getuid() }));
    format!("cli:{user}")
}

/// A refusal as the managed registry's CLI words it: `(Code) message` for the service's policy
/// refusals, whose code an operator looks up; plain for not found, invalid and conflicting
/// requests, whose message says everything.
fn e(err: AdminError) -> String {
    match err.code() {
        "NotFound" | "InvalidRequest" | "Conflict" | "InternalError" | "Busy" => err.to_string(),
        code => format!("({code}) {err}"),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Asks on stdin; a closed stdin (no terminal, no `--yes`) is a refusal.
fn confirm(question: &str) -> Result<(), String> {
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line).unwrap_or(0);
    if read > 0 && matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err("not confirmed (pass --yes to skip the question)".into())
    }
}

pub fn registry(svc: &AdminService, cmd: &RegistryCmd) -> Result<String, String> {
    match cmd {
        RegistryCmd::Create {
            name,
            login_server,
            sku,
            cmk,
            admin_user,
            anonymous_pull,
        } => {
            let out = svc
                .create_registry(&RegistrySpec {
                    name: name.clone(),
                    login_server: login_server.clone(),
                    sku: sku.as_str().into(),
                    cmk_key_id: cmk.clone(),
                    admin_user_enabled: *admin_user,
                    anonymous_pull_enabled: *anonymous_pull,
                })
                .map_err(e)?;
            Ok(pretty(&out.view()))
        }
        RegistryCmd::Update {
            name,
            sku,
            admin_user,
            anonymous_pull,
            regenerate_admin_password,
            cmk,
        } => {
            let out = svc
                .update_registry(
                    name,
                    &RegistryUpdate {
                        sku: sku.map(|s| s.as_str().to_string()),
                        admin_user_enabled: *admin_user,
                        anonymous_pull_enabled: *anonymous_pull,
                        cmk_key_id: cmk.clone(),
                        regenerate_admin_password: *regenerate_admin_password,
                    },
                )
                .map_err(e)?;
            Ok(pretty(&out.view()))
        }
        RegistryCmd::Show { name } => Ok(pretty(&svc.show_registry(name).map_err(e)?.view())),
        RegistryCmd::List => Ok(pretty(&serde_json::Value::Array(
            svc.list_registries()
                .map_err(e)?
                .iter()
                .map(|r| r.view())
                .collect(),
        ))),
        RegistryCmd::Delete { name, yes } => {
            svc.show_registry(name).map_err(e)?;
            if !yes {
                confirm(&format!(
                    "Delete registry '{name}', its roles and ALL of its trust data (images stay)?"
                ))?;
            }
            let wiped = svc.delete_registry(name).map_err(e)?;
            Ok(pretty(
                &serde_json::json!({"deleted": name, "trustDataRemoved": wiped}),
            ))
        }
        RegistryCmd::ContentTrust { name, action, yes } => match action {
            TrustAction::Show => {
                Ok(serde_json::to_string(&svc.content_trust(name).map_err(e)?).unwrap_or_default())
            }
            TrustAction::Enable => {
                let (p, _) = svc.set_content_trust(name, true).map_err(e)?;
                Ok(serde_json::to_string(&p).unwrap_or_default())
            }
            TrustAction::Disable => {
                let reg = svc.show_registry(name).map_err(e)?;
                if !yes {
                    confirm(&format!(
                        "Disabling content trust deletes every signature and all trust data of every repository in '{name}' ({}), irreversibly. Continue?",
                        reg.login_server
                    ))?;
                }
                let (p, wiped) = svc.set_content_trust(name, false).map_err(e)?;
                let mut v = serde_json::to_value(&p).unwrap_or_default();
                v["trustDataRemoved"] = serde_json::to_value(wiped).unwrap_or_default();
                Ok(serde_json::to_string(&v).unwrap_or_default())
            }
        },
        RegistryCmd::Gate {
            name,
            mode,
            signers,
            exempt,
        } => {
            let Some(mode) = mode else {
                if !signers.is_empty() || !exempt.is_empty() {
                    return Err(
                        "--signer and --exempt go with a mode: enforce, audit or off".into(),
                    );
                }
                return Ok(svc.gate_policy(name).map_err(e)?.view().to_string());
            };
            let mode = signet_server::gate::GateMode::parse(mode)
                .ok_or_else(|| format!("gate mode {mode:?}: use enforce, audit or off"))?;
            let policy = signet_server::gate::GatePolicy {
                mode,
                signers: signers.clone(),
                exempt: exempt.clone(),
            };
            Ok(svc
                .set_gate_policy(name, &policy)
                .map_err(e)?
                .view()
                .to_string())
        }
    }
}

/// The first line of stdin, without its line ending; refused when empty.
fn password_from_stdin() -> Result<zeroize::Zeroizing<String>, String> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| format!("reading the password from stdin: {err}"))?;
    let password = zeroize::Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string());
    if password.is_empty() {
        return Err("no password on stdin".into());
    }
    Ok(password)
}

pub fn identity(svc: &AdminService, cmd: &IdentityCmd) -> Result<String, String> {
    match cmd {
        IdentityCmd::Add { name, kind, .. } => {
            let kind = IdentityKind::parse(kind).unwrap_or(IdentityKind::User);
            let password = password_from_stdin()?;
            Ok(pretty(
                &svc.add_identity(name, kind, &password).map_err(e)?.view(),
            ))
        }
        IdentityCmd::SetPassword { name, .. } => {
            let password = password_from_stdin()?;
            let identity = svc.set_password(name, &password).map_err(e)?;
            let roles = svc.list_roles(None, Some(name)).map_err(e)?;
            let mut v = identity.view();
            v["passwordChanged"] = true.into();
            v["roles"] = serde_json::to_value(roles).unwrap_or_default();
            Ok(pretty(&v))
        }
        IdentityCmd::Remove { name } => {
            let revoked = svc.remove_identity(name).map_err(e)?;
            Ok(pretty(
                &serde_json::json!({"deleted": name, "rolesRevoked": revoked}),
            ))
        }
        IdentityCmd::List => Ok(pretty(&serde_json::Value::Array(
            svc.list_identities()
                .map_err(e)?
                .iter()
                .map(|i| i.view())
                .collect(),
        ))),
    }
}

pub fn role(svc: &AdminService, cmd: &RoleCmd) -> Result<String, String> {
    match cmd {
        RoleCmd::Assign(a) => {
            let done = svc.assign_role(&a.assignment()?).map_err(e)?;
            Ok(pretty(&serde_json::to_value(done).unwrap_or_default()))
        }
        RoleCmd::Revoke(a) => {
            svc.revoke_role(&a.assignment()?).map_err(e)?;
            Ok(String::new())
        }
        RoleCmd::List { registry, identity } => Ok(pretty(
            &serde_json::to_value(
                svc.list_roles(registry.as_deref(), identity.as_deref())
                    .map_err(e)?,
            )
            .unwrap_or_default(),
        )),
    }
}

pub fn repository(svc: &AdminService, cmd: &RepositoryCmd) -> Result<String, String> {
    match cmd {
        RepositoryCmd::Reset { gun, yes } => {
            let (files, keys) = svc.repository_holdings(gun).map_err(e)?;
            if !yes {
                confirm(&format!(
                    "Resetting '{gun}' deletes all of its trust data ({files} files) and its {keys} server-held keys, irreversibly. Continue?"
                ))?;
            }
            let wiped = svc.reset_repository(gun).map_err(e)?;
            eprintln!("{}", signet_server::tenancy::service::after_reset(gun));
            Ok(pretty(&serde_json::json!({
                "reset": gun,
                "trustDataRemoved": wiped,
                "serverKeysRemoved": keys,
            })))
        }
    }
}

/// `audit` filters as the command line gives them.
#[derive(clap::Args)]
pub struct AuditArgs {
    /// How many changes to show at most (0 shows none, at most 10000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(0..=10_000))]
    pub limit: i64,
    /// Only changes concerning this registry (its settings, roles on it, resets under it).
    #[arg(long)]
    pub registry: Option<String>,
    /// Only changes concerning this identity (itself and the roles it gained or lost).
    #[arg(long)]
    pub identity: Option<String>,
    /// An action (role.assign, identity.set-password, repository.reset, ...) or a family
    /// (role, identity, registry, content-trust, repository).
    #[arg(long)]
    pub action: Option<String>,
    /// Start of the time range: RFC 3339 (2026-01-31T00:00:00Z) or an age (90m, 36h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the time range, same forms as --since.
    #[arg(long)]
    pub until: Option<String>,
}

pub use signet_server::timespan::{parse_duration, parse_instant};

pub fn audit(svc: &AdminService, args: &AuditArgs) -> Result<String, String> {
    let filter = AuditFilter {
        registry: args.registry.clone(),
        identity: args.identity.clone(),
        action: args.action.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| parse_instant("--since", s))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_instant("--until", s))
            .transpose()?,
    };
    Ok(pretty(
        &serde_json::to_value(svc.audit_filtered(&filter, args.limit).map_err(e)?)
            .unwrap_or_default(),
    ))
}
