//! URL templates with `{settings.<name>}` placeholders.
//!
//! Owns parsing a template, knowing where each placeholder sits (host, or path/query)
//! and the URL rules every expansion must meet (https, or http for loopback only).
//! Must not expand with real settings: only `settings::ValidSettings::expand` does that,
//! after validation and host normalization, so nothing here is public that renders.

use std::fmt;

use url::{Host, Url};

/// Where a placeholder sits in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// Anywhere in the host: the setting needs a `hostValidation` rule.
    Host,
    /// In the path or query: the value is percent-encoded, and a path segment it makes
    /// `.` or `..` is refused (the URL parser would remove or climb it).
    PathOrQuery,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(String),
    Setting { name: String, slot: Slot },
}

/// A parsed URL template.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    source: String,
    parts: Vec<Part>,
}

impl fmt::Debug for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlTemplate({:?})", self.source)
    }
}

impl fmt::Display for UrlTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const MARK: char = '\u{0}';

impl UrlTemplate {
    /// Parses a template; every problem found is returned.
    pub fn parse(source: &str) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut names = Vec::new();
        let mut rest = source;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            if rest[i..].starts_with('}') {
                errors.push("unmatched \"}\"".to_owned());
                rest = &rest[i + 1..];
                continue;
            }
            let after = &rest[i + 1..];
            let Some(close) = after
                .find(['}', '{'])
                .filter(|&c| after[c..].starts_with('}'))
            else {
                errors.push("unclosed \"{\"".to_owned());
                rest = after;
                continue;
            };
            let inner = &after[..close];
            match inner.strip_prefix("settings.") {
                Some(name) if is_setting_name(name) => {
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                    names.push(name.to_owned());
                    parts.push(Part::Setting {
                        name: name.to_owned(),
                        slot: Slot::PathOrQuery,
                    });
                }
                _ => errors.push(format!(
                    "invalid placeholder \"{{{inner}}}\"; expected {{settings.<name>}}"
                )),
            }
            rest = &after[close + 1..];
        }
        literal.push_str(rest);
        parts.push(Part::Literal(literal));
        parts.retain(|p| !matches!(p, Part::Literal(s) if s.is_empty()));

        // Locate each placeholder on a skeleton where each one is a single marker.
        let skeleton: String = parts
            .iter()
            .map(|p| match p {
                Part::Literal(s) => s.as_str(),
                Part::Setting { .. } => "\u{0}",
            })
            .collect();
        let slots = locate(&skeleton, &mut errors);
        let mut slot_iter = slots.into_iter();
        for part in &mut parts {
            if let Part::Setting { slot, .. } = part {
                *slot = slot_iter.next().unwrap_or(Slot::PathOrQuery);
            }
        }
        if errors.is_empty() {
            Ok(Self {
                source: source.to_owned(),
                parts,
            })
        } else {
            Err(errors)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Each placeholder in order: setting name and where it sits.
    pub fn settings(&self) -> impl Iterator<Item = (&str, Slot)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Setting { name, slot } => Some((name.as_str(), *slot)),
            Part::Literal(_) => None,
        })
    }

    /// Renders with `value` for each placeholder, then applies the URL rules (see
    /// [`UrlTemplate::render_checked`]; a dot segment is reported as a URL problem).
    pub(crate) fn render<E>(
        &self,
        value: impl FnMut(&str, Slot) -> Result<String, E>,
        url_error: impl FnOnce(String) -> E,
    ) -> Result<Url, E> {
        self.render_checked(value, |failure| url_error(failure.to_string()))
    }

    /// Renders with `value` for each placeholder (already encoded for its slot), then
    /// applies the URL rules. A path segment that a placeholder takes part in and that
    /// is a dot segment (`.`, `..`, or a percent-encoded spelling of them) is refused
    /// naming the setting: the URL parser would drop or climb it, so
    /// `/tenants/{settings.t}/token` with `..` would become `/token`.
    pub(crate) fn render_checked<E>(
        &self,
        value: impl FnMut(&str, Slot) -> Result<String, E>,
        fail: impl FnOnce(RenderFailure) -> E,
    ) -> Result<Url, E> {
        match self.render_raw(value)? {
            Ok(out) => check_url(&out).map_err(|reason| fail(RenderFailure::Url(reason))),
            Err(failure) => Err(fail(failure)),
        }
    }

    /// Renders as text, with the same dot-segment refusal, for URL patterns (which are
    /// not URLs: they may hold `*`).
    pub(crate) fn render_text<E>(
        &self,
        value: impl FnMut(&str, Slot) -> Result<String, E>,
        fail: impl FnOnce(RenderFailure) -> E,
    ) -> Result<String, E> {
        self.render_raw(value)?.map_err(fail)
    }

    fn render_raw<E>(
        &self,
        mut value: impl FnMut(&str, Slot) -> Result<String, E>,
    ) -> Result<Result<String, RenderFailure>, E> {
        let mut out = String::with_capacity(self.source.len());
        let mut placed: Vec<(&str, std::ops::Range<usize>)> = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Setting { name, slot } => {
                    let start = out.len();
                    out.push_str(&value(name, *slot)?);
                    if *slot == Slot::PathOrQuery {
                        placed.push((name, start..out.len()));
                    }
                }
            }
        }
        if let Some(name) = dot_segment_setting(&out, &placed) {
            return Ok(Err(RenderFailure::DotSegment(name.to_owned())));
        }
        Ok(Ok(out))
    }
}

