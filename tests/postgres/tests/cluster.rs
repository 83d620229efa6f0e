//! The process's cluster: started once for every test thread, it hands out distinct,
//! empty databases that answer queries, accepts many connections, listens on loopback
//! only and does not run as root.

use keyway_test_postgres::{USER, cluster};

/// The database name at the end of a URL.
fn name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

#[test]
fn hands_out_distinct_reachable_databases() {
    let cluster = cluster();
    let a = cluster.fresh_database();
    let b = cluster.fresh_database();
    assert_ne!(a, b);
    let prefix = format!("postgres://{USER}@127.0.0.1:{}/", cluster.port());
    assert!(a.starts_with(&prefix) && b.starts_with(&prefix), "{a} {b}");

    cluster
        .psql(
            &a,
            "CREATE TABLE t (v BIGINT); INSERT INTO t VALUES (1), (2);",
        )
        .unwrap();
    let read = cluster
        .psql(&a, "SELECT current_database(), sum(v) FROM t")
        .unwrap();
    assert_eq!(read.trim(), format!("{}\t3", name(&a)));

    assert_eq!(
        cluster
            .psql(&b, "SELECT current_database()")
            .unwrap()
            .trim(),
        name(&b)
    );
    let err = cluster.psql(&b, "SELECT count(*) FROM t").unwrap_err();
    assert!(err.contains("relation \"t\" does not exist"), "{err}");
}

#[test]
fn every_thread_gets_the_same_cluster() {
    let ports: Vec<u16> = (0..4)
        .map(|_| std::thread::spawn(|| cluster().port()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(ports.iter().all(|p| *p == cluster().port()), "{ports:?}");
}

#[test]
fn is_configured_for_tests() {
    let cluster = cluster();
    let url = cluster.fresh_database();
    let settings = cluster
        .psql(
            &url,
            "SELECT current_setting('max_connections'), current_setting('listen_addresses'), \
             current_setting('server_encoding'), current_user",
        )
        .unwrap();
    let fields: Vec<&str> = settings.trim().split('\t').collect();
    assert!(fields[0].parse::<u32>().unwrap() >= 200, "{settings}");
    assert_eq!(fields[1..], ["127.0.0.1", "UTF8", USER]);
}

#[test]
fn the_server_does_not_run_as_root() {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", cluster().server_pid())).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .unwrap();
    assert_ne!(uid, "0", "{status}");
}
