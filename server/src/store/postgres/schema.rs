//! The tables Signet keeps in PostgreSQL (applied at every start; idempotent).

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tuf_files (
    id BIGSERIAL PRIMARY KEY,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (gun, role, version)
);
CREATE INDEX IF NOT EXISTS tuf_files_sha ON tuf_files (gun, sha256);
CREATE TABLE IF NOT EXISTS changefeed (
    id BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    gun TEXT NOT NULL,
    version BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    category TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changefeed_gun ON changefeed (gun, id);
CREATE TABLE IF NOT EXISTS server_keys (
    key_id TEXT NOT NULL,
    gun TEXT NOT NULL,
    role TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    public BYTEA NOT NULL,
    sealed_private BYTEA NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    seq BIGSERIAL,
    PRIMARY KEY (gun, key_id)
);
CREATE TABLE IF NOT EXISTS signer_meta (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS tenancy (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS tenancy_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO tenancy_meta (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
";
