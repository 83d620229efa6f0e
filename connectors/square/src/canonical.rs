//! Square objects mapped to the canonical records this connector ingests, and their
//! idempotency keys. A record's key names the object and its version, so an unchanged
//! object is a duplicate on the next run and a changed one is stored as a new version.
//! Must not call the host; objects without an id map to `None`.

use serde_json::{Map, Value, json};

fn text(v: &Value, path: &[&str]) -> Value {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return Value::Null,
        }
    }
    match cur {
        Value::String(s) if !s.is_empty() => Value::String(s.clone()),
        _ => Value::Null,
    }
}

fn integer(v: &Value, path: &[&str]) -> Value {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return Value::Null,
        }
    }
    cur.as_i64().map_or(Value::Null, Value::from)
}

fn id_of(v: &Value) -> Option<String> {
    v.get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A Square `Payment` as a canonical `Payment` record. Amounts stay in the currency's
/// smallest unit, as Square sends them. Card details are left out on purpose.
pub fn payment(p: &Value) -> Option<Value> {
    let id = id_of(p)?;
    Some(json!({
        "provider": "square",
        "id": id,
        "status": text(p, &["status"]),
        "amount": integer(p, &["total_money", "amount"]),
        "currency": text(p, &["total_money", "currency"]),
        "refundedAmount": integer(p, &["refunded_money", "amount"]),
        "sourceType": text(p, &["source_type"]),
        "locationId": text(p, &["location_id"]),
        "orderId": text(p, &["order_id"]),
        "customerId": text(p, &["customer_id"]),
        "receiptNumber": text(p, &["receipt_number"]),
        "createdAt": text(p, &["created_at"]),
        "updatedAt": text(p, &["updated_at"]),
    }))
}

/// The idempotency key of a canonical payment: id and last update.
pub fn payment_key(record: &Value, _index: usize) -> String {
    format!(
        "square:payment:{}:{}",
        record["id"].as_str().unwrap_or_default(),
        record["updatedAt"].as_str().unwrap_or_default()
    )
}

fn line_item(item: &Value) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), text(item, &["name"]));
    out.insert("quantity".into(), text(item, &["quantity"]));
    out.insert("catalogObjectId".into(), text(item, &["catalog_object_id"]));
    out.insert(
        "totalAmount".into(),
        integer(item, &["total_money", "amount"]),
    );
    Value::Object(out)
}

/// A Square `Order` as a canonical `Order` record.
pub fn order(o: &Value) -> Option<Value> {
    let id = id_of(o)?;
    let line_items: Vec<Value> = o
        .get("line_items")
        .and_then(Value::as_array)
        .map(|items| items.iter().map(line_item).collect())
        .unwrap_or_default();
    Some(json!({
        "provider": "square",
        "id": id,
        "version": integer(o, &["version"]),
        "state": text(o, &["state"]),
        "locationId": text(o, &["location_id"]),
        "customerId": text(o, &["customer_id"]),
        "totalAmount": integer(o, &["total_money", "amount"]),
        "taxAmount": integer(o, &["total_tax_money", "amount"]),
        "discountAmount": integer(o, &["total_discount_money", "amount"]),
        "currency": text(o, &["total_money", "currency"]),
        "lineItems": line_items,
        "createdAt": text(o, &["created_at"]),
        "updatedAt": text(o, &["updated_at"]),
        "closedAt": text(o, &["closed_at"]),
    }))
}

/// The idempotency key of a canonical order: id and Square's version number (falling
/// back to the last update when Square sends no version).
pub fn order_key(record: &Value, _index: usize) -> String {
    let id = record["id"].as_str().unwrap_or_default();
    match record["version"].as_i64() {
        Some(version) => format!("square:order:{id}:v{version}"),
        None => format!(
            "square:order:{id}:{}",
            record["updatedAt"].as_str().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_maps_money_and_keys_by_update() {
        let p = json!({
            "id": "PAY1", "status": "COMPLETED", "source_type": "CARD",
            "total_money": { "amount": 1250, "currency": "USD" },
            "card_details": { "card": { "last_4": "1111" } },
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z"
        });
        let r = payment(&p).unwrap();
        assert_eq!(r["amount"], 1250);
        assert_eq!(r["currency"], "USD");
        assert_eq!(r["refundedAmount"], Value::Null);
        assert!(!r.to_string().contains("1111"));
        assert_eq!(
            payment_key(&r, 0),
            "square:payment:PAY1:2026-01-02T00:00:00Z"
        );
    }

    #[test]
    fn objects_without_id_are_not_mapped() {
        assert!(payment(&json!({ "status": "COMPLETED" })).is_none());
        assert!(order(&json!({ "id": "" })).is_none());
    }

    #[test]
    fn order_key_prefers_version() {
        let r = order(&json!({ "id": "O1", "version": 3, "updated_at": "t" })).unwrap();
        assert_eq!(order_key(&r, 0), "square:order:O1:v3");
        let r = order(&json!({ "id": "O2", "updated_at": "t" })).unwrap();
        assert_eq!(order_key(&r, 0), "square:order:O2:t");
    }
}
