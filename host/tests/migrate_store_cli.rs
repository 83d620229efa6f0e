//! `keyway migrate-store`, as an operator runs it: a SQLite store copied to PostgreSQL and
//! back by the binary, read back through the store; its refusals (a target that holds
//! data, the same database twice, a wrong master key, a password in a URL, no key); each
//! URL's password from its own variable, at a server that asks for one; and no planted
//! secret (nor a password) in anything it prints or in the SQLite file it writes.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use keyway_host::store::{
    AppConnectionConfig, DatabaseUrl, MasterKey, NewConnection, Store, TokenWrite,
};
use keyway_test_postgres::PASSWORD;
use secrecy::{ExposeSecret, SecretString};

const CANARIES: [&str; 4] = [
    "canary-cli-client-secret",
    "canary-cli-access-token",
    "canary-cli-refresh-token",
    "canary-cli-setting",
];

/// A password the test cluster's password role does not have.
const WRONG_PASSWORD: &str = "canary-cli-wrong-database-password";

fn keyway(data: &Path, key: Option<&MasterKey>, args: &[&str]) -> Output {
    keyway_with(data, key, args, &[])
}

/// [`keyway`] with `env` set as well.
fn keyway_with(
    data: &Path,
    key: Option<&MasterKey>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyway"));
    cmd.args(args)
        .env("KEYWAY_DATA_DIR", data)
        .env("KEYWAY_LOG", "warn")
        .env_remove("KEYWAY_MASTER_KEY")
        .env_remove("KEYWAY_DATABASE_URL")
        .env_remove("KEYWAY_DATABASE_PASSWORD");
    if let Some(key) = key {
        cmd.env("KEYWAY_MASTER_KEY", key.to_base64());
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run keyway");
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        for canary in CANARIES.iter().chain(&[PASSWORD, WRONG_PASSWORD]) {
            assert!(!text.contains(canary), "{canary} printed: {text}");
        }
    }
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A store with a client secret, a connection with a secret setting and tokens (a
/// refresh token too), an app connection and an API key.
fn fill(store: &Store) -> String {
    store
        .set_credentials(
            "hello-app",
            "cid",
            Some(&SecretString::from("canary-cli-client-secret")),
        )
        .expect("credentials");
    let mut secret_settings = BTreeMap::new();
    secret_settings.insert("apiKey".into(), SecretString::from("canary-cli-setting"));
    let conn = store
        .create_connection(&NewConnection {
            name: "acme".into(),
            connector: "connectors/hello".into(),
            credential_key: Some("hello-app".into()),
            auth_option: None,
            settings: serde_json::Map::new(),
            secret_settings,
        })
        .expect("connection");
    store
        .save_authorized_tokens(
            &conn.id,
            &TokenWrite {
                access_token: SecretString::from("canary-cli-access-token"),
                refresh_token: Some(SecretString::from("canary-cli-refresh-token")),
                token_type: None,
                expires_at: None,
                scopes: None,
            },
            &[],
            &BTreeMap::new(),
        )
        .expect("tokens");
    store
        .create_app_connection(
            "crm",
            &AppConnectionConfig {
                provider_url: "https://idp.test".into(),
                issuer_url: None,
                auth_url: Some("https://idp.test/auth".into()),
                token_url: Some("https://idp.test/token".into()),
                scopes: vec![],
                client_id: "app-cid".into(),
                client_secret: SecretString::from("canary-cli-client-secret"),
            },
        )
        .expect("app connection");
    store.create_api_key("ci").expect("api key");
    conn.id
}

/// The secrets, opened through the store at `url`.
fn secrets(data: &Path, url: &DatabaseUrl, key: &MasterKey, id: &str) -> Vec<String> {
    let store = Store::open_with_key_at(data, url, key).expect("open the copy");
    let tokens = store.tokens(id).expect("tokens").expect("some tokens");
    vec![
        store
            .credentials("hello-app")
            .expect("credentials")
            .client_secret
            .expect("a secret")
            .expose_secret()
            .to_string(),
        tokens.access_token.expose_secret().to_string(),
        tokens
            .refresh_token
            .expect("a refresh token")
            .expose_secret()
            .to_string(),
        store.secret_settings(id).expect("settings")["apiKey"]
            .expose_secret()
            .to_string(),
    ]
}

fn no_canary_in_file(path: &Path) {
    let mut bytes = std::fs::read(path).expect("the database file");
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    for canary in CANARIES {
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{canary} in plain text in {}",
            path.display()
        );
    }
}

/// Rows per table of the PostgreSQL database at `url`, as psql prints them.
fn pg_counts(url: &str) -> String {
    keyway_test_postgres::cluster()
        .psql(
            url,
            "SELECT 'meta', count(*) FROM meta UNION ALL SELECT 'api_keys', count(*) FROM api_keys
             UNION ALL SELECT 'connections', count(*) FROM connections ORDER BY 1",
        )
        .expect("psql")
}

#[test]
fn a_sqlite_store_goes_to_postgres_and_back_through_the_binary() {
    let data = tempfile::tempdir().expect("tempdir");
    let key = MasterKey::generate();
    let source_path = data.path().join("source.db");
    let source = DatabaseUrl::Sqlite(source_path.clone());
    let store = Store::open_with_key_at(data.path(), &source, &key).expect("source");
    let id = fill(&store);
    drop(store);
    let expected: Vec<String> = CANARIES.iter().map(|c| c.to_string()).collect();
    let from = format!("sqlite:{}", source_path.display());

    let pg = keyway_test_postgres::cluster().fresh_database();
    let out = keyway(
        data.path(),
        Some(&key),
        &["migrate-store", "--from", &from, "--to", &pg],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        "meta: 1 row\n",
        "tokens: 1 row\n",
        "connections: 2 rows\n",
        "credentials: 2 rows\n",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let last = stdout.lines().last().expect("a last line");
    assert!(last.starts_with("Copied ") && last.contains(&pg), "{last}");
    let pg_url = DatabaseUrl::parse(&pg).expect("url");
    assert_eq!(secrets(data.path(), &pg_url, &key, &id), expected);

    let back_path = data.path().join("back.db");
    let back = format!("sqlite:{}", back_path.display());
    let out = keyway(
        data.path(),
        Some(&key),
        &["migrate-store", "--from", &pg, "--to", &back],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        secrets(
            data.path(),
            &DatabaseUrl::Sqlite(back_path.clone()),
            &key,
            &id
        ),
        expected
    );
    no_canary_in_file(&back_path);
    no_canary_in_file(&source_path);

    // A target that holds data is refused by name and left as it was.
    let before = pg_counts(&pg);
    let out = keyway(
        data.path(),
        Some(&key),
        &["migrate-store", "--from", &from, "--to", &pg],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains(&pg),
        "{stderr}"
    );
    assert_eq!(pg_counts(&pg), before);

    // The same database twice.
    let out = keyway(
        data.path(),
        Some(&key),
        &["migrate-store", "--from", &from, "--to", &from],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("same database"),
        "{}",
        text(&out.stderr)
    );

    // A key that does not open the source; no key at all.
    let target = data.path().join("target.db");
    let to = format!("sqlite:{}", target.display());
    let out = keyway(
        data.path(),
        Some(&MasterKey::generate()),
        &["migrate-store", "--from", &from, "--to", &to],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot open") && stderr.contains("KEYWAY_MASTER_KEY"),
        "{stderr}"
    );
    assert!(!target.exists());
    let out = keyway(
        data.path(),
        None,
        &["migrate-store", "--from", &from, "--to", &to],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no master key"),
        "{}",
        text(&out.stderr)
    );
    assert!(!target.exists());
}

#[test]
fn a_password_in_a_url_is_refused_without_being_printed() {
    let data = tempfile::tempdir().expect("tempdir");
    let key = MasterKey::generate();
    for (flag, url) in [
        ("--to", "postgres://keyway:hunter2-canary@127.0.0.1:1/db"),
        ("--from", "postgres://keyway:hunter2-canary@127.0.0.1:1/db"),
    ] {
        let other = "sqlite:/nonexistent/keyway.db";
        let args = if flag == "--to" {
            ["migrate-store", "--from", other, "--to", url]
        } else {
            ["migrate-store", "--from", url, "--to", other]
        };
        let out = keyway(data.path(), Some(&key), &args);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("KEYWAY_DATABASE_PASSWORD") && stderr.contains(flag),
            "{stderr}"
        );
        assert!(!stderr.contains("hunter2-canary"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn each_url_takes_its_password_from_the_variable_named_for_it() {
    let cluster = keyway_test_postgres::cluster();
    let data = tempfile::tempdir().expect("tempdir");
    let key = MasterKey::generate();
    let source_path = data.path().join("source.db");
    let store =
        Store::open_with_key_at(data.path(), &DatabaseUrl::Sqlite(source_path.clone()), &key)
            .expect("source");
    let id = fill(&store);
    drop(store);
    let from = format!("sqlite:{}", source_path.display());
    let guarded = cluster.fresh_password_database();

    // The default variable with the wrong password: refused by the server, unprinted.
    let wrong = [("KEYWAY_DATABASE_PASSWORD", WRONG_PASSWORD)];
    let out = keyway_with(
        data.path(),
        Some(&key),
        &["migrate-store", "--from", &from, "--to", &guarded],
        &wrong,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    // The variable named for --to holds the right one: copied.
    let env = [
        ("KEYWAY_DATABASE_PASSWORD", WRONG_PASSWORD),
        ("KEYWAY_TEST_TO_PASSWORD", PASSWORD),
    ];
    let out = keyway_with(
        data.path(),
        Some(&key),
        &[
            "migrate-store",
            "--from",
            &from,
            "--to",
            &guarded,
            "--to-password-env",
            "KEYWAY_TEST_TO_PASSWORD",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // PostgreSQL to PostgreSQL, each side with its own: the guarded one as the source.
    let open = cluster.fresh_database();
    let env = [("KEYWAY_TEST_FROM_PASSWORD", PASSWORD)];
    let out = keyway_with(
        data.path(),
        Some(&key),
        &[
            "migrate-store",
            "--from",
            &guarded,
            "--to",
            &open,
            "--from-password-env",
            "KEYWAY_TEST_FROM_PASSWORD",
        ],
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected: Vec<String> = CANARIES.iter().map(|c| c.to_string()).collect();
    let open_url = DatabaseUrl::parse(&open).expect("url");
    assert_eq!(secrets(data.path(), &open_url, &key, &id), expected);

    // A variable named but unset, and one named for an SQLite file: refused by name.
    let out = keyway(
        data.path(),
        Some(&key),
        &[
            "migrate-store",
            "--from",
            &guarded,
            "--to",
            &open,
            "--from-password-env",
            "KEYWAY_TEST_UNSET_PASSWORD",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--from")
            && stderr.contains("KEYWAY_TEST_UNSET_PASSWORD")
            && stderr.contains("is not set"),
        "{stderr}"
    );
    let out = keyway(
        data.path(),
        Some(&key),
        &[
            "migrate-store",
            "--from",
            &from,
            "--to",
            &open,
            "--from-password-env",
            "KEYWAY_TEST_FROM_PASSWORD",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("SQLite"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_key_rotation_left_half_done_is_finished_before_the_copy() {
    let data = tempfile::tempdir().expect("tempdir");
    let source_path = data.path().join("source.db");
    let source = DatabaseUrl::Sqlite(source_path.clone());
    // The key file the store makes on first use, then a rotation that committed the new
    // key's seals but did not get to rename master.key.next over master.key.
    let store = Store::open_at(data.path(), &source).expect("source");
    let id = fill(&store);
    let next = MasterKey::generate();
    store.rotate_key(&next).expect("rotation");
    drop(store);
    let next_file = data.path().join("master.key.next");
    std::fs::write(&next_file, next.to_base64()).expect("master.key.next");
    std::fs::set_permissions(&next_file, std::fs::Permissions::from_mode(0o600)).expect("mode");

    let target_path = data.path().join("target.db");
    let to = format!("sqlite:{}", target_path.display());
    let from = format!("sqlite:{}", source_path.display());
    let out = keyway(
        data.path(),
        None,
        &["migrate-store", "--from", &from, "--to", &to],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!next_file.exists(), "the rotation was finished");
    let key_text = std::fs::read_to_string(data.path().join("master.key")).expect("key");
    assert_eq!(key_text.trim(), next.to_base64());
    let expected: Vec<String> = CANARIES.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        secrets(data.path(), &DatabaseUrl::Sqlite(target_path), &next, &id),
        expected
    );
}
