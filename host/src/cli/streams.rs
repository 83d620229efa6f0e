//! `keyway streams list|run|pause|resume|reset` and `keyway runs list`: a connection's
//! scheduled syncs, run by hand (with a progress bar of pages and records) or looked at.
//!
//! Owns: the commands' arguments and output formats.
//! Must not: hold a use case (`services::streams` does).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use crate::services::views::{RunView, StreamView};
use crate::services::{Services, Trigger};
use crate::store::RunQuery;

/// `keyway streams`.
#[derive(Debug, Args)]
pub struct StreamsArgs {
    /// Let routes reach this CIDR despite the private-address block (a provider on this
    /// machine, for example 127.0.0.1/32). Repeatable.
    #[arg(long = "allow-cidr", value_name = "CIDR", global = true)]
    pub allow_cidrs: Vec<String>,
    #[command(subcommand)]
    pub command: StreamsCommand,
}

#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// Every stream of every connection (or of one), with its state and last run.
    List {
        /// Only this connection's streams.
        #[arg(long)]
        connection: Option<String>,
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Run a stream now, to its end, resuming from its last checkpoint. Exits 1 when the
    /// run fails.
    Run {
        connection: String,
        stream: String,
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Stop scheduling a stream until it is resumed.
    Pause { connection: String, stream: String },
    /// Schedule a paused stream again, forgetting its failed attempts.
    Resume { connection: String, stream: String },
    /// Forget a stream's cursor: its next run starts over (a backfill).
    Reset { connection: String, stream: String },
}

/// `keyway runs`.
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Stream runs, newest first.
    List {
        #[arg(long)]
        connection: Option<String>,
        #[arg(long)]
        stream: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn when(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "-".into())
}

/// One tab-separated line: id, connection, stream, trigger, status, started, pages,
/// imported, duplicates, failed, error.
fn run_line(r: &RunView) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\tpages={}\timported={}\tduplicates={}\tfailed={}\t{}",
        r.id,
        r.connection,
        r.stream,
        r.trigger,
        r.status,
        when(Some(r.started_at_ms)),
        r.pages,
        r.imported,
        r.duplicates,
        r.failed,
        r.error.as_deref().unwrap_or("")
    )
}

fn stream_line(s: &StreamView) -> String {
    let state = if s.paused {
        format!("paused ({})", s.pause_reason.as_deref().unwrap_or("-"))
    } else {
        "active".to_string()
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\tnext={}\tcursor={}\tlast={}",
        s.connection,
        s.stream,
        s.route,
        s.schedule.as_deref().unwrap_or("manual"),
        s.mode,
        state,
        when(s.next_run_at.map(|t| t * 1000)),
        s.cursor.as_deref().unwrap_or("-"),
        s.last_run
            .as_ref()
            .map(|r| format!("{} {}", r.status, r.id))
            .unwrap_or_else(|| "-".into())
    )
}

pub async fn run(command: StreamsCommand, services: Arc<Services>) -> Result<ExitCode, CliError> {
    match command {
        StreamsCommand::List { connection, json } => {
            let streams = services.list_streams(connection.as_deref()).await?;
            if json {
                print_json(&streams)?;
            } else if streams.is_empty() {
                eprintln!("no streams");
            } else {
                for s in &streams {
                    println!("{}", stream_line(s));
                }
            }
        }
        StreamsCommand::Run {
            connection,
            stream,
            json,
        } => {
            let mut started = services
                .start_stream_run(&connection, &stream, Trigger::Manual)
                .await?;
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(format!("{connection}/{stream}: starting"));
            let done = loop {
                tokio::select! {
                    result = &mut started.done => break result,
                    changed = started.progress.changed() => {
                        if changed.is_ok() {
                            let p = *started.progress.borrow_and_update();
                            bar.set_message(format!(
                                "{connection}/{stream}: {} pages, {} records committed, {} held, {} duplicates, {} failed",
                                p.pages, p.imported, p.pending, p.duplicates, p.failed
                            ));
                        }
                    }
                }
            };
            bar.finish_and_clear();
            services.flush_history();
            let view =
                done.map_err(|e| anyhow::anyhow!("the stream run's task stopped: {e}"))??;
            if json {
                print_json(&view)?;
            } else {
                println!("{}", run_line(&view));
            }
            if view.status != "succeeded" {
                return Ok(ExitCode::from(1));
            }
        }
        StreamsCommand::Pause { connection, stream } => {
            services.pause_stream(&connection, &stream).await?;
            println!("paused {connection}/{stream}");
        }
        StreamsCommand::Resume { connection, stream } => {
            services.resume_stream(&connection, &stream).await?;
            println!("resumed {connection}/{stream}");
        }
        StreamsCommand::Reset { connection, stream } => {
            services.reset_stream(&connection, &stream).await?;
            println!("reset {connection}/{stream}: its next run starts over");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_runs(command: RunsCommand, services: &Services) -> Result<ExitCode, CliError> {
    match command {
        RunsCommand::List {
            connection,
            stream,
            limit,
            json,
        } => {
            let runs = services
                .stream_runs(&RunQuery {
                    connection,
                    stream,
                    limit,
                    before: None,
                })?
                .items;
            if json {
                print_json(&runs)?;
            } else if runs.is_empty() {
                eprintln!("no runs");
            } else {
                for r in &runs {
                    println!("{}", run_line(r));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
