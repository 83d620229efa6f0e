//! The one error type of the test runtime: why a connector could not be built, loaded or
//! set up, or why a route call produced no response.
//!
//! Messages name the crate, setting or route at fault; they must not carry a secret
//! value (route failures are redacted by the invocation's redactor before they get here).

/// Why the test runtime could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// `cargo build --target wasm32-wasip2` of the connector crate failed; `output` is
    /// cargo's own report (compile errors included).
    #[error("building `{package}` for wasm32-wasip2 failed:\n{output}")]
    Build { package: String, output: String },
    /// The crate directory could not be inspected (no `Cargo.toml`, no cdylib target,
    /// `cargo metadata` failed).
    #[error("{0}")]
    Crate(String),
    /// The manifest, the component or the route table was refused by the host.
    #[error("loading the connector failed: {0}")]
    Load(String),
    /// The settings given to the builder are not valid for the manifest.
    #[error("settings for connector `{connector}` are invalid:\n{problems}")]
    Settings { connector: String, problems: String },
    /// The builder's configuration does not fit the manifest (for example OAuth state
    /// for a connector without `connection.oauth`).
    #[error("{0}")]
    Setup(String),
    /// The route call failed in the host (no such route, trap, deadline, malformed
    /// answer). `code` is the host's stable code (`route_not_found`, `guest_trap`, ...).
    #[error("{code}: {message}")]
    Invoke { code: String, message: String },
    /// The call itself was malformed (unknown method, unknown stream or webhook).
    #[error("{0}")]
    Request(String),
    /// A webhook delivery the host would refuse (bad signature, stale timestamp); the
    /// route did not run.
    #[error("delivery refused: {0}")]
    Refused(String),
}
