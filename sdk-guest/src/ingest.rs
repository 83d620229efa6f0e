//! Hand canonical records to the host, idempotently.

use crate::Error;
use crate::wit::keyway::connector::ingest as wit;
use serde::Serialize;

/// How a batch is stored.
#[derive(Default)]
pub struct BatchOptions<'a> {
    /// The stream the records belong to (for example `orders`).
    pub stream: Option<String>,
    /// Keep going past bad items and report them; otherwise all or nothing.
    pub continue_on_error: bool,
    /// The idempotency key of each payload; when absent the host hashes the payload.
    #[allow(clippy::type_complexity)]
    pub idempotency_key: Option<&'a dyn Fn(&serde_json::Value, usize) -> String>,
}

impl<'a> BatchOptions<'a> {
    /// Options for `stream`.
    pub fn stream(stream: impl Into<String>) -> Self {
        BatchOptions {
            stream: Some(stream.into()),
            ..Default::default()
        }
    }

    pub fn continue_on_error(mut self, yes: bool) -> Self {
        self.continue_on_error = yes;
        self
    }

    pub fn idempotency_key(mut self, key: &'a dyn Fn(&serde_json::Value, usize) -> String) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

/// What happened to one payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Imported,
    Duplicate,
    Failed,
}

/// The outcome of one payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    pub index: u32,
    pub status: ItemStatus,
    pub idempotency_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The outcome of a batch; serializes to camelCase JSON for `api::json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResult {
    pub imported: u32,
    pub duplicates: u32,
    pub failed: u32,
    pub items: Vec<ItemResult>,
}

/// Stores `payloads` (each must serialize to a JSON object) as records of `entity`. The
/// manifest must grant `write` on the entity.
pub fn batch<T: Serialize>(
    entity: &str,
    payloads: &[T],
    options: BatchOptions<'_>,
) -> Result<BatchResult, Error> {
    let mut texts = Vec::with_capacity(payloads.len());
    let mut keys = options
        .idempotency_key
        .map(|_| Vec::with_capacity(payloads.len()));
    for (index, payload) in payloads.iter().enumerate() {
        let value = serde_json::to_value(payload)?;
        if let (Some(keys), Some(key_fn)) = (keys.as_mut(), options.idempotency_key) {
            keys.push(key_fn(&value, index));
        }
        texts.push(value.to_string());
    }
    let opts = wit::BatchOptions {
        stream: options.stream,
        continue_on_error: options.continue_on_error,
        idempotency_keys: keys,
    };
    let res = wit::batch(entity, &texts, &opts).map_err(Error::from)?;
    Ok(BatchResult {
        imported: res.imported,
        duplicates: res.duplicates,
        failed: res.failed,
        items: res
            .items
            .into_iter()
            .map(|i| ItemResult {
                index: i.index,
                status: match i.status {
                    wit::ItemStatus::Imported => ItemStatus::Imported,
                    wit::ItemStatus::Duplicate => ItemStatus::Duplicate,
                    wit::ItemStatus::Failed => ItemStatus::Failed,
                },
                idempotency_key: i.idempotency_key,
                error: i.error,
            })
            .collect(),
    })
}
