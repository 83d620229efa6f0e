//! Section 7: a route invocation in process whose guest makes one outbound GET with
//! host-side OAuth injection (the `hostile` test component's `GET /http?auth=oauth`, the
//! shape of a `/me` or test-connection route) to a local server answering a small JSON,
//! against the same GET made directly with a kept-alive hyper connection. For reading, the
//! same component's `POST /answer` (the same JSON, no outbound call) shows what the
//! instance alone costs. The three alternate call by call in the same run, so a noisy
//! moment hits all of them.

use crate::Plan;
use crate::injection::{DirectClient, FixedToken, loopback_egress, oauth_bindings, server_policy};
use crate::local::{ME_JSON, start_me_api};
use crate::report::{Section, Target};
use crate::stats::{Spread, ratio, us};
use anyhow::ensure;
use keyway_host::context::{ConnectionContext, Grants};
use keyway_host::egress::EgressLimits;
use keyway_host::runtime::{LoadedComponent, RouteRequest, Runtime, RuntimeConfig};
use keyway_host::types::Method;
use keyway_tests::components;
use serde_json::Value;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The target: the route at most this many times the direct call (median).
const TARGET_RATIO: f64 = 1.3;

/// A stored connection's context as the registry builds it for an OAuth connector in
/// strict custody: the server's URL allowed, one injection rule, a token source.
fn context(api: SocketAddr) -> anyhow::Result<ConnectionContext> {
    let grants = Grants {
        has_oauth: true,
        expose_access_token: false,
        ..Grants::default()
    };
    Ok(ConnectionContext::builder("hostile")
        .connection("bench")
        .grants(grants)
        .http_policy(Arc::new(server_policy(api)))
        .bindings(oauth_bindings())
        .egress(Arc::new(loopback_egress()?), EgressLimits::default())
        .tokens(Arc::new(FixedToken))
        .build())
}

fn route_request(url: &str) -> RouteRequest {
    let mut req = RouteRequest::new(Method::Get, "/http");
    req.query = vec![("url".into(), url.into()), ("auth".into(), "oauth".into())];
    req
}

/// One route call; what the guest reported (the provider's status and body).
async fn through_route(
    component: &LoadedComponent,
    ctx: &ConnectionContext,
    url: &str,
) -> anyhow::Result<Value> {
    let res = component.invoke(ctx, route_request(url)).await?;
    ensure!(res.status == 200, "the route answered {}", res.status);
    Ok(serde_json::from_slice(&res.body)?)
}

/// The same component answering the same JSON with no outbound call.
async fn without_call(
    component: &LoadedComponent,
    ctx: &ConnectionContext,
) -> anyhow::Result<Vec<u8>> {
    let mut req = RouteRequest::new(Method::Post, "/answer");
    req.body = serde_json::to_vec(&serde_json::json!({ "status": 200, "body": ME_JSON }))?;
    let res = component.invoke(ctx, req).await?;
    ensure!(res.status == 200, "POST /answer answered {}", res.status);
    Ok(res.body)
}

/// Every path reaches the server and read its JSON before anything is timed.
async fn check(
    component: &LoadedComponent,
    ctx: &ConnectionContext,
    direct: &mut DirectClient,
    url: &str,
) -> anyhow::Result<()> {
    let v = through_route(component, ctx, url).await?;
    ensure!(
        v["ok"] == true && v["value"]["status"] == 200 && v["value"]["body"] == ME_JSON,
        "the route's outbound call did not get the JSON: {v}"
    );
    let body = without_call(component, ctx).await?;
    ensure!(
        body == ME_JSON.as_bytes(),
        "POST /answer did not echo the JSON"
    );
    let (status, body) = direct.get().await?;
    ensure!(
        status == 200 && body.as_ref() == ME_JSON.as_bytes(),
        "the direct GET answered {status}"
    );
    Ok(())
}

/// Medians and p99s of: the route with the call, the direct GET, the route without it.
async fn measure(plan: &Plan) -> anyhow::Result<[Spread; 3]> {
    let (warmup, runs) = plan.calls();
    let api = start_me_api().await?;
    let url = format!("http://{api}/me");
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let hostile = runtime
        .load_component("hostile", Path::new(components::HOSTILE))
        .await?;
    let ctx = context(api)?;
    let mut direct = DirectClient::connect(&url).await?;
    check(&hostile, &ctx, &mut direct, &url).await?;
    let mut times: [Vec<Duration>; 3] = Default::default();
    for i in 0..warmup + runs {
        // Which goes first rotates, so none always follows another's work.
        for which in [i % 3, (i + 1) % 3, (i + 2) % 3] {
            let start = Instant::now();
            match which {
                0 => drop(black_box(through_route(&hostile, &ctx, &url).await?)),
                1 => drop(black_box(direct.get().await?)),
                _ => drop(black_box(without_call(&hostile, &ctx).await?)),
            }
            if i >= warmup {
                times[which].push(start.elapsed());
            }
        }
    }
    Ok(times.map(Spread::of))
}

pub fn run(plan: &Plan) -> anyhow::Result<(Section, Vec<Target>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let [route, direct, no_call] = rt.block_on(measure(plan))?;
    let (warmup, runs) = plan.calls();
    let mut section = Section::new(
        "7. A route with one injected outbound call",
        &format!(
            "In process, one thread, pooling allocator: `hostile`'s `GET /http?auth=oauth` \
             (fresh instance; the guest makes one GET, the host injects the connection's \
             bearer token through egress and the guest answers JSON with what it got) \
             against the same GET made directly with a kept-alive hyper connection. Both \
             reach a local hyper server answering a {}-byte JSON. For reading, the same \
             component answering that JSON with no call. The three alternate call by call, \
             {runs} runs each after {warmup} warm-up.",
            ME_JSON.len()
        ),
        &[
            "what",
            "median (µs)",
            "p99 (µs)",
            "median vs direct",
            "p99 vs direct",
        ],
    );
    section.row(vec![
        "direct hyper GET (baseline)".into(),
        format!("{:.1}", us(direct.median)),
        format!("{:.1}", us(direct.p99)),
        "1x".into(),
        "1x".into(),
    ]);
    section.row(vec![
        "keyway route, one injected GET".into(),
        format!("{:.1}", us(route.median)),
        format!("{:.1}", us(route.p99)),
        ratio(us(route.median), us(direct.median)),
        ratio(us(route.p99), us(direct.p99)),
    ]);
    section.row(vec![
        "same component, no outbound call (`POST /answer`)".into(),
        format!("{:.1}", us(no_call.median)),
        format!("{:.1}", us(no_call.p99)),
        ratio(us(no_call.median), us(direct.median)),
        ratio(us(no_call.p99), us(direct.p99)),
    ]);
    section.note(format!(
        "The route's outbound call, the guest's door and egress with injection together, \
         adds {:.1} µs (median) to the component's own invocation; section 3 times egress \
         alone.",
        us(route.median.saturating_sub(no_call.median))
    ));
    section.figure("direct", direct.json());
    section.figure("route", route.json());
    section.figure("route_without_call", no_call.json());
    let r = us(route.median) / us(direct.median).max(1e-9);
    let target = Target {
        what: "route with one injected outbound call / direct hyper GET (median)".into(),
        target: format!("<= {TARGET_RATIO}x"),
        measured: format!(
            "{r:.2}x ({:.1} vs {:.1} µs)",
            us(route.median),
            us(direct.median)
        ),
        met: r <= TARGET_RATIO,
    };
    Ok((section, vec![target]))
}
