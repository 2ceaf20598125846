//! Template errors turned into findings a campaign author can act on: the innermost error,
//! the failing line with a caret, what was undefined and a "did you mean" for a misspelt
//! name. Pure functions of a minijinja error, so their wording is tested on its own.

use std::fmt::Write as _;
use std::sync::Arc;

use super::templates::LEAF_PREFIX;
use crate::finding::Finding;
use crate::node::{Node, Origin};
use crate::project::TEMPLATES_DIR;

/// serde's type errors, in the words of a campaign author.
pub(super) fn type_message(inner: &str) -> String {
    crate::node::plain_words(inner, None)
}

/// Whether a template finding is about an undefined value (as `template_finding` words it).
pub(super) fn is_undefined(message: &str) -> bool {
    message.starts_with("template error: undefined") || message.starts_with("template error: `")
}

/// `names`: the variables the failing template could use (the render context), for a
/// "did you mean" when one is misspelt.
pub(super) fn template_finding(
    err: &minijinja::Error,
    node: &Node,
    path: &str,
    names: &[String],
) -> Finding {
    let err = innermost(err);
    let leaf_name = node.origin.to_string();
    let own = err.name().is_none_or(|n| n.starts_with(LEAF_PREFIX));
    let undefined = err
        .detail()
        .and_then(Undefined::parse)
        .or_else(|| Undefined::from_span(err));
    let message = match &undefined {
        Some(u) => format!("{}{}", u.message(err, names), u.effect()),
        None => match err.detail() {
            Some(detail) => format!("{}: {detail}", err.kind()),
            None => err.kind().to_string(),
        },
    };
    let excerpt = excerpt(err);
    // Lines inside a multi-line string leaf count from the leaf's own line.
    let in_leaf = |line: Option<usize>| Origin {
        file: node.origin.file.clone(),
        line: node
            .origin
            .line
            .saturating_add(line.map_or(0, |l| u32::try_from(l).unwrap_or(1).saturating_sub(1))),
    };
    let finding = if own {
        Finding::error(format!("template error: {message}")).at(&in_leaf(err.line()))
    } else {
        let name = err.name().unwrap_or("?");
        let line = err.line().map_or(0, |l| u32::try_from(l).unwrap_or(0));
        let template = format!("{TEMPLATES_DIR}/{name}");
        if let Some(call_line) = undefined.as_ref().and_then(Undefined::leaf_line) {
            // The undefined value was made in the leaf (a misspelt macro argument) and only
            // failed inside the macro: the line to fix is the call, in the campaign or catalog.
            let at = if line > 0 {
                format!("{template}:{line}")
            } else {
                template
            };
            let finding = Finding::error(format!(
                "template error: {}, passed to the macro failing at {at}{}",
                undefined
                    .as_ref()
                    .map_or_else(String::new, |u| u.message(err, names)),
                undefined
                    .as_ref()
                    .map_or_else(String::new, Undefined::effect),
            ))
            .at(&in_leaf(Some(call_line)))
            .field(path);
            return match excerpt {
                Some(excerpt) => finding.detail(format!("{at}:\n{excerpt}")),
                None => finding,
            };
        }
        let origin = Origin {
            file: Some(Arc::from(template)),
            line,
        };
        Finding::error(format!(
            "template error: {message} (included from {leaf_name})"
        ))
        .at(&origin)
    };
    let finding = finding.field(path);
    match excerpt {
        Some(excerpt) => finding.detail(excerpt),
        None => finding,
    }
}

/// What minijinja's debug detail says about an undefined value: `` `expr` is undefined``,
/// perhaps after what failed because of it, perhaps with where the value was made
/// (`from NAME:LINE` in another template, `from line N` in the same one).
#[derive(Debug, PartialEq)]
pub(super) struct Undefined {
    pub(super) expr: String,
    /// What failed because of it (`tried to use - operator on …`), when not just the output.
    pub(super) effect: Option<String>,
    pub(super) from: Option<String>,
}

