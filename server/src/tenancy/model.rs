//! The registry model: registries as tenants, identities, role assignments, and what each
//! role may do with images and with trust data.

use crate::gate::GatePolicy;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Service tier of a registry. Content trust is a Premium feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sku {
    Basic,
    Standard,
    Premium,
}

impl Sku {
    pub fn parse(s: &str) -> Option<Sku> {
        match s.to_ascii_lowercase().as_str() {
            "basic" => Some(Sku::Basic),
            "standard" => Some(Sku::Standard),
            "premium" => Some(Sku::Premium),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustStatus {
    Enabled,
    Disabled,
}

/// The registry's content-trust policy, shown as `{"status":"enabled","type":"Notary"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustPolicy {
    pub status: TrustStatus,
    #[serde(rename = "type")]
    pub kind: String,
}

impl TrustPolicy {
    pub fn disabled() -> Self {
        TrustPolicy {
            status: TrustStatus::Disabled,
            kind: "Notary".into(),
        }
    }

    pub fn enabled() -> Self {
        TrustPolicy {
            status: TrustStatus::Enabled,
            kind: "Notary".into(),
        }
    }
}

/// A registry (tenant). Its login server is the host part of its GUNs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    pub name: String,
    pub login_server: String,
    pub sku: Sku,
    /// Customer-managed key identifier; set only at creation and never removable.
    pub cmk_key_id: Option<String>,
    pub admin_user_enabled: bool,
    /// argon2id PHC string of the admin account's password (stored, never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password_hash: Option<String>,
    #[serde(default)]
    pub anonymous_pull_enabled: bool,
    pub trust_policy: TrustPolicy,
    pub created_at: String,
    /// The signed-only gate's policy; unset follows content trust
    /// ([`GatePolicy::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GatePolicy>,
}

impl Registry {
    /// What the admin surfaces show: everything but the password hash.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "loginServer": self.login_server,
            "sku": self.sku,
            "encryption": match &self.cmk_key_id {
                Some(k) => serde_json::json!({"status": "enabled", "keyIdentifier": k}),
                None => serde_json::json!({"status": "disabled"}),
            },
            "adminUserEnabled": self.admin_user_enabled,
            "anonymousPullEnabled": self.anonymous_pull_enabled,
            "policies": {"trustPolicy": self.trust_policy, "gatePolicy": self.gate_policy().view()},
            "createdAt": self.created_at,
        })
    }

    pub fn trust_enabled(&self) -> bool {
        self.trust_policy.status == TrustStatus::Enabled
    }

    /// The gate policy in force: the stored one, else enforce with content trust enabled.
    pub fn gate_policy(&self) -> GatePolicy {
        self.gate
            .clone()
            .unwrap_or_else(|| GatePolicy::default_for(self.trust_enabled()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityKind {
    User,
    ServicePrincipal,
}

impl IdentityKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "user" => Some(IdentityKind::User),
            "service-principal" | "serviceprincipal" | "sp" => Some(IdentityKind::ServicePrincipal),
            _ => None,
        }
    }
}

/// A user or service principal that can log in to every registry it holds roles on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub kind: IdentityKind,
    /// argon2id PHC string.
    pub secret_hash: String,
    pub created_at: String,
}

impl Identity {
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({"name": self.name, "kind": self.kind, "createdAt": self.created_at})
    }
}

/// The built-in roles of a managed registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Owner,
    Contributor,
    Reader,
    AcrPull,
    AcrPush,
    AcrDelete,
    AcrImageSigner,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Owner,
        Role::Contributor,
        Role::Reader,
        Role::AcrPull,
        Role::AcrPush,
        Role::AcrDelete,
        Role::AcrImageSigner,
    ];

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Contributor => "Contributor",
            Role::Reader => "Reader",
            Role::AcrPull => "AcrPull",
            Role::AcrPush => "AcrPush",
            Role::AcrDelete => "AcrDelete",
            Role::AcrImageSigner => "AcrImageSigner",
        }
    }

    /// Roles that can pull (images, and trust data).
    fn can_pull(self) -> bool {
        !matches!(self, Role::AcrDelete)
    }

    fn can_push_images(self) -> bool {
        matches!(self, Role::AcrPush | Role::Contributor | Role::Owner)
    }

    fn can_delete(self) -> bool {
        matches!(self, Role::AcrDelete | Role::Contributor | Role::Owner)
    }
}

/// A role granted to an identity on a whole registry or on one repository of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub registry: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    pub identity: String,
    pub role: Role,
}

impl RoleAssignment {
    /// The row key: unique per (registry, repository, identity, role).
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.registry,
            self.repository.as_deref().unwrap_or(""),
            self.identity,
            self.role.as_str()
        )
    }
}

/// Who is asking: a named identity, a registry's admin account, or nobody.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Identity(String),
    Admin { registry: String },
    Anonymous,
}

