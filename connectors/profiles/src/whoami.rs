//! `GET /whoami`: both profiles in one answer. Each provider is read on its own; one that
//! fails does not hide the other. The answer is `200` when at least one answered:
//!
//! ```json
//! { "name": "Ada Lovelace", "email": "ada@acme.example",
//!   "emails": ["ada@acme.example", "ada@contoso.example"],
//!   "profiles": {
//!     "google":    { "connection": "google-oauth", "ok": true, "id": "...", "email": "...", "name": "..." },
//!     "microsoft": { "connection": "ms365-oauth", "ok": false,
//!                    "error": { "code": "reauth_required", "message": "...", "status": 401 } } },
//!   "failed": ["microsoft"], "complete": false }
//! ```
//!
//! `name` and `email` are the first found, Google's first. When neither answered, the
//! route fails with the code (and status) both failures share, so `reauth_required` or
//! `not_found` reaches the caller as such, or else `provider_error` (502); each
//! provider's failure is in `details.profiles`. Must not answer anything a provider sent
//! beyond the fields kept.

use crate::connections;
use crate::failure;
use crate::providers::{self, Profile};
use keyway_sdk::api::Failure;
use keyway_sdk::{AppConnection, Error, Request, Response, api};
use serde_json::{Value, json};

pub fn whoami(_req: Request) -> Result<Response, Error> {
    let google = providers::google();
    let microsoft = providers::microsoft();
    Ok(merge(&google, &microsoft))
}

fn section(connection: &AppConnection, result: &Result<Profile, Failure>) -> Value {
    match result {
        Ok(p) => json!({
            "connection": connection.name(),
            "ok": true,
            "id": p.id,
            "email": p.email,
            "name": p.name,
        }),
        Err(f) => json!({
            "connection": connection.name(),
            "ok": false,
            "error": failure::to_json(f),
        }),
    }
}

fn merge(google: &Result<Profile, Failure>, microsoft: &Result<Profile, Failure>) -> Response {
    let profiles = json!({
        "google": section(&connections::GOOGLE_OAUTH, google),
        "microsoft": section(&connections::MS365_OAUTH, microsoft),
    });
    let answered: Vec<&Profile> = [google, microsoft]
        .into_iter()
        .filter_map(|r| r.as_ref().ok())
        .collect();
    if answered.is_empty() {
        return none_answered(profiles);
    }
    let failed: Vec<&str> = [
        ("google", google.is_err()),
        ("microsoft", microsoft.is_err()),
    ]
    .into_iter()
    .filter(|(_, failed)| *failed)
    .map(|(name, _)| name)
    .collect();
    let mut emails: Vec<&str> = Vec::new();
    for email in answered.iter().filter_map(|p| p.email.as_deref()) {
        if !emails.iter().any(|e| e.eq_ignore_ascii_case(email)) {
            emails.push(email);
        }
    }
    api::json(&json!({
        "name": answered.iter().find_map(|p| p.name.as_deref()),
        "email": emails.first(),
        "emails": emails,
        "profiles": profiles,
        "complete": failed.is_empty(),
        "failed": failed,
    }))
}

/// Neither provider answered: the code and status both failures share, else a
/// `provider_error`.
fn none_answered(profiles: Value) -> Response {
    let errors = [
        &profiles["google"]["error"],
        &profiles["microsoft"]["error"],
    ];
    let shared = errors
        .iter()
        .all(|e| e["code"] == errors[0]["code"] && e["status"] == errors[0]["status"]);
    let (code, status) = match (
        shared,
        errors[0]["code"].as_str(),
        errors[0]["status"].as_u64(),
    ) {
        (true, Some(code), Some(status)) => (code.to_string(), status as u16),
        _ => ("provider_error".to_string(), 502),
    };
    api::json_status(
        status,
        &json!({ "error": {
            "code": code,
            "message": "no profile could be read: neither app connection answered (details.profiles says why)",
            "details": { "profiles": profiles },
        } }),
    )
}
