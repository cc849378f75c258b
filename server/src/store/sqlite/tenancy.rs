//! Registries, identities, role assignments and the audit log in SQLite, each change applied
//! with its trust-data wipe and audit record in one transaction.

use super::*;

impl crate::store::TenancyStore for SqliteStore {
    fn tenancy_load(&self) -> Result<TenancyRows, StoreError> {
        let mut conn = self.reader();
        // One read transaction so the rows and the generation agree.
        let tx = conn.transaction()?;
        let generation = Self::tenancy_generation_on(&tx)?;
        let rows = {
            let mut stmt = tx.prepare("SELECT kind, name, doc FROM tenancy ORDER BY kind, name")?;
            let rows = stmt.query_map([], |r| {
                Ok(TenancyRow {
                    kind: r.get(0)?,
                    name: r.get(1)?,
                    doc: r.get(2)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(TenancyRows { generation, rows })
    }

    fn tenancy_generation(&self) -> Result<i64, StoreError> {
        Self::tenancy_generation_on(&self.reader())
    }

    fn tenancy_apply(
        &self,
        expected_generation: i64,
        changes: &[TenancyChange],
        wipe: Option<TrustWipe<'_>>,
        audit: &AuditRecord,
    ) -> Result<Applied, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock before reading the generation, so two processes
        // (a running server and the admin CLI) cannot both pass the check.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let bumped = tx.execute(
            "UPDATE tenancy_meta SET generation = generation + 1 WHERE id = 1 AND generation = ?1",
            params![expected_generation],
        )?;
        if bumped != 1 {
            return Ok(Applied::Stale);
        }
        for c in changes {
            match c {
                TenancyChange::Put(row) => {
                    tx.execute(
                        "INSERT INTO tenancy (kind, name, doc) VALUES (?1, ?2, ?3) ON CONFLICT (kind, name) DO UPDATE SET doc = excluded.doc",
                        params![row.kind, row.name, row.doc],
                    )?;
                }
                TenancyChange::Delete { kind, name } => {
                    tx.execute(
                        "DELETE FROM tenancy WHERE kind = ?1 AND name = ?2",
                        params![kind, name],
                    )?;
                }
            }
        }
        let wiped = match wipe {
            Some(w) => Self::wipe(&tx, w, audit.at)?,
            None => Wiped::default(),
        };
        tx.execute(
            "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                micros(audit.at),
                audit.actor,
                audit.action,
                audit.target,
                audit.detail.to_string()
            ],
        )?;
        tx.commit()?;
        Ok(Applied::Done(wiped))
    }

    fn repository_holdings(&self, gun: &str) -> Result<(usize, usize), StoreError> {
        let conn = self.reader();
        let count = |sql: &str| -> Result<usize, StoreError> {
            Ok(conn.query_row(sql, params![gun], |r| r.get::<_, i64>(0))? as usize)
        };
        Ok((
            count("SELECT COUNT(*) FROM tuf_files WHERE gun = ?1")?,
            count("SELECT COUNT(*) FROM server_keys WHERE gun = ?1")?,
        ))
    }

    fn audit_list(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let conn = self.reader();
        // Absent filters are NULL and match everything, so one statement serves all queries.
        let mut stmt = conn.prepare_cached(
            "SELECT id, at, actor, action, target, detail FROM audit_log \
             WHERE (?1 IS NULL OR id < ?1) \
               AND (?2 IS NULL OR action = ?2 OR substr(action, 1, length(?2) + 1) = ?2 || '.') \
               AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4) \
             ORDER BY id DESC LIMIT ?5",
        )?;
        let rows = stmt.query_map(
            params![
                q.before_id,
                q.action,
                q.since.map(micros),
                q.until.map(micros),
                q.limit
            ],
            |r| {
                let detail: String = r.get(5)?;
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: from_micros(r.get(1)?),
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