impl Undefined {
    pub(super) fn parse(detail: &str) -> Option<Undefined> {
        const MARK: &str = "` is undefined";
        let mark = detail.find(MARK)?;
        let start = detail[..mark].rfind('`')?;
        let expr = detail[start + 1..mark].to_owned();
        let after = &detail[mark + MARK.len()..];
        let from = after
            .find("from ")
            .map(|i| after[i + 5..].trim_end_matches(')').to_owned());
        let effect = detail[..start]
            .trim_end()
            .trim_end_matches('(')
            .trim_end()
            .to_owned();
        Some(Undefined {
            expr,
            effect: (!effect.is_empty()).then_some(effect),
            from,
        })
    }

    /// An undefined error without detail (a name looked up inside a macro): the expression
    /// is the failing span of the source, when that is a plain (dotted) name.
    pub(super) fn from_span(err: &minijinja::Error) -> Option<Undefined> {
        if err.kind() != minijinja::ErrorKind::UndefinedError || err.detail().is_some() {
            return None;
        }
        let span = err.template_source()?.get(err.range()?)?.trim();
        let plain = !span.is_empty()
            && span
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
        plain.then(|| Undefined {
            expr: span.to_owned(),
            effect: None,
            from: None,
        })
    }

    /// The line inside the rendering leaf where the value was made, when that is not the
    /// template that failed (`from <leaf 3>:2`).
    pub(super) fn leaf_line(&self) -> Option<usize> {
        let from = self.from.as_deref()?;
        if !from.starts_with(LEAF_PREFIX) {
            return None;
        }
        from.rsplit(':').next()?.parse().ok()
    }

    pub(super) fn message(&self, err: &minijinja::Error, names: &[String]) -> String {
        let identifier =
            !self.expr.is_empty() && self.expr.chars().all(|c| c.is_alphanumeric() || c == '_');
        let mut out = if identifier {
            format!("undefined variable `{}`", self.expr)
        } else {
            format!("`{}` is undefined", self.expr)
        };
        if identifier {
            // The names the template could have meant: the context's, and those written in
            // the failing template itself (a macro's parameters).
            let written = err.template_source().map(identifiers).unwrap_or_default();
            let candidates = names.iter().map(String::as_str).chain(written);
            if let Some(best) = closest(&self.expr, candidates) {
                out.push_str(&format!(" (did you mean `{best}`?)"));
            }
        }
        out
    }

    /// `: what failed because of it`, or nothing.
    pub(super) fn effect(&self) -> String {
        self.effect
            .as_ref()
            .map_or_else(String::new, |effect| format!(": {effect}"))
    }
}

/// The identifiers written in a template source (names, not keywords or strings' contents).
pub(super) fn identifiers(source: &str) -> Vec<&str> {
    const KEYWORDS: &[&str] = &[
        "if",
        "else",
        "elif",
        "endif",
        "for",
        "endfor",
        "in",
        "not",
        "and",
        "or",
        "is",
        "macro",
        "endmacro",
        "import",
        "from",
        "as",
        "include",
        "set",
        "endset",
        "with",
        "endwith",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
        "call",
        "endcall",
        "filter",
        "endfilter",
        "block",
        "endblock",
        "extends",
        "loop",
    ];
    let mut out: Vec<&str> = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find(['{']) {
        let Some(kind) = rest[open + 1..].chars().next() else {
            break;
        };
        let close = match kind {
            '{' => "}}",
            '%' => "%}",
            _ => {
                rest = &rest[open + 1..];
                continue;
            }
        };
        let body_start = open + 2;
        let Some(len) = rest[body_start..].find(close) else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        let mut in_string: Option<char> = None;
        let mut word_start: Option<usize> = None;
        let mut after_dot = false;
        for (i, c) in body
            .char_indices()
            .chain(std::iter::once((body.len(), ' ')))
        {
            if let Some(q) = in_string {
                if c == q {
                    in_string = None;
                }
                continue;
            }
            if c.is_alphanumeric() || c == '_' {
                word_start.get_or_insert(i);
                continue;
            }
            if let Some(start) = word_start.take() {
                let word = &body[start..i];
                let first_is_letter = word.starts_with(|c: char| c.is_alphabetic() || c == '_');
                if first_is_letter
                    && !after_dot
                    && !KEYWORDS.contains(&word)
                    && !out.contains(&word)
                {
                    out.push(word);
                }
            }
            after_dot = c == '.';
            if c == '"' || c == '\'' {
                in_string = Some(c);
            }
        }
        rest = &rest[body_start + len + close.len()..];
    }
    out
}

