//! The provider catalog: OAuth facts of widely used providers, so a manifest can say
//! `"oauth": { "provider": "hubspot", ... }` instead of copying endpoints, and
//! `keyway new connector --provider NAME` can start from a provider's API.
//!
//! The data is `catalog.json` beside this file, embedded in the binary and read once by
//! serde (`deny_unknown_fields`); a catalog that does not parse, or breaks a rule of
//! `check.rs`, is a host bug that this module's tests catch. Each entry holds facts from
//! its provider's own OAuth documentation (`docs`): endpoints, how scopes are joined, how
//! the client authenticates, PKCE, extra authorization parameters, token response paths,
//! refresh behaviour, the settings its templates need with the host rule each must pass,
//! and `quirks`, short notes on what the fields do not say.
//!
//! Owns: the catalog's types, its loading and lookup (with the closest keys for a
//! misspelt one). Must not: import the manifest or OAuth modules (the manifest's
//! validation reads this catalog, not the other way round), or fetch anything.

mod check;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

pub use check::{check_entry, placeholders};

/// The catalog as checked in.
const CATALOG_JSON: &str = include_str!("catalog.json");

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Basic => "basic",
            ClientAuth::Post => "post",
        }
    }
}

/// `access_type` of the authorization request (Google's way to ask for a refresh token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessType {
    Offline,
    Online,
}

impl AccessType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::Offline => "offline",
            AccessType::Online => "online",
        }
    }
}

/// Dotted paths into the token response, where the provider nests or renames a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenPaths {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type_path: Option<String>,
}

impl TokenPaths {
    /// `(manifest field, path)` of each path set.
    pub fn set(&self) -> Vec<(&'static str, &str)> {
        [
            ("accessTokenPath", &self.access_token_path),
            ("refreshTokenPath", &self.refresh_token_path),
            ("expiresInPath", &self.expires_in_path),
            ("scopePath", &self.scope_path),
            ("tokenTypePath", &self.token_type_path),
        ]
        .into_iter()
        .filter_map(|(field, path)| path.as_deref().map(|p| (field, p)))
        .collect()
    }
}

/// What the provider documents about refresh tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Refresh {
    /// Whether the authorization answers a refresh token (with the entry's default
    /// scopes and authorization parameters). False fills `refresh.enabled: false`.
    pub issued: bool,
    /// Whether a refresh answers a new refresh token that replaces the one used; the
    /// host keeps the new one durable before it uses the access token. Absent: the
    /// documentation does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotates: Option<bool>,
    /// Whether a refresh answer leaves out the refresh token; the host then keeps the
    /// one it had. Absent: the documentation does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted_on_refresh: Option<bool>,
}

/// How a setting's value is cleaned before the host rule is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Normalize {
    LowercaseHost,
    ShopifyShopDomain,
}

impl Normalize {
    pub fn as_str(self) -> &'static str {
        match self {
            Normalize::LowercaseHost => "lowercaseHost",
            Normalize::ShopifyShopDomain => "shopifyShopDomain",
        }
    }
}

/// The rule a setting must pass before it may sit in a URL host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostValidation {
    /// The host must end with this on a label boundary, for example `.zendesk.com`.
    pub suffix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
}

/// A connection setting the entry's URL templates use (`{settings.<name>}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Setting {
    /// What the operator enters, for example "Your Zendesk host (acme.zendesk.com)".
    pub description: String,
    pub host_validation: HostValidation,
}

/// A GET endpoint answering the account behind a token, and the top-level fields of its
/// answer holding the account's id and a readable name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Account {
    pub url: String,
    pub id: String,
    pub name: String,
}

/// One provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    /// What a manifest names: lowercase letters, digits and single hyphens.
    pub key: String,
    pub name: String,
    /// The provider's own documentation of its OAuth flow.
    pub docs: String,
    /// URL templates; `{settings.<name>}` placeholders name entries of `settings`.
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    /// The OIDC issuer whose discovery document and keys check the id_tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// How scopes are joined, when not a space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    pub client_auth_method: ClientAuth,
    /// Whether the provider documents PKCE (S256) for this flow.
    pub pkce: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_type: Option<AccessType>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_authorize_params: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenPaths>,
    pub refresh: Refresh,
    /// A minimal useful set, for `keyway new`; a manifest's `scopes` are its own.
    pub default_scopes: Vec<String>,
    /// The API's base URL, for `keyway new`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, Setting>,
    /// What the fields above do not say, or why one is set as it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<String>,
}

impl Provider {
    /// The scope separator, a space when the entry names none.
    pub fn separator(&self) -> &str {
        self.scope_separator.as_deref().unwrap_or(" ")
    }

    /// `(field, template)` of each URL template the entry has, in manifest names.
    pub fn templates(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![
            ("authorizationUrlTemplate", self.authorization_url.as_str()),
            ("tokenUrlTemplate", self.token_url.as_str()),
        ];
        if let Some(r) = &self.revocation_url {
            out.push(("revocationUrlTemplate", r.as_str()));
        }
        if let Some(i) = &self.issuer {
            out.push(("issuerUrl", i.as_str()));
        }
        out
    }

    /// Whether `keyway new connector --provider` can start from this entry: it has an API
    /// base, an account endpoint and default scopes (the new crate's tests check a grant
    /// without them), and no setting its templates need.
    pub fn has_preset(&self) -> bool {
        self.api.is_some()
            && self.account.is_some()
            && !self.default_scopes.is_empty()
            && self.settings.is_empty()
    }
}

/// The file's shape.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    providers: Vec<Provider>,
}

/// Parses catalog text.
pub fn parse(text: &str) -> Result<Vec<Provider>, serde_json::Error> {
    serde_json::from_str::<CatalogFile>(text).map(|f| f.providers)
}

static CATALOG: LazyLock<Vec<Provider>> = LazyLock::new(|| match parse(CATALOG_JSON) {
    Ok(all) => all,
    Err(e) => {
        // A host bug, which the tests catch; the host goes on without presets.
        tracing::error!(error = %e, "the embedded provider catalog does not parse");
        Vec::new()
    }
});

/// Every entry, in the catalog's order.
pub fn all() -> &'static [Provider] {
    &CATALOG
}

/// The entry `key`.
pub fn find(key: &str) -> Option<&'static Provider> {
    all().iter().find(|p| p.key == key)
}

/// Up to three keys closest to `given`, closest first: for "did you mean" messages.
pub fn closest_keys(given: &str) -> Vec<&'static str> {
    let given = given.to_ascii_lowercase();
    let mut scored: Vec<(f64, &'static str)> = all()
        .iter()
        .map(|p| {
            let score = strsim::jaro_winkler(&given, &p.key)
                .max(strsim::jaro_winkler(&given, &p.name.to_ascii_lowercase()));
            let prefix = p.key.starts_with(&given) || given.starts_with(p.key.as_str());
            (if prefix { score.max(0.9) } else { score }, p.key.as_str())
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, k)| k).collect()
}

/// "; closest: \"a\", \"b\"" for an unknown key, or a pointer to the list.
pub fn unknown_key_hint(given: &str) -> String {
    let close = closest_keys(given);
    if close.is_empty() {
        "; `keyway providers list` shows every key".to_owned()
    } else {
        let quoted: Vec<String> = close.iter().map(|k| format!("\"{k}\"")).collect();
        format!("; closest: {}", quoted.join(", "))
    }
}
