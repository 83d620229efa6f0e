//! Checking a declaration and planning it (`keyway apply`): every problem at once, each
//! with the path of keys it is at; each declared object's digest compared with the one
//! its last write stored; what an earlier apply created and the file leaves out listed,
//! or deleted with `--prune`.
//!
//! Owns: [`Services::plan_apply`] and the checks behind it.
//! Must not: write anything, or put a value into a problem.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Map;

use super::{
    Action, ConfigProblem, Desired, DesiredConnection, DesiredCredentials, Plan, PlanLine, Step,
    kind_name,
};
use crate::catalog::Lookup;
use crate::services::app_connections::checked;
use crate::services::connections::plain_values;
use crate::services::{AppConnectionInput, ServiceError, ServiceResult, Services};
use crate::store::{AppliedKind, NewConnection, StoredDigest};

fn section(kind: AppliedKind) -> &'static str {
    match kind {
        AppliedKind::Credentials => "credentials",
        AppliedKind::AppConnection => "appConnections",
        AppliedKind::Connection => "connections",
    }
}

fn problem(
    kind: AppliedKind,
    name: &str,
    rest: &[&str],
    message: impl Into<String>,
) -> ConfigProblem {
    let mut path = vec![section(kind).to_string(), name.to_string()];
    path.extend(rest.iter().map(|s| s.to_string()));
    ConfigProblem {
        path,
        message: message.into(),
    }
}

/// The action for a declared object whose digest is `digest` and whose stored one is
/// `stored`, with the reason shown for an update.
fn compare(digest: &str, stored: &StoredDigest) -> (Action, Option<&'static str>) {
    match stored {
        StoredDigest::Absent => (Action::Create, None),
        StoredDigest::Unknown => (Action::Update, Some("stored before digests were kept")),
        StoredDigest::Digest(d) if d == digest => (Action::Unchanged, None),
        StoredDigest::Digest(_) => (Action::Update, Some("configuration differs")),
    }
}

struct Planner<'a> {
    services: &'a Services,
    lines: Vec<PlanLine>,
    steps: Vec<Step>,
    problems: Vec<ConfigProblem>,
    applied: BTreeMap<AppliedKind, BTreeSet<String>>,
}

