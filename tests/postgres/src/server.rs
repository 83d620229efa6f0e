//! Starting and stopping the server: a directory of its own under the OS temp dir
//! (`keyway-test-postgres-<pid>-<n>`: the cluster in `data/`, the Unix socket beside it,
//! the server's log in `server.log`), `initdb`, then `postgres` on a free loopback port
//! until it answers a query.
//!
//! Lifetime: `postgres` is started directly (no `pg_ctl`, which would detach it) by a
//! thread that lives as long as the process (it waits on the server), with the
//! parent-death signal set to SIGKILL. That signal is sent when the thread that spawned
//! the child ends, hence a thread of its own rather than the test's, and so also when the
//! process ends in any way, SIGKILL included. On a normal exit, [`stop`] (run by an
//! `atexit` hook, since statics are never dropped) shuts the server down and removes the
//! directory. A directory left by a process that was killed is removed by the next start
//! ([`sweep_leftovers`]).
//!
//! Owns: the directory, the server process and its readiness.
//! Must not: listen anywhere but 127.0.0.1, run the server as root, or remove a directory
//! of a process that is still alive.

use std::fs::{self, File};
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::USER;
use crate::programs::Programs;
use crate::user::{Owner, SERVER_USER, server_owner};

/// What the directories of this crate's clusters are called: `<PREFIX><pid>-<n>`.
const PREFIX: &str = "keyway-test-postgres-";
/// Connections the server accepts: tests open many at once.
const MAX_CONNECTIONS: u32 = 300;
/// Ports tried when another process takes the free port first.
const PORT_ATTEMPTS: u32 = 5;
/// How long the server may take to answer after being started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long starting may take in all (initdb, and every port attempt).
const START_TIMEOUT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(50);
/// How long [`stop`] waits for a fast shutdown before killing the server.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines of the server's log quoted when it fails to start.
const LOG_TAIL_LINES: usize = 30;

/// Set by the keeper thread once the server has exited (and been reaped).
static SERVER_EXITED: AtomicBool = AtomicBool::new(false);

/// A server that accepts connections.
pub(crate) struct Started {
    pub(crate) dir: PathBuf,
    pub(crate) port: u16,
    pub(crate) pid: u32,
}

