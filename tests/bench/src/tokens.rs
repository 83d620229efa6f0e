//! Section 3: the token path. A cached `access_token` from the token manager; an
//! outbound GET through egress with host-side OAuth injection against the same GET made
//! directly with a hyper connection (both kept alive to the same local server); and a
//! refresh round trip against the local `oidc-provider` when its packages are installed.

use crate::Plan;
use crate::injection::{
    DirectClient, FixedToken, TOKEN, loopback_egress, oauth_bindings, server_policy,
};
use crate::report::{Section, Target};
use crate::stats::{Spread, us};
use anyhow::Context;
use keyway_host::egress::{
    Auth, CallLog, EgressContext, EgressLimits, InjectedValues, NoSecrets, OAuthAuth,
    OutboundRequest, RequestCounter,
};
use keyway_host::oauth::{
    self, CallbackParams, FixedProvider, GrantType, ProviderConfig, RefreshPolicy, TokenManager,
};
use keyway_host::redact::{KeptRedactor, Redactor};
use keyway_host::store::{ConnectionRecord, MasterKey, NewConnection, Store, TokenWrite, now_unix};
use keyway_host::types::Method;
use keyway_tests::provider::LocalApi;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A store in `dir` with one connection, `bench`, of credential key `bench-app`.
pub fn store_with_connection(dir: &Path) -> anyhow::Result<(Arc<Store>, ConnectionRecord)> {
    store_with_connection_at(dir, None)
}

/// [`store_with_connection`] on `database` (SQLite in `dir` when `None`).
pub fn store_with_connection_at(
    dir: &Path,
    database: Option<&keyway_host::store::DatabaseUrl>,
) -> anyhow::Result<(Arc<Store>, ConnectionRecord)> {
    let key = MasterKey::generate();
    let store = Arc::new(match database {
        Some(url) => Store::open_with_key_at(dir, url, &key)?,
        None => Store::open_with_key(dir, &key)?,
    });
    let record = store.create_connection(&NewConnection {
        auth_option: None,
        name: "bench".into(),
        connector: "bench".into(),
        credential_key: Some("bench-app".into()),
        settings: serde_json::Map::new(),
        secret_settings: BTreeMap::new(),
    })?;
    Ok((store, record))
}

/// Saves an access token expiring at `expires_at` with a refresh token.
pub fn save_token(store: &Store, id: &str, expires_at: i64) -> anyhow::Result<()> {
    store.save_authorized_tokens(
        id,
        &TokenWrite {
            access_token: SecretString::from(TOKEN),
            refresh_token: Some(SecretString::from("bench-refresh")),
            token_type: Some("Bearer".into()),
            expires_at: Some(expires_at),
            scopes: Some(vec!["read".into()]),
        },
        &["read".into()],
        &BTreeMap::new(),
    )?;
    Ok(())
}

/// A token manager whose every connection uses `provider`.
pub fn manager(store: Arc<Store>, provider: ProviderConfig) -> anyhow::Result<TokenManager> {
    let source = FixedProvider(Arc::new(provider));
    Ok(TokenManager::new(
        store,
        keyway_tests::oidc::loopback_http(Duration::from_secs(10)),
        Arc::new(source),
        RefreshPolicy::default(),
    ))
}

async fn cached(plan: &Plan, dir: &Path) -> anyhow::Result<Duration> {
    let (store, c) = store_with_connection(dir)?;
    save_token(&store, &c.id, now_unix() + 3600)?;
    let provider = ProviderConfig::new(
        GrantType::AuthorizationCode,
        url::Url::parse("http://127.0.0.1:9/token")?,
    );
    let m = manager(store, provider)?;
    let min_ttl = Duration::from_secs(60);
    m.access_token(&c.id, min_ttl).await?;
    let mut per_call = Vec::new();
    for _ in 0..plan.scale(200) {
        let start = Instant::now();
        for _ in 0..1000 {
            black_box(m.access_token(&c.id, min_ttl).await?);
        }
        per_call.push(start.elapsed() / 1000);
    }
    Ok(Spread::of(per_call).median)
}

async fn direct(plan: &Plan, api: &LocalApi) -> anyhow::Result<Spread> {
    let (warmup, runs) = plan.calls();
    let mut client = DirectClient::connect(&api.url("/ok")).await?;
    let mut samples = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let start = Instant::now();
        black_box(client.get().await?);
        if i >= warmup {
            samples.push(start.elapsed());
        }
    }
    Ok(Spread::of(samples))
}

async fn through_egress(plan: &Plan, api: &LocalApi) -> anyhow::Result<Spread> {
    let (warmup, runs) = plan.calls();
    let egress = loopback_egress()?;
    let policy = server_policy(api.addr);
    let limits = EgressLimits {
        max_requests_per_invocation: u32::MAX,
        ..EgressLimits::default()
    };
    let redactor = Redactor::empty();
    let counter = RequestCounter::new();
    let calls = CallLog::new();
    let bindings = oauth_bindings();
    let injected = InjectedValues::new();
    let scrubber = KeptRedactor::default();
    let mut samples = Vec::with_capacity(runs);
    for i in 0..warmup + runs {
        let ctx = EgressContext {
            policy: &policy,
            tokens: Some(&FixedToken),
            app_tokens: &keyway_host::egress::NO_APP_TOKENS,
            secrets: &NoSecrets,
            counter: &counter,
            calls: &calls,
            limits: &limits,
            redactor: &redactor,
            bindings: &bindings,
            injected: &injected,
            scrubber: &scrubber,
        };
        let req = OutboundRequest {
            method: Method::Get,
            url: api.url("/ok"),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
            auth: Auth::OAuth(OAuthAuth {
                min_ttl_seconds: 60,
            }),
        };
        let start = Instant::now();
        let res = egress.send(req, &ctx).await?;
        black_box(res);
        if i >= warmup {
            samples.push(start.elapsed());
        }
        calls.take();
    }
    Ok(Spread::of(samples))
}

