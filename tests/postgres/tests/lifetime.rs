//! The server goes with the test process. A process holding a cluster (the
//! `keyway-test-postgres-hold` binary) is killed with SIGKILL: its server and every
//! process the server started are gone soon after and the port no longer answers. A
//! process that exits normally shuts its server down and removes its directory before
//! it ends. Waits are generous bounds, never judged.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A holding process and the cluster it reported.
struct Held {
    child: Child,
    port: u16,
    pid: u32,
    dir: PathBuf,
}

fn hold(args: &[&str]) -> Held {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyway-test-postgres-hold"))
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            .to_owned()
    };
    Held {
        port: field("port=").parse().unwrap(),
        pid: field("pid=").parse().unwrap(),
        dir: PathBuf::from(field("dir=")),
        child,
    }
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// `/proc/<pid>/stat`'s fields after the command name: state, then parent pid.
fn stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Gone, or a zombie nobody has reaped yet (it runs nothing and holds no port).
fn gone(pid: u32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == 'Z')
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| stat(*p).is_some_and(|(_, parent)| parent == pid))
        .collect()
}

fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not after 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_process_leaves_no_server_behind() {
    let mut held = hold(&[]);
    assert!(accepts(held.port));
    let server_children = children(held.pid);
    assert!(!server_children.is_empty(), "postgres started no process");

    held.child.kill().unwrap(); // SIGKILL: no destructor, no exit hook runs.
    held.child.wait().unwrap();

    until("the server is gone", || gone(held.pid));
    until("the server's processes are gone", || {
        server_children.iter().all(|p| gone(*p))
    });
    until("the port no longer answers", || !accepts(held.port));
    // The next cluster started on this machine would remove it; no need to wait for one.
    std::fs::remove_dir_all(&held.dir).unwrap();
}

#[test]
fn a_normal_exit_stops_the_server_and_removes_its_directory() {
    let mut held = hold(&["exit"]);
    assert!(held.child.wait().unwrap().success());
    // The exit hook waits for the server to exit before the process ends.
    assert!(gone(held.pid));
    assert!(!held.dir.exists(), "{} is left", held.dir.display());
    assert!(!accepts(held.port));
}
