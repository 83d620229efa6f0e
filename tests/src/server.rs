//! A `keyway serve` child process for tests that drive the server over real HTTP: its own
//! data directory, a connectors directory the test fills, a known admin key, and the
//! addresses read from the lines the server prints when it is up.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{components, keyway_command_on};

/// The admin key every test server runs with.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

/// A connectors directory for a test server.
pub struct Connectors {
    pub dir: tempfile::TempDir,
}

impl Connectors {
    pub fn new() -> Connectors {
        Connectors {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Adds a connector directory with `manifest` and the component at `wasm`.
    pub fn add(&self, name: &str, manifest: &str, wasm: &str) {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).expect("connector dir");
        std::fs::write(dir.join("connector.json"), manifest).expect("manifest");
        std::fs::copy(wasm, dir.join("connector.wasm")).expect("component");
    }

    /// Adds the real `connectors/sandbox`. Its component and manifest name the sandbox
    /// provider's default address, 127.0.0.1:8788, so a test using it needs that port.
    pub fn add_sandbox(&self) {
        let manifest =
            std::fs::read_to_string(crate::connector_dir("sandbox").join("connector.json"))
                .expect("sandbox manifest");
        self.add("sandbox", &manifest, components::SANDBOX);
    }

    /// Adds the `misbehave` test component as connector `misbehave` (no OAuth).
    pub fn add_misbehave(&self) {
        let manifest = r#"{
            "key": "misbehave", "name": "Misbehave", "provider": "none", "kind": "source",
            "version": "0.1.0", "permissions": { "http": [] }, "connection": {}
        }"#;
        self.add("misbehave", manifest, components::MISBEHAVE);
    }
}

impl Default for Connectors {
    fn default() -> Self {
        Connectors::new()
    }
}

/// A running `keyway serve`.
pub struct Server {
    child: Child,
    pub data_dir: tempfile::TempDir,
    /// The connectors directory the server was started with (the CLI uses it too).
    connectors: PathBuf,
    pub base: String,
    pub sandbox: Option<String>,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    /// What the server's environment adds (a replica's database and master key); the
    /// CLI run against it gets the same.
    env: Vec<(String, String)>,
    /// The PostgreSQL database the server stores in (its data directory's on a
    /// PostgreSQL run, or the one its environment names); `None`: SQLite in `data_dir`.
    database: Option<String>,
}

impl Server {
    /// Starts `keyway serve` with `connectors` and the extra flags; waits until it listens.
    pub fn start(connectors: &Path, extra: &[&str]) -> Server {
        Server::start_with(connectors, extra, &[])
    }

    /// [`Server::start`] with variables added to its environment (`KEYWAY_DATABASE_URL`
    /// and `KEYWAY_MASTER_KEY` make it one replica of several). Without a
    /// `KEYWAY_DATABASE_URL` its store is on this run's backend (`backend.rs`).
    pub fn start_with(connectors: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        crate::artifacts::canary(ADMIN_KEY);
        let data_dir = tempfile::tempdir().expect("tempdir");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let database = env
            .iter()
            .find(|(k, _)| k == "KEYWAY_DATABASE_URL")
            .map(|(_, v)| v.clone())
            .or_else(|| crate::backend::database_for(data_dir.path()));
        let mut child = keyway_command_on(data_dir.path(), database.as_deref())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("KEYWAY_CONNECTORS", connectors)
            .env("KEYWAY_ADMIN_KEY", ADMIN_KEY)
            .env("KEYWAY_LOG", "info")
            .env_remove("KEYWAY_MASTER_KEY")
            .env_remove("KEYWAY_SANDBOX")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn keyway serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out_pipe = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut base = None;
        let mut sandbox = None;
        // Start-up compiles components; this only guards against a server that never starts.
        let give_up = Instant::now() + Duration::from_secs(300);
        while base.is_none() {
            let left = give_up.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("keyway listening on ") {
                        base = Some(url.trim().to_string());
                    } else if let Some(url) = line.strip_prefix("sandbox provider on ") {
                        sandbox = Some(url.trim().to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log = stderr.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    panic!("keyway serve did not start:\n{log}");
                }
            }
        }
        Server {
            child,
            data_dir,
            connectors: connectors.to_path_buf(),
            base: base.unwrap_or_default(),
            sandbox,
            stderr,
            stdout,
            env,
            database,
        }
    }

