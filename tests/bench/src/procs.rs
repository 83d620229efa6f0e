//! Server processes under measurement: spawning one, waiting until it answers, reading its
//! resident memory from `/proc` (once, or sampled on a thread while it is loaded), and
//! stopping it when the measurement is done.

use anyhow::{Context, anyhow, bail};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a server may take to come up before the run gives up on it.
const START_GUARD: Duration = Duration::from_secs(300);

/// A running server process, killed on drop.
pub struct ServerProc {
    pub addr: SocketAddr,
    child: Child,
    /// Time from spawn until the server printed its address or accepted a connection.
    pub started_in: Duration,
    /// Keeps the stdout reader's channel open for the life of the process.
    _lines: mpsc::Receiver<String>,
}

/// A binary next to this one in the same target directory (`keyway`, built by the same
/// `cargo build --release`).
pub fn sibling_bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the benchmark binary")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("the benchmark binary has no directory"))?;
    let bin = dir.join(name);
    if !bin.is_file() {
        bail!(
            "{} is missing; build it with `cargo build --release -p keyway-host --bin {name}` (scripts/bench does)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    Ok(l.local_addr()?.port())
}

impl ServerProc {
    /// Spawns `cmd` and waits for a stdout line starting with `prefix` followed by
    /// `http://ADDR`.
    pub fn spawn_announced(
        name: &'static str,
        cmd: Command,
        prefix: &str,
    ) -> anyhow::Result<ServerProc> {
        let started = Instant::now();
        let (mut child, lines) = spawn(name, cmd)?;
        let until = started + START_GUARD;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    bail!("{name} did not print `{prefix}` before exiting or timing out");
                }
            };
            if let Some(rest) = line.strip_prefix(prefix) {
                let addr = rest
                    .trim()
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .parse()
                    .with_context(|| format!("{name} printed an address that is not one: {rest}"));
                let addr = match addr {
                    Ok(a) => a,
                    Err(e) => {
                        let _ = child.kill();
                        return Err(e);
                    }
                };
                return Ok(ServerProc {
                    addr,
                    child,
                    started_in: started.elapsed(),
                    _lines: lines,
                });
            }
        }
    }

    /// Spawns `cmd`, which listens on `addr`, and waits until a connection is accepted.
    pub fn spawn_listening(
        name: &'static str,
        cmd: Command,
        addr: SocketAddr,
    ) -> anyhow::Result<ServerProc> {
        let started = Instant::now();
        let (mut child, lines) = spawn(name, cmd)?;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("{name} exited with {status} before listening on {addr}");
            }
            if started.elapsed() > START_GUARD {
                let _ = child.kill();
                bail!("{name} did not listen on {addr}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(ServerProc {
            addr,
            child,
            started_in: started.elapsed(),
            _lines: lines,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and its high-water mark so far, in MiB.
    pub fn memory(&self) -> Memory {
        Memory::of(self.pid())
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` with no stdin, stderr discarded, and its stdout lines on a channel.
fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<(Child, mpsc::Receiver<String>)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let Some(out) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{name} has no stdout pipe");
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

/// Resident set size (`VmRSS`) and its peak (`VmHWM`) of a process, in MiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Memory {
    pub rss_mib: f64,
    pub peak_mib: f64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
                .unwrap_or(0.0)
        };
        Memory {
            rss_mib: field("VmRSS:"),
            peak_mib: field("VmHWM:"),
        }
    }
}

/// Reads a process's resident memory (`VmRSS`) every so often on its own thread, until
/// stopped; keeps the highest reading.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<f64>,
}

impl RssSampler {
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut max: f64 = 0.0;
            loop {
                max = max.max(Memory::of(pid).rss_mib);
                if flag.load(Ordering::Relaxed) {
                    return max;
                }
                std::thread::sleep(every);
            }
        });
        RssSampler { stop, thread }
    }

    /// Stops sampling (after one last reading); the highest resident memory seen, in MiB.
    pub fn stop(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0.0)
    }
}