/// The candidate nearest to `name` by edit distance, if near enough to be a likely misspelling.
pub(super) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance by characters, a swap of two neighbours counting as one edit (`nmae`, `name`).
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The error a template really failed with. An error inside an included template comes wrapped
/// in a "could not render include" error of the including one, which names only the includer.
pub(super) fn innermost(err: &minijinja::Error) -> &minijinja::Error {
    let mut current = err;
    while let Some(inner) =
        std::error::Error::source(current).and_then(|s| s.downcast_ref::<minijinja::Error>())
    {
        current = inner;
    }
    current
}

/// The template line that failed with a caret under the failing part.
///
/// Offsets are bytes into the source and lines end at `\n` (a `\r` before it is not shown), so
/// nothing here may assume one byte per character or per line ending: every slice is checked.
pub(super) fn excerpt(err: &minijinja::Error) -> Option<String> {
    let source = err.template_source()?;
    let line_no = err.line()?;
    let line_start = match line_no.checked_sub(2) {
        None => 0,
        Some(newlines) => source.match_indices('\n').nth(newlines)?.0 + 1,
    };
    let line_end = source[line_start..]
        .find('\n')
        .map_or(source.len(), |i| line_start + i);
    let line = source[line_start..line_end].trim_end_matches('\r');
    let mut out = format!("| {line}");
    let width = |s: &str| -> usize { s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum() };
    if let Some(range) = err.range()
        && range.start >= line_start
        && range.start <= line_start + line.len()
        && let Some(before) = source.get(line_start..range.start)
    {
        let marked = source
            .get(range.start..range.end.min(line_start + line.len()))
            .map_or(1, width);
        let _ = write!(
            out,
            "\n| {}{}",
            " ".repeat(width(before)),
            "^".repeat(marked.max(1))
        );
    }
    Some(out)
}

#[cfg(test)]
mod undefined_tests {
    use super::{Undefined, closest, edit_distance, identifiers};

    /// minijinja names an undefined expression only in debug mode, which is on by default only
    /// with debug assertions: this fails under `cargo test --release` if it is not set.
    #[test]
    fn templates_keep_debug_info_in_every_build() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("campaigns")).expect("campaigns");
        let project = crate::project::Project::read(dir.path()).expect("reads");
        let templates = crate::render::templates::Templates::compile(&project, &mut Vec::new());
        assert!(templates.env.debug());
    }

    #[test]
    fn minijinja_undefined_details_are_parsed() {
        assert_eq!(
            Undefined::parse("`nmae` is undefined"),
            Some(Undefined {
                expr: "nmae".to_owned(),
                effect: None,
                from: None
            })
        );
        let u = Undefined::parse(
            "tried to use - operator on unsupported types number and undefined (`discont` is undefined, from <leaf once>:3)",
        )
        .expect("parsed");
        assert_eq!(u.expr, "discont");
        assert_eq!(
            u.effect.as_deref(),
            Some("tried to use - operator on unsupported types number and undefined")
        );
        assert_eq!(u.leaf_line(), Some(3));
        assert_eq!(
            Undefined::parse("`x` is undefined (from line 2)").and_then(|u| u.leaf_line()),
            None
        );
        assert_eq!(Undefined::parse("some other detail"), None);
    }

    #[test]
    fn the_closest_name_is_suggested_only_when_close() {
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("deadlin_en", "deadline_en"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let names = ["name", "locale", "campaign", "t"];
        assert_eq!(closest("nmae", names.into_iter()), Some("name"));
        assert_eq!(closest("lcoale", names.into_iter()), Some("locale"));
        assert_eq!(closest("zzz", names.into_iter()), None);
        assert_eq!(closest("name", names.into_iter()), None, "not itself");
    }

    #[test]
    fn identifiers_are_names_written_in_tags_not_strings_or_attributes() {
        let src = "{% macro off(discount, locale) -%}{{ 'quoted' ~ user.name }}{% if x %}text words{% endif %}{%- endmacro %}";
        assert_eq!(identifiers(src), ["off", "discount", "locale", "user", "x"]);
    }
}