/// Makes the directory and starts the server from the keeper thread; returns once it
/// answers a query.
pub(crate) fn start(programs: &Programs) -> Result<Started, String> {
    let root = std::env::temp_dir();
    sweep_leftovers(&root);
    let owner = server_owner()?;
    if owner.is_some() {
        reachable_by_others(&root)?;
    }
    let dir = make_dir(&root, owner)?;
    let (tx, rx) = mpsc::channel();
    let keeper = {
        let (programs, dir) = (programs.clone(), dir.clone());
        move || keep(&programs, &dir, owner, &tx)
    };
    let answer = thread::Builder::new()
        .name("keyway-test-postgres".into())
        .spawn(keeper)
        .map_err(|e| format!("starting the cluster's thread: {e}"))
        .and_then(|_| match rx.recv_timeout(START_TIMEOUT) {
            Ok(answer) => answer,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "the cluster in {} did not start within {START_TIMEOUT:?}",
                dir.display()
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err("the cluster's thread ended without an answer".into())
            }
        });
    match answer {
        Ok((port, pid)) => Ok(Started { dir, port, pid }),
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

/// The keeper thread: initdb, the server, then waiting on it for the rest of the process.
fn keep(
    programs: &Programs,
    dir: &Path,
    owner: Option<Owner>,
    tx: &mpsc::Sender<Result<(u16, u32), String>>,
) {
    match init(programs, dir, owner).and_then(|()| serve(programs, dir, owner)) {
        Ok((mut child, port)) => {
            if tx.send(Ok((port, child.id()))).is_err() {
                // The caller gave up waiting: nobody will use this server.
                let _ = child.kill();
            }
            let _ = child.wait();
            SERVER_EXITED.store(true, Ordering::SeqCst);
        }
        Err(e) => {
            let _ = tx.send(Err(e));
        }
    }
}

/// Creates the cluster in `dir/data`: trust authentication for [`USER`], UTF-8, C locale,
/// and the certificates of its TLS (`tls.rs`).
fn init(programs: &Programs, dir: &Path, owner: Option<Owner>) -> Result<(), String> {
    let mut initdb = command(&programs.path("initdb"));
    initdb
        .arg("--pgdata")
        .arg(dir.join("data"))
        .args(["--username", USER, "--auth=trust", "--encoding=UTF8"])
        .args(["--locale=C", "--no-sync"])
        .current_dir(dir);
    as_server(&mut initdb, owner);
    let output = initdb
        .output()
        .map_err(|e| format!("running {}: {e}", programs.path("initdb").display()))?;
    if output.status.success() {
        crate::tls::prepare(dir, owner)
    } else {
        Err(format!(
            "initdb {} in {}:\n{}{}",
            output.status,
            dir.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Starts `postgres` on a free port, another one when that port was taken meanwhile, and
/// waits until it answers.
fn serve(programs: &Programs, dir: &Path, owner: Option<Owner>) -> Result<(Child, u16), String> {
    let log_path = dir.join("server.log");
    for attempt in 1..=PORT_ATTEMPTS {
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let log =
            File::create(&log_path).map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("duplicating the log's handle: {e}"))?;
        let mut postgres = command(&programs.path("postgres"));
        postgres
            .arg("-D")
            .arg(dir.join("data"))
            .arg("-p")
            .arg(port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            .arg("-c")
            .arg(format!("max_connections={MAX_CONNECTIONS}"))
            .args(durability())
            .args(crate::tls::server_args())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        as_server(&mut postgres, owner);
        let mut child = postgres
            .spawn()
            .map_err(|e| format!("starting {}: {e}", programs.path("postgres").display()))?;
        match wait_ready(programs, &mut child, port) {
            Ok(()) => return Ok((child, port)),
            Err(NotReady::Exited(status)) => {
                let tail = log_tail(&log_path);
                if tail.contains("Address already in use") && attempt < PORT_ATTEMPTS {
                    continue;
                }
                return Err(format!(
                    "postgres exited ({status}) before accepting connections on port {port}; \
                     the end of {}:\n{tail}",
                    log_path.display()
                ));
            }
            Err(NotReady::TimedOut) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "postgres did not accept connections on port {port} within \
                     {READY_TIMEOUT:?}; the end of {}:\n{}",
                    log_path.display(),
                    log_tail(&log_path)
                ));
            }
        }
    }
    Err(format!(
        "no free port for postgres after {PORT_ATTEMPTS} attempts"
    ))
}

enum NotReady {
    Exited(ExitStatus),
    TimedOut,
}

/// Polls `pg_isready`, then runs a real query once it says yes.
fn wait_ready(programs: &Programs, child: &mut Child, port: u16) -> Result<(), NotReady> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let url = crate::url(port, "postgres");
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(NotReady::Exited(status));
        }
        let ready = command(&programs.path("pg_isready"))
            .args(["--quiet", "--dbname", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready && crate::psql(programs, &url, "SELECT 1").is_ok_and(|out| out.trim() == "1") {
            return Ok(());
        }
        thread::sleep(POLL);
    }
    Err(NotReady::TimedOut)
}

/// A command for one of PostgreSQL's programs: no `PG*` variable of the environment picks
/// another server, user, data directory or option, and messages are untranslated.
pub(crate) fn command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
    command.env("LC_ALL", "C");
    command
}

/// Turns a command into one of the server's programs: run as `owner` when the tests run
/// as root, and killed when the thread that spawns it ends.
fn as_server(command: &mut Command, owner: Option<Owner>) {
    if let Some(Owner { uid, gid }) = owner {
        command.uid(uid).gid(gid);
    }
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid), allocating nothing.
    //
    // Order: std's `do_exec` (library/std/src/sys/process/unix/unix.rs, Rust 1.95) calls
    // setgid, setgroups and setuid first, then chdir, then the `pre_exec` closures, then
    // execvp (and never posix_spawn when there are closures). A change of credentials
    // clears the parent-death signal, so it must be set after them, which is where std
    // runs this closure. `tests/lifetime.rs` fails when the signal is not in force.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            // The parent died before the signal was set: nobody would send it.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Removes what [`start`] made when the process exits normally: a fast shutdown (SIGQUIT:
