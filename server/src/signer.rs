//! Server-held timestamp and snapshot keys, encrypted at rest.
//!
//! A key-encryption key is derived once with argon2id from the operator passphrase and a
//! per-database salt; each private key is sealed with ChaCha20-Poly1305 with its key ID and
//! GUN as associated data, so a row copied to another GUN does not open. Opened keys of the
//! repositories signed for most recently are kept in memory (at most [`OPEN_KEYS_CAP`],
//! zeroized when evicted or dropped) so signing rarely pays for unsealing and key preparation.

use crate::clock_map::ClockMap;
use crate::store::{SealedKey, Store, StoreError};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use signet_keys::{KeySignature, PreparedKey, PrivateKey, PublicKey};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use time::OffsetDateTime;
use zeroize::Zeroizing;

#[derive(Debug, Error)]
pub enum SignerError {
    /// The database's server keys were sealed with another passphrase: on PostgreSQL, by
    /// another instance configured differently.
    #[error("the signer passphrase does not open the server keys in this database: they were sealed with a different one (by another instance or an earlier run). Every instance on a database needs the same signer passphrase (--signer-passphrase-file or SIGNET_SIGNER_PASSPHRASE; a generated one is in the first instance's <data-dir>/signer.passphrase), and the same operator token and TLS material")]
    WrongPassphrase,
    #[error("server key {key_id} for {gun} cannot be opened")]
    Unseal { key_id: String, gun: String },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("deriving the key-encryption key: {0}")]
    Kdf(String),
}

/// The two roles the server signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerRole {
    Timestamp,
    Snapshot,
}

impl ServerRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::Timestamp => "timestamp",
            ServerRole::Snapshot => "snapshot",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "timestamp" => Some(ServerRole::Timestamp),
            "snapshot" => Some(ServerRole::Snapshot),
            _ => None,
        }
    }
}

const SEAL_VERSION: u8 = 1;
const CHECK_PLAINTEXT: &[u8] = b"signet signer passphrase check";

/// Opened keys kept in memory: two per repository (timestamp and snapshot), so the 2,048
/// repositories most recently signed for. A key evicted is unsealed again on its next use
/// (ChaCha20-Poly1305 and a P-256 key setup: well under a millisecond).
pub const OPEN_KEYS_CAP: usize = 4096;

type OpenKeys = ClockMap<(String, String), Arc<PreparedKey>>;

pub struct Signer {
    store: Arc<dyn Store>,
    kek: Zeroizing<[u8; 32]>,
    /// (GUN, key ID) → opened key. Dropping the last `Arc` zeroizes the key material (the
    /// key types zeroize on drop), so eviction wipes a key unless a signing holds it.
    open_keys: Mutex<OpenKeys>,
    open_keys_cap: usize,
}

