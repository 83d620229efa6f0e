//! Injection rules: `connection.oauth.inject` (the access token) and
//! `connection.inject.<secret>` (secret settings granted `inject`), and the placeholder
//! checks every URL template of a manifest shares.
//!
//! Owns the validated [`InjectRule`] (a URL pattern template, the header, the shape of
//! the value) and its checks: the header is one a credential may travel in, the prefix
//! is plain header text, the URL is a `permissions.http` pattern once its placeholders
//! are filled, a host placeholder has a `hostValidation` rule, a basic password names an
//! injectable secret. Must not expand with real settings: `ValidSettings::expand_pattern`
//! binds a rule to a connection.

use std::collections::{BTreeMap, BTreeSet};

use http::header::{self, HeaderName};

use super::host_validation::HostRule;
use super::patterns::HttpPattern;
use super::problems::{Pointer, Problems, hint};
use super::raw::RawInjectRule;
use super::settings::SettingsSchema;
use super::template::{Slot, UrlTemplate};

/// Longest prefix a rule may put before a credential.
const MAX_PREFIX: usize = 64;

/// How the credential is written into the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectShape {
    /// `<prefix><value>`.
    Prefix(String),
    /// `Basic base64(<value>:<password>)`.
    Basic {
        /// Secret setting holding the password.
        password_secret: Option<String>,
    },
}

/// One validated injection rule.
#[derive(Debug, Clone)]
pub struct InjectRule {
    /// Where the rule sits in the manifest (`/connection/oauth/inject/0`).
    pub pointer: String,
    /// The URL pattern, with `{settings.<name>}` placeholders.
    pub url: UrlTemplate,
    /// Lowercase header name.
    pub header: String,
    pub shape: InjectShape,
}

impl InjectRule {
    /// `pointer (url)`, as refusals name the rule.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.pointer, self.url)
    }
}

/// What URL templates of one manifest are checked against.
pub(crate) struct TemplateEnv<'a> {
    pub settings: Option<&'a SettingsSchema>,
    /// `connection.oauth.requiredSettings`.
    pub required_settings: &'a BTreeSet<&'a str>,
    /// Settings with a `hostValidation` rule, valid or not.
    pub host_rule_names: BTreeSet<&'a str>,
    /// The rules that parsed.
    pub host_rules: &'a BTreeMap<String, HostRule>,
    /// Where `hostValidation` lives, for problems about missing rules.
    pub host_validation_at: Pointer,
}

impl TemplateEnv<'_> {
    /// Parses `text` and checks each placeholder: declared, a required non-secret
    /// string, and validated when it sits in the host. `None` only when it does not
    /// parse; placeholder problems are reported and the template still returned, so
    /// later checks can report theirs too.
    pub(crate) fn parse(
        &self,
        text: &str,
        field: &str,
        t_at: &Pointer,
        p: &mut Problems,
    ) -> Option<UrlTemplate> {
        let template = match UrlTemplate::parse(text) {
            Ok(t) => t,
            Err(errors) => {
                for e in errors {
                    p.push(t_at, e);
                }
                return None;
            }
        };
        let mut seen = BTreeSet::new();
        for (name, slot) in template.settings() {
            if !seen.insert((name, slot)) {
                continue;
            }
            match self.settings.map(|s| s.property(name)) {
                Some(None) => {
                    let names = self
                        .settings
                        .map(|s| hint(name, s.properties().keys().map(String::as_str)))
                        .unwrap_or_default();
                    p.push(t_at, format!("placeholder {{settings.{name}}} names no property of connection.settingsSchema{names}"));
                    continue;
                }
                Some(Some(info)) => {
                    let required = self.settings.is_some_and(|s| s.required().contains(name));
                    if info.secret {
                        p.push(t_at, format!("setting \"{name}\" is x-secret and can never appear in a URL template"));
                    } else if !info.string {
                        p.push(t_at, format!("setting \"{name}\" must have \"type\": \"string\" to appear in a URL template"));
                    } else if !required && !self.required_settings.contains(name) {
                        p.push(t_at, format!("setting \"{name}\" must be required in settingsSchema or listed in requiredSettings to appear in a URL template"));
                    }
                }
                None => {}
            }
            if slot == Slot::Host && !self.host_rule_names.contains(name) {
                p.push(
                    &self.host_validation_at,
                    format!("setting \"{name}\" appears in the host of {field} but has no hostValidation rule"),
                );
            }
        }
        Some(template)
    }

    /// A harmless value for a placeholder, to check a template's shape statically.
    pub(crate) fn sample(&self, name: &str, slot: Slot) -> String {
        match slot {
            Slot::Host => match self.host_rules.get(name) {
                Some(rule) => format!("sample{}", rule.suffix()),
                None => "sample.invalid".to_owned(),
            },
            Slot::PathOrQuery => "sample".to_owned(),
        }
    }
}