/// the server tells its backends to quit and exits), SIGKILL if that takes too long, then
/// the directory. Best effort; never panics (it runs from an `atexit` hook).
pub(crate) fn stop(pid: u32, dir: &Path) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    for signal in [libc::SIGQUIT, libc::SIGKILL] {
        if SERVER_EXITED.load(Ordering::SeqCst) {
            break;
        }
        // SAFETY: kill has no memory-safety preconditions. The pid is still ours: the
        // keeper thread reaps it only after it exits, and sets SERVER_EXITED then.
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !SERVER_EXITED.load(Ordering::SeqCst) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
    }
    let _ = fs::remove_dir_all(dir);
}

/// Removes the directories of this crate's clusters whose process is gone (killed before
/// its `atexit` hook could run; its server died with it).
pub(crate) fn sweep_leftovers(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if !alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// `root/keyway-test-postgres-<pid>-<n>`, new, private, and owned by the server's user.
fn make_dir(root: &Path, owner: Option<Owner>) -> Result<PathBuf, String> {
    let pid = std::process::id();
    for n in 0..1000 {
        let dir = root.join(format!("{PREFIX}{pid}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => {
                let prepared = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                    .and_then(|()| match owner {
                        Some(o) => std::os::unix::fs::chown(&dir, Some(o.uid), Some(o.gid)),
                        None => Ok(()),
                    });
                return match prepared {
                    Ok(()) => Ok(dir),
                    Err(e) => {
                        let _ = fs::remove_dir(&dir);
                        Err(format!("preparing {}: {e}", dir.display()))
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("creating a directory in {}: {e}", root.display())),
        }
    }
    Err(format!("no free directory name in {}", root.display()))
}

/// The server's user must be able to reach its directory: every directory above it
/// searchable by others (as `/tmp` is).
fn reachable_by_others(root: &Path) -> Result<(), String> {
    for dir in root.ancestors() {
        let mode = fs::metadata(dir)
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(format!(
                "{} is not searchable by other users, so {SERVER_USER} cannot reach the \
                 cluster under {}: point TMPDIR elsewhere (e.g. /tmp)",
                dir.display(),
                root.display()
            ));
        }
    }
    Ok(())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The last lines of the server's log.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// The variable that asks for a server that syncs its commits (a benchmark's), not one
/// for test data.
pub(crate) const DURABLE_ENV: &str = "KEYWAY_TEST_POSTGRES_DURABLE";

/// Test data needs to survive no crash, so a test server syncs nothing; a benchmark's
/// server (`KEYWAY_TEST_POSTGRES_DURABLE=1`) keeps PostgreSQL's durable defaults.
fn durability() -> Vec<String> {
    let settings: &[&str] = if std::env::var(DURABLE_ENV).is_ok_and(|v| v == "1") {
        &["shared_buffers=128MB"]
    } else {
        &[
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "shared_buffers=32MB",
        ]
    };
    settings
        .iter()
        .flat_map(|s| ["-c".to_string(), s.to_string()])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_directories_of_dead_processes() {
        let root = tempfile::tempdir().unwrap();
        // A process that has exited and been reaped: its pid names no process.
        let mut gone = Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        let ours = std::process::id();
        for name in [
            format!("{PREFIX}{dead}-0"),
            format!("{PREFIX}{ours}-0"),
            format!("other-{dead}-0"),
        ] {
            fs::create_dir_all(root.path().join(name).join("data")).unwrap();
        }
        sweep_leftovers(root.path());
        assert!(!root.path().join(format!("{PREFIX}{dead}-0")).exists());
        assert!(root.path().join(format!("{PREFIX}{ours}-0")).exists());
        assert!(root.path().join(format!("other-{dead}-0")).exists());
    }
}
