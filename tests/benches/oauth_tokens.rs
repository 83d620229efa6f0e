//! Prints the cost of a cached `access_token` (target: under 1 µs median) and of a refresh
//! round trip against the local `oidc-provider` (skipped when Node.js is missing).
//! Run: `cargo bench -p keyway-tests --bench oauth_tokens`.

use keyway_tests::oidc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyway_host::oauth::{
    self, CallbackParams, GrantType, OAuthHttp, ProviderConfig, RefreshPolicy, TokenManager,
};
use keyway_host::store::{ConnectionRecord, MasterKey, NewConnection, Store, TokenWrite, now_unix};
use secrecy::SecretString;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn connection(store: &Store) -> ConnectionRecord {
    store
        .create_connection(&NewConnection {
            name: "bench".into(),
            connector: "bench".into(),
            credential_key: Some("bench-app".into()),
            settings: serde_json::Map::new(),
            secret_settings: BTreeMap::new(),
        })
        .unwrap()
}

fn manager(store: Arc<Store>, p: ProviderConfig) -> TokenManager {
    let p = Arc::new(p);
    let source = move |_: &ConnectionRecord| Ok::<_, String>(p.clone());
    TokenManager::new(
        store,
        OAuthHttp::new(Duration::from_secs(10)).unwrap(),
        Arc::new(source),
        RefreshPolicy::default(),
    )
}

async fn cached(dir: &std::path::Path) {
    let store = Arc::new(Store::open_with_key(dir, &MasterKey::generate()).unwrap());
    let c = connection(&store);
    store
        .save_authorized_tokens(
            &c.id,
            &TokenWrite {
                access_token: SecretString::from("bench-access-token-0123456789abcdef"),
                refresh_token: Some(SecretString::from("bench-refresh")),
                token_type: Some("Bearer".into()),
                expires_at: Some(now_unix() + 3600),
                scopes: Some(vec!["read".into()]),
            },
            &["read".into()],
            &BTreeMap::new(),
        )
        .unwrap();
    let p = ProviderConfig::new(
        GrantType::AuthorizationCode,
        url::Url::parse("http://127.0.0.1:9/token").unwrap(),
    );
    let m = manager(store, p);
    let min_ttl = Duration::from_secs(60);
    m.access_token(&c.id, min_ttl).await.unwrap();
    let mut per_call = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(m.access_token(&c.id, min_ttl).await.unwrap());
        }
        per_call.push(start.elapsed().as_nanos() as f64 / 1000.0);
    }
    println!(
        "cached access_token: median {:.0} ns per call (200 batches of 1000)",
        median(per_call)
    );
}

async fn refresh_round_trip(dir: &std::path::Path) {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("refresh round trip: skipped (Node.js not found)");
        return;
    }
    let redirect = "http://127.0.0.1:9/callback";
    let server = oidc::OidcServer::start("bench-client-secret", &[redirect], 60);
    let http = OAuthHttp::new(Duration::from_secs(10)).unwrap();
    let endpoints = oauth::discover(&http, &server.issuer).await.unwrap();
    let mut p = ProviderConfig::new(
        GrantType::AuthorizationCode,
        endpoints.token_endpoint.clone(),
    );
    p.apply_discovery(&endpoints, false);
    p.scopes = vec!["openid".into()];
    let store = Arc::new(Store::open_with_key(dir, &MasterKey::generate()).unwrap());
    store
        .set_credentials(
            "bench-app",
            &server.client_id,
            Some(&SecretString::from("bench-client-secret")),
        )
        .unwrap();
    let c = connection(&store);
    let req = oauth::begin_authorization(
        &store,
        &p,
        &server.client_id,
        &c,
        &url::Url::parse(redirect).unwrap(),
        None,
    )
    .unwrap();
    let query = server.drive_authorization(&req.url, redirect).await;
    let creds = store.credentials("bench-app").unwrap();
    oauth::complete_authorization(
        &store,
        &http,
        &p,
        &creds,
        &c.id,
        &CallbackParams::from_query(&query).unwrap(),
    )
    .await
    .unwrap();
    let m = manager(store, p);
    let mut t = m.access_token(&c.id, Duration::ZERO).await.unwrap();
    let mut times = Vec::new();
    for _ in 0..30 {
        let start = Instant::now();
        t = m.force_refresh(&c.id, t.generation).await.unwrap();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "refresh round trip (token request + durable commit): median {:.2} ms over 30",
        median(times)
    );
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    rt.block_on(cached(a.path()));
    rt.block_on(refresh_round_trip(b.path()));
}
