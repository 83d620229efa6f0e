//! End-to-end OAuth custody tests against a real authorization server (`oidc-provider` from
//! `tests/oidc`, on loopback) and a real store (SQLite or PostgreSQL: `backend.rs`):
//! authorization code with PKCE, state and code replay, refresh with rotation, single
//! flight, revocation, outages, crash safety, and that no canary secret reaches the
//! database or a log line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use keyway_host::oauth::client::{self, RevokeKind};
use keyway_host::oauth::{
    self, AuthorizeError, CallbackParams, ClientAuthMethod, FixedProvider, GrantType, OAuthHttp,
    ProviderConfig, RefreshPolicy, TokenError, TokenManager,
};
use keyway_host::store::{
    ClientCredentials, ConnectionRecord, ConnectionStatus, MasterKey, NewConnection, Store,
};
use keyway_tests::backend;
use keyway_tests::oidc::OidcServer;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const CLIENT_SECRET: &str = "canary-client-secret-5f1c9a";
const SECRET_SETTING: &str = "canary-secret-setting-77d0e2";
const CRED_KEY: &str = "e2e-app";

struct Fixture {
    server: OidcServer,
    _dir: tempfile::TempDir,
    data_dir: std::path::PathBuf,
    key: MasterKey,
    store: Arc<Store>,
    provider: ProviderConfig,
    http: OAuthHttp,
    conn: ConnectionRecord,
}

impl Drop for Fixture {
    /// Leaves the store and the tokens it holds for the suite's canary sweep: the
    /// provider's tokens are random, so they are registered by value.
    fn drop(&mut self) {
        if let Ok(Some(t)) = self.store.tokens(&self.conn.id) {
            keyway_tests::artifacts::canary(t.access_token.expose_secret());
            if let Some(rt) = &t.refresh_token {
                keyway_tests::artifacts::canary(rt.expose_secret());
            }
        }
        keyway_tests::artifacts::keep_store("oauth-e2e", &self.data_dir);
    }
}

fn provider_for(server: &OidcServer, endpoints: &oauth::OidcEndpoints) -> ProviderConfig {
    let mut p = ProviderConfig::new(GrantType::AuthorizationCode, server.proxied_token_url());
    p.apply_discovery(endpoints, false);
    p.scopes = vec!["openid".into(), "profile".into()];
    p.required_scopes = vec!["openid".into()];
    p.client_auth = ClientAuthMethod::Basic;
    p
}

async fn fixture(access_ttl: u64) -> Fixture {
    keyway_tests::logs::capture();
    let server = OidcServer::start(CLIENT_SECRET, &[REDIRECT], access_ttl);
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let key = MasterKey::generate();
    let store = Arc::new(backend::open_store(&data_dir, &key));
    let http = keyway_tests::oidc::loopback_http(Duration::from_secs(10));
    let endpoints = oauth::discover(&http, &server.issuer).await.unwrap();
    assert!(endpoints.revocation_endpoint.is_some());
    let provider = provider_for(&server, &endpoints);
    store
        .set_credentials(
            CRED_KEY,
            &server.client_id,
            Some(&SecretString::from(CLIENT_SECRET)),
        )
        .unwrap();
    let mut secret_settings = BTreeMap::new();
    secret_settings.insert("apiKey".to_string(), SecretString::from(SECRET_SETTING));
    let conn = store
        .create_connection(&NewConnection {
            auth_option: None,
            name: "e2e".into(),
            connector: "connectors/hello".into(),
            credential_key: Some(CRED_KEY.into()),
            settings: serde_json::Map::new(),
            secret_settings,
        })
        .unwrap();
    Fixture {
        server,
        _dir: dir,
        data_dir,
        key,
        store,
        provider,
        http,
        conn,
    }
}

impl Fixture {
    fn creds(&self) -> ClientCredentials {
        self.store.credentials(CRED_KEY).unwrap()
    }

