//! Tests of `copy`: stores copied between backends and back (here), and what a copy
//! refuses or must cope with (`refusals.rs`).

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};

use super::plan::{parents_first, shape};
use super::rows::Cell;
use super::*;
use crate::store::connections::tests::new_conn;
use crate::store::invocations::sample_record;
use crate::store::states::NewState;
use crate::store::test_backend::everything_stored;
use crate::store::{
    AppConnectionConfig, AppliedKind, DeliveryQuery, KeyCheck, NewDelivery, PageCursor,
    QueueLimits, RecordOrder, RecordQuery, RecordTarget, RecordWrite, RunQuery, RunStatus, Store,
    TokenWrite, now_unix,
};

/// Secrets planted in the source: each must read back from every copy, and appear in
/// no copy's database in plain text.
const CANARIES: [&str; 6] = [
    "canary-client-secret",
    "canary-access-token",
    "canary-refresh-token",
    "canary-setting-value",
    "canary-pkce-verifier",
    "canary-app-secret",
];
/// Beyond any retention sweep (in the future), so the history writer keeps the rows.
const BASE_MS: i64 = 4_000_000_000_000;
const RECORDS: usize = 1_234;
const INVOCATIONS: usize = 600;

fn postgres() -> DatabaseUrl {
    DatabaseUrl::parse(&keyway_test_postgres::cluster().fresh_database()).unwrap()
}

fn sqlite(dir: &Path, name: &str) -> DatabaseUrl {
    DatabaseUrl::Sqlite(dir.join(name))
}

fn open(dir: &Path, url: &DatabaseUrl, key: &MasterKey) -> Store {
    Store::open_with_key_at(dir, url, key).unwrap()
}

fn copy(from: &DatabaseUrl, to: &DatabaseUrl, key: &MasterKey) -> CopyReport {
    copy_store(from, to, key, &KeyOrigin::Explicit).unwrap()
}

fn app_config() -> AppConnectionConfig {
    crate::store::app_connections::tests::config("canary-app-secret")
}

/// Fills a store through its API with a bit of everything it keeps; returns the
/// connection's id and the API key.
fn fill(store: &Store) -> (String, SecretString) {
    store
        .set_credentials(
            "hello-app",
            "cid",
            Some(&SecretString::from("canary-client-secret")),
        )
        .unwrap();
    let conn = store.create_connection(&new_conn("acme")).unwrap();
    store
        .save_authorized_tokens(
            &conn.id,
            &TokenWrite {
                access_token: SecretString::from("canary-access-token"),
                refresh_token: Some(SecretString::from("canary-refresh-token")),
                token_type: Some("Bearer".into()),
                expires_at: Some(now_unix() + 3600),
                scopes: Some(vec!["read".into()]),
            },
            &[],
            &BTreeMap::new(),
        )
        .unwrap();
    store
        .insert_state(&NewState {
            state: "st-1",
            connection_id: &conn.id,
            pkce_verifier: Some(&SecretString::from("canary-pkce-verifier")),
            redirect_uri: "http://127.0.0.1/callback",
            scopes: &["read".into()],
            nonce: Some("n-1"),
            expires_at: now_unix() + 600,
        })
        .unwrap();
    store.create_app_connection("crm", &app_config()).unwrap();
    let api_key = store.create_api_key("ci").unwrap().key;
    store
        .create_connect_session("digest-1", "acme", &["https://app.test".into()], 100, 200)
        .unwrap();
    store.mark_applied(AppliedKind::Connection, "acme").unwrap();
    assert!(
        store
            .try_acquire_lease("refresh:acme", "me", 60_000)
            .unwrap()
    );

    let keys: Vec<String> = (0..RECORDS).map(|i| format!("k{i}")).collect();
    let writes: Vec<RecordWrite<'_>> = keys
        .iter()
        .map(|k| RecordWrite {
            key: k,
            payload: r#"{"n":1}"#,
        })
        .collect();
    let (a, b) = writes.split_at(RECORDS / 2);
    for (entity, part) in [("Customer", a), ("Order", b)] {
        let target = RecordTarget {
            connection: "acme",
            entity,
            stream: None,
        };
        store.insert_records(target, part).unwrap();
    }
    for i in 0..INVOCATIONS {
        // Pairs share a start time: their order is the rowid's.
        let mut rec = sample_record(&format!("inv-{i}"), BASE_MS + (i / 2) as i64);
        rec.connection = "acme".into();
        store.record_invocation(rec).unwrap();
    }
    store.flush_history();

    let delivery = NewDelivery {
        id: "d-1",
        connection: "acme",
        webhook: "orders",
        delivery_id: "evt-1",
        headers: "[]",
        body: br#"{"order":1}"#,
    };
    store
        .queue_delivery(&delivery, &QueueLimits::default())
        .unwrap();
    store
        .begin_stream_run("acme", "orders", "run-1", "manual")
        .unwrap();
    store
        .commit_stream_page(&crate::store::PageWrite {
            connection: "acme",
            stream: "orders",
            run_id: "run-1",
            batches: vec![(
                RecordTarget {
                    connection: "acme",
                    entity: "Order",
                    stream: Some("orders"),
                },
                vec![RecordWrite {
                    key: "streamed",
                    payload: "{}",
                }],
            )],
            cursor: crate::store::CursorWrite::Set("page-2"),
            pages: 1,
            duplicates_seen: 0,
            failed: 0,
        })
        .unwrap();
    store
        .finish_stream_run("run-1", RunStatus::Succeeded, None)
        .unwrap();
    store
        .set_stream_schedule("acme", "orders", Some(now_unix() + 60), None, 0)
        .unwrap();
    // Gaps in the ids, as retention and deletions leave them: a copy that numbered
    // rows anew would show in the pages' cursors and the records' ids.
    store
        .queue_delivery(
            &NewDelivery {
                id: "d-2",
                delivery_id: "evt-2",
                ..delivery
            },
            &QueueLimits::default(),
        )
        .unwrap();
    store
        .begin_stream_run("acme", "orders", "run-2", "manual")
        .unwrap();
    store
        .conn()
        .execute_batch(
            "DELETE FROM invocations WHERE id IN ('inv-0', 'inv-1', 'inv-5');
             DELETE FROM records WHERE idempotency_key IN ('k0', 'k3');
             DELETE FROM webhook_deliveries WHERE id = 'd-1';
             DELETE FROM stream_runs WHERE id = 'run-1';",
        )
        .unwrap();
    // A delivery being attempted, leased to this process (a column of step 13).
    let now = crate::store::now_unix_ms();
    assert_eq!(
        store
            .claim_deliveries(now + 1, 1, now + 60_000)
            .unwrap()
            .len(),
        1
    );
    (conn.id, api_key)
}

