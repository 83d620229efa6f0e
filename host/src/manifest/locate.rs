//! Where a JSON pointer lands in a manifest's text: the line and column of the member it
//! names (its key), or of the nearest enclosing value that exists (for a missing field,
//! the object that should hold it), so every problem can say where to look.
//!
//! Owns: turning pointers into text positions, with `jsonc-parser`'s ranges.
//! Must not: judge the manifest, or fail: text it cannot read gives no positions.

use jsonc_parser::ast::{ObjectPropName, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};

use super::problems::Problems;

/// 1-based line and column of byte `offset` in `text` (columns count characters).
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, tail)| tail)
        .chars()
        .count()
        + 1;
    (line, column)
}

/// The byte offset `pointer` lands on in the parsed document.
fn offset(root: &Value<'_>, pointer: &str) -> Option<usize> {
    if pointer.is_empty() {
        return None;
    }
    let mut node = root;
    let mut at = root.start();
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Value::Object(object) => {
                let Some(prop) = object.properties.iter().find(|p| {
                    let name = match &p.name {
                        ObjectPropName::String(s) => s.value.as_ref(),
                        ObjectPropName::Word(w) => w.value,
                    };
                    name == segment
                }) else {
                    return Some(at);
                };
                at = prop.start();
                node = &prop.value;
            }
            Value::Array(array) => {
                let Some(element) = segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| array.elements.get(i))
                else {
                    return Some(at);
                };
                at = element.start();
                node = element;
            }
            _ => return Some(at),
        }
    }
    Some(at)
}

/// Gives every problem of `problems` the line and column its pointer lands on in `text`.
pub(crate) fn locate(text: &str, problems: &mut Problems) {
    let strict = ParseOptions {
        allow_comments: false,
        allow_loose_object_property_names: false,
        allow_trailing_commas: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
    };
    let Ok(parsed) = parse_to_ast(text, &CollectOptions::default(), &strict) else {
        return;
    };
    let Some(root) = parsed.value else {
        return;
    };
    problems.for_each_mut(|p| {
        if p.line.is_none()
            && let Some(at) = offset(&root, &p.pointer)
        {
            let (line, column) = line_column(text, at);
            p.line = Some(line);
            p.column = Some(column);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"key\": \"x\",\n  \"permissions\": {\n    \"http\": [\"a\", \"b\"]\n  },\n  \"a/b\": 1\n}\n";

    fn at(pointer: &str) -> Option<(usize, usize)> {
        let parsed =
            parse_to_ast(TEXT, &CollectOptions::default(), &ParseOptions::default()).unwrap();
        let root = parsed.value.unwrap();
        offset(&root, pointer).map(|o| line_column(TEXT, o))
    }

    #[test]
    fn pointers_land_on_their_member_or_the_nearest_enclosing_value() {
        assert_eq!(at("/key"), Some((2, 3)));
        assert_eq!(at("/permissions/http/1"), Some((4, 19)));
        assert_eq!(at("/a~1b"), Some((6, 3)));
        // Missing: the object that should hold it.
        assert_eq!(at("/permissions/entities"), Some((3, 3)));
        assert_eq!(at("/nope/deeper"), Some((1, 1)));
        assert_eq!(at(""), None);
    }
}