    async fn callback(&self) -> CallbackParams {
        let redirect = url::Url::parse(REDIRECT).unwrap();
        let req = oauth::begin_authorization(
            &self.store,
            &self.provider,
            &self.server.client_id,
            &self.conn,
            &redirect,
            None,
        )
        .unwrap();
        let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        let query = self.server.drive_authorization(&req.url, REDIRECT).await;
        CallbackParams::from_query(&query).unwrap()
    }

    async fn authorize(&self) -> oauth::AuthorizationOutcome {
        let cb = self.callback().await;
        oauth::complete_authorization(
            &self.store,
            &self.http,
            &self.provider,
            &self.creds(),
            &self.conn.id,
            &cb,
        )
        .await
        .unwrap()
    }

    fn manager(&self, policy: RefreshPolicy) -> TokenManager {
        let source = FixedProvider(Arc::new(self.provider.clone()));
        TokenManager::new(
            self.store.clone(),
            self.http.clone(),
            Arc::new(source),
            policy,
        )
    }

    /// Marks the stored access token as expired, as a second process would see it.
    fn expire_token(&self) {
        self.sql(&format!(
            "UPDATE tokens SET expires_at = 1 WHERE connection_id = {}",
            backend::literal(&self.conn.id)
        ));
    }

    /// Runs `sql` on the store's database past the store, as another process would.
    fn sql(&self, sql: &str) {
        backend::query(&self.data_dir, sql);
    }

    fn status(&self) -> ConnectionStatus {
        self.store.connection_by_id(&self.conn.id).unwrap().status
    }
}

