//! Test support: starts the local OpenID Connect provider from `tests/oidc` (running `npm ci`
//! first when `node_modules` is missing), talks to its fault-injecting proxy, and completes
//! the scripted login/consent over plain HTTP by following redirects with a small cookie jar.
//!
//! Must not: reach anything but loopback.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use url::Url;

static NPM_CI: Mutex<bool> = Mutex::new(false);

/// How long the harness may take to print its ports, and how often it is started.
const STARTUP: std::time::Duration = std::time::Duration::from_secs(60);
const STARTUP_ATTEMPTS: u32 = 3;

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

fn ensure_node_modules() {
    let mut done = NPM_CI.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let dir = harness_dir();
    if !dir.join("node_modules").join("oidc-provider").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm must be installed to run the OAuth end-to-end tests");
        assert!(status.success(), "npm ci in tests/oidc failed");
    }
    *done = true;
}

/// An OAuth client for a provider on loopback: its egress admits `127.0.0.1/32`, as an
/// operator's `--allow-cidr 127.0.0.1/32` (or `allow_private_networks`) does; without that
/// the host refuses to send anything to this provider.
pub fn loopback_http(timeout: std::time::Duration) -> keyway_host::oauth::OAuthHttp {
    let config = keyway_host::egress::EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse().expect("cidr")],
        ..Default::default()
    };
    keyway_host::oauth::OAuthHttp::from_config(&config, timeout).expect("oauth http")
}

/// A running provider. Killed on drop.
pub struct OidcServer {
    child: Child,
    pub port: u16,
    pub proxy_port: u16,
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: String,
    http: reqwest::Client,
}

impl Drop for OidcServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcServer {
    /// Starts the provider with a confidential client whose secret is `client_secret`.
    pub fn start(client_secret: &str, redirect_uris: &[&str], access_ttl_secs: u64) -> OidcServer {
        ensure_node_modules();
        let client_id = "keyway-e2e-client".to_string();
        let spawn = || {
            Command::new("node")
                .arg("server.mjs")
                .current_dir(harness_dir())
                .env("KEYWAY_OIDC_CLIENT_ID", &client_id)
                .env("KEYWAY_OIDC_CLIENT_SECRET", client_secret)
                .env("KEYWAY_OIDC_REDIRECT_URIS", redirect_uris.join(","))
                .env("KEYWAY_OIDC_ACCESS_TTL", access_ttl_secs.to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("node must be installed to run the OAuth end-to-end tests")
        };
        // A start-up that prints nothing (seen once on a loaded machine: node idle in its
        // event loop, nothing listening) is killed and tried again, rather than waited on
        // for ever.
        let mut started = None;
        for attempt in 1..=STARTUP_ATTEMPTS {
            let mut child = spawn();
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut line = String::new();
                let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
                let _ = tx.send(read);
            });
            match rx.recv_timeout(STARTUP) {
                Ok(read) => {
                    started = Some((child, read.expect("reading the oidc harness's ports")));
                    break;
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    eprintln!(
                        "oidc harness printed nothing within {STARTUP:?} (attempt {attempt} of \
                         {STARTUP_ATTEMPTS}); starting it again"
                    );
                }
            }
        }
        let Some((child, line)) = started else {
            panic!("the oidc harness did not start in {STARTUP_ATTEMPTS} attempts");
        };
        let info: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("oidc harness did not print its ports ({e}): {line:?}"));
        OidcServer {
            child,
            port: info["port"].as_u64().unwrap() as u16,
            proxy_port: info["proxyPort"].as_u64().unwrap() as u16,
            issuer: Url::parse(info["issuer"].as_str().unwrap()).unwrap(),
            client_id,
            client_secret: client_secret.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// The token endpoint behind the counting, fault-injecting proxy.
    pub fn proxied_token_url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/token", self.proxy_port)).unwrap()
    }

    pub async fn proxy_control(&self, path_and_query: &str) {
        let url = format!(
            "http://127.0.0.1:{}/__proxy/{path_and_query}",
            self.proxy_port
        );
        let r = self.http.post(url).send().await.unwrap();
        assert!(r.status().is_success());
    }

    pub async fn provider_control(&self, path_and_query: &str) {
        let url = format!("http://127.0.0.1:{}/__control/{path_and_query}", self.port);
        let r = self.http.post(url).send().await.unwrap();
        assert!(r.status().is_success());
    }

    /// The proxy's counters since the last reset.
    pub async fn stats(&self) -> serde_json::Value {
        let url = format!("http://127.0.0.1:{}/__proxy/stats", self.proxy_port);
        serde_json::from_slice(
            &self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap()
    }

    /// Token requests seen by the proxy since the last reset.
    pub async fn token_requests(&self) -> u64 {
        self.stats().await["tokenRequests"].as_u64().unwrap()
    }

    /// Follows the authorization URL through the scripted login and consent until the
    /// provider redirects to `redirect_uri`; returns that redirect's query string.
    pub async fn drive_authorization(&self, url: &Url, redirect_uri: &str) -> String {
        let mut jar: BTreeMap<String, String> = BTreeMap::new();
        let mut next = url.clone();
        for _ in 0..12 {
            let cookie = jar
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let mut req = self.http.get(next.clone());
            if !cookie.is_empty() {
                req = req.header("cookie", cookie);
            }
            let resp = req.send().await.unwrap();
            for sc in resp.headers().get_all("set-cookie") {
                let text = sc.to_str().unwrap();
                let pair = text.split(';').next().unwrap();
                if let Some((k, v)) = pair.split_once('=') {
                    jar.insert(k.trim().to_string(), v.trim().to_string());
                }
            }
            let status = resp.status();
            assert!(
                status.is_redirection(),
                "expected a redirect, got {status} at {next}"
            );
            let location = resp.headers()["location"].to_str().unwrap().to_string();
            let target = next.join(&location).unwrap();
            if target.as_str().starts_with(redirect_uri) {
                return target.query().unwrap_or("").to_string();
            }
            next = target;
        }
        panic!("the authorization did not reach the redirect URI");
    }
}

