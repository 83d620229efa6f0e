//! Connector manifests: `connector.json` -> the validated `Connector` the runtime uses.
//!
//! Owns reading a manifest (file or connector directory), the structural and meaning
//! passes that report every problem with a JSON pointer, settings validation and the only
//! URL template expansion. Must not load components, talk to providers or touch the
//! store: callers pass in what they need (for example exported routes to `check_routes`).
//!
//! ```
//! let text = r#"{ "key": "demo", "name": "Demo", "provider": "demo",
//!                 "kind": "source", "version": "0.1.0" }"#;
//! let connector = keyway_host::manifest::parse_str(text, "connector.json").unwrap();
//! assert_eq!(connector.key(), "demo");
//! ```

mod connector;
mod grants;
mod host_validation;
mod inject;
mod patterns;
mod problems;
mod raw;
mod schema;
mod settings;
mod structure;
mod template;
mod validate;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub(crate) use connector::AccessType;
pub(crate) use connector::RouteRef;
pub use connector::{
    ClientAuthMethod, Connection, Connector, Kind, OAuthConfig, OAuthFlow, Permissions, Stream,
    TokenPath, TokenPaths, Webhook,
};
pub use inject::InjectRule;
pub(crate) use inject::InjectShape;
pub use patterns::HttpPattern;
pub(crate) use problems::Problem;
pub(crate) use problems::Problems;
pub use schema::editor_schema_text;
pub(crate) use settings::SettingsErrors;
pub use settings::{ExpandError, ValidSettings};
pub use template::{Slot, UrlTemplate};

/// The manifest file name inside a connector directory.
pub(crate) const MANIFEST_FILE: &str = "connector.json";

/// A validated manifest and where it came from.
#[derive(Debug)]
pub struct LoadedManifest {
    /// The manifest file that was read.
    pub path: PathBuf,
    /// The connector directory (the manifest's parent).
    pub dir: PathBuf,
    pub connector: Connector,
}

/// Why a manifest could not be loaded; always names the file.
#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {problems}", path.display())]
    Invalid { path: PathBuf, problems: Problems },
}

impl ManifestError {
    pub fn path(&self) -> &Path {
        match self {
            ManifestError::Io { path, .. } | ManifestError::Invalid { path, .. } => path,
        }
    }

    /// Every problem; an I/O failure is one problem at the document root.
    pub fn problems(&self) -> Problems {
        match self {
            ManifestError::Io { source, .. } => {
                Problems::from(vec![Problem::new("", format!("cannot read: {source}"))])
            }
            ManifestError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

/// Parses and validates manifest text; `source_name` only labels the debug log line.
pub fn parse_str(text: &str, source_name: &str) -> Result<Connector, Problems> {
    let result = serde_json::from_str::<serde_json::Value>(text)
        .map_err(|e| Problems::from(vec![Problem::new("", format!("not valid JSON: {e}"))]))
        .and_then(|doc| structure::check(&doc))
        .and_then(validate::validate);
    match &result {
        Ok(c) => tracing::debug!(source = source_name, key = c.key(), "manifest is valid"),
        Err(p) => tracing::debug!(
            source = source_name,
            problems = p.len(),
            "manifest is invalid"
        ),
    }
    result
}

/// Loads `path`: a manifest file, or a connector directory holding `connector.json`.
pub fn load_dir_or_file(path: &Path) -> Result<LoadedManifest, ManifestError> {
    let file = if path.is_dir() {
        path.join(MANIFEST_FILE)
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Io {
        path: file.clone(),
        source,
    })?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| MANIFEST_FILE.to_owned());
    let connector = parse_str(&text, &name).map_err(|problems| ManifestError::Invalid {
        path: file.clone(),
        problems,
    })?;
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(LoadedManifest {
        path: file,
        dir,
        connector,
    })
}
