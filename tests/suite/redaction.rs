//! Canary secrets never reach the logs: guest stdout, stderr and the log door are all
//! captured into the host's logs, attributed and redacted.

use keyway_host::context::ConnectionContext;
use keyway_host::runtime::{RouteRequest, Runtime};
use keyway_host::types::Method;
use keyway_tests::{components, logs};
use std::path::Path;

const CANARY: &str = "canary-api-token-5d21e8";

fn context() -> ConnectionContext {
    keyway_tests::readable_secret_context("hello", "redaction-test", CANARY)
}

#[tokio::test]
async fn secrets_are_redacted_from_guest_output_and_logs() {
    logs::capture();
    let runtime = Runtime::new(keyway_tests::test_runtime_config()).expect("runtime");
    let hello = runtime
        .load_component("hello", Path::new(components::HELLO))
        .await
        .expect("hello loads");
    let mut req = RouteRequest::new(Method::Post, "/print");
    req.query = vec![("leak".into(), "secret".into())];
    hello.invoke(&context(), req).await.expect("print");
    let mut req = RouteRequest::new(Method::Post, "/panic");
    req.query = vec![("leak".into(), "secret".into())];
    let err = hello
        .invoke(&context(), req)
        .await
        .expect_err("panic traps");
    assert!(!err.to_string().contains(CANARY));

    let text = logs::captured();
    assert!(text.contains("hello from stdout [REDACTED]"), "{text}");
    assert!(text.contains("hello from stderr [REDACTED]"), "{text}");
    assert!(
        text.contains("hello from the log door [REDACTED]"),
        "{text}"
    );
    assert!(
        text.contains("token=[REDACTED]"),
        "log fields are redacted too: {text}"
    );
    assert!(
        text.contains("connector=hello"),
        "log lines are attributed: {text}"
    );
    assert!(
        text.contains("connection=redaction-test"),
        "log lines are attributed: {text}"
    );
    assert!(
        text.contains("invocation=inv-"),
        "log lines are attributed: {text}"
    );
    assert!(!text.contains(CANARY), "a canary reached the logs: {text}");
}
