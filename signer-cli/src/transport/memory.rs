//! An in-memory trust server for tests of the client workflow: it holds each repository's
//! server-managed timestamp and snapshot keys, stores what is published under the names a
//! Notary server serves (`<role>.json`, `<role>.<sha256>.json`, `<v>.root.json`), and signs a
//! new snapshot (unless the update carries one) and timestamp after every update.
//!
//! It does not validate updates the way a real server does: tests use it to see exactly what
//! the client publishes and to stage repositories a careless client could have left behind.

use super::Transport;
use crate::error::CliError;
use signet_keys::{PrivateKey, PublicKey};
use signet_tuf::{GoTime, Snapshot, Timestamp};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use time::{Duration, OffsetDateTime};

const SERVER_EXPIRY: Duration = Duration::days(14);

struct Repository {
    timestamp_key: PrivateKey,
    snapshot_key: PrivateKey,
    /// Current file of each role.
    current: BTreeMap<String, Vec<u8>>,
    /// Every file by the name it is served under.
    files: BTreeMap<String, Vec<u8>>,
}

impl Repository {
    fn new() -> Repository {
        Repository {
            timestamp_key: PrivateKey::generate_ecdsa(),
            snapshot_key: PrivateKey::generate_ecdsa(),
            current: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    fn store(&mut self, role: &str, raw: Vec<u8>) {
        let sha = signet_tuf::sha256_hex(&raw);
        self.files.insert(format!("{role}.{sha}.json"), raw.clone());
        self.files.insert(format!("{role}.json"), raw.clone());
        if role == "root" {
            if let Some(v) = signet_tuf::Envelope::parse(role, &raw)
                .ok()
                .and_then(|e| e.version())
            {
                self.files.insert(format!("{v}.root.json"), raw.clone());
            }
        }
        self.current.insert(role.to_string(), raw);
    }

    fn key(&self, role: &str) -> Option<&PrivateKey> {
        match role {
            "timestamp" => Some(&self.timestamp_key),
            "snapshot" => Some(&self.snapshot_key),
            _ => None,
        }
    }

    /// A new snapshot over every current role file, signed with the server's snapshot key.
    fn sign_snapshot(&mut self) -> Result<(), CliError> {
        let now = OffsetDateTime::now_utc();
        let previous = self
            .current
            .get("snapshot")
            .and_then(|raw| signet_tuf::Envelope::parse("snapshot", raw).ok())
            .and_then(|e| e.decode::<Snapshot>("snapshot").ok());
        let mut snapshot = Snapshot::new(GoTime::from_instant(now + SERVER_EXPIRY));
        snapshot.version = previous.map_or(1, |p| p.version + 1);
        for (role, raw) in &self.current {
            if role != "snapshot" && role != "timestamp" {
                snapshot.set_meta(role, raw);
            }
        }
        let id = self.snapshot_key.id();
        let raw =
            signet_tuf::sign_and_serialize("snapshot", &snapshot, &[(&id, &self.snapshot_key)])
                .map_err(|e| memory_error(format!("signing snapshot: {e}")))?;
        self.store("snapshot", raw);
        Ok(())
    }

    fn sign_timestamp(&mut self) -> Result<(), CliError> {
        let now = OffsetDateTime::now_utc();
        let snapshot = self
            .current
            .get("snapshot")
            .ok_or_else(|| memory_error("no snapshot to time-stamp"))?;
        let version = self
            .current
            .get("timestamp")
            .and_then(|raw| signet_tuf::Envelope::parse("timestamp", raw).ok())
            .and_then(|e| e.version())
            .map_or(1, |v| v + 1);
        let ts =
            Timestamp::for_snapshot(GoTime::from_instant(now + SERVER_EXPIRY), version, snapshot);
        let id = self.timestamp_key.id();
        let raw = signet_tuf::sign_and_serialize("timestamp", &ts, &[(&id, &self.timestamp_key)])
            .map_err(|e| memory_error(format!("signing timestamp: {e}")))?;
        self.store("timestamp", raw);
        Ok(())
    }
}

fn memory_error(reason: impl std::fmt::Display) -> CliError {
    CliError::Server {
        server: MEMORY_SERVER.to_string(),
        reason: reason.to_string(),
    }
}

const MEMORY_SERVER: &str = "memory://";

/// One update as the server received it: the GUN and the roles it carried.
pub type Update = (String, Vec<String>);

/// A trust server in this process. Clones share the same repositories.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    repos: Rc<RefCell<BTreeMap<String, Repository>>>,
    /// Every update received, in order: the GUN and the roles it carried.
    updates: Rc<RefCell<Vec<Update>>>,
    /// When set, every update is refused with this reason.
    refusal: Rc<RefCell<Option<String>>>,
}

impl MemoryTransport {
    pub fn new() -> MemoryTransport {
        MemoryTransport::default()
    }

