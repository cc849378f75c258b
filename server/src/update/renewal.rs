//! Renewal of the server-signed timestamp and snapshot: on a read when the timestamp is about
//! to expire, and ahead of expiry by the background pass. Nothing here writes: the caller
//! stores the returned rows.

use super::{
    load_stored, server_sign, UpdateError, SNAPSHOT_EXPIRY, TIMESTAMP_EXPIRY,
    TIMESTAMP_RENEW_MARGIN,
};
use crate::signer::{ServerRole, Signer};
use crate::store::{MetaReader, NewMeta};
use signet_tuf::role_name::{ROOT, SNAPSHOT, TIMESTAMP};
use signet_tuf::{GoTime, SignedRoot, SignedSnapshot, SignedTimestamp, Timestamp, TufError};
use time::{Duration, OffsetDateTime};

/// The current timestamp and snapshot of a GUN, renewed when the timestamp has expired or is
/// about to, or when the snapshot it names has expired (if the server holds the snapshot key).
pub struct TimestampState {
    pub timestamp: bytes::Bytes,
    pub timestamp_expires: OffsetDateTime,
    pub snapshot: bytes::Bytes,
    /// Rows to store (empty when nothing had to be renewed).
    pub new_rows: Vec<NewMeta>,
}

/// The stored root, loaded into `slot` on first use.
fn loaded_root<'a>(
    slot: &'a mut Option<SignedRoot>,
    reader: &dyn MetaReader,
    gun: &str,
) -> Result<&'a SignedRoot, UpdateError> {
    let root = match slot.take() {
        Some(r) => r,
        None => load_stored(reader, gun, ROOT)?
            .ok_or_else(|| UpdateError::Corrupt("timestamp without root".into()))?,
    };
    Ok(slot.insert(root))
}

pub fn current_timestamp(
    gun: &str,
    reader: &dyn MetaReader,
    signer: &Signer,
    now: OffsetDateTime,
) -> Result<Option<TimestampState>, UpdateError> {
    timestamp_state(
        gun,
        reader,
        signer,
        now,
        TIMESTAMP_RENEW_MARGIN,
        Duration::ZERO,
    )
}

/// The rows that renew a GUN's server-signed timestamp and snapshot when either expires
/// within `ahead` (empty when nothing is due, or the server holds neither key). The
/// background renewal uses a wider margin than reads do.
pub fn renew_server_signed(
    gun: &str,
    reader: &dyn MetaReader,
    signer: &Signer,
    now: OffsetDateTime,
    ahead: Duration,
) -> Result<Vec<NewMeta>, UpdateError> {
    Ok(timestamp_state(gun, reader, signer, now, ahead, ahead)?
        .map(|s| s.new_rows)
        .unwrap_or_default())
}

/// [`current_timestamp`] with the margins ahead of expiry at which the timestamp and the
/// snapshot are renewed.
fn timestamp_state(
    gun: &str,
    reader: &dyn MetaReader,
    signer: &Signer,
    now: OffsetDateTime,
    timestamp_margin: Duration,
    snapshot_margin: Duration,
) -> Result<Option<TimestampState>, UpdateError> {
    let Some(ts_row) = reader.latest(gun, TIMESTAMP)? else {
        return Ok(None);
    };
    let corrupt = |e: TufError| UpdateError::Corrupt(e.to_string());
    let ts = SignedTimestamp::from_bytes(TIMESTAMP, &ts_row.bytes).map_err(corrupt)?;
    let snap_hash = ts
        .signed
        .snapshot_meta()
        .and_then(|m| m.hash("sha256"))
        .map(hex::encode)
        .ok_or_else(|| UpdateError::Corrupt("timestamp without snapshot hash".into()))?;
    let snap_row = reader
        .by_checksum(gun, SNAPSHOT, &snap_hash)?
        .ok_or_else(|| {
            UpdateError::Corrupt("timestamp names a snapshot that is not stored".into())
        })?;
    let snap = SignedSnapshot::from_bytes(SNAPSHOT, &snap_row.bytes).map_err(corrupt)?;
    // The root (the largest file, with its certificate) is only needed to re-sign: a read
    // of a current timestamp does not load it.
    let mut root = None;

    let mut new_rows = Vec::new();
    let mut snapshot_bytes = snap_row.bytes.clone();
    if snap.signed.expires.instant() < now + snapshot_margin {
        let latest = reader.latest_version(gun, SNAPSHOT)?.unwrap_or(0);
        let mut renewed = snap.signed.clone();
        renewed.version = latest + 1;
        renewed.expires = GoTime::from_instant(now + SNAPSHOT_EXPIRY);
        let root = loaded_root(&mut root, reader, gun)?;
        if let Some(b) = server_sign(gun, signer, root, ServerRole::Snapshot, &renewed)? {
            new_rows.push(NewMeta {
                role: SNAPSHOT.into(),
                version: renewed.version,
                bytes: b.clone(),
            });
            snapshot_bytes = bytes::Bytes::from(b);
        }
    }
    let ts_expires = ts.signed.expires.instant();
    if !new_rows.is_empty() || ts_expires < now + timestamp_margin {
        let fresh = Timestamp::for_snapshot(
            GoTime::from_instant(now + TIMESTAMP_EXPIRY),
            ts_row.version + 1,
            &snapshot_bytes,
        );
        let root = loaded_root(&mut root, reader, gun)?;
        if let Some(b) = server_sign(gun, signer, root, ServerRole::Timestamp, &fresh)? {
            new_rows.push(NewMeta {
                role: TIMESTAMP.into(),
                version: fresh.version,
                bytes: b.clone(),
            });
            return Ok(Some(TimestampState {
                timestamp: bytes::Bytes::from(b),
                timestamp_expires: now + TIMESTAMP_EXPIRY,
                snapshot: snapshot_bytes,
                new_rows,
            }));
        }
    }
    // No new timestamp (none due, or the key is another server's, as after an import that
    // brought the snapshot key only): a renewed snapshot would be one the served timestamp
    // does not name, and clients refuse it, so the stored pair stays as it is.
    Ok(Some(TimestampState {
        timestamp: ts_row.bytes,
        timestamp_expires: ts_expires,
        snapshot: snap_row.bytes,
        new_rows: Vec::new(),
    }))
}
