//! Versioned schema migrations, tracked in SQLite's `PRAGMA user_version` or PostgreSQL's
//! `keyway_schema` table. Both databases have the same steps, numbered alike
//! (`migrations_pg.rs` holds PostgreSQL's), so a version means the same schema on each.
//!
//! Owns: the ordered list of schema steps and applying the missing ones in one transaction.
//! Must not: rewrite a step that has shipped (add a new one instead) or touch row contents
//! beyond what a schema change needs.

use super::db::{Db, DbError, Dialect};
use super::migrations_pg::MIGRATIONS_PG;

/// Each entry moves the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: connections, OAuth app credentials, tokens, authorization states, leases.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE credentials (
        key           TEXT PRIMARY KEY,
        client_id     TEXT NOT NULL,
        client_secret BLOB,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE connections (
        id               TEXT PRIMARY KEY,
        name             TEXT NOT NULL UNIQUE,
        connector        TEXT NOT NULL,
        credential_key   TEXT,
        settings         TEXT NOT NULL DEFAULT '{}',
        status           TEXT NOT NULL,
        granted_scopes   TEXT,
        callback_params  TEXT NOT NULL DEFAULT '{}',
        account_id       TEXT,
        account_name     TEXT,
        account_domain   TEXT,
        token_generation INTEGER NOT NULL DEFAULT 0,
        last_refresh_at  INTEGER,
        last_error       TEXT,
        refresh_failures INTEGER NOT NULL DEFAULT 0,
        cooldown_until   INTEGER,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL
    );
    CREATE TABLE connection_secrets (
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        value         BLOB NOT NULL,
        PRIMARY KEY (connection_id, key)
    );
    CREATE TABLE tokens (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        access_token  BLOB NOT NULL,
        refresh_token BLOB,
        token_type    TEXT,
        expires_at    INTEGER,
        scopes        TEXT,
        obtained_at   INTEGER NOT NULL,
        generation    INTEGER NOT NULL
    );
    CREATE TABLE oauth_states (
        state_hash    TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        pkce_verifier BLOB,
        redirect_uri  TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        expires_at    INTEGER NOT NULL,
        created_at    INTEGER NOT NULL
    );
    CREATE TABLE leases (
        name          TEXT PRIMARY KEY,
        holder        TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL
    );
    "#,
    // 2: ingested records, deduplicated per connection, entity and idempotency key.
    r#"
    CREATE TABLE records (
        id              INTEGER PRIMARY KEY,
        connection      TEXT NOT NULL,
        entity          TEXT NOT NULL,
        stream          TEXT,
        idempotency_key TEXT NOT NULL,
        payload         TEXT NOT NULL,
        received_at_ms  INTEGER NOT NULL,
        UNIQUE (connection, entity, idempotency_key)
    );
    CREATE INDEX records_by_entity ON records (connection, entity, stream, id);
    CREATE INDEX records_by_stream ON records (connection, stream, id);
    "#,
    // 3: one row per route invocation of a stored connection: outcome, duration and the
    // outbound calls it made (URLs redacted before they get here).
    r#"
    CREATE TABLE invocations (
        id            TEXT PRIMARY KEY,
        connection    TEXT NOT NULL,
        connector     TEXT NOT NULL,
        route         TEXT NOT NULL,
        status        INTEGER,
        error_code    TEXT,
        error         TEXT,
        duration_us   INTEGER NOT NULL,
        outbound      TEXT NOT NULL DEFAULT '[]',
        started_at_ms INTEGER NOT NULL
    );
    CREATE INDEX invocations_by_connection ON invocations (connection, started_at_ms);
    "#,
    // 4: API keys for route invocation over HTTP: only a SHA-256 digest of each key is kept.
    r#"
    CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        digest     BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    "#,
    // 5: one counter every write that changes what a route call is served from (API keys,
    // a connection's identity, settings, callback parameters or secret settings) bumps, by trigger, so a running
    // server sees changes made by any process (the CLI) with one cheap read. Token
    // refreshes and history rows do not bump it.
    r#"
    CREATE TABLE change_counter (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO change_counter (id, generation) VALUES (1, 0);
    CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER connections_inserted AFTER INSERT ON connections
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER connections_updated AFTER UPDATE ON connections
        WHEN OLD.id IS NOT NEW.id OR OLD.name IS NOT NEW.name
          OR OLD.connector IS NOT NEW.connector OR OLD.credential_key IS NOT NEW.credential_key
          OR OLD.settings IS NOT NEW.settings OR OLD.callback_params IS NOT NEW.callback_params
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER connections_deleted AFTER DELETE ON connections
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER connection_secrets_inserted AFTER INSERT ON connection_secrets
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER connection_secrets_updated AFTER UPDATE ON connection_secrets
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    CREATE TRIGGER connection_secrets_deleted AFTER DELETE ON connection_secrets
        BEGIN UPDATE change_counter SET generation = generation + 1; END;
    "#,
    // 6: streams. One state row per (connection, stream): the cursor last checkpointed
    // (committed with the records it covers), the schedule's next due instant, retries and
    // pause; one row per run with its counters and outcome.
    r#"
    CREATE TABLE stream_state (
        connection   TEXT NOT NULL,
        stream       TEXT NOT NULL,
        cursor       TEXT,
        paused       INTEGER NOT NULL DEFAULT 0,
        pause_reason TEXT,
        next_run_at  INTEGER,
        retry_at     INTEGER,
        attempts     INTEGER NOT NULL DEFAULT 0,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (connection, stream)
    );
    CREATE TABLE stream_runs (
        id             TEXT PRIMARY KEY,
        connection     TEXT NOT NULL,
        stream         TEXT NOT NULL,
        trigger        TEXT NOT NULL,
        status         TEXT NOT NULL,
        started_at_ms  INTEGER NOT NULL,
        finished_at_ms INTEGER,
        pages          INTEGER NOT NULL DEFAULT 0,
        imported       INTEGER NOT NULL DEFAULT 0,
        duplicates     INTEGER NOT NULL DEFAULT 0,
        failed         INTEGER NOT NULL DEFAULT 0,
        error          TEXT,
        start_cursor   TEXT,
        checkpoint     TEXT
    );
    CREATE INDEX stream_runs_by_stream ON stream_runs (connection, stream, started_at_ms);
    "#,
    // 7: webhook deliveries, stored before they are acknowledged: the durable queue their
    // worker reads, unique per provider delivery id so a replay is known.
    r#"
    CREATE TABLE webhook_deliveries (
        id                 TEXT PRIMARY KEY,
        connection         TEXT NOT NULL,
        webhook            TEXT NOT NULL,
        delivery_id        TEXT NOT NULL,
        status             TEXT NOT NULL,
        attempts           INTEGER NOT NULL DEFAULT 0,
        received_at_ms     INTEGER NOT NULL,
        next_attempt_at_ms INTEGER NOT NULL,
        finished_at_ms     INTEGER,
        last_error         TEXT,
        invocation_id      TEXT,
        headers            TEXT NOT NULL DEFAULT '[]',
        body               BLOB NOT NULL,
        UNIQUE (connection, webhook, delivery_id)
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
    "#,
    // 8: app connections. An app connection is a connection row of kind `app` (so tokens,
    // states, leases, refresh and revocation are shared with connector connections, and a
    // name means one thing) plus its provider endpoints and the hash of the configuration
    // last applied; an authorization state may carry the OIDC nonce its id_token must echo.
    r#"
    ALTER TABLE connections ADD COLUMN kind TEXT NOT NULL DEFAULT 'connector';
    CREATE TABLE app_connections (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        provider_url  TEXT NOT NULL,
        issuer_url    TEXT,
        auth_url      TEXT,
        token_url     TEXT,
        scopes        TEXT NOT NULL DEFAULT '[]',
        config_hash   TEXT NOT NULL
    );
    ALTER TABLE oauth_states ADD COLUMN nonce TEXT;
    "#,
    // 9: `keyway apply`. Credentials and connections keep the digest of their
    // configuration as their last write left it (NULL for rows written before), and
    // `applied` lists what a configuration file manages, which only `--prune` deletes.
    r#"
    ALTER TABLE credentials ADD COLUMN config_hash TEXT;
    ALTER TABLE connections ADD COLUMN config_hash TEXT;
    CREATE TABLE applied (
        kind       TEXT NOT NULL,
        name       TEXT NOT NULL,
        applied_at INTEGER NOT NULL,
        PRIMARY KEY (kind, name)
    );
    "#,
    // 10: the deliveries still waiting for a webhook's route, counted at every receipt to
    // bound the queue, found without reading the delivered ones (kept for good).
    r#"
    CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries (connection, webhook, status);
    "#,
    // 11: the auth option a connection chose (`connection.authOptions`); NULL for a
    // connector that has none.
    r#"
    ALTER TABLE connections ADD COLUMN auth_option TEXT;
    "#,
    // 12: the console's activity chart counts every connection's invocations of the last
    // hour without reading older history; connect links (only a digest of each token).
    r#"
    CREATE INDEX invocations_by_time ON invocations (started_at_ms);
    CREATE TABLE connect_sessions (
        token_digest    TEXT PRIMARY KEY,
        connection      TEXT NOT NULL,
        allowed_origins TEXT NOT NULL DEFAULT '[]',
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        used_at         INTEGER
    );
    "#,
    // 13: a running delivery is leased to the process attempting it, which renews the
    // lease while it works; one whose lease ran out (its process died) is queued again
    // by whichever process looks next. NULL: running since before leases.
    r#"
    ALTER TABLE webhook_deliveries ADD COLUMN lease_until_ms INTEGER;
    "#,
    // 14: the console's sign-ins, in the store so that every replica knows them (only a
    // digest of each session id).
    r#"
    CREATE TABLE console_sessions (
        id_digest  TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
    // 15: the page an authorization started from the console or a connect link returns
    // to, kept by its state's hash so whichever replica receives the callback knows it
    // (the path sealed: a connect link's page names its token).
    r#"
    CREATE TABLE authorization_returns (
        state_hash TEXT PRIMARY KEY,
        return_to  BLOB NOT NULL,
        expires_at INTEGER NOT NULL
    );
    "#,
];

/// The schema version this build writes.
pub(crate) const LATEST: u32 = MIGRATIONS.len() as u32;

const _: () = assert!(
    MIGRATIONS.len() == MIGRATIONS_PG.len(),
    "each schema step exists for both databases"
);

/// Errors from applying migrations.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database schema is version {found}, newer than this build understands ({LATEST}); upgrade keyway"
    )]
    TooNew { found: u32 },
    #[error("migration to schema version {version} failed: {source}")]
    Step {
        version: u32,
        #[source]
        source: DbError,
    },
    #[error("reading the schema version failed: {0}")]
    Version(#[source] DbError),
}

