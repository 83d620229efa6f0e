//! A throw-away PostgreSQL cluster for tests: one per test process, started on first use
//! ([`cluster`]) on a free loopback port, in a directory of its own under the OS temp dir,
//! with trust authentication for the user [`USER`], and TLS offered to every connection
//! and required of [`TLS_USER`] (`tls.rs`); [`PASSWORD_USER`] must give a password. Each test takes a new, empty database
//! from it ([`Cluster::fresh_database`]) and connects to the URL it gets.
//!
//! The server never outlives the test process, however that process ends (`server.rs`
//! says how). When the tests run as root, the server runs as the system user `keyway-pg`,
//! created on first use (`user.rs`). The programs come from `PATH` or Debian's
//! `/usr/lib/postgresql/*/bin` (`programs.rs`); `scripts/setup` installs them.
//!
//! Owns: the process's one cluster, the databases made on it, and running SQL on them
//! with `psql` ([`Cluster::psql`]).
//! Must not: depend on keyway-host, listen anywhere but 127.0.0.1, or touch a cluster it
//! did not start.

mod programs;
mod server;
mod tls;
mod user;

pub use tls::TLS_USER;

/// The role that must give a password (SCRAM), [`PASSWORD`]: for tests of the password's
/// way into a connection.
pub const PASSWORD_USER: &str = "keyway_pw";
/// [`PASSWORD_USER`]'s password.
pub const PASSWORD: &str = "keyway-test-cluster-password-5d2e";

use std::io::Write;
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use programs::Programs;

/// The database user every URL names (the cluster's superuser; no password).
pub const USER: &str = "keyway";

/// The process's cluster, or why it could not start (kept, so that every test that
/// asks fails at once with the same message rather than trying again).
static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// A running cluster on 127.0.0.1.
#[derive(Debug)]
pub struct Cluster {
    programs: Programs,
    dir: std::path::PathBuf,
    port: u16,
    pid: u32,
    next_database: AtomicU64,
}

/// Whether PostgreSQL tests can run here (its programs are installed), without starting
/// anything.
pub fn available() -> bool {
    Programs::find().is_ok()
}

/// The process's cluster, started on the first call.
///
/// # Panics
///
/// When the cluster cannot start, with a message naming what is missing or failed (its
/// programs not installed, initdb's output, the end of the server's log).
pub fn cluster() -> &'static Cluster {
    let started = CLUSTER.get_or_init(|| {
        let programs = Programs::find()?;
        let started = server::start(&programs)?;
        psql(
            &programs,
            &url(started.port, "postgres"),
            &format!(
                "CREATE ROLE {TLS_USER} LOGIN SUPERUSER;
                 CREATE ROLE {PASSWORD_USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}';"
            ),
        )
        .map_err(|e| format!("creating the roles {TLS_USER} and {PASSWORD_USER}: {e}"))?;
        // SAFETY: registering a plain function; it runs once, at exit.
        if unsafe { libc::atexit(stop_at_exit) } != 0 {
            eprintln!(
                "keyway-test-postgres: could not register the exit hook; {} stays behind",
                started.dir.display()
            );
        }
        Ok(Cluster {
            programs,
            dir: started.dir,
            port: started.port,
            pid: started.pid,
            next_database: AtomicU64::new(0),
        })
    });
    match started {
        Ok(cluster) => cluster,
        Err(why) => panic!("the test PostgreSQL cluster cannot start: {why}"),
    }
}

/// Shuts the server down and removes its directory when the process exits normally.
extern "C" fn stop_at_exit() {
    if let Some(Ok(cluster)) = CLUSTER.get() {
        server::stop(cluster.pid, &cluster.dir);
    }
}

impl Cluster {
    /// The port the server listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory: the data in `data/`, the server's log in `server.log`.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The server's (postmaster's) process id.
    pub fn server_pid(&self) -> u32 {
        self.pid
    }

    /// A new, empty database, named uniquely (`keyway_test_<pid>_<n>`), and its URL:
    /// `postgres://keyway@127.0.0.1:<port>/<name>`.
    ///
    /// # Panics
    ///
    /// When the server refuses to create it (with psql's message).
    pub fn fresh_database(&self) -> String {
        let n = self.next_database.fetch_add(1, Ordering::Relaxed);
        let name = format!("keyway_test_{}_{n}", std::process::id());
        if let Err(why) = self.psql(
            &url(self.port, "postgres"),
            &format!("CREATE DATABASE {name}"),
        ) {
            panic!("creating the test database {name}: {why}");
        }
        url(self.port, &name)
    }

    /// The PEM file of the certificate authority that signed the server's certificate
    /// (for 127.0.0.1 only): a URL's `sslrootcert`.
    pub fn ca_file(&self) -> std::path::PathBuf {
        tls::ca_file(&self.dir)
    }

    /// A new, empty database (as [`Cluster::fresh_database`]) and its URL for
    /// [`TLS_USER`], the role the server refuses without TLS:
    /// `postgres://keyway_tls@127.0.0.1:<port>/<name>`, without any `sslmode`.
    pub fn fresh_tls_only_database(&self) -> String {
        self.fresh_database_as(TLS_USER)
    }

    /// A new, empty database (as [`Cluster::fresh_database`]) and its URL for
    /// [`PASSWORD_USER`], whom the server lets in only with [`PASSWORD`] (the URL holds
    /// none).
    pub fn fresh_password_database(&self) -> String {
        self.fresh_database_as(PASSWORD_USER)
    }

    fn fresh_database_as(&self, user: &str) -> String {
        let plain = self.fresh_database();
        let prefix = format!("postgres://{USER}@");
        match plain.strip_prefix(&prefix) {
            Some(rest) => format!("postgres://{user}@{rest}"),
            None => panic!("the cluster's URL {plain} does not start with {prefix}"),
        }
    }

    /// Runs `sql` (any number of statements; each is its own transaction unless the
    /// script says `BEGIN`) with `psql` on the database at `url`, stopping at the first
    /// error. Returns what the queries printed: one line per row, columns separated by a
    /// tab, no headers. The error is psql's exit status and message.
    pub fn psql(&self, url: &str, sql: &str) -> Result<String, String> {
        psql(&self.programs, url, sql)
    }
}

/// The URL of database `name` on the cluster at `port`.
fn url(port: u16, name: &str) -> String {
    format!("postgres://{USER}@127.0.0.1:{port}/{name}")
}

fn psql(programs: &Programs, url: &str, sql: &str) -> Result<String, String> {
    let mut child = server::command(&programs.path("psql"))
        .args(["--no-psqlrc", "--quiet", "--no-align", "--tuples-only"])
        .args(["--field-separator=\t", "--set=ON_ERROR_STOP=1", "--file=-"])
        .arg(format!("--dbname={url}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running psql: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("psql has no stdin")?;
    let script = sql.to_owned();
    // Written from another thread, so that a long output cannot block a long script.
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for psql: {e}"))?;
    let written = writer.join();
    if !output.status.success() {
        return Err(format!(
            "psql {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    match written {
        Ok(Ok(())) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
        Ok(Err(e)) => Err(format!("writing the script to psql: {e}")),
        Err(_) => Err("the thread writing to psql panicked".into()),
    }
}
