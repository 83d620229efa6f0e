//! `keyway-sdk`: what a connector author imports to write routes for the Keyway host.
//!
//! A connector is a `cdylib` compiled to `wasm32-wasip2`. Its routes are plain Rust
//! functions registered with [`routes!`]; inside them the only doors to the world are the
//! host's: [`OAuth`], [`Http`], [`Settings`], [`Secrets`], [`ingest`], a stream run's
//! [`State`] and the logging macros. Sync routes share [`sync`] (options, tally, early answers); [`api`] builds
//! answers, [`url`] encodes URL pieces. [`app_connections!`] turns the app connections the
//! manifest grants into constants. [`token_hooks`] shapes a non-standard token exchange
//! without holding a secret. The raw WIT bindings are an implementation detail (`wit`, hidden).
//!
//! ```ignore
//! use keyway_sdk::{api, routes, Http, HttpOptions, Request, Response, Error};
//!
//! fn test_connection(_req: Request) -> Result<Response, Error> {
//!     let res = Http::get("https://api.example.com/v1/me", HttpOptions::oauth(300))?;
//!     if !res.ok() {
//!         return Ok(api::provider_error("the provider rejected the token", res.status));
//!     }
//!     let me: serde_json::Value = res.json()?;
//!     Ok(api::json(&serde_json::json!({ "providerAccountId": me["id"] })))
//! }
//!
//! routes! {
//!     POST "/setup/test_connection" (api_key) => test_connection,
//! }
//! ```
//!
//! This module owns the public guest API; it must not expose WIT-generated types.

extern crate self as keyway_sdk;

pub mod api;
mod connections;
mod error;
mod failure;
mod http;
pub mod ingest;
pub mod log;
mod oauth;
mod provider_api;
mod request;
mod routes;
mod settings;
mod state;
pub mod sync;
pub mod token_hooks;
pub mod url;

pub use error::{Error, ErrorCode};
pub use failure::ProviderFailure;
pub use http::{Auth, Body, Http, HttpOptions, HttpResponse};
pub use oauth::{AppConnection, ConnectionToken, OAuth};
pub use provider_api::{Api, ApiOptions};
pub use request::{Method, Request, Response};
pub use settings::{Secrets, Settings};
pub use state::{Checkpoint, State};

#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        world: "connector",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_connector",
        default_bindings_module: "::keyway_sdk::wit",
        runtime_path: "::keyway_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod wit_hooks {
    wit_bindgen::generate!({
        world: "token-hooks-provider",
        path: "../wit",
        with: { "keyway:connector/types@0.2.0": crate::wit::keyway::connector::types },
        pub_export_macro: true,
        export_macro_name: "__export_token_hooks",
        default_bindings_module: "::keyway_sdk::wit_hooks",
        runtime_path: "::keyway_sdk::__private::wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub mod __private {
    pub use crate::routes::{IntoRouteResult, to_wit_method, to_wit_route};
    pub use wit_bindgen;
}
