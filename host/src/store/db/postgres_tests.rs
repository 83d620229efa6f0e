//! The PostgreSQL connection's own behaviour: placeholders rewritten outside quotes, and a
//! statement's wait that holds up only its caller, not the tokio worker it was called on.

use std::sync::{Arc, Mutex};

use super::{PgConn, placeholders};
use crate::store::DatabaseUrl;

#[test]
fn placeholders_are_numbered_outside_quotes() {
    assert_eq!(
        placeholders("SELECT a FROM t WHERE b = ?2 AND c = ?1 AND d = '?3'"),
        "SELECT a FROM t WHERE b = $2 AND c = $1 AND d = '?3'"
    );
    assert_eq!(placeholders("x = ? AND y = ?"), "x = $1 AND y = $2");
}

#[test]
fn a_slow_statement_holds_up_only_its_caller_not_the_worker_it_ran_on() {
    let url = DatabaseUrl::parse(&keyway_test_postgres::cluster().fresh_database()).unwrap();
    let DatabaseUrl::Postgres(target) = url else {
        panic!("the cluster's URL is PostgreSQL");
    };
    let conn = Arc::new(PgConn::connect(&target).unwrap());
    // One worker: while the slow statement waits on it, nothing else runs there unless the
    // wait hands the worker's tasks to another thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let (started, waiting) = tokio::sync::oneshot::channel();
        let slow = {
            let (conn, order) = (conn.clone(), order.clone());
            tokio::spawn(async move {
                let _ = started.send(());
                conn.execute_batch("SELECT pg_sleep(1)").unwrap();
                order.lock().unwrap().push("slow");
            })
        };
        waiting.await.unwrap();
        let quick = {
            let order = order.clone();
            tokio::spawn(async move { order.lock().unwrap().push("quick") })
        };
        quick.await.unwrap();
        slow.await.unwrap();
    });
    assert_eq!(*order.lock().unwrap(), ["quick", "slow"]);
}
