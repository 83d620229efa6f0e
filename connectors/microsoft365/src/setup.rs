//! `POST /setup/test_connection`: reads the signed-in user from Graph (`/me`) and
//! answers the provider account the host records (`providerAccountId` is the user's
//! object id, `providerAccountName` the display name, `providerAccountDomain` the domain
//! of the user principal name, else of the mail address). Must not ingest anything.

use keyway_sdk::{Error, Http, HttpOptions, Request, Response, api};
use serde_json::{Value, json};

use crate::failure::provider_failure;
use crate::graph;

pub fn test_connection(_req: Request) -> Result<Response, Error> {
    let res = Http::get(graph::ME_URL, HttpOptions::oauth(300))?;
    if !res.ok() {
        return provider_failure(&res, "reading the signed-in user", None);
    }
    let me: Value = res.json()?;
    let id = text(&me, "id").ok_or_else(|| Error::invalid_input("Graph's /me answer has no id"))?;
    let upn = text(&me, "userPrincipalName");
    let mail = text(&me, "mail");
    let domain = [upn.as_deref(), mail.as_deref()]
        .into_iter()
        .flatten()
        .find_map(domain_of);
    keyway_sdk::info!("Microsoft 365 account reachable");
    Ok(api::json(&json!({
        "providerAccountId": id,
        "providerAccountName": text(&me, "displayName").or(upn.clone()),
        "providerAccountDomain": domain,
        "userPrincipalName": upn,
        "mail": mail,
    })))
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The domain after `@`, lowercased; guest users' `#EXT#` principal names have no
/// domain of their own and are skipped.
fn domain_of(address: &str) -> Option<String> {
    let (local, domain) = address.rsplit_once('@')?;
    if local.contains("#EXT#") || domain.is_empty() {
        return None;
    }
    Some(domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_comes_from_the_principal_name_or_mail() {
        assert_eq!(
            domain_of("AdeleV@Contoso.com").as_deref(),
            Some("contoso.com")
        );
        assert_eq!(
            domain_of("adele_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
            None
        );
        assert_eq!(domain_of("no-at-sign"), None);
    }
}