/// Writes the `e2e` connector (the hostile component, OAuth at `server` behind its
/// counting proxy, injection into `api`) into `dir/e2e`.
pub fn write_e2e_connector(
    dir: &std::path::Path,
    server: &OidcServer,
    api: &crate::provider::LocalApi,
) {
    let conn = dir.join("e2e");
    std::fs::create_dir_all(&conn).expect("mkdir");
    let manifest = serde_json::json!({
        "key": "e2e",
        "name": "End to end",
        "provider": "oidc",
        "kind": "source",
        "version": "0.1.0",
        "permissions": {
            "http": [format!("http://127.0.0.1:{}/*", api.addr.port())],
            "entities": { "Customer": ["write"] },
            "secrets": {}
        },
        "connection": {
            "settingsSchema": { "type": "object", "properties": {} },
            "oauth": {
                "type": "authorization_code",
                "issuerUrl": server.issuer.as_str(),
                "tokenUrlTemplate": server.proxied_token_url().as_str(),
                "scopes": ["openid", "profile"],
                "client": { "credentialKey": "e2e-app" },
                "postConnect": { "route": "/account", "method": "GET" },
                "exposeAccessToken": false,
                "inject": [{ "url": format!("http://127.0.0.1:{}/*", api.addr.port()) }]
            }
        }
    });
    std::fs::write(
        conn.join("connector.json"),
        serde_json::to_vec_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
    std::fs::copy(crate::components::HOSTILE, conn.join("connector.wasm")).expect("copy component");
}

/// Sets the `e2e` connector's credentials (`client_secret`), creates its connection
/// `e2e-conn` as `keyway connections create` does, and authorizes it with PKCE through
/// `server` (scripted login and consent; the callback's query handed back as a browser
/// would).
pub async fn connect_e2e(
    services: &keyway_host::services::Services,
    server: &OidcServer,
    client_secret: &str,
    redirect: &str,
) {
    use keyway_host::services::{AuthorizationStart, Expected, NewConnectionInput, SettingsInput};
    services
        .set_credentials(
            "e2e-app",
            &server.client_id,
            Some(&secrecy::SecretString::from(client_secret.to_string())),
        )
        .expect("credentials");
    services
        .create_connection(NewConnectionInput {
            auth_option: None,
            name: "e2e-conn".into(),
            connector: "e2e".into(),
            lookup: keyway_host::catalog::Lookup::KeyOnly,
            settings: SettingsInput::default(),
        })
        .expect("connection");
    let back_to = Url::parse(redirect).expect("url");
    let AuthorizationStart::Redirect(request) = services
        .begin_authorization("e2e-conn", &back_to, None)
        .await
        .expect("authorization URL")
    else {
        panic!("an authorization-code connector is sent to the provider");
    };
    let query = server.drive_authorization(&request.url, redirect).await;
    let callback = keyway_host::oauth::CallbackParams::from_query(&query).expect("callback");
    services
        .complete_authorization(&callback, Some(Expected::Connection("e2e-conn")))
        .await
        .expect("code exchange");
}
