//! Where passphrases come from: docker's and notary's environment variables, a file, a prompt.

use crate::key_id::KeyId;
use std::collections::HashMap;
use std::path::Path;
use thiserror::Error;
use zeroize::Zeroizing;

/// Docker and notary refuse shorter passphrases for new keys.
pub const MIN_NEW_PASSPHRASE_LEN: usize = 8;

/// What a passphrase is asked for.
#[derive(Clone, Debug)]
pub struct PassphraseRequest<'a> {
    pub key_id: &'a KeyId,
    /// The key's `role` header: `root`, `targets`, `snapshot`, a delegation or signer name.
    pub role: &'a str,
    /// A passphrase for a key being created (asked twice, length-checked).
    pub new_key: bool,
    /// 0 for the first ask; higher after a wrong passphrase.
    pub attempt: u32,
}

#[derive(Debug, Error)]
pub enum PassphraseError {
    /// Not at a terminal and no passphrase given: names where one can come from.
    #[error("no passphrase for {role} key {key_id} (not at a terminal): set {vars}, or pass --passphrase-file FILE", vars = env_var_names(.role).join(" or "))]
    Unavailable { role: String, key_id: String },
    #[error("giving up on the passphrase for {role} key {key_id} after {attempts} attempts")]
    GaveUp {
        role: String,
        key_id: String,
        attempts: u32,
    },
    #[error("passphrase for a new key must have at least {MIN_NEW_PASSPHRASE_LEN} characters")]
    TooShort,
    #[error("the two passphrases do not match")]
    Mismatch,
    #[error("reading passphrase: {0}")]
    Io(String),
}

pub trait PassphraseSource {
    fn passphrase(
        &mut self,
        req: &PassphraseRequest<'_>,
    ) -> Result<Zeroizing<String>, PassphraseError>;
}

fn unavailable(req: &PassphraseRequest<'_>) -> PassphraseError {
    PassphraseError::Unavailable {
        role: req.role.to_string(),
        key_id: req.key_id.to_string(),
    }
}

fn gave_up(req: &PassphraseRequest<'_>) -> PassphraseError {
    PassphraseError::GaveUp {
        role: req.role.to_string(),
        key_id: req.key_id.to_string(),
        attempts: req.attempt,
    }
}

fn check_new(req: &PassphraseRequest<'_>, p: &str) -> Result<(), PassphraseError> {
    if req.new_key && p.chars().count() < MIN_NEW_PASSPHRASE_LEN {
        return Err(PassphraseError::TooShort);
    }
    Ok(())
}

/// The variable names docker and notary read for a key's role (the passphrase alias), in the
/// order they are tried: docker's first, then notary's.
///
/// docker: `DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE` for `root`, and
/// `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE` for every other alias. notary: one variable
/// per base role, and `NOTARY_DELEGATION_PASSPHRASE` only for aliases that are not base roles
/// (so never for `timestamp`).
pub fn env_var_names(role: &str) -> Vec<&'static str> {
    const REPOSITORY: &str = "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE";
    match role {
        "root" => vec![
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
            "NOTARY_ROOT_PASSPHRASE",
        ],
        "targets" => vec![REPOSITORY, "NOTARY_TARGETS_PASSPHRASE"],
        "snapshot" => vec![REPOSITORY, "NOTARY_SNAPSHOT_PASSPHRASE"],
        "timestamp" => vec![REPOSITORY],
        _ => vec![REPOSITORY, "NOTARY_DELEGATION_PASSPHRASE"],
    }
}

/// Passphrases from environment variables. Takes an explicit map so callers (and tests)
/// control the environment; [`EnvPassphrase::from_process_env`] reads the real one.
pub struct EnvPassphrase {
    vars: HashMap<String, Zeroizing<String>>,
}

impl EnvPassphrase {
    pub fn new(vars: HashMap<String, String>) -> Self {
        EnvPassphrase {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v)))
                .collect(),
        }
    }

    pub fn from_process_env() -> Self {
        let mut vars = HashMap::new();
        for (k, v) in std::env::vars() {
            if k.starts_with("DOCKER_CONTENT_TRUST_") || k.starts_with("NOTARY_") {
                vars.insert(k, v);
            }
        }
        EnvPassphrase::new(vars)
    }
}

impl PassphraseSource for EnvPassphrase {
    fn passphrase(
        &mut self,
        req: &PassphraseRequest<'_>,
    ) -> Result<Zeroizing<String>, PassphraseError> {
        let value = env_var_names(req.role)
            .into_iter()
            .find_map(|name| self.vars.get(name).filter(|v| !v.is_empty()));
        match value {
            // A wrong value in the environment will not become right on a second read. Like
            // docker and notary, no length rule applies to a passphrase set in the environment.
            Some(_) if req.attempt > 0 => Err(gave_up(req)),
            Some(v) => Ok(v.clone()),
            // Leaves the question to the next source of a chain (e.g. a prompt), every attempt.
            None => Err(unavailable(req)),
        }
    }
}

