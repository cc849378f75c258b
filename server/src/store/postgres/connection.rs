//! Pooled connections: their prepared statements, and how a lost one is recognised.

use super::*;

/// A pooled connection idle this long is checked with a round trip before use: a PostgreSQL
/// restart while the instance was quiet leaves every pooled connection dead without the
/// client knowing. Connections in steady use skip the check.
pub(super) const CHECK_AFTER_IDLE: Duration = Duration::from_secs(2);
pub(super) const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether a failure means the connection (or the server behind it) is gone, rather than the
/// statement failing: a restart, a crash, a broken socket.
pub(super) fn connection_lost(e: &postgres::Error, client: &Client) -> bool {
    if client.is_closed() || e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08 (connection exception) and 57P (operator intervention: shutdown, crash
        // shutdown, cannot connect now).
        Some(code) => code.code().starts_with("08") || code.code().starts_with("57P"),
        // No SQL state: an I/O error on the socket.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// A pooled connection with its prepared statements: a prepared statement runs in one
/// round trip, an ad-hoc one in two (parse, then execute).
pub(super) struct PgConn {
    pub(super) client: Client,
    pub(super) statements: HashMap<&'static str, Statement>,
    pub(super) idle_since: Instant,
}

impl PgConn {
    pub(super) fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    pub(super) fn query_meta(
        &mut self,
        sql: &'static str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<StoredMeta>, postgres::Error> {
        let stmt = self.statement(sql)?;
        Ok(self
            .client
            .query_opt(&stmt, params)?
            .as_ref()
            .map(PgStore::row_to_meta))
    }
}