fn fast_policy() -> RefreshPolicy {
    RefreshPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(2),
        cooldown: Duration::from_secs(60),
        lease_ttl: Duration::from_secs(30),
        lease_poll: Duration::from_millis(50),
    }
}

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn authorize_with_pkce_then_refresh_with_rotation() {
    let f = fixture(60).await;
    let outcome = f.authorize().await;
    assert!(outcome.granted_scopes.contains(&"openid".to_string()));
    assert!(outcome.missing_scopes.is_empty());
    assert!(outcome.has_refresh_token);
    assert!(outcome.expires_at.is_some());
    assert_eq!(f.status(), ConnectionStatus::Connected);
    let first = f.store.tokens(&f.conn.id).unwrap().unwrap();
    let rt1 = first.refresh_token.clone().unwrap();

    let m = f.manager(fast_policy());
    // Cached path: a fresh token is handed out without a token request.
    f.server.proxy_control("reset").await;
    let t = m
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(t.expose(), first.access_token.expose_secret());
    assert_eq!(f.server.token_requests().await, 0);

    // A 401 from an API forces one refresh; the refresh token rotates.
    let t2 = m.force_refresh(&f.conn.id, t.generation).await.unwrap();
    assert_ne!(t2.expose(), t.expose());
    assert_eq!(f.server.token_requests().await, 1);
    let second = f.store.tokens(&f.conn.id).unwrap().unwrap();
    let rt2 = second.refresh_token.clone().unwrap();
    assert_ne!(
        rt1.expose_secret(),
        rt2.expose_secret(),
        "refresh token rotated"
    );
    assert_eq!(second.access_token.expose_secret(), t2.expose());
    let rec = f.store.connection_by_id(&f.conn.id).unwrap();
    assert!(rec.last_refresh_at.is_some());

    // A second force with the same stale generation shares the refresh already done.
    let t3 = m.force_refresh(&f.conn.id, t.generation).await.unwrap();
    assert_eq!(t3.expose(), t2.expose());
    assert_eq!(f.server.token_requests().await, 1);

    // A 401 for the fresh token too, within the minimum interval between forced
    // refreshes: no second refresh at the provider, the current token comes back as it is.
    let t4 = m.force_refresh(&f.conn.id, t2.generation).await.unwrap();
    assert_eq!(t4.expose(), t2.expose());
    assert_eq!(f.server.token_requests().await, 1);

    // The rotated-out refresh token is dead at the provider.
    let err = client::refresh(&f.http, &f.provider, &f.creds(), &rt1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, oauth::Failure::GrantRevoked { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn client_secret_post_auth_method_works() {
    let mut f = fixture(60).await;
    f.store
        .set_credentials(
            CRED_KEY,
            &format!("{}-post", f.server.client_id),
            Some(&SecretString::from(CLIENT_SECRET)),
        )
        .unwrap();
    f.provider.client_auth = ClientAuthMethod::Post;
    let redirect = url::Url::parse(REDIRECT).unwrap();
    let req = oauth::begin_authorization(
        &f.store,
        &f.provider,
        &format!("{}-post", f.server.client_id),
        &f.conn,
        &redirect,
        None,
    )
    .unwrap();
    let query = f.server.drive_authorization(&req.url, REDIRECT).await;
    let cb = CallbackParams::from_query(&query).unwrap();
    oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id, &cb)
        .await
        .unwrap();
    // The refresh authenticates in the form body, not with HTTP Basic.
    f.server.proxy_control("reset").await;
    let rt = f
        .store
        .tokens(&f.conn.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    client::refresh(&f.http, &f.provider, &f.creds(), &rt)
        .await
        .unwrap();
    let stats = f.server.stats().await;
    assert_eq!(stats["clientAuth"]["post"], 1, "{stats}");
    assert!(stats["clientAuth"]["basic"].is_null(), "{stats}");
}

#[tokio::test]
async fn wrong_or_replayed_state_is_refused() {
    let f = fixture(60).await;
    let cb = f.callback().await;
    let code = cb.get("code").unwrap().to_string();
    let state = cb.get("state").unwrap().to_string();

    let wrong = CallbackParams::from_query(&format!("code={code}&state=not-{state}")).unwrap();
    let err = oauth::complete_authorization(
        &f.store,
        &f.http,
        &f.provider,
        &f.creds(),
        &f.conn.id,
        &wrong,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthorizeError::UnknownState), "{err}");
    assert!(!err.to_string().contains(&code));

    let missing = CallbackParams::from_query(&format!("code={code}")).unwrap();
    let err = oauth::complete_authorization(
        &f.store,
        &f.http,
        &f.provider,
        &f.creds(),
        &f.conn.id,
        &missing,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthorizeError::MissingState), "{err}");
    assert_eq!(f.status(), ConnectionStatus::PendingAuthorization);

    oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id, &cb)
        .await
        .unwrap();
    let err =
        oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id, &cb)
            .await
            .unwrap_err();
    assert!(
        matches!(err, AuthorizeError::UnknownState),
        "replayed state: {err}"
    );

    // A state issued for one connection does not complete another.
    let other = f
        .store
        .create_connection(&NewConnection {
            auth_option: None,
            name: "other".into(),
            connector: "connectors/hello".into(),
            credential_key: Some(CRED_KEY.into()),
            settings: serde_json::Map::new(),
            secret_settings: BTreeMap::new(),
        })
        .unwrap();
    let cb2 = f.callback().await;
    let err =
        oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &other.id, &cb2)
            .await
            .unwrap_err();
    assert!(
        matches!(err, AuthorizeError::StateForOtherConnection),
        "{err}"
    );
}

#[tokio::test]
async fn replayed_code_fails_cleanly() {
    let f = fixture(60).await;
    let cb = f.callback().await;
    let code = cb.get("code").unwrap().to_string();
    oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id, &cb)
        .await
        .unwrap();
    let before = f.store.tokens(&f.conn.id).unwrap().unwrap();

    // A fresh, valid state paired with the already-used code.
    let cb2 = f.callback().await;
    let replay =
        CallbackParams::from_query(&format!("code={code}&state={}", cb2.get("state").unwrap()))
            .unwrap();
    let err = oauth::complete_authorization(
        &f.store,
        &f.http,
        &f.provider,
        &f.creds(),
        &f.conn.id,
        &replay,
    )
    .await
    .unwrap_err();
    match &err {
        AuthorizeError::Exchange(oauth::Failure::GrantRevoked { error, .. }) => {
            assert_eq!(error, "invalid_grant")
        }
        other => panic!("expected invalid_grant, got {other}"),
    }
    assert!(!err.to_string().contains(&code));
    // The stored tokens were not touched by the failed exchange.
    let after = f.store.tokens(&f.conn.id).unwrap().unwrap();
    assert_eq!(before.generation, after.generation);
}