impl Principal {
    pub fn subject(&self) -> &str {
        match self {
            Principal::Identity(n) => n,
            Principal::Admin { registry } => registry,
            Principal::Anonymous => "",
        }
    }
}

/// Actions on trust data (`repository:<gun>:<action>` on the trust service).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrustAccess {
    pub pull: bool,
    pub push: bool,
    /// `*`: deleting a repository's trust data and rotating server keys.
    pub all: bool,
}

/// Actions on images (`repository:<repo>:<action>` on a registry's own service).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImageAccess {
    pub pull: bool,
    pub push: bool,
    pub delete: bool,
}

/// Everything the tenancy layer knows, loaded from the database as one consistent snapshot.
#[derive(Clone, Debug, Default)]
pub struct Tenancy {
    pub generation: i64,
    pub registries: BTreeMap<String, Registry>,
    pub identities: BTreeMap<String, Identity>,
    pub assignments: Vec<RoleAssignment>,
    by_login_server: HashMap<String, String>,
}

impl Tenancy {
    pub fn new(
        generation: i64,
        registries: Vec<Registry>,
        identities: Vec<Identity>,
        assignments: Vec<RoleAssignment>,
    ) -> Tenancy {
        let by_login_server = registries
            .iter()
            .map(|r| (r.login_server.clone(), r.name.clone()))
            .collect();
        Tenancy {
            generation,
            registries: registries
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect(),
            identities: identities
                .into_iter()
                .map(|i| (i.name.clone(), i))
                .collect(),
            assignments,
            by_login_server,
        }
    }

    /// With no registry at all the server is the open embedded default.
    pub fn is_open(&self) -> bool {
        self.registries.is_empty()
    }

    pub fn registry_by_login_server(&self, host: &str) -> Option<&Registry> {
        let name = match self.by_login_server.get(host) {
            Some(n) => n,
            None => self.by_login_server.get(&host.to_ascii_lowercase())?,
        };
        self.registries.get(name)
    }

