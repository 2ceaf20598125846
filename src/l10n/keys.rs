//! Keys of `t`: the dotted paths a catalog defines (`inbox.unread`) and the ones templates use
//! (`{{ t.inbox.unread | plural(n) }}`), found by reading the template code, not by rendering,
//! so a report covers every locale even where rendering stops at the first missing key.

use crate::l10n::{placeholders, plural};
use crate::node::{Kind, Node};

/// Every translatable entry of a catalog or `strings` mapping, by dotted key, in file order: a
/// string, or a plural entry (one key for all its forms). Sections are walked into.
pub(crate) fn entries(node: &Node) -> Vec<(String, &Node)> {
    let mut out = Vec::new();
    walk(node, "", &mut out);
    out
}

fn walk<'a>(node: &'a Node, prefix: &str, out: &mut Vec<(String, &'a Node)>) {
    let Some(map) = node.as_map() else {
        return;
    };
    for e in map {
        let key = format!("{prefix}{}", e.key);
        if plural::is_plural(&e.value) || matches!(e.value.kind, Kind::Str(_)) {
            out.push((key, &e.value));
        } else if e.value.as_map().is_some() {
            walk(&e.value, &format!("{key}."), out);
        }
    }
}

/// The entry at a dotted key, if the mapping has one (a string, plural entry or section).
pub(crate) fn lookup<'a>(node: &'a Node, key: &str) -> Option<&'a Node> {
    key.split('.').try_fold(node, |n, part| n.get(part))
}

/// The line of an entry's key, for findings (0 when unknown).
pub(crate) fn key_line(node: &Node, key: &str) -> u32 {
    let mut current = node;
    let mut line = 0;
    for part in key.split('.') {
        let Some(e) = current
            .as_map()
            .and_then(|m| m.iter().find(|e| e.key == part))
        else {
            return line;
        };
        line = e.key_line;
        current = &e.value;
    }
    line
}

/// The keys of `t` a template source reads: `t.title`, `t.inbox.unread` → `title`,
/// `inbox.unread`. Only template code counts, not text around it.
pub(crate) fn uses(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for piece in placeholders::split(source) {
        let placeholders::Piece::Code(code) = piece else {
            continue;
        };
        let bytes = code.as_bytes();
        let mut i = 0;
        while i + 2 < bytes.len() {
            let before_ok = i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric() || matches!(bytes[i - 1], b'_' | b'.'));
            if before_ok && bytes[i] == b't' && bytes[i + 1] == b'.' {
                let start = i + 2;
                let mut end = start;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || matches!(bytes[end], b'_' | b'.' | b'-'))
                {
                    end += 1;
                }
                let key = code[start..end].trim_end_matches('.');
                if !key.is_empty() {
                    out.push(key.to_owned());
                }
                i = end;
            } else {
                i += 1;
            }
        }
    }
    out
}

/// The keys read by every string leaf of a tree, with the field path of each leaf.
pub(crate) fn uses_in_tree(node: &Node, path: &str, out: &mut Vec<(String, String)>) {
    match &node.kind {
        Kind::Str(s) => out.extend(uses(s).into_iter().map(|k| (k, path.to_owned()))),
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                uses_in_tree(item, &format!("{path}.{i}"), out);
            }
        }
        Kind::Map(entries) => {
            for e in entries {
                let p = if path.is_empty() {
                    e.key.clone()
                } else {
                    format!("{path}.{}", e.key)
                };
                uses_in_tree(&e.value, &p, out);
            }
        }
        _ => {}
    }
}

/// Whether a used key covers a catalog key: the same key, or a section it lies in.
pub(crate) fn covers(used: &str, key: &str) -> bool {
    key == used
        || key
            .strip_prefix(used)
            .is_some_and(|rest| rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::from_yaml;

    #[test]
    fn uses_are_read_from_code_only() {
        assert_eq!(
            uses(
                "t.x {{ t.title }} {{ t.inbox.unread | plural(count) }} {% if t.vip %}{{ at.x }}{% endif %}"
            ),
            ["title", "inbox.unread", "vip"]
        );
    }

    #[test]
    fn entries_flatten_sections_and_keep_plurals_whole() {
        let node: Node =
            from_yaml("a: x\ninbox:\n  unread: {one: o, other: p}\n  empty: e\nn: 3\n").unwrap();
        let keys: Vec<String> = entries(&node).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "inbox.unread", "inbox.empty"]);
        assert_eq!(key_line(&node, "inbox.empty"), 4);
        assert!(lookup(&node, "inbox.unread").is_some());
        assert!(covers("inbox", "inbox.unread"));
        assert!(!covers("in", "inbox.unread"));
    }
}
