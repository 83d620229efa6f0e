//! `keyway apply`: bring credentials, app connections and connector connections to what
//! one configuration declares. [`Services::plan_apply`] checks the whole declaration
//! (every problem, each with the path of keys it is at) and compares each object's
//! digest with the one its last write stored; [`Services::apply`] carries out a plan.
//!
//! Owns: the declaration's and the plan's types, and carrying a plan out in its order:
//! credentials, then app connections, then connections; deletions the other way round.
//! Checking a declaration and planning it is `plan.rs`.
//! Must not: write anything while planning, delete an object no configuration file
//! applied, or put a secret into a plan line, a problem or a log.

mod plan;

use secrecy::SecretString;
use serde::Serialize;

use super::{AppConnectionInput, ServiceError, ServiceResult, Services, SettingsInput};
use crate::store::{AppConnectionConfig, AppliedKind, NewConnection};

/// Credentials as declared.
pub struct DesiredCredentials {
    pub key: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
}

/// A connector connection as declared.
pub struct DesiredConnection {
    pub name: String,
    /// The connector's key, as the connector directories serve it.
    pub connector: String,
    /// The connector's auth option, when it offers several (`authOption`).
    pub auth_option: Option<String>,
    pub settings: SettingsInput,
}

/// Everything one configuration declares.
#[derive(Default)]
pub struct Desired {
    pub credentials: Vec<DesiredCredentials>,
    pub app_connections: Vec<(String, AppConnectionInput)>,
    pub connections: Vec<DesiredConnection>,
}

/// What applying does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
    /// Applied from a file before, not in this one, deleted (`--prune`).
    Delete,
    /// Applied from a file before, not in this one, kept (no `--prune`).
    NotInFile,
}

/// One line of a plan. Names and reasons only: never a value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanLine {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// A problem of the declaration: the path of keys it is at (`["connections", "shop",
/// "settings", "domain"]`) and what is wrong, never the value.
#[derive(Debug, Clone)]
pub struct ConfigProblem {
    pub path: Vec<String>,
    pub message: String,
}

/// A checked declaration and what applying it does.
pub struct Plan {
    pub lines: Vec<PlanLine>,
    pub(super) steps: Vec<Step>,
}

impl Plan {
    /// Whether applying changes anything (an adoption of an unchanged object aside).
    pub fn changes(&self) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l.action, Action::Create | Action::Update | Action::Delete))
    }
}

/// Applying stopped at a step: what was done before it, and why it failed.
#[derive(Debug)]
pub struct ApplyFailure {
    pub done: Vec<PlanLine>,
    pub failed: PlanLine,
    pub error: ServiceError,
}

pub(super) enum Step {
    Credentials(DesiredCredentials),
    App {
        name: String,
        config: AppConnectionConfig,
        create: bool,
    },
    Connection {
        new: NewConnection,
        create: bool,
    },
    /// An unchanged object a file did not manage yet: from now on it does.
    Adopt(AppliedKind, String),
    Delete(AppliedKind, String),
    /// A managed object deleted by other means: the record of it goes.
    Forget(AppliedKind, String),
}

pub(super) fn kind_name(kind: AppliedKind) -> &'static str {
    match kind {
        AppliedKind::Credentials => "credentials",
        AppliedKind::AppConnection => "app connection",
        AppliedKind::Connection => "connection",
    }
}

impl Services {
    /// Carries out `plan` step by step, recording each object as managed by the file.
    /// Stops at the first failure; applying the same file again finishes the rest.
    pub fn apply(&self, plan: Plan) -> Result<Vec<PlanLine>, Box<ApplyFailure>> {
        let mut done = Vec::new();
        for step in plan.steps {
            let (kind, name) = match &step {
                Step::Credentials(c) => (AppliedKind::Credentials, c.key.clone()),
                Step::App { name, .. } => (AppliedKind::AppConnection, name.clone()),
                Step::Connection { new, .. } => (AppliedKind::Connection, new.name.clone()),
                Step::Adopt(k, n) | Step::Delete(k, n) | Step::Forget(k, n) => (*k, n.clone()),
            };
            let line = planned_line(&plan.lines, kind, &name);
            if let Err(error) = self.apply_step(step) {
                return Err(Box::new(ApplyFailure {
                    done,
                    failed: line,
                    error,
                }));
            }
            if matches!(
                line.action,
                Action::Create | Action::Update | Action::Delete
            ) {
                done.push(line);
            }
        }
        Ok(done)
    }

    fn apply_step(&self, step: Step) -> ServiceResult<()> {
        match step {
            Step::Credentials(c) => {
                self.store
                    .set_credentials(&c.key, &c.client_id, c.client_secret.as_ref())?;
                self.store.mark_applied(AppliedKind::Credentials, &c.key)?;
            }
            Step::App {
                name,
                config,
                create,
            } => {
                let row = if create {
                    self.store.create_app_connection(&name, &config)?
                } else {
                    self.store.update_app_connection(&name, &config)?
                };
                self.tokens.invalidate(&row.connection.id);
                self.store.mark_applied(AppliedKind::AppConnection, &name)?;
            }
            Step::Connection { new, create } => {
                if create {
                    self.store.create_connection(&new)?;
                } else {
                    let record = self.store.connection_by_name(&new.name)?;
                    self.store.replace_settings(
                        &record.id,
                        &record.connector,
                        record.auth_option.as_deref(),
                        &new.settings,
                        &new.secret_settings,
                    )?;
                }
                self.store
                    .mark_applied(AppliedKind::Connection, &new.name)?;
            }
            Step::Adopt(kind, name) => self.store.mark_applied(kind, &name)?,
            Step::Delete(kind, name) => {
                match kind {
                    AppliedKind::Credentials => self.store.delete_credentials(&name)?,
                    AppliedKind::AppConnection => self.delete_app_connection(&name)?,
                    AppliedKind::Connection => self.delete_connection(&name)?,
                }
                self.store.forget_applied(kind, &name)?;
            }
            Step::Forget(kind, name) => self.store.forget_applied(kind, &name)?,
        }
        Ok(())
    }
}

/// The plan's line for `kind`/`name` (a step with none, such as forgetting a record of
/// an object already gone, is `unchanged`).
fn planned_line(lines: &[PlanLine], kind: AppliedKind, name: &str) -> PlanLine {
    lines
        .iter()
        .find(|l| l.kind == kind_name(kind) && l.name == name)
        .cloned()
        .unwrap_or(PlanLine {
            kind: kind_name(kind),
            name: name.to_string(),
            action: Action::Unchanged,
            reason: None,
        })
}
