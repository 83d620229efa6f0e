//! The parser of the layering check: which top-level modules of the crate a source
//! file refers to through `crate::` paths and `use crate::{..}` groups.
//!
//! Comments are removed and string and char literals emptied first, so neither can hold
//! a path; lifetimes are told apart from char literals. Must not: resolve anything
//! beyond the first path segment (that is all the layering needs).

use std::collections::BTreeSet;

/// The top-level modules `text` refers to through `crate::`.
pub fn crate_refs(text: &str) -> BTreeSet<String> {
    let code: Vec<char> = strip_comments_and_strings(text).chars().collect();
    let mut refs = BTreeSet::new();
    let mut i = 0;
    while i < code.len() {
        let at_word = i == 0 || !is_ident(code[i - 1]);
        if at_word
            && starts_with(&code, i, "crate")
            && !code.get(i + 5).is_some_and(|c| is_ident(*c))
        {
            let mut j = skip_ws(&code, i + 5);
            if starts_with(&code, j, "::") {
                j = skip_ws(&code, j + 2);
                if code.get(j) == Some(&'{') {
                    group_heads(&code, j, &mut refs);
                } else if let Some(name) = ident_at(&code, j) {
                    refs.insert(name);
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    refs.remove("self");
    refs
}

/// The first segment of each item of the `{..}` group opening at `open`.
fn group_heads(code: &[char], open: usize, refs: &mut BTreeSet<String>) {
    let mut depth = 0;
    let mut expect_head = false;
    for (k, c) in code.iter().enumerate().skip(open) {
        match c {
            '{' => {
                depth += 1;
                expect_head = depth == 1;
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return;
                }
            }
            ',' if depth == 1 => expect_head = true,
            c if c.is_whitespace() => {}
            _ if expect_head => {
                if let Some(name) = ident_at(code, k) {
                    refs.insert(name);
                }
                expect_head = false;
            }
            _ => {}
        }
    }
}

fn ident_at(code: &[char], at: usize) -> Option<String> {
    let name: String = code[at.min(code.len())..]
        .iter()
        .take_while(|c| is_ident(**c))
        .collect();
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn starts_with(code: &[char], at: usize, word: &str) -> bool {
    word.chars()
        .enumerate()
        .all(|(k, w)| code.get(at + k) == Some(&w))
}

fn skip_ws(code: &[char], mut at: usize) -> usize {
    while code.get(at).is_some_and(|c| c.is_whitespace()) {
        at += 1;
    }
    at
}

/// `text` with comments removed and string and char literals emptied so
/// neither can hold a path.
fn strip_comments_and_strings(text: &str) -> String {
    let s: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < s.len() {
        let prev_ident = i > 0 && is_ident(s[i - 1]);
        if starts_with(&s, i, "//") {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if starts_with(&s, i, "/*") {
            let mut depth = 0;
            while i < s.len() {
                if starts_with(&s, i, "/*") {
                    depth += 1;
                    i += 2;
                } else if starts_with(&s, i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if !prev_ident && let Some(len) = raw_string_len(&s, i) {
            i += len;
            out.push_str("\"\"");
        } else if s[i] == '"' {
            i += 1;
            while i < s.len() && s[i] != '"' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if s[i] == '\'' && (s.get(i + 1) == Some(&'\\') || s.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\'', '\u{..}'); a lifetime ('a) has no closing quote.
            i += 1;
            while i < s.len() && s[i] != '\'' {
                i += if s[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Length of the raw string (`r"..."`, `br#"..."#`) starting at `at`, if one does.
fn raw_string_len(s: &[char], at: usize) -> Option<usize> {
    let mut i = at;
    if s.get(i) == Some(&'b') {
        i += 1;
    }
    if s.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let hashes = s[i..].iter().take_while(|c| **c == '#').count();
    i += hashes;
    if s.get(i) != Some(&'"') {
        return None;
    }
    i += 1;
    let close: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    while i < s.len() {
        if s[i..].starts_with(&close) {
            return Some(i + close.len() - at);
        }
        i += 1;
    }
    Some(s.len() - at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(text: &str) -> Vec<String> {
        crate_refs(text).into_iter().collect()
    }

    #[test]
    fn plain_paths_and_groups() {
        let text = "use crate::egress::{self, Bindings};\nfn f() { crate::store::now_unix(); }\n\
                    use crate :: types::Method;";
        assert_eq!(refs(text), ["egress", "store", "types"]);
    }

    #[test]
    fn multi_line_and_nested_groups() {
        let text = "use crate::{\n    self,\n    egress::{\n        self,\n        Egress,\n    },\n    \
                    runtime::{Runtime, wit::{http}},\n    store\n};";
        assert_eq!(refs(text), ["egress", "runtime", "store"]);
    }

    #[test]
    fn comments_and_strings_hold_no_paths() {
        let text = "//! See [`crate::cli::run`].\n/* crate::server /* nested crate::services */ */\n\
                    let a = \"crate::cli\"; let b = r#\"crate::server \"x\"\"#; let c = '\"';\n\
                    fn g<'a>(x: &'a str) -> crate::types::Method { x.parse() }";
        assert_eq!(refs(text), ["types"]);
    }

    #[test]
    fn escaped_char_literals_end_where_they_end() {
        let text =
            "let d = '\\\\'; use crate::egress; let q = '\\''; use crate::store; let c = 'x';";
        assert_eq!(refs(text), ["egress", "store"]);
    }

    #[test]
    fn identifiers_that_merely_contain_crate_do_not_count() {
        let text = "let my_crate = 1; let x = notcrate::cli; use keyway_host::server;";
        assert!(refs(text).is_empty());
    }
}
