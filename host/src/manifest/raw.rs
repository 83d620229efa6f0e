//! Raw manifest types: exactly what `connector.json` may contain, as serde reads it.
//!
//! Owns the on-disk shape (camelCase, unknown fields denied) and, through `schemars`,
//! the JSON Schema editors use. Must not judge meaning (placeholders, patterns, routes):
//! `validate.rs` turns these into the validated `Connector`, the only type the runtime
//! sees. Doc comments here become descriptions in the generated schema.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

mod jobs;
pub(crate) use jobs::{RawEncoding, RawScheme, RawStream, RawStreamMode, RawWebhook};

/// A Keyway connector manifest (`connector.json`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "Keyway connector manifest")]
pub(crate) struct RawManifest {
    /// Optional reference to this schema, for editors; ignored by the host.
    #[serde(rename = "$schema", default)]
    pub _schema: Option<String>,
    /// Stable identifier: lowercase letters, digits and single hyphens.
    pub key: String,
    /// Human-readable name.
    pub name: String,
    /// The provider this connector talks to (lowercase letters, digits, `_` and `-`).
    pub provider: String,
    /// Whether the connector reads from (`source`) or writes to (`destination`) the provider.
    pub kind: RawKind,
    /// Semantic version of the connector.
    pub version: String,
    /// What the connector's routes may do.
    #[serde(default)]
    pub permissions: RawPermissions,
    /// How a connection to the provider is configured and authorized.
    #[serde(default)]
    pub connection: RawConnection,
    /// Syncs the host runs by itself for every connected connection: a route on a
    /// schedule, resuming from the cursor it last checkpointed (`state.checkpoint`).
    #[serde(default)]
    pub streams: Vec<RawStream>,
    /// Provider webhooks: `POST /v1/webhooks/{connection}/{key}` is verified with the
    /// connection's secret setting, stored, answered 202, then handed to the route.
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Kind")]
pub(crate) enum RawKind {
    Source,
    Destination,
}

/// Grants checked by the host before each import acts.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Permissions")]
pub(crate) struct RawPermissions {
    /// URL patterns outbound requests may target: `https://host[:port][/path-prefix*]`;
    /// the host may start with `*.` to match subdomains (not the bare domain).
    #[serde(default)]
    pub http: Vec<String>,
    /// Entities the connector may ingest, for example `{ "Customer": ["write"] }`.
    #[serde(default)]
    pub entities: BTreeMap<String, Vec<RawEntityVerb>>,
    /// What may be done with each `x-secret` setting: `read` lets the guest read it
    /// (`secrets.get`), `inject` lets the host put it on requests that a
    /// `connection.inject.<name>` rule admits; for example `{ "webhook_secret": ["read"],
    /// "api_token": ["inject"] }`.
    #[serde(default)]
    pub secrets: BTreeMap<String, Vec<RawSecretVerb>>,
    /// App connections (defined by the operator with `keyway app-connections`) the routes
    /// may use by name: `token` lets the guest read the access token
    /// (`oauth.access-token-for`), `inject` lets the host put it on requests that a
    /// `connection.appInject.<name>` rule admits; for example `{ "google-oauth": ["token"],
    /// "ms365-oauth": ["inject"] }`.
    #[serde(default)]
    pub connections: BTreeMap<String, Vec<RawConnectionVerb>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "ConnectionVerb")]
pub(crate) enum RawConnectionVerb {
    Token,
    Inject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "EntityVerb")]
pub(crate) enum RawEntityVerb {
    Write,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "SecretVerb")]
pub(crate) enum RawSecretVerb {
    Read,
    Inject,
}

