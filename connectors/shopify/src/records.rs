//! Shopify nodes as canonical records: the GraphQL selection of each stream and the
//! mapping of one node to the record stored. The record's `id` is the Shopify GID, which
//! is also its idempotency key.
//!
//! This module owns field names only; it must not make requests.

use serde_json::{Value, json};

/// One stream a sync route pages through.
pub struct Stream {
    /// The query root connection (`orders`, `customers`), also the stream name.
    pub field: &'static str,
    /// The entity the records are written as.
    pub entity: &'static str,
    /// The query; takes `$first` and `$after`.
    pub query: &'static str,
    pub map: fn(&Value) -> Value,
}

pub const ORDERS: Stream = Stream {
    field: "orders",
    entity: "Order",
    query: "query Orders($first: Int!, $after: String) { \
        orders(first: $first, after: $after, sortKey: CREATED_AT) { \
          nodes { id name email createdAt updatedAt displayFinancialStatus \
            displayFulfillmentStatus currencyCode \
            totalPriceSet { shopMoney { amount currencyCode } } customer { id } } \
          pageInfo { hasNextPage endCursor } } }",
    map: order,
};

pub const CUSTOMERS: Stream = Stream {
    field: "customers",
    entity: "Customer",
    query: "query Customers($first: Int!, $after: String) { \
        customers(first: $first, after: $after, sortKey: CREATED_AT) { \
          nodes { id displayName firstName lastName email phone createdAt updatedAt } \
          pageInfo { hasNextPage endCursor } } }",
    map: customer,
};

/// The canonical Order record.
pub fn order(node: &Value) -> Value {
    let money = &node["totalPriceSet"]["shopMoney"];
    json!({
        "id": node["id"],
        "name": node["name"],
        "email": node["email"],
        "createdAt": node["createdAt"],
        "updatedAt": node["updatedAt"],
        "financialStatus": node["displayFinancialStatus"],
        "fulfillmentStatus": node["displayFulfillmentStatus"],
        "total": { "amount": money["amount"], "currency": money["currencyCode"] },
        "customerId": node["customer"]["id"],
    })
}

/// The canonical Customer record.
pub fn customer(node: &Value) -> Value {
    json!({
        "id": node["id"],
        "displayName": node["displayName"],
        "firstName": node["firstName"],
        "lastName": node["lastName"],
        "email": node["email"],
        "phone": node["phone"],
        "createdAt": node["createdAt"],
        "updatedAt": node["updatedAt"],
    })
}
