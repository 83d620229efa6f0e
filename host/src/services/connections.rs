//! The connection use cases both edges share: create, list, show, update settings and
//! delete. Connecting (authorize, complete, revoke) is `connect.rs`; running routes,
//! `testConnection` included, is `invoke.rs`.
//!
//! Owns: turning settings as given (typed text from a command line, JSON from an API
//! body, secrets kept apart) into validated, split settings; the one refusal of a secret
//! given as a plain setting.
//! Must not: put a secret value into an answer, an error or a log line.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::views::ConnectionView;
use super::{ServiceError, ServiceResult, Services};
use crate::catalog::{CatalogError, Lookup};
use crate::manifest::{AuthOption, Connector};
use crate::store::{ConnectionRecord, NewConnection};

/// A plain setting's value as it arrived.
#[derive(Debug, Clone)]
pub enum PlainValue {
    /// JSON, as an API body gives it: used as it is.
    Json(Value),
    /// Text, as a command line gives it: read by the settings schema (a string for a
    /// string setting, else JSON when it parses).
    Text(String),
}

/// Settings as given, before validation.
#[derive(Default)]
pub struct SettingsInput {
    pub plain: Vec<(String, PlainValue)>,
    pub secret: BTreeMap<String, SecretString>,
}

impl std::fmt::Debug for SettingsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsInput")
            .field("plain", &self.plain)
            .field("secret", &self.secret.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A connection to create.
#[derive(Debug)]
pub struct NewConnectionInput {
    pub name: String,
    /// The connector's key (or, with [`Lookup::KeyOrPath`], its directory).
    pub connector: String,
    pub lookup: Lookup,
    /// The auth option chosen, for a connector with `connection.authOptions`.
    pub auth_option: Option<String>,
    pub settings: SettingsInput,
}

/// The auth option the stored connection `record` chose, as its connector offers it now.
pub(super) fn stored_auth<'a>(
    connector: &'a Connector,
    record: &ConnectionRecord,
) -> ServiceResult<&'a AuthOption> {
    connector
        .auth(record.auth_option.as_deref())
        .map_err(|error| ServiceError::StoredAuthChoice {
            connection: record.name.clone(),
            error,
        })
}

/// Plain values read for `connector`'s schema; a secret among them is refused.
pub(super) fn plain_values(
    auth: &AuthOption,
    given: Vec<(String, PlainValue)>,
) -> ServiceResult<Map<String, Value>> {
    let schema = &auth.settings_schema;
    if let Some(name) = schema.first_secret(given.iter().map(|(n, _)| n.as_str())) {
        return Err(ServiceError::SecretAsPlain {
            name: name.to_string(),
        });
    }
    Ok(given
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                PlainValue::Json(v) => v,
                PlainValue::Text(t) => schema.parse_text(&name, &t),
            };
            (name, value)
        })
        .collect())
}