/// Connection settings, the setup check and OAuth.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Connection")]
pub(crate) struct RawConnection {
    /// The route the host calls to check a connection works.
    #[serde(default)]
    #[schemars(with = "RawRouteRef")]
    pub test_connection: Option<RawRouteRef>,
    /// JSON Schema (draft 2020-12) of the connection's settings. Extensions: `x-secret`
    /// (the value is stored sealed and never placed in a URL), `x-placeholder`.
    #[serde(default)]
    #[schemars(schema_with = "settings_schema_shape")]
    pub settings_schema: Option<serde_json::Value>,
    /// Host-managed OAuth; the guest never sees client secrets or refresh tokens.
    #[serde(default)]
    #[schemars(with = "RawOAuth")]
    pub oauth: Option<RawOAuth>,
    /// Where the host may inject each secret setting granted `inject`, and how: the
    /// rules for one setting, first match wins. No rule, no injection.
    #[serde(default)]
    pub inject: BTreeMap<String, Vec<RawInjectRule>>,
    /// Where the host may inject each app connection granted `inject`, and how: the rules
    /// for one app connection, first match wins. No rule, no injection.
    #[serde(default)]
    pub app_inject: BTreeMap<String, Vec<RawInjectRule>>,
    /// The provider's API: a base URL that routes' relative requests (`Api::get("/orders")`
    /// in the SDK) are resolved against, with default headers and a default credential.
    #[serde(default)]
    pub api: Option<RawApi>,
    /// Rules a setting must pass before it may appear in a URL host, for a connector
    /// without an OAuth block (an API key's tenant host); with one, the rules go in it.
    #[serde(default)]
    pub host_validation: BTreeMap<String, RawHostRule>,
    /// Named alternative ways to authenticate (an API key *or* OAuth, say); a connection
    /// chooses one when it is created. With options, `connection.settingsSchema` holds only
    /// the settings every option shares, and `oauth` and `inject` move into the options.
    #[serde(default)]
    pub auth_options: BTreeMap<String, RawAuthOption>,
}

/// One entry of `connection.authOptions`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "AuthOption")]
pub(crate) struct RawAuthOption {
    /// `apiKey` or `basic` (secret settings the host injects), `oauth` (authorization
    /// code) or `clientCredentials` (a server app's own token).
    #[serde(rename = "type")]
    pub kind: RawAuthKind,
    /// What a person choosing the option reads, for example "API key".
    pub title: String,
    /// Where to learn how to get the credential (https).
    #[serde(default)]
    pub help_url: Option<String>,
    /// The option's own settings, added to `connection.settingsSchema`'s: only
    /// `type`, `properties` and `required`; a name may not repeat a shared setting.
    #[serde(default)]
    #[schemars(schema_with = "settings_schema_shape")]
    pub settings_schema: Option<serde_json::Value>,
    /// The option's OAuth block (`oauth` and `clientCredentials` options).
    #[serde(default)]
    #[schemars(with = "RawOAuth")]
    pub oauth: Option<RawOAuth>,
    /// Where the host may inject each of the option's secret settings granted `inject`.
    #[serde(default)]
    pub inject: BTreeMap<String, Vec<RawInjectRule>>,
    /// The provider's API for this option; default `connection.api`.
    #[serde(default)]
    pub api: Option<RawApi>,
    /// Rules a setting must pass before it may appear in a URL host, for an option
    /// without an OAuth block; an option with one keeps them in it.
    #[serde(default)]
    pub host_validation: BTreeMap<String, RawHostRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "AuthKind")]
pub(crate) enum RawAuthKind {
    ApiKey,
    Basic,
    Oauth,
    ClientCredentials,
}

/// `connection.api`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Api")]
pub(crate) struct RawApi {
    /// The base URL (https, or http for loopback; no query or fragment), with
    /// `{settings.<name>}` placeholders as in other URL templates. It must pass
    /// `permissions.http`.
    pub base_url: String,
    /// Headers every API request carries unless it sets one of that name. Never a
    /// credential: the host injects those (`auth`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The credential injected into every API request: `"none"` (the default),
    /// `"oauth"` (the connection's token, where `connection.oauth.inject` admits), or
    /// `{"secret": "<name>"}` (a secret setting granted `inject`, where
    /// `connection.inject.<name>` admits).
    #[serde(default)]
    pub auth: Option<RawApiAuth>,
}

/// The default credential of `connection.api`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
#[schemars(rename = "ApiAuth")]
pub(crate) enum RawApiAuth {
    None,
    Oauth,
    Secret(String),
}

