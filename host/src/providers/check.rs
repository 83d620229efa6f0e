//! The rules every catalog entry follows, beyond what serde checks: a valid key, https
//! URLs, templates whose placeholders name the entry's own settings (each a host with a
//! suffix rule), scopes and parameters the manifest would accept.
//!
//! Owns: `check_entry`. Must not: fetch a URL (the catalog's facts are checked against
//! the providers' documentation by people, not here).

use super::Provider;

/// A key: the connector key rule, starting with a letter.
fn valid_key(key: &str) -> bool {
    crate::types::is_key(key) && key.starts_with(|c: char| c.is_ascii_lowercase())
}

/// The `{settings.<name>}` placeholders of `template`, or why it has a bad one.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {template}"))?;
        let inner = &after[..end];
        let name = inner
            .strip_prefix("settings.")
            .ok_or_else(|| format!("{{{inner}}} is not {{settings.<name>}} in {template}"))?;
        out.push(name);
        rest = &after[end + 1..];
    }
    if rest.contains('}') {
        return Err(format!("unmatched }} in {template}"));
    }
    Ok(out)
}

/// Whether the template's only placeholder is its whole host: `https://{settings.x}/...`.
fn whole_host(template: &str) -> bool {
    let Some(rest) = template.strip_prefix("https://{settings.") else {
        return false;
    };
    match rest.split_once('}') {
        Some((_, after)) => !after.contains('{') && (after.is_empty() || after.starts_with('/')),
        None => false,
    }
}

fn https(what: &str, url: &str, problems: &mut Vec<String>) {
    match url::Url::parse(url) {
        Ok(u) if u.scheme() == "https" && u.host_str().is_some() => {}
        Ok(_) => problems.push(format!("{what} {url} is not an https URL")),
        Err(e) => problems.push(format!("{what} {url} does not parse: {e}")),
    }
}

/// Every problem with `p`; empty when it follows the rules.
pub fn check_entry(p: &Provider) -> Vec<String> {
    let mut problems = Vec::new();
    if !valid_key(&p.key) {
        problems.push(format!(
            "key {:?} is not lowercase words joined by hyphens",
            p.key
        ));
    }
    if p.name.trim().is_empty() {
        problems.push("name is empty".to_owned());
    }
    https("docs", &p.docs, &mut problems);
    let mut used = std::collections::BTreeSet::new();
    for (field, template) in p.templates() {
        let names = match placeholders(template) {
            Ok(names) => names,
            Err(e) => {
                problems.push(format!("{field}: {e}"));
                continue;
            }
        };
        let mut sample = template.to_owned();
        for name in names {
            match p.settings.get(name) {
                Some(s) => {
                    used.insert(name);
                    sample = sample.replace(
                        &format!("{{settings.{name}}}"),
                        &format!("sample{}", s.host_validation.suffix),
                    );
                }
                None => problems.push(format!(
                    "{field} uses {{settings.{name}}}, which the entry's settings do not declare"
                )),
            }
        }
        https(field, &sample, &mut problems);
        // A placeholder is the whole host, which its rule then vets.
        if template.contains('{') && !whole_host(template) {
            problems.push(format!(
                "{field}: a placeholder must be the whole host, once: {template}"
            ));
        }
    }
    for (name, setting) in &p.settings {
        if !used.contains(name.as_str()) {
            problems.push(format!("setting {name} is used by no template"));
        }
        let suffix = &setting.host_validation.suffix;
        if !suffix.starts_with('.') || suffix.len() < 3 || suffix != &suffix.to_ascii_lowercase() {
            problems.push(format!(
                "setting {name}: suffix {suffix:?} must be a lowercase domain starting with \".\""
            ));
        }
        if setting.description.trim().is_empty() {
            problems.push(format!("setting {name} has no description"));
        }
    }
    if let Some(api) = &p.api {
        https("api", api, &mut problems);
        if api.ends_with('/') {
            problems.push(format!("api {api} ends with /"));
        }
    }
    if let Some(account) = &p.account {
        https("account.url", &account.url, &mut problems);
        if account.id.is_empty() || account.name.is_empty() {
            problems.push("account names no id or name field".to_owned());
        }
    }
    let sep = p.separator();
    if sep.is_empty() || sep.chars().any(|c| c.is_ascii_alphanumeric()) {
        problems.push(format!(
            "scopeSeparator {sep:?} is not punctuation or a space"
        ));
    }
    for scope in &p.default_scopes {
        if scope.is_empty() || scope.chars().any(char::is_whitespace) || scope.contains(sep) {
            problems.push(format!(
                "default scope {scope:?} is empty or holds a separator"
            ));
        }
    }
    for (k, v) in &p.extra_authorize_params {
        if k.is_empty() || crate::types::RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()) {
            problems.push(format!("extraAuthorizeParams {k:?} is set by the host"));
        }
        if k == "access_type" && p.access_type.is_some() {
            problems.push("access_type is both a parameter and accessType".to_owned());
        }
        if v.contains('{') {
            problems.push(format!("extraAuthorizeParams {k}: values are literal"));
        }
    }
    if let Some(token) = &p.token {
        for (field, path) in token.set() {
            if path.split('.').any(|seg| {
                seg.is_empty()
                    || !seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }) {
                problems.push(format!("token.{field} {path:?} is not a dotted path"));
            }
        }
    }
    if p.quirks.iter().any(|q| q.trim().is_empty()) {
        problems.push("a quirk is empty".to_owned());
    }
    problems
}
