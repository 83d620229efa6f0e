//! Tests of `streams`.
use super::*;
use crate::store::MasterKey;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
    (dir, store)
}

fn page<'a>(run: &'a str, records: Vec<RecordWrite<'a>>, cursor: CursorWrite<'a>) -> PageWrite<'a> {
    PageWrite {
        connection: "shop",
        stream: "orders",
        run_id: run,
        batches: vec![(
            RecordTarget {
                connection: "shop",
                entity: "Order",
                stream: Some("orders"),
            },
            records,
        )],
        cursor,
        pages: 1,
        duplicates_seen: 0,
        failed: 0,
    }
}

#[test]
fn a_page_and_its_cursor_commit_together() {
    let (_dir, s) = store();
    let state = s
        .begin_stream_run("shop", "orders", "run-1", "manual")
        .unwrap();
    assert_eq!(state.cursor, None);
    let w = |key| RecordWrite { key, payload: "{}" };
    let out = s
        .commit_stream_page(&page("run-1", vec![w("a"), w("b")], CursorWrite::Set("p2")))
        .unwrap();
    assert_eq!(out, vec![vec![true, true]]);
    assert_eq!(
        s.stream_state("shop", "orders").unwrap().cursor.as_deref(),
        Some("p2")
    );

    // A page whose insert fails writes neither its records nor its cursor.
    crate::store::test_backend::refuse_records_keyed_bad(&s);
    assert!(
        s.commit_stream_page(&page(
            "run-1",
            vec![w("c"), w("bad")],
            CursorWrite::Set("p3")
        ))
        .is_err()
    );
    assert_eq!(s.count_records("shop").unwrap(), 2);
    assert_eq!(
        s.stream_state("shop", "orders").unwrap().cursor.as_deref(),
        Some("p2")
    );
    let run = s.stream_run("run-1").unwrap();
    assert_eq!(
        (run.pages, run.imported, run.checkpoint.as_deref()),
        (1, 2, Some("p2"))
    );
}

#[test]
fn a_run_left_running_is_interrupted_by_the_next() {
    let (_dir, s) = store();
    s.begin_stream_run("shop", "orders", "run-1", "schedule")
        .unwrap();
    s.begin_stream_run("shop", "orders", "run-2", "resume")
        .unwrap();
    let first = s.stream_run("run-1").unwrap();
    assert_eq!(first.status, RunStatus::Interrupted);
    assert!(first.error.as_deref().unwrap().contains("stopped"));
    s.finish_stream_run("run-2", RunStatus::Succeeded, None)
        .unwrap();
    let runs = s
        .stream_runs(&RunQuery {
            connection: Some("shop".into()),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .items;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, "run-2");
    assert_eq!(runs[0].status, RunStatus::Succeeded);
}

#[test]
fn a_run_s_error_is_stored_whatever_characters_its_text_holds() {
    // A route's answer quoted in the error may hold NUL, which PostgreSQL refuses in
    // text: the run must still end, with the character shown as U+FFFD.
    let (_dir, s) = store();
    s.begin_stream_run("shop", "orders", "r", "manual").unwrap();
    s.finish_stream_run(
        "r",
        RunStatus::Failed,
        Some("the route answered 500: a\u{0}b\u{1b}c\nd"),
    )
    .unwrap();
    let run = s.stream_run("r").unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(
        run.error.as_deref(),
        Some("the route answered 500: a\u{fffd}b\u{fffd}c\nd")
    );
}

#[test]
fn stored_keys_are_found_in_one_statement() {
    let (_dir, s) = store();
    s.begin_stream_run("shop", "orders", "r", "manual").unwrap();
    let w = |key| RecordWrite { key, payload: "{}" };
    s.commit_stream_page(&page("r", vec![w("a"), w("b\"c")], CursorWrite::Keep))
        .unwrap();
    let found = s
        .stored_record_keys("shop", "Order", &["a", "b\"c", "z"])
        .unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.contains("b\"c") && !found.contains("z"));
    assert!(
        s.stored_record_keys("shop", "Other", &["a"])
            .unwrap()
            .is_empty()
    );
    assert!(
        s.stored_record_keys("shop", "Order", &[])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_run_lock_admits_one_holder_until_it_is_dropped() {
    let (_dir, s) = store();
    let held = s.lock_stream("shop", "orders").unwrap().unwrap();
    assert!(s.lock_stream("shop", "orders").unwrap().is_none());
    assert!(s.lock_stream("shop", "refunds").unwrap().is_some());
    drop(held);
    assert!(s.lock_stream("shop", "orders").unwrap().is_some());
}

#[test]
fn a_running_stream_s_lease_is_renewed_and_a_dead_holder_s_runs_out() {
    if !crate::store::test_backend::postgres() {
        return; // SQLite's run lock is a file lock, released by the kernel.
    }
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    // Two handles on one data directory share its database: two replicas.
    let a = Store::open_with_key(dir.path(), &key).unwrap();
    let b = Store::open_with_key(dir.path(), &key).unwrap();
    let lease = std::time::Duration::from_millis(900);
    a.set_stream_lease(lease);
    b.set_stream_lease(lease);
    let held = a.lock_stream("shop", "orders").unwrap().unwrap();
    // Three lease lifetimes later the heartbeat has kept it.
    std::thread::sleep(lease * 3);
    assert!(b.lock_stream("shop", "orders").unwrap().is_none());
    drop(held);
    assert!(b.lock_stream("shop", "orders").unwrap().is_some());

    // A replica killed while it ran a stream leaves a lease nobody renews.
    let name = crate::store::stream_lock::lock_name("shop", "refunds");
    assert!(a.try_acquire_lease(&name, "a-dead-replica", 600).unwrap());
    assert!(b.lock_stream("shop", "refunds").unwrap().is_none());
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(b.lock_stream("shop", "refunds").unwrap().is_some());
}

#[test]
fn pause_resume_and_reset() {
    let (_dir, s) = store();
    s.set_stream_schedule("shop", "orders", Some(100), Some(50), 2)
        .unwrap();
    s.set_stream_paused("shop", "orders", Some("reauth_required"))
        .unwrap();
    let st = s.stream_state("shop", "orders").unwrap();
    assert!(st.paused);
    assert_eq!(s.resume_reauth_paused("shop").unwrap(), 1);
    let st = s.stream_state("shop", "orders").unwrap();
    assert!(!st.paused);
    assert_eq!(
        (st.retry_at, st.attempts, st.next_run_at),
        (None, 0, Some(100))
    );
    s.begin_stream_run("shop", "orders", "r", "manual").unwrap();
    s.commit_stream_page(&PageWrite {
        batches: Vec::new(),
        ..page("r", Vec::new(), CursorWrite::Set("c"))
    })
    .unwrap();
    s.reset_stream("shop", "orders").unwrap();
    assert_eq!(s.stream_state("shop", "orders").unwrap().cursor, None);
}