#[tokio::test]
async fn provider_error_on_callback_is_reported_with_description() {
    let f = fixture(60).await;
    f.server.provider_control("deny-next").await;
    let cb = f.callback().await;
    assert_eq!(cb.get("error"), Some("access_denied"));
    let err =
        oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id, &cb)
            .await
            .unwrap_err();
    assert!(
        matches!(err, AuthorizeError::ProviderDenied { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("access_denied"));
    assert!(err.to_string().contains("declined"), "{err}");
    assert_eq!(f.status(), ConnectionStatus::PendingAuthorization);
}

#[tokio::test]
async fn missing_required_scopes_are_reported() {
    let mut f = fixture(60).await;
    f.provider.required_scopes = vec!["openid".into(), "profile".into()];
    // The operator narrows the scopes below what the connector requires.
    let redirect = url::Url::parse(REDIRECT).unwrap();
    let req = oauth::begin_authorization(
        &f.store,
        &f.provider,
        &f.server.client_id,
        &f.conn,
        &redirect,
        Some(vec!["openid".into()]),
    )
    .unwrap();
    let query = f.server.drive_authorization(&req.url, REDIRECT).await;
    let cb = CallbackParams::from_query(&query).unwrap();
    let outcome =
        oauth::complete_authorization(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id, &cb)
            .await
            .unwrap();
    assert_eq!(outcome.granted_scopes, vec!["openid".to_string()]);
    assert_eq!(outcome.missing_scopes, vec!["profile".to_string()]);
    let m = f.manager(fast_policy());
    let err = m
        .access_token(&f.conn.id, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "missing-scopes");
    assert!(err.to_string().contains("profile"));
}

#[tokio::test]
async fn two_hundred_concurrent_calls_on_an_expired_token_make_one_token_request() {
    let f = fixture(60).await;
    f.authorize().await;
    f.expire_token();
    f.server.proxy_control("reset").await;
    let m = Arc::new(f.manager(fast_policy()));
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let m = m.clone();
        let id = f.conn.id.clone();
        tasks.push(tokio::spawn(async move {
            m.access_token(&id, Duration::from_secs(10)).await
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap().unwrap().expose().to_string());
    }
    assert_eq!(tokens.len(), 1, "every caller got the same refreshed token");
    assert_eq!(f.server.token_requests().await, 1);
}

#[tokio::test]
async fn revoked_grant_gives_reauth_required() {
    let f = fixture(60).await;
    f.authorize().await;
    let rt = f
        .store
        .tokens(&f.conn.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    // The user revokes the app at the provider.
    let url = f.provider.revocation_url.clone().unwrap();
    client::revoke(
        &f.http,
        &f.provider,
        &f.creds(),
        &url,
        &rt,
        RevokeKind::Refresh,
    )
    .await
    .unwrap();
    f.expire_token();
    let m = f.manager(fast_policy());
    let err = m
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::ReauthRequired { .. }), "{err}");
    assert_eq!(err.code(), "reauth-required");
    assert_eq!(f.status(), ConnectionStatus::ReauthRequired);
    let rec = f.store.connection_by_id(&f.conn.id).unwrap();
    assert!(rec.last_error.unwrap().contains("invalid_grant"));
    // No more token requests for a connection that needs a person.
    f.server.proxy_control("reset").await;
    assert!(
        m.access_token(&f.conn.id, Duration::from_secs(10))
            .await
            .is_err()
    );
    assert_eq!(f.server.token_requests().await, 0);
}

#[tokio::test]
async fn token_endpoint_outage_gives_provider_unavailable_and_stays_connected() {
    let f = fixture(60).await;
    f.authorize().await;
    f.expire_token();
    f.server.proxy_control("reset").await;
    f.server.proxy_control("fault?status=503&count=1000").await;
    let m = f.manager(fast_policy());
    let err = m
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TokenError::ProviderUnavailable { .. }),
        "{err}"
    );
    assert_eq!(err.code(), "provider-unavailable");
    assert_eq!(f.server.token_requests().await, 3, "bounded retries");
    assert_eq!(f.status(), ConnectionStatus::Connected);
    let rec = f.store.connection_by_id(&f.conn.id).unwrap();
    assert!(rec.cooldown_until.is_some());
    assert!(rec.last_error.unwrap().contains("503"));
    // In the cooldown no request goes out.
    let err = m
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "provider-unavailable");
    assert_eq!(f.server.token_requests().await, 3);
    // The refresh token survived the outage: once the provider is back and the cooldown is
    // over, the refresh works.
    f.server.proxy_control("reset").await;
    f.sql("UPDATE connections SET cooldown_until = NULL");
    m.access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(f.status(), ConnectionStatus::Connected);
}