/// Where a credential may be sent and in which header. The guest asks only for the
/// credential by name; the rule whose URL pattern admits the request decides the rest.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "InjectRule")]
pub(crate) struct RawInjectRule {
    /// URL pattern in the `permissions.http` grammar (`https://host[:port][/path*]`, host
    /// may start with `*.`) with optional `{settings.<name>}` placeholders, so a tenant's
    /// credential goes only to that tenant's host; a host placeholder needs a
    /// `hostValidation` rule. The request must also pass `permissions.http`.
    pub url: String,
    /// Header that carries the credential; default `Authorization`.
    #[serde(default)]
    pub header: Option<String>,
    /// Text before the credential; default `Bearer ` in `Authorization`, none in any
    /// other header. An empty string sends the bare value.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Send HTTP basic credentials instead: the injected secret is the user name.
    #[serde(default)]
    pub basic: Option<RawBasicInject>,
}

/// HTTP basic shape of a secret injection.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "BasicInject")]
pub(crate) struct RawBasicInject {
    /// `x-secret` setting (granted `inject`) that holds the password; none sends an
    /// empty password.
    #[serde(default)]
    pub password_secret: Option<String>,
}

fn settings_schema_shape(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "JSON Schema (draft 2020-12) of the connection's settings, with the extensions `x-secret` and `x-placeholder`.",
        "properties": {
            "properties": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "x-secret": { "type": "boolean" },
                        "x-placeholder": { "type": "string" },
                        "title": { "type": "string" }
                    }
                }
            },
            "required": { "type": "array", "items": { "type": "string" } }
        }
    })
}

/// A route of the connector's component.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "RouteRef")]
pub(crate) struct RawRouteRef {
    /// Absolute route path, for example `/setup/test_connection`.
    pub route: String,
    /// HTTP method of the route.
    pub method: RawMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
#[schemars(rename = "Method")]
pub(crate) enum RawMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// OAuth 2.0 configuration. URL templates may use `{settings.<name>}` placeholders.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "OAuth")]
pub(crate) struct RawOAuth {
    /// The grant type.
    #[serde(rename = "type")]
    pub flow: RawOAuthFlow,
    /// A provider of the host's catalog (`keyway providers list`), for example `"hubspot"`.
    /// Every field this block leaves out that the provider's entry has is filled from it:
    /// the URL templates and issuer, `scopeSeparator`, `client.authMethod`, `pkce`,
    /// `accessType`, `extraAuthorizeParams` (per parameter), `token` paths,
    /// `refresh.enabled`, and for each setting its templates use a `hostValidation` rule
    /// and a `requiredSettings` entry (the setting must be declared in `settingsSchema`).
    /// A field given here always wins; `scopes` are always this block's.
    /// `keyway validate --explain` lists what was filled.
    #[serde(default)]
    pub provider: Option<String>,
    /// Where the user is sent to authorize (authorization_code only).
    #[serde(default)]
    pub authorization_url_template: Option<String>,
    /// Where codes and refresh tokens are exchanged for tokens.
    #[serde(default)]
    pub token_url_template: Option<String>,
    /// Where tokens are revoked when a connection is revoked or deleted.
    #[serde(default)]
    pub revocation_url_template: Option<String>,
    /// OIDC issuer; discovery fills the endpoints whose templates are absent.
    #[serde(default)]
    pub issuer_url: Option<String>,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes a connection must have been granted: a grant lacking one makes every token
    /// request fail with `missing_scopes` (the connection must be authorized again with
    /// them). Default: every scope in `scopes` but `offline_access`; `[]` requires none.
    #[serde(default)]
    pub required_scopes: Option<Vec<String>>,
    /// Joins scopes in the request (default: a space).
    #[serde(default)]
    pub scope_separator: Option<String>,
    /// `offline` adds `access_type=offline` to the authorization request.
    #[serde(default)]
    pub access_type: Option<RawAccessType>,
    /// Use PKCE (S256); default true.
    #[serde(default)]
    pub pkce: Option<bool>,
    /// Extra literal query parameters for the authorization request.
    #[serde(default)]
    pub extra_authorize_params: BTreeMap<String, String>,
    /// Settings that must be present before OAuth starts.
    #[serde(default)]
    pub required_settings: Vec<String>,
    /// Which OAuth app credential the host uses, and how it authenticates.
    pub client: RawClient,
    /// Dotted paths into the token response, for providers that nest or rename fields.
    #[serde(default)]
    pub token: RawTokenPaths,
    /// Whether the host refreshes tokens (default enabled).
    #[serde(default)]
    #[schemars(with = "RawRefresh")]
    pub refresh: Option<RawRefresh>,
    /// The route the host calls right after a successful authorization.
    #[serde(default)]
    #[schemars(with = "RawRouteRef")]
    pub post_connect: Option<RawRouteRef>,
    /// Rules a setting must pass before it may appear in a URL host.
    #[serde(default)]
    pub host_validation: BTreeMap<String, RawHostRule>,
    /// Whether the guest may read the access token (default true); false means the
    /// host only injects it into allowed requests.
    #[serde(default)]
    pub expose_access_token: Option<bool>,
    /// Where the host may inject the access token, and how: first match wins. Needed
    /// for `auth: oauth` requests; with none, the host injects the token nowhere.
    #[serde(default)]
    pub inject: Vec<RawInjectRule>,
    /// Extra query parameters of the authorization callback that the host stores as
    /// settings (for example `realmId`); each must be a property of `settingsSchema`.
    #[serde(default)]
    pub callback_params: Vec<String>,
    /// Token hooks the component exports and the host calls to shape a non-standard
    /// token exchange (authorization_code only); see `wit/token-hooks.wit`.
    #[serde(default)]
    pub hooks: Vec<RawTokenHook>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "TokenHook")]