/// One fixed passphrase for every key (e.g. from `--passphrase-file`).
pub struct FixedPassphrase(Zeroizing<String>);

impl FixedPassphrase {
    pub fn new(p: impl Into<String>) -> Self {
        FixedPassphrase(Zeroizing::new(p.into()))
    }

    /// The first line of a file, without its line ending.
    pub fn from_file(path: &Path) -> Result<Self, PassphraseError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| PassphraseError::Io(format!("{}: {e}", path.display())))?,
        );
        let line = text.lines().next().unwrap_or("");
        Ok(FixedPassphrase::new(line))
    }
}

impl PassphraseSource for FixedPassphrase {
    fn passphrase(
        &mut self,
        req: &PassphraseRequest<'_>,
    ) -> Result<Zeroizing<String>, PassphraseError> {
        if req.attempt > 0 {
            return Err(gave_up(req));
        }
        check_new(req, &self.0)?;
        Ok(self.0.clone())
    }
}

/// Interactive prompt on the terminal, without echo; new keys are asked twice.
pub struct PromptPassphrase {
    pub max_attempts: u32,
}

impl Default for PromptPassphrase {
    fn default() -> Self {
        PromptPassphrase { max_attempts: 3 }
    }
}

impl PassphraseSource for PromptPassphrase {
    fn passphrase(
        &mut self,
        req: &PassphraseRequest<'_>,
    ) -> Result<Zeroizing<String>, PassphraseError> {
        if req.attempt >= self.max_attempts {
            return Err(gave_up(req));
        }
        let short = &req.key_id.as_str()[..7.min(req.key_id.as_str().len())];
        let read = |prompt: String| {
            rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(|e| PassphraseError::Io(e.to_string()))
        };
        if req.attempt > 0 {
            eprintln!("Wrong passphrase, try again.");
        }
        if req.new_key {
            // A passphrase that is too short or mistyped is asked again, not fatal.
            for _ in 0..self.max_attempts {
                let first = read(format!(
                    "Enter passphrase for new {} key with ID {short}: ",
                    req.role
                ))?;
                if let Err(e) = check_new(req, &first) {
                    eprintln!("{e}, try again.");
                    continue;
                }
                let second = read(format!(
                    "Repeat passphrase for new {} key with ID {short}: ",
                    req.role
                ))?;
                if *first != *second {
                    eprintln!("{}, try again.", PassphraseError::Mismatch);
                    continue;
                }
                return Ok(first);
            }
            Err(gave_up(req))
        } else {
            read(format!(
                "Enter passphrase for {} key with ID {short}: ",
                req.role
            ))
        }
    }
}

/// Tries sources in order; the first that has a passphrase answers. A source that gives up
/// (it answered before and the answer was wrong) ends the search: a wrong passphrase from a
/// file or the environment is not followed by a prompt.
pub struct ChainPassphrase(pub Vec<Box<dyn PassphraseSource>>);

