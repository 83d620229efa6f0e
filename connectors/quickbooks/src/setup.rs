//! `POST /setup/test_connection`: reads the connected company's `CompanyInfo` and
//! answers the provider account the host records (`providerAccountId` is the realmId,
//! `providerAccountName` the company name, `providerAccountDomain` the host of the
//! company's web address or its email domain). Must not ingest anything.

use keyway_sdk::{Error, Http, HttpOptions, Request, Response, api};
use serde_json::{Value, json};

use crate::company::Company;
use crate::failure::provider_failure;

pub fn test_connection(_req: Request) -> Result<Response, Error> {
    let company = Company::from_settings()?;
    let res = Http::get(
        &company.company_info_url(),
        HttpOptions::oauth(300).header("accept", "application/json"),
    )?;
    if !res.ok() {
        return provider_failure(&res, "reading the company information", None);
    }
    let body: Value = res.json()?;
    let info = body
        .get("CompanyInfo")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            Error::invalid_input("Intuit's companyinfo answer has no CompanyInfo object")
        })?;
    let name = text(info, &["CompanyName"]).or_else(|| text(info, &["LegalName"]));
    keyway_sdk::info!(realm_id = company.realm_id; "QuickBooks company reachable");
    Ok(api::json(&json!({
        "providerAccountId": company.realm_id,
        "providerAccountName": name,
        "providerAccountDomain": domain(info),
        "legalName": text(info, &["LegalName"]),
        "country": text(info, &["Country"]),
        "environment": if company.sandbox { "sandbox" } else { "production" },
    })))
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The company's web domain (`WebAddr.URI`), else the domain of its email address.
fn domain(info: &Value) -> Option<String> {
    if let Some(uri) = text(info, &["WebAddr", "URI"]) {
        let rest = uri.split_once("://").map_or(uri.as_str(), |(_, rest)| rest);
        let host = rest
            .split(['/', '?', '#', ':'])
            .next()
            .unwrap_or_default()
            .trim_start_matches("www.")
            .to_ascii_lowercase();
        if !host.is_empty() {
            return Some(host);
        }
    }
    text(info, &["Email", "Address"])
        .and_then(|email| email.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
        .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_prefers_the_web_address() {
        let info = json!({ "WebAddr": { "URI": "https://www.Bakery.example/about" }, "Email": { "Address": "x@mail.example" } });
        assert_eq!(domain(&info).as_deref(), Some("bakery.example"));
    }

    #[test]
    fn domain_falls_back_to_the_email() {
        let info = json!({ "WebAddr": {}, "Email": { "Address": "owner@Bakery.example" } });
        assert_eq!(domain(&info).as_deref(), Some("bakery.example"));
        assert_eq!(domain(&json!({})), None);
    }
}
