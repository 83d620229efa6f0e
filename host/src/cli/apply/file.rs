//! The `keyway.toml` format `keyway apply` reads: `[credentials.KEY]`,
//! `[appConnections.NAME]` and `[connections.NAME]` tables, keys spelled as the admin API
//! spells them. A secret is only ever a reference, `{ env = "VAR" }` or
//! `{ file = "PATH" }` (relative to the file's directory), resolved here.
//!
//! Owns: parsing, resolving secret references, and placing a problem at its line and
//! column by the path of keys it names.
//! Must not: quote a value of the file in an error (a secret may sit on any line), or
//! accept a secret written inline.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::de::{DeTable, DeValue};

use crate::services::apply::{Desired, DesiredConnection, DesiredCredentials};
use crate::services::{AppConnectionInput, PlainValue, SettingsInput};

/// The longest secret file read (a client secret or token is far shorter).
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A problem of the file, placed: `path:line:column: keys: message`.
#[derive(Debug, Clone)]
pub struct FileProblem {
    pub line: usize,
    pub column: usize,
    pub keys: String,
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keys.is_empty() {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.line, self.column, self.keys, self.message
            )
        }
    }
}

/// A secret as written: a reference, or (refused) a value inline. An inline value is
/// dropped as it is read, so nothing downstream can show it.
enum RawSecret {
    Inline,
    Env(String),
    File(String),
}

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSecret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a reference: { env = \"VAR\" } or { file = \"PATH\" }")
            }
            // Any value written in place of a reference is a secret written inline: it
            // is dropped unread (serde would quote a number or a bool it refused).
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawSecret, E> {
                Ok(RawSecret::Inline)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawSecret, E> {
                Ok(RawSecret::Inline)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawSecret, E> {
                Ok(RawSecret::Inline)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawSecret, E> {
                Ok(RawSecret::Inline)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawSecret, E> {
                Ok(RawSecret::Inline)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSecret, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    let secret = match key.as_str() {
                        "env" => RawSecret::Env(value),
                        "file" => RawSecret::File(value),
                        other => {
                            return Err(de::Error::custom(format!(
                                "a secret reference takes `env` or `file`, not `{other}`"
                            )));
                        }
                    };
                    if found.replace(secret).is_some() {
                        return Err(de::Error::custom(
                            "a secret reference takes one of `env` and `file`",
                        ));
                    }
                }
                found.ok_or_else(|| de::Error::custom("a secret reference needs `env` or `file`"))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    #[serde(default)]
    credentials: BTreeMap<String, RawCredentials>,
    #[serde(default)]
    app_connections: BTreeMap<String, RawApp>,
    #[serde(default)]
    connections: BTreeMap<String, RawConnection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCredentials {
    client_id: String,
    client_secret: Option<RawSecret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawApp {
    provider_url: String,
    issuer_url: Option<String>,
    auth_url: Option<String>,
    token_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    client_id: String,
    client_secret: RawSecret,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConnection {
    connector: String,
    #[serde(default)]
    auth_option: Option<String>,
    #[serde(default)]
    settings: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secret_settings: BTreeMap<String, RawSecret>,
}

/// A parsed file: its text (to place problems) and where it is (secret files are read
/// relative to its directory).
pub struct ConfigFile {
    text: String,
    dir: PathBuf,
}

impl ConfigFile {
    pub fn new(text: String, path: &Path) -> Self {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        ConfigFile { text, dir }
    }

    /// Line and column (1-based) of a byte offset.
    fn place(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count() + 1)
            .unwrap_or(1);
        (line, column)
    }

    /// The span of the deepest key of `path` present in the document (of its longest
    /// prefix the document has).
    fn span_of(&self, path: &[String]) -> Option<Range<usize>> {
        let root = DeTable::parse(&self.text).ok()?;
        let mut table: &DeTable<'_> = root.get_ref();
        let mut found = None;
        for key in path {
            let Some((k, v)) = table
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key.as_str())
            else {
                break;
            };
            found = Some(k.span());
            match v.get_ref() {
                DeValue::Table(t) => table = t,
                _ => break,
            }
        }
        found
    }

    /// A problem placed at the deepest key of `path` the document has (its start
    /// otherwise).
    pub fn problem(&self, path: &[String], message: impl Into<String>) -> FileProblem {
        let (line, column) = self
            .span_of(path)
            .map(|s| self.place(s.start))
            .unwrap_or((1, 1));
        FileProblem {
            line,
            column,
            keys: path.join("."),
            message: message.into(),
        }
    }

    /// A problem of the parser or the shape, placed by its span. Quoted strings in the
    /// message are the file's values and are cut out: a secret may be one.
    fn parse_problem(&self, e: &toml::de::Error) -> FileProblem {
        let (line, column) = e.span().map(|s| self.place(s.start)).unwrap_or((1, 1));
        FileProblem {
            line,
            column,
            keys: String::new(),
            message: without_quoted_values(e.message().trim()),
        }
    }

    /// Reads the declaration, every secret reference resolved. Every problem is
    /// returned at once (a parse failure is one problem).
    pub fn desired(&self) -> Result<Desired, Vec<FileProblem>> {
        if let Err(e) = DeTable::parse(&self.text) {
            return Err(vec![self.parse_problem(&e)]);
        }
        let raw: RawFile = toml::from_str(&self.text).map_err(|e| vec![self.parse_problem(&e)])?;
        let mut problems = Vec::new();
        let mut desired = Desired::default();
        for (key, c) in raw.credentials {
            let path = |field: &str| keys(&["credentials", &key, field]);
            let client_secret = match c.client_secret {
                Some(s) => match self.resolve(&s) {
                    Ok(v) => Some(v),
                    Err(m) => {
                        problems.push(self.problem(&path("clientSecret"), m));
                        continue;
                    }
                },
                None => None,
            };
            desired.credentials.push(DesiredCredentials {
                key,
                client_id: c.client_id,
                client_secret,
            });
        }
        for (name, a) in raw.app_connections {
            let client_secret = match self.resolve(&a.client_secret) {
                Ok(v) => v,
                Err(m) => {
                    problems
                        .push(self.problem(&keys(&["appConnections", &name, "clientSecret"]), m));
                    continue;
                }
            };
            desired.app_connections.push((
                name,
                AppConnectionInput {
                    provider_url: a.provider_url,
                    issuer_url: a.issuer_url,
                    auth_url: a.auth_url,
                    token_url: a.token_url,
                    scopes: a.scopes,
                    client_id: a.client_id,
                    client_secret,
                },
            ));
        }
        for (name, c) in raw.connections {
            let mut settings = SettingsInput::default();
            for (key, value) in c.settings {
                settings.plain.push((key, PlainValue::Json(to_json(value))));
            }
            let mut ok = true;
            for (key, secret) in c.secret_settings {
                match self.resolve(&secret) {
                    Ok(v) => {
                        settings.secret.insert(key, v);
                    }
                    Err(m) => {
                        problems.push(
                            self.problem(&keys(&["connections", &name, "secretSettings", &key]), m),
                        );
                        ok = false;
                    }
                }
            }
            if ok {
                desired.connections.push(DesiredConnection {
                    name,
                    connector: c.connector,
                    auth_option: c.auth_option,
                    settings,
                });
            }
        }
        if problems.is_empty() {
            Ok(desired)
        } else {
            Err(problems)
        }
    }

    /// A secret's value from its reference.
    fn resolve(&self, secret: &RawSecret) -> Result<SecretString, String> {
        match secret {
            RawSecret::Inline => Err(
                "a secret is never written in the file: use { env = \"VAR\" } or \
                 { file = \"PATH\" }"
                    .into(),
            ),
            RawSecret::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) => Err(format!("environment variable `{var}` is empty")),
                Err(_) => Err(format!("environment variable `{var}` is not set")),
            },
            RawSecret::File(file) => {
                let path = self.dir.join(file);
                let meta = std::fs::metadata(&path)
                    .map_err(|e| format!("secret file `{file}` cannot be read: {e}"))?;
                if !meta.is_file() || meta.len() > MAX_SECRET_FILE {
                    return Err(format!(
                        "secret file `{file}` must be a file of at most {MAX_SECRET_FILE} bytes"
                    ));
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("secret file `{file}` cannot be read: {e}"))?;
                let value = text.strip_suffix('\n').unwrap_or(&text);
                let value = value.strip_suffix('\r').unwrap_or(value);
                if value.is_empty() {
                    return Err(format!("secret file `{file}` is empty"));
                }
                Ok(SecretString::from(value.to_string()))
            }
        }
    }
}

fn keys(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A TOML value as JSON (a date or time becomes its text).
fn to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(to_json).collect()),
        toml::Value::Table(t) => J::Object(t.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
    }
}

/// `message` with every double-quoted fragment (how serde quotes a value it refused)
/// replaced by `"…"`. Names of keys are quoted with backticks and stay.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    if inside {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
