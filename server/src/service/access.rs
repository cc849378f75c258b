//! The access decision of the trust routes (protocol reference §6.2): what an operation
//! needs, and whether the caller's token and the registry's policy let it through.

use super::{ServiceError, TrustService};
use crate::auth::{self, Denied};
use crate::tenancy::Tenancy;
use std::sync::Arc;
use time::OffsetDateTime;

/// What a trust-route operation needs from a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Reading metadata and the changefeed.
    Pull,
    /// Publishing, and reading a server key (which may create it).
    PushPull,
    /// Deleting a repository, rotating a server key.
    All,
}

impl Need {
    fn actions(self) -> &'static [&'static str] {
        match self {
            Need::Pull => &["pull"],
            Need::PushPull => &["push", "pull"],
            Need::All => &["*"],
        }
    }

    fn scope_actions(self) -> &'static str {
        match self {
            Need::Pull => "pull",
            Need::PushPull => "push,pull",
            Need::All => "*",
        }
    }
}

/// The scope a route without a GUN needs (`/v2/`, the global changefeed). The trust service
/// never grants it once registries exist: it would span every tenant.
pub const CATALOG_SCOPE: &str = "registry:catalog:*";

/// Who is acting, under which configuration.
#[derive(Clone)]
pub struct Caller {
    /// The token's subject; `None` on an open server.
    pub actor: Option<String>,
    /// The configuration the decision was made under (a publish re-checks it after commit).
    pub tenancy: Arc<Tenancy>,
}

impl TrustService {
    /// Decides a trust-route request on `gun` (`None` for the routes without one) needing
    /// `need`, with the request's bearer token.
    pub fn authorize(
        &self,
        gun: Option<&str>,
        need: Need,
        bearer: Option<&str>,
    ) -> Result<Caller, ServiceError> {
        let tenancy = self.tenancy();
        decide(
            &tenancy,
            |token, gun, actions| {
                let now = OffsetDateTime::now_utc().unix_timestamp();
                auth::check_trust_token(
                    &self.token_keys,
                    &self.auth,
                    token,
                    "repository",
                    gun,
                    actions,
                    now,
                )
            },
            gun,
            need,
            bearer,
        )
        .map(|actor| Caller { actor, tenancy })
    }

    /// Whether routes need tokens at all (some registry exists).
    pub fn is_open(&self) -> bool {
        self.tenancy().is_open()
    }
}