#[tokio::test]
async fn retry_after_longer_than_the_cap_stops_retries_and_sets_the_cooldown() {
    let f = fixture(60).await;
    f.authorize().await;
    f.expire_token();
    f.server.proxy_control("reset").await;
    f.server
        .proxy_control("fault?status=429&count=1000&retryAfter=120")
        .await;
    let m = f.manager(fast_policy());
    let err = m
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap_err();
    match err {
        TokenError::ProviderUnavailable { retry_after, .. } => {
            assert_eq!(retry_after, Some(Duration::from_secs(120)))
        }
        other => panic!("{other}"),
    }
    assert_eq!(f.server.token_requests().await, 1);
    assert_eq!(f.status(), ConnectionStatus::Connected);
}

/// Child side of the crash tests: refreshes through a store of its own, prints what it got,
/// and then waits to be killed.
#[tokio::test]
async fn crash_child() {
    let Ok(data_dir) = std::env::var("KEYWAY_E2E_CHILD_DIR") else {
        return;
    };
    let key =
        MasterKey::from_base64(&std::env::var("KEYWAY_E2E_CHILD_KEY").unwrap(), "key").unwrap();
    // On PostgreSQL, the parent's database (this process has no cluster of its own).
    if let Ok(url) = std::env::var("KEYWAY_E2E_CHILD_DB") {
        backend::adopt(Path::new(&data_dir), &url);
    }
    let store = Arc::new(backend::open_store(Path::new(&data_dir), &key));
    let token_url = url::Url::parse(&std::env::var("KEYWAY_E2E_CHILD_TOKEN_URL").unwrap()).unwrap();
    let conn_id = std::env::var("KEYWAY_E2E_CHILD_CONN").unwrap();
    let p = Arc::new(ProviderConfig::new(GrantType::AuthorizationCode, token_url));
    let source = FixedProvider(p);
    let mut policy = fast_policy();
    policy.lease_ttl = Duration::from_secs(2);
    let m = TokenManager::new(
        store,
        keyway_tests::oidc::loopback_http(Duration::from_secs(60)),
        Arc::new(source),
        policy,
    );
    println!("CHILD_READY");
    let t = m
        .access_token(&conn_id, Duration::from_secs(10))
        .await
        .unwrap();
    println!("CHILD_TOKEN {}", sha(t.expose()));
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
}

fn spawn_child(f: &Fixture) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env_remove("KEYWAY_E2E_CHILD_DB");
    if let Some(url) = backend::database_for(&f.data_dir) {
        cmd.env("KEYWAY_E2E_CHILD_DB", url);
    }
    let mut child = cmd
        .env("KEYWAY_E2E_CHILD_DIR", &f.data_dir)
        .env("KEYWAY_E2E_CHILD_KEY", f.key.to_base64())
        .env("KEYWAY_E2E_CHILD_TOKEN_URL", f.provider.token_url.as_str())
        .env("KEYWAY_E2E_CHILD_CONN", &f.conn.id)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_line(rx: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("child never printed {prefix}"));
        // libtest may print its own `test name ... ` on the same line.
        if let Some((_, rest)) = line.split_once(prefix) {
            return rest.trim().to_string();
        }
    }
}

