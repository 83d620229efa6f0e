//! Provider presets for `keyway new connector --provider NAME`: what a new OAuth
//! connector for a well-known provider needs from the start (its authorization, token and
//! revocation endpoints, default scopes and how they are joined, the authorization
//! parameters that get a refresh token, the API's base URL, and an endpoint that names
//! the account behind a token), each with the documentation it was taken from.
//!
//! Owns: the preset table, and the generic preset a connector without one starts from.
//! Must not: hold anything that is not in the provider's own documentation.

/// One provider's OAuth and API facts.
#[derive(Debug, Clone)]
pub struct Preset {
    pub key: &'static str,
    pub name: &'static str,
    /// The provider's documentation of its OAuth flow.
    pub docs: &'static str,
    pub authorization_url: String,
    pub token_url: String,
    pub revocation_url: Option<&'static str>,
    /// The OIDC issuer, when the provider's id_tokens name one issuer for every account:
    /// the host then checks each id_token against its keys.
    pub issuer: Option<&'static str>,
    pub scopes: &'static [&'static str],
    /// How scopes are joined in the authorization request, when not a space.
    pub scope_separator: Option<&'static str>,
    /// `access_type=offline` (Google's way to get a refresh token).
    pub offline: bool,
    pub extra_authorize_params: &'static [(&'static str, &'static str)],
    /// The API's base URL: the allowlist and token injection cover what is under it.
    pub api: String,
    /// A GET endpoint answering the account behind the token, and the top-level fields
    /// of its answer that hold the account's id and a readable name.
    pub account_url: String,
    pub account_id: &'static str,
    pub account_name: &'static str,
}

fn preset(
    key: &'static str,
    name: &'static str,
    docs: &'static str,
    (authorization_url, token_url): (&str, &str),
    scopes: &'static [&'static str],
    api: &str,
    (account_url, account_id, account_name): (&str, &'static str, &'static str),
) -> Preset {
    Preset {
        key,
        name,
        docs,
        authorization_url: authorization_url.into(),
        token_url: token_url.into(),
        revocation_url: None,
        issuer: None,
        scopes,
        scope_separator: None,
        offline: false,
        extra_authorize_params: &[],
        api: api.into(),
        account_url: account_url.into(),
        account_id,
        account_name,
    }
}

/// Every preset, by key.
pub fn all() -> Vec<Preset> {
    vec![
        Preset {
            revocation_url: Some("https://oauth2.googleapis.com/revoke"),
            issuer: Some("https://accounts.google.com"),
            offline: true,
            extra_authorize_params: &[("prompt", "consent")],
            ..preset(
                "google",
                "Google",
                "https://developers.google.com/identity/protocols/oauth2/web-server",
                (
                    "https://accounts.google.com/o/oauth2/v2/auth",
                    "https://oauth2.googleapis.com/token",
                ),
                &["openid", "email", "profile"],
                "https://www.googleapis.com",
                (
                    "https://openidconnect.googleapis.com/v1/userinfo",
                    "sub",
                    "email",
                ),
            )
        },
        preset(
            "microsoft",
            "Microsoft",
            "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
            (
                "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            ),
            &["offline_access", "User.Read"],
            "https://graph.microsoft.com/v1.0",
            ("https://graph.microsoft.com/v1.0/me", "id", "displayName"),
        ),
        preset(
            "hubspot",
            "HubSpot",
            "https://developers.hubspot.com/docs/api/oauth-quickstart-guide",
            (
                "https://app.hubspot.com/oauth/authorize",
                "https://api.hubapi.com/oauth/v1/token",
            ),
            &["crm.objects.contacts.read"],
            "https://api.hubapi.com",
            (
                "https://api.hubapi.com/account-info/v3/details",
                "portalId",
                "uiDomain",
            ),
        ),
        preset(
            "github",
            "GitHub",
            "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
            (
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
            ),
            &["read:user"],
            "https://api.github.com",
            ("https://api.github.com/user", "id", "login"),
        ),
        Preset {
            scope_separator: Some(","),
            ..preset(
                "slack",
                "Slack",
                "https://docs.slack.dev/authentication/installing-with-oauth",
                (
                    "https://slack.com/oauth/v2/authorize",
                    "https://slack.com/api/oauth.v2.access",
                ),
                &["users:read"],
                "https://slack.com/api",
                ("https://slack.com/api/auth.test", "user_id", "team"),
            )
        },
        Preset {
            extra_authorize_params: &[("audience", "api.atlassian.com"), ("prompt", "consent")],
            ..preset(
                "atlassian",
                "Atlassian",
                "https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/",
                (
                    "https://auth.atlassian.com/authorize",
                    "https://auth.atlassian.com/oauth/token",
                ),
                &["read:me", "offline_access"],
                "https://api.atlassian.com",
                ("https://api.atlassian.com/me", "account_id", "email"),
            )
        },
        preset(
            "box",
            "Box",
            "https://developer.box.com/guides/authentication/oauth2/",
            (
                "https://account.box.com/api/oauth2/authorize",
                "https://api.box.com/oauth2/token",
            ),
            &["root_readonly"],
            "https://api.box.com/2.0",
            ("https://api.box.com/2.0/users/me", "id", "login"),
        ),
    ]
}

/// The keys of every preset, for the command line's choices.
pub const KEYS: &[&str] = &[
    "google",
    "microsoft",
    "hubspot",
    "github",
    "slack",
    "atlassian",
    "box",
];

/// The preset `key`, if there is one.
pub fn find(key: &str) -> Option<Preset> {
    all().into_iter().find(|p| p.key == key)
}

/// What a connector without a preset starts from: endpoints under `example` hosts named
/// after its key, to be replaced with the provider's.
pub fn generic(key: &str) -> Preset {
    Preset {
        key: "",
        name: "",
        docs: "",
        authorization_url: format!("https://auth.{key}.example/oauth/authorize"),
        token_url: format!("https://auth.{key}.example/oauth/token"),
        revocation_url: None,
        issuer: None,
        scopes: &["records.read"],
        scope_separator: None,
        offline: false,
        extra_authorize_params: &[],
        api: format!("https://api.{key}.example/v1"),
        account_url: format!("https://api.{key}.example/v1/me"),
        account_id: "id",
        account_name: "name",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_listed_once_with_https_urls_and_its_docs() {
        let all = all();
        let keys: Vec<&str> = all.iter().map(|p| p.key).collect();
        assert_eq!(keys, KEYS);
        for p in &all {
            for url in [
                p.docs,
                &p.authorization_url,
                &p.token_url,
                &p.api,
                &p.account_url,
            ]
            .into_iter()
            .chain(p.revocation_url)
            .chain(p.issuer)
            {
                let parsed =
                    url::Url::parse(url).unwrap_or_else(|e| panic!("{}: {url}: {e}", p.key));
                assert_eq!(parsed.scheme(), "https", "{}: {url}", p.key);
            }
            assert!(!p.api.ends_with('/'), "{}", p.key);
            assert!(!p.scopes.is_empty(), "{}", p.key);
        }
    }
}
