//! gettext PO, for the platforms and tools built around it (Weblate, Poedit).
//!
//! One entry per key, the key as `msgctxt`, the default locale's text as `msgid`; placeholders
//! stay verbatim (PO has no inline codes), and import checks that each one came back exactly as
//! the source wrote it. A plural entry is `msgid` (the source's `one`, else `other`),
//! `msgid_plural` (its `other`) and one `msgstr[i]` per CLDR form of the target locale, in CLDR
//! order, named in a comment; the `Plural-Forms` header is written for the languages whose
//! gettext formula gives exactly those indices, and the `X-Pushform-Plural-Categories` header
//! always names them. A length limit is a `maxwidth:` comment.

use std::fmt::Write as _;

use anyhow::{Result, bail};

use crate::l10n::exchange::{Export, Imported, Text, Translated};
use crate::l10n::plural;

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `msgid "…"`, split after each newline the way gettext tools write multi-line text.
fn field(out: &mut String, name: &str, text: &str) {
    if text.contains('\n') && text.trim_end_matches('\n').contains('\n') {
        let _ = writeln!(out, "{name} \"\"");
        for line in text.split_inclusive('\n') {
            let _ = writeln!(out, "{}", quote(line));
        }
    } else {
        let _ = writeln!(out, "{name} {}", quote(text));
    }
}

/// gettext's formula for a language, when its indices are exactly the CLDR categories of
/// [`plural::categories`] in CLDR order.
fn plural_forms(locale: &str) -> Option<&'static str> {
    let language = locale.split(['-', '_']).next().unwrap_or(locale);
    let categories = plural::categories(locale);
    let formula = match language {
        "ja" | "zh" | "ko" | "th" | "vi" | "id" | "ms" => "nplurals=1; plural=0;",
        "en" | "de" | "nl" | "sv" | "da" | "nb" | "nn" | "fi" | "et" | "el" | "hu" | "tr"
        | "bg" => "nplurals=2; plural=(n != 1);",
        "ru" | "uk" => {
            "nplurals=4; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<12 || n%100>14) ? 1 : 2);"
        }
        "ar" => {
            "nplurals=6; plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);"
        }
        _ => return None,
    };
    let expected = match language {
        "ja" | "zh" | "ko" | "th" | "vi" | "id" | "ms" => 1,
        "ru" | "uk" => 4,
        "ar" => 6,
        _ => 2,
    };
    (categories.len() == expected).then_some(formula)
}

pub(crate) fn write(export: &Export) -> String {
    let categories = plural::categories(&export.target_locale);
    let mut out = format!(
        "# {} strings of {} to translate into {}; written by `pushform l10n export`.\n",
        export.source_locale, export.original, export.target_locale
    );
    out.push_str("msgid \"\"\nmsgstr \"\"\n");
    out.push_str("\"Content-Type: text/plain; charset=UTF-8\\n\"\n");
    let _ = writeln!(out, "\"Language: {}\\n\"", export.target_locale);
    if let Some(formula) = plural_forms(&export.target_locale) {
        let _ = writeln!(out, "\"Plural-Forms: {formula}\\n\"");
    }
    let _ = writeln!(
        out,
        "\"X-Pushform-Source-Language: {}\\n\"",
        export.source_locale
    );
    let _ = writeln!(
        out,
        "\"X-Pushform-Plural-Categories: {}\\n\"",
        categories.join(" ")
    );
    for u in &export.units {
        out.push('\n');
        if let Some(w) = u.maxwidth {
            let _ = writeln!(
                out,
                "#. maxwidth: {w} characters (shown as a notification title)"
            );
        }
        match &u.text {
            Text::Single { source, target } => {
                field(&mut out, "msgctxt", &u.key);
                field(&mut out, "msgid", source);
                field(&mut out, "msgstr", target.as_deref().unwrap_or_default());
            }
            Text::Plural {
                singular,
                other,
                forms,
            } => {
                let names: Vec<String> = forms
                    .iter()
                    .enumerate()
                    .map(|(i, f)| format!("[{i}] {}", f.category))
                    .collect();
                let _ = writeln!(out, "#. plural forms: {}", names.join(", "));
                field(&mut out, "msgctxt", &u.key);
                field(&mut out, "msgid", singular);
                field(&mut out, "msgid_plural", other);
                for (i, f) in forms.iter().enumerate() {
                    field(
                        &mut out,
                        &format!("msgstr[{i}]"),
                        f.target.as_deref().unwrap_or_default(),
                    );
                }
            }
        }
    }
    out
}

