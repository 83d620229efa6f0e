//! The validated connector: the only manifest type the runtime sees.
//!
//! Owns the shape the host acts on (grants, OAuth knobs with defaults applied, parsed
//! URL templates and patterns, the compiled settings schema) and the route check against
//! a loaded component. Must not parse JSON or report manifest syntax: `validate.rs`
//! builds these values, and nothing outside `manifest` can construct a `Connector`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use url::Url;

use super::host_validation::HostRule;
use super::inject::InjectRule;
use super::patterns::HttpPattern;
use super::problems::{Pointer, Problem};
use super::settings::SettingsSchema;
use super::template::UrlTemplate;
use crate::streams::{Mode, Schedule};
use crate::types::Method;
use crate::webhooks::Rule as VerifyRule;

/// A validated manifest.
#[derive(Debug)]
pub struct Connector {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) provider: String,
    pub(crate) kind: Kind,
    pub(crate) version: semver::Version,
    pub(crate) permissions: Permissions,
    pub(crate) connection: Connection,
    pub(crate) streams: Vec<Stream>,
    pub(crate) webhooks: Vec<Webhook>,
}

impl Connector {
    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn provider(&self) -> &str {
        &self.provider
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn version(&self) -> &semver::Version {
        &self.version
    }
    pub fn permissions(&self) -> &Permissions {
        &self.permissions
    }
    pub fn connection(&self) -> &Connection {
        &self.connection
    }
    /// Every way a connection may authenticate (one, unnamed, without `authOptions`).
    pub fn auth_options(&self) -> &[AuthOption] {
        &self.connection.auth
    }
    /// Whether the manifest names `authOptions`, so a connection must choose one.
    pub fn has_auth_options(&self) -> bool {
        self.connection.auth.iter().any(|o| o.name.is_some())
    }
    /// The option a connection that chose `choice` uses.
    pub fn auth(&self, choice: Option<&str>) -> Result<&AuthOption, AuthChoiceError> {
        let choices = || {
            self.connection
                .auth
                .iter()
                .filter_map(|o| o.name.as_deref().map(|n| format!("`{n}`")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (choice, self.has_auth_options()) {
            (None, false) => Ok(&self.connection.auth[0]),
            (Some(option), false) => Err(AuthChoiceError::NotOffered {
                connector: self.key.clone(),
                option: option.to_owned(),
            }),
            (None, true) => Err(AuthChoiceError::Required {
                connector: self.key.clone(),
                choices: choices(),
            }),
            (Some(option), true) => self
                .connection
                .auth
                .iter()
                .find(|o| o.name.as_deref() == Some(option))
                .ok_or_else(|| AuthChoiceError::Unknown {
                    connector: self.key.clone(),
                    option: option.to_owned(),
                    choices: choices(),
                }),
        }
    }
    /// The OAuth block of a connector with a single way to authenticate; `None` for one
    /// with `authOptions` (a connection's is `auth(choice)?.oauth`).
    pub fn oauth(&self) -> Option<&OAuthConfig> {
        self.auth(None).ok().and_then(|o| o.oauth.as_ref())
    }
    /// Whether some option uses OAuth.
    pub fn any_oauth(&self) -> bool {
        self.connection.auth.iter().any(|o| o.oauth.is_some())
    }
    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }
    /// The stream `key`.
    pub fn stream(&self, key: &str) -> Option<&Stream> {
        self.streams.iter().find(|s| s.key == key)
    }
    pub fn webhooks(&self) -> &[Webhook] {
        &self.webhooks
    }
    /// The webhook `key`.
    pub fn webhook(&self, key: &str) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.key == key)
    }

    /// Problems with `testConnection`, `postConnect`, and the routes of `streams` and
    /// `webhooks` against the routes the component exports; empty when all are exported.
    pub fn check_routes(&self, exported: &[(Method, String)]) -> Vec<Problem> {
        let mut out = Vec::new();
        let conn = Pointer::root().at("connection");
        let mut refs = Vec::new();
        if let Some(r) = &self.connection.test_connection {
            refs.push((conn.at("testConnection"), r));
        }
        for option in &self.connection.auth {
            if let Some(r) = option.oauth.as_ref().and_then(|o| o.post_connect.as_ref()) {
                let at = match &option.name {
                    Some(name) => conn.at("authOptions").at(name),
                    None => conn.clone(),
                };
                refs.push((at.at("oauth").at("postConnect"), r));
            }
        }
        for (i, stream) in self.streams.iter().enumerate() {
            refs.push((Pointer::root().at("streams").at(i), &stream.route));
        }
        for (i, hook) in self.webhooks.iter().enumerate() {
            refs.push((Pointer::root().at("webhooks").at(i), &hook.route));
        }
        for (at, r) in refs {
            if exported.iter().any(|(m, p)| *m == r.method && *p == r.path) {
                continue;
            }
            let other: Vec<String> = exported
                .iter()
                .filter(|(_, p)| *p == r.path)
                .map(|(m, _)| m.to_string())
                .collect();
            let message = if other.is_empty() {
                format!(
                    "route {} {} is not exported by the component",
                    r.method, r.path
                )
            } else {
                format!(
                    "route {} {} is not exported by the component (it exports {} {})",
                    r.method,
                    r.path,
                    other.join(", "),
                    r.path
                )
            };
            out.push(Problem::new(at.at("route"), message));
        }
        out
    }

    /// A problem for each OAuth block (the single one, or an auth option's) that lists
    /// token hooks (`hooks`) the component does not export.
    pub fn check_token_hooks(&self, exported: bool) -> Vec<Problem> {
        if exported {
            return Vec::new();
        }
        let conn = Pointer::root().at("connection");
        self.connection
            .auth
            .iter()
            .filter_map(|option| {
                let o = option.oauth.as_ref().filter(|o| !o.hooks.is_empty())?;
                let at = match &option.name {
                    Some(name) => conn.at("authOptions").at(name),
                    None => conn.clone(),
                };
                let names: Vec<&str> = o.hooks.iter().map(|h| h.as_str()).collect();
                Some(Problem::new(
                    at.at("oauth").at("hooks"),
                    format!(
                        "hooks {} are declared but the component does not export the `token-hooks` interface",
                        names.join(", ")
                    ),
                ))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Source,
    Destination,
}

/// A route of the connector's component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRef {
    pub method: Method,
    pub path: String,
}

/// A sync the host runs for every connection (`streams`).
#[derive(Debug, Clone)]
pub struct Stream {
    pub key: String,
    pub route: RouteRef,
    /// `None`: it runs only when asked (`keyway streams run`).
    pub schedule: Option<Schedule>,
    pub mode: Mode,
    pub entity: String,
}

/// A provider webhook (`webhooks`).
#[derive(Debug, Clone)]
pub struct Webhook {
    pub key: String,
    pub route: RouteRef,
    pub rule: VerifyRule,
    /// The `x-secret` setting holding the signing secret.
    pub secret: String,
}

/// What the connector's routes may do.
#[derive(Debug, Default)]
pub struct Permissions {
    pub http: Vec<HttpPattern>,
    /// Entity name -> whether `write` is granted.
    pub entities: BTreeMap<String, bool>,
    /// `x-secret` settings the guest may read.
    pub secrets: BTreeSet<String>,
    /// `x-secret` settings the host may inject where `connection.inject` admits.
    pub injectable_secrets: BTreeSet<String>,
    /// App connections whose token the guest may read (`permissions.connections.<name>:
    /// ["token"]`).
    pub readable_apps: BTreeSet<String>,
    /// App connections whose token the host may inject where `connection.appInject`
    /// admits (`["inject"]`).
    pub injectable_apps: BTreeSet<String>,
}

impl Permissions {
    /// True when some `permissions.http` pattern allows `url`.
    pub fn allows_url(&self, url: &Url) -> bool {
        self.http.iter().any(|p| p.matches(url))
    }
    pub fn can_write(&self, entity: &str) -> bool {
        self.entities.get(entity).copied().unwrap_or(false)
    }
    pub fn can_read_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }
}

/// How a connection is configured and authorized.
#[derive(Debug)]
pub struct Connection {
    pub test_connection: Option<RouteRef>,
    /// Injection rules per app connection granted `inject`.
    pub app_inject: BTreeMap<String, Vec<InjectRule>>,
    /// The connector's one way to authenticate (no `authOptions`), or its named options
    /// in manifest order; never empty.
    pub(crate) auth: Vec<AuthOption>,
}

/// The kind of an entry of `connection.authOptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    ApiKey,
    Basic,
    OAuth,
    ClientCredentials,
}

impl AuthKind {
    /// As the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::ApiKey => "apiKey",
            AuthKind::Basic => "basic",
            AuthKind::OAuth => "oauth",
            AuthKind::ClientCredentials => "clientCredentials",
        }
    }
}

