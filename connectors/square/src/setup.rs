//! `/setup/test_connection`: proves the token works by reading the merchant it belongs
//! to (`GET /v2/merchants/me`) and, when the merchant has a main location, that
//! location's website for the account's domain. Answers `providerAccountId`,
//! `providerAccountName` and `providerAccountDomain` (null when the merchant publishes
//! no website). Must not return anything else Square sent.

use crate::client;
use crate::failure;
use keyway_sdk::api::Failure;
use keyway_sdk::url;
use keyway_sdk::{Error, Request, Response, api};
use serde_json::{Value, json};

pub fn test_connection(_req: Request) -> Result<Response, Error> {
    api::finish(run())
}

fn run() -> Result<Response, Failure> {
    let action = "reading the merchant";
    let res = client::get("/merchants/me")?;
    if !res.ok() {
        return Err(failure::provider_failure(&res, action, None));
    }
    let body: Value = res
        .json()
        .map_err(|e| failure::malformed(action, &e.message, None))?;
    let merchant = &body["merchant"];
    let Some(id) = merchant["id"].as_str().filter(|s| !s.is_empty()) else {
        return Err(failure::malformed(action, "merchant.id is missing", None));
    };
    let domain = match merchant["main_location_id"].as_str() {
        Some(location) if !location.is_empty() => main_location_domain(location)?,
        _ => None,
    };
    Ok(api::json(&json!({
        "ok": true,
        "providerAccountId": id,
        "providerAccountName": merchant["business_name"].as_str(),
        "providerAccountDomain": domain,
        "country": merchant["country"].as_str(),
        "currency": merchant["currency"].as_str(),
    })))
}

/// The host name of the main location's `website_url`, if it has one.
fn main_location_domain(location_id: &str) -> Result<Option<String>, Failure> {
    let action = "reading the merchant's main location";
    let res = client::get(&format!("/locations/{}", url::encode(location_id)))?;
    if !res.ok() {
        return Err(failure::provider_failure(&res, action, None));
    }
    let body: Value = res
        .json()
        .map_err(|e| failure::malformed(action, &e.message, None))?;
    Ok(body["location"]["website_url"].as_str().and_then(host_of))
}

/// The lowercase host of a website address, with or without a scheme.
fn host_of(website: &str) -> Option<String> {
    let trimmed = website.trim();
    let rest = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let host = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_reads_website_addresses() {
        assert_eq!(
            host_of("https://Shop.Example.com/about").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            host_of("shop.example.com").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(
            host_of("http://shop.example.com:8080?x").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(host_of("  "), None);
    }
}