impl Planner<'_> {
    /// Records the action for a declared, checked object.
    fn declare(
        &mut self,
        kind: AppliedKind,
        name: &str,
        digest: &str,
        write: impl FnOnce(bool) -> Step,
    ) {
        let stored = match self.services.store.stored_digest(kind, name) {
            Ok(s) => s,
            Err(e) => {
                self.problems.push(problem(kind, name, &[], e.to_string()));
                return;
            }
        };
        let (action, reason) = compare(digest, &stored);
        match action {
            Action::Create => self.steps.push(write(true)),
            Action::Update => self.steps.push(write(false)),
            _ => {
                let managed = self.applied.get(&kind).is_some_and(|s| s.contains(name));
                if !managed {
                    self.steps.push(Step::Adopt(kind, name.to_string()));
                }
            }
        }
        self.lines.push(PlanLine {
            kind: kind_name(kind),
            name: name.to_string(),
            action,
            reason,
        });
    }

    fn credentials(&mut self, c: DesiredCredentials) {
        let kind = AppliedKind::Credentials;
        if let Err(e) = crate::store::credentials::validate_key(&c.key) {
            self.problems
                .push(problem(kind, &c.key, &[], e.to_string()));
            return;
        }
        if c.client_id.trim().is_empty() {
            self.problems
                .push(problem(kind, &c.key, &["clientId"], "must not be empty"));
            return;
        }
        let digest = self
            .services
            .store
            .credentials_digest(&c.client_id, c.client_secret.as_ref());
        let key = c.key.clone();
        self.declare(kind, &key, &digest, |_| Step::Credentials(c));
    }

    /// Refuses `name` when it is not a connection name or the other kind holds it.
    fn check_name(&mut self, kind: AppliedKind, name: &str) -> bool {
        if let Err(e) = crate::store::connections::validate_name(name) {
            self.problems.push(problem(kind, name, &[], e.to_string()));
            return false;
        }
        let other = match kind {
            AppliedKind::AppConnection => AppliedKind::Connection,
            _ => AppliedKind::AppConnection,
        };
        match self.services.store.stored_digest(other, name) {
            Ok(StoredDigest::Absent) => true,
            Ok(_) => {
                self.problems.push(problem(
                    kind,
                    name,
                    &[],
                    format!(
                        "the name is taken by an existing {}; names are shared by both kinds",
                        kind_name(other)
                    ),
                ));
                false
            }
            Err(e) => {
                self.problems.push(problem(kind, name, &[], e.to_string()));
                false
            }
        }
    }

    fn app(&mut self, name: String, input: AppConnectionInput) {
        let kind = AppliedKind::AppConnection;
        if !self.check_name(kind, &name) {
            return;
        }
        let config = match checked(&input) {
            Ok(c) => c,
            Err(ServiceError::Input { field, message }) => {
                self.problems.push(problem(kind, &name, &[&field], message));
                return;
            }
            Err(e) => {
                self.problems.push(problem(kind, &name, &[], e.to_string()));
                return;
            }
        };
        let digest = self.services.store.app_connection_digest(&config);
        let n = name.clone();
        self.declare(kind, &n, &digest, |create| Step::App {
            name,
            config,
            create,
        });
    }

    fn connection(&mut self, c: DesiredConnection) {
        let kind = AppliedKind::Connection;
        let name = c.name;
        if !self.check_name(kind, &name) {
            return;
        }
        let manifest = match self
            .services
            .catalog
            .manifest(&c.connector, Lookup::KeyOnly)
        {
            Ok(m) => m,
            Err(e) => {
                self.problems
                    .push(problem(kind, &name, &["connector"], e.to_string()));
                return;
            }
        };
        let connector = &manifest.connector;
        match self.services.store.connection_by_name(&name) {
            Ok(existing) if existing.connector != connector.key() => {
                self.problems.push(problem(
                    kind,
                    &name,
                    &["connector"],
                    format!(
                        "the connection exists with connector `{}`; a connection cannot change \
                         connector (delete it first)",
                        existing.connector
                    ),
                ));
                return;
            }
            Ok(existing) if existing.auth_option != c.auth_option => {
                self.problems.push(problem(
                    kind,
                    &name,
                    &["authOption"],
                    format!(
                        "the connection exists with auth option {}; a connection cannot change \
                         how it authenticates (delete it first)",
                        existing
                            .auth_option
                            .as_deref()
                            .map_or("(none)".to_string(), |o| format!("`{o}`"))
                    ),
                ));
                return;
            }
            _ => {}
        }
        let auth = match connector.auth(c.auth_option.as_deref()) {
            Ok(auth) => auth,
            Err(e) => {
                self.problems
                    .push(problem(kind, &name, &["authOption"], e.to_string()));
                return;
            }
        };
        let secret_names: BTreeSet<String> = c.settings.secret.keys().cloned().collect();
        // A secret among the plain settings is reported and left out, so the rest are
        // still checked: every problem at once.
        let mut given = c.settings.plain;
        let mut refused = false;
        let plain = loop {
            match plain_values(auth, given.clone()) {
                Ok(p) => break p,
                Err(ServiceError::SecretAsPlain { name: secret }) => {
                    self.problems.push(problem(
                        kind,
                        &name,
                        &["settings", &secret],
                        format!(
                            "`{secret}` is a secret setting: give it under secretSettings, \
                             by reference, never inline"
                        ),
                    ));
                    given.retain(|(n, _)| *n != secret);
                    refused = true;
                }
                Err(e) => {
                    self.problems
                        .push(problem(kind, &name, &["settings"], e.to_string()));
                    return;
                }
            }
        };
        let valid = match auth.validate_parts(&plain, &BTreeMap::new(), &c.settings.secret) {
            Ok(_) if refused => return,
            Ok(v) => v,
            Err(errors) => {
                for p in errors.0 {
                    let setting = p
                        .pointer
                        .trim_start_matches('/')
                        .split('/')
                        .next()
                        .unwrap_or("");
                    let table = if secret_names.contains(setting) {
                        "secretSettings"
                    } else {
                        "settings"
                    };
                    let at: Vec<&str> = if setting.is_empty() {
                        vec![table]
                    } else {
                        vec![table, setting]
                    };
                    self.problems.push(problem(kind, &name, &at, p.message));
                }
                return;
            }
        };
        let (settings, secret_settings): (Map<_, _>, _) = valid.split();
        let digest = self.services.store.connection_digest(
            connector.key(),
            auth.name.as_deref(),
            &settings,
            &secret_settings,
        );
        let new = NewConnection {
            name: name.clone(),
            connector: connector.key().to_string(),
            credential_key: auth.oauth.as_ref().map(|o| o.client.credential_key.clone()),
            auth_option: auth.name.clone(),
            settings,
            secret_settings,
        };
        self.declare(kind, &name, &digest, |create| Step::Connection {
            new,
            create,
        });
    }

    /// Objects a file applied before that this one leaves out: deleted with `prune`,
    /// listed otherwise.
    fn left_out(&mut self, kind: AppliedKind, declared: &BTreeSet<String>, prune: bool) {
        let managed = self.applied.get(&kind).cloned().unwrap_or_default();
        for name in managed.difference(declared) {
            match self.services.store.stored_digest(kind, name) {
                Ok(StoredDigest::Absent) => self.steps.push(Step::Forget(kind, name.clone())),
                Ok(_) => {
                    let action = if prune {
                        Action::Delete
                    } else {
                        Action::NotInFile
                    };
                    if prune {
                        self.steps.push(Step::Delete(kind, name.clone()));
                    }
                    self.lines.push(PlanLine {
                        kind: kind_name(kind),
                        name: name.clone(),
                        action,
                        reason: Some(if prune {
                            "not in the file"
                        } else {
                            "not in the file; --prune deletes it"
                        }),
                    });
                }
                Err(e) => self.problems.push(problem(kind, name, &[], e.to_string())),
            }
        }
    }

    /// A credential key the plan deletes must not be one a remaining connection uses.
    fn check_credentials_in_use(&mut self) -> ServiceResult<()> {
        let deleted = |kind: AppliedKind, name: &str| {
            self.steps
                .iter()
                .any(|s| matches!(s, Step::Delete(k, n) if *k == kind && n == name))
        };
        let mut users: BTreeMap<String, String> = BTreeMap::new();
        for record in self.services.store.list_connections()? {
            if let Some(key) = &record.credential_key
                && !deleted(AppliedKind::Connection, &record.name)
            {
                users.insert(key.clone(), record.name.clone());
            }
        }
        for step in &self.steps {
            if let Step::Connection { new, .. } = step
                && let Some(key) = &new.credential_key
            {
                users.insert(key.clone(), new.name.clone());
            }
        }
        let mut problems = Vec::new();
        for step in &self.steps {
            if let Step::Delete(AppliedKind::Credentials, key) = step
                && let Some(user) = users.get(key)
            {
                problems.push(problem(
                    AppliedKind::Credentials,
                    key,
                    &[],
                    format!(
                        "left out of the file, but connection `{user}` still uses these \
                         credentials; keep them or remove the connection too"
                    ),
                ));
            }
        }
        self.problems.extend(problems);
        Ok(())
    }
}