fn seal(kek: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(kek));
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // Encryption with a valid key and nonce cannot fail for in-memory buffers.
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(1 + 12 + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn open(kek: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < 13 + 16 || sealed[0] != SEAL_VERSION {
        return None;
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(kek));
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[1..13]),
            Payload {
                msg: &sealed[13..],
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

fn aad(key_id: &str, gun: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(key_id.len() + gun.len() + 1);
    a.extend_from_slice(key_id.as_bytes());
    a.push(0);
    a.extend_from_slice(gun.as_bytes());
    a
}

impl Signer {
    /// Derives the key-encryption key (argon2id, salt stored once per database) and checks
    /// the passphrase against a sealed check value.
    pub fn open(store: Arc<dyn Store>, passphrase: &[u8]) -> Result<Self, SignerError> {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt = store.signer_meta_init("kek_salt", &salt)?;
        let mut kek = Zeroizing::new([0u8; 32]);
        argon2::Argon2::default()
            .hash_password_into(passphrase, &salt, kek.as_mut())
            .map_err(|e| SignerError::Kdf(e.to_string()))?;
        let check = seal(&kek, CHECK_PLAINTEXT, b"check");
        let stored = store.signer_meta_init("kek_check", &check)?;
        match open(&kek, &stored, b"check") {
            Some(p) if p.as_slice() == CHECK_PLAINTEXT => {}
            _ => return Err(SignerError::WrongPassphrase),
        }
        Ok(Signer {
            store,
            kek,
            open_keys: Mutex::new(ClockMap::new()),
            open_keys_cap: OPEN_KEYS_CAP,
        })
    }

    /// The `index`-th key of a GUN's role, derived from the key-encryption key: the same on
    /// every instance sharing the database, so it need not be stored until a publish signs
    /// with it. `index` is the number of keys already stored for the role, so each rotation
    /// after a key came into use derives a different one; the GUN's last deletion is mixed in
    /// so that a repository whose keys were dropped (reset, trust wipe) gets new ones.
    fn derived_key(
        &self,
        gun: &str,
        role: ServerRole,
        index: usize,
    ) -> Result<PrivateKey, SignerError> {
        let epoch = self.store.last_deletion(gun)?;
        let kek = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.kek.as_ref());
        let mut info = Zeroizing::new(Vec::with_capacity(64 + gun.len()));
        info.extend_from_slice(b"signet derived server key\0");
        info.extend_from_slice(role.as_str().as_bytes());
        info.push(0);
        info.extend_from_slice(gun.as_bytes());
        info.push(0);
        info.extend_from_slice(&(index as u64).to_be_bytes());
        info.extend_from_slice(&epoch.to_be_bytes());
        // A digest that is not a valid P-256 scalar (about one in 2^32) moves to the next.
        for attempt in 0u8..=u8::MAX {
            info.push(attempt);
            let tag = ring::hmac::sign(&kek, &info);
            info.pop();
            let mut scalar = Zeroizing::new([0u8; 32]);
            scalar.copy_from_slice(tag.as_ref());
            if let Some(key) = PrivateKey::ecdsa_from_scalar(&scalar) {
                return Ok(key);
            }
        }
        // 256 consecutive invalid scalars do not happen with HMAC-SHA256 output.
        Err(SignerError::Sign("no valid derived key".into()))
    }

    /// Stores a derived key at its first signature (marked used), unless another publish or
    /// instance stored it meanwhile.
    fn store_derived(
        &self,
        gun: &str,
        role: ServerRole,
        key: PrivateKey,
    ) -> Result<Arc<PreparedKey>, SignerError> {
        let id = key.id().to_string();
        let der = signet_keys::pkcs8::encode_notary(&key);
        let sealed = SealedKey {
            key_id: id.clone(),
            gun: gun.to_string(),
            role: role.as_str().to_string(),
            algorithm: "ecdsa".into(),
            public: key.public_key().public_bytes().to_vec(),
            sealed_private: seal(&self.kek, &der, &aad(&id, gun)),
            used: true,
        };
        if let Err(e) = self.store.insert_key(&sealed, OffsetDateTime::now_utc()) {
            let stored_meanwhile = self
                .store
                .keys_for(gun, role.as_str())?
                .iter()
                .any(|k| k.key_id == id);
            if !stored_meanwhile {
                return Err(e.into());
            }
        }
        let prepared = Arc::new(PreparedKey::new(key));
        self.keep_open((gun.to_string(), id), prepared.clone());
        Ok(prepared)
    }

    /// Seals a private key brought from another server (an import) as a key of `role` for
    /// `gun`, ready for [`Store::import_repository`]. Only ECDSA keys: the server signs and
    /// publishes its keys as `ecdsa` (what notary-signer generates).
    pub fn seal_imported(
        &self,
        gun: &str,
        role: ServerRole,
        key: &PrivateKey,
        used: bool,
    ) -> Result<SealedKey, SignerError> {
        if key.algorithm() != "ecdsa" {
            return Err(SignerError::Sign(format!(
                "server keys must be ecdsa, this {} key cannot be held",
                key.algorithm()
            )));
        }
        let id = key.id().to_string();
        let der = signet_keys::pkcs8::encode_notary(key);
        Ok(SealedKey {
            key_id: id.clone(),
            gun: gun.to_string(),
            role: role.as_str().to_string(),
            algorithm: "ecdsa".into(),
            public: key.public_key().public_bytes().to_vec(),
            sealed_private: seal(&self.kek, &der, &aad(&id, gun)),
            used,
        })
    }

    /// The PKCS#8 DER of a held key, for an export that re-encrypts it under the operator's
    /// archive passphrase.
    pub fn export_private(&self, k: &SealedKey) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let key = self.private(k)?;
        Ok(signet_keys::pkcs8::encode_notary(key.key()))
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, OpenKeys> {
        self.open_keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn keep_open(&self, cache_key: (String, String), key: Arc<PreparedKey>) {
        let evicted = self
            .cache()
            .insert_capped(cache_key, key, self.open_keys_cap);
        // Dropped (and zeroized) after the lock is released.
        drop(evicted);
    }

    fn public_of(k: &SealedKey) -> PublicKey {
        PublicKey::new(signet_keys::KeyType::Ecdsa, k.public.clone())
    }

    /// GET `<role>.key`: the first key of the role listed in the current root that is held;
    /// else an unused (pending) key stored before keys were derived; else the next derived
    /// key, which is stored only when a publish signs with it, so key requests for names that
    /// never publish leave nothing behind.
    pub fn get_or_create(
        &self,
        gun: &str,
        role: ServerRole,
        root_key_ids: &[String],
    ) -> Result<PublicKey, SignerError> {
        let held = self.store.keys_for(gun, role.as_str())?;
        for id in root_key_ids {
            if let Some(k) = held.iter().find(|k| &k.key_id == id) {
                return Ok(Self::public_of(k));
            }
        }
        if let Some(k) = held.iter().rev().find(|k| !k.used) {
            return Ok(Self::public_of(k));
        }
        Ok(self.derived_key(gun, role, held.len())?.public_key())
    }

    /// POST `<role>.key`: a pending key if one exists, else the next derived key. Metadata is
    /// untouched until a client publishes a root listing the key.
    pub fn rotate(
        &self,
        gun: &str,
        role: ServerRole,
        root_key_ids: &[String],
    ) -> Result<PublicKey, SignerError> {
        let held = self.store.keys_for(gun, role.as_str())?;
        if let Some(k) = held
            .iter()
            .rev()
            .find(|k| !k.used && !root_key_ids.contains(&k.key_id))
        {
            return Ok(Self::public_of(k));
        }
        Ok(self.derived_key(gun, role, held.len())?.public_key())
    }

    fn private(&self, k: &SealedKey) -> Result<Arc<PreparedKey>, SignerError> {
        let cache_key = (k.gun.clone(), k.key_id.clone());
        if let Some(p) = self.cache().get(&cache_key) {
            return Ok(p.clone());
        }
        let unseal_err = || SignerError::Unseal {
            key_id: k.key_id.clone(),
            gun: k.gun.clone(),
        };
        let der =
            open(&self.kek, &k.sealed_private, &aad(&k.key_id, &k.gun)).ok_or_else(unseal_err)?;
        let key = Arc::new(PreparedKey::new(
            signet_keys::pkcs8::decode(&der).map_err(|_| unseal_err())?,
        ));
        if key.key().id().as_str() != k.key_id {
            return Err(unseal_err());
        }
        self.keep_open(cache_key, key.clone());
        Ok(key)
    }

    /// Whether the server holds (has stored) any of `key_ids` for this GUN and role.
    pub fn holds_any(
        &self,
        gun: &str,
        role: ServerRole,
        key_ids: &[String],
    ) -> Result<bool, SignerError> {
        Ok(self
            .store
            .keys_for(gun, role.as_str())?
            .iter()
            .any(|k| key_ids.contains(&k.key_id)))
    }

    /// Signs with every key in `key_ids` the server holds for this GUN and role; returns the
    /// signatures (empty when none is held) and marks the keys used.
    pub fn sign(
        &self,
        gun: &str,
        role: ServerRole,
        key_ids: &[String],
        msg: &[u8],
    ) -> Result<Vec<(String, KeySignature)>, SignerError> {
        let held = self.store.keys_for(gun, role.as_str())?;
        // The key a key request handed out without storing it.
        let mut derived = None;
        let mut out = Vec::new();
        for id in key_ids {
            let key = match held.iter().find(|k| &k.key_id == id) {
                Some(k) => {
                    let key = self.private(k)?;
                    if !k.used {
                        self.store.mark_used(gun, id)?;
                    }
                    key
                }
                None => {
                    if derived.is_none() {
                        derived = Some(Some(self.derived_key(gun, role, held.len())?));
                    }
                    let next = derived.as_mut().and_then(Option::take);
                    match next {
                        Some(key) if key.id().as_str() == id => {
                            self.store_derived(gun, role, key)?
                        }
                        other => {
                            derived = Some(other);
                            continue;
                        }
                    }
                }
            };
            let sig = key
                .sign(msg)
                .map_err(|e| SignerError::Sign(e.to_string()))?;
            out.push((id.clone(), sig));
        }
        Ok(out)
    }
}

/// Secrets of the server's own (the token signing key), sealed under the same KEK. The AAD has
/// an empty key ID, which no server key has, so a sealed secret never opens as a key.
impl Signer {
    pub fn seal_secret(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        seal(&self.kek, plaintext, &aad("", purpose))
    }

    pub fn open_secret(&self, purpose: &str, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        open(&self.kek, sealed, &aad("", purpose))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn store() -> (tempfile::TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite")).unwrap());
        (dir, s)
    }

    #[test]
    fn pending_key_is_reused_until_used_and_sealed_per_gun() {
        let (_d, s) = store();
        let signer = Signer::open(s.clone(), b"operator pass").unwrap();
        let a = signer
            .get_or_create("example.com/a", ServerRole::Timestamp, &[])
            .unwrap();
        let b = signer
            .get_or_create("example.com/a", ServerRole::Timestamp, &[])
            .unwrap();
        assert_eq!(a.id(), b.id(), "pending key reused");
        let sigs = signer
            .sign(
                "example.com/a",
                ServerRole::Timestamp,
                &[a.id().to_string()],
                b"msg",
            )
            .unwrap();
        assert_eq!(sigs.len(), 1);
        a.verify("ecdsa", b"msg", &sigs[0].1.sig).unwrap();
        // Rotation gives a new pending key; GET keeps answering the key the root lists.
        let r = signer
            .rotate(
                "example.com/a",
                ServerRole::Timestamp,
                &[a.id().to_string()],
            )
            .unwrap();
        assert_ne!(r.id(), a.id());
        let g = signer
            .get_or_create(
                "example.com/a",
                ServerRole::Timestamp,
                &[a.id().to_string()],
            )
            .unwrap();
        assert_eq!(g.id(), a.id());
        // The sealed row does not hold the private key in the clear.
        let rows = s.keys_for("example.com/a", "timestamp").unwrap();
        let der = {
            let fresh = Signer::open(s.clone(), b"operator pass").unwrap();
            fresh.private(&rows[0]).unwrap()
        };
        assert_eq!(der.key().id(), a.id());
        // Moved to another GUN, the row does not open.
        let mut moved = rows[0].clone();
        moved.gun = "example.com/b".into();
        assert!(matches!(
            signer.private(&moved),
            Err(SignerError::Unseal { .. })
        ));
    }

    #[test]
    fn open_keys_are_bounded_and_an_evicted_key_is_unsealed_again() {
        let (_d, s) = store();
        let mut signer = Signer::open(s.clone(), b"operator pass").unwrap();
        signer.open_keys_cap = 2;
        let guns = ["example.com/a", "example.com/b", "example.com/c"];
        let keys: Vec<PublicKey> = guns
            .iter()
            .map(|g| {
                let k = signer.get_or_create(g, ServerRole::Snapshot, &[]).unwrap();
                signer
                    .sign(g, ServerRole::Snapshot, &[k.id().to_string()], b"first")
                    .unwrap();
                k
            })
            .collect();
        // Three keys stored at their first signature, two kept: the first (never used since)
        // went.
        assert_eq!(signer.cache().len(), 2);
        let cached = |g: &str, k: &PublicKey| {
            signer
                .cache()
                .get(&(g.to_string(), k.id().to_string()))
                .is_some()
        };
        assert!(!cached(guns[0], &keys[0]));
        assert!(cached(guns[2], &keys[2]));
        // Every key still signs, the evicted one after unsealing it from the store.
        for _ in 0..2 {
            for (g, k) in guns.iter().zip(&keys) {
                let sigs = signer
                    .sign(g, ServerRole::Snapshot, &[k.id().to_string()], g.as_bytes())
                    .unwrap();
                assert_eq!(sigs.len(), 1, "{g}");
                assert_eq!(sigs[0].0, k.id().as_str());
                k.verify("ecdsa", g.as_bytes(), &sigs[0].1.sig).unwrap();
                assert!(cached(g, k), "{g} kept after use");
                assert!(signer.cache().len() <= 2);
            }
        }
    }

    #[test]
    fn key_requests_for_names_that_never_publish_store_nothing() {
        let (_d, s) = store();
        let signer = Signer::open(s.clone(), b"operator pass").unwrap();
        let guns: Vec<String> = (0..300).map(|i| format!("example.com/probe{i}")).collect();
        for g in &guns {
            for role in [ServerRole::Timestamp, ServerRole::Snapshot] {
                let first = signer.get_or_create(g, role, &[]).unwrap();
                // Asked again (or rotated before any publish), the same key is answered.
                assert_eq!(signer.get_or_create(g, role, &[]).unwrap(), first);
                assert_eq!(signer.rotate(g, role, &[]).unwrap(), first);
                assert!(s.keys_for(g, role.as_str()).unwrap().is_empty(), "{g}");
            }
        }
        assert_eq!(signer.cache().len(), 0, "nothing opened either");
        // Another instance on the same database answers the same key, and its signature
        // stores it.
        let other = Signer::open(s.clone(), b"operator pass").unwrap();
        let gun = guns[7].as_str();
        let key = other
            .get_or_create(gun, ServerRole::Timestamp, &[])
            .unwrap();
        assert_eq!(
            key,
            signer
                .get_or_create(gun, ServerRole::Timestamp, &[])
                .unwrap()
        );
        let sigs = signer
            .sign(gun, ServerRole::Timestamp, &[key.id().to_string()], b"m")
            .unwrap();
        key.verify("ecdsa", b"m", &sigs[0].1.sig).unwrap();
        let rows = s.keys_for(gun, "timestamp").unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].used);
        assert_eq!(rows[0].key_id, key.id().as_str());
        // The other instance signs with the stored copy; a second store is not attempted.
        let again = other
            .sign(gun, ServerRole::Timestamp, &[key.id().to_string()], b"n")
            .unwrap();
        key.verify("ecdsa", b"n", &again[0].1.sig).unwrap();
        assert_eq!(s.keys_for(gun, "timestamp").unwrap().len(), 1);
        // A key nobody was handed signs nothing and stores nothing.
        let stranger = PrivateKey::generate_ecdsa().public_key();
        let none = signer
            .sign(
                gun,
                ServerRole::Snapshot,
                &[stranger.id().to_string()],
                b"m",
            )
            .unwrap();
        assert!(none.is_empty());
        assert!(s.keys_for(gun, "snapshot").unwrap().is_empty());
        // After the key came into use a rotation derives a different one, and a root
        // listing the used key keeps getting it.
        let ids = [key.id().to_string()];
        let rotated = signer.rotate(gun, ServerRole::Timestamp, &ids).unwrap();
        assert_ne!(rotated, key);
        assert_eq!(
            signer
                .get_or_create(gun, ServerRole::Timestamp, &ids)
                .unwrap(),
            key
        );
        // A repository deleted and started again (its keys dropped by a reset or a trust
        // wipe) is handed a new key.
        let fresh = &guns[9];
        let before = signer
            .get_or_create(fresh, ServerRole::Timestamp, &[])
            .unwrap();
        let now = OffsetDateTime::now_utc();
        let file = crate::store::NewMeta {
            role: "targets".into(),
            version: 1,
            bytes: b"{}".to_vec(),
        };
        s.update_many(fresh, &[file], now).unwrap();
        assert_eq!(s.delete_gun(fresh, now).unwrap(), 1);
        let after = signer
            .get_or_create(fresh, ServerRole::Timestamp, &[])
            .unwrap();
        assert_ne!(after, before);
        assert_eq!(
            other
                .get_or_create(fresh, ServerRole::Timestamp, &[])
                .unwrap(),
            after
        );
        // Keys are per GUN and per role.
        assert_ne!(
            signer
                .get_or_create(gun, ServerRole::Snapshot, &[])
                .unwrap(),
            key
        );
        assert_ne!(
            signer
                .get_or_create(&guns[8], ServerRole::Timestamp, &[])
                .unwrap(),
            key
        );
    }

    #[test]
    fn wrong_passphrase_is_refused() {
        let (_d, s) = store();
        Signer::open(s.clone(), b"right").unwrap();
        assert!(matches!(
            Signer::open(s, b"wrong"),
            Err(SignerError::WrongPassphrase)
        ));
    }
}
