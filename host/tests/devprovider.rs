//! The built-in sandbox provider over real HTTP: the approval page, PKCE, one-time codes,
//! refresh-token rotation (a rotated token is refused), revocation, and the paged orders
//! API behind a live token.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyway_host::devprovider;
use keyway_host::store::{MasterKey, Store};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};

struct Provider {
    base: String,
    basic: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn provider() -> Provider {
    let sb = devprovider::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with_key(dir.path(), &MasterKey::generate()).unwrap();
    let dev = sb.credentials();
    store
        .set_credentials(dev.key, dev.client_id, Some(dev.client_secret))
        .unwrap();
    let creds = store.credentials(devprovider::CREDENTIAL_KEY).unwrap();
    let secret = creds.client_secret.unwrap();
    let basic = STANDARD.encode(format!("{}:{}", creds.client_id, secret.expose_secret()));
    Provider {
        base: format!("http://{}", sb.addr()),
        basic: format!("Basic {basic}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    }
}

const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

impl Provider {
    /// Approves an authorization with `challenge`; returns the redirect's query pairs.
    async fn approve(&self, challenge: &str, decision: &str) -> Vec<(String, String)> {
        let url = format!(
            "{}/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&state=st1&scope=orders%3Aread+account%3Aread&code_challenge={challenge}&code_challenge_method=S256",
            self.base,
            devprovider::CLIENT_ID,
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        );
        let page = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let request = page
            .split("name=\"request\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let res = self
            .http
            .post(format!("{}/oauth/authorize/decision", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("request={request}&decision={decision}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let location = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT));
        location.query_pairs().into_owned().collect()
    }

    async fn token(&self, form: &str) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .header("authorization", &self.basic)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (
            status,
            serde_json::from_str(&res.text().await.unwrap()).unwrap(),
        )
    }

    async fn api(&self, path: &str, token: &str) -> (u16, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (
            status,
            serde_json::from_str(&res.text().await.unwrap()).unwrap(),
        )
    }
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn code_flow_with_pkce_rotation_and_revocation() {
    let p = provider().await;
    let verifier = "a-verifier-of-enough-length-0123456789abcdefghij";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let pairs = p.approve(&challenge, "approve").await;
    assert_eq!(get(&pairs, "state"), Some("st1"));
    let code = get(&pairs, "code").unwrap().to_string();
    let redirect = url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>();

    let (status, body) = p
        .token(&format!(
            "grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier=wrong"
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");

    // The failed exchange used the code up; a new approval gives a new one.
    let pairs = p.approve(&challenge, "approve").await;
    let code = get(&pairs, "code").unwrap().to_string();
    let (status, tokens) = p
        .token(&format!(
            "grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}"
        ))
        .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], 300);
    let (status, _) = p
        .token(&format!(
            "grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}"
        ))
        .await;
    assert_eq!(status, 400, "a code works once");

    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = p.api("/api/me", access).await;
    assert_eq!(status, 200);
    assert_eq!(me["id"], "acct_sandbox_1");
    let (status, page) = p.api("/api/orders?limit=40", access).await;
    assert_eq!(status, 200);
    assert_eq!(page["orders"].as_array().unwrap().len(), 40);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, last) = p
        .api(&format!("/api/orders?limit=40&cursor={cursor}"), access)
        .await;
    assert_eq!(last["orders"].as_array().unwrap().len(), 2);
    assert!(last["nextCursor"].is_null());
    let (status, _) = p.api("/api/orders?cursor=bogus", access).await;
    assert_eq!(status, 400);

    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (status, rotated) = p
        .token(&format!("grant_type=refresh_token&refresh_token={refresh}"))
        .await;
    assert_eq!(status, 200);
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    let (status, reuse) = p
        .token(&format!("grant_type=refresh_token&refresh_token={refresh}"))
        .await;
    assert_eq!(status, 400, "a rotated refresh token is refused");
    assert_eq!(reuse["error"], "invalid_grant");

    let new_access = rotated["access_token"].as_str().unwrap();
    let res = p
        .http
        .post(format!("{}/oauth/revoke", p.base))
        .header("authorization", &p.basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={new_access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = p.api("/api/me", new_access).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn denial_bad_clients_and_foreign_redirects_are_refused() {
    let p = provider().await;
    let pairs = p.approve("challenge", "deny").await;
    assert_eq!(get(&pairs, "error"), Some("access_denied"));
    assert_eq!(get(&pairs, "state"), Some("st1"));

    let foreign = p
        .http
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&code_challenge=x&code_challenge_method=S256",
            p.base,
            devprovider::CLIENT_ID
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 400);

    let no_pkce = p
        .http
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&state=s",
            p.base,
            devprovider::CLIENT_ID,
            url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_pkce.status(), 303);
    assert!(
        no_pkce.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_request")
    );

    let res = p
        .http
        .post(format!("{}/oauth/token", p.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            "grant_type=refresh_token&refresh_token=x&client_id=keyway-sandbox&client_secret=wrong",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let (status, body) = p.api("/api/orders", "not-a-token").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token");
}
