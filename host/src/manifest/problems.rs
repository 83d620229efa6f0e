//! Problems found in a manifest: a JSON pointer into `connector.json` and a message.
//!
//! Owns the `Problem` list every validation step appends to, JSON pointer building and
//! the "did you mean" hint. Must not decide what is wrong: callers do; this only records
//! it so that every problem is reported, not only the first.

use std::fmt;

/// One thing wrong with a manifest (or with settings checked against it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// JSON pointer (RFC 6901) to the offending value; `""` is the whole document.
    pub pointer: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where the pointer lands in the manifest's text (1-based), when it was read from
    /// text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl Problem {
    /// The problem as one line about `file`: `<file>:<line>:<column>: <pointer>: <message>`
    /// when its place in the text is known (editors jump to it), else
    /// `<file>: <pointer>: <message>`.
    pub fn in_file(&self, file: &str) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{file}:{line}:{column}: {self}"),
            _ => format!("{file}: {self}"),
        }
    }

    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

/// `<pointer>: <message>`, or the message alone for a problem of the whole document (a
/// syntax error says its line and column itself).
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

/// Every problem found, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem::new(pointer, message));
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Problem>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Lets `f` change every problem in place.
    pub(crate) fn for_each_mut(&mut self, f: impl FnMut(&mut Problem)) {
        self.0.iter_mut().for_each(f);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.0
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<Problem>> for Problems {
    fn from(v: Vec<Problem>) -> Self {
        Self(v)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no problems"),
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Problems {}

/// A JSON pointer built one segment at a time, escaping `~` and `/` as RFC 6901 says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pointer(String);

impl Pointer {
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Takes an already escaped pointer (for example one reported by `jsonschema`).
    pub(crate) fn from_escaped(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// This pointer with one more segment.
    pub fn at(&self, segment: impl fmt::Display) -> Self {
        let seg = segment.to_string().replace('~', "~0").replace('/', "~1");
        Self(format!("{}/{seg}", self.0))
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Pointer> for String {
    fn from(p: Pointer) -> Self {
        p.0
    }
}

impl From<&Pointer> for String {
    fn from(p: &Pointer) -> Self {
        p.0.clone()
    }
}

/// The candidate closest to `given`, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a, I>(given: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lowered = given.to_ascii_lowercase();
    let limit = (given.chars().count() / 3).max(1);
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let close = candidates
        .iter()
        .filter_map(|c| {
            let d = if c.to_ascii_lowercase() == lowered {
                0
            } else {
                strsim::damerau_levenshtein(&lowered, &c.to_ascii_lowercase())
            };
            (d <= limit).then_some((d, *c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    // A name cut short (`tokenUrl` for `tokenUrlTemplate`): the one field it begins, when
    // only one does and the given part is not a mere fragment.
    close.or_else(|| {
        let mut starting = candidates
            .iter()
            .filter(|c| lowered.len() >= 4 && c.to_ascii_lowercase().starts_with(&lowered));
        match (starting.next(), starting.next()) {
            (Some(only), None) => Some(*only),
            _ => None,
        }
    })
}

/// `"; did you mean \"x\"?"` or an empty string: ready to append to a message.
pub fn hint<'a, I>(given: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match did_you_mean(given, candidates) {
        Some(c) => format!("; did you mean \"{c}\"?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_cut_short_is_matched_to_the_one_field_it_begins() {
        let fields = ["authorizationUrlTemplate", "tokenUrlTemplate", "scopes"];
        assert_eq!(did_you_mean("tokenUrl", fields), Some("tokenUrlTemplate"));
        assert_eq!(did_you_mean("scope", fields), Some("scopes"));
        assert_eq!(did_you_mean("url", fields), None);
        assert_eq!(did_you_mean("tok", fields), None);
        assert_eq!(did_you_mean("webhookUrl", fields), None);
    }

    #[test]
    fn pointer_escapes_segments() {
        let p = Pointer::root().at("permissions").at("a/b~c");
        assert_eq!(p.to_string(), "/permissions/a~1b~0c");
    }

    #[test]
    fn hint_finds_near_misses_only() {
        let names = ["pkce", "scopes", "tokenUrlTemplate"];
        assert_eq!(did_you_mean("pcke", names), Some("pkce"));
        assert_eq!(
            did_you_mean("tokenUrlTemplat", names),
            Some("tokenUrlTemplate")
        );
        assert_eq!(did_you_mean("Scopes", names), Some("scopes"));
        assert_eq!(did_you_mean("frobnicate", names), None);
        assert_eq!(hint("zzz", names), "");
    }

    #[test]
    fn problems_display_lists_all() {
        let mut p = Problems::new();
        p.push("/a", "one");
        p.push("/b", "two");
        let s = p.to_string();
        assert!(s.contains("2 problems") && s.contains("/a: one") && s.contains("/b: two"));
    }
}
