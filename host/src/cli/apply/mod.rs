//! `keyway apply -f keyway.toml`: credentials, app connections and connector connections
//! brought to what one file declares. Prints the plan (create / update / unchanged /
//! delete, and what an earlier apply created that the file leaves out), then applies
//! only what changed, judged by the digest each object's last write stored;
//! `--dry-run` stops after the plan, `--prune` deletes what the file left out.
//!
//! Owns: the command, reading the file, and printing plans and problems.
//! Must not: print a secret (plan lines carry names and reasons only), or take one from
//! argv.

mod file;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::CliError;
use crate::services::Services;
use crate::services::apply::{Action, PlanLine};
pub use file::{ConfigFile, FileProblem};

/// The largest configuration file read.
const MAX_FILE: u64 = 4 << 20;

/// `keyway apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The configuration file (TOML): `[credentials.KEY]`, `[appConnections.NAME]`,
    /// `[connections.NAME]`; secrets as `{ env = "VAR" }` or `{ file = "PATH" }`.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete what an earlier apply created and this file leaves out.
    #[arg(long)]
    pub prune: bool,
    /// Let OAuth requests reach this CIDR despite the private-address block. Repeatable.
    #[arg(long = "allow-cidr", value_name = "CIDR")]
    pub allow_cidrs: Vec<String>,
}

fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Unchanged => "=",
        Action::Delete => "-",
        Action::NotInFile => "?",
    }
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Unchanged => "unchanged",
        Action::Delete => "delete",
        Action::NotInFile => "not in file",
    }
}

fn print_line(l: &PlanLine) {
    let what = format!("{} {}", l.kind, l.name);
    match l.reason {
        Some(reason) => println!(
            "  {} {:<44} {} ({reason})",
            symbol(l.action),
            what,
            verb(l.action)
        ),
        None => println!("  {} {:<44} {}", symbol(l.action), what, verb(l.action)),
    }
}

fn summary(lines: &[PlanLine]) -> String {
    let count = |a: Action| lines.iter().filter(|l| l.action == a).count();
    let mut text = format!(
        "{} to create, {} to update, {} unchanged, {} to delete",
        count(Action::Create),
        count(Action::Update),
        count(Action::Unchanged),
        count(Action::Delete)
    );
    let stray = count(Action::NotInFile);
    if stray > 0 {
        text.push_str(&format!(
            ", {stray} not in the file (kept; --prune deletes)"
        ));
    }
    text
}

fn print_problems(file: &std::path::Path, problems: &[FileProblem]) {
    eprintln!(
        "{} has {} problem{}; nothing was applied:",
        file.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        eprintln!("{}:{p}", file.display());
    }
}

/// Runs `keyway apply`.
pub fn run(args: &ApplyArgs, services: &Services) -> Result<ExitCode, CliError> {
    let meta = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if meta.len() > MAX_FILE {
        return Err(
            anyhow::anyhow!("{} is larger than {MAX_FILE} bytes", args.file.display()).into(),
        );
    }
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let file = ConfigFile::new(text, &args.file);
    let desired = match file.desired() {
        Ok(d) => d,
        Err(problems) => {
            print_problems(&args.file, &problems);
            return Ok(ExitCode::from(2));
        }
    };
    let plan = match services.plan_apply(desired, args.prune) {
        Ok(plan) => plan,
        Err(problems) => {
            let placed: Vec<FileProblem> = problems
                .iter()
                .map(|p| file.problem(&p.path, p.message.clone()))
                .collect();
            print_problems(&args.file, &placed);
            return Ok(ExitCode::from(2));
        }
    };
    println!("Plan for {}:", args.file.display());
    for line in &plan.lines {
        print_line(line);
    }
    println!("{}.", summary(&plan.lines));
    if args.dry_run {
        println!("Dry run: nothing was applied.");
        return Ok(ExitCode::SUCCESS);
    }
    let changes = plan.changes();
    match services.apply(plan) {
        Ok(done) if changes => {
            println!(
                "Applied {} change{}.",
                done.len(),
                if done.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) => {
            println!("Nothing to change.");
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            for line in &failure.done {
                println!("done: {} {} {}", verb(line.action), line.kind, line.name);
            }
            eprintln!(
                "failed to {} {} `{}` (applying the file again finishes the rest):",
                verb(failure.failed.action),
                failure.failed.kind,
                failure.failed.name,
            );
            Err(CliError::Service(failure.error))
        }
    }
}