    /// The updates published so far: GUN and the roles each one carried.
    pub fn updates(&self) -> Vec<Update> {
        self.updates.borrow().clone()
    }

    /// Refuses every later update with `reason` (as a server rejecting it would).
    pub fn refuse_updates(&self, reason: &str) {
        *self.refusal.borrow_mut() = Some(reason.to_string());
    }

    /// The current file of a role, as the server would serve it.
    pub fn current(&self, gun: &str, role: &str) -> Option<Vec<u8>> {
        self.repos.borrow().get(gun)?.current.get(role).cloned()
    }

    /// Replaces role files as another client could have (files as given, then a new
    /// snapshot and timestamp signed by the server), without recording an update.
    pub fn put_as_other_client(
        &self,
        gun: &str,
        parts: &[(String, Vec<u8>)],
    ) -> Result<(), CliError> {
        let mut repos = self.repos.borrow_mut();
        let repo = repos.entry(gun.to_string()).or_insert_with(Repository::new);
        for (role, raw) in parts {
            repo.store(role, raw.clone());
        }
        repo.sign_snapshot()?;
        repo.sign_timestamp()
    }
}

impl Transport for MemoryTransport {
    fn server(&self) -> &str {
        MEMORY_SERVER
    }

    fn fetch(&self, gun: &str, file: &str, limit: u64) -> Result<Option<Vec<u8>>, CliError> {
        let repos = self.repos.borrow();
        let Some(raw) = repos.get(gun).and_then(|r| r.files.get(file)) else {
            return Ok(None);
        };
        if raw.len() as u64 > limit {
            return Err(memory_error(format!(
                "{file} is larger than the {limit} bytes expected"
            )));
        }
        Ok(Some(raw.clone()))
    }

    fn server_key(&self, gun: &str, role: &str) -> Result<PublicKey, CliError> {
        let mut repos = self.repos.borrow_mut();
        let repo = repos.entry(gun.to_string()).or_insert_with(Repository::new);
        repo.key(role)
            .map(PrivateKey::public_key)
            .ok_or_else(|| memory_error(format!("server has no {role} key for {gun}")))
    }

    fn rotate_server_key(&self, gun: &str, role: &str) -> Result<PublicKey, CliError> {
        let mut repos = self.repos.borrow_mut();
        let repo = repos.entry(gun.to_string()).or_insert_with(Repository::new);
        let key = PrivateKey::generate_ecdsa();
        let public = key.public_key();
        match role {
            "timestamp" => repo.timestamp_key = key,
            "snapshot" => repo.snapshot_key = key,
            _ => return Err(memory_error(format!("{role} is not a server-managed role"))),
        }
        Ok(public)
    }

    fn import(
        &self,
        _gun: &str,
        _parts: &[(String, Vec<u8>)],
    ) -> Result<serde_json::Value, CliError> {
        Err(memory_error("the in-memory server does not import"))
    }

    fn publish(&self, gun: &str, parts: &[(String, Vec<u8>)]) -> Result<(), CliError> {
        if let Some(reason) = self.refusal.borrow().as_ref() {
            return Err(memory_error(format!("publish rejected: {reason}")));
        }
        let mut repos = self.repos.borrow_mut();
        let repo = repos.entry(gun.to_string()).or_insert_with(Repository::new);
        for (role, raw) in parts {
            repo.store(role, raw.clone());
        }
        if !parts.iter().any(|(r, _)| r == "snapshot") {
            repo.sign_snapshot()?;
        }
        repo.sign_timestamp()?;
        self.updates.borrow_mut().push((
            gun.to_string(),
            parts.iter().map(|(r, _)| r.clone()).collect(),
        ));
        Ok(())
    }
}
