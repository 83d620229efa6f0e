//! The runtime spine end to end: the real `hello`, `misbehave` and `not-a-connector`
//! components, compiled by the build script, run through the host's runtime.

use keyway_host::context::{ConnectionContext, Grants};
use keyway_host::runtime::{
    InvokeError, LoadError, RouteAuth, RouteRequest, Runtime, RuntimeConfig,
};
use keyway_host::types::Method;
use keyway_tests::{components, test_runtime_config};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn runtime() -> Runtime {
    Runtime::new(test_runtime_config()).expect("runtime")
}

async fn hello(rt: &Runtime) -> keyway_host::runtime::LoadedComponent {
    rt.load_component("hello", Path::new(components::HELLO))
        .await
        .expect("hello loads")
}

fn hello_context() -> ConnectionContext {
    let grants = Grants {
        readable_secrets: ["api_token".to_string()].into(),
        secret_settings: ["api_token".to_string(), "other_secret".to_string()].into(),
        ..Grants::default()
    };
    ConnectionContext::builder("hello")
        .connection("hello-test")
        .setting("greeting", json!("Bonjour"))
        .setting("page_size", json!(50))
        .secret("api_token", SecretString::from("canary-api-token-7f3a"))
        .secret(
            "other_secret",
            SecretString::from("canary-other-secret-91bc"),
        )
        .grants(grants)
        .build()
}

fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("route answered JSON")
}

#[tokio::test]
async fn route_table_is_read_at_load_time() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let echo = hello
        .routes()
        .iter()
        .find(|r| r.path == "/echo")
        .expect("echo route");
    assert_eq!(echo.method, Method::Post);
    assert_eq!(echo.auth, RouteAuth::ApiKey);
    let setting = hello
        .routes()
        .iter()
        .find(|r| r.path == "/setting")
        .expect("setting route");
    assert_eq!(setting.auth, RouteAuth::Internal);
    assert_eq!(hello.routes().len(), 9);
}

#[tokio::test]
async fn echo_returns_method_path_query_headers_and_body() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let mut req = RouteRequest::new(Method::Post, "/echo");
    req.query = vec![("page".into(), "2".into())];
    req.headers = vec![("x-trace".into(), "abc".into())];
    req.body = br#"{"hello":"world"}"#.to_vec();
    let res = hello.invoke(&hello_context(), req).await.expect("echo");
    assert_eq!(res.status, 200);
    assert!(
        res.headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );
    let body = body_json(&res.body);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/echo");
    assert_eq!(body["query"], json!([["page", "2"]]));
    assert_eq!(body["headers"], json!([["x-trace", "abc"]]));
    assert_eq!(body["body"], json!({ "hello": "world" }));
    assert!(res.invocation_id.starts_with("inv-"));
}

#[tokio::test]
async fn echo_with_invalid_json_body_is_a_400_from_the_route() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let mut req = RouteRequest::new(Method::Post, "/echo");
    req.body = b"{not json".to_vec();
    let res = hello.invoke(&hello_context(), req).await.expect("echo");
    assert_eq!(res.status, 400);
    let body = body_json(&res.body);
    assert_eq!(body["error"]["code"], "invalid_input");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("request body")
    );
}

#[tokio::test]
async fn settings_are_readable_and_secret_settings_are_not() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let ctx = hello_context();

    let mut req = RouteRequest::new(Method::Get, "/greet");
    req.query = vec![("name".into(), "Ada".into())];
    let res = hello.invoke(&ctx, req).await.expect("greet");
    assert_eq!(body_json(&res.body)["message"], "Bonjour, Ada!");

    let get = |name: &str| {
        let mut req = RouteRequest::new(Method::Get, "/setting");
        req.query = vec![("name".into(), name.into())];
        req
    };
    let res = hello.invoke(&ctx, get("page_size")).await.expect("setting");
    assert_eq!(
        body_json(&res.body)["value"],
        "50",
        "non-string settings arrive as JSON text"
    );
    let res = hello.invoke(&ctx, get("missing")).await.expect("setting");
    assert_eq!(body_json(&res.body)["value"], Value::Null);
    let res = hello.invoke(&ctx, get("api_token")).await.expect("setting");
    let body = body_json(&res.body);
    assert_eq!(body["error"], "not_permitted");
    assert!(!String::from_utf8_lossy(&res.body).contains("canary-api-token-7f3a"));
}

#[tokio::test]
async fn secrets_need_a_read_grant() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let ctx = hello_context();
    let get = |name: &str| {
        let mut req = RouteRequest::new(Method::Get, "/secret");
        req.query = vec![("name".into(), name.into())];
        req
    };
    let granted = body_json(
        &hello
            .invoke(&ctx, get("api_token"))
            .await
            .expect("secret")
            .body,
    );
    assert_eq!(granted["readable"], true);
    assert_eq!(granted["length"], "canary-api-token-7f3a".len());
    let ungranted = body_json(
        &hello
            .invoke(&ctx, get("other_secret"))
            .await
            .expect("secret")
            .body,
    );
    assert_eq!(ungranted["readable"], false);
    assert_eq!(ungranted["error"], "not_permitted");
}

