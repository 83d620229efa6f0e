//! `keyway webhooks list|deliveries|retry|test`: the webhooks of each connection (with
//! the path to give the provider), their deliveries, a retry of a dead one, and a signed
//! test delivery queued for `keyway serve`'s worker.
//!
//! Owns: the commands' arguments and output formats.
//! Must not: hold a use case (`services::webhooks` does).

use std::process::ExitCode;

use clap::Subcommand;

use super::CliError;
use crate::services::{Receipt, ServiceError, Services};
use crate::store::{DeliveryQuery, DeliveryStatus};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// The webhooks of every connection (or of one), with the path to give the provider.
    List {
        #[arg(long)]
        connection: Option<String>,
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Deliveries, newest first.
    Deliveries {
        #[arg(long)]
        connection: Option<String>,
        #[arg(long)]
        webhook: Option<String>,
        /// Only deliveries in this state: queued, running, delivered or dead.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON (the API's shape) instead of text lines.
        #[arg(long)]
        json: bool,
    },
    /// Queue a dead delivery again.
    Retry { id: String },
    /// Queue a test delivery signed with the connection's secret (`keyway serve` hands it
    /// to the route).
    Test { connection: String, webhook: String },
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn run(command: WebhooksCommand, services: &Services) -> Result<ExitCode, CliError> {
    match command {
        WebhooksCommand::List { connection, json } => {
            let hooks = services.list_webhooks(connection.as_deref()).await?;
            if json {
                print_json(&hooks)?;
            } else if hooks.is_empty() {
                eprintln!("no webhooks");
            }
            if !json {
                for h in &hooks {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\twaiting={}\tdelivered={}\tdead={}",
                        h.connection,
                        h.webhook,
                        h.path,
                        h.scheme,
                        h.route,
                        h.waiting,
                        h.delivered,
                        h.dead
                    );
                }
            }
        }
        WebhooksCommand::Deliveries {
            connection,
            webhook,
            status,
            limit,
            json,
        } => {
            let status = match status.as_deref() {
                None => None,
                Some(text) => {
                    Some(
                        DeliveryStatus::parse(text).ok_or_else(|| ServiceError::Input {
                            field: "--status".into(),
                            message: format!(
                                "`{text}` is not one of queued, running, delivered, dead"
                            ),
                        })?,
                    )
                }
            };
            let deliveries = services
                .deliveries(&DeliveryQuery {
                    connection,
                    webhook,
                    status,
                    limit,
                    before: None,
                })?
                .items;
            if json {
                print_json(&deliveries)?;
            } else if deliveries.is_empty() {
                eprintln!("no deliveries");
            } else {
                for d in &deliveries {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\tattempts={}\t{}",
                        d.id,
                        d.connection,
                        d.webhook,
                        d.delivery_id,
                        d.status,
                        d.attempts,
                        d.last_error.as_deref().unwrap_or("")
                    );
                }
            }
        }
        WebhooksCommand::Retry { id } => {
            let d = services.retry_delivery(&id)?;
            println!("queued {} again", d.id);
        }
        WebhooksCommand::Test {
            connection,
            webhook,
        } => match services.test_webhook(&connection, &webhook).await? {
            Receipt::Queued { id, delivery_id } => {
                println!("queued test delivery {id} ({delivery_id})");
            }
            Receipt::Duplicate { id, .. } => println!("already received as {id}"),
        },
    }
    Ok(ExitCode::SUCCESS)
}
