//! `keyway validate`: check connector manifests and print every problem.
//!
//! Owns the command's arguments and output format: one line per problem as
//! `<file>: <json-pointer>: <message>`, one `<file>: ok <key> <version>` line per valid
//! connector, or the same as JSON with `--json`. Must not load components or change
//! anything on disk; validation itself lives in `crate::manifest`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::manifest::{self, Problem};

#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// Connector directories (holding connector.json) or manifest files.
    #[arg(required = true, value_name = "CONNECTOR_DIR_OR_MANIFEST")]
    pub paths: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// Validates one path without printing.
pub fn check(path: &std::path::Path) -> FileReport {
    match manifest::load_dir_or_file(path) {
        Ok(loaded) => FileReport {
            file: loaded.path.display().to_string(),
            valid: true,
            key: Some(loaded.connector.key().to_owned()),
            version: Some(loaded.connector.version().to_string()),
            problems: Vec::new(),
        },
        Err(e) => FileReport {
            file: e.path().display().to_string(),
            valid: false,
            key: None,
            version: None,
            problems: e.problems().into_vec(),
        },
    }
}

/// The text lines for one report.
pub fn lines(report: &FileReport) -> Vec<String> {
    if report.valid {
        vec![format!(
            "{}: ok {} {}",
            report.file,
            report.key.as_deref().unwrap_or_default(),
            report.version.as_deref().unwrap_or_default()
        )]
    } else {
        report
            .problems
            .iter()
            .map(|p| format!("{}: {}: {}", report.file, p.pointer, p.message))
            .collect()
    }
}

/// Runs the command; exit 1 when any manifest has a problem.
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let reports: Vec<FileReport> = args.paths.iter().map(|p| check(p)).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "results": reports }))
            .context("rendering the result as JSON")?;
        writeln!(out, "{text}").context("writing to stdout")?;
    } else {
        for report in &reports {
            for line in lines(report) {
                writeln!(out, "{line}").context("writing to stdout")?;
            }
        }
    }
    Ok(if reports.iter().all(|r| r.valid) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
