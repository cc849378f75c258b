//! Root certificate policy (notary's `ValidateRoot` with TOFU): which root keys are valid
//! certificates for a GUN, and whether a root (or a root rotation) is properly signed.

use crate::error::TufError;
use crate::role_name::ROOT;
use crate::root::RoleKeySet;
use crate::signed::SignedRoot;
use signet_keys::{Certificate, PublicKey};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// Does a certificate CN name this GUN (exactly, or as a `prefix*` wildcard)?
pub fn cn_matches(cn: &str, gun: &str) -> bool {
    match cn.strip_suffix('*') {
        Some(prefix) => gun.starts_with(prefix),
        None => cn == gun,
    }
}

/// Checks one certificate as notary does; `Err` carries the reason.
pub fn check_certificate(
    cert: &Certificate,
    gun: Option<&str>,
    now: OffsetDateTime,
    check_expiry: bool,
) -> Result<(), String> {
    if let Some(gun) = gun {
        if !cn_matches(cert.cn(), gun) {
            return Err(format!("CN {:?} does not match {gun:?}", cert.cn()));
        }
    }
    if cert.not_before() > cert.not_after() {
        return Err("NotBefore is after NotAfter".into());
    }
    if cert.uses_sha1() {
        return Err("signed with SHA-1".into());
    }
    if let Some(bits) = cert.rsa_bits() {
        if bits < 2048 {
            return Err(format!("RSA key of {bits} bits"));
        }
    }
    if check_expiry {
        if cert.not_before() > now + Duration::days(1) {
            return Err(format!("not valid before {}", cert.not_before()));
        }
        if cert.not_after() <= now {
            return Err(format!("expired at {}", cert.not_after()));
        }
    }
    Ok(())
}

/// The root-role keys of `root` that are valid certificates for `gun`: leaf first and not a
/// CA, later certificates CAs. Keys that fail are left out (notary logs and skips them); if
/// none is left the root is invalid.
pub fn valid_root_keys(
    root: &SignedRoot,
    gun: &str,
    now: OffsetDateTime,
    check_expiry: bool,
) -> Result<RoleKeySet, TufError> {
    let all = root.signed.role_keys(ROOT)?;
    let mut valid = BTreeMap::new();
    let mut last_reason = String::from("no root keys");
    for (id, key) in &all.keys {
        match check_root_key(key, gun, now, check_expiry) {
            Ok(()) => {
                valid.insert(id.clone(), key.clone());
            }
            Err(reason) => last_reason = format!("{id}: {reason}"),
        }
    }
    if valid.is_empty() {
        return Err(TufError::RootCert {
            key_id: gun.to_string(),
            reason: format!("no valid root certificate ({last_reason})"),
        });
    }
    Ok(RoleKeySet {
        role: ROOT.to_string(),
        keys: valid,
        threshold: all.threshold,
    })
}

fn check_root_key(
    key: &PublicKey,
    gun: &str,
    now: OffsetDateTime,
    check_expiry: bool,
) -> Result<(), String> {
    if !key.key_type().is_x509() {
        return Err(format!(
            "root key type {} is not a certificate",
            key.key_type()
        ));
    }
    let chain = key.certificate_chain().map_err(|e| e.to_string())?;
    let (leaf, rest) = chain.split_first().ok_or("empty certificate bundle")?;
    if leaf.is_ca() {
        return Err("first certificate is a CA, not a leaf".into());
    }
    check_certificate(leaf, Some(gun), now, check_expiry)?;
    for c in rest {
        if !c.is_ca() {
            return Err("more than one leaf certificate".into());
        }
        check_certificate(c, None, now, true)?;
    }
    Ok(())
}

/// Validates a root the way notary-server and clients do (TOFU): its own valid certificates
/// meet its root threshold, and, when a previous root is trusted, the previous root's
/// certificates (expiry not checked) meet the previous threshold too.
pub fn validate_root(
    new: &SignedRoot,
    previous: Option<&SignedRoot>,
    gun: &str,
    now: OffsetDateTime,
) -> Result<(), TufError> {
    let own = valid_root_keys(new, gun, now, true)?;
    if let Some(prev) = previous {
        let prev_keys = valid_root_keys(prev, gun, now, false)?;
        match new.verify_threshold(&prev_keys) {
            Ok(_) => {}
            Err(TufError::ThresholdNotMet { have, need, .. }) => {
                return Err(TufError::RootRotation { have, need })
            }
            Err(TufError::NoSignatures { .. }) => {
                return Err(TufError::RootRotation {
                    have: 0,
                    need: prev_keys.threshold.max(1) as usize,
                })
            }
            Err(e) => return Err(e),
        }
    }
    new.verify_threshold(&own)?;
    Ok(())
}
