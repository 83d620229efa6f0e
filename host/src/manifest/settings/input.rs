//! Settings as they arrive and as they leave: a value typed on a command line read by
//! the schema, the refusal of a secret setting given as a plain one, a stored
//! connection's parts joined for validation, and validated settings split again into what
//! is stored in the clear and what is sealed.
//!
//! Owns: those four conversions, so every edge and use case shares one copy of each.
//! Must not: put a secret value into an error or a `Debug` string.

use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::{SettingsErrors, SettingsSchema, ValidSettings};
use crate::manifest::AuthOption;

impl SettingsSchema {
    /// A value typed as text for the setting `name`: a string when the schema declares a
    /// string, otherwise JSON when it parses (`50`, `true`, `["a"]`) and a string when not.
    pub(crate) fn parse_text(&self, name: &str, text: &str) -> Value {
        if self.property(name).is_some_and(|p| p.string) {
            return Value::String(text.to_string());
        }
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
    }

    /// The first of `names` that is a secret setting: it must not be given as a plain one
    /// (plain settings are stored and shown in the clear).
    pub(crate) fn first_secret<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Option<&'a str> {
        names.into_iter().find(|name| self.is_secret(name))
    }
}

impl ValidSettings {
    /// The plain settings (stored in the clear) and the secret ones (sealed), as text.
    pub fn split(&self) -> (Map<String, Value>, BTreeMap<String, SecretString>) {
        let mut plain = Map::new();
        let mut secret = BTreeMap::new();
        for (name, value) in &self.values {
            if self.secrets.contains(name) {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                secret.insert(name.clone(), SecretString::from(text));
            } else {
                plain.insert(name.clone(), value.clone());
            }
        }
        (plain, secret)
    }
}

impl AuthOption {
    /// Validates settings given in parts: plain values, parameters the provider returned
    /// on the authorization callback (for example `realmId`; a plain value of the same
    /// name wins) and secret values.
    pub(crate) fn validate_parts(
        &self,
        plain: &Map<String, Value>,
        callback: &BTreeMap<String, String>,
        secret: &BTreeMap<String, SecretString>,
    ) -> Result<ValidSettings, SettingsErrors> {
        let mut raw = plain.clone();
        for (k, v) in callback {
            raw.entry(k.clone())
                .or_insert_with(|| Value::String(v.clone()));
        }
        for (k, v) in secret {
            raw.insert(k.clone(), Value::String(v.expose_secret().to_string()));
        }
        self.validate_settings(&raw)
    }
}
