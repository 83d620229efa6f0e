//! Token hooks for the test harness's non-standard token endpoint (`/json-token` of
//! `tests/oidc/server.mjs`): the exchange is a JSON body, the answer is wrapped under
//! `data` with a `tenant` beside it, and a refresh answer has no refresh token.
//!
//! Every hook writes what it received to stdout (`hook-input ...` lines, which the host
//! logs), and tries the doors (`hook-doors ...`), so a test can prove a hook saw no
//! secret and could reach nothing. The setting `hookMode` makes `tokenRequest` trap
//! (`trap`), loop (`loop`) or answer a request the host must refuse (`evil-url`,
//! `secret-in-url`, `unknown-placeholder`), and `refreshRequest` trap (`refresh-trap`).

use keyway_sdk::token_hooks::{
    Credentials, Field, Grant, Placeholder, TokenContext, TokenHooks, TokenRequest,
};
use keyway_sdk::{
    Error, HttpOptions, OAuth, Request, Response, Secrets, Settings, api, routes, token_hooks,
};
use serde_json::json;

struct JsonProvider;

/// Every door, tried: each should refuse in a hook (the settings door has nothing to
/// give: a hook's settings come in its context).
fn try_doors(hook: &str) {
    let code = |r: Result<String, Error>| match r {
        Ok(_) => "OPEN".to_string(),
        Err(e) => e.code.as_str().to_string(),
    };
    let http = keyway_sdk::Http::get("http://127.0.0.1:9/", HttpOptions::default())
        .map(|r| r.status.to_string());
    println!(
        "hook-doors {hook} oauth={} settings={} secrets={} http={}",
        code(OAuth::access_token(0)),
        match Settings::get("hookMode") {
            Ok(None) => "none".to_string(),
            Ok(Some(_)) => "OPEN".to_string(),
            Err(e) => e.code.as_str().to_string(),
        },
        code(Secrets::get("clientNote")),
        code(http),
    );
}

fn client() -> serde_json::Value {
    json!({ "id": Placeholder::ClientId, "secret": Placeholder::ClientSecret })
}

impl TokenHooks for JsonProvider {
    fn token_request(ctx: TokenContext) -> Result<TokenRequest, Error> {
        println!("hook-input tokenRequest {ctx:?}");
        try_doors("tokenRequest");
        let url = ctx.token_url.clone();
        match ctx.setting("hookMode").unwrap_or("") {
            "trap" => panic!("the tokenRequest hook traps on purpose"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "evil-url" => return Ok(TokenRequest::post("http://127.0.0.2:9/steal")),
            "secret-in-url" => {
                return Ok(TokenRequest::post(&format!(
                    "{url}?secret={}",
                    Placeholder::ClientSecret
                )));
            }
            "unknown-placeholder" => {
                return TokenRequest::post(&url).json(&json!({ "x": "{api_key}" }));
            }
            _ => {}
        }
        TokenRequest::post(&url).json(&json!({
            "grant": "authorization_code",
            "code": Placeholder::Code,
            "verifier": Placeholder::CodeVerifier,
            "redirect": Placeholder::RedirectUri,
            "client": client(),
        }))
    }

    fn refresh_request(ctx: TokenContext) -> Result<TokenRequest, Error> {
        println!("hook-input refreshRequest {ctx:?}");
        try_doors("refreshRequest");
        if ctx.setting("hookMode") == Some("refresh-trap") {
            panic!("the refreshRequest hook traps on purpose");
        }
        TokenRequest::post(&ctx.token_url)
            .header("x-hook", "refresh")
            .json(&json!({
                "grant": "refresh",
                "refresh": Placeholder::RefreshToken,
                "client": client(),
            }))
    }

    fn credentials_from_token_response(
        grant: Grant,
        status: u16,
        answer: serde_json::Value,
    ) -> Result<Credentials, Error> {
        println!("hook-input credentialsFromTokenResponse {grant:?} {status} {answer}");
        try_doors("credentialsFromTokenResponse");
        if !answer["data"].is_object() {
            return Err(Error::invalid_input("the answer has no `data`"));
        }
        let mut c = Credentials::at("data.token")
            .expires_in(Field::path("data.ttl"))
            .scope(Field::path("data.granted"))
            .token_type(Field::path("data.kind"));
        if grant == Grant::AuthorizationCode {
            c = c.refresh_token_at("data.refresh");
        }
        if answer["tenant"].is_string() {
            c = c.extra("tenant", Field::path("tenant"));
        }
        Ok(c)
    }
}

token_hooks!(JsonProvider);

/// `GET /tenant`: the `tenant` setting the hook stored.
fn tenant(_req: Request) -> Response {
    match Settings::get("tenant") {
        Ok(v) => api::json(&json!({ "tenant": v })),
        Err(e) => api::json(&json!({ "error": e.code.as_str() })),
    }
}

/// `GET /call?url=`: the URL with the connection's token injected by the host.
fn call(req: Request) -> Response {
    let url = req.query("url").unwrap_or_default().to_string();
    match keyway_sdk::Http::get(&url, HttpOptions::oauth(60)) {
        Ok(res) => api::json(&json!({ "status": res.status })),
        Err(e) => api::json(&json!({ "error": e.code.as_str(), "message": e.message })),
    }
}

/// `GET /token`: the access token door (closed in strict custody).
fn token(_req: Request) -> Response {
    match OAuth::access_token(60) {
        Ok(t) => api::json(&json!({ "length": t.len() })),
        Err(e) => api::json(&json!({ "error": e.code.as_str() })),
    }
}

routes! {
    GET "/tenant" (api_key) => tenant,
    GET "/call" (api_key) => call,
    GET "/token" (api_key) => token,
}