/// The schema version the database is at (0 when empty).
fn version(conn: &Db) -> Result<u32, DbError> {
    match conn.dialect() {
        Dialect::Sqlite => conn.query_row("PRAGMA user_version", (), |r| r.get(0)),
        Dialect::Postgres => {
            let exists: bool =
                conn.query_row("SELECT to_regclass('keyway_schema') IS NOT NULL", (), |r| {
                    r.get(0)
                })?;
            if !exists {
                return Ok(0);
            }
            conn.query_row("SELECT version FROM keyway_schema", (), |r| r.get(0))
        }
    }
}

fn set_version(conn: &Db, version: u32) -> Result<(), DbError> {
    match conn.dialect() {
        Dialect::Sqlite => conn.execute_batch(&format!("PRAGMA user_version = {version}")),
        Dialect::Postgres => conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS keyway_schema (version BIGINT NOT NULL);
             DELETE FROM keyway_schema;
             INSERT INTO keyway_schema (version) VALUES ({version})"
        )),
    }
}

/// Applies every missing migration in one transaction, under the write lock, so two
/// processes starting on one database apply each step once.
pub(crate) fn apply(conn: &mut Db) -> Result<u32, MigrationError> {
    let current = version(conn).map_err(MigrationError::Version)?;
    if current > LATEST {
        return Err(MigrationError::TooNew { found: current });
    }
    if current == LATEST {
        return Ok(current);
    }
    let steps = match conn.dialect() {
        Dialect::Sqlite => MIGRATIONS,
        Dialect::Postgres => MIGRATIONS_PG,
    };
    let tx = conn.write_transaction().map_err(MigrationError::Version)?;
    // Another process may have migrated while this one waited for the lock.
    let current = version(&tx).map_err(MigrationError::Version)?;
    if current > LATEST {
        return Err(MigrationError::TooNew { found: current });
    }
    for (index, sql) in steps.iter().enumerate().skip(current as usize) {
        let version = index as u32 + 1;
        tx.execute_batch(sql)
            .and_then(|_| set_version(&tx, version))
            .map_err(|source| MigrationError::Step { version, source })?;
    }
    tx.commit().map_err(|source| MigrationError::Step {
        version: LATEST,
        source,
    })?;
    Ok(LATEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_once_and_refuses_newer_schema() {
        let mut conn = Db::Sqlite(rusqlite::Connection::open_in_memory().unwrap());
        assert_eq!(apply(&mut conn).unwrap(), LATEST);
        assert_eq!(apply(&mut conn).unwrap(), LATEST);
        set_version(&conn, LATEST + 1).unwrap();
        let err = apply(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer"));
    }
}
