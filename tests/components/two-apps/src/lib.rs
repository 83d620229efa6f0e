//! Two app connections in one route. `GET /profiles` reads `google-oauth`'s token (granted
//! `token`) and sends it itself, and has the host inject `ms365-oauth`'s (granted `inject`
//! only), both to `{baseUrl}/ok`. `GET /try?name=N&how=token|inject` asks for app
//! connection `N` the given way and answers the error code it gets, if any.

use keyway_sdk::{
    Error, ErrorCode, Http, HttpOptions, OAuth, Request, Response, Settings, api, routes,
};
use serde_json::json;

fn base_url() -> Result<String, Error> {
    Settings::get("baseUrl")?
        .ok_or_else(|| Error::new(ErrorCode::InvalidInput, "the baseUrl setting is not set"))
}

fn profiles(_req: Request) -> Result<Response, Error> {
    let base = base_url()?;
    let google = OAuth::connection("google-oauth").access_token(30)?;
    let first = Http::get(
        &format!("{base}/ok"),
        HttpOptions::default().header("authorization", format!("Bearer {}", google.access_token)),
    )?;
    let ms = OAuth::connection("ms365-oauth");
    let second = Http::get(
        &format!("{base}/ok"),
        HttpOptions::default().auth(ms.auth(30)),
    )?;
    Ok(api::json(&json!({
        "google": { "status": first.status, "tokenType": google.token_type,
                    "expiresAt": google.expires_at, "scopes": google.granted_scopes,
                    "tokenLength": google.access_token.len(),
                    "echo": google.access_token },
        "microsoft": { "status": second.status },
    })))
}

fn attempt(req: Request) -> Result<Response, Error> {
    let name = req.query("name").unwrap_or_default().to_string();
    let how = req.query("how").unwrap_or("token").to_string();
    let result = if how == "inject" {
        let app = OAuth::connection(&name);
        Http::get(
            &format!("{}/ok", base_url()?),
            HttpOptions::default().auth(app.auth(0)),
        )
        .map(|_| ())
    } else {
        OAuth::connection(&name).access_token(0).map(|_| ())
    };
    Ok(api::json(&json!({
        "code": result.err().map(|e| format!("{:?}", e.code)),
    })))
}

routes! {
    GET "/profiles" (internal) => profiles,
    GET "/try" (internal) => attempt,
}
