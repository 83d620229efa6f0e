//! Section 4: the refresh stampede. 1,000 concurrent tasks ask the token manager for the
//! token of one connection whose access token has expired; a local token endpoint that
//! takes a provider-like 50 ms per answer counts the refresh requests it receives. The
//! baseline is one caller alone doing the same refresh, in the same run.

use crate::Plan;
use crate::local::TokenEndpoint;
use crate::report::{Section, Target};
use crate::stats::{Spread, ms, ratio};
use crate::tokens::{manager, save_token, store_with_connection};
use anyhow::{Context, bail};
use keyway_host::oauth::{GrantType, ProviderConfig};
use keyway_host::store::now_unix;
use secrecy::SecretString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CALLERS: usize = 1000;
const PROVIDER_DELAY: Duration = Duration::from_millis(50);

struct Outcome {
    /// Until every caller had its token.
    all_done: Duration,
    /// Each caller's own wait.
    waits: Vec<Duration>,
    token_requests: usize,
    distinct_tokens: usize,
}

async fn stampede(dir: &Path, callers: usize) -> anyhow::Result<Outcome> {
    let endpoint = TokenEndpoint::start(PROVIDER_DELAY).await?;
    let (store, c) = store_with_connection(dir)?;
    store.set_credentials(
        "bench-app",
        "bench-client",
        Some(&SecretString::from("bench-client-secret")),
    )?;
    save_token(&store, &c.id, now_unix() - 60)?;
    let provider = ProviderConfig::new(
        GrantType::AuthorizationCode,
        url::Url::parse(&endpoint.url())?,
    );
    let m = Arc::new(manager(store, provider)?);
    let id: Arc<str> = Arc::from(c.id.as_str());
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let m = m.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let t = m.access_token(&id, Duration::from_secs(60)).await;
                (t, started.elapsed())
            })
        })
        .collect();
    let mut waits = Vec::with_capacity(callers);
    let mut tokens = std::collections::HashSet::new();
    for task in tasks {
        let (token, waited) = task.await.context("a caller panicked")?;
        let token = token.map_err(|e| anyhow::anyhow!("a caller got no token: {e}"))?;
        tokens.insert(token.expose().to_string());
        waits.push(waited);
    }
    Ok(Outcome {
        all_done: started.elapsed(),
        waits,
        token_requests: endpoint.requests(),
        distinct_tokens: tokens.len(),
    })
}

pub fn run(_plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dirs = (tempfile::tempdir()?, tempfile::tempdir()?);
    let alone = rt.block_on(stampede(dirs.0.path(), 1))?;
    let crowd = rt.block_on(stampede(dirs.1.path(), CALLERS))?;
    if crowd.distinct_tokens != 1 {
        bail!(
            "the {CALLERS} callers got {} different tokens",
            crowd.distinct_tokens
        );
    }
    let waits = Spread::of(crowd.waits.clone());
    let mut section = Section::new(
        "4. Refresh stampede",
        &format!(
            "{CALLERS} concurrent tasks (multi-thread runtime) ask for the token of one \
             connection whose access token expired a minute ago. The token endpoint answers \
             after {} ms and counts requests. Baseline: one caller alone.",
            PROVIDER_DELAY.as_millis()
        ),
        &[
            "callers",
            "token requests",
            "until all have a token (ms)",
            "median wait (ms)",
            "p99 wait (ms)",
            "vs one caller",
        ],
    );
    section.row(vec![
        "1 (baseline)".into(),
        alone.token_requests.to_string(),
        format!("{:.1}", ms(alone.all_done)),
        format!("{:.1}", ms(alone.all_done)),
        format!("{:.1}", ms(alone.all_done)),
        "1x".into(),
    ]);
    section.row(vec![
        CALLERS.to_string(),
        crowd.token_requests.to_string(),
        format!("{:.1}", ms(crowd.all_done)),
        format!("{:.1}", ms(waits.median)),
        format!("{:.1}", ms(waits.p99)),
        ratio(ms(crowd.all_done), ms(alone.all_done)),
    ]);
    section.note(
        "Measured at the token manager, where the single flight lives: a guest's \
         `OAuth.accessToken` and the host's injection both reach it through the connection's \
         token source.",
    );
    section.figure(
        "callers",
        serde_json::json!({
            "alone_ms": ms(alone.all_done),
            "crowd_ms": ms(crowd.all_done),
            "crowd_token_requests": crowd.token_requests,
            "crowd_waits": waits.json(),
        }),
    );
    let targets = vec![Target {
        what: format!("token requests for {CALLERS} concurrent callers on an expired token"),
        target: "1".into(),
        measured: format!(
            "{} (all had their token after {:.1} ms)",
            crowd.token_requests,
            ms(crowd.all_done)
        ),
        met: crowd.token_requests == 1,
    }];
    Ok((section, targets))
}