fn unquote(s: &str, line: usize) -> Result<String> {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        bail!("line {line}: expected a quoted string, found {s:?}");
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                other => bail!("line {line}: unknown escape `\\{}`", other.unwrap_or(' ')),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

#[derive(Default)]
struct Entry {
    fuzzy: bool,
    msgctxt: Option<String>,
    msgid: Option<String>,
    msgid_plural: Option<String>,
    msgstr: Vec<(usize, String)>,
}

/// Reads a PO file back: the `Language` header and every entry with a translation (fuzzy
/// entries, which a tool marks as unchecked, are left out).
pub(crate) fn read(text: &str) -> Result<Imported> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut current = Entry::default();
    // Which field a continuation line ("…") extends.
    let mut last: Option<(String, usize)> = None;
    let mut flush = |current: &mut Entry| {
        if current.msgid.is_some() {
            entries.push(std::mem::take(current));
        } else {
            *current = Entry::default();
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            flush(&mut current);
            last = None;
            continue;
        }
        if let Some(flags) = line.strip_prefix("#,") {
            current.fuzzy |= flags.split(',').any(|f| f.trim() == "fuzzy");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with('"') {
            let more = unquote(line, n)?;
            match &last {
                Some((name, idx)) => {
                    let slot = match name.as_str() {
                        "msgctxt" => current.msgctxt.as_mut(),
                        "msgid" => current.msgid.as_mut(),
                        "msgid_plural" => current.msgid_plural.as_mut(),
                        _ => current
                            .msgstr
                            .iter_mut()
                            .find(|(i, _)| i == idx)
                            .map(|(_, s)| s),
                    };
                    if let Some(s) = slot {
                        s.push_str(&more);
                    }
                }
                None => bail!("line {n}: a continuation string outside an entry"),
            }
            continue;
        }
        let Some((keyword, value)) = line.split_once(char::is_whitespace) else {
            bail!("line {n}: cannot read {line:?}");
        };
        let value = unquote(value.trim(), n)?;
        if keyword == "msgctxt" && current.msgid.is_some() {
            flush(&mut current);
        }
        match keyword {
            "msgctxt" => current.msgctxt = Some(value),
            "msgid" => current.msgid = Some(value),
            "msgid_plural" => current.msgid_plural = Some(value),
            "msgstr" => current.msgstr.push((0, value)),
            k => {
                let Some(idx) = k
                    .strip_prefix("msgstr[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|d| d.parse::<usize>().ok())
                else {
                    bail!("line {n}: unknown keyword `{k}`");
                };
                current.msgstr.push((idx, value));
            }
        }
        last = Some((keyword.split('[').next().unwrap_or(keyword).to_owned(), {
            current.msgstr.last().map_or(0, |(i, _)| *i)
        }));
    }
    flush(&mut current);

    let header = entries
        .iter()
        .find(|e| e.msgid.as_deref() == Some("") && e.msgctxt.is_none());
    let header_field = |name: &str| {
        header.and_then(|h| {
            h.msgstr.first().and_then(|(_, s)| {
                s.lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
            })
        })
    };
    let Some(locale) = header_field("Language:").filter(|l| !l.is_empty()) else {
        bail!("the PO header names no `Language`");
    };
    let categories: Vec<String> = match header_field("X-Pushform-Plural-Categories:") {
        Some(c) => c.split_whitespace().map(str::to_owned).collect(),
        None => plural::categories(&locale)
            .iter()
            .map(|c| (*c).to_owned())
            .collect(),
    };
    let mut out = Vec::new();
    for e in entries {
        let (Some(key), Some(msgid)) = (e.msgctxt, e.msgid) else {
            continue;
        };
        if e.fuzzy {
            continue;
        }
        match e.msgid_plural {
            None => {
                if let Some((_, target)) = e.msgstr.into_iter().next()
                    && !target.is_empty()
                {
                    out.push(Translated {
                        key,
                        form: None,
                        source: vec![msgid],
                        target,
                    });
                }
            }
            Some(plural) => {
                for (idx, target) in e.msgstr {
                    if target.is_empty() {
                        continue;
                    }
                    let Some(form) = categories.get(idx) else {
                        bail!(
                            "`{key}`: msgstr[{idx}] has no plural form ({locale} has {})",
                            categories.join(", ")
                        );
                    };
                    out.push(Translated {
                        key: key.clone(),
                        form: Some(form.clone()),
                        source: vec![msgid.clone(), plural.clone()],
                        target,
                    });
                }
            }
        }
    }
    Ok(Imported {
        locale,
        entries: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_strings_escapes_and_fuzzy_entries() {
        let text = "msgid \"\"\nmsgstr \"\"\n\"Language: ru\\n\"\n\n\
                    msgctxt \"a\"\nmsgid \"\"\n\"line one\\n\"\n\"say \\\"hi\\\"\"\nmsgstr \"строка\\n\"\n\"«привет»\"\n\n\
                    #, fuzzy\nmsgctxt \"b\"\nmsgid \"x\"\nmsgstr \"y\"\n\n\
                    msgctxt \"c\"\nmsgid \"{{ n }} file\"\nmsgid_plural \"{{ n }} files\"\nmsgstr[0] \"{{ n }} файл\"\nmsgstr[1] \"\"\nmsgstr[2] \"{{ n }} файлов\"\nmsgstr[3] \"\"\n";
        let imported = read(text).expect("reads");
        assert_eq!(imported.locale, "ru");
        let got: Vec<(String, Option<String>, String)> = imported
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.form.clone(), e.target.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_owned(), None, "строка\n«привет»".to_owned()),
                (
                    "c".to_owned(),
                    Some("one".to_owned()),
                    "{{ n }} файл".to_owned()
                ),
                (
                    "c".to_owned(),
                    Some("many".to_owned()),
                    "{{ n }} файлов".to_owned()
                ),
            ]
        );
        assert_eq!(imported.entries[0].source, ["line one\nsay \"hi\""]);
        assert_eq!(
            imported.entries[1].source,
            ["{{ n }} file", "{{ n }} files"]
        );
    }

    #[test]
    fn plural_forms_header_only_where_the_indices_match_cldr() {
        assert_eq!(plural_forms("en-GB"), Some("nplurals=2; plural=(n != 1);"));
        assert!(plural_forms("ar").is_some_and(|f| f.starts_with("nplurals=6")));
        assert_eq!(plural_forms("ja"), Some("nplurals=1; plural=0;"));
        // French has one, many, other in CLDR: no formula is guessed.
        assert_eq!(plural_forms("fr"), None);
    }
}
