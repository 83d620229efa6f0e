//! `keyway validate`: check connector manifests, and the component of each connector
//! against its manifest, and print every problem.
//!
//! Owns the command's arguments and output format: one line per problem as
//! `<file>: <json-pointer>: <message>`, one `<file>: ok <key> <version>` line per valid
//! connector, or the same as JSON with `--json`; with `--explain`, also what a catalog
//! provider (`connection.oauth.provider`) filled in each valid manifest, field by field
//! with its value and the provider's documentation. A connector directory must have a built
//! component that loads and exports every route its manifest names (`--no-component`
//! skips this); a lone manifest file is checked against a component only when one is
//! found beside it. Must not change anything on disk; validation itself lives in
//! `crate::manifest`, the component check in `crate::registry` and `crate::runtime`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::manifest::{self, Problem};
use crate::registry;
use crate::runtime::Runtime;

#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Connector directories (holding connector.json) or manifest files.
    #[arg(required = true, value_name = "CONNECTOR_DIR_OR_MANIFEST")]
    pub paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Check the manifests alone, not the components against them.
    #[arg(long)]
    pub no_component: bool,
    /// Also print, per valid connector, each OAuth field its `provider` filled in from the
    /// catalog, with the value and the provider's documentation.
    #[arg(long)]
    pub explain: bool,
}

/// What a catalog provider filled in a valid manifest's OAuth block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresetReport {
    /// The auth option whose OAuth block it is; absent for `connection.oauth`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub option: Option<String>,
    pub provider: String,
    pub name: String,
    pub docs: String,
    pub filled: Vec<FilledField>,
}

/// One filled field, named as in `connection.oauth`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilledField {
    pub field: String,
    pub value: String,
}

/// The outcome for one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileReport {
    pub file: String,
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The component checked against the manifest, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// What does not make the manifest invalid but will fail at run time here: an app
    /// connection it is granted that this host does not define.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
    /// What each OAuth block's `provider` filled in: `connection.oauth`'s, or each auth
    /// option's (shown with `--explain`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub presets: Vec<PresetReport>,
}

/// Validates one path without printing.
pub fn check(path: &std::path::Path) -> FileReport {
    match manifest::load_dir_or_file(path) {
        Ok(loaded) => FileReport {
            file: loaded.path.display().to_string(),
            valid: true,
            key: Some(loaded.connector.key().to_owned()),
            version: Some(loaded.connector.version().to_string()),
            component: None,
            problems: Vec::new(),
            warnings: Vec::new(),
            presets: loaded
                .connector
                .auth_options()
                .iter()
                .filter_map(|a| Some((a.name.clone(), a.oauth.as_ref()?.preset.as_ref()?)))
                .map(|(option, u)| PresetReport {
                    option,
                    provider: u.provider.clone(),
                    name: u.name.clone(),
                    docs: u.docs.clone(),
                    filled: u
                        .filled
                        .iter()
                        .map(|f| FilledField {
                            field: f.field.clone(),
                            value: f.value.clone(),
                        })
                        .collect(),
                })
                .collect(),
        },
        Err(e) => FileReport {
            file: e.path().display().to_string(),
            valid: false,
            key: None,
            version: None,
            component: None,
            problems: e.problems().into_vec(),
            warnings: Vec::new(),
            presets: Vec::new(),
        },
    }
}

/// Checks the component of the valid manifest at `path` against it: it must be found
/// (for a connector directory), load as a `keyway:connector` component, and export every
/// route the manifest names. Adds what is wrong to `report`.
pub async fn check_component(report: &mut FileReport, path: &Path, runtime: &Runtime) {
    if !report.valid {
        return;
    }
    let Ok(loaded) = manifest::load_dir_or_file(path) else {
        return;
    };
    let component = match registry::find_component(&loaded.dir) {
        Ok(found) => found,
        Err(e) if path.is_dir() => {
            report.valid = false;
            report.problems.push(Problem::new(
                "",
                format!("{e}, or check the manifest alone with `keyway validate --no-component`"),
            ));
            return;
        }
        Err(_) => return,
    };
    report.component = Some(component.display().to_string());
    let problems = match runtime
        .load_component(loaded.connector.key(), &component)
        .await
    {
        Ok(c) => {
            let exported: Vec<_> = c
                .routes()
                .iter()
                .map(|r| (r.method, r.path.clone()))
                .collect();
            let mut problems = loaded.connector.check_routes(&exported);
            problems.extend(loaded.connector.check_token_hooks(c.has_token_hooks()));
            problems
        }
        Err(e) => vec![Problem::new(
            "",
            format!("component {}: {e}", component.display()),
        )],
    };
    if !problems.is_empty() {
        report.valid = false;
        report.problems.extend(problems);
    }
}

