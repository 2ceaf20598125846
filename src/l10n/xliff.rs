//! XLIFF 2.0, the exchange format translation platforms (Crowdin, Lokalise, Weblate) read.
//!
//! Written by hand (the shape is small and fixed, and every text goes through `escape`);
//! read with `quick-xml`, since a translator's tool may reformat the file, add namespaces,
//! entities or CDATA, and a hand-written reader would misread one of them. Each placeholder is
//! an inline code, `<ph id=".." dataRef=".." disp="{{ name }}"/>`, its template text kept in
//! the unit's `<originalData>`, so tools show it as an untouchable tag. A plural entry is a
//! `<group>` with one unit per CLDR form of the target locale (`inbox.unread#few`). A length
//! limit is the Size and Length Restriction module's `slr:sizeRestriction` plus a `maxwidth`
//! note translators see.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::l10n::exchange::{Export, Imported, Text, Translated};
use crate::l10n::placeholders::{self, Piece};

/// Text for XML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Placeholder codes of a unit, numbered in order of first appearance (source, then target).
struct Codes(Vec<String>);

impl Codes {
    fn of(texts: &[&str]) -> Codes {
        let mut all: Vec<String> = Vec::new();
        for t in texts {
            for c in placeholders::codes(t) {
                if !all.iter().any(|a| a == c) {
                    all.push(c.to_owned());
                }
            }
        }
        Codes(all)
    }

    fn id(&self, code: &str) -> usize {
        self.0.iter().position(|c| c == code).map_or(0, |i| i + 1)
    }

    fn inline(&self, text: &str) -> String {
        let mut out = String::new();
        for piece in placeholders::split(text) {
            match piece {
                Piece::Text(t) => out.push_str(&escape(t)),
                Piece::Code(c) => {
                    let id = self.id(c);
                    let _ = write!(
                        out,
                        "<ph id=\"{id}\" dataRef=\"d{id}\" disp=\"{}\"/>",
                        escape(c)
                    );
                }
            }
        }
        out
    }

    fn original_data(&self, indent: &str) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut out = format!("{indent}<originalData>\n");
        for (i, c) in self.0.iter().enumerate() {
            let _ = writeln!(
                out,
                "{indent}  <data id=\"d{}\">{}</data>",
                i + 1,
                escape(c)
            );
        }
        let _ = writeln!(out, "{indent}</originalData>");
        out
    }
}

fn unit(
    out: &mut String,
    indent: &str,
    id: &str,
    maxwidth: Option<usize>,
    source: &str,
    target: Option<&str>,
) {
    let codes = Codes::of(&[source, target.unwrap_or_default()]);
    let size = maxwidth.map_or_else(String::new, |w| format!(" slr:sizeRestriction=\"{w}\""));
    let _ = writeln!(out, "{indent}<unit id=\"{}\"{size}>", escape(id));
    if let Some(w) = maxwidth {
        let _ = writeln!(
            out,
            "{indent}  <notes><note category=\"maxwidth\">{w} characters: shown as a notification title, which the provider cuts at {w}</note></notes>"
        );
    }
    out.push_str(&codes.original_data(&format!("{indent}  ")));
    let state = if target.is_some() {
        "translated"
    } else {
        "initial"
    };
    let _ = writeln!(out, "{indent}  <segment state=\"{state}\">");
    let _ = writeln!(out, "{indent}    <source>{}</source>", codes.inline(source));
    if let Some(t) = target {
        let _ = writeln!(out, "{indent}    <target>{}</target>", codes.inline(t));
    }
    let _ = writeln!(out, "{indent}  </segment>");
    let _ = writeln!(out, "{indent}</unit>");
}

pub(crate) fn write(export: &Export) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<xliff xmlns=\"urn:oasis:names:tc:xliff:document:2.0\" xmlns:slr=\"urn:oasis:names:tc:xliff:sizerestriction:2.0\" version=\"2.0\" srcLang=\"{}\" trgLang=\"{}\">",
        escape(&export.source_locale),
        escape(&export.target_locale)
    );
    let _ = writeln!(out, "  <file id=\"{}\">", escape(&export.original));
    let _ = writeln!(
        out,
        "    <slr:profiles generalProfile=\"xliff:codepoints\"/>"
    );
    for u in &export.units {
        match &u.text {
            Text::Single { source, target } => {
                unit(
                    &mut out,
                    "    ",
                    &u.key,
                    u.maxwidth,
                    source,
                    target.as_deref(),
                );
            }
            Text::Plural { forms, .. } => {
                let _ = writeln!(
                    out,
                    "    <group id=\"{}\" type=\"pushform:plural\">",
                    escape(&u.key)
                );
                for f in forms {
                    unit(
                        &mut out,
                        "      ",
                        &format!("{}#{}", u.key, f.category),
                        u.maxwidth,
                        &f.source,
                        f.target.as_deref(),
                    );
                }
                let _ = writeln!(out, "    </group>");
            }
        }
    }
    out.push_str("  </file>\n</xliff>\n");
    out
}

