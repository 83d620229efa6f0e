//! A Graph `message` turned into the canonical `EmailMessage` record, and the record's
//! idempotency key (`message/{id}/{changeKey}`: the same version of a message is stored
//! once; a changed message, whose changeKey Graph renews, is a new record). Must not
//! send requests or ingest.

use serde_json::{Value, json};

/// The canonical record, or `None` when the message has no `id` to key it by.
pub fn message(m: &Value) -> Option<Value> {
    let id = text(m, "/id")?;
    let version = text(m, "/changeKey")
        .or_else(|| text(m, "/lastModifiedDateTime"))
        .unwrap_or_default();
    Some(json!({
        "id": id,
        "version": version,
        "conversationId": text(m, "/conversationId"),
        "internetMessageId": text(m, "/internetMessageId"),
        "subject": text(m, "/subject"),
        "from": m.pointer("/from/emailAddress").map(address),
        "to": recipients(m.get("toRecipients")),
        "cc": recipients(m.get("ccRecipients")),
        "receivedAt": text(m, "/receivedDateTime"),
        "sentAt": text(m, "/sentDateTime"),
        "updatedAt": text(m, "/lastModifiedDateTime"),
        "isRead": m.get("isRead").and_then(Value::as_bool),
        "isDraft": m.get("isDraft").and_then(Value::as_bool),
        "hasAttachments": m.get("hasAttachments").and_then(Value::as_bool),
        "importance": text(m, "/importance"),
        "preview": text(m, "/bodyPreview"),
        "webLink": text(m, "/webLink"),
        "source": { "provider": "microsoft365" },
    }))
}

/// The idempotency key of a canonical message made by [`message`].
pub fn message_key(record: &Value, _index: usize) -> String {
    let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
    let version = record
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!("message/{id}/{version}")
}

fn recipients(list: Option<&Value>) -> Vec<Value> {
    list.and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|r| r.get("emailAddress"))
                .map(address)
                .collect()
        })
        .unwrap_or_default()
}

fn address(a: &Value) -> Value {
    json!({ "name": text(a, "/name"), "address": text(a, "/address") })
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_graph_message() {
        let m = json!({
            "id": "AAMkAGI2TG93AAA=", "changeKey": "CQAAABYAAAD",
            "subject": "Quarterly numbers", "isRead": false, "hasAttachments": true,
            "receivedDateTime": "2026-11-20T09:00:00Z",
            "from": { "emailAddress": { "name": "Adele Vance", "address": "AdeleV@contoso.com" } },
            "toRecipients": [ { "emailAddress": { "name": "Megan", "address": "MeganB@contoso.com" } } ],
            "ccRecipients": []
        });
        let rec = message(&m).unwrap();
        assert_eq!(rec["from"]["address"], "AdeleV@contoso.com");
        assert_eq!(rec["to"][0]["name"], "Megan");
        assert_eq!(rec["cc"], json!([]));
        assert_eq!(rec["isRead"], false);
        assert_eq!(message_key(&rec, 0), "message/AAMkAGI2TG93AAA=/CQAAABYAAAD");
    }

    #[test]
    fn a_message_without_an_id_is_not_a_record() {
        assert_eq!(message(&json!({ "subject": "x" })), None);
    }
}
