//! `/setup/test_connection`: proves the token works by reading the OpenID Connect
//! userinfo of the account it belongs to. Answers `providerAccountId` (the stable
//! `sub`), `providerAccountName` (the name, or the email when there is none) and
//! `providerAccountDomain` (the Workspace domain `hd`, or the email's domain for a
//! consumer account). Must not return anything else Google sent.

use crate::client;
use crate::failure;
use keyway_sdk::api::Failure;
use keyway_sdk::{Error, Request, Response, api};
use serde_json::{Value, json};

pub fn test_connection(_req: Request) -> Result<Response, Error> {
    api::finish(run())
}

fn non_empty<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v[field].as_str().map(str::trim).filter(|s| !s.is_empty())
}

fn run() -> Result<Response, Failure> {
    let action = "reading the account's userinfo";
    let res = client::get(client::USERINFO_URL)?;
    if !res.ok() {
        return Err(failure::provider_failure(&res, action, None));
    }
    let info: Value = res
        .json()
        .map_err(|e| failure::malformed(action, &e.message, None))?;
    let Some(sub) = non_empty(&info, "sub") else {
        return Err(failure::malformed(action, "sub is missing", None));
    };
    let email = non_empty(&info, "email");
    let name = non_empty(&info, "name").or(email);
    let domain = non_empty(&info, "hd")
        .map(str::to_ascii_lowercase)
        .or_else(|| {
            email
                .and_then(|e| e.rsplit_once('@'))
                .map(|(_, d)| d.to_ascii_lowercase())
        });
    Ok(api::json(&json!({
        "ok": true,
        "providerAccountId": sub,
        "providerAccountName": name,
        "providerAccountDomain": domain,
        "email": email,
        "emailVerified": info["email_verified"].as_bool(),
    })))
}
