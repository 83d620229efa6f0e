//! Checking a guest's batch: the batch-wide caps and counts, then each payload (size, JSON,
//! an object) and key (non-empty, capped), and the content key of a keyless payload.
//!
//! Owns: turning a [`RawBatch`] into [`Record`]s, the only way to make one.
//! Must not: store anything, or put payload text in an error message.

use sha2::{Digest, Sha256};

use super::{
    IngestError, MAX_BATCH_BYTES, MAX_BATCH_ITEMS, MAX_KEY_BYTES, MAX_PAYLOAD_BYTES,
    MAX_STREAM_BYTES, RawBatch,
};

/// A validated record: a non-empty key of at most [`MAX_KEY_BYTES`] and a payload that is a
/// JSON object of at most [`MAX_PAYLOAD_BYTES`], re-serialized canonically (keys sorted,
/// no insignificant whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    key: String,
    payload: String,
}

impl Record {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The payload as canonical JSON text.
    pub fn payload(&self) -> &str {
        &self.payload
    }
}

/// The key of a keyless payload: the SHA-256 (hex) of its canonical JSON text.
pub(crate) fn canonical_key(canonical_payload: &str) -> String {
    hex::encode(Sha256::digest(canonical_payload.as_bytes()))
}

/// One bad item, when the batch goes on past bad items.
pub(super) struct Failure {
    pub(super) index: u32,
    pub(super) key: String,
    pub(super) error: IngestError,
}

/// A checked batch: the good records with their indices, and the bad items.
pub(super) struct Checked {
    pub(super) entity: String,
    pub(super) stream: Option<String>,
    pub(super) total: usize,
    pub(super) records: Vec<(u32, Record)>,
    pub(super) failures: Vec<Failure>,
}

/// Checks `raw`. Batch-wide problems (caps, mismatched key count, a bad stream name) fail
/// the batch always; a bad item fails it unless `continue_on_error` is set.
pub(super) fn check(raw: RawBatch) -> Result<Checked, IngestError> {
    let RawBatch {
        entity,
        stream,
        payloads,
        keys,
        continue_on_error,
    } = raw;
    let total = payloads.len();
    if total > MAX_BATCH_ITEMS {
        return Err(IngestError::TooLarge(format!(
            "the batch has {total} payloads, over the cap of {MAX_BATCH_ITEMS} per batch; \
             split it"
        )));
    }
    if let Some(keys) = &keys
        && keys.len() != total
    {
        return Err(IngestError::InvalidInput(format!(
            "the batch has {total} payloads but {} idempotency keys; give one key per payload \
             or none",
            keys.len()
        )));
    }
    let bytes: usize = payloads.iter().map(String::len).sum::<usize>()
        + keys.iter().flatten().map(String::len).sum::<usize>();
    if bytes > MAX_BATCH_BYTES {
        return Err(IngestError::TooLarge(format!(
            "the batch is {bytes} bytes, over the cap of {MAX_BATCH_BYTES} bytes per batch; \
             split it"
        )));
    }
    if let Some(s) = &stream
        && (s.is_empty() || s.len() > MAX_STREAM_BYTES)
    {
        return Err(IngestError::InvalidInput(format!(
            "the stream name must be 1 to {MAX_STREAM_BYTES} bytes (it is {})",
            s.len()
        )));
    }
    if stream.as_deref().is_some_and(has_control) {
        return Err(IngestError::InvalidInput(
            "the stream name holds a control character".into(),
        ));
    }
    let mut keys = keys.map(Vec::into_iter);
    let mut records = Vec::with_capacity(total);
    let mut failures = Vec::new();
    for (index, payload) in payloads.into_iter().enumerate() {
        let key = keys.as_mut().and_then(Iterator::next);
        // `index` < MAX_BATCH_ITEMS, which fits a u32.
        let index = index as u32;
        match check_item(index, &payload, key.as_deref()) {
            Ok(record) => records.push((index, record)),
            Err(error) if continue_on_error => failures.push(Failure {
                index,
                key: key.unwrap_or_default(),
                error,
            }),
            Err(error) => return Err(error),
        }
    }
    Ok(Checked {
        entity,
        stream,
        total,
        records,
        failures,
    })
}

