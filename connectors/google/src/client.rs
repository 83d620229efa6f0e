//! Calls to Google's APIs through the host's HTTP door, with the connection's token
//! injected by the host. Must not read the token itself, retry (the host already retries
//! a 401 once after a forced refresh) or judge responses: `failure.rs` does that.

use keyway_sdk::{Error, Http, HttpOptions, HttpResponse};

/// Google's OpenID Connect userinfo endpoint.
pub const USERINFO_URL: &str = "https://openidconnect.googleapis.com/v1/userinfo";

/// The Calendar API's calendars collection; a calendar id follows, percent-encoded.
pub const CALENDARS_URL: &str = "https://www.googleapis.com/calendar/v3/calendars";

/// The token must stay valid this long after the host hands it to the request.
const MIN_TOKEN_TTL_SECONDS: u32 = 300;

/// `GET url` with the connection's token.
pub fn get(url: &str) -> Result<HttpResponse, Error> {
    Http::get(
        url,
        HttpOptions::oauth(MIN_TOKEN_TTL_SECONDS).header("Accept", "application/json"),
    )
}
