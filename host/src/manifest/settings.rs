//! Connection settings: the compiled `settingsSchema`, checking settings against it and
//! the one function that expands URL templates.
//!
//! Owns `SettingsSchema` (compiled once per manifest with the `jsonschema` crate, draft
//! 2020-12), `AuthOption::validate_settings` (schema, then `requiredSettings`, then every
//! `hostValidation` rule) and `ValidSettings::expand` (and `expand_pattern` for injection
//! rules). A `ValidSettings` exists only after
//! that check, so no code path can expand an unvalidated setting. Must not store or log
//! values: errors name settings, never their values, and `Debug` redacts secrets.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use thiserror::Error;
use url::Url;

use super::connector::{AuthOption, Connector};
use super::patterns::HttpPattern;
use super::problems::{Pointer, Problems, hint};
use super::structure::type_name;
use super::template::{RenderFailure, Slot, UrlTemplate};

/// What the manifest says about one setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingInfo {
    /// `x-secret: true`: sealed at rest, readable only through `secrets`, never in a URL.
    pub secret: bool,
    /// The property declares `"type": "string"`.
    pub string: bool,
    pub title: Option<String>,
    pub placeholder: Option<String>,
}

/// The compiled `settingsSchema` of a connector.
pub struct SettingsSchema {
    validator: jsonschema::Validator,
    properties: BTreeMap<String, SettingInfo>,
    required: BTreeSet<String>,
}

impl fmt::Debug for SettingsSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SettingsSchema")
            .field("properties", &self.properties)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

const DRAFT_2020_12: &str = "https://json-schema.org/draft/2020-12/schema";

impl SettingsSchema {
    /// Compiles the manifest's `settingsSchema` (absent means no settings), recording
    /// every problem under `at`.
    pub(crate) fn compile(
        schema: Option<&Value>,
        at: &Pointer,
        problems: &mut Problems,
    ) -> Option<Self> {
        let empty = serde_json::json!({ "type": "object", "properties": {} });
        let schema = schema.unwrap_or(&empty);
        let Some(obj) = schema.as_object() else {
            problems.push(
                at,
                format!("expected an object, found {}", type_name(schema)),
            );
            return None;
        };
        let before = problems.len();
        if let Some(s) = obj.get("$schema")
            && s.as_str() != Some(DRAFT_2020_12)
        {
            problems.push(
                at.at("$schema"),
                format!("settingsSchema must use JSON Schema draft 2020-12 (\"{DRAFT_2020_12}\")"),
            );
        }
        if let Some(t) = obj.get("type")
            && t.as_str() != Some("object")
        {
            problems.push(
                at.at("type"),
                "settingsSchema must describe an object (\"type\": \"object\")",
            );
        }
        let mut properties = BTreeMap::new();
        match obj.get("properties") {
            None => {}
            Some(Value::Object(props)) => {
                for (name, prop) in props {
                    if let Some(info) = setting_info(prop, &at.at("properties").at(name), problems)
                    {
                        properties.insert(name.clone(), info);
                    }
                }
            }
            Some(other) => problems.push(
                at.at("properties"),
                format!("expected an object, found {}", type_name(other)),
            ),
        }
        let mut required = BTreeSet::new();
        match obj.get("required") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(name) if properties.contains_key(name) => {
                            required.insert(name.to_owned());
                        }
                        Some(name) => problems.push(
                            at.at("required").at(i),
                            format!(
                                "required setting \"{name}\" is not declared in properties{}",
                                hint(name, properties.keys().map(String::as_str))
                            ),
                        ),
                        None => problems.push(
                            at.at("required").at(i),
                            format!("expected a string, found {}", type_name(item)),
                        ),
                    }
                }
            }
            Some(other) => problems.push(
                at.at("required"),
                format!("expected an array, found {}", type_name(other)),
            ),
        }
        external_refs(schema, at, problems);
        let meta = jsonschema::draft202012::meta::validator();
        for err in meta.iter_errors(schema) {
            problems.push(
                format!("{at}{}", err.instance_path().as_str()),
                format!("not a valid JSON Schema: {err}"),
            );
        }
        if problems.len() > before {
            return None;
        }
        match jsonschema::draft202012::options().build(schema) {
            Ok(validator) => Some(Self {
                validator,
                properties,
                required,
            }),
            Err(e) => {
                problems.push(at, format!("cannot compile settingsSchema: {e}"));
                None
            }
        }
    }

    pub fn property(&self, name: &str) -> Option<&SettingInfo> {
        self.properties.get(name)
    }

    pub fn properties(&self) -> &BTreeMap<String, SettingInfo> {
        &self.properties
    }

    pub fn required(&self) -> &BTreeSet<String> {
        &self.required
    }

    pub fn is_secret(&self, name: &str) -> bool {
        self.properties.get(name).is_some_and(|p| p.secret)
    }

    /// Names of the `x-secret` settings.
    pub(crate) fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.properties
            .iter()
            .filter(|(_, p)| p.secret)
            .map(|(n, _)| n.as_str())
    }
}