#[derive(Default)]
struct UnitRead {
    id: String,
    data: BTreeMap<String, String>,
    source: String,
    target: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum In {
    Nothing,
    Data,
    Source,
    Target,
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &str) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a.context("a malformed attribute")?;
        if a.key.local_name().as_ref() == name {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

/// Reads an XLIFF 2.0 file back: its target language and every unit with a non-empty target.
pub(crate) fn read(text: &str) -> Result<Imported> {
    let mut reader = Reader::from_str(text);
    let mut locale = None;
    let mut units: Vec<UnitRead> = Vec::new();
    let mut current: Option<UnitRead> = None;
    let mut inside = In::Nothing;
    let mut data_id = String::new();
    // Placeholders in a unit refer to its originalData, which comes first; texts are built as
    // (text | data reference) pieces and resolved when the unit ends.
    let mut buffer = String::new();
    let mut problems: Vec<String> = Vec::new();
    loop {
        let event = reader
            .read_event()
            .with_context(|| format!("not well-formed XML at byte {}", reader.buffer_position()))?;
        match event {
            // An empty <source/>, <target/> or <data/> holds nothing: an untranslated unit.
            Event::Empty(e) if matches!(e.local_name().as_ref(), "source" | "target" | "data") => {}
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    "xliff" => {
                        locale = attr(&e, "trgLang")?;
                        if attr(&e, "version")?.as_deref() != Some("2.0") {
                            bail!("not an XLIFF 2.0 file (the `version` of <xliff> is not 2.0)");
                        }
                    }
                    "unit" => {
                        current = Some(UnitRead {
                            id: attr(&e, "id")?.unwrap_or_default(),
                            ..UnitRead::default()
                        });
                    }
                    "data" => {
                        inside = In::Data;
                        data_id = attr(&e, "id")?.unwrap_or_default();
                        buffer.clear();
                    }
                    "source" => {
                        inside = In::Source;
                        buffer.clear();
                    }
                    "target" => {
                        inside = In::Target;
                        buffer.clear();
                    }
                    "ph" if matches!(inside, In::Source | In::Target) => {
                        let data_ref = attr(&e, "dataRef")?.unwrap_or_default();
                        let unit = current.as_ref().map_or("", |u| u.id.as_str());
                        match current.as_ref().and_then(|u| u.data.get(&data_ref)) {
                            Some(code) => buffer.push_str(code),
                            None => problems.push(format!(
                                "`{unit}`: a placeholder refers to `{data_ref}`, which the unit's originalData does not hold"
                            )),
                        }
                    }
                    "pc" | "sc" | "ec" | "mrk" | "sm" | "em"
                        if matches!(inside, In::Source | In::Target) =>
                    {
                        let unit = current.as_ref().map_or("", |u| u.id.as_str());
                        problems.push(format!(
                            "`{unit}`: an inline <{}> that pushform never writes (only <ph/> placeholders)",
                            name.as_ref()
                        ));
                    }
                    _ => {}
                }
            }
            Event::Text(t) if inside != In::Nothing => buffer.push_str(&t.xml10_content()),
            Event::CData(t) if inside != In::Nothing => {
                buffer.push_str(&t);
            }
            Event::GeneralRef(r) if inside != In::Nothing => {
                if let Some(c) = r.resolve_char_ref()? {
                    buffer.push(c);
                } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(&r) {
                    buffer.push_str(s);
                } else {
                    bail!("unknown XML entity `&{};`", &*r);
                }
            }
            Event::End(e) => match e.local_name().as_ref() {
                "data" => {
                    if let Some(u) = current.as_mut() {
                        u.data.insert(std::mem::take(&mut data_id), buffer.clone());
                    }
                    inside = In::Nothing;
                }
                "source" => {
                    if let Some(u) = current.as_mut() {
                        u.source.push_str(&buffer);
                    }
                    inside = In::Nothing;
                }
                "target" => {
                    if let Some(u) = current.as_mut() {
                        u.target.get_or_insert_with(String::new).push_str(&buffer);
                    }
                    inside = In::Nothing;
                }
                "unit" => units.extend(current.take()),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !problems.is_empty() {
        bail!("refused: placeholders damaged in {}", problems.join("; "));
    }
    let Some(locale) = locale else {
        bail!("the <xliff> element names no target language (`trgLang`)");
    };
    let entries = units
        .into_iter()
        .filter_map(|u| {
            let target = u.target.filter(|t| !t.is_empty())?;
            let (key, form) = match u.id.split_once('#') {
                Some((k, f)) => (k.to_owned(), Some(f.to_owned())),
                None => (u.id, None),
            };
            Some(Translated {
                key,
                form,
                source: vec![u.source],
                target,
            })
        })
        .collect();
    Ok(Imported { locale, entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::l10n::exchange::{Form, Unit};

    fn export() -> Export {
        Export {
            source_locale: "en".to_owned(),
            target_locale: "ru".to_owned(),
            original: "templates/locales/en.yaml".to_owned(),
            units: vec![
                Unit {
                    key: "title".to_owned(),
                    maxwidth: Some(50),
                    text: Text::Single {
                        source: "Tom & \"Jerry\" <{{ name }}>".to_owned(),
                        target: Some("Том и «Джерри» <{{ name }}>".to_owned()),
                    },
                },
                Unit {
                    key: "unread".to_owned(),
                    maxwidth: None,
                    text: Text::Plural {
                        singular: "{{ n }} message".to_owned(),
                        other: "{{ n }} messages".to_owned(),
                        forms: vec![
                            Form {
                                category: "one",
                                source: "{{ n }} message".to_owned(),
                                target: Some("{{ n }} сообщение".to_owned()),
                            },
                            Form {
                                category: "few",
                                source: "{{ n }} messages".to_owned(),
                                target: None,
                            },
                        ],
                    },
                },
            ],
        }
    }

    #[test]
    fn what_is_written_reads_back_with_placeholders_and_escapes_intact() {
        let text = write(&export());
        assert!(
            text.contains("<unit id=\"title\" slr:sizeRestriction=\"50\">"),
            "{text}"
        );
        assert!(
            text.contains("<source>Tom &amp; &quot;Jerry&quot; &lt;<ph id=\"1\" dataRef=\"d1\" disp=\"{{ name }}\"/>&gt;</source>"),
            "{text}"
        );
        let imported = read(&text).expect("reads");
        assert_eq!(imported.locale, "ru");
        assert_eq!(
            imported.entries,
            [
                Translated {
                    key: "title".to_owned(),
                    form: None,
                    source: vec!["Tom & \"Jerry\" <{{ name }}>".to_owned()],
                    target: "Том и «Джерри» <{{ name }}>".to_owned(),
                },
                Translated {
                    key: "unread".to_owned(),
                    form: Some("one".to_owned()),
                    source: vec!["{{ n }} message".to_owned()],
                    target: "{{ n }} сообщение".to_owned(),
                },
            ],
            "the untranslated `few` form is left out"
        );
    }

    #[test]
    fn cdata_character_references_and_empty_targets_are_read() {
        let text = r#"<?xml version="1.0"?>
<xliff xmlns="urn:oasis:names:tc:xliff:document:2.0" version="2.0" srcLang="en" trgLang="de">
 <file id="f"><unit id="a"><segment><source>Hi</source><target><![CDATA[Hallo & <du>]]>&#x21;</target></segment></unit>
 <unit id="b"><segment><source>Bye</source><target/></segment></unit></file></xliff>"#;
        let imported = read(text).expect("reads");
        assert_eq!(imported.entries.len(), 1);
        assert_eq!(imported.entries[0].target, "Hallo & <du>!");
    }

    #[test]
    fn other_versions_and_inline_markup_it_never_writes_are_refused() {
        let old = r#"<xliff version="1.2" trgLang="de"></xliff>"#;
        assert!(
            read(old)
                .unwrap_err()
                .to_string()
                .contains("not an XLIFF 2.0 file")
        );
        let pc = r#"<xliff version="2.0" trgLang="de"><file id="f"><unit id="a"><segment><source>x</source><target><pc id="1">x</pc></target></segment></unit></file></xliff>"#;
        let err = read(pc).unwrap_err().to_string();
        assert!(err.contains("an inline <pc>"), "{err}");
    }
}