/// Every page of `read`, with the cursors that led to them.
fn pages<T>(
    mut read: impl FnMut(Option<PageCursor>) -> crate::store::Page<T>,
) -> Vec<(Vec<T>, Option<PageCursor>)> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = read(cursor);
        cursor = page.next;
        out.push((page.items, page.next));
        if cursor.is_none() {
            return out;
        }
    }
}

fn records(store: &Store, order: RecordOrder) -> Vec<crate::store::StoredRecord> {
    store
        .list_records(&RecordQuery {
            connection: "acme".into(),
            order,
            ..Default::default()
        })
        .unwrap()
}

/// What `store` holds that the tests compare, read through the store's API (secrets
/// opened), and every table's rows as the database has them.
fn contents(store: &Store, id: &str, api_key: &SecretString) -> String {
    let tokens = store.tokens(id).unwrap().unwrap();
    let creds = store.credentials("hello-app").unwrap();
    let app = store.app_connection("crm").unwrap();
    let app_creds = store
        .credentials(&crate::store::app_connections::credential_key("crm"))
        .unwrap();
    let settings = store.secret_settings(id).unwrap();
    let live = store.live_api_keys().unwrap();
    let invocations = pages(|c| store.recent_invocations("acme", 64, c).unwrap());
    let deliveries = pages(|c| {
        store
            .deliveries(&DeliveryQuery {
                limit: 1,
                before: c,
                ..Default::default()
            })
            .unwrap()
    });
    let runs = pages(|c| {
        store
            .stream_runs(&RunQuery {
                limit: 1,
                before: c,
                ..Default::default()
            })
            .unwrap()
    });
    format!(
        "{}\n{:?}\n{:?} {:?} {} {:?}\n{} {}\n{:?} {} {}\n{:?}\n{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        tokens.access_token.expose_secret(),
        tokens
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        tokens.token_type,
        tokens.expires_at,
        tokens.generation,
        tokens.scopes,
        creds.client_id,
        creds.client_secret.unwrap().expose_secret(),
        (
            app.provider_url,
            app.issuer_url,
            app.scopes,
            app.client_id,
            app.config_hash
        ),
        app_creds.client_secret.unwrap().expose_secret(),
        settings["apiKey"].expose_secret(),
        matches!(live.check(api_key), KeyCheck::Live(_)),
        store.state_connection("st-1").unwrap().unwrap(),
        store.connect_session("digest-1").unwrap().map(|s| (
            s.connection,
            s.allowed_origins,
            s.expires_at
        )),
        store.applied_names(AppliedKind::Connection).unwrap(),
        store.connection_by_id(id).unwrap(),
        records(store, RecordOrder::Oldest),
        records(store, RecordOrder::Newest),
        invocations,
        deliveries,
        runs,
        store.stream_state("acme", "orders").unwrap(),
        store.change_generation_now().unwrap(),
    ) + &dump(&store.conn())
}

