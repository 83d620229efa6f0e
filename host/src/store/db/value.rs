//! The values that cross between the store and either database: what a statement binds
//! ([`Param`], [`Value`]) and what a column is read as ([`FromValue`]).
//!
//! Owns: the five kinds both databases share (NULL, integer, real, text, bytes), turning
//! Rust values into them and back, and the errors that name the column that did not fit.
//! Must not: know any SQL dialect; a value too large for an `i64` is an error, never
//! wrapped.

use super::DbError;

/// A bound value, borrowed from the caller for as long as the statement runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl Value<'_> {
    /// The kind's name, for an error about a column that holds something else.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

/// Something a statement can bind.
pub(crate) trait Param {
    fn value(&self) -> Value<'_>;
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        match self {
            Some(v) => v.value(),
            None => Value::Null,
        }
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Int(i64::from(*self))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u16, u8);

/// The parameters of one statement: a slice made by [`crate::store::db::params!`], an
/// array of one type, or `()` for none.
pub(crate) trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}

impl Params for () {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}

impl Params for &[&dyn Param] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.value()).collect()
    }
}

impl Params for Vec<&dyn Param> {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.value()).collect()
    }
}

impl<T: Param, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|p| p.value()).collect()
    }
}

/// What a column can be read as.
pub(crate) trait FromValue: Sized {
    /// The Rust type's description, for an error.
    const WANTED: &'static str;
    fn from_value(value: Value<'_>) -> Option<Self>;
}

/// Reads column `index` of a row as `T`, naming the column when it does not fit.
pub(crate) fn convert<T: FromValue>(index: usize, value: Value<'_>) -> Result<T, DbError> {
    T::from_value(value).ok_or(DbError::Column {
        index,
        wanted: T::WANTED,
        found: value.kind(),
    })
}

impl<T: FromValue> FromValue for Option<T> {
    const WANTED: &'static str = T::WANTED;
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

impl FromValue for i64 {
    const WANTED: &'static str = "an integer";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
}

macro_rules! int_from {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            const WANTED: &'static str = "an integer in range";
            fn from_value(value: Value<'_>) -> Option<Self> {
                match value {
                    Value::Int(i) => <$t>::try_from(i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
int_from!(i32, u16, u32, u64, usize);

impl FromValue for bool {
    const WANTED: &'static str = "a boolean";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Int(i) => Some(i != 0),
            _ => None,
        }
    }
}

impl FromValue for f64 {
    const WANTED: &'static str = "a number";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Real(r) => Some(r),
            Value::Int(i) => Some(i as f64),
            _ => None,
        }
    }
}

impl FromValue for String {
    const WANTED: &'static str = "text";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Text(t) => Some(t.to_string()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    const WANTED: &'static str = "bytes";
    fn from_value(value: Value<'_>) -> Option<Self> {
        match value {
            Value::Blob(b) => Some(b.to_vec()),
            Value::Text(t) => Some(t.as_bytes().to_vec()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_that_does_not_fit_is_named() {
        let err = convert::<u32>(3, Value::Int(-1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 3 holds an integer, not an integer in range"
        );
        assert_eq!(convert::<Option<String>>(0, Value::Null).unwrap(), None);
        assert!(convert::<bool>(1, Value::Int(1)).unwrap());
        assert!(convert::<String>(2, Value::Blob(b"x")).is_err());
    }
}
