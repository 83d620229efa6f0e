//! Holds a test cluster for `tests/lifetime.rs`: starts it, prints one line
//! `port=<port> pid=<server pid> dir=<directory>`, then sleeps until it is killed, or,
//! with the argument `exit`, returns at once (a normal exit, running the exit hook).
//!
//! Must not: do anything with the cluster but report it.

use std::io::Write;
use std::time::Duration;

fn main() {
    let cluster = keyway_test_postgres::cluster();
    let mut out = std::io::stdout().lock();
    let reported = writeln!(
        out,
        "port={} pid={} dir={}",
        cluster.port(),
        cluster.server_pid(),
        cluster.dir().display()
    )
    .and_then(|()| out.flush());
    if let Err(e) = reported {
        eprintln!("keyway-test-postgres-hold: reporting the cluster: {e}");
        std::process::exit(1);
    }
    if std::env::args().nth(1).as_deref() == Some("exit") {
        return;
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