pub(crate) enum RawTokenHook {
    /// Builds the authorization-code exchange request.
    TokenRequest,
    /// Builds the refresh request.
    RefreshRequest,
    /// Reads the provider's (scrubbed) answer: which paths hold the tokens, and extra
    /// fields to store as settings.
    CredentialsFromTokenResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "OAuthFlow")]
pub(crate) enum RawOAuthFlow {
    AuthorizationCode,
    ClientCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "AccessType")]
pub(crate) enum RawAccessType {
    Offline,
    Online,
}

/// The OAuth app credential to use.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Client")]
pub(crate) struct RawClient {
    /// Name of the operator-managed OAuth app credential (client id and secret).
    pub credential_key: String,
    /// How the client authenticates at the token endpoint: HTTP `basic` (default) or
    /// `post` (in the form body).
    #[serde(default)]
    pub auth_method: Option<RawClientAuthMethod>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "ClientAuthMethod")]
pub(crate) enum RawClientAuthMethod {
    Basic,
    Post,
}

/// Dotted paths into the token response.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "TokenPaths")]
pub(crate) struct RawTokenPaths {
    /// Default `access_token`.
    #[serde(default)]
    pub access_token_path: Option<String>,
    /// Default `refresh_token`.
    #[serde(default)]
    pub refresh_token_path: Option<String>,
    /// Default `expires_in`.
    #[serde(default)]
    pub expires_in_path: Option<String>,
    /// Default `scope`.
    #[serde(default)]
    pub scope_path: Option<String>,
    /// Default `token_type`.
    #[serde(default)]
    pub token_type_path: Option<String>,
}

/// Refresh behaviour.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Refresh")]
pub(crate) struct RawRefresh {
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A host rule for one setting.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "HostRule")]
pub(crate) struct RawHostRule {
    /// The host must end with this suffix on a label boundary, for example `.myshopify.com`.
    pub suffix: String,
    /// How the value is normalized before the check (default `lowercaseHost`).
    #[serde(default)]
    pub normalize: Option<RawNormalizer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Normalizer")]
pub(crate) enum RawNormalizer {
    LowercaseHost,
    ShopifyShopDomain,
}