/// Whether `text` holds a control character (NUL, escape, a line break, ...).
pub(crate) fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn check_item(index: u32, payload: &str, key: Option<&str>) -> Result<Record, IngestError> {
    if let Some(key) = key {
        if key.is_empty() {
            return Err(IngestError::InvalidInput(format!(
                "idempotency key {index} is empty"
            )));
        }
        // Keys are identifiers: no NUL or other control character (which one database
        // would store and the other refuse).
        if has_control(key) {
            return Err(IngestError::InvalidInput(format!(
                "idempotency key {index} holds a control character"
            )));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(IngestError::TooLarge(format!(
                "idempotency key {index} is {} bytes, over the cap of {MAX_KEY_BYTES}",
                key.len()
            )));
        }
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(IngestError::TooLarge(format!(
            "payload {index} is {} bytes, over the cap of {MAX_PAYLOAD_BYTES} bytes per payload",
            payload.len()
        )));
    }
    // serde_json's messages give a line and column, never the text around them.
    let value: serde_json::Value = serde_json::from_str(payload).map_err(|e| {
        IngestError::InvalidInput(format!("payload {index} is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(IngestError::InvalidInput(format!(
            "payload {index} is a JSON {}, not an object",
            kind(&value)
        )));
    }
    // `serde_json::Map` keeps keys sorted (the `preserve_order` feature is off), so this
    // text is canonical: equal objects give equal text.
    let canonical = value.to_string();
    let key = match key {
        Some(key) => key.to_string(),
        None => canonical_key(&canonical),
    };
    Ok(Record {
        key,
        payload: canonical,
    })
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_sorts_keys_at_every_level() {
        // Fails if something turns on serde_json's `preserve_order`, which would make
        // content keys depend on the guest's key order.
        let r = check_item(0, r#"{"z":{"b":1,"a":[{"d":0,"c":0}]},"y":null}"#, None).unwrap();
        assert_eq!(r.payload(), r#"{"y":null,"z":{"a":[{"c":0,"d":0}],"b":1}}"#);
        assert_eq!(r.key(), canonical_key(r.payload()));
    }

    #[test]
    fn keys_and_stream_names_hold_no_control_character() {
        for key in ["a\u{0}b", "tab\there", "\u{1b}[31m"] {
            let err = check_item(6, "{}", Some(key)).unwrap_err();
            assert_eq!(
                err.to_string(),
                "idempotency key 6 holds a control character"
            );
        }
        assert!(check_item(6, "{}", Some("ünïcode-ok")).is_ok());
        let Err(err) = check(RawBatch {
            entity: "Item".into(),
            stream: Some("orders\u{0}".into()),
            payloads: vec!["{}".into()],
            ..RawBatch::default()
        }) else {
            panic!("a stream name with NUL was taken");
        };
        assert!(err.to_string().contains("control character"), "{err}");
    }

    #[test]
    fn item_problems_name_the_index_and_not_the_payload() {
        let secretish = r#"{"card":"4111-1111" "#;
        let err = check_item(7, secretish, None).unwrap_err();
        assert!(
            err.to_string().starts_with("payload 7 is not valid JSON"),
            "{err}"
        );
        assert!(!err.to_string().contains("4111"), "{err}");
        for (text, kind) in [("1", "number"), ("\"s\"", "string"), ("null", "null")] {
            let err = check_item(2, text, None).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("payload 2 is a JSON {kind}, not an object")
            );
        }
        let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_PAYLOAD_BYTES));
        assert!(matches!(
            check_item(3, &big, None),
            Err(IngestError::TooLarge(m)) if m.contains("payload 3")
        ));
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        assert!(matches!(
            check_item(4, "{}", Some(&long_key)),
            Err(IngestError::TooLarge(m)) if m.contains("idempotency key 4")
        ));
        assert!(check_item(5, "{}", Some(&"k".repeat(MAX_KEY_BYTES))).is_ok());
    }

    #[test]
    fn bad_stream_names_fail_the_batch() {
        for stream in ["", &"s".repeat(MAX_STREAM_BYTES + 1)] {
            let raw = RawBatch {
                entity: "Order".into(),
                stream: Some(stream.to_string()),
                payloads: vec!["{}".into()],
                keys: None,
                continue_on_error: true,
            };
            assert!(matches!(check(raw), Err(IngestError::InvalidInput(_))));
        }
    }

    #[test]
    fn oversized_batch_is_refused() {
        let payload = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_PAYLOAD_BYTES - 16));
        let count = MAX_BATCH_BYTES / payload.len() + 1;
        let raw = RawBatch {
            entity: "Order".into(),
            payloads: vec![payload; count],
            continue_on_error: true,
            ..Default::default()
        };
        assert!(matches!(
            check(raw),
            Err(IngestError::TooLarge(m)) if m.contains("bytes per batch")
        ));
    }
}
