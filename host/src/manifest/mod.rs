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

mod api;
mod connector;
mod grants;
mod host_validation;
mod inject;
mod locate;
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

pub use api::{ApiAuth, ApiSpec};
pub(crate) use connector::AccessType;
pub(crate) use connector::RouteRef;
pub use connector::{
    AuthChoiceError, AuthKind, AuthOption, ClientAuthMethod, Connection, Connector, Filled, Kind,
    OAuthConfig, OAuthFlow, Permissions, PresetUse, Stream, TokenPath, TokenPaths, Webhook,
};
pub use grants::{APP_CONNECTION_NAME_RULE, is_app_connection_name};
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
        .map_err(|e| Problems::from(vec![json_syntax_problem(&e)]))
        .and_then(|doc| match structure::check(&doc) {
            Ok(raw) => validate::validate(raw),
            Err(structural) => Err(with_meaning_problems(&doc, structural)),
        })
        .map_err(|mut problems| {
            locate::locate(text, &mut problems);
            problems
        });
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

/// Top-level fields a repaired document needs, with values every meaning check accepts.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("key", "placeholder"),
    ("name", "placeholder"),
    ("provider", "placeholder"),
    ("kind", "source"),
    ("version", "0.0.0"),
];

/// `structural` and every problem of meaning in the rest of `doc`, so one run reports
/// both (a bad `version` is reported beside a misspelled `kind`). What the structural
/// check refused is cut out of a copy of the document (a missing required field takes its
/// parent with it; one at the top gets a placeholder) until the copy passes it; the
/// meaning pass then runs on the copy, and what it says of a cut or filled-in place is
/// left out. A copy that still fails after a few cuts adds nothing.
fn with_meaning_problems(doc: &serde_json::Value, structural: Problems) -> Problems {
    let mut repaired = doc.clone();
    let mut touched: Vec<String> = Vec::new();
    let mut pending = structural.clone();
    for _ in 0..8 {
        for p in pending.iter() {
            let missing = p.message.starts_with("missing required field");
            let target = if missing {
                match p.pointer.rsplit_once('/') {
                    Some(("", field)) => match PLACEHOLDERS.iter().find(|(k, _)| *k == field) {
                        Some((k, v)) => {
                            if let Some(obj) = repaired.as_object_mut() {
                                obj.insert((*k).into(), serde_json::Value::from(*v));
                            }
                            touched.push(p.pointer.clone());
                            continue;
                        }
                        None => return structural,
                    },
                    Some((parent, _)) => parent.to_string(),
                    None => return structural,
                }
            } else {
                p.pointer.clone()
            };
            if target.is_empty() {
                return structural;
            }
            touched.push(remove_at(&mut repaired, &target));
        }
        match structure::check(&repaired) {
            Ok(raw) => {
                let mut all = structural;
                if let Err(meaning) = validate::validate(raw) {
                    for p in meaning.iter() {
                        let under =
                            |t: &String| p.pointer == *t || p.pointer.starts_with(&format!("{t}/"));
                        if !touched.iter().any(under) && !all.iter().any(|q| q == p) {
                            all.push(p.pointer.clone(), p.message.clone());
                        }
                    }
                }
                return all;
            }
            Err(next) => pending = next,
        }
    }
    structural
}

/// Removes the value at JSON pointer `pointer` and returns the pointer of what was
/// removed: an object member as asked, but for an array element the whole array (taking
/// one element out would move the pointers of the ones after it).
fn remove_at(doc: &mut serde_json::Value, pointer: &str) -> String {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return pointer.to_string();
    };
    if matches!(doc.pointer(parent), Some(serde_json::Value::Array(_))) {
        return remove_at(doc, parent);
    }
    let last = last.replace("~1", "/").replace("~0", "~");
    if let Some(serde_json::Value::Object(map)) = doc.pointer_mut(parent) {
        map.remove(&last);
    }
    pointer.to_string()
}

/// A JSON syntax error as a problem that says where: `line L, column C: not valid JSON:
/// <what>` (serde's own text without its trailing position).
fn json_syntax_problem(e: &serde_json::Error) -> Problem {
    let text = e.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(what, _)| what);
    Problem::new(
        "",
        format!(
            "line {}, column {}: not valid JSON: {what}",
            e.line(),
            e.column()
        ),
    )
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
