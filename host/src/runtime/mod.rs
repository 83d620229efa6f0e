//! The sandbox: one wasmtime [`Engine`](wasmtime::Engine) and linker for the process,
//! components compiled once and cached on disk, an `InstancePre` per connector, and a
//! fresh `Store` with memory and time limits for every invocation.
//!
//! This module owns instantiation, limits and the mapping of guest failures to
//! [`InvokeError`]. It must not decide what a guest is allowed to do: the imports check
//! grants, and the context says what they are.

mod bindings;
mod cache;
mod config;
mod engine;
mod error;
mod invoke;
mod limits;
mod loader;
mod state;
mod stdio;

pub use cache::CacheKey;
pub use config::RuntimeConfig;
pub use engine::Runtime;
pub use error::{InvokeError, LoadError, MAX_ERROR_TEXT};
pub use invoke::{RouteRequest, RouteResponse, next_invocation_id};
pub use loader::{LoadedComponent, Route, RouteAuth};

pub(crate) use bindings::keyway::connector as wit;
pub(crate) use bindings::wit_types;
pub(crate) use state::HostState;

/// An HTTP method a route can be declared with (mirrors the WIT `method` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Parses `GET`, `post`, ... (case-insensitive).
    pub fn parse(text: &str) -> Option<Method> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }

    pub(crate) fn to_http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
        }
    }

    pub(crate) fn to_wit(self) -> wit_types::Method {
        match self {
            Method::Get => wit_types::Method::Get,
            Method::Post => wit_types::Method::Post,
            Method::Put => wit_types::Method::Put,
            Method::Patch => wit_types::Method::Patch,
            Method::Delete => wit_types::Method::Delete,
        }
    }

    pub(crate) fn from_wit(m: wit_types::Method) -> Method {
        match m {
            wit_types::Method::Get => Method::Get,
            wit_types::Method::Post => Method::Post,
            wit_types::Method::Put => Method::Put,
            wit_types::Method::Patch => Method::Patch,
            wit_types::Method::Delete => Method::Delete,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