/// The decision itself, with the token check passed in so it is testable without keys.
fn decide(
    tenancy: &Tenancy,
    check_token: impl FnOnce(Option<&str>, &str, &[&str]) -> Result<String, Denied>,
    gun: Option<&str>,
    need: Need,
    bearer: Option<&str>,
) -> Result<Option<String>, ServiceError> {
    if tenancy.is_open() {
        return Ok(None);
    }
    let Some(gun) = gun else {
        return Err(ServiceError::Unauthorized {
            scope: CATALOG_SCOPE.to_string(),
            denied: if bearer.is_some() {
                Denied::InsufficientScope
            } else {
                Denied::NoToken
            },
        });
    };
    let Some((registry, _repo)) = tenancy.resolve_gun(gun) else {
        let host = gun.split('/').next().unwrap_or("");
        return Err(ServiceError::RegistryUnknown {
            host: Some(host.to_string()),
        });
    };
    let actor =
        check_token(bearer, gun, need.actions()).map_err(|denied| ServiceError::Unauthorized {
            scope: format!("repository:{gun}:{}", need.scope_actions()),
            denied,
        })?;
    if !registry.trust_enabled() {
        return Err(ServiceError::TrustDisabled {
            registry: registry.name.clone(),
            login_server: registry.login_server.clone(),
        });
    }
    Ok(Some(actor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenancy::model::{Sku, TrustPolicy};
    use crate::tenancy::Registry;

    fn tenancy(trust: bool) -> Tenancy {
        let registry = Registry {
            name: "contoso".into(),
            login_server: "registry.example.com".into(),
            sku: Sku::Premium,
            cmk_key_id: None,
            admin_user_enabled: false,
            admin_password_hash: None,
            anonymous_pull_enabled: false,
            trust_policy: if trust {
                TrustPolicy::enabled()
            } else {
                TrustPolicy::disabled()
            },
            created_at: String::new(),
            gate: None,
        };
        Tenancy::new(1, vec![registry], vec![], vec![])
    }

    fn granting(
        actions: &'static [&'static str],
    ) -> impl FnOnce(Option<&str>, &str, &[&str]) -> Result<String, Denied> {
        move |token, _gun, need| match token {
            None => Err(Denied::NoToken),
            Some("garbage") => Err(Denied::Invalid(crate::token::TokenError::Malformed)),
            Some(_) if need.iter().all(|a| actions.contains(a)) => Ok("alice".into()),
            Some(_) => Err(Denied::InsufficientScope),
        }
    }

    const GUN: &str = "registry.example.com/team/app";

    #[test]
    fn an_open_server_lets_everything_through() {
        let t = Tenancy::default();
        for need in [Need::Pull, Need::PushPull, Need::All] {
            assert_eq!(
                decide(&t, granting(&[]), Some(GUN), need, None).unwrap(),
                None
            );
        }
        assert_eq!(
            decide(&t, granting(&[]), None, Need::Pull, None).unwrap(),
            None
        );
    }

    #[test]
    fn routes_without_a_gun_need_the_catalog_scope() {
        let t = tenancy(true);
        for (bearer, denied) in [
            (None, Denied::NoToken),
            (Some("tok"), Denied::InsufficientScope),
        ] {
            match decide(&t, granting(&["*"]), None, Need::Pull, bearer) {
                Err(ServiceError::Unauthorized { scope, denied: d }) => {
                    assert_eq!(scope, CATALOG_SCOPE);
                    assert_eq!(d, denied);
                }
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn unknown_login_servers_are_named() {
        let t = tenancy(true);
        match decide(
            &t,
            granting(&["*"]),
            Some("registry.tset:4922/app"),
            Need::Pull,
            Some("t"),
        ) {
            Err(ServiceError::RegistryUnknown { host }) => {
                assert_eq!(host.as_deref(), Some("registry.tset:4922"))
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn every_need_is_checked_against_the_grant() {
        let t = tenancy(true);
        let cases: [(&'static [&'static str], Need, Option<&str>); 7] = [
            (&["pull"], Need::Pull, Some("alice")),
            (&["pull"], Need::PushPull, None),
            (&["push", "pull"], Need::PushPull, Some("alice")),
            (&["push", "pull"], Need::All, None),
            (&["*"], Need::All, Some("alice")),
            (&["*"], Need::Pull, None),
            (&[], Need::Pull, None),
        ];
        for (granted, need, expect) in cases {
            let got = decide(&t, granting(granted), Some(GUN), need, Some("tok"));
            match (expect, got) {
                (Some(actor), Ok(a)) => assert_eq!(a.as_deref(), Some(actor)),
                (None, Err(ServiceError::Unauthorized { scope, denied })) => {
                    assert_eq!(denied, Denied::InsufficientScope);
                    assert_eq!(scope, format!("repository:{GUN}:{}", need.scope_actions()));
                }
                (e, g) => panic!(
                    "{granted:?} {need:?}: expected {e:?}, got {:?}",
                    g.map(|_| ())
                ),
            }
        }
        match decide(&t, granting(&["*"]), Some(GUN), Need::Pull, Some("garbage")) {
            Err(ServiceError::Unauthorized {
                denied: Denied::Invalid(_),
                ..
            }) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
        match decide(&t, granting(&["*"]), Some(GUN), Need::Pull, None) {
            Err(ServiceError::Unauthorized {
                denied: Denied::NoToken,
                ..
            }) => {}
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_disabled_policy_refuses_after_the_token_check() {
        let t = tenancy(false);
        match decide(&t, granting(&["pull"]), Some(GUN), Need::Pull, Some("tok")) {
            Err(ServiceError::TrustDisabled {
                registry,
                login_server,
            }) => {
                assert_eq!(
                    (registry.as_str(), login_server.as_str()),
                    ("contoso", "registry.example.com")
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        // Without a token the challenge comes first, so nothing leaks about the policy.
        assert!(matches!(
            decide(&t, granting(&["pull"]), Some(GUN), Need::Pull, None),
            Err(ServiceError::Unauthorized { .. })
        ));
    }
}