impl PassphraseSource for ChainPassphrase {
    fn passphrase(
        &mut self,
        req: &PassphraseRequest<'_>,
    ) -> Result<Zeroizing<String>, PassphraseError> {
        let mut last = unavailable(req);
        for s in self.0.iter_mut() {
            match s.passphrase(req) {
                Ok(p) => return Ok(p),
                Err(e @ PassphraseError::Unavailable { .. }) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> KeyId {
        "6b124941e66684dbeb046a57792a3bb1f328bb927b2c250735e0156c8bf13bfc"
            .parse()
            .unwrap()
    }

    #[test]
    fn env_maps_roles_to_docker_and_notary_variables() {
        let mut vars = HashMap::new();
        vars.insert(
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE".into(),
            "rootpass1".into(),
        );
        vars.insert("NOTARY_DELEGATION_PASSPHRASE".into(), "delegpass1".into());
        vars.insert("NOTARY_TARGETS_PASSPHRASE".into(), "targets12".into());
        let mut env = EnvPassphrase::new(vars);
        let k = id();
        let ask = |role, attempt| PassphraseRequest {
            key_id: &k,
            role,
            new_key: false,
            attempt,
        };
        assert_eq!(&*env.passphrase(&ask("root", 0)).unwrap(), "rootpass1");
        assert_eq!(&*env.passphrase(&ask("targets", 0)).unwrap(), "targets12");
        assert_eq!(&*env.passphrase(&ask("alice", 0)).unwrap(), "delegpass1");
        assert!(matches!(
            env.passphrase(&ask("snapshot", 0)),
            Err(PassphraseError::Unavailable { .. })
        ));
        // timestamp is a base role: notary's delegation variable does not cover it.
        assert!(matches!(
            env.passphrase(&ask("timestamp", 0)),
            Err(PassphraseError::Unavailable { .. })
        ));
        assert!(matches!(
            env.passphrase(&ask("root", 1)),
            Err(PassphraseError::GaveUp { .. })
        ));
        // A role without a variable stays "unavailable" on later attempts too.
        assert!(matches!(
            env.passphrase(&ask("snapshot", 1)),
            Err(PassphraseError::Unavailable { .. })
        ));
    }

    #[test]
    fn docker_variables_win_and_cover_every_non_root_alias() {
        let mut vars = HashMap::new();
        vars.insert(
            "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE".into(),
            "repo".into(),
        );
        vars.insert("NOTARY_TARGETS_PASSPHRASE".into(), "notary-targets".into());
        vars.insert("NOTARY_ROOT_PASSPHRASE".into(), "notary-root".into());
        let mut env = EnvPassphrase::new(vars);
        let k = id();
        for (role, want) in [
            ("targets", "repo"),
            ("snapshot", "repo"),
            ("timestamp", "repo"),
            ("alice", "repo"),
            ("targets/releases", "repo"),
            ("root", "notary-root"),
        ] {
            let req = PassphraseRequest {
                key_id: &k,
                role,
                // docker applies no length rule to variables, even for new keys.
                new_key: true,
                attempt: 0,
            };
            assert_eq!(&*env.passphrase(&req).unwrap(), want, "{role}");
        }
    }

    /// Stands in for the terminal prompt: answers from a script, then gives up.
    struct Scripted {
        answers: Vec<&'static str>,
    }

    impl PassphraseSource for Scripted {
        fn passphrase(
            &mut self,
            req: &PassphraseRequest<'_>,
        ) -> Result<Zeroizing<String>, PassphraseError> {
            if self.answers.is_empty() {
                return Err(gave_up(req));
            }
            Ok(Zeroizing::new(self.answers.remove(0).to_string()))
        }
    }

    #[test]
    fn chain_falls_through_to_the_prompt_on_every_attempt_without_a_variable() {
        let k = id();
        let mut chain = ChainPassphrase(vec![
            Box::new(EnvPassphrase::new(HashMap::new())),
            Box::new(Scripted {
                answers: vec!["first try", "second try"],
            }),
        ]);
        for (attempt, want) in [(0, "first try"), (1, "second try")] {
            let req = PassphraseRequest {
                key_id: &k,
                role: "targets",
                new_key: false,
                attempt,
            };
            assert_eq!(&*chain.passphrase(&req).unwrap(), want);
        }
    }

    #[test]
    fn chain_stops_when_a_source_that_answered_gives_up() {
        let k = id();
        let mut vars = HashMap::new();
        vars.insert("NOTARY_ROOT_PASSPHRASE".into(), "from env".into());
        let mut chain = ChainPassphrase(vec![
            Box::new(EnvPassphrase::new(vars)),
            Box::new(Scripted {
                answers: vec!["prompted"],
            }),
        ]);
        let req = |attempt| PassphraseRequest {
            key_id: &k,
            role: "root",
            new_key: false,
            attempt,
        };
        assert_eq!(&*chain.passphrase(&req(0)).unwrap(), "from env");
        assert!(matches!(
            chain.passphrase(&req(1)),
            Err(PassphraseError::GaveUp { attempts: 1, .. })
        ));
    }

    #[test]
    fn passphrase_file_is_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pass");
        std::fs::write(&p, "line one passphrase\r\nsecond line\n").unwrap();
        let mut f = FixedPassphrase::from_file(&p).unwrap();
        let k = id();
        let req = PassphraseRequest {
            key_id: &k,
            role: "root",
            new_key: true,
            attempt: 0,
        };
        assert_eq!(&*f.passphrase(&req).unwrap(), "line one passphrase");
        let err = FixedPassphrase::from_file(&dir.path().join("missing")).err();
        assert!(matches!(err, Some(PassphraseError::Io(m)) if m.contains("missing")));
    }

    #[test]
    fn short_new_passphrases_are_refused() {
        let k = id();
        let req = PassphraseRequest {
            key_id: &k,
            role: "root",
            new_key: true,
            attempt: 0,
        };
        assert!(matches!(
            FixedPassphrase::new("short").passphrase(&req),
            Err(PassphraseError::TooShort)
        ));
        assert_eq!(
            &*FixedPassphrase::new("long enough")
                .passphrase(&req)
                .unwrap(),
            "long enough"
        );
    }
}
