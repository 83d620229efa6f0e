//! `keyway connections authorize` sends its token request through the egress policy: a
//! token endpoint on loopback gets nothing (and the client secret stays home) unless the
//! operator passes `--allow-cidr`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use keyway_tests::keyway_command;

const CLIENT_SECRET: &str = "canary-cli-client-secret-4e1f";

fn keyway(args: &[&str], data: &std::path::Path, connectors: &std::path::Path) -> Output {
    let mut child = keyway_command(data)
        .args(args)
        .env("KEYWAY_CONNECTORS", connectors)
        .env("KEYWAY_LOG", "warn")
        .env_remove("KEYWAY_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyway");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(CLIENT_SECRET.as_bytes());
    }
    child.wait_with_output().expect("keyway output")
}

/// A token endpoint that counts the requests it answers.
fn token_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            let body = r#"{"access_token":"at-cli","token_type":"Bearer","expires_in":60}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, hits)
}

#[test]
fn connections_authorize_reaches_a_loopback_token_endpoint_only_with_allow_cidr() {
    let (port, hits) = token_server();
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, connectors) = (dir.path().join("data"), dir.path().join("connectors"));
    std::fs::create_dir_all(connectors.join("cc")).expect("mkdir");
    let manifest = serde_json::json!({
        "key": "cc-local",
        "name": "CC Local",
        "provider": "local",
        "kind": "source",
        "version": "0.1.0",
        "permissions": { "http": [format!("http://127.0.0.1:{port}/*")] },
        "connection": { "oauth": {
            "type": "client_credentials",
            "tokenUrlTemplate": format!("http://127.0.0.1:{port}/token"),
            "scopes": ["read"],
            "client": { "credentialKey": "cc_app", "authMethod": "post" }
        }}
    });
    std::fs::write(
        connectors.join("cc").join("connector.json"),
        manifest.to_string(),
    )
    .expect("manifest");
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // The CLI takes credentials by the rules the admin API and the console apply.
    let blank = keyway(
        &["credentials", "set", "cc_app", "--client-id", " "],
        &data,
        &connectors,
    );
    let stderr = String::from_utf8_lossy(&blank.stderr);
    assert!(!blank.status.success(), "{stderr}");
    assert!(
        stderr.contains("--client-id") && stderr.contains("empty"),
        "{stderr}"
    );
    assert!(!stderr.contains(CLIENT_SECRET), "{stderr}");
    ok(&keyway(
        &["credentials", "set", "cc_app", "--client-id", "cid"],
        &data,
        &connectors,
    ));
    ok(&keyway(
        &["connections", "create", "c1", "--connector", "cc-local"],
        &data,
        &connectors,
    ));

    let refused = keyway(
        &["connections", "authorize", "c1", "--no-browser"],
        &data,
        &connectors,
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
    assert!(!stderr.contains(CLIENT_SECRET), "{stderr}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the endpoint got a request");

    let allowed = keyway(
        &[
            "connections",
            "--allow-cidr",
            "127.0.0.1/32",
            "authorize",
            "c1",
            "--no-browser",
        ],
        &data,
        &connectors,
    );
    let stdout = String::from_utf8_lossy(&allowed.stdout);
    assert!(stdout.contains("Connected"), "{stdout}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
