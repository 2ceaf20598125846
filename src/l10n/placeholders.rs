//! Placeholders: the template code inside a translatable string (`{{ name }}`, `{% if vip %}`,
//! `{# note #}`). A translator moves them but must not change them; an exchange format protects
//! them, and import checks that they came back intact.

/// A piece of a string: text a translator translates, or template code they must keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    Code(&'a str),
}

const OPEN: [(&str, &str); 3] = [("{{", "}}"), ("{%", "%}"), ("{#", "#}")];

/// Splits a string into text and template code. An opening `{{` without its closing is text
/// (see [`damage`] to find it).
pub(crate) fn split(source: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = source;
    let mut text_start = 0usize;
    let mut pos = 0usize;
    while let Some(at) = rest.find('{') {
        let abs = pos + at;
        let tail = &source[abs..];
        let close = OPEN
            .iter()
            .find(|(open, _)| tail.starts_with(open))
            .and_then(|(_, close)| tail[2..].find(close).map(|end| end + 2 + close.len()));
        match close {
            Some(len) => {
                if abs > text_start {
                    out.push(Piece::Text(&source[text_start..abs]));
                }
                out.push(Piece::Code(&source[abs..abs + len]));
                pos = abs + len;
                text_start = pos;
            }
            None => pos = abs + 1,
        }
        rest = &source[pos..];
    }
    if text_start < source.len() {
        out.push(Piece::Text(&source[text_start..]));
    }
    out
}

/// The template code of a string, in order.
pub(crate) fn codes(source: &str) -> Vec<&str> {
    split(source)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Code(c) => Some(c),
            Piece::Text(_) => None,
        })
        .collect()
}

/// A placeholder with its inner spacing normalised, so `{{name}}` and `{{ name }}` are the same.
pub(crate) fn normal(code: &str) -> String {
    let inner: Vec<&str> = code[2..code.len() - 2].split_whitespace().collect();
    format!(
        "{} {} {}",
        &code[..2],
        inner.join(" "),
        &code[code.len() - 2..]
    )
}

/// The placeholders of `source`, normalised, sorted and deduplicated.
pub(crate) fn names(source: &str) -> Vec<String> {
    let mut out: Vec<String> = codes(source).into_iter().map(normal).collect();
    out.sort();
    out.dedup();
    out
}

/// A broken delimiter left in the text, e.g. `{{ name }` or `name }}`: what a careless edit of a
/// placeholder leaves behind.
pub(crate) fn damage(source: &str) -> Option<String> {
    for piece in split(source) {
        if let Piece::Text(text) = piece {
            for mark in ["{{", "{%", "{#", "}}", "%}", "#}"] {
                if text.contains(mark) {
                    return Some(format!("a stray `{mark}` in {text:?}"));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_finds_every_kind_of_code() {
        assert_eq!(
            split("Hi {{ name }}{% if x %}!{% endif %}{# c #}"),
            [
                Piece::Text("Hi "),
                Piece::Code("{{ name }}"),
                Piece::Code("{% if x %}"),
                Piece::Text("!"),
                Piece::Code("{% endif %}"),
                Piece::Code("{# c #}"),
            ]
        );
        assert_eq!(split("a { b } c"), [Piece::Text("a { b } c")]);
    }

    #[test]
    fn names_ignore_spacing_and_damage_is_found() {
        assert_eq!(
            names("{{name}} and {{ name }} {{ n }}"),
            ["{{ n }}", "{{ name }}"]
        );
        assert_eq!(damage("Hi {{ name }}"), None);
        assert!(damage("Hi {{ name }").is_some());
        assert!(damage("Hi name }}").is_some());
    }
}