#[tokio::test]
async fn every_api_error_shape() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let ctx = hello_context();
    let cases = [
        ("bad_request", 400, "bad_request"),
        ("bad_request_with", 400, "bad_request"),
        ("unauthorized", 401, "unauthorized"),
        ("forbidden", 403, "forbidden"),
        ("not_found", 404, "not_found"),
        ("error", 500, "error"),
        ("provider_error", 502, "provider_error"),
    ];
    for (kind, status, code) in cases {
        let mut req = RouteRequest::new(Method::Get, "/fail");
        req.query = vec![("kind".into(), kind.into())];
        let res = hello.invoke(&ctx, req).await.expect("fail route");
        assert_eq!(res.status, status, "{kind}");
        let body = body_json(&res.body);
        assert_eq!(body["error"]["code"], code, "{kind}");
        assert!(body["error"]["message"].is_string(), "{kind}");
    }
    let mut req = RouteRequest::new(Method::Get, "/fail");
    req.query = vec![("kind".into(), "bad_request_with".into())];
    let body = body_json(&hello.invoke(&ctx, req).await.expect("fail").body);
    assert_eq!(body["error"]["details"], json!({ "field": "name" }));
    let mut req = RouteRequest::new(Method::Get, "/fail");
    req.query = vec![("kind".into(), "provider_error".into())];
    let body = body_json(&hello.invoke(&ctx, req).await.expect("fail").body);
    assert_eq!(body["error"]["details"]["providerStatus"], 503);
    let mut req = RouteRequest::new(Method::Get, "/fail");
    req.query = vec![("kind".into(), "json_status".into())];
    let res = hello.invoke(&ctx, req).await.expect("fail");
    assert_eq!(res.status, 201);
    assert_eq!(body_json(&res.body), json!({ "created": true }));
}

