//! Text that leaves an invocation is redacted before it is clipped, and the `log` door is
//! capped per invocation: a flood is cut at the event and byte caps and the drop is
//! reported once; a secret placed exactly across the log door's 8 KiB clip point, or
//! across the 64 KiB cap of guest stdout, never appears, not even its first characters.

use keyway_host::context::ConnectionContext;
use keyway_host::runtime::{LoadedComponent, RouteRequest, Runtime, RuntimeConfig};
use keyway_host::types::Method;
use keyway_tests::{components, logs, test_runtime_config};
use std::path::Path;

/// Its first six characters appear nowhere else, so finding them anywhere in the logs
/// means part of the canary leaked.
const CANARY: &str = "Qx9Zk2-text-caps-canary-51c0d7";
const CANARY_HEAD: &str = "Qx9Zk2";
/// The log door's clip point for a message or a field value.
const LOG_CLIP: usize = 8 << 10;

async fn hostile() -> LoadedComponent {
    let runtime = Runtime::new(test_runtime_config()).expect("runtime");
    runtime
        .load_component("hostile", Path::new(components::HOSTILE))
        .await
        .expect("hostile loads")
}

fn context() -> ConnectionContext {
    keyway_tests::readable_secret_context("hostile", "text-caps", CANARY)
}

/// Runs `path` with `query` and returns the invocation id.
async fn run(component: &LoadedComponent, path: &str, query: &[(&str, String)]) -> String {
    let mut req = RouteRequest::new(Method::Get, path);
    req.query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let res = component.invoke(&context(), req).await.expect("route runs");
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.invocation_id
}

/// The captured log lines of one invocation.
fn lines_of(invocation: &str) -> Vec<String> {
    let needle = format!("invocation={invocation}");
    logs::captured()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

fn field(line: &str, name: &str) -> Option<usize> {
    line.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
}

const DROP_SUMMARY: &str = "guest log events over the per-invocation cap were dropped";

#[tokio::test]
async fn a_log_flood_is_capped_by_events_and_bytes_and_the_drop_is_reported() {
    logs::capture();
    let component = hostile().await;
    let defaults = RuntimeConfig::default();

    // Many small events: the event cap.
    let n = defaults.log_events_limit * 5;
    let id = run(
        &component,
        "/log-flood",
        &[("n", n.to_string()), ("size", "64".into())],
    )
    .await;
    let lines = lines_of(&id);
    let kept = lines.iter().filter(|l| l.contains("flood-event")).count();
    assert_eq!(kept, defaults.log_events_limit, "events logged");
    let summary: Vec<&String> = lines.iter().filter(|l| l.contains(DROP_SUMMARY)).collect();
    assert_eq!(summary.len(), 1, "one summary line: {summary:?}");
    assert_eq!(
        field(summary[0], "dropped_events"),
        Some(n - defaults.log_events_limit),
        "{}",
        summary[0]
    );
    assert!(field(summary[0], "dropped_bytes").is_some_and(|b| b > 0));

    // Fewer, larger events: the byte cap.
    let (n, size) = (300, 8_000);
    let id = run(
        &component,
        "/log-flood",
        &[("n", n.to_string()), ("size", size.to_string())],
    )
    .await;
    let lines = lines_of(&id);
    let kept: Vec<&String> = lines.iter().filter(|l| l.contains("flood-event")).collect();
    let kept_bytes: usize = kept.iter().map(|l| l.len()).sum();
    assert!(
        !kept.is_empty() && kept.len() < n,
        "{} events kept",
        kept.len()
    );
    // Each kept line is the message plus attribution; the messages fit the byte cap.
    assert!(
        kept.len() * size <= defaults.log_bytes_limit + size,
        "{} events of {size} bytes kept ({kept_bytes} bytes of lines)",
        kept.len()
    );
    let summary = lines
        .iter()
        .find(|l| l.contains(DROP_SUMMARY))
        .expect("the drop is reported");
    assert_eq!(field(summary, "dropped_events"), Some(n - kept.len()));
    assert!(
        field(summary, "dropped_bytes").is_some_and(|b| b >= (n - kept.len()) * (size - 24)),
        "{summary}"
    );
}

#[tokio::test]
async fn a_secret_across_a_clip_point_never_appears_even_partially() {
    logs::capture();
    let component = hostile().await;
    let stdout_cap = RuntimeConfig::default().guest_output_limit;
    // The canary starts 7 bytes before each cut: clipping first would keep "Qx9Zk2-".
    let mut ids = Vec::new();
    for (via, pad) in [
        ("message", LOG_CLIP - 7),
        ("field", LOG_CLIP - 7),
        ("stdout", stdout_cap - 7),
    ] {
        let id = run(
            &component,
            "/log-secret",
            &[
                ("name", "api_token".into()),
                ("pad", pad.to_string()),
                ("via", via.into()),
            ],
        )
        .await;
        ids.push((via, pad, id));
    }
    for (via, pad, id) in &ids {
        let lines = lines_of(id);
        let filler = format!("{}[REDACT", "p".repeat(64));
        let written = lines
            .iter()
            .find(|l| l.contains(&filler))
            .unwrap_or_else(|| panic!("{via}: the padded line is logged: {lines:?}"));
        let padding = written.matches('p').count();
        assert!(padding >= *pad, "{via}: the filler before the cut is kept");
        if *via == "stdout" {
            assert!(
                lines
                    .iter()
                    .any(|l| l.contains("guest output over the per-invocation cap")),
                "stdout: the drop is reported"
            );
        }
    }
    let text = logs::captured();
    assert!(
        !text.contains(CANARY_HEAD),
        "part of the canary reached the logs"
    );
}
