//! Where the store lives: an SQLite file (the default, in the data directory) or a
//! PostgreSQL database shared by several `keyway serve` replicas.
//!
//! Owns: parsing `--database-url` (`sqlite:PATH` or `postgres://USER@HOST:PORT/DB`, with
//! `sslmode` and `sslrootcert` read by `tls.rs`), the password's one door (the
//! `KEYWAY_DATABASE_PASSWORD` environment variable) and the URL's printable form.
//! Must not: accept a password inside the URL (a command line is visible to every user of
//! the machine), or print one.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::TlsMode;

/// The environment variable that carries a PostgreSQL password.
pub const DATABASE_PASSWORD_ENV: &str = "KEYWAY_DATABASE_PASSWORD";

/// The store's database.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database (the password, if any, comes from the environment).
    Postgres(Box<PgTarget>),
}

/// A PostgreSQL database and how a connection to it is made secure.
#[derive(Clone)]
pub struct PgTarget {
    pub(crate) config: tokio_postgres::Config,
    /// The TLS connector; whether it is used is the config's `ssl_mode`.
    pub(crate) tls: MakeRustlsConnect,
}

impl PgTarget {
    /// Whether connections are encrypted and the server verified.
    pub fn tls_mode(&self) -> TlsMode {
        match self.config.get_ssl_mode() {
            SslMode::Disable => TlsMode::Disable,
            _ => TlsMode::Verify,
        }
    }
}

impl DatabaseUrl {
    /// The default: `keyway.db` in the data directory.
    pub fn sqlite_in(data_dir: &Path) -> DatabaseUrl {
        DatabaseUrl::Sqlite(data_dir.join(crate::store::DB_FILE))
    }

    /// `url`, or the default in `data_dir` when none was given.
    pub fn or_sqlite_in(url: Option<&DatabaseUrl>, data_dir: &Path) -> DatabaseUrl {
        url.cloned()
            .unwrap_or_else(|| DatabaseUrl::sqlite_in(data_dir))
    }

    /// Parses a URL given on the command line or in a configuration file; a PostgreSQL
    /// password comes from [`DATABASE_PASSWORD_ENV`], if set.
    pub fn parse(text: &str) -> Result<DatabaseUrl, String> {
        Self::parse_with(text, Password::Default)
    }

    /// [`DatabaseUrl::parse`], with the PostgreSQL password taken from the environment
    /// variable `var`, which must be set (for a command that reaches two databases).
    pub fn parse_with_password_from(text: &str, var: &str) -> Result<DatabaseUrl, String> {
        let valid = !var.is_empty()
            && var.len() <= 100
            && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(format!(
                "`{}` is not an environment variable's name (letters, digits and _)",
                var.chars().take(100).collect::<String>()
            ));
        }
        Self::parse_with(text, Password::From(var))
    }

    fn parse_with(text: &str, password: Password<'_>) -> Result<DatabaseUrl, String> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(
                    "`sqlite:` needs a file path after it (sqlite:/var/lib/keyway/keyway.db)"
                        .into(),
                );
            }
            if let Password::From(var) = password {
                return Err(format!(
                    "a password ({var}) is named for an SQLite file, which takes none"
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(
                "a database URL starts with `sqlite:` or `postgres://` (postgres://USER@HOST:PORT/DATABASE)"
                    .into(),
            );
        }
        let (text, tls_params) = super::tls::take_params(text)?;
        let mut config = tokio_postgres::Config::from_str(&text).map_err(|e| {
            format!(
                "the PostgreSQL URL does not parse: {}",
                strip_values(&e.to_string())
            )
        })?;
        if config.get_password().is_some() {
            return Err(format!(
                "the PostgreSQL URL holds a password; put it in {DATABASE_PASSWORD_ENV} instead, \
                 so it is in no command line or configuration file"
            ));
        }
        if config.get_dbname().is_none() {
            return Err(
                "the PostgreSQL URL names no database (postgres://USER@HOST:PORT/DATABASE)".into(),
            );
        }
        match password {
            Password::Default => {
                if let Ok(password) = std::env::var(DATABASE_PASSWORD_ENV)
                    && !password.is_empty()
                {
                    config.password(password);
                }
            }
            Password::From(var) => match std::env::var(var) {
                Ok(password) if !password.is_empty() => {
                    config.password(password);
                }
                _ => return Err(format!("{var}, named to hold the password, is not set")),
            },
        }
        config.application_name("keyway");
        config.ssl_mode(match tls_params.mode {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Verify => SslMode::Require,
        });
        let tls = super::tls::connector(&tls_params)?;
        Ok(DatabaseUrl::Postgres(Box::new(PgTarget { config, tls })))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
}

/// Where a PostgreSQL password comes from.
#[derive(Clone, Copy)]
enum Password<'a> {
    /// [`DATABASE_PASSWORD_ENV`], when set (none otherwise).
    Default,
    /// The variable named, which must be set.
    From(&'a str),
}

/// A parse error of the driver may quote the URL's text; only its first clause is kept.
fn strip_values(message: &str) -> String {
    message
        .split(':')
        .next()
        .unwrap_or("invalid")
        .trim()
        .to_string()
}

impl FromStr for DatabaseUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatabaseUrl::parse(s)
    }
}

