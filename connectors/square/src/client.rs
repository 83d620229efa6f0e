//! Calls to Square's Connect API v2 through the host's HTTP door, with the pinned
//! `Square-Version` header and the connection's token injected by the host. Must not read
//! the token itself, retry (the host already retries a 401 once after a forced refresh)
//! or judge responses: `failure.rs` does that.

use keyway_sdk::{Body, Error, Http, HttpOptions, HttpResponse};
use serde_json::Value;

/// The API base every call goes to; the manifest allows exactly this prefix.
pub const API_BASE: &str = "https://connect.squareup.com/v2";

/// The Square API version the mapping in `canonical.rs` was written against.
pub const SQUARE_VERSION: &str = "2026-01-22";

/// The token must stay valid this long after the host hands it to the request.
const MIN_TOKEN_TTL_SECONDS: u32 = 300;

fn options() -> HttpOptions {
    HttpOptions::oauth(MIN_TOKEN_TTL_SECONDS)
        .header("Square-Version", SQUARE_VERSION)
        .header("Accept", "application/json")
}

/// `GET {API_BASE}{path_and_query}`.
pub fn get(path_and_query: &str) -> Result<HttpResponse, Error> {
    Http::get(&format!("{API_BASE}{path_and_query}"), options())
}

/// `POST {API_BASE}{path}` with a JSON body.
pub fn post(path: &str, body: &Value) -> Result<HttpResponse, Error> {
    Http::post(&format!("{API_BASE}{path}"), Body::json(body)?, options())
}
