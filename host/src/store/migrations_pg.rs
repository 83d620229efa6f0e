//! Versioned schema migrations for the PostgreSQL store: the twin of `migrations.rs`.
//!
//! Step N here makes exactly the change that SQLite step N there makes (its `CREATE
//! TABLE`, `ALTER TABLE ... ADD COLUMN` and `CREATE INDEX` statements included): the same
//! tables, columns, names, indexes, constraints, defaults and foreign keys with `ON DELETE
//! CASCADE`, so one SQL statement (with `$1`-style placeholders) runs on either backend and
//! a database at version N has the same shape on both. Version N is index + 1, as there.
//!
//! The translation: INTEGER becomes BIGINT (the host binds i64; flags stay BIGINT 0/1),
//! TEXT stays TEXT, BLOB becomes BYTEA. SQLite's hidden `rowid`, which the store reads on
//! `invocations` (retention, pages), `stream_runs` and `webhook_deliveries` (pages), is an
//! explicit `rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE` column, made with its table:
//! increasing as rows are written, never reused (one may be skipped: an insert that
//! conflicts or rolls back takes a value), indexed (finding the retention cut is one index
//! look-up, as there). `records.id`, an `INTEGER PRIMARY KEY` (a rowid alias), is an
//! identity column too; `change_counter.id` is always written as 1, so it is a plain key.
//! Step 5's triggers all call one function, `keyway_bump_changes()`, which bumps
//! `change_counter.generation` and notifies the channel `keyway_changes`; they fire per
//! row, as SQLite's do, and the `connections` update trigger only when a listed column is
//! distinct from its old value (SQLite's `IS NOT`). Every write to a watched table waits
//! for the counter's row lock until its transaction ends, as SQLite's writers take turns.
//!
//! Owns: the ordered list of PostgreSQL schema steps.
//! Must not: differ from the SQLite step of the same number (the schema test of
//! `tests/postgres`, `tests/schema.rs`, compares the two schemas after every step),
//! rewrite a step that has shipped (add a new one, to both files), or import anything
//! (that test includes this file by path).