/// Every row of every table but the schema's bookkeeping, sorted, with SQLite's
/// hidden rowid left out (the pages above show it).
fn dump(db: &Db) -> String {
    let mut out = String::new();
    for table in tables(db).unwrap() {
        let shape = shape(db, &table).unwrap();
        let names: Vec<String> = shape
            .columns
            .iter()
            .map(|(c, _)| c.clone())
            .filter(|c| c != "rowid")
            .collect();
        let select = format!(
            "SELECT {} FROM {}",
            names
                .iter()
                .map(|c| quote(c))
                .collect::<Vec<_>>()
                .join(", "),
            quote(&table)
        );
        let mut rows: Vec<String> = db
            .query_map(&select, (), |r| {
                let cells: Vec<Cell> = (0..names.len())
                    .map(|i| r.get(i))
                    .collect::<Result<_, _>>()?;
                Ok(format!("{cells:?}"))
            })
            .unwrap();
        rows.sort();
        out.push_str(&format!("{table} {names:?}\n{}\n", rows.join("\n")));
    }
    out
}

fn assert_no_canary(store: &Store) {
    let stored = everything_stored(store);
    for canary in CANARIES {
        assert!(
            !stored.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{canary} in plain text in {}",
            store.database_url()
        );
    }
}

/// A record and an invocation written after the copy sort after the copied ones.
fn new_rows_come_after(store: &Store) {
    let last = records(store, RecordOrder::Oldest).last().unwrap().id;
    store
        .insert_records(
            RecordTarget {
                connection: "acme",
                entity: "Customer",
                stream: None,
            },
            &[RecordWrite {
                key: "after-the-copy",
                payload: "{}",
            }],
        )
        .unwrap();
    let newest = records(store, RecordOrder::Newest);
    assert_eq!(newest[0].idempotency_key, "after-the-copy");
    assert!(newest[0].id > last);
    // Same start time as the newest copied pair: only the rowid orders it first.
    let mut rec = sample_record("inv-after", BASE_MS + (INVOCATIONS as i64 - 1) / 2);
    rec.connection = "acme".into();
    store.record_invocation(rec).unwrap();
    let page = store.recent_invocations("acme", 3, None).unwrap();
    let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "inv-after",
            &*format!("inv-{}", INVOCATIONS - 1),
            &*format!("inv-{}", INVOCATIONS - 2)
        ]
    );
}

#[test]
fn a_store_goes_to_postgres_and_back_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let lite = sqlite(dir.path(), "source.db");
    let source = open(dir.path(), &lite, &key);
    let (id, api_key) = fill(&source);
    let expected = contents(&source, &id, &api_key);
    drop(source);

    let pg = postgres();
    let report = copy(&lite, &pg, &key);
    let count = |t: &str| report.tables.iter().find(|(n, _)| n == t).unwrap().1;
    assert_eq!(count("records"), RECORDS as u64 + 1 - 2);
    assert_eq!(count("invocations"), INVOCATIONS as u64 - 3);
    assert_eq!(count("change_counter"), 1);
    let names: Vec<&str> = report.tables.iter().map(|(n, _)| n.as_str()).collect();
    let at = |t: &str| names.iter().position(|n| *n == t).unwrap();
    assert!(at("connections") < at("tokens") && at("connections") < at("app_connections"));
    assert!(!names.contains(&SCHEMA_TABLE));
    assert_eq!(names.last(), Some(&COUNTER));

    let copied = open(dir.path(), &pg, &key);
    assert_eq!(contents(&copied, &id, &api_key), expected);
    assert_no_canary(&copied);
    drop(copied);

    let back = sqlite(dir.path(), "back.db");
    let again = copy(&pg, &back, &key);
    assert_eq!(again, report);
    let returned = open(dir.path(), &back, &key);
    assert_eq!(contents(&returned, &id, &api_key), expected);
    assert_no_canary(&returned);

    // The copies go on as stores: new rows after the copied ones, the secrets open.
    let copied = open(dir.path(), &pg, &key);
    for store in [&copied, &returned] {
        new_rows_come_after(store);
        let state = store.take_state("st-1").unwrap().unwrap();
        assert_eq!(
            state.pkce_verifier.unwrap().expose_secret(),
            "canary-pkce-verifier"
        );
    }
}

#[test]
fn sqlite_to_sqlite_and_postgres_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let pg = postgres();
    let source = open(dir.path(), &pg, &key);
    let (id, api_key) = fill(&source);
    let expected = contents(&source, &id, &api_key);
    drop(source);
    let pg2 = postgres();
    copy(&pg, &pg2, &key);
    let lite = sqlite(dir.path(), "a.db");
    copy(&pg2, &lite, &key);
    let lite2 = sqlite(dir.path(), "b.db");
    copy(&lite, &lite2, &key);
    for url in [pg2, lite, lite2] {
        let store = open(dir.path(), &url, &key);
        assert_eq!(contents(&store, &id, &api_key), expected, "{url}");
        new_rows_come_after(&store);
    }
}

mod refusals;
