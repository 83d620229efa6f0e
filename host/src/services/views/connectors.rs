//! A connector as the API and the CLI show it: its routes, auth options, streams and
//! webhooks.
//!
//! Owns: [`ConnectorView`] and its parts. Must not: show anything of a connection.

use serde::Serialize;

use crate::manifest::{AuthKind, AuthOption};
use crate::registry::LoadedConnector;

/// A connector as served.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConnectorView {
    pub key: String,
    pub name: String,
    pub version: String,
    /// Whether a connection may use OAuth (with options: whether one of them does).
    pub oauth: bool,
    /// The ways a connection may authenticate (`connection.authOptions`); empty when the
    /// connector has a single one.
    #[serde(rename = "authOptions", skip_serializing_if = "Vec::is_empty")]
    pub auth_options: Vec<AuthOptionView>,
    pub routes: Vec<RouteView>,
    /// `key: METHOD /path (schedule, mode)` per declared stream.
    pub streams: Vec<String>,
    /// `key: METHOD /path (scheme)` per declared webhook.
    pub webhooks: Vec<String>,
}

/// One entry of `connection.authOptions`, as `--auth-option` and `authOption` name it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthOptionView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help_url: Option<String>,
    /// Its settings (shared and its own), a secret one marked `(secret)`; required ones
    /// marked `*`.
    pub settings: Vec<String>,
}

impl AuthOptionView {
    fn new(o: &AuthOption) -> Option<Self> {
        let schema = &o.settings_schema;
        Some(AuthOptionView {
            name: o.name.clone()?,
            kind: o.kind.map_or("", AuthKind::as_str),
            title: o.title.clone().unwrap_or_default(),
            help_url: o.help_url.as_ref().map(|u| u.to_string()),
            settings: schema
                .properties()
                .iter()
                .map(|(name, info)| {
                    let required = if schema.required().contains(name) {
                        "*"
                    } else {
                        ""
                    };
                    let secret = if info.secret { " (secret)" } else { "" };
                    format!("{name}{required}{secret}")
                })
                .collect(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RouteView {
    pub method: &'static str,
    pub path: String,
    pub auth: &'static str,
}

impl From<&LoadedConnector> for ConnectorView {
    fn from(loaded: &LoadedConnector) -> Self {
        let c = loaded.connector();
        ConnectorView {
            key: c.key().to_string(),
            name: c.name().to_string(),
            version: c.version().to_string(),
            oauth: c.any_oauth(),
            auth_options: c
                .auth_options()
                .iter()
                .filter_map(AuthOptionView::new)
                .collect(),
            routes: loaded
                .component
                .routes()
                .iter()
                .map(|r| RouteView {
                    method: r.method.as_str(),
                    path: r.path.clone(),
                    auth: r.auth.as_str(),
                })
                .collect(),
            streams: c
                .streams()
                .iter()
                .map(|s| {
                    format!(
                        "{}: {} {} ({}, {})",
                        s.key,
                        s.route.method,
                        s.route.path,
                        s.schedule.as_ref().map_or("manual", |x| x.as_str()),
                        s.mode.as_str()
                    )
                })
                .collect(),
            webhooks: c
                .webhooks()
                .iter()
                .map(|w| {
                    format!(
                        "{}: {} {} ({})",
                        w.key,
                        w.route.method,
                        w.route.path,
                        w.rule.scheme.as_str()
                    )
                })
                .collect(),
        }
    }
}