/// Median of a refresh round trip (token request and durable commit) against the local
/// `oidc-provider`, or `None` when its packages are not installed.
async fn refresh_round_trip(plan: &Plan, dir: &Path) -> anyhow::Result<Option<Duration>> {
    if !keyway_tests::workspace_root()
        .join("tests/oidc/node_modules")
        .is_dir()
    {
        return Ok(None);
    }
    let redirect = "http://127.0.0.1:9/callback";
    let server = keyway_tests::oidc::OidcServer::start("bench-client-secret", &[redirect], 60);
    let http = keyway_tests::oidc::loopback_http(Duration::from_secs(10));
    let endpoints = oauth::discover(&http, &server.issuer).await?;
    let mut p = ProviderConfig::new(
        GrantType::AuthorizationCode,
        endpoints.token_endpoint.clone(),
    );
    p.apply_discovery(&endpoints, false);
    p.scopes = vec!["openid".into()];
    let (store, c) = store_with_connection(dir)?;
    store.set_credentials(
        "bench-app",
        &server.client_id,
        Some(&SecretString::from("bench-client-secret")),
    )?;
    let redirect_url = url::Url::parse(redirect)?;
    let req = oauth::begin_authorization(&store, &p, &server.client_id, &c, &redirect_url, None)?;
    let query = server.drive_authorization(&req.url, redirect).await;
    let creds = store.credentials("bench-app")?;
    let params = CallbackParams::from_query(&query).context("callback parameters")?;
    oauth::complete_authorization(&store, &http, &p, &creds, &c.id, &params).await?;
    let m = manager(store, p)?;
    let mut t = m.access_token(&c.id, Duration::ZERO).await?;
    let mut times = Vec::new();
    for _ in 0..plan.scale(30) {
        let start = Instant::now();
        t = m.force_refresh(&c.id, t.generation).await?;
        times.push(start.elapsed());
    }
    Ok(Some(Spread::of(times).median))
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dirs = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (cached, direct, egress, refresh) = rt.block_on(async {
        let cached = cached(plan, dirs.0.path()).await?;
        let api = LocalApi::start().await;
        let direct = direct(plan, &api).await?;
        let egress = through_egress(plan, &api).await?;
        let refresh = refresh_round_trip(plan, dirs.1.path()).await?;
        anyhow::Ok((cached, direct, egress, refresh))
    })?;
    let (warmup, runs) = plan.calls();
    let mut section = Section::new(
        "3. Token path",
        &format!(
            "Cached `access_token`: 1000 calls per sample. Outbound GET to a local server, \
             keep-alive, {runs} runs after {warmup} warm-up: through egress (allowlist, \
             address vetting, OAuth injection, caps, call record) against the same request \
             made directly with a hyper connection."
        ),
        &[
            "what",
            "median (µs)",
            "p99 (µs)",
            "added over baseline (µs)",
        ],
    );
    section.row(vec![
        "cached access_token".into(),
        format!("{:.3}", us(cached)),
        "-".into(),
        "-".into(),
    ]);
    section.row(vec![
        "direct hyper GET (baseline)".into(),
        format!("{:.1}", us(direct.median)),
        format!("{:.1}", us(direct.p99)),
        "-".into(),
    ]);
    let added = egress.median.saturating_sub(direct.median);
    section.row(vec![
        "GET through egress with OAuth injection".into(),
        format!("{:.1}", us(egress.median)),
        format!("{:.1}", us(egress.p99)),
        format!("{:.1}", us(added)),
    ]);
    match refresh {
        Some(r) => section.note(format!(
            "A refresh round trip against the local oidc-provider (token request and \
             durable commit): median {:.2} ms.",
            r.as_secs_f64() * 1e3
        )),
        None => section.note("Refresh round trip: skipped (tests/oidc packages not installed)."),
    }
    section.figure("cached_access_token_us", us(cached).into());
    section.figure("direct", direct.json());
    section.figure("egress", egress.json());
    section.figure(
        "refresh_round_trip_ms",
        refresh.map(|r| r.as_secs_f64() * 1e3).into(),
    );
    let targets = vec![
        Target {
            what: "cached access_token".into(),
            target: "< 1 µs".into(),
            measured: format!("{:.0} ns", cached.as_secs_f64() * 1e9),
            met: cached < Duration::from_micros(1),
        },
        Target {
            what: "egress added to an outbound call (median)".into(),
            target: "< 100 µs".into(),
            measured: format!("{:.1} µs", us(added)),
            met: added < Duration::from_micros(100),
        },
    ];
    Ok((section, targets))
}
