//! Registries, identities, role assignments and the audit log in PostgreSQL, each change
//! applied with its trust-data wipe and audit record in one transaction (wipes lock
//! `tuf_files` so no publish slips in behind them).

use super::*;

impl crate::store::TenancyStore for PgStore {
    fn tenancy_load(&self) -> Result<TenancyRows, StoreError> {
        self.with(|c| {
            // REPEATABLE READ: the rows and the generation come from one snapshot.
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let generation: i64 = tx
                .query_one("SELECT generation FROM tenancy_meta WHERE id = 1", &[])?
                .get(0);
            let rows = tx
                .query(
                    "SELECT kind, name, doc FROM tenancy ORDER BY kind, name",
                    &[],
                )?
                .iter()
                .map(|r| TenancyRow {
                    kind: r.get(0),
                    name: r.get(1),
                    doc: r.get(2),
                })
                .collect();
            tx.commit()?;
            Ok(TenancyRows { generation, rows })
        })
    }

    fn tenancy_generation(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(
                c.query_one("SELECT generation FROM tenancy_meta WHERE id = 1", &[])?
                    .get(0),
            )
        })
    }

    fn tenancy_apply(
        &self,
        expected_generation: i64,
        changes: &[TenancyChange],
        wipe: Option<TrustWipe<'_>>,
        audit: &AuditRecord,
    ) -> Result<Applied, StoreError> {
        self.write(|c| {
            let mut tx = c.transaction()?;
            // The row lock serialises concurrent changes; a loser re-evaluates the WHERE
            // after the winner commits and updates nothing.
            let bumped = tx.execute(
                "UPDATE tenancy_meta SET generation = generation + 1 WHERE id = 1 AND generation = $1",
                &[&expected_generation],
            )?;
            if bumped != 1 {
                tx.rollback()?;
                return Ok(Applied::Stale);
            }
            for ch in changes {
                match ch {
                    TenancyChange::Put(row) => {
                        tx.execute(
                            "INSERT INTO tenancy (kind, name, doc) VALUES ($1, $2, $3) ON CONFLICT (kind, name) DO UPDATE SET doc = EXCLUDED.doc",
                            &[&row.kind, &row.name, &row.doc],
                        )?;
                    }
                    TenancyChange::Delete { kind, name } => {
                        tx.execute(
                            "DELETE FROM tenancy WHERE kind = $1 AND name = $2",
                            &[kind, name],
                        )?;
                    }
                }
            }
            let mut wiped = Wiped::default();
            if let Some(wipe) = wipe {
                // Wait for publishes in flight and hold new ones until we commit, so the
                // DELETE below sees every committed file and nothing slips in behind it.
                tx.batch_execute("LOCK TABLE tuf_files IN EXCLUSIVE MODE")?;
                // One WHERE clause for both scopes: a host prefix compared
                // case-insensitively, or one exact GUN.
                let (clause, a, b): (&str, String, i32) = match wipe {
                    TrustWipe::Host(host) => {
                        let prefix = format!("{}/", host.to_ascii_lowercase());
                        let len = prefix.chars().count() as i32;
                        ("lower(left(gun, $2)) = $1", prefix, len)
                    }
                    TrustWipe::Repository(gun) => ("gun = $1 AND $2 = $2", gun.to_string(), 0),
                };
                let guns: Vec<String> = tx
                    .query(
                        &format!("SELECT DISTINCT gun FROM tuf_files WHERE {clause}"),
                        &[&a, &b],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                wiped.files = tx.execute(
                    &format!("DELETE FROM tuf_files WHERE {clause}"),
                    &[&a, &b],
                )? as usize;
                tx.execute(
                    &format!("DELETE FROM server_keys WHERE {clause}"),
                    &[&a, &b],
                )?;
                for gun in &guns {
                    tx.execute(
                        "INSERT INTO changefeed (created_at, gun, version, sha256, category) VALUES ($1,$2,0,'','deletion')",
                        &[&micros(audit.at), gun],
                    )?;
                }
                wiped.repositories = guns.len();
            }
            tx.execute(
                "INSERT INTO audit_log (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &micros(audit.at),
                    &audit.actor,
                    &audit.action,
                    &audit.target,
                    &audit.detail.to_string(),
                ],
            )?;
            // Every instance drops its cached metadata and reloads the configuration.
            tx.execute("SELECT pg_notify($1, '*')", &[&CHANNEL])?;
            tx.commit()?;
            Ok(Applied::Done(wiped))
        })
    }

    fn repository_holdings(&self, gun: &str) -> Result<(usize, usize), StoreError> {
        self.with(|c| {
            let files: i64 = c
                .query_one("SELECT COUNT(*) FROM tuf_files WHERE gun = $1", &[&gun])?
                .get(0);
            let keys: i64 = c
                .query_one("SELECT COUNT(*) FROM server_keys WHERE gun = $1", &[&gun])?
                .get(0);
            Ok((files as usize, keys as usize))
        })
    }

    fn audit_list(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let (since, until) = (q.since.map(micros), q.until.map(micros));
        let rows = self.with(|c| {
            // Absent filters are NULL and match everything, so one statement serves all.
            c.query(
                "SELECT id, at, actor, action, target, detail FROM audit_log \
                 WHERE ($1::BIGINT IS NULL OR id < $1) \
                   AND ($2::TEXT IS NULL OR action = $2 OR left(action, length($2) + 1) = $2 || '.') \
                   AND ($3::BIGINT IS NULL OR at >= $3) AND ($4::BIGINT IS NULL OR at <= $4) \
                 ORDER BY id DESC LIMIT $5",
                &[&q.before_id, &q.action, &since, &until, &q.limit],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| {
                let detail: String = r.get(5);
                AuditRecord {
                    id: r.get(0),
                    at: from_micros(r.get(1)),
                    actor: r.get(2),
                    action: r.get(3),
                    target: r.get(4),
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                }
            })
            .collect())
    }
}
