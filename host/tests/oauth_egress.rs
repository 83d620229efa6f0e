//! The host's own OAuth requests (token, refresh, code exchange, revocation, discovery)
//! pass the egress layer's address policy and size cap, against tiny local servers on
//! 127.0.0.1: a token URL on loopback gets nothing unless the operator allowed loopback, a
//! huge answer is cut off at the cap, and discovered endpoints must be https (or plain
//! http to an allowed loopback address).

use std::io::ErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keyway_host::egress::{EgressConfig, MAX_HOST_RESPONSE_BYTES};
use keyway_host::oauth::client::{self, RevokeKind};
use keyway_host::oauth::discovery::DiscoveryError;
use keyway_host::oauth::{
    ClientAuthMethod, Failure, GrantType, OAuthHttp, ProviderConfig, discover,
};
use keyway_host::store::ClientCredentials;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

const CLIENT_SECRET: &str = "canary-client-secret-0c41d7";
const REFRESH_TOKEN: &str = "canary-refresh-token-93be12";
/// A generous bound on hanging, not a performance assertion.
const HANG: Duration = Duration::from_secs(60);

fn creds() -> ClientCredentials {
    ClientCredentials {
        client_id: "keyway-test-client".into(),
        client_secret: Some(SecretString::from(CLIENT_SECRET)),
    }
}

fn no_private_networks() -> OAuthHttp {
    OAuthHttp::from_config(&EgressConfig::default(), HANG).expect("oauth http")
}

fn loopback_allowed() -> OAuthHttp {
    let config = EgressConfig {
        allowed_cidrs: vec!["127.0.0.1/32".parse().expect("cidr")],
        ..EgressConfig::default()
    };
    OAuthHttp::from_config(&config, HANG).expect("oauth http")
}

fn provider(grant: GrantType, base: &str) -> ProviderConfig {
    let mut p = ProviderConfig::new(grant, Url::parse(&format!("{base}/token")).expect("url"));
    p.revocation_url = Some(Url::parse(&format!("{base}/revoke")).expect("url"));
    p
}

fn refused_reason(result: Result<impl std::fmt::Debug, Failure>) -> String {
    match result {
        Err(Failure::Refused { reason }) => reason,
        other => panic!("expected the host to refuse the exchange, got {other:?}"),
    }
}

/// A listener that is never accepted from: any connection the host opens stays in its
/// backlog, where `accept` finds it.
fn silent_listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    (listener, base)
}

fn assert_nothing_arrived(listener: &std::net::TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((mut stream, peer)) => {
            use std::io::Read;
            let _ = stream.set_nonblocking(true);
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            panic!(
                "the endpoint got a connection from {peer} and {n} bytes: {:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
        Err(e) => panic!("accept failed: {e}"),
    }
}

#[tokio::test]
async fn a_token_endpoint_on_loopback_gets_nothing_without_an_allowance() {
    let (listener, base) = silent_listener();
    let http = no_private_networks();
    let creds = creds();
    let rt = SecretString::from(REFRESH_TOKEN);
    let cc = provider(GrantType::ClientCredentials, &base);
    let ac = provider(GrantType::AuthorizationCode, &base);
    let redirect = Url::parse("http://127.0.0.1:9/callback").expect("url");

    let reasons = [
        refused_reason(client::client_credentials(&http, &cc, &creds).await),
        refused_reason(client::refresh(&http, &ac, &creds, &rt).await),
        refused_reason(client::exchange_code(&http, &ac, &creds, "c0de", None, &redirect).await),
        refused_reason(
            client::revoke(
                &http,
                &ac,
                &creds,
                ac.revocation_url.as_ref().expect("revocation url"),
                &rt,
                RevokeKind::Refresh,
            )
            .await,
        ),
    ];
    for reason in &reasons {
        assert!(reason.contains("loopback"), "{reason}");
        assert!(reason.contains("127.0.0.1"), "{reason}");
        assert!(!reason.contains(CLIENT_SECRET), "{reason}");
        assert!(!reason.contains(REFRESH_TOKEN), "{reason}");
    }
    // Client-secret-in-body authentication is refused the same way.
    let mut post = cc.clone();
    post.client_auth = ClientAuthMethod::Post;
    refused_reason(client::client_credentials(&http, &post, &creds).await);

    let issuer = Url::parse(&base).expect("url");
    let err = discover(&http, &issuer).await.expect_err("refused");
    assert!(
        matches!(err, DiscoveryError::Fetch { .. }),
        "{err:?}: {err}"
    );
    assert!(err.to_string().contains("loopback"), "{err}");

    assert_nothing_arrived(&listener);
}

/// Answers every request on `listener` with `answer(path)`.
async fn serve(listener: TcpListener, answer: impl Fn(&str) -> String + Send + Sync + 'static) {
    let answer = Arc::new(answer);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            if let Some(path) = read_request(&mut stream).await {
                let _ = stream.write_all(answer(&path).as_bytes()).await;
            }
        });
    }
}

/// Reads one request head (and a short body) and returns its path.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).map(str::to_string)
}