/// One way a connection authenticates: the settings it takes, its OAuth block, its
/// injection rules and its API. A connector without `authOptions` has exactly one,
/// unnamed.
#[derive(Debug)]
pub struct AuthOption {
    /// The option's name in `connection.authOptions`; `None` for a connector without.
    pub name: Option<String>,
    /// `None` for a connector without options.
    pub kind: Option<AuthKind>,
    pub title: Option<String>,
    pub help_url: Option<Url>,
    /// The shared settings and the option's own, compiled together.
    pub settings_schema: SettingsSchema,
    pub oauth: Option<OAuthConfig>,
    /// Injection rules of each secret setting granted `inject`.
    pub inject: BTreeMap<String, Vec<InjectRule>>,
    /// The provider's API that routes address by relative path (`connection.api`).
    pub api: Option<super::api::ApiSpec>,
    /// Rules a setting must pass before it may sit in a URL host: the OAuth block's, or
    /// the shape's own `hostValidation` when it has no OAuth block.
    pub host_validation: BTreeMap<String, HostRule>,
}

/// A connection's choice of auth option that the connector cannot honour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthChoiceError {
    #[error(
        "connector `{connector}` has no auth options; create the connection without one (not `{option}`)"
    )]
    NotOffered { connector: String, option: String },
    #[error("connector `{connector}` has no auth option `{option}`; it offers {choices}")]
    Unknown {
        connector: String,
        option: String,
        choices: String,
    },
    #[error(
        "connector `{connector}` offers several ways to authenticate; choose one of {choices} (`--auth-option`, or `authOption` in the API)"
    )]
    Required { connector: String, choices: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthFlow {
    AuthorizationCode,
    ClientCredentials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessType {
    Offline,
    Online,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with client id and secret (the default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub credential_key: String,
    pub auth_method: ClientAuthMethod,
}

/// A dotted path into a JSON document, for example `data.access_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPath(pub(crate) Vec<String>);

impl TokenPath {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let segs: Vec<String> = s.split('.').map(str::to_owned).collect();
        if segs.iter().any(|seg| {
            seg.is_empty()
                || !seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }) {
            return Err(format!(
                "\"{s}\" is not a dotted path (segments of letters, digits, \"_\" or \"-\")"
            ));
        }
        Ok(Self(segs))
    }

    /// The value at this path; an all-digit segment also indexes arrays.
    pub fn lookup<'a>(&self, doc: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        self.0.iter().try_fold(doc, |v, seg| match v {
            serde_json::Value::Object(m) => m.get(seg),
            serde_json::Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
    }
}

impl fmt::Display for TokenPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Where the fields of a token response are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPaths {
    pub access_token: TokenPath,
    pub refresh_token: TokenPath,
    pub expires_in: TokenPath,
    pub scope: TokenPath,
    pub token_type: TokenPath,
}

/// Every OAuth knob, with defaults applied.
#[derive(Debug)]
pub struct OAuthConfig {
    pub flow: OAuthFlow,
    /// Absent for client_credentials, or when OIDC discovery from `issuer_url` fills it.
    pub authorization_url: Option<UrlTemplate>,
    /// Absent only when OIDC discovery from `issuer_url` fills it.
    pub token_url: Option<UrlTemplate>,
    pub revocation_url: Option<UrlTemplate>,
    pub issuer_url: Option<UrlTemplate>,
    pub scopes: Vec<String>,
    /// Scopes a grant must include (`requiredScopes`, or every requested scope but the
    /// protocol ones); a grant lacking one gives `missing_scopes`.
    pub required_scopes: Vec<String>,
    /// Default `" "`.
    pub scope_separator: String,
    pub access_type: Option<AccessType>,
    /// Default true.
    pub pkce: bool,
    pub extra_authorize_params: BTreeMap<String, String>,
    pub required_settings: Vec<String>,
    pub client: OAuthClient,
    pub token: TokenPaths,
    /// Default true.
    pub refresh_enabled: bool,
    pub post_connect: Option<RouteRef>,
    pub host_validation: BTreeMap<String, HostRule>,
    /// Default true; false is strict custody.
    pub expose_access_token: bool,
    /// Callback query parameters the host stores as settings (for example `realmId`).
    pub callback_params: Vec<String>,
    /// Where the access token may be injected, first match wins.
    pub inject: Vec<InjectRule>,
    /// The token hooks the host calls (`hooks`), each once, in a fixed order.
    pub hooks: Vec<crate::types::TokenHook>,
    /// What `provider` filled in, when the block names one.
    pub preset: Option<PresetUse>,
}

/// The catalog provider an OAuth block named, and each field it filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetUse {
    /// The provider's key in the catalog.
    pub provider: String,
    pub name: String,
    /// The provider's OAuth documentation the entry cites.
    pub docs: String,
    /// In the order they were filled.
    pub filled: Vec<Filled>,
}

/// One field a provider filled: its manifest name under `connection.oauth` (for example
/// `tokenUrlTemplate`, `extraAuthorizeParams.prompt`) and the value, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub field: String,
    pub value: String,
}

impl OAuthConfig {
    /// Scopes joined with the configured separator, as sent to the provider.
    pub fn scope_param(&self) -> String {
        self.scopes.join(&self.scope_separator)
    }
}
