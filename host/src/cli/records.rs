//! `keyway records <connection>`: prints the records a connection ingested, oldest first
//! unless asked otherwise, as text lines or as JSON.
//!
//! Owns: the command's arguments and output format.
//! Must not: write to the store.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::CliError;
use crate::services::views::RecordView;
use crate::services::{ServiceError, Services};
use crate::store::{RecordOrder, RecordQuery, StoreError};

#[derive(Debug, Clone, Args)]
pub struct RecordsArgs {
    /// The connection's name.
    pub connection: String,
    /// Only records of this entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Only records of this stream.
    #[arg(long)]
    pub stream: Option<String>,
    /// At most this many records.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only records after this id in the order asked for (the last id of the page before).
    #[arg(long, value_name = "ID")]
    pub after: Option<i64>,
    /// Which records come first.
    #[arg(long, value_enum, default_value_t = Order::Oldest)]
    pub order: Order,
    /// Print a JSON array instead of text lines.
    #[arg(long)]
    pub json: bool,
}

/// `--order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Order {
    Oldest,
    Newest,
}

/// Prints the records; exits 1 when the connection is unknown and has no records.
pub fn run(args: &RecordsArgs, services: &Services) -> Result<ExitCode, CliError> {
    let query = RecordQuery {
        connection: args.connection.clone(),
        entity: args.entity.clone(),
        stream: args.stream.clone(),
        order: match args.order {
            Order::Oldest => RecordOrder::Oldest,
            Order::Newest => RecordOrder::Newest,
        },
        limit: args.limit,
        after: args.after,
    };
    let records = match services.records(&query) {
        Ok(records) => records,
        Err(ServiceError::Store(StoreError::NotFound { .. })) => {
            eprintln!(
                "keyway: connection `{}` not found and no records are stored for it",
                args.connection
            );
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let mut out = std::io::stdout().lock();
    let write = |e: std::io::Error| anyhow::Error::from(e).context("writing to stdout");
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&records).map_err(anyhow::Error::from)?
        )
        .map_err(write)?;
    } else {
        for r in &records {
            writeln!(out, "{}", text_line(r)).map_err(write)?;
        }
        if records.is_empty() {
            eprintln!("no records");
        }
    }
    if let (Some(limit), Some(last)) = (args.limit, records.last())
        && limit > 0
        && records.len() == limit as usize
    {
        eprintln!("more may follow: --after {}", last.id);
    }
    Ok(ExitCode::SUCCESS)
}

/// One tab-separated line: id, received time, entity, stream (`-` when none), key, payload.
fn text_line(r: &RecordView) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        r.id,
        r.received_at,
        r.entity,
        r.stream.as_deref().unwrap_or("-"),
        r.idempotency_key,
        r.payload
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_record() {
        let r = crate::services::views::sample_record();
        assert_eq!(
            text_line(&RecordView::from(&r)),
            "3\t2023-11-14T22:13:20.123Z\tOrder\t-\to-1\t{\"id\":1}"
        );
    }
}
