//! What route calls are served from, in memory: the live API keys, and per connection its
//! record's identity, its loaded connector, its validated settings and the invocation
//! context built from them (doors, bindings, redactor), so a call reads no SQLite row,
//! takes no lock shared by all calls and builds nothing its connection already had.
//!
//! Everything is stamped with the store's change generation ([`Store::change_generation`]):
//! a write by this process is seen by the next call, a change by another process (the CLI:
//! a revoked key, a deleted or updated connection) within [`crate::store::CHANGE_CHECK`].
//! What another process adds (a new key, a new connection) works at once: a miss looks
//! at the store. A connection is also built again when its connector was loaded again
//! (its files changed).
//!
//! Owns: [`Live`] and [`LiveConnection`].
//! Must not: decide what a valid key or valid settings are (the store and the manifest
//! do), or keep a secret anywhere but in the context's `SecretString`s and redactor.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use secrecy::SecretString;

use super::{ServiceError, ServiceResult, Services};
use crate::catalog::Lookup;
use crate::context::ConnectionContext;
use crate::custody::ConnectionTokens;
use crate::egress::{AppTokens, TokenSource};
use crate::manifest::Connector;
use crate::registry::{Doors, LoadedConnector};
use crate::store::{KeyCheck, LiveApiKeys, Store, StoreError};

/// The live API keys as read under one generation.
struct KeySnapshot {
    generation: u64,
    keys: LiveApiKeys,
}

/// One connection as a route call needs it.
pub(crate) struct LiveConnection {
    generation: u64,
    pub(crate) name: String,
    /// The connector key as stored on the connection.
    pub(crate) connector_key: String,
    pub(crate) connector: Arc<LoadedConnector>,
    /// Settings, secrets, grants and doors of this connection; cloned per invocation.
    pub(crate) context: ConnectionContext,
}

/// The in-memory view of one store.
pub(crate) struct Live {
    keys: ArcSwapOption<KeySnapshot>,
    connections: papaya::HashMap<String, Arc<LiveConnection>>,
    /// The generation the connection map was last emptied for (stale names dropped).
    swept_for: AtomicU64,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live {
            keys: ArcSwapOption::empty(),
            connections: papaya::HashMap::new(),
            swept_for: AtomicU64::new(0),
        }
    }

    /// The id of the live key `presented`; `None` for an unknown, wrong or revoked one.
    pub(crate) fn check_api_key(
        &self,
        store: &Store,
        presented: &SecretString,
    ) -> ServiceResult<Option<Arc<str>>> {
        let mut generation = store.change_generation()?;
        if let Some(snapshot) = &*self.keys.load()
            && snapshot.generation == generation
        {
            match snapshot.keys.check(presented) {
                KeyCheck::Live(id) => return Ok(Some(id.clone())),
                KeyCheck::Refused => return Ok(None),
                // An id we do not know: perhaps a key another process has just created.
                // A key is usable at once; only a revocation takes up to the change
                // check to be seen.
                KeyCheck::UnknownId => {
                    generation = store.change_generation_now()?;
                    if generation == snapshot.generation {
                        return Ok(None);
                    }
                }
            }
        }
        let snapshot = Arc::new(KeySnapshot {
            generation,
            keys: store.live_api_keys()?,
        });
        let id = match snapshot.keys.check(presented) {
            KeyCheck::Live(id) => Some(id.clone()),
            KeyCheck::UnknownId | KeyCheck::Refused => None,
        };
        self.keys.store(Some(snapshot));
        Ok(id)
    }

    /// The cached connection `name` if it is still current under `generation`.
    fn cached(&self, name: &str, generation: u64) -> Option<Arc<LiveConnection>> {
        // The first caller to see a newer generation drops every entry (deleted names
        // included); a caller still holding an older number never sweeps.
        if self.swept_for.load(Ordering::Acquire) < generation
            && self.swept_for.fetch_max(generation, Ordering::AcqRel) < generation
        {
            self.connections.pin().clear();
        }
        self.connections
            .pin()
            .get(name)
            .filter(|c| c.generation == generation)
            .cloned()
    }
}