    /// Kills the server with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the server wrote to stderr (its logs) so far.
    pub fn logs(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Everything the server wrote to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit (guarded against a hang) and returns its status.
    pub fn wait_exit(&mut self, guard: Duration) -> std::process::ExitStatus {
        let until = Instant::now() + guard;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                panic!("keyway serve did not exit:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs the `keyway` CLI against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        keyway_command_on(self.data_dir.path(), self.database.as_deref())
            .args(args)
            .env("KEYWAY_CONNECTORS", &self.connectors)
            .env("KEYWAY_LOG", "warn")
            .env_remove("KEYWAY_MASTER_KEY")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .output()
            .expect("run keyway")
    }

    /// A new API key, made with `keyway api-keys create`; returns (id, key).
    pub fn create_api_key(&self, name: &str) -> (String, String) {
        let out = self.cli(&["api-keys", "create", "--name", name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let id = text
            .split("(id ")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .expect("key id in the output")
            .to_string();
        let key = text
            .lines()
            .find(|l| l.starts_with("kw_"))
            .expect("the key line")
            .to_string();
        crate::artifacts::canary(&key);
        (id, key)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Everything the server left, for the suite's canary sweep.
        crate::artifacts::append("serve-stderr", self.logs().as_bytes());
        crate::artifacts::append("serve-stdout", self.stdout().as_bytes());
        crate::artifacts::keep_dir("serve", self.data_dir.path());
        // On PostgreSQL the store is not in the data directory: its database, whole.
        if let Some(url) = &self.database {
            crate::artifacts::keep_database("serve", url);
        }
    }
}

/// An HTTP answer of the server under test, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON, or `Null` when it is not JSON.
    pub json: serde_json::Value,
    pub text: String,
}

/// Approves the authorization at `authorize_url` on the sandbox's consent page, as a
/// browser would (the page, then Approve); answers the callback URL the provider sends the
/// browser to.
pub async fn approve_at_sandbox(http: &reqwest::Client, authorize_url: &str) -> String {
    let page = send(http.get(authorize_url)).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("Approve"), "{}", page.text);
    let request_id = page
        .text
        .split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the pending request id")
        .to_string();
    let origin = url::Url::parse(authorize_url)
        .expect("the authorization URL")
        .origin()
        .ascii_serialization();
    let decision = send(
        http.post(format!("{origin}/oauth/authorize/decision"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("request={request_id}&decision=approve")),
    )
    .await;
    assert_eq!(decision.status, 303, "{}", decision.text);
    decision.headers["location"]
        .to_str()
        .expect("location")
        .to_string()
}

/// Sends `req` and reads the whole answer; keeps it for the suite's canary sweep.
pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    crate::artifacts::append(
        "answers",
        format!("{status} {headers:?}\n{text}\n").as_bytes(),
    );
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

/// How long a test waits for a running server to see a change it notices on an interval:
/// a write by another process (the CLI; `keyway_host::store::CHANGE_CHECK`) or a
/// connector's files changed on disk (rechecked once a second). The margin is for a
/// loaded machine, and a test never judges the time itself.
pub const SEEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Asks `probe` again until `done` holds for its answer (or [`SEEN_WITHIN`] has passed),
/// and returns the last answer: for a change the server sees within an interval rather
/// than at once.
pub async fn until<F, Fut>(mut probe: F, done: impl Fn(&Answer) -> bool) -> Answer
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let started = std::time::Instant::now();
    loop {
        let a = probe().await;
        if done(&a) || started.elapsed() > SEEN_WITHIN {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// `req` with `body` as its JSON body.
pub fn with_json(
    req: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    req.header("content-type", "application/json")
        .body(body.to_string())
}

/// An HTTP client that follows no redirect (an answer's `location` is what tests check).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

impl Server {
    /// Creates the connection `name` of connector `connector` through the admin API.
    pub async fn create_connection(&self, name: &str, connector: &str) {
        let a = send(with_json(
            client()
                .post(self.url("/v1/connections"))
                .bearer_auth(ADMIN_KEY),
            &serde_json::json!({ "name": name, "connector": connector }),
        ))
        .await;
        assert_eq!(a.status, 201, "{}", a.text);
    }
}