/// Each entry moves the schema from version `index` to `index + 1`.
pub(crate) const MIGRATIONS_PG: &[&str] = &[
    // 1: connections, OAuth app credentials, tokens, authorization states, leases.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    CREATE TABLE credentials (
        key           TEXT PRIMARY KEY,
        client_id     TEXT NOT NULL,
        client_secret BYTEA,
        created_at    BIGINT NOT NULL,
        updated_at    BIGINT NOT NULL
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
        token_generation BIGINT NOT NULL DEFAULT 0,
        last_refresh_at  BIGINT,
        last_error       TEXT,
        refresh_failures BIGINT NOT NULL DEFAULT 0,
        cooldown_until   BIGINT,
        created_at       BIGINT NOT NULL,
        updated_at       BIGINT NOT NULL
    );
    CREATE TABLE connection_secrets (
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        value         BYTEA NOT NULL,
        PRIMARY KEY (connection_id, key)
    );
    CREATE TABLE tokens (
        connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
        access_token  BYTEA NOT NULL,
        refresh_token BYTEA,
        token_type    TEXT,
        expires_at    BIGINT,
        scopes        TEXT,
        obtained_at   BIGINT NOT NULL,
        generation    BIGINT NOT NULL
    );
    CREATE TABLE oauth_states (
        state_hash    TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
        pkce_verifier BYTEA,
        redirect_uri  TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        expires_at    BIGINT NOT NULL,
        created_at    BIGINT NOT NULL
    );
    CREATE TABLE leases (
        name          TEXT PRIMARY KEY,
        holder        TEXT NOT NULL,
        expires_at_ms BIGINT NOT NULL
    );
    "#,
    // 2: ingested records, deduplicated per connection, entity and idempotency key.
    r#"
    CREATE TABLE records (
        id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        connection      TEXT NOT NULL,
        entity          TEXT NOT NULL,
        stream          TEXT,
        idempotency_key TEXT NOT NULL,
        payload         TEXT NOT NULL,
        received_at_ms  BIGINT NOT NULL,
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
        status        BIGINT,
        error_code    TEXT,
        error         TEXT,
        duration_us   BIGINT NOT NULL,
        outbound      TEXT NOT NULL DEFAULT '[]',
        started_at_ms BIGINT NOT NULL,
        rowid         BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
    );
    CREATE INDEX invocations_by_connection ON invocations (connection, started_at_ms);
    "#,
    // 4: API keys for route invocation over HTTP: only a SHA-256 digest of each key is kept.
    r#"
    CREATE TABLE api_keys (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        digest     BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
    );
    "#,
    // 5: one counter every write that changes what a route call is served from (API keys,
    // a connection's identity, settings, callback parameters or secret settings) bumps, by
    // trigger, so a running server sees changes made by any process (the CLI) with one
    // cheap read, or at once by listening on `keyway_changes`. Token refreshes and history
    // rows do not bump it.
    r#"
    CREATE TABLE change_counter (
        id         BIGINT PRIMARY KEY CHECK (id = 1),
        generation BIGINT NOT NULL
    );
    INSERT INTO change_counter (id, generation) VALUES (1, 0);
    CREATE FUNCTION keyway_bump_changes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE change_counter SET generation = generation + 1;
        PERFORM pg_notify('keyway_changes', '');
        RETURN NULL;
    END;
    $$;
    CREATE TRIGGER api_keys_inserted AFTER INSERT ON api_keys
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER connections_inserted AFTER INSERT ON connections
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER connections_updated AFTER UPDATE ON connections
        FOR EACH ROW
        WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.name IS DISTINCT FROM NEW.name
          OR OLD.connector IS DISTINCT FROM NEW.connector
          OR OLD.credential_key IS DISTINCT FROM NEW.credential_key
          OR OLD.settings IS DISTINCT FROM NEW.settings
          OR OLD.callback_params IS DISTINCT FROM NEW.callback_params)
        EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER connections_deleted AFTER DELETE ON connections
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER connection_secrets_inserted AFTER INSERT ON connection_secrets
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER connection_secrets_updated AFTER UPDATE ON connection_secrets
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    CREATE TRIGGER connection_secrets_deleted AFTER DELETE ON connection_secrets
        FOR EACH ROW EXECUTE FUNCTION keyway_bump_changes();
    "#,
    // 6: streams. One state row per (connection, stream): the cursor last checkpointed
    // (committed with the records it covers), the schedule's next due instant, retries and
    // pause; one row per run with its counters and outcome.
    r#"
    CREATE TABLE stream_state (
        connection   TEXT NOT NULL,
        stream       TEXT NOT NULL,
        cursor       TEXT,
        paused       BIGINT NOT NULL DEFAULT 0,
        pause_reason TEXT,
        next_run_at  BIGINT,
        retry_at     BIGINT,
        attempts     BIGINT NOT NULL DEFAULT 0,
        updated_at   BIGINT NOT NULL,
        PRIMARY KEY (connection, stream)
    );
    CREATE TABLE stream_runs (
        id             TEXT PRIMARY KEY,
        connection     TEXT NOT NULL,
        stream         TEXT NOT NULL,
        trigger        TEXT NOT NULL,
        status         TEXT NOT NULL,
        started_at_ms  BIGINT NOT NULL,
        finished_at_ms BIGINT,
        pages          BIGINT NOT NULL DEFAULT 0,
        imported       BIGINT NOT NULL DEFAULT 0,
        duplicates     BIGINT NOT NULL DEFAULT 0,
        failed         BIGINT NOT NULL DEFAULT 0,
        error          TEXT,
        start_cursor   TEXT,
        checkpoint     TEXT,
        rowid          BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE
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
        attempts           BIGINT NOT NULL DEFAULT 0,
        received_at_ms     BIGINT NOT NULL,
        next_attempt_at_ms BIGINT NOT NULL,
        finished_at_ms     BIGINT,
        last_error         TEXT,
        invocation_id      TEXT,
        headers            TEXT NOT NULL DEFAULT '[]',
        body               BYTEA NOT NULL,
        rowid              BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
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
        applied_at BIGINT NOT NULL,
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
        created_at      BIGINT NOT NULL,
        expires_at      BIGINT NOT NULL,
        used_at         BIGINT
    );
    "#,
    // 13: a running delivery's lease, renewed by the process attempting it.
    r#"
    ALTER TABLE webhook_deliveries ADD COLUMN lease_until_ms BIGINT;
    "#,
    // 14: the console's sign-ins (only a digest of each session id).
    r#"
    CREATE TABLE console_sessions (
        id_digest  TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    );
    "#,
    // 15: the page an authorization returns to (sealed), by its state's hash.
    r#"
    CREATE TABLE authorization_returns (
        state_hash TEXT PRIMARY KEY,
        return_to  BYTEA NOT NULL,
        expires_at BIGINT NOT NULL
    );
    "#,
];
