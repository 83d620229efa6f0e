//! `keyway-testing`: run a connector's routes in `cargo test` through the real Keyway host,
//! with seeded OAuth state and a mock provider instead of a live one.
//!
//! [`TestRuntime::builder`] compiles the connector crate to its `wasm32-wasip2` component
//! (profile `component`, once per test process), loads it with the host's own manifest
//! validation and route check, validates the settings given, and builds the invocation
//! context through `keyway_host::registry::LoadedConnector::context`. The doors behind it
//! are the host's: URL allowlist, credential injection, the 401 refresh-and-retry, size
//! caps, ingest validation and redaction all run for real. Only three backends are
//! replaced: outbound HTTP goes to a [`MockHttp`] queue, OAuth tokens (the connection's,
//! and the app connections seeded with [`TestRuntimeBuilder::with_app_connection`]) come
//! from a seeded [`OAuthState`], and records land in memory.
//!
//! ```no_run
//! use keyway_testing::{OAuthState, TestRuntime};
//! use serde_json::json;
//!
//! let rt = TestRuntime::builder(env!("CARGO_MANIFEST_DIR"))
//!     .setting("shop_domain", "acme.myshopify.com")
//!     .oauth(OAuthState::connected("canary-token"))
//!     .build()
//!     .unwrap();
//! rt.http().post_json_once(
//!     "https://acme.myshopify.com/admin/api/*/graphql.json",
//!     json!({ "data": { "shop": { "id": "gid://shopify/Shop/1", "name": "Acme" } } }),
//! );
//! let res = rt.call("POST", "/setup/test_connection", json!({})).unwrap();
//! assert_eq!(res.status, 200);
//! rt.http().assert_all_used();
//! ```
//!
//! The API is synchronous: the crate owns a tokio runtime. This module only declares the
//! crate's parts and its error type; it must not hold logic of its own.

mod apps;
mod compile;
mod error;
mod http;
mod ingest;
mod logs;
mod oauth;
mod pattern;
mod runtime;
mod seed;
mod shared;
mod streams;

pub use error::Error;
pub use http::{HttpCall, MockHttp, MockResponse};
pub use ingest::{IngestCall, IngestView, StoredRecord};
pub use pattern::matches as pattern_matches;
pub use runtime::{RouteResult, TestRuntime, TestRuntimeBuilder};
pub use seed::{OAuthState, RefreshOutcome};
pub use streams::{StreamCall, StreamOutcome, WebhookCall};