fn json_answer(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn local_server(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(serve(listener, answer));
    base
}

#[tokio::test]
async fn an_operator_allowance_lets_a_loopback_token_endpoint_through() {
    let base = local_server(|_| {
        json_answer(r#"{"access_token":"at-123","token_type":"Bearer","expires_in":60}"#)
    })
    .await;
    let set = client::client_credentials(
        &loopback_allowed(),
        &provider(GrantType::ClientCredentials, &base),
        &creds(),
    )
    .await
    .expect("token through the allowed loopback address");
    assert_eq!(set.expires_in, Some(Duration::from_secs(60)));
}

/// Streams a 400 MiB body in 64 KiB chunks, made as it is written (never allocated
/// whole); counts the bytes the peer took before it hung up.
async fn huge_answer_server(
    chunked: bool,
) -> (String, Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    const TOTAL: u64 = 400 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let task = tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        if read_request(&mut stream).await.is_none() {
            return;
        }
        let head = if chunked {
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                .to_string()
        } else {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {TOTAL}\r\n\r\n"
            )
        };
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let data = vec![b' '; CHUNK];
        let mut sent = 0u64;
        while sent < TOTAL {
            let ok = if chunked {
                let mut frame = format!("{CHUNK:x}\r\n").into_bytes();
                frame.extend_from_slice(&data);
                frame.extend_from_slice(b"\r\n");
                stream.write_all(&frame).await.is_ok()
            } else {
                stream.write_all(&data).await.is_ok()
            };
            if !ok {
                break;
            }
            sent += CHUNK as u64;
            counter.store(sent, Ordering::Relaxed);
        }
    });
    (base, written, task)
}

#[tokio::test]
async fn a_huge_revocation_answer_is_cut_off_at_the_cap_and_the_host_goes_on() {
    let http = loopback_allowed();
    for chunked in [true, false] {
        let (base, written, server) = huge_answer_server(chunked).await;
        let p = provider(GrantType::AuthorizationCode, &base);
        let reason = refused_reason(
            client::revoke(
                &http,
                &p,
                &creds(),
                p.revocation_url.as_ref().expect("url"),
                &SecretString::from(REFRESH_TOKEN),
                RevokeKind::Refresh,
            )
            .await,
        );
        assert!(
            reason.contains(&format!("cap of {MAX_HOST_RESPONSE_BYTES} bytes")),
            "{reason}"
        );
        assert!(!reason.contains(CLIENT_SECRET) && !reason.contains(REFRESH_TOKEN));
        // The host hung up: the server's writes fail long before the 400 MiB are out.
        tokio::time::timeout(HANG, server)
            .await
            .expect("the server stops once the host hangs up")
            .expect("server task");
        let took = written.load(Ordering::Relaxed);
        assert!(took < 64 * 1024 * 1024, "the host read {took} bytes");
    }

    // The same client serves the next, well-behaved provider.
    let base = local_server(|_| json_answer(r#"{"access_token":"at-ok"}"#)).await;
    client::client_credentials(
        &http,
        &provider(GrantType::ClientCredentials, &base),
        &creds(),
    )
    .await
    .expect("next token request works");
}

#[tokio::test]
async fn a_huge_token_answer_fails_the_refresh_without_a_revocation() {
    let (base, _, _server) = huge_answer_server(true).await;
    let p = provider(GrantType::AuthorizationCode, &base);
    let reason = refused_reason(
        client::refresh(
            &loopback_allowed(),
            &p,
            &creds(),
            &SecretString::from(REFRESH_TOKEN),
        )
        .await,
    );
    assert!(reason.contains("cap of"), "{reason}");
}

async fn discovery_server(token_endpoint: &'static str, extra: &'static str) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let doc = format!(
        r#"{{"issuer":"{issuer}","token_endpoint":"{}"{extra}}}"#,
        token_endpoint.replace("{issuer}", &issuer)
    );
    tokio::spawn(serve(listener, move |_| json_answer(&doc)));
    Url::parse(&issuer).expect("issuer")
}

#[tokio::test]
async fn discovered_endpoints_must_be_https_or_allowed_loopback() {
    let http = loopback_allowed();
    for (token_endpoint, why) in [
        ("http://93.184.216.34/token", "not a loopback address"),
        ("file:///etc/passwd", "scheme `file`"),
        ("http://10.1.2.3/token", "private"),
        ("https://user@idp.example/token", "userinfo"),
    ] {
        let issuer = discovery_server(token_endpoint, "").await;
        let err = discover(&http, &issuer).await.expect_err(token_endpoint);
        match &err {
            DiscoveryError::Endpoint { field, .. } => assert_eq!(*field, "token_endpoint"),
            other => panic!("{token_endpoint}: expected an endpoint refusal, got {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("`token_endpoint`"), "{text}");
        assert!(text.contains(why), "{token_endpoint}: {text}");
    }

    // The other fields are checked the same way, by name.
    let issuer = discovery_server(
        "https://idp.example/token",
        r#","revocation_endpoint":"http://198.51.100.7/revoke""#,
    )
    .await;
    let err = discover(&http, &issuer).await.expect_err("refused");
    assert!(err.to_string().contains("`revocation_endpoint`"), "{err}");

    // https anywhere, and plain http to the allowed loopback address, are accepted.
    let issuer = discovery_server(
        "{issuer}/token",
        r#","authorization_endpoint":"https://idp.example/auth""#,
    )
    .await;
    let endpoints = discover(&http, &issuer).await.expect("accepted");
    assert_eq!(endpoints.token_endpoint.path(), "/token");
}

#[tokio::test]
async fn a_discovery_document_is_not_quoted_in_errors() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("addr"));
    let doc = format!(r#"{{"issuer":"{issuer}","token_endpoint":["{CLIENT_SECRET}"]}}"#);
    tokio::spawn(serve(listener, move |_| json_answer(&doc)));
    let err = discover(&loopback_allowed(), &Url::parse(&issuer).expect("url"))
        .await
        .expect_err("invalid");
    let text = err.to_string();
    assert!(matches!(err, DiscoveryError::Invalid { .. }), "{text}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
}
