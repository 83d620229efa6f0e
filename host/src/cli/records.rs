//! `keyway records <connection>`: prints the records a connection ingested, oldest first
//! unless asked otherwise, as text lines or as JSON.
//!
//! Owns: the command's arguments and output format.
//! Must not: write to the store.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::store::{RecordOrder, RecordQuery, Store, StoreError, StoredRecord};

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
pub fn run(args: &RecordsArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(data_dir).context("opening the store")?;
    let query = RecordQuery {
        connection: args.connection.clone(),
        entity: args.entity.clone(),
        stream: args.stream.clone(),
        order: match args.order {
            Order::Oldest => RecordOrder::Oldest,
            Order::Newest => RecordOrder::Newest,
        },
        limit: args.limit,
    };
    let records = store.list_records(&query)?;
    if records.is_empty() {
        match store.connection_by_name(&args.connection) {
            Err(StoreError::NotFound { .. }) if store.count_records(&args.connection)? == 0 => {
                eprintln!(
                    "keyway: connection `{}` not found and no records are stored for it",
                    args.connection
                );
                return Ok(ExitCode::from(1));
            }
            Err(StoreError::NotFound { .. }) | Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let values: Vec<serde_json::Value> = records.iter().map(to_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?;
    } else {
        for r in &records {
            writeln!(out, "{}", text_line(r))?;
        }
        if records.is_empty() {
            eprintln!("no records");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `2025-01-02T03:04:05.678Z` for milliseconds since the epoch.
fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// One tab-separated line: id, received time, entity, stream (`-` when none), key, payload.
fn text_line(r: &StoredRecord) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        r.id,
        timestamp(r.received_at_ms),
        r.entity,
        r.stream.as_deref().unwrap_or("-"),
        r.idempotency_key,
        r.payload
    )
}

/// A record as JSON, its payload parsed: what `records --json` and the server print.
pub fn to_json(r: &StoredRecord) -> serde_json::Value {
    let payload = serde_json::from_str::<serde_json::Value>(&r.payload)
        .unwrap_or_else(|_| serde_json::Value::String(r.payload.clone()));
    serde_json::json!({
        "id": r.id,
        "connection": r.connection,
        "entity": r.entity,
        "stream": r.stream,
        "idempotencyKey": r.idempotency_key,
        "receivedAt": timestamp(r.received_at_ms),
        "receivedAtMs": r.received_at_ms,
        "payload": payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_a_record() {
        let r = StoredRecord {
            id: 3,
            connection: "shop".into(),
            entity: "Order".into(),
            stream: None,
            idempotency_key: "o-1".into(),
            payload: r#"{"id":1}"#.into(),
            received_at_ms: 1_700_000_000_123,
        };
        assert_eq!(
            text_line(&r),
            "3\t2023-11-14T22:13:20.123Z\tOrder\t-\to-1\t{\"id\":1}"
        );
        let v = to_json(&r);
        assert_eq!(v["payload"]["id"], 1);
        assert_eq!(v["receivedAt"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["stream"], serde_json::Value::Null);
    }
}
