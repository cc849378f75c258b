//! Repositories imported with another server's timestamp key (`signet-server import --from`,
//! a client cache, a notary database without notary-signer's keys): the current root lists
//! no timestamp key Signet holds. Signet serves them read-only as imported until the root key
//! holder rotates the timestamp key to Signet's (`signet migrate`); the state is derived from
//! the root and the held keys, so the handover's publish ends it with nothing else to update.

use crate::signer::{ServerRole, Signer};
use crate::store::MetaReader;
use crate::update::UpdateError;
use signet_tuf::role_name::{ROOT, TIMESTAMP};
use signet_tuf::{SignedRoot, SignedTimestamp};

/// Whether the server holds a timestamp key `root` lists.
pub fn holds_timestamp_key(
    gun: &str,
    signer: &Signer,
    root: &SignedRoot,
) -> Result<bool, UpdateError> {
    let ids: Vec<String> = root
        .signed
        .role_entry(TIMESTAMP)
        .map(|r| r.key_ids().to_vec())
        .unwrap_or_default();
    Ok(signer.holds_any(gun, ServerRole::Timestamp, &ids)?)
}

/// Whether the stored root lists only timestamp keys of another server.
pub fn stored_root_foreign(
    gun: &str,
    signer: &Signer,
    reader: &dyn MetaReader,
) -> Result<bool, UpdateError> {
    let Some(stored) = reader.latest(gun, ROOT)? else {
        return Ok(false);
    };
    let root = SignedRoot::from_bytes(ROOT, &stored.bytes)
        .map_err(|e| UpdateError::Corrupt(format!("{gun} root: {e}")))?;
    Ok(!holds_timestamp_key(gun, signer, &root)?)
}

/// The refusal of a publish that keeps another server's timestamp key.
pub fn read_only_imported(gun: &str, reader: &dyn MetaReader) -> UpdateError {
    let expires = reader
        .latest(gun, TIMESTAMP)
        .ok()
        .flatten()
        .and_then(|t| SignedTimestamp::from_bytes(TIMESTAMP, &t.bytes).ok())
        .map(|t| {
            format!(
                " (its imported timestamp expires {})",
                t.signed.expires.as_str()
            )
        })
        .unwrap_or_default();
    UpdateError::Validation(format!(
        "{gun} was imported from another Notary server, whose timestamp key Signet does not hold: it is served read-only as imported{expires} until the root key holder hands it over (signet migrate {gun} --from <old server URL>), which rotates the timestamp key to Signet's"
    ))
}
