//! Structured logs through the host, which attributes them to the connector, connection,
//! route and invocation and redacts every secret it knows. Use the macros
//! [`crate::trace!`], [`crate::debug!`], [`crate::info!`], [`crate::warn!`], [`crate::error!`].

use crate::wit::keyway::connector::log as wit;

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Logs `message` with key/value `fields`.
pub fn event(level: Level, message: &str, fields: &[(&str, &str)]) {
    let level = match level {
        Level::Trace => wit::Level::Trace,
        Level::Debug => wit::Level::Debug,
        Level::Info => wit::Level::Info,
        Level::Warn => wit::Level::Warn,
        Level::Error => wit::Level::Error,
    };
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wit::log(level, message, &fields);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log {
    ($level:expr, $($key:ident = $value:expr),+ ; $($arg:tt)+) => {
        $crate::log::event(
            $level,
            &::std::format!($($arg)+),
            &[$((::std::stringify!($key), &::std::string::ToString::to_string(&$value))),+],
        )
    };
    ($level:expr, $($arg:tt)+) => {
        $crate::log::event($level, &::std::format!($($arg)+), &[])
    };
}

/// `info!("synced {} orders", n)` or `info!(stream = "orders", page = 2; "page done")`.
#[macro_export]
macro_rules! info {
    ($($t:tt)+) => { $crate::__log!($crate::log::Level::Info, $($t)+) };
}

/// See [`info!`].
#[macro_export]
macro_rules! warn {
    ($($t:tt)+) => { $crate::__log!($crate::log::Level::Warn, $($t)+) };
}

/// See [`info!`].
#[macro_export]
macro_rules! error {
    ($($t:tt)+) => { $crate::__log!($crate::log::Level::Error, $($t)+) };
}

/// See [`info!`].
#[macro_export]
macro_rules! debug {
    ($($t:tt)+) => { $crate::__log!($crate::log::Level::Debug, $($t)+) };
}

/// See [`info!`].
#[macro_export]
macro_rules! trace {
    ($($t:tt)+) => { $crate::__log!($crate::log::Level::Trace, $($t)+) };
}