/// Why a rendered template is not a usable URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RenderFailure {
    /// The URL rules refused it (the reason completes "the URL ...").
    Url(String),
    /// The setting makes a path segment `.` or `..`.
    DotSegment(String),
}

impl fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderFailure::Url(reason) => f.write_str(reason),
            RenderFailure::DotSegment(name) => write!(
                f,
                "would have a path segment \".\" or \"..\" made by setting \"{name}\""
            ),
        }
    }
}

/// The first setting among `placed` (name and byte range in `url`) that takes part in a
/// path segment of `url` which is a dot segment.
fn dot_segment_setting<'a>(
    url: &str,
    placed: &[(&'a str, std::ops::Range<usize>)],
) -> Option<&'a str> {
    let after_scheme = url.find("://")? + 3;
    let path_start = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    let path_end = url[path_start..]
        .find(['?', '#'])
        .map_or(url.len(), |i| path_start + i);
    let mut seg_start = path_start;
    for segment in url[path_start..path_end].split('/') {
        let seg = seg_start..seg_start + segment.len();
        seg_start = seg.end + 1;
        if !is_dot_segment(segment) {
            continue;
        }
        // An encoded value holds no `/`, `?` or `#`, so it lies inside one segment.
        if let Some((name, _)) = placed
            .iter()
            .find(|(_, r)| seg.start <= r.start && r.end <= seg.end)
        {
            return Some(name);
        }
    }
    None
}

/// `.` or `..`, in any mix of literal and percent-encoded (`%2e`, any case) dots.
fn is_dot_segment(segment: &str) -> bool {
    let lower = segment.to_ascii_lowercase();
    let dots = lower.replace("%2e", ".");
    dots == "." || dots == ".."
}

fn is_setting_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The slot of each marker in `skeleton`, recording misplaced ones in `errors`.
fn locate(skeleton: &str, errors: &mut Vec<String>) -> Vec<Slot> {
    let Some(scheme_end) = skeleton.find("://") else {
        errors.push("must be an absolute URL starting with \"https://\"".to_owned());
        return vec![Slot::PathOrQuery; skeleton.matches(MARK).count()];
    };
    let mut slots = Vec::new();
    let scheme = &skeleton[..scheme_end];
    if scheme.contains(MARK) {
        errors.push("a placeholder cannot appear in the URL scheme".to_owned());
        slots.extend(scheme.matches(MARK).map(|_| Slot::PathOrQuery));
    }
    let after = &skeleton[scheme_end + 3..];
    let auth_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let authority = &after[..auth_end];
    let rest = &after[auth_end..];
    let host_and_port = match authority.rsplit_once('@') {
        Some((userinfo, hp)) => {
            errors.push("a URL template cannot contain userinfo (\"user@\")".to_owned());
            slots.extend(userinfo.matches(MARK).map(|_| Slot::PathOrQuery));
            hp
        }
        None => authority,
    };
    let (host, port) = split_port(host_and_port);
    slots.extend(host.matches(MARK).map(|_| Slot::Host));
    if port.contains(MARK) {
        errors.push("a placeholder cannot appear in the port".to_owned());
        slots.extend(port.matches(MARK).map(|_| Slot::PathOrQuery));
    }
    if rest.contains('#') {
        errors.push("a URL template cannot have a fragment (\"#\")".to_owned());
    }
    slots.extend(rest.matches(MARK).map(|_| Slot::PathOrQuery));
    slots
}