/// The printable form: the file, or `postgres://USER@HOST:PORT/DATABASE` (never a password).
impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            DatabaseUrl::Postgres(target) => {
                let config = &target.config;
                f.write_str("postgres://")?;
                if let Some(user) = config.get_user() {
                    write!(f, "{user}@")?;
                }
                let hosts = config.get_hosts();
                let ports = config.get_ports();
                for (i, host) in hosts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    match host {
                        tokio_postgres::config::Host::Tcp(h) => f.write_str(h)?,
                        tokio_postgres::config::Host::Unix(p) => write!(f, "{}", p.display())?,
                    }
                    if let Some(port) = ports.get(i).or(ports.first()) {
                        write!(f, ":{port}")?;
                    }
                }
                write!(f, "/{}", config.get_dbname().unwrap_or_default())?;
                if target.tls_mode() == TlsMode::Verify {
                    f.write_str("?sslmode=verify-full")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_print_without_a_password() {
        let url = DatabaseUrl::parse("postgres://keyway@127.0.0.1:5544/store").unwrap();
        assert!(url.is_postgres());
        assert_eq!(url.to_string(), "postgres://keyway@127.0.0.1:5544/store");
        let url =
            DatabaseUrl::parse("postgres://keyway@db.internal:5432/store?sslmode=require").unwrap();
        assert_eq!(
            url.to_string(),
            "postgres://keyway@db.internal:5432/store?sslmode=verify-full"
        );
        let url = DatabaseUrl::parse("sqlite:/tmp/k.db").unwrap();
        assert_eq!(url.to_string(), "sqlite:/tmp/k.db");
    }

    #[test]
    fn bad_urls_are_named_and_a_password_is_refused_unquoted() {
        let err = DatabaseUrl::parse("postgres://u:hunter2-canary@h/db").unwrap_err();
        assert!(err.contains(DATABASE_PASSWORD_ENV), "{err}");
        assert!(!err.contains("hunter2-canary"), "{err}");
        assert!(
            DatabaseUrl::parse("mysql://h/db")
                .unwrap_err()
                .contains("sqlite:")
        );
        assert!(
            DatabaseUrl::parse("sqlite:")
                .unwrap_err()
                .contains("file path")
        );
        assert!(
            DatabaseUrl::parse("postgres://u@h")
                .unwrap_err()
                .contains("no database")
        );
        let err =
            DatabaseUrl::parse_with_password_from("postgres://u@h/db", "NO=SUCH").unwrap_err();
        assert!(err.contains("not an environment variable's name"), "{err}");
        let err = DatabaseUrl::parse_with_password_from(
            "postgres://u@h/db",
            "KEYWAY_TEST_SURELY_UNSET_PASSWORD",
        )
        .unwrap_err();
        assert!(
            err.contains("KEYWAY_TEST_SURELY_UNSET_PASSWORD") && err.contains("not set"),
            "{err}"
        );
        let err = DatabaseUrl::parse_with_password_from("sqlite:/tmp/k.db", "PATH").unwrap_err();
        assert!(err.contains("SQLite"), "{err}");
        let err = DatabaseUrl::parse("postgres://u@h:notaport/db").unwrap_err();
        assert!(!err.contains("notaport"), "{err}");
    }
}