/// The host never fetches schemas: every `$ref` must point inside the document.
fn external_refs(schema: &Value, at: &Pointer, problems: &mut Problems) {
    match schema {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref" | "$dynamicRef", Value::String(r)) if !r.starts_with('#') => problems.push(
                        at.at(k),
                        format!("\"{r}\" is not a local reference; settingsSchema must be self-contained (use \"#/$defs/...\")"),
                    ),
                    _ => external_refs(v, &at.at(k), problems),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                external_refs(v, &at.at(i), problems);
            }
        }
        _ => {}
    }
}

fn setting_info(prop: &Value, at: &Pointer, problems: &mut Problems) -> Option<SettingInfo> {
    let Some(p) = prop.as_object() else {
        problems.push(
            at,
            format!(
                "a setting must be described by an object, found {}",
                type_name(prop)
            ),
        );
        return None;
    };
    let mut info = SettingInfo {
        string: p.get("type").and_then(Value::as_str) == Some("string"),
        ..SettingInfo::default()
    };
    match p.get("x-secret") {
        None => {}
        Some(Value::Bool(b)) => info.secret = *b,
        Some(other) => problems.push(
            at.at("x-secret"),
            format!("expected a boolean, found {}", type_name(other)),
        ),
    }
    match p.get("x-placeholder") {
        None => {}
        Some(Value::String(s)) => info.placeholder = Some(s.clone()),
        Some(other) => problems.push(
            at.at("x-placeholder"),
            format!("expected a string, found {}", type_name(other)),
        ),
    }
    if let Some(t) = p.get("title") {
        info.title = t.as_str().map(str::to_owned);
    }
    if info.secret && p.contains_key("default") {
        problems.push(
            at.at("default"),
            "an x-secret setting cannot have a default in the manifest",
        );
    }
    Some(info)
}

/// Why settings were refused: every problem, each naming a setting, never its value.
#[derive(Debug, Clone, Error)]
#[error("invalid settings: {0}")]
pub struct SettingsErrors(pub Problems);

/// Settings that passed the schema, `requiredSettings` and every `hostValidation` rule.
/// Host settings hold their normalized value.
#[derive(Clone)]
pub struct ValidSettings {
    values: Map<String, Value>,
    hosts: BTreeMap<String, String>,
    secrets: BTreeSet<String>,
}

impl fmt::Debug for ValidSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.values {
            if self.secrets.contains(k) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// Why a template could not be expanded. Names settings, never values.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    #[error("setting \"{0}\" is not set")]
    Missing(String),
    #[error("setting \"{0}\" is secret and cannot be placed in a URL")]
    Secret(String),
    #[error("setting \"{0}\" is not a string")]
    NotString(String),
    #[error("setting \"{0}\" appears in a URL host but passed no hostValidation rule")]
    HostNotValidated(String),
    #[error("template {template} expands to a URL that {reason}")]
    Url { template: String, reason: String },
    #[error(
        "setting \"{0}\" makes a path segment \".\" or \"..\", which would change the URL's path"
    )]
    DotSegment(String),
}