impl Services {
    /// The tokens of the app connections `connector` is granted, for those the host
    /// defines (a granted name it does not define is `not_found` at the door). An app
    /// connection created or deleted later moves the change generation, so a context
    /// built here is rebuilt then.
    fn app_tokens(&self, connector: &Connector) -> ServiceResult<AppTokens> {
        let permissions = connector.permissions();
        let mut out = AppTokens::new();
        for name in permissions
            .readable_apps
            .iter()
            .chain(&permissions.injectable_apps)
        {
            if out.contains_key(name) {
                continue;
            }
            match self.store.app_connection(name) {
                Ok(app) => {
                    let source = ConnectionTokens::new(self.tokens.clone(), &app.connection.id);
                    out.insert(name.clone(), Arc::new(source) as Arc<dyn TokenSource>);
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// The connection `name` ready to run routes: from memory while nothing it was built
    /// from changed, else read, validated and built again.
    pub(crate) async fn live_connection(&self, name: &str) -> ServiceResult<Arc<LiveConnection>> {
        let generation = self.store.change_generation()?;
        if let Some(hit) = self.live.cached(name, generation) {
            let current = self
                .catalog
                .connector(&hit.connector_key, Lookup::KeyOrPath)
                .await?;
            if Arc::ptr_eq(&current, &hit.connector) {
                return Ok(hit);
            }
        }
        // Read after the generation was taken: what is built is at least that new.
        let record = self.store.connection_by_name(name)?;
        let connector = self.connector(&record.connector, Lookup::KeyOrPath).await?;
        let secrets = self.store.secret_settings(&record.id)?;
        let auth = super::connections::stored_auth(connector.connector(), &record)?;
        let settings = auth
            .validate_parts(&record.settings, &record.callback_params, &secrets)
            .map_err(|errors| ServiceError::StoredSettings {
                connection: record.name.clone(),
                connector: record.connector.clone(),
                errors,
            })?;
        let doors = Doors {
            egress: Some(self.egress.clone()),
            egress_limits: self.egress_limits.clone(),
            tokens: auth
                .oauth
                .as_ref()
                .map(|_| Arc::new(ConnectionTokens::new(self.tokens.clone(), &record.id)) as _),
            app_tokens: self.app_tokens(connector.connector())?,
            ingest: Some(self.ingest.clone()),
        };
        let context = connector.context(Some(&record.name), auth, &settings, &doors);
        let live = Arc::new(LiveConnection {
            generation,
            name: record.name,
            connector_key: record.connector,
            connector,
            context,
        });
        self.live
            .connections
            .pin()
            .insert(live.name.clone(), live.clone());
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MasterKey;

    #[test]
    fn keys_are_served_from_memory_until_the_counter_moves() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate();
        let store = Store::open_with_key(dir.path(), &key).unwrap();
        let live = Live::new();
        let first = store.create_api_key("first").unwrap();
        assert_eq!(
            live.check_api_key(&store, &first.key).unwrap().as_deref(),
            Some(first.id.as_str())
        );

        // A key another process creates works on its first call.
        let cli = Store::open_with_key(dir.path(), &key).unwrap();
        let second = cli.create_api_key("second").unwrap();
        assert_eq!(
            live.check_api_key(&store, &second.key).unwrap().as_deref(),
            Some(second.id.as_str())
        );

        // Revoked behind the counter's back: the answer still comes from memory, so
        // nothing was read per call.
        // (Another process, which may also write without the triggers.)
        let raw = cli.conn();
        raw.execute_batch(match raw.dialect() {
            crate::store::db::Dialect::Sqlite => "DROP TRIGGER api_keys_updated",
            crate::store::db::Dialect::Postgres => "DROP TRIGGER api_keys_updated ON api_keys",
        })
        .unwrap();
        raw.execute(
            "UPDATE api_keys SET revoked_at = 1 WHERE id = ?1",
            [&first.id],
        )
        .unwrap();
        assert!(live.check_api_key(&store, &first.key).unwrap().is_some());

        // Once the counter moves, the next check after the interval reads the keys again.
        raw.execute_batch("UPDATE change_counter SET generation = generation + 1")
            .unwrap();
        std::thread::sleep(crate::store::CHANGE_CHECK + std::time::Duration::from_millis(50));
        assert_eq!(live.check_api_key(&store, &first.key).unwrap(), None);
        assert!(live.check_api_key(&store, &second.key).unwrap().is_some());
    }
}