/// Validates the rules of one credential at `at` (`connection.oauth.inject` or
/// `connection.inject.<name>`). `injectable` says which secrets a basic password may name.
pub(crate) fn rules(
    raw: &[RawInjectRule],
    at: &Pointer,
    oauth: bool,
    env: &TemplateEnv<'_>,
    injectable: &BTreeSet<String>,
    p: &mut Problems,
) -> Vec<InjectRule> {
    let mut out = Vec::new();
    for (i, rule) in raw.iter().enumerate() {
        let r_at = at.at(i);
        let before = p.len();
        let url = env.parse(&rule.url, &r_at.to_string(), &r_at.at("url"), p);
        if let Some(template) = &url {
            let sample = template.render_text(
                |name, slot| Ok::<_, String>(env.sample(name, slot)),
                |failure| failure.to_string(),
            );
            if let Ok(text) = sample
                && let Err(e) = HttpPattern::parse(&text)
            {
                p.push(r_at.at("url"), format!("pattern \"{}\": {e}", rule.url));
            }
        }
        let header = header_name(rule.header.as_deref(), &r_at.at("header"), p);
        let shape = match &rule.basic {
            Some(basic) => {
                if oauth {
                    p.push(
                        r_at.at("basic"),
                        "the access token is never sent as basic credentials; remove basic",
                    );
                }
                if rule.prefix.is_some() {
                    p.push(r_at.at("prefix"), "basic credentials take no prefix");
                }
                if header.as_ref().is_some_and(|h| h != header::AUTHORIZATION) {
                    p.push(
                        r_at.at("header"),
                        "basic credentials go in the Authorization header",
                    );
                }
                if let Some(pw) = &basic.password_secret
                    && !injectable.contains(pw)
                {
                    p.push(
                        r_at.at("basic").at("passwordSecret"),
                        format!("\"{pw}\" must be an x-secret setting granted permissions.secrets.{pw}: [\"inject\"]"),
                    );
                }
                InjectShape::Basic {
                    password_secret: basic.password_secret.clone(),
                }
            }
            None => {
                let default = if header.as_ref() == Some(&header::AUTHORIZATION) {
                    "Bearer "
                } else {
                    ""
                };
                let prefix = rule.prefix.clone().unwrap_or_else(|| default.to_owned());
                check_prefix(&prefix, &r_at.at("prefix"), p);
                InjectShape::Prefix(prefix)
            }
        };
        if let (Some(url), Some(header), true) = (url, header, p.len() == before) {
            out.push(InjectRule {
                pointer: r_at.to_string(),
                url,
                header: header.as_str().to_owned(),
                shape,
            });
        }
    }
    out
}

fn header_name(raw: Option<&str>, at: &Pointer, p: &mut Problems) -> Option<HeaderName> {
    let Some(raw) = raw else {
        return Some(header::AUTHORIZATION);
    };
    let Ok(name) = HeaderName::from_bytes(raw.as_bytes()) else {
        p.push(at, format!("\"{raw}\" is not a valid HTTP header name"));
        return None;
    };
    let framing = crate::egress::is_host_controlled(&name);
    if framing
        || name == header::COOKIE
        || name.as_str().starts_with("content-")
        || name.as_str().starts_with("x-keyway-")
    {
        p.push(
            at,
            format!("header \"{name}\" is set by the host or describes the body; a credential cannot travel in it"),
        );
        return None;
    }
    Some(name)
}

fn check_prefix(prefix: &str, at: &Pointer, p: &mut Problems) {
    if prefix.len() > MAX_PREFIX || !prefix.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        p.push(
            at,
            format!("prefix must be at most {MAX_PREFIX} visible ASCII characters or spaces"),
        );
    }
}

/// Which credentials a family of named rules is for: secret settings
/// (`connection.inject`, granted in `permissions.secrets`) or app connections
/// (`connection.appInject`, granted in `permissions.connections`).
#[derive(Clone, Copy)]
pub(crate) enum Family {
    Secrets,
    AppConnections,
}

impl Family {
    pub(crate) fn place(self) -> &'static str {
        match self {
            Family::Secrets => "inject",
            Family::AppConnections => "appInject",
        }
    }
    fn grant(self) -> &'static str {
        match self {
            Family::Secrets => "secrets",
            Family::AppConnections => "connections",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Family::Secrets => "secret",
            Family::AppConnections => "app connection",
        }
    }
}

/// Checks `connection.inject` (or `connection.appInject`, or an auth option's `inject`,
/// at `at`) against the `inject` grants: every rule names a granted credential, and every
/// name in `needs_rule` has rules here.
#[allow(clippy::too_many_arguments)]
pub(crate) fn named_rules(
    family: Family,
    raw: &BTreeMap<String, Vec<RawInjectRule>>,
    injectable: &BTreeSet<String>,
    needs_rule: &BTreeSet<String>,
    secrets: &BTreeSet<String>,
    env: &TemplateEnv<'_>,
    at: &Pointer,
    p: &mut Problems,
) -> BTreeMap<String, Vec<InjectRule>> {
    let (grant, noun) = (family.grant(), family.noun());
    let place = at.to_string().trim_start_matches('/').replace('/', ".");
    let mut out = BTreeMap::new();
    for (name, list) in raw {
        let n_at = at.at(name);
        if !injectable.contains(name) {
            p.push(
                &n_at,
                format!("{noun} \"{name}\" is not granted inject; add permissions.{grant}.{name}: [\"inject\"]"),
            );
            continue;
        }
        if list.is_empty() {
            p.push(&n_at, "names no rule; give at least one { \"url\": ... }");
            continue;
        }
        let token = matches!(family, Family::AppConnections);
        out.insert(name.clone(), rules(list, &n_at, token, env, secrets, p));
    }
    for name in needs_rule {
        if !raw.contains_key(name) {
            p.push(
                Pointer::root().at("permissions").at(grant).at(name),
                format!("grants inject but {place}.{name} names no rule saying where it may go"),
            );
        }
    }
    out
}
