//! The admin service: every change to registries, identities and roles goes through here,
//! is checked against the managed-registry rules, applied in one transaction with its audit
//! record, and retried if the configuration changed underneath (another process or instance).

pub use super::audit_filter::AuditFilter;
pub use super::error::AdminError;
use super::model::{Identity, IdentityKind, Registry, Role, RoleAssignment, Sku, TrustPolicy};
use super::names::{
    check_gun, check_identity_name, check_login_server, check_registry_name, check_repository,
    check_secret, generate_password, parse_sku, scope_name,
};
pub use super::spec::{after_reset, RegistryOutcome, RegistrySpec, RegistryUpdate};
use super::{hash_secret, Tenancy, KIND_ASSIGNMENT, KIND_IDENTITY, KIND_REGISTRY};
use crate::store::{
    Applied, AuditQuery, AuditRecord, TenancyChange, TenancyRow, TenancyStore, TrustWipe, Wiped,
};
use std::sync::Arc;
use time::OffsetDateTime;

pub struct AdminService {
    store: Arc<dyn TenancyStore>,
    actor: String,
    /// Called with the new configuration after every applied change (the running server
    /// uses it to swap its snapshot and drop cached trust data at once).
    on_change: Option<Box<dyn Fn() + Send + Sync>>,
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn row<T: serde::Serialize>(kind: &str, name: &str, doc: &T) -> Result<TenancyChange, AdminError> {
    Ok(TenancyChange::Put(TenancyRow {
        kind: kind.into(),
        name: name.into(),
        doc: serde_json::to_string(doc).map_err(|e| AdminError::Internal(e.to_string()))?,
    }))
}

fn delete(kind: &str, name: &str) -> TenancyChange {
    TenancyChange::Delete {
        kind: kind.into(),
        name: name.into(),
    }
}

/// Whose trust data a planned change deletes.
pub(super) enum Wipe {
    /// Every repository under a registry's login server.
    Host(String),
    /// One repository (GUN).
    Repository(String),
}

impl Wipe {
    fn scope(&self) -> TrustWipe<'_> {
        match self {
            Wipe::Host(h) => TrustWipe::Host(h),
            Wipe::Repository(g) => TrustWipe::Repository(g),
        }
    }
}

/// A planned change: rows, whose trust data goes with it, the audit entry.
pub(super) struct Plan<T> {
    pub(super) changes: Vec<TenancyChange>,
    pub(super) wipe: Option<Wipe>,
    pub(super) action: &'static str,
    pub(super) target: String,
    pub(super) detail: serde_json::Value,
    pub(super) result: T,
}

impl AdminService {
    pub fn new(store: Arc<dyn TenancyStore>, actor: impl Into<String>) -> Self {
        AdminService {
            store,
            actor: actor.into(),
            on_change: None,
        }
    }

    pub fn with_change_hook(mut self, hook: Box<dyn Fn() + Send + Sync>) -> Self {
        self.on_change = Some(hook);
        self
    }

    pub fn snapshot(&self) -> Result<Tenancy, AdminError> {
        Ok(super::load(self.store.as_ref())?)
    }

    /// Plans against a fresh snapshot and applies; re-plans if another writer got in first.
    pub(super) fn apply<T>(
        &self,
        plan: impl Fn(&Tenancy) -> Result<Plan<T>, AdminError>,
    ) -> Result<(T, Wiped), AdminError> {
        for _ in 0..8 {
            let t = self.snapshot()?;
            let p = plan(&t)?;
            let audit = AuditRecord {
                id: 0,
                at: OffsetDateTime::now_utc(),
                actor: self.actor.clone(),
                action: p.action.into(),
                target: p.target.clone(),
                detail: p.detail.clone(),
            };
            match self.store.tenancy_apply(
                t.generation,
                &p.changes,
                p.wipe.as_ref().map(Wipe::scope),
                &audit,
            )? {
                Applied::Done(wiped) => {
                    if let Some(hook) = &self.on_change {
                        hook();
                    }
                    return Ok((p.result, wiped));
                }
                Applied::Stale => continue,
            }
        }
        Err(AdminError::Busy)
    }