/// Path and query values keep only RFC 3986 unreserved characters unencoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl ValidSettings {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }

    /// All values, secrets included, for sealed storage. Never log this.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// Expands `template`: host placeholders take the normalized host, path and query
    /// placeholders are percent-encoded (`/`, `?`, `#` included); a path segment a value
    /// makes `.` or `..` is refused; the URL must be https (http for loopback).
    pub fn expand(&self, template: &UrlTemplate) -> Result<Url, ExpandError> {
        template.render_checked(
            |name, slot| self.placeholder(name, slot),
            |failure| self.render_failure(template, failure),
        )
    }

    /// Expands an injection rule's URL pattern the same way, then parses it as a
    /// `permissions.http` pattern: a tenant's rule admits only that tenant's host.
    pub fn expand_pattern(&self, template: &UrlTemplate) -> Result<HttpPattern, ExpandError> {
        let text = template.render_text(
            |name, slot| self.placeholder(name, slot),
            |failure| self.render_failure(template, failure),
        )?;
        HttpPattern::parse(&text).map_err(|reason| ExpandError::Url {
            template: template.as_str().to_owned(),
            reason,
        })
    }

    fn render_failure(&self, template: &UrlTemplate, failure: RenderFailure) -> ExpandError {
        match failure {
            RenderFailure::Url(reason) => ExpandError::Url {
                template: template.as_str().to_owned(),
                reason,
            },
            RenderFailure::DotSegment(name) => ExpandError::DotSegment(name),
        }
    }

    /// The text one placeholder expands to.
    fn placeholder(&self, name: &str, slot: Slot) -> Result<String, ExpandError> {
        if self.secrets.contains(name) {
            return Err(ExpandError::Secret(name.to_owned()));
        }
        match slot {
            Slot::Host => self
                .hosts
                .get(name)
                .cloned()
                .ok_or_else(|| ExpandError::HostNotValidated(name.to_owned())),
            Slot::PathOrQuery => match self.values.get(name) {
                None | Some(Value::Null) => Err(ExpandError::Missing(name.to_owned())),
                Some(Value::String(s)) => Ok(utf8_percent_encode(s, COMPONENT).to_string()),
                Some(_) => Err(ExpandError::NotString(name.to_owned())),
            },
        }
    }
}

impl AuthOption {
    /// Checks settings for a connection that authenticates this way: unknown names, the
    /// settings schema, `requiredSettings`, then each `hostValidation` rule (normalizing the
    /// value). Every problem is reported; messages never include values.
    pub fn validate_settings(
        &self,
        raw: &Map<String, Value>,
    ) -> Result<ValidSettings, SettingsErrors> {
        let schema = &self.settings_schema;
        let mut problems = Problems::new();
        let root = Pointer::root();
        for name in raw.keys() {
            if schema.property(name).is_none() {
                problems.push(
                    root.at(name),
                    format!(
                        "unknown setting \"{name}\"{}",
                        hint(name, schema.properties().keys().map(String::as_str))
                    ),
                );
            }
        }
        let instance = Value::Object(raw.clone());
        for err in schema.validator.iter_errors(&instance) {
            problems.push(
                err.instance_path().as_str(),
                err.masked_with("the value").to_string(),
            );
        }
        let mut values = raw.clone();
        let mut hosts = BTreeMap::new();
        if let Some(oauth) = &self.oauth {
            for name in &oauth.required_settings {
                if matches!(raw.get(name), None | Some(Value::Null))
                    && !schema.required().contains(name)
                {
                    problems.push(
                        root.at(name),
                        format!("setting \"{name}\" is required before OAuth can start"),
                    );
                }
            }
        }
        for (name, rule) in &self.host_validation {
            let Some(Value::String(v)) = raw.get(name) else {
                continue;
            };
            match rule.apply(v) {
                Ok(host) => {
                    values.insert(name.clone(), Value::String(host.clone()));
                    hosts.insert(name.clone(), host);
                }
                Err(e) => problems.push(root.at(name), format!("setting \"{name}\" {e}")),
            }
        }
        if !problems.is_empty() {
            return Err(SettingsErrors(problems));
        }
        Ok(ValidSettings {
            values,
            hosts,
            secrets: schema.secret_names().map(str::to_owned).collect(),
        })
    }
}

impl Connector {
    /// [`AuthOption::validate_settings`] for a connector with a single way to
    /// authenticate; one with `authOptions` is refused, naming its options.
    pub fn validate_settings(
        &self,
        raw: &Map<String, Value>,
    ) -> Result<ValidSettings, SettingsErrors> {
        match self.auth(None) {
            Ok(auth) => auth.validate_settings(raw),
            Err(e) => {
                let mut problems = Problems::new();
                problems.push(Pointer::root(), e.to_string());
                Err(SettingsErrors(problems))
            }
        }
    }
}

mod input;

#[cfg(test)]
mod tests;