fn split_port(host_and_port: &str) -> (&str, &str) {
    if host_and_port.starts_with('[') {
        return match host_and_port.find(']') {
            Some(i) => (&host_and_port[..=i], &host_and_port[i + 1..]),
            None => (host_and_port, ""),
        };
    }
    match host_and_port.rsplit_once(':') {
        Some((h, p)) => (h, p),
        None => (host_and_port, ""),
    }
}

/// True for `localhost`, `127.0.0.0/8` and `[::1]`.
pub(crate) fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(a) => a.is_loopback(),
        Host::Ipv6(a) => a.is_loopback(),
    }
}

/// The rules every URL a template yields must meet.
pub(crate) fn check_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("is not a valid URL ({e})"))?;
    let host = url.host().ok_or_else(|| "must have a host".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(
                "must use https (plain http is only allowed for localhost, 127.0.0.1 and [::1])"
                    .to_owned(),
            );
        }
        other => return Err(format!("must use https, not \"{other}\"")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain userinfo".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(t: &str) -> Vec<(String, Slot)> {
        UrlTemplate::parse(t)
            .unwrap()
            .settings()
            .map(|(n, s)| (n.to_owned(), s))
            .collect()
    }

    #[test]
    fn placeholders_are_located() {
        assert_eq!(
            slots("https://{settings.shop}/admin/{settings.ver}?q={settings.q}"),
            vec![
                ("shop".to_owned(), Slot::Host),
                ("ver".to_owned(), Slot::PathOrQuery),
                ("q".to_owned(), Slot::PathOrQuery),
            ]
        );
        assert_eq!(
            slots("https://api.{settings.region}.example.com:8443/x"),
            vec![("region".to_owned(), Slot::Host)]
        );
        assert!(
            UrlTemplate::parse("https://example.com/token")
                .unwrap()
                .settings()
                .next()
                .is_none()
        );
    }

    #[test]
    fn misplaced_or_malformed_placeholders_fail() {
        let e = UrlTemplate::parse("{settings.scheme}://example.com").unwrap_err();
        assert!(e.iter().any(|m| m.contains("scheme")), "{e:?}");
        let e = UrlTemplate::parse("https://example.com:{settings.port}/").unwrap_err();
        assert!(e.iter().any(|m| m.contains("port")), "{e:?}");
        let e = UrlTemplate::parse("https://{shop}/x").unwrap_err();
        assert!(e[0].contains("invalid placeholder"), "{e:?}");
        let e = UrlTemplate::parse("https://{settings.a/x").unwrap_err();
        assert!(e[0].contains("unclosed"), "{e:?}");
        let e = UrlTemplate::parse("https://a}/x").unwrap_err();
        assert!(e[0].contains("unmatched"), "{e:?}");
        let e = UrlTemplate::parse("https://u:{settings.p}@host/x").unwrap_err();
        assert!(e[0].contains("userinfo"), "{e:?}");
        let e = UrlTemplate::parse("example.com/x").unwrap_err();
        assert!(e[0].contains("absolute"), "{e:?}");
    }

    #[test]
    fn dot_segments_are_found_only_where_a_placeholder_takes_part() {
        let url = "https://h.test/tenants/../token?q=..";
        let at = |needle: &str| {
            let start = url.find(needle).expect("needle");
            start..start + needle.len()
        };
        assert_eq!(dot_segment_setting(url, &[("t", at(".."))]), Some("t"));
        // A placeholder making part of the segment counts too.
        let one_dot = at("..").start..at("..").start + 1;
        assert_eq!(dot_segment_setting(url, &[("t", one_dot)]), Some("t"));
        // In the query, or in an ordinary segment, it does not.
        let q = url.rfind("..").expect("query");
        assert_eq!(dot_segment_setting(url, &[("q", q..q + 2)]), None);
        assert_eq!(dot_segment_setting(url, &[("x", at("tenants"))]), None);
        for seg in [".", "..", "%2e", "%2E%2e", ".%2E", "%2e."] {
            assert!(is_dot_segment(seg), "{seg}");
        }
        for seg in ["", "...", "a.", ".a", "%252e", "%2e%2e%2e"] {
            assert!(!is_dot_segment(seg), "{seg}");
        }
    }

    #[test]
    fn url_rules() {
        assert!(check_url("https://example.com/x").is_ok());
        assert!(check_url("http://localhost:8080/x").is_ok());
        assert!(check_url("http://127.0.0.1/x").is_ok());
        assert!(check_url("http://[::1]:9/x").is_ok());
        assert!(check_url("http://example.com/x").is_err());
        assert!(check_url("ftp://example.com/x").is_err());
        assert!(check_url("https://u@example.com/x").is_err());
    }
}