#[tokio::test]
async fn a_host_error_returned_with_question_mark_maps_to_its_status() {
    let rt = runtime();
    let hello = hello(&rt).await;
    // `hello` declares no OAuth block, so the token door answers not_permitted -> 403.
    let res = hello
        .invoke(&hello_context(), RouteRequest::new(Method::Get, "/token"))
        .await
        .expect("token route");
    assert_eq!(res.status, 403);
    assert_eq!(body_json(&res.body)["error"]["code"], "not_permitted");
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let err = hello
        .invoke(&hello_context(), RouteRequest::new(Method::Get, "/nope"))
        .await
        .expect_err("no such route");
    assert_eq!(err.http_status(), 404);
    assert!(
        err.to_string().contains("hello") && err.to_string().contains("/nope"),
        "{err}"
    );
    let err = hello
        .invoke(&hello_context(), RouteRequest::new(Method::Get, "/echo"))
        .await
        .expect_err("wrong method");
    assert_eq!(err.http_status(), 405);
    match err {
        InvokeError::MethodNotAllowed { allowed, .. } => assert_eq!(allowed, "POST"),
        other => panic!("expected 405, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panicking_route_traps_and_the_next_invocation_works() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let ctx = hello_context();
    let err = hello
        .invoke(&ctx, RouteRequest::new(Method::Post, "/panic"))
        .await
        .expect_err("panic traps");
    assert_eq!(err.code(), "route_trapped");
    assert_eq!(err.http_status(), 500);
    let text = err.to_string();
    assert!(
        text.contains("hello") && text.contains("POST /panic"),
        "{text}"
    );
    assert!(
        text.contains("asked to panic"),
        "the guest's panic message is reported: {text}"
    );

    let res = hello
        .invoke(&ctx, RouteRequest::new(Method::Get, "/greet"))
        .await
        .expect("the same component serves after a trap");
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn guest_stdout_and_stderr_do_not_break_the_route() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let res = hello
        .invoke(&hello_context(), RouteRequest::new(Method::Post, "/print"))
        .await
        .expect("print");
    assert_eq!(body_json(&res.body)["printed"], true);
}

#[tokio::test]
async fn an_endless_loop_ends_at_the_deadline() {
    let rt = Runtime::new(RuntimeConfig {
        deadline: Duration::from_millis(200),
        ..test_runtime_config()
    })
    .expect("runtime");
    let bad = rt
        .load_component("misbehave", Path::new(components::MISBEHAVE))
        .await
        .expect("loads");
    let ctx = ConnectionContext::empty("misbehave");
    let err = bad
        .invoke(&ctx, RouteRequest::new(Method::Post, "/loop"))
        .await
        .expect_err("loop is stopped");
    assert_eq!(err.code(), "deadline_exceeded", "{err}");
    assert_eq!(err.http_status(), 504);
    let ok = bad
        .invoke(&ctx, RouteRequest::new(Method::Get, "/ok"))
        .await
        .expect("ok after loop");
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn a_context_of_its_own_deadline_is_held_to_it() {
    // The runtime allows 200 ms; the context (as a stream run's does) asks for more, and
    // the loop runs past the runtime's deadline until its own.
    let rt = Runtime::new(RuntimeConfig {
        deadline: Duration::from_millis(200),
        ..test_runtime_config()
    })
    .expect("runtime");
    let bad = rt
        .load_component("misbehave", Path::new(components::MISBEHAVE))
        .await
        .expect("loads");
    let mut ctx = ConnectionContext::empty("misbehave");
    ctx.deadline = Some(Duration::from_millis(900));
    let err = bad
        .invoke(&ctx, RouteRequest::new(Method::Post, "/loop"))
        .await
        .expect_err("loop is stopped");
    assert_eq!(err.code(), "deadline_exceeded", "{err}");
    assert!(err.to_string().contains("900ms"), "{err}");
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_limit() {
    let rt = Runtime::new(RuntimeConfig {
        memory_limit: 16 << 20,
        ..test_runtime_config()
    })
    .expect("runtime");
    let bad = rt
        .load_component("misbehave", Path::new(components::MISBEHAVE))
        .await
        .expect("loads");
    let ctx = ConnectionContext::empty("misbehave");
    let err = bad
        .invoke(&ctx, RouteRequest::new(Method::Post, "/alloc"))
        .await
        .expect_err("alloc is stopped");
    assert_eq!(err.code(), "memory_exceeded", "{err}");
    let ok = bad
        .invoke(&ctx, RouteRequest::new(Method::Get, "/ok"))
        .await
        .expect("ok after bomb");
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn malformed_responses_are_refused() {
    let rt = runtime();
    let bad = rt
        .load_component("misbehave", Path::new(components::MISBEHAVE))
        .await
        .expect("loads");
    let ctx = ConnectionContext::empty("misbehave");
    for path in ["/bad-status", "/bad-header"] {
        let err = bad
            .invoke(&ctx, RouteRequest::new(Method::Get, path))
            .await
            .expect_err("malformed");
        assert_eq!(err.code(), "malformed_response", "{path}: {err}");
        assert!(err.to_string().contains(path), "{err}");
    }
}

#[tokio::test]
async fn a_component_without_the_world_is_refused_by_name() {
    let rt = runtime();
    let err = rt
        .load_component("stranger", Path::new(components::NOT_A_CONNECTOR))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
    assert!(err.to_string().contains("stranger"), "{err}");
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_refused() {
    let rt = runtime();
    let err = rt
        .load_component_bytes("junk", Path::new("junk.wasm"), b"\0asm\x01\0\0\0garbage")
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::NotAComponent { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.wasm"), "{err}");
    let err = rt
        .load_component("missing", Path::new("/nonexistent/missing.wasm"))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, LoadError::Read { .. }), "{err:?}");
}

#[tokio::test]
async fn the_disk_cache_is_used_after_the_first_compile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let config = RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    };
    let rt = Runtime::new(config.clone()).expect("runtime");
    hello(&rt).await;
    let entries: Vec<_> = std::fs::read_dir(&cache).expect("cache dir").collect();
    assert_eq!(entries.len(), 1, "one compiled artifact cached");
    let entry = entries[0].as_ref().expect("entry").path();
    let modified = std::fs::metadata(&entry)
        .and_then(|m| m.modified())
        .expect("mtime");

    // A second runtime (a restart) loads from the cache and does not rewrite it.
    let rt2 = Runtime::new(config.clone()).expect("runtime");
    let hello2 = hello(&rt2).await;
    assert_eq!(
        std::fs::metadata(&entry)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );
    assert_eq!(hello2.routes().len(), 9);
    drop((hello2, rt2));

    // A corrupt entry is discarded and recompiled, not trusted.
    std::fs::write(&entry, b"corrupt").expect("corrupt the entry");
    let rt3 = Runtime::new(config).expect("runtime");
    let hello3 = hello(&rt3).await;
    assert_eq!(hello3.routes().len(), 9);
    assert!(std::fs::metadata(&entry).expect("entry").len() > 1000);
}

#[tokio::test]
async fn secrets_are_redacted_from_trap_messages() {
    let rt = runtime();
    let hello = hello(&rt).await;
    let mut req = RouteRequest::new(Method::Post, "/panic");
    req.query = vec![("leak".into(), "secret".into())];
    let err = hello.invoke(&hello_context(), req).await.expect_err("trap");
    let text = err.to_string();
    assert!(text.contains("asked to panic holding [REDACTED]"), "{text}");
    assert!(!text.contains("canary-api-token-7f3a"), "{text}");
}