/// Warns of each app connection the valid manifest at `path` is granted that `defined`
/// (the app connections of this host's store) lacks.
pub fn check_app_connections(
    report: &mut FileReport,
    path: &Path,
    defined: &std::collections::BTreeSet<String>,
) {
    if !report.valid {
        return;
    }
    let Ok(loaded) = manifest::load_dir_or_file(path) else {
        return;
    };
    let permissions = loaded.connector.permissions();
    let granted: std::collections::BTreeSet<&String> = permissions
        .readable_apps
        .iter()
        .chain(&permissions.injectable_apps)
        .collect();
    for name in granted {
        if !defined.contains(name) {
            report.warnings.push(Problem::new(
                format!("/permissions/connections/{name}"),
                format!(
                    "app connection `{name}` is not defined on this host: routes asking for \
                     it get not_found until it is (`keyway app-connections create {name}`, \
                     or an [appConnections.{name}] table applied with `keyway apply`)"
                ),
            ));
        }
    }
}

/// The text lines for one report.
pub fn lines(report: &FileReport) -> Vec<String> {
    if report.valid {
        let component = report
            .component
            .as_deref()
            .map(|c| format!(" (component {c})"))
            .unwrap_or_default();
        let mut lines = vec![format!(
            "{}: ok {} {}{component}",
            report.file,
            report.key.as_deref().unwrap_or_default(),
            report.version.as_deref().unwrap_or_default()
        )];
        for w in &report.warnings {
            lines.push(format!("{}: warning: {w}", report.file));
        }
        lines
    } else {
        report
            .problems
            .iter()
            .map(|p| p.in_file(&report.file))
            .collect()
    }
}

/// The `--explain` lines for one report: which OAuth fields each provider filled (in
/// `connection.oauth` or an auth option's block), with their values and the provider's
/// documentation; nothing for an invalid manifest.
pub fn explain_lines(report: &FileReport) -> Vec<String> {
    if !report.valid {
        return Vec::new();
    }
    if report.presets.is_empty() {
        return vec![format!(
            "{}: no provider preset: every OAuth field is the manifest's",
            report.file
        )];
    }
    let mut lines = Vec::new();
    for p in &report.presets {
        let block = match &p.option {
            None => "connection.oauth".to_string(),
            Some(name) => format!("connection.authOptions.{name}.oauth"),
        };
        lines.push(format!(
            "{}: provider \"{}\" ({}) filled {} field(s) of {block}; docs: {}",
            report.file,
            p.provider,
            p.name,
            p.filled.len(),
            p.docs
        ));
        lines.extend(
            p.filled
                .iter()
                .map(|f| format!("  {} = {}", f.field, f.value)),
        );
    }
    lines
}

/// Runs the command; exit 1 when any manifest has a problem. Components are compiled with
/// the data directory's cache when a master key is there.
pub async fn run(
    args: &ValidateArgs,
    data_dir: &Path,
    database: Option<&crate::store::DatabaseUrl>,
) -> anyhow::Result<ExitCode> {
    let mut reports: Vec<FileReport> = args.paths.iter().map(|p| check(p)).collect();
    if !args.no_component && reports.iter().any(|r| r.valid) {
        let runtime = Runtime::new(super::cached_runtime_config(data_dir)?)
            .context("starting the component runtime")?;
        for (report, path) in reports.iter_mut().zip(&args.paths) {
            check_component(report, path, &runtime).await;
        }
    }
    // Granted app connections are checked against this host's store when it has one.
    match crate::store::app_connections::defined_names_readonly(
        &crate::store::DatabaseUrl::or_sqlite_in(database, data_dir),
    ) {
        Ok(Some(defined)) => {
            for (report, path) in reports.iter_mut().zip(&args.paths) {
                check_app_connections(report, path, &defined);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "app connection names not checked"),
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !args.explain {
        for report in &mut reports {
            report.presets.clear();
        }
    }
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "results": reports }))
            .context("rendering the result as JSON")?;
        writeln!(out, "{text}").context("writing to stdout")?;
    } else {
        for report in &reports {
            for line in lines(report) {
                writeln!(out, "{line}").context("writing to stdout")?;
            }
            if args.explain {
                for line in explain_lines(report) {
                    writeln!(out, "{line}").context("writing to stdout")?;
                }
            }
        }
    }
    Ok(if reports.iter().all(|r| r.valid) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