impl Services {
    /// Creates a connection in `pending_authorization` with validated settings (schema
    /// and `hostValidation`), its secret settings sealed.
    pub fn create_connection(&self, input: NewConnectionInput) -> ServiceResult<ConnectionView> {
        let manifest = self
            .catalog
            .manifest(&input.connector, input.lookup)
            .map_err(|e| match (e, input.lookup) {
                // A caller who may name only served keys named one that is not served.
                (CatalogError::NotFound { .. }, Lookup::KeyOnly) => ServiceError::Input {
                    field: "connector".into(),
                    message: format!(
                        "no loaded connector `{}` (the connector list shows the ones served)",
                        input.connector
                    ),
                },
                (other, Lookup::KeyOnly) => ServiceError::Input {
                    field: "connector".into(),
                    message: format!("connector `{}` is not served: {other}", input.connector),
                },
                (other, Lookup::KeyOrPath) => other.into(),
            })?;
        let c = &manifest.connector;
        // Every later command (authorize, test, call, serve) finds the connector by key
        // in the connector directories: one named by a directory elsewhere would be lost.
        if input.lookup == Lookup::KeyOrPath {
            let served = self.catalog.index().by_key(c.key()).ok().flatten();
            let same = served.as_ref().is_some_and(|m| {
                crate::catalog::canonical(&m.dir) == crate::catalog::canonical(&manifest.dir)
            });
            if !same {
                let dirs: Vec<String> = self
                    .catalog
                    .index()
                    .dirs()
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect();
                let parent = manifest
                    .dir
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| ".".into());
                return Err(ServiceError::Input {
                    field: "connector".into(),
                    message: format!(
                        "{} declares connector `{}`, which the connector directories ({}) do \
                         not serve from there; later commands look connectors up by key in \
                         them. Run with `--connectors {parent}` (or KEYWAY_CONNECTORS), or \
                         move the directory under one of them",
                        manifest.dir.display(),
                        c.key(),
                        dirs.join(", ")
                    ),
                });
            }
        }
        let auth = c
            .auth(input.auth_option.as_deref())
            .map_err(ServiceError::AuthChoice)?;
        let plain = plain_values(auth, input.settings.plain)?;
        let valid = auth
            .validate_parts(&plain, &BTreeMap::new(), &input.settings.secret)
            .map_err(|errors| ServiceError::Settings {
                connector: c.key().to_string(),
                errors,
            })?;
        let (settings, secret_settings) = valid.split();
        let record = self.store.create_connection(&NewConnection {
            name: input.name,
            connector: c.key().to_string(),
            credential_key: auth.oauth.as_ref().map(|o| o.client.credential_key.clone()),
            auth_option: auth.name.clone(),
            settings,
            secret_settings,
        })?;
        Ok(ConnectionView::from(&record))
    }

    /// Every connection, by name.
    pub(crate) fn list_connections(&self) -> ServiceResult<Vec<ConnectionView>> {
        Ok(self
            .store
            .list_connections()?
            .iter()
            .map(ConnectionView::from)
            .collect())
    }

    /// One connection.
    pub fn show_connection(&self, name: &str) -> ServiceResult<ConnectionView> {
        Ok(ConnectionView::from(&self.store.connection_by_name(name)?))
    }

    /// Changes settings of the connection `name`: each setting given replaces the stored
    /// one (a JSON `null` plain value removes it); the rest are kept. The result must
    /// validate as a whole. Tokens and status are left as they are.
    pub(crate) fn update_settings(
        &self,
        name: &str,
        given: SettingsInput,
    ) -> ServiceResult<ConnectionView> {
        let record = self.store.connection_by_name(name)?;
        let manifest = self
            .catalog
            .manifest(&record.connector, Lookup::KeyOrPath)?;
        let c = &manifest.connector;
        let auth = stored_auth(c, &record)?;
        let mut plain = record.settings.clone();
        for (k, v) in plain_values(auth, given.plain)? {
            if v.is_null() {
                plain.remove(&k);
            } else {
                plain.insert(k, v);
            }
        }
        let mut secret = self.store.secret_settings(&record.id)?;
        secret.extend(given.secret);
        let valid = auth
            .validate_parts(&plain, &BTreeMap::new(), &secret)
            .map_err(|errors| ServiceError::Settings {
                connector: c.key().to_string(),
                errors,
            })?;
        let (settings, secret_settings) = valid.split();
        self.store.replace_settings(
            &record.id,
            &record.connector,
            record.auth_option.as_deref(),
            &settings,
            &secret_settings,
        )?;
        self.show_connection(name)
    }

    /// Deletes the connection with its tokens, settings, records and history.
    pub(crate) fn delete_connection(&self, name: &str) -> ServiceResult<()> {
        let record = self.store.connection_by_name(name)?;
        self.store.delete_connection(name)?;
        self.tokens.invalidate(&record.id);
        Ok(())
    }
}