    /// Splits a GUN into its registry and repository (`<login server>/<repository>`).
    pub fn resolve_gun<'a>(&self, gun: &'a str) -> Option<(&Registry, &'a str)> {
        let (host, repo) = gun.split_once('/')?;
        Some((self.registry_by_login_server(host)?, repo))
    }

    fn roles(&self, identity: &str, registry: &str, repository: &str) -> Vec<Role> {
        self.assignments
            .iter()
            .filter(|a| {
                a.identity == identity
                    && a.registry == registry
                    && a.repository.as_deref().is_none_or(|r| r == repository)
            })
            .map(|a| a.role)
            .collect()
    }

    /// What a principal may do with the trust data of `registry`'s `repository`.
    pub fn trust_access(
        &self,
        who: &Principal,
        registry: &Registry,
        repository: &str,
    ) -> TrustAccess {
        match who {
            Principal::Anonymous => TrustAccess {
                pull: registry.anonymous_pull_enabled,
                ..Default::default()
            },
            // The admin account reads everything of its registry but can never sign.
            Principal::Admin { registry: r } => TrustAccess {
                pull: *r == registry.name,
                ..Default::default()
            },
            Principal::Identity(name) => {
                let roles = self.roles(name, &registry.name, repository);
                let signer = roles.contains(&Role::AcrImageSigner);
                TrustAccess {
                    pull: roles.iter().any(|r| r.can_pull()) || registry.anonymous_pull_enabled,
                    push: signer,
                    all: signer && roles.iter().any(|r| r.can_delete()),
                }
            }
        }
    }

    /// What a principal may do with the images of `registry`'s `repository`.
    pub fn image_access(
        &self,
        who: &Principal,
        registry: &Registry,
        repository: &str,
    ) -> ImageAccess {
        match who {
            Principal::Anonymous => ImageAccess {
                pull: registry.anonymous_pull_enabled,
                ..Default::default()
            },
            Principal::Admin { registry: r } => {
                let own = *r == registry.name;
                ImageAccess {
                    pull: own,
                    push: own,
                    delete: own,
                }
            }
            Principal::Identity(name) => {
                let roles = self.roles(name, &registry.name, repository);
                ImageAccess {
                    // AcrImageSigner signs; it does not pull images by itself.
                    pull: roles
                        .iter()
                        .any(|r| r.can_pull() && *r != Role::AcrImageSigner)
                        || registry.anonymous_pull_enabled,
                    push: roles.iter().any(|r| r.can_push_images()),
                    delete: roles.iter().any(|r| r.can_delete()),
                }
            }
        }
    }

    /// `registry:catalog:*` on a registry: listing its repositories.
    pub fn catalog_access(&self, who: &Principal, registry: &Registry) -> bool {
        match who {
            Principal::Anonymous => false,
            Principal::Admin { registry: r } => *r == registry.name,
            Principal::Identity(name) => self.assignments.iter().any(|a| {
                a.identity == *name
                    && a.registry == registry.name
                    && a.repository.is_none()
                    && matches!(a.role, Role::Owner | Role::Contributor | Role::Reader)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(name: &str) -> Registry {
        Registry {
            name: name.into(),
            login_server: format!("{name}.example.com"),
            sku: Sku::Premium,
            cmk_key_id: None,
            admin_user_enabled: true,
            admin_password_hash: None,
            anonymous_pull_enabled: false,
            trust_policy: TrustPolicy::enabled(),
            created_at: String::new(),
            gate: None,
        }
    }

    fn assign(registry: &str, repo: Option<&str>, who: &str, role: Role) -> RoleAssignment {
        RoleAssignment {
            registry: registry.into(),
            repository: repo.map(str::to_string),
            identity: who.into(),
            role,
        }
    }

    #[test]
    fn trust_access_follows_the_role_table() {
        let t = Tenancy::new(
            1,
            vec![registry("contoso"), registry("fabrikam")],
            vec![],
            vec![
                assign("contoso", None, "puller", Role::AcrPull),
                assign("contoso", None, "signer", Role::AcrImageSigner),
                assign("contoso", None, "owner", Role::Owner),
                assign("contoso", None, "deleter", Role::AcrImageSigner),
                assign("contoso", None, "deleter", Role::AcrDelete),
                assign("contoso", Some("team/app"), "scoped", Role::AcrImageSigner),
                assign("contoso", None, "onlydelete", Role::AcrDelete),
            ],
        );
        let reg = &t.registries["contoso"];
        let id = |n: &str| Principal::Identity(n.into());
        let a = |n: &str, repo: &str| t.trust_access(&id(n), reg, repo);
        assert_eq!(
            a("puller", "app"),
            TrustAccess {
                pull: true,
                push: false,
                all: false
            }
        );
        assert_eq!(
            a("signer", "app"),
            TrustAccess {
                pull: true,
                push: true,
                all: false
            }
        );
        // Owner never implies signing.
        assert_eq!(
            a("owner", "app"),
            TrustAccess {
                pull: true,
                push: false,
                all: false
            }
        );
        assert_eq!(
            a("deleter", "app"),
            TrustAccess {
                pull: true,
                push: true,
                all: true
            }
        );
        assert_eq!(
            a("scoped", "team/app"),
            TrustAccess {
                pull: true,
                push: true,
                all: false
            }
        );
        assert_eq!(a("scoped", "team/other"), TrustAccess::default());
        assert_eq!(a("onlydelete", "app"), TrustAccess::default());
        // Roles on one registry give nothing on another.
        let other = &t.registries["fabrikam"];
        assert_eq!(
            t.trust_access(&id("signer"), other, "app"),
            TrustAccess::default()
        );
        // The admin account reads its own registry's trust data and never signs.
        let admin = Principal::Admin {
            registry: "contoso".into(),
        };
        assert_eq!(
            t.trust_access(&admin, reg, "app"),
            TrustAccess {
                pull: true,
                push: false,
                all: false
            }
        );
        assert_eq!(t.trust_access(&admin, other, "app"), TrustAccess::default());
        assert_eq!(
            t.trust_access(&Principal::Anonymous, reg, "app"),
            TrustAccess::default()
        );
    }

    #[test]
    fn image_access_follows_the_role_table() {
        let t = Tenancy::new(
            1,
            vec![registry("contoso")],
            vec![],
            vec![
                assign("contoso", None, "puller", Role::AcrPull),
                assign("contoso", None, "pusher", Role::AcrPush),
                assign("contoso", None, "signer", Role::AcrImageSigner),
            ],
        );
        let reg = &t.registries["contoso"];
        let id = |n: &str| Principal::Identity(n.into());
        assert_eq!(
            t.image_access(&id("puller"), reg, "app"),
            ImageAccess {
                pull: true,
                push: false,
                delete: false
            }
        );
        assert_eq!(
            t.image_access(&id("pusher"), reg, "app"),
            ImageAccess {
                pull: true,
                push: true,
                delete: false
            }
        );
        assert_eq!(
            t.image_access(&id("signer"), reg, "app"),
            ImageAccess::default()
        );
    }

    #[test]
    fn gun_resolution_uses_the_host_part() {
        let t = Tenancy::new(1, vec![registry("contoso")], vec![], vec![]);
        let (r, repo) = t.resolve_gun("contoso.example.com/team/app").unwrap();
        assert_eq!((r.name.as_str(), repo), ("contoso", "team/app"));
        assert!(t.resolve_gun("CONTOSO.example.com/app").is_some());
        assert!(t.resolve_gun("other.example.com/app").is_none());
        assert!(t.resolve_gun("contoso.example.com").is_none());
    }
}
