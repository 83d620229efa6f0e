//! Intuit's `Invoice` turned into the canonical `Invoice` record, and the record's
//! idempotency key (`invoice/{Id}/v{SyncToken}`: the same version of an invoice is
//! stored once; an edited invoice, whose SyncToken Intuit increments, is a new record).
//! Must not send requests or ingest.

use serde_json::{Map, Value, json};

/// The canonical record, or `None` when the invoice has no `Id` to key it by.
pub fn invoice(realm_id: &str, inv: &Value) -> Option<Value> {
    let id = scalar(inv.get("Id")?)?;
    let lines: Vec<Value> = inv
        .get("Line")
        .and_then(Value::as_array)
        .map(|lines| lines.iter().filter_map(line).collect())
        .unwrap_or_default();
    let balance = inv.get("Balance").and_then(Value::as_f64);
    Some(json!({
        "id": id,
        "version": inv.get("SyncToken").and_then(scalar).unwrap_or_else(|| "0".to_string()),
        "number": inv.get("DocNumber").and_then(scalar),
        "status": balance.map(|b| if b == 0.0 { "paid" } else { "open" }),
        "customer": {
            "id": pointer_text(inv, "/CustomerRef/value"),
            "name": pointer_text(inv, "/CustomerRef/name"),
        },
        "currency": pointer_text(inv, "/CurrencyRef/value"),
        "issueDate": pointer_text(inv, "/TxnDate"),
        "dueDate": pointer_text(inv, "/DueDate"),
        "total": inv.get("TotalAmt").cloned().unwrap_or(Value::Null),
        "balance": inv.get("Balance").cloned().unwrap_or(Value::Null),
        "billEmail": pointer_text(inv, "/BillEmail/Address"),
        "lines": lines,
        "createdAt": pointer_text(inv, "/MetaData/CreateTime"),
        "updatedAt": pointer_text(inv, "/MetaData/LastUpdatedTime"),
        "source": { "provider": "quickbooks", "realmId": realm_id },
    }))
}

/// The idempotency key of a canonical invoice made by [`invoice`].
pub fn invoice_key(record: &Value, _index: usize) -> String {
    let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
    let version = record
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!("invoice/{id}/v{version}")
}

/// Sales lines only; subtotal and discount lines are summaries of these.
fn line(l: &Value) -> Option<Value> {
    if l.get("DetailType").and_then(Value::as_str) != Some("SalesItemLineDetail") {
        return None;
    }
    let mut out = Map::new();
    out.insert(
        "lineNumber".into(),
        l.get("LineNum").cloned().unwrap_or(Value::Null),
    );
    out.insert("description".into(), text_value(l, "/Description"));
    out.insert(
        "amount".into(),
        l.get("Amount").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "itemId".into(),
        text_value(l, "/SalesItemLineDetail/ItemRef/value"),
    );
    out.insert(
        "itemName".into(),
        text_value(l, "/SalesItemLineDetail/ItemRef/name"),
    );
    out.insert(
        "quantity".into(),
        l.pointer("/SalesItemLineDetail/Qty")
            .cloned()
            .unwrap_or(Value::Null),
    );
    out.insert(
        "unitPrice".into(),
        l.pointer("/SalesItemLineDetail/UnitPrice")
            .cloned()
            .unwrap_or(Value::Null),
    );
    Some(Value::Object(out))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn pointer_text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(scalar)
}

fn text_value(v: &Value, pointer: &str) -> Value {
    pointer_text(v, pointer).map_or(Value::Null, Value::String)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_an_intuit_invoice() {
        let inv = json!({
            "Id": "130", "SyncToken": "2", "DocNumber": "1037",
            "TxnDate": "2026-10-01", "DueDate": "2026-10-31",
            "TotalAmt": 362.07, "Balance": 0,
            "CustomerRef": { "value": "3", "name": "Cool Cars" },
            "CurrencyRef": { "value": "USD", "name": "United States Dollar" },
            "BillEmail": { "Address": "cool_cars@example.com" },
            "MetaData": { "CreateTime": "2026-10-01T10:00:00-07:00", "LastUpdatedTime": "2026-10-02T10:00:00-07:00" },
            "Line": [
                { "Id": "1", "LineNum": 1, "Amount": 362.07, "Description": "Rock fountain", "DetailType": "SalesItemLineDetail",
                  "SalesItemLineDetail": { "ItemRef": { "value": "5", "name": "Rock Fountain" }, "Qty": 1, "UnitPrice": 362.07 } },
                { "Amount": 362.07, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {} }
            ]
        });
        let rec = invoice("9130", &inv).unwrap();
        assert_eq!(rec["id"], "130");
        assert_eq!(rec["number"], "1037");
        assert_eq!(rec["status"], "paid");
        assert_eq!(rec["customer"]["name"], "Cool Cars");
        assert_eq!(rec["currency"], "USD");
        assert_eq!(rec["lines"].as_array().unwrap().len(), 1);
        assert_eq!(rec["lines"][0]["itemName"], "Rock Fountain");
        assert_eq!(rec["source"]["realmId"], "9130");
        assert_eq!(invoice_key(&rec, 0), "invoice/130/v2");
    }

    #[test]
    fn an_invoice_without_an_id_is_not_a_record() {
        assert_eq!(invoice("1", &json!({ "DocNumber": "1" })), None);
    }
}
