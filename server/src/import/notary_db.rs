//! notary-server's and notary-signer's databases as an import source.
//!
//! notary-server keeps every version of every role in `tuf_files` (gun, role, version, data,
//! sha256, created_at; soft-deleted rows carry `deleted_at`); notary-signer keeps the keys it
//! holds in `private_keys` (key_id, algorithm, passphrase_alias, gun, role, public, private as
//! a JWE). Both exist on PostgreSQL and MySQL/MariaDB with the same columns (notary's
//! `migrations/`).

use super::chain::SourceFile;
use super::ImportError;
use time::OffsetDateTime;

/// A connection to one of the two databases.
pub struct NotaryDb {
    conn: Connection,
    /// The URL without its password, for messages and audit records.
    url: String,
}

enum Connection {
    Postgres(Box<postgres::Client>),
    Mysql(Box<mysql::Conn>),
}

/// A key row of notary-signer's `private_keys`.
pub struct SignerKeyRow {
    pub key_id: String,
    pub algorithm: String,
    pub keywrap_alg: String,
    pub encryption_alg: String,
    pub passphrase_alias: String,
    pub gun: String,
    pub role: String,
    pub public: Vec<u8>,
    /// The JWE compact token (not secret by itself; useless without the alias passphrase).
    pub private: String,
}

fn db_error(what: &str) -> impl Fn(postgres::Error) -> ImportError + '_ {
    move |e| ImportError::Source(format!("{what}: {e}"))
}

fn my_error(what: &str) -> impl Fn(mysql::Error) -> ImportError + '_ {
    move |e| ImportError::Source(format!("{what}: {e}"))
}

type MyKeyRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Vec<u8>,
    Vec<u8>,
);

fn from_micros(us: Option<i64>, fallback: OffsetDateTime) -> OffsetDateTime {
    us.and_then(|us| OffsetDateTime::from_unix_timestamp_nanos(us as i128 * 1000).ok())
        .unwrap_or(fallback)
}

