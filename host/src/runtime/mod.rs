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
mod hooks;
mod invoke;
mod limits;
mod loader;
mod phases;
mod state;
mod stdio;

use crate::types::Method;

pub use cache::CacheKey;
pub use config::RuntimeConfig;
pub use engine::Runtime;
pub(crate) use error::MAX_ERROR_TEXT;
pub use error::{InvokeError, LoadError};
pub use hooks::{
    HOOK_DEADLINE, HOOK_MEMORY_LIMIT, HookBody, HookContext, HookCredentials, HookError, HookGrant,
    HookRequest, HookValue,
};
pub use invoke::RouteRequest;
pub(crate) use invoke::RouteResponse;
pub(crate) use invoke::next_invocation_id;
pub use loader::{LoadedComponent, Route, RouteAuth};
#[doc(hidden)]
pub use phases::Phases;

pub(crate) use bindings::keyway::connector as wit;
pub(crate) use bindings::wit_types;
pub(crate) use state::HostState;

// The WIT `method` enum is generated here; the shared `Method` lives in `types`.
impl From<Method> for wit_types::Method {
    fn from(m: Method) -> Self {
        match m {
            Method::Get => wit_types::Method::Get,
            Method::Post => wit_types::Method::Post,
            Method::Put => wit_types::Method::Put,
            Method::Patch => wit_types::Method::Patch,
            Method::Delete => wit_types::Method::Delete,
        }
    }
}

impl From<wit_types::Method> for Method {
    fn from(m: wit_types::Method) -> Self {
        match m {
            wit_types::Method::Get => Method::Get,
            wit_types::Method::Post => Method::Post,
            wit_types::Method::Put => Method::Put,
            wit_types::Method::Patch => Method::Patch,
            wit_types::Method::Delete => Method::Delete,
        }
    }
}