#[tokio::test]
async fn rotated_refresh_token_is_durable_before_the_access_token_is_returned() {
    let f = fixture(60).await;
    f.authorize().await;
    let rt1 = f
        .store
        .tokens(&f.conn.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    f.expire_token();
    let (mut child, rx) = spawn_child(&f);
    let handed_out = wait_line(&rx, "CHILD_TOKEN");
    // Kill the process the instant it has handed out the token: no clean shutdown.
    child.kill().unwrap();
    child.wait().unwrap();

    // A new process (here: a new store handle) sees exactly the token that was handed out,
    // with the rotated refresh token next to it.
    let reopened = Arc::new(backend::open_store(&f.data_dir, &f.key));
    let t = reopened.tokens(&f.conn.id).unwrap().unwrap();
    assert_eq!(sha(t.access_token.expose_secret()), handed_out);
    let rt2 = t.refresh_token.clone().unwrap();
    assert_ne!(rt2.expose_secret(), rt1.expose_secret());
    // And that refresh token is the live one at the provider.
    let m = f.manager(fast_policy());
    m.force_refresh(&f.conn.id, t.generation).await.unwrap();
    assert_eq!(f.status(), ConnectionStatus::Connected);
}

#[tokio::test]
async fn killing_a_process_mid_refresh_loses_no_refresh_token() {
    let f = fixture(60).await;
    f.authorize().await;
    let before = f.store.tokens(&f.conn.id).unwrap().unwrap();
    f.expire_token();
    f.server.proxy_control("reset").await;
    f.server.proxy_control("hold").await;
    let (mut child, rx) = spawn_child(&f);
    wait_line(&rx, "CHILD_READY");
    // Wait until the child's refresh request is parked at the proxy, then kill the child
    // while it holds the refresh lease.
    for _ in 0..600 {
        if f.server.token_requests().await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.server.token_requests().await, 1);
    child.kill().unwrap();
    child.wait().unwrap();
    f.server.proxy_control("drop").await;

    let after_kill = f.store.tokens(&f.conn.id).unwrap().unwrap();
    assert_eq!(after_kill.generation, before.generation);
    assert_eq!(
        after_kill.refresh_token.as_ref().unwrap().expose_secret(),
        before.refresh_token.as_ref().unwrap().expose_secret()
    );
    // Another process takes over once the dead holder's lease runs out, and the refresh
    // token still works.
    let m = f.manager(fast_policy());
    let t = m
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_ne!(t.expose(), before.access_token.expose_secret());
    assert_eq!(f.status(), ConnectionStatus::Connected);
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn database_and_logs_hold_no_canary_secret() {
    let f = fixture(60).await;
    f.authorize().await;
    let first = f.store.tokens(&f.conn.id).unwrap().unwrap();
    let m = f.manager(fast_policy());
    let t = m.force_refresh(&f.conn.id, first.generation).await.unwrap();
    let second = f.store.tokens(&f.conn.id).unwrap().unwrap();
    // Exercise an error path too.
    f.expire_token();
    f.server.proxy_control("fault?status=503&count=3").await;
    let _ = f
        .manager(fast_policy())
        .access_token(&f.conn.id, Duration::from_secs(10))
        .await;
    f.store.rotate_key(&MasterKey::generate()).unwrap();

    let mut canaries = vec![
        CLIENT_SECRET.to_string(),
        SECRET_SETTING.to_string(),
        first.access_token.expose_secret().to_string(),
        first
            .refresh_token
            .clone()
            .unwrap()
            .expose_secret()
            .to_string(),
        second.access_token.expose_secret().to_string(),
        second
            .refresh_token
            .clone()
            .unwrap()
            .expose_secret()
            .to_string(),
        t.expose().to_string(),
    ];
    canaries.dedup();
    let bytes = backend::stored_bytes(&f.data_dir);
    assert!(
        contains(&bytes, "connectors/hello"),
        "the database was read"
    );
    for c in &canaries {
        assert!(
            !contains(&bytes, c),
            "a canary secret is in the database in plain text"
        );
    }
    let log = keyway_tests::logs::captured().into_bytes();
    assert!(
        contains(&log, "token refresh failed; retrying"),
        "the log capture sees the host's events"
    );
    for c in &canaries {
        assert!(!contains(&log, c), "a canary secret is in a log line");
    }
    for c in &canaries {
        assert!(!format!("{first:?} {second:?} {t:?} {:?}", f.creds()).contains(c.as_str()));
    }
}

#[tokio::test]
async fn revoke_calls_the_provider_and_keeps_the_connection() {
    let f = fixture(60).await;
    f.authorize().await;
    let rt = f
        .store
        .tokens(&f.conn.id)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    let outcome =
        oauth::revoke_connection(&f.store, &f.http, &f.provider, Some(&f.creds()), &f.conn.id)
            .await
            .unwrap();
    assert_eq!(outcome, oauth::ProviderRevocation::Revoked);
    assert!(f.store.tokens(&f.conn.id).unwrap().is_none());
    assert_eq!(f.status(), ConnectionStatus::Revoked);
    let err = client::refresh(&f.http, &f.provider, &f.creds(), &rt)
        .await
        .unwrap_err();
    assert!(
        matches!(err, oauth::Failure::GrantRevoked { .. }),
        "{err:?}"
    );
    let m = f.manager(fast_policy());
    let err = m
        .access_token(&f.conn.id, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, TokenError::NotConnected { .. }), "{err}");
}

#[tokio::test]
async fn background_pass_refreshes_expiring_and_idle_tokens() {
    let f = fixture(60).await;
    f.authorize().await;
    let m = f.manager(fast_policy());
    let opts = oauth::background::BackgroundOptions {
        interval: Duration::from_secs(3600),
        refresh_ahead: Duration::from_secs(300),
        idle_exercise_after: None,
    };
    f.server.proxy_control("reset").await;
    // A fresh 60 s token lives less than twice the 300 s window: due at half its life,
    // so a pass right after it was issued leaves it alone.
    let report = oauth::background::run_once(&m, &opts).await;
    assert!(report.refreshed.is_empty(), "{report:?}");
    assert_eq!(f.server.token_requests().await, 0);
    // Issued long ago, the same token expires within the window and is refreshed.
    f.sql("UPDATE tokens SET obtained_at = 1");
    let report = oauth::background::run_once(&m, &opts).await;
    assert_eq!(report.refreshed, vec![f.conn.id.clone()]);
    assert_eq!(f.server.token_requests().await, 1);
    // Idle exercise: a token that is fresh but whose refresh token was last used long ago.
    let opts = oauth::background::BackgroundOptions {
        interval: Duration::from_secs(3600),
        refresh_ahead: Duration::from_secs(0),
        idle_exercise_after: Some(Duration::from_secs(3600)),
    };
    f.sql("UPDATE connections SET last_refresh_at = 1");
    let report = oauth::background::run_once(&m, &opts).await;
    assert_eq!(report.exercised, vec![f.conn.id.clone()]);
    assert_eq!(f.server.token_requests().await, 2);
}

#[tokio::test]
async fn client_credentials_connect_and_refresh() {
    let mut f = fixture(60).await;
    f.provider.grant_type = GrantType::ClientCredentials;
    f.provider.scopes = vec![];
    f.provider.required_scopes = vec![];
    let outcome =
        oauth::connect_client_credentials(&f.store, &f.http, &f.provider, &f.creds(), &f.conn.id)
            .await
            .unwrap();
    assert!(!outcome.has_refresh_token);
    assert_eq!(f.status(), ConnectionStatus::Connected);
    f.expire_token();
    f.server.proxy_control("reset").await;
    let m = f.manager(fast_policy());
    m.access_token(&f.conn.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(f.server.token_requests().await, 1);
}