impl NotaryDb {
    /// Connects to a `postgres://`/`postgresql://` or `mysql://` URL.
    pub fn connect(url: &str) -> Result<NotaryDb, ImportError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let client = postgres::Client::connect(url, postgres::NoTls)
                .map_err(|e| ImportError::Source(format!("connecting to {}: {e}", redact(url))))?;
            return Ok(NotaryDb {
                conn: Connection::Postgres(Box::new(client)),
                url: redact(url),
            });
        }
        if url.starts_with("mysql://") {
            if url.contains("@tcp(") {
                return Err(ImportError::Usage(format!(
                    "{}: give a URL (mysql://user:password@host:port/database), not notary's Go DSN",
                    redact(url)
                )));
            }
            let opts = mysql::Opts::from_url(url)
                .map_err(|e| ImportError::Usage(format!("{}: {e}", redact(url))))?;
            let conn = mysql::Conn::new(opts)
                .map_err(|e| ImportError::Source(format!("connecting to {}: {e}", redact(url))))?;
            return Ok(NotaryDb {
                conn: Connection::Mysql(Box::new(conn)),
                url: redact(url),
            });
        }
        Err(ImportError::Usage(format!(
            "{}: not a postgres:// or mysql:// URL",
            redact(url)
        )))
    }

    /// The database for messages and audit records (no password).
    pub fn describe(&self) -> String {
        self.url.clone()
    }

    /// Every GUN with stored metadata, sorted.
    pub fn guns(&mut self) -> Result<Vec<String>, ImportError> {
        match &mut self.conn {
            Connection::Postgres(c) => Ok(c
                .query(
                    "SELECT DISTINCT gun FROM tuf_files WHERE deleted_at IS NULL ORDER BY gun",
                    &[],
                )
                .map_err(db_error("reading tuf_files"))?
                .iter()
                .map(|r| r.get(0))
                .collect()),
            Connection::Mysql(c) => {
                use mysql::prelude::Queryable;
                c.query("SELECT DISTINCT gun FROM tuf_files WHERE deleted_at IS NULL ORDER BY gun")
                    .map_err(my_error("reading tuf_files"))
            }
        }
    }

    /// Every stored version of every role of `gun`.
    pub fn files(&mut self, gun: &str) -> Result<Vec<SourceFile>, ImportError> {
        let now = OffsetDateTime::now_utc();
        match &mut self.conn {
            Connection::Postgres(c) => Ok(c
                .query(
                    "SELECT role, version, data, sha256, (EXTRACT(EPOCH FROM created_at) * 1000000)::BIGINT FROM tuf_files WHERE gun = $1 AND deleted_at IS NULL ORDER BY role, version",
                    &[&gun],
                )
                .map_err(db_error("reading tuf_files"))?
                .iter()
                .map(|r| SourceFile {
                    role: r.get(0),
                    version: r.get::<_, i32>(1) as i64,
                    bytes: r.get(2),
                    recorded_sha256: r.get(3),
                    created_at: from_micros(r.get(4), now),
                })
                .collect()),
            Connection::Mysql(c) => {
                use mysql::prelude::Queryable;
                c.exec_map(
                    "SELECT role, version, data, sha256, CAST(UNIX_TIMESTAMP(created_at) * 1000000 AS SIGNED) FROM tuf_files WHERE gun = ? AND deleted_at IS NULL ORDER BY role, version",
                    (gun,),
                    |(role, version, bytes, recorded_sha256, created): (
                        String,
                        i64,
                        Vec<u8>,
                        Option<String>,
                        Option<i64>,
                    )| SourceFile {
                        role,
                        version,
                        bytes,
                        recorded_sha256,
                        created_at: from_micros(created, now),
                    },
                )
                .map_err(my_error("reading tuf_files"))
            }
        }
    }

    /// The key row of `key_id` in notary-signer's `private_keys`, if held.
    pub fn signer_key(&mut self, key_id: &str) -> Result<Option<SignerKeyRow>, ImportError> {
        match &mut self.conn {
            Connection::Postgres(c) => {
                let row = c
                    .query_opt(
                        "SELECT key_id, algorithm, keywrap_alg, encryption_alg, passphrase_alias, gun, role, public, private FROM private_keys WHERE key_id = $1 AND deleted_at IS NULL",
                        &[&key_id],
                    )
                    .map_err(db_error("reading private_keys"))?;
                Ok(row.map(|r| SignerKeyRow {
                    key_id: r.get(0),
                    algorithm: r.get(1),
                    keywrap_alg: r.get(2),
                    encryption_alg: r.get(3),
                    passphrase_alias: r.get(4),
                    gun: r.get(5),
                    role: r.get(6),
                    public: r.get(7),
                    private: String::from_utf8_lossy(&r.get::<_, Vec<u8>>(8)).into_owned(),
                }))
            }
            Connection::Mysql(c) => {
                use mysql::prelude::Queryable;
                let row: Option<MyKeyRow> = c
                    .exec_first(
                        "SELECT key_id, algorithm, keywrap_alg, encryption_alg, passphrase_alias, gun, role, public, private FROM private_keys WHERE key_id = ? AND deleted_at IS NULL",
                        (key_id,),
                    )
                    .map_err(my_error("reading private_keys"))?;
                Ok(row.map(|r| SignerKeyRow {
                    key_id: r.0,
                    algorithm: r.1,
                    keywrap_alg: r.2,
                    encryption_alg: r.3,
                    passphrase_alias: r.4,
                    gun: r.5,
                    role: r.6,
                    public: r.7,
                    private: String::from_utf8_lossy(&r.8).into_owned(),
                }))
            }
        }
    }
}

/// A database URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://notary:s3cret@db:5432/notaryserver"),
            "postgres://notary:***@db:5432/notaryserver"
        );
        assert_eq!(
            super::redact("mysql://root@tcp(db)/x"),
            "mysql://root@tcp(db)/x"
        );
    }
}