impl Services {
    /// Checks `desired` whole and plans what applying it does. With `prune`, objects an
    /// earlier apply created that `desired` leaves out are deleted. Every problem is
    /// returned at once; nothing is written.
    pub fn plan_apply(&self, desired: Desired, prune: bool) -> Result<Plan, Vec<ConfigProblem>> {
        let mut applied = BTreeMap::new();
        for kind in [
            AppliedKind::Credentials,
            AppliedKind::AppConnection,
            AppliedKind::Connection,
        ] {
            match self.store.applied_names(kind) {
                Ok(names) => {
                    applied.insert(kind, names);
                }
                Err(e) => {
                    return Err(vec![ConfigProblem {
                        path: vec![],
                        message: e.to_string(),
                    }]);
                }
            }
        }
        let mut p = Planner {
            services: self,
            lines: Vec::new(),
            steps: Vec::new(),
            problems: Vec::new(),
            applied,
        };
        let names = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
        let declared_credentials =
            names(desired.credentials.iter().map(|c| c.key.clone()).collect());
        let declared_apps = names(
            desired
                .app_connections
                .iter()
                .map(|(n, _)| n.clone())
                .collect(),
        );
        let declared_connections =
            names(desired.connections.iter().map(|c| c.name.clone()).collect());
        for name in declared_apps.intersection(&declared_connections) {
            p.problems.push(problem(
                AppliedKind::Connection,
                name,
                &[],
                "also declared as an app connection; names are shared by both kinds",
            ));
        }
        for c in desired.credentials {
            p.credentials(c);
        }
        for (name, input) in desired.app_connections {
            p.app(name, input);
        }
        for c in desired.connections {
            p.connection(c);
        }
        // Deletions run connections first, credentials last: the reverse of creation.
        p.left_out(AppliedKind::Connection, &declared_connections, prune);
        p.left_out(AppliedKind::AppConnection, &declared_apps, prune);
        p.left_out(AppliedKind::Credentials, &declared_credentials, prune);
        if let Err(e) = p.check_credentials_in_use() {
            p.problems.push(ConfigProblem {
                path: vec![],
                message: e.to_string(),
            });
        }
        if !p.problems.is_empty() {
            return Err(p.problems);
        }
        Ok(Plan {
            lines: p.lines,
            steps: p.steps,
        })
    }
}