    pub(super) fn registry<'a>(t: &'a Tenancy, name: &str) -> Result<&'a Registry, AdminError> {
        t.registries.get(name).ok_or_else(|| AdminError::NotFound {
            what: "registry",
            name: name.into(),
        })
    }

    pub fn create_registry(&self, spec: &RegistrySpec) -> Result<RegistryOutcome, AdminError> {
        check_registry_name(&spec.name)?;
        let login_server = check_login_server(&spec.login_server)?;
        let sku = parse_sku(&spec.sku)?;
        if let Some(k) = &spec.cmk_key_id {
            if k.trim().is_empty() {
                return Err(AdminError::Invalid(
                    "customer-managed key identifier is empty".into(),
                ));
            }
        }
        let password = spec.admin_user_enabled.then(generate_password);
        let hash = password.as_deref().map(hash_secret).transpose()?;
        let (outcome, _) = self.apply(|t| {
            if t.registries.keys().any(|n| n.eq_ignore_ascii_case(&spec.name)) {
                return Err(AdminError::Conflict(format!(
                    "registry '{}' already exists",
                    spec.name
                )));
            }
            if t.identities.contains_key(&spec.name) {
                return Err(AdminError::Conflict(format!(
                    "'{}' is already an identity name; a registry's admin user is named like the registry",
                    spec.name
                )));
            }
            if let Some(other) = t.registry_by_login_server(&login_server) {
                return Err(AdminError::Conflict(format!(
                    "login server '{login_server}' already belongs to registry '{}'",
                    other.name
                )));
            }
            let registry = Registry {
                name: spec.name.clone(),
                login_server: login_server.clone(),
                sku,
                cmk_key_id: spec.cmk_key_id.clone(),
                admin_user_enabled: spec.admin_user_enabled,
                admin_password_hash: hash.clone(),
                anonymous_pull_enabled: spec.anonymous_pull_enabled,
                trust_policy: TrustPolicy::disabled(),
                created_at: now_rfc3339(),
                gate: None,
            };
            Ok(Plan {
                changes: vec![row(KIND_REGISTRY, &registry.name, &registry)?],
                wipe: None,
                action: "registry.create",
                target: registry.name.clone(),
                detail: registry.view(),
                result: RegistryOutcome {
                    registry,
                    admin_password: password.clone(),
                },
            })
        })?;
        Ok(outcome)
    }

    pub fn update_registry(
        &self,
        name: &str,
        update: &RegistryUpdate,
    ) -> Result<RegistryOutcome, AdminError> {
        if update.cmk_key_id.is_some() {
            return Err(AdminError::EncryptionImmutable);
        }
        let sku = update.sku.as_deref().map(parse_sku).transpose()?;
        // Hash outside the retry loop: argon2 is deliberately slow.
        let current = self.snapshot()?;
        let was_enabled = Self::registry(&current, name)?.admin_user_enabled;
        let new_password = (update.regenerate_admin_password
            || (update.admin_user_enabled == Some(true) && !was_enabled))
            .then(generate_password);
        let new_hash = new_password.as_deref().map(hash_secret).transpose()?;
        let (outcome, _) = self.apply(|t| {
            let mut reg = Self::registry(t, name)?.clone();
            if let Some(sku) = sku {
                if sku != Sku::Premium && reg.trust_enabled() {
                    return Err(AdminError::DowngradeWithTrust(reg.name.clone()));
                }
                reg.sku = sku;
            }
            if let Some(on) = update.admin_user_enabled {
                reg.admin_user_enabled = on;
                if !on {
                    reg.admin_password_hash = None;
                }
            }
            if new_hash.is_some() {
                if !reg.admin_user_enabled {
                    return Err(AdminError::Invalid(format!(
                        "registry '{name}' has no admin user enabled"
                    )));
                }
                reg.admin_password_hash = new_hash.clone();
            }
            if let Some(anon) = update.anonymous_pull_enabled {
                reg.anonymous_pull_enabled = anon;
            }
            Ok(Plan {
                changes: vec![row(KIND_REGISTRY, &reg.name, &reg)?],
                wipe: None,
                action: "registry.update",
                target: reg.name.clone(),
                detail: reg.view(),
                result: RegistryOutcome {
                    registry: reg,
                    admin_password: new_password.clone(),
                },
            })
        })?;
        Ok(outcome)
    }

    /// Deletes a registry, its role assignments and all of its trust data (never images).
    pub fn delete_registry(&self, name: &str) -> Result<Wiped, AdminError> {
        let (_, wiped) = self.apply(|t| {
            let reg = Self::registry(t, name)?;
            let mut changes = vec![delete(KIND_REGISTRY, &reg.name)];
            changes.extend(
                t.assignments
                    .iter()
                    .filter(|a| a.registry == reg.name)
                    .map(|a| delete(KIND_ASSIGNMENT, &a.key())),
            );
            Ok(Plan {
                changes,
                wipe: Some(Wipe::Host(reg.login_server.clone())),
                action: "registry.delete",
                target: reg.name.clone(),
                detail: serde_json::json!({"loginServer": reg.login_server}),
                result: (),
            })
        })?;
        Ok(wiped)
    }

    pub fn show_registry(&self, name: &str) -> Result<Registry, AdminError> {
        Ok(Self::registry(&self.snapshot()?, name)?.clone())
    }

    pub fn list_registries(&self) -> Result<Vec<Registry>, AdminError> {
        Ok(self.snapshot()?.registries.into_values().collect())
    }

    pub fn content_trust(&self, name: &str) -> Result<TrustPolicy, AdminError> {
        Ok(Self::registry(&self.snapshot()?, name)?
            .trust_policy
            .clone())
    }

    /// Enables content trust (Premium, no customer-managed key), or disables it, which
    /// deletes every trust file and server key of the registry's repositories in the same
    /// transaction. Returns the policy now in force and what was removed.
    pub fn set_content_trust(
        &self,
        name: &str,
        enable: bool,
    ) -> Result<(TrustPolicy, Wiped), AdminError> {
        self.apply(|t| {
            let mut reg = Self::registry(t, name)?.clone();
            if enable {
                if reg.cmk_key_id.is_some() {
                    return Err(AdminError::BlockedForEncryptionEnabledRegistry(reg.name));
                }
                if reg.sku != Sku::Premium {
                    return Err(AdminError::PremiumRequired);
                }
                reg.trust_policy = TrustPolicy::enabled();
            } else {
                reg.trust_policy = TrustPolicy::disabled();
            }
            Ok(Plan {
                changes: vec![row(KIND_REGISTRY, &reg.name, &reg)?],
                // Disabling always wipes, even when already disabled: nothing may survive.
                wipe: (!enable).then(|| Wipe::Host(reg.login_server.clone())),
                action: if enable {
                    "content-trust.enable"
                } else {
                    "content-trust.disable"
                },
                target: reg.name.clone(),
                detail: serde_json::json!({"trustPolicy": reg.trust_policy}),
                result: reg.trust_policy.clone(),
            })
        })
    }

    pub fn add_identity(
        &self,
        name: &str,
        kind: IdentityKind,
        secret: &str,
    ) -> Result<Identity, AdminError> {
        check_identity_name(name)?;
        check_secret(secret)?;
        let hash = hash_secret(secret)?;
        let (identity, _) = self.apply(|t| {
            if t.identities.contains_key(name) {
                return Err(AdminError::Conflict(format!("identity '{name}' already exists")));
            }
            if t.registries.keys().any(|r| r.eq_ignore_ascii_case(name)) {
                return Err(AdminError::Conflict(format!(
                    "'{name}' is the admin user name of registry '{name}'; choose another identity name"
                )));
            }
            let identity = Identity {
                name: name.into(),
                kind,
                secret_hash: hash.clone(),
                created_at: now_rfc3339(),
            };
            Ok(Plan {
                changes: vec![row(KIND_IDENTITY, name, &identity)?],
                wipe: None,
                action: "identity.add",
                target: name.into(),
                detail: identity.view(),
                result: identity,
            })
        })?;
        Ok(identity)
    }

    /// Removes an identity and every role it holds.
    pub fn remove_identity(&self, name: &str) -> Result<usize, AdminError> {
        let (revoked, _) = self.apply(|t| {
            if !t.identities.contains_key(name) {
                return Err(AdminError::NotFound {
                    what: "identity",
                    name: name.into(),
                });
            }
            let mut changes = vec![delete(KIND_IDENTITY, name)];
            let held: Vec<_> = t
                .assignments
                .iter()
                .filter(|a| a.identity == name)
                .collect();
            changes.extend(held.iter().map(|a| delete(KIND_ASSIGNMENT, &a.key())));
            Ok(Plan {
                changes,
                wipe: None,
                action: "identity.remove",
                target: name.into(),
                detail: serde_json::json!({"rolesRevoked": held}),
                result: held.len(),
            })
        })?;
        Ok(revoked)
    }

    pub fn list_identities(&self) -> Result<Vec<Identity>, AdminError> {
        Ok(self.snapshot()?.identities.into_values().collect())
    }

    pub fn assign_role(&self, a: &RoleAssignment) -> Result<RoleAssignment, AdminError> {
        if let Some(repo) = &a.repository {
            check_repository(repo)?;
        }
        let (assigned, _) = self.apply(|t| {
            let reg = Self::registry(t, &a.registry)?;
            if !t.identities.contains_key(&a.identity) {
                // A registry's admin account is named like its registry.
                if let Some(admin_of) = t.registries.get(&a.identity) {
                    return Err(if a.role == Role::AcrImageSigner {
                        AdminError::AdminCannotSign(admin_of.name.clone())
                    } else {
                        AdminError::AdminNoRoles(admin_of.name.clone())
                    });
                }
                return Err(AdminError::NotFound {
                    what: "identity",
                    name: a.identity.clone(),
                });
            }
            let a = RoleAssignment {
                registry: reg.name.clone(),
                ..a.clone()
            };
            if t.assignments.contains(&a) {
                return Err(AdminError::Conflict(format!(
                    "{} already holds {} on {}",
                    a.identity,
                    a.role.as_str(),
                    scope_name(&a)
                )));
            }
            Ok(Plan {
                changes: vec![row(KIND_ASSIGNMENT, &a.key(), &a)?],
                wipe: None,
                action: "role.assign",
                target: scope_name(&a),
                detail: serde_json::to_value(&a).unwrap_or_default(),
                result: a,
            })
        })?;
        Ok(assigned)
    }

    pub fn revoke_role(&self, a: &RoleAssignment) -> Result<(), AdminError> {
        self.apply(|t| {
            if !t.assignments.contains(a) {
                return Err(AdminError::NotFound {
                    what: "role assignment",
                    name: format!("{} {} on {}", a.identity, a.role.as_str(), scope_name(a)),
                });
            }
            Ok(Plan {
                changes: vec![delete(KIND_ASSIGNMENT, &a.key())],
                wipe: None,
                action: "role.revoke",
                target: scope_name(a),
                detail: serde_json::to_value(a).unwrap_or_default(),
                result: (),
            })
        })?;
        Ok(())
    }

    pub fn list_roles(
        &self,
        registry: Option<&str>,
        identity: Option<&str>,
    ) -> Result<Vec<RoleAssignment>, AdminError> {
        let t = self.snapshot()?;
        if let Some(r) = registry {
            Self::registry(&t, r)?;
        }
        Ok(t.assignments
            .into_iter()
            .filter(|a| registry.is_none_or(|r| a.registry == r))
            .filter(|a| identity.is_none_or(|i| a.identity == i))
            .collect())
    }

    pub fn audit(&self, limit: i64) -> Result<Vec<AuditRecord>, AdminError> {
        self.audit_filtered(&AuditFilter::default(), limit)
    }

    /// The newest `limit` audit records that match `f`, newest first. Action and time are
    /// filtered by the database; registry and identity here, page by page, so a narrow
    /// filter over years of log never loads it whole.
    pub fn audit_filtered(
        &self,
        f: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, AdminError> {
        if limit <= 0 {
            // `--limit 0` asks for nothing.
            return Ok(Vec::new());
        }
        let limit = limit.min(10_000);
        if let Some(a) = &f.action {
            let ok = !a.is_empty()
                && a.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !ok {
                return Err(AdminError::Invalid(format!(
                    "action '{a}' must be an action such as role.assign or a family such as role"
                )));
            }
        }
        if let (Some(s), Some(u)) = (f.since, f.until) {
            if s > u {
                return Err(AdminError::Invalid(
                    "the start of the time range is after its end".into(),
                ));
            }
        }
        let narrow = f.registry.is_some() || f.identity.is_some();
        let mut q = AuditQuery {
            before_id: None,
            action: f.action.clone(),
            since: f.since,
            until: f.until,
            limit: if narrow { 500 } else { limit },
        };
        let mut out = Vec::new();
        loop {
            let page = self.store.audit_list(&q)?;
            let last = page.last().map(|r| r.id);
            out.extend(page.into_iter().filter(|r| f.matches(r)));
            if !narrow || out.len() >= limit as usize || last.is_none() {
                break;
            }
            q.before_id = last;
        }
        out.truncate(limit as usize);
        Ok(out)
    }

    /// How many trust files and server keys the server holds for a GUN; a GUN with
    /// neither is `NotFound`.
    pub fn repository_holdings(&self, gun: &str) -> Result<(usize, usize), AdminError> {
        check_gun(gun)?;
        let (files, keys) = self.store.repository_holdings(gun)?;
        if files == 0 && keys == 0 {
            return Err(AdminError::NotFound {
                what: "repository with trust data",
                name: gun.into(),
            });
        }
        Ok((files, keys))
    }

    /// Removes one repository's trust data — every version of every role and the
    /// server-held keys — in one audited transaction, so it can start again with a new
    /// root (a lost root key leaves no other way out). Refused when the server holds
    /// nothing for that GUN.
    pub fn reset_repository(&self, gun: &str) -> Result<Wiped, AdminError> {
        let (files, keys) = self.repository_holdings(gun)?;
        let (_, wiped) = self.apply(|t| {
            let registry = t.resolve_gun(gun).map(|(r, _)| r.name.clone());
            Ok(Plan {
                changes: Vec::new(),
                wipe: Some(Wipe::Repository(gun.to_string())),
                action: "repository.reset",
                target: gun.into(),
                detail: serde_json::json!({"registry": registry, "files": files, "serverKeys": keys}),
                result: (),
            })
        })?;
        Ok(wiped)
    }

    /// Replaces an identity's password. Its roles stay; refresh tokens issued against the
    /// old password stop working (they carry a fingerprint of the password hash).
    pub fn set_password(&self, name: &str, secret: &str) -> Result<Identity, AdminError> {
        check_secret(secret)?;
        let hash = hash_secret(secret)?;
        let (identity, _) = self.apply(|t| {
            let Some(current) = t.identities.get(name) else {
                if t.registries.contains_key(name) {
                    return Err(AdminError::Invalid(format!(
                        "'{name}' is the admin user of registry '{name}': use `registry update {name} --regenerate-admin-password`"
                    )));
                }
                return Err(AdminError::NotFound {
                    what: "identity",
                    name: name.into(),
                });
            };
            let identity = Identity {
                secret_hash: hash.clone(),
                ..current.clone()
            };
            let roles = t.assignments.iter().filter(|a| a.identity == name).count();
            Ok(Plan {
                changes: vec![row(KIND_IDENTITY, name, &identity)?],
                wipe: None,
                action: "identity.set-password",
                target: name.into(),
                detail: serde_json::json!({"rolesKept": roles}),
                result: identity,
            })
        })?;
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MetaReader, NewMeta, SqliteStore, Store};

    fn service() -> (tempfile::TempDir, Arc<SqliteStore>, AdminService) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let svc = AdminService::new(store.clone(), "test");
        (dir, store, svc)
    }

    fn spec(name: &str, host: &str, sku: &str) -> RegistrySpec {
        RegistrySpec {
            name: name.into(),
            login_server: host.into(),
            sku: sku.into(),
            ..Default::default()
        }
    }

    fn publish(store: &SqliteStore, gun: &str) {
        let now = OffsetDateTime::now_utc();
        let rows: Vec<NewMeta> = ["root", "targets", "snapshot", "timestamp"]
            .iter()
            .map(|r| NewMeta {
                role: (*r).into(),
                version: 1,
                bytes: format!("{{\"{r}\":1}}").into_bytes(),
            })
            .collect();
        store.update_many(gun, &rows, now).unwrap();
    }

    #[test]
    fn content_trust_rules() {
        let (_d, _s, svc) = service();
        svc.create_registry(&spec("basicreg", "basic.test", "Basic"))
            .unwrap();
        let e = svc.set_content_trust("basicreg", true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Policies are only supported for managed registries in Premium SKU."
        );
        let mut cmk = spec("cmkreg1", "cmk.test", "Premium");
        cmk.cmk_key_id = Some("https://vault.example/keys/k1".into());
        svc.create_registry(&cmk).unwrap();
        let e = svc.set_content_trust("cmkreg1", true).unwrap_err();
        assert_eq!(e.code(), "BlockedForEncryptionEnabledRegistry");
        assert!(e.to_string().contains("customer-managed key"), "{e}");
        // Encryption is fixed at creation.
        let e = svc
            .update_registry(
                "basicreg",
                &RegistryUpdate {
                    cmk_key_id: Some("k".into()),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "EncryptionImmutable");
        // Premium enables; a downgrade is then refused until content trust is off.
        svc.create_registry(&spec("premreg", "prem.test:5000", "Premium"))
            .unwrap();
        let (p, _) = svc.set_content_trust("premreg", true).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"status":"enabled","type":"Notary"}"#
        );
        let e = svc
            .update_registry(
                "premreg",
                &RegistryUpdate {
                    sku: Some("Standard".into()),
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.code(), "PolicyNotSupportedForSku");
        assert_eq!(svc.show_registry("premreg").unwrap().sku, Sku::Premium);
        // Every change is audited with its actor.
        let audit = svc.audit(100).unwrap();
        assert_eq!(audit[0].action, "content-trust.enable");
        assert_eq!(audit[0].actor, "test");
        assert_eq!(audit.len(), 4);
    }

    #[test]
    fn disabling_wipes_exactly_that_registrys_trust_data() {
        let (_d, store, svc) = service();
        svc.create_registry(&spec("contoso", "contoso.test:5000", "Premium"))
            .unwrap();
        svc.create_registry(&spec("fabrikam", "fabrikam.test", "Premium"))
            .unwrap();
        svc.set_content_trust("contoso", true).unwrap();
        svc.set_content_trust("fabrikam", true).unwrap();
        publish(&store, "contoso.test:5000/app");
        publish(&store, "contoso.test:5000/team/tool");
        publish(&store, "fabrikam.test/app");
        // A GUN whose host merely starts with the login server is another registry's.
        publish(&store, "contoso.test:50001/app");
        let (p, wiped) = svc.set_content_trust("contoso", false).unwrap();
        assert_eq!(p, TrustPolicy::disabled());
        assert_eq!(
            wiped,
            Wiped {
                repositories: 2,
                files: 8
            }
        );
        assert!(store
            .latest("contoso.test:5000/app", "root")
            .unwrap()
            .is_none());
        assert!(store
            .latest("contoso.test:5000/team/tool", "timestamp")
            .unwrap()
            .is_none());
        assert!(store.latest("fabrikam.test/app", "root").unwrap().is_some());
        assert!(store
            .latest("contoso.test:50001/app", "root")
            .unwrap()
            .is_some());
        let feed = store
            .changefeed(Some("contoso.test:5000/app"), 0, 100)
            .unwrap();
        assert_eq!(feed.last().unwrap().category, "deletion");
        let audit = svc.audit(1).unwrap();
        assert_eq!(audit[0].action, "content-trust.disable");
    }

    #[test]
    fn identities_roles_and_the_admin_user() {
        let (_d, _s, svc) = service();
        let out = svc
            .create_registry(&RegistrySpec {
                admin_user_enabled: true,
                ..spec("contoso", "contoso.test", "Premium")
            })
            .unwrap();
        let pw = out.admin_password.clone().unwrap();
        assert!(pw.len() >= 24);
        assert!(out.view()["adminCredentials"]["password"] == pw);
        svc.add_identity("alice", IdentityKind::User, "correct horse")
            .unwrap();
        assert_eq!(
            svc.add_identity("alice", IdentityKind::User, "another pw")
                .unwrap_err()
                .code(),
            "Conflict"
        );
        assert_eq!(
            svc.add_identity("contoso", IdentityKind::User, "another pw")
                .unwrap_err()
                .code(),
            "Conflict"
        );
        assert_eq!(
            svc.add_identity("bob", IdentityKind::User, "short")
                .unwrap_err()
                .code(),
            "InvalidRequest"
        );
        let signer = RoleAssignment {
            registry: "contoso".into(),
            repository: None,
            identity: "contoso".into(),
            role: Role::AcrImageSigner,
        };
        let e = svc.assign_role(&signer).unwrap_err();
        assert_eq!(e.code(), "AdminUserCannotSign");
        assert!(
            e.to_string().contains("can never be granted signing"),
            "{e}"
        );
        let alice = RoleAssignment {
            identity: "alice".into(),
            ..signer.clone()
        };
        svc.assign_role(&alice).unwrap();
        assert_eq!(svc.assign_role(&alice).unwrap_err().code(), "Conflict");
        let scoped = RoleAssignment {
            repository: Some("team/app".into()),
            role: Role::AcrPull,
            ..alice.clone()
        };
        svc.assign_role(&scoped).unwrap();
        assert_eq!(svc.list_roles(Some("contoso"), None).unwrap().len(), 2);
        let t = svc.snapshot().unwrap();
        assert_eq!(
            super::super::authenticate(&t, "contoso", &pw),
            Some(crate::tenancy::Principal::Admin {
                registry: "contoso".into()
            })
        );
        assert_eq!(super::super::authenticate(&t, "contoso", "wrong"), None);
        assert!(super::super::authenticate(&t, "alice", "correct horse").is_some());
        // Removing the identity revokes its roles.
        assert_eq!(svc.remove_identity("alice").unwrap(), 2);
        assert!(svc.list_roles(None, Some("alice")).unwrap().is_empty());
        // Deleting a registry takes its assignments and refuses unknown names.
        assert_eq!(
            svc.delete_registry("nosuchreg").unwrap_err().code(),
            "NotFound"
        );
    }

    #[test]
    fn concurrent_writers_both_land() {
        let (_d, store, _svc) = service();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let svc = AdminService::new(store, format!("writer{i}"));
                    svc.create_registry(&spec(
                        &format!("registry{i}"),
                        &format!("r{i}.test"),
                        "Basic",
                    ))
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        let svc = AdminService::new(store, "check");
        assert_eq!(svc.list_registries().unwrap().len(), 4);
        assert_eq!(svc.snapshot().unwrap().generation, 4);
    }
}
