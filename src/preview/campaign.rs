//! `units/<campaign>.html`: a row per platform view, a column per locale (and, for a `changed`
//! unit, the body that was sent beside the new one). Each card is built from the fields that win
//! on its platform and clamped as it clamps, with the cut marked where a phone may cut.

use std::fmt::Write as _;

use super::index::anchor;
use super::phone::View;
use super::{Input, Planned, UnitInput, esc, html, phone, scheduling_facts, symbol, text, when};
use crate::body::PushBody;
use crate::plan::Action;
use crate::report;

/// One column of a campaign page: a unit's body, or the body that was sent.
struct Column<'a> {
    unit: &'a UnitInput<'a>,
    body: &'a PushBody,
    label: String,
    views: Vec<View>,
}

pub(super) fn campaign_page(
    input: &Input,
    by_key: &Planned,
    campaign: &str,
    units: &[&UnitInput],
) -> String {
    let quota = input.quota;
    let mut columns: Vec<Column> = Vec::new();
    for u in units {
        let locale = u.locale.unwrap_or("default locale");
        if let Some(sent) = &u.sent {
            columns.push(Column {
                unit: u,
                body: sent,
                label: format!("{locale}: as sent"),
                views: phone::views(sent),
            });
            columns.push(Column {
                unit: u,
                body: u.body,
                label: format!("{locale}: new"),
                views: phone::views(u.body),
            });
        } else {
            columns.push(Column {
                unit: u,
                body: u.body,
                label: locale.to_owned(),
                views: phone::views(u.body),
            });
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<p><a href=\"../index.html\">← plan</a></p>\n<h1>{}</h1>\n<p class=\"meta\">{}</p>",
        esc(campaign),
        esc(units[0].file)
    );
    let _ = writeln!(
        out,
        "<div class=\"grid\" style=\"grid-template-columns: repeat({}, var(--card))\">",
        columns.len()
    );
    for c in &columns {
        let a = by_key.get(c.unit.key).copied();
        let _ = write!(
            out,
            "<div class=\"colhead\" id=\"{}\">{}{}",
            esc(&anchor(c.unit.key)),
            a.map_or_else(|| symbol(Action::UpToDate), |a| symbol(a.action)),
            esc(&c.label)
        );
        let _ = write!(
            out,
            "<div class=\"meta\">{}</div><div class=\"meta\">to {}</div>",
            esc(&a.map_or_else(|| "up to date".to_owned(), |a| when(a, quota))),
            esc(&audience(c.body))
        );
        if let Some(facts) = a.and_then(scheduling_facts) {
            let _ = write!(out, "<div class=\"meta\">{}</div>", esc(&facts));
        }
        if c.unit.sent.is_some() {
            out.push_str("<div class=\"changed-note\">edited after sending</div>");
        }
        out.push_str("</div>\n");
    }
    // Rows: one per view of any column; a column whose body does not target that platform
    // shows why the cell is empty.
    for spec in &phone::VIEWS {
        if !columns
            .iter()
            .any(|c| c.views.iter().any(|v| v.spec.class == spec.class))
        {
            continue;
        }
        let _ = writeln!(
            out,
            "<div class=\"rowhead\">{} · {}</div>",
            spec.platform.name(),
            spec.name
        );
        for c in &columns {
            match c.views.iter().find(|v| v.spec.class == spec.class) {
                Some(v) => card(&mut out, v, c),
                None => {
                    let _ = writeln!(
                        out,
                        "<div class=\"empty\">not sent to {}</div>",
                        spec.platform.name()
                    );
                }
            }
        }
    }
    out.push_str("</div>\n<h2>Bodies</h2>\n");
    for c in &columns {
        let json = serde_json::to_string_pretty(c.body).unwrap_or_default();
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> {}</summary>\n<pre>{}</pre>\n</details>",
            esc(c.unit.key),
            esc(&c.label),
            esc(&json)
        );
    }
    html::page(&format!("{campaign} · pushform preview"), "../", &out)
}

fn audience(body: &PushBody) -> String {
    let value = serde_json::to_value(body).ok();
    report::audience_text(value.as_ref())
}

/// One notification card; the text boxes carry the platform's clamp, and a cut text its mark.
fn card(out: &mut String, v: &View, c: &Column) {
    let lang = c.unit.locale.unwrap_or("");
    let app = c
        .body
        .audience
        .as_ref()
        .and_then(|a| a.package_name.clone())
        .unwrap_or_else(|| "app".to_owned());
    let _ = write!(
        out,
        "<figure class=\"card {}\"{}>",
        v.spec.class,
        if lang.is_empty() {
            String::new()
        } else {
            format!(" lang=\"{}\"", esc(lang))
        }
    );
    let badge = v
        .badge
        .filter(|b| *b > 0)
        .map(|b| format!("<span class=\"badge\">{b}</span>"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<div class=\"head\"><span class=\"icon\">{badge}</span><span class=\"app\">{}</span><span>now</span></div>",
        esc(&app)
    );
    let mut marks = Vec::new();
    for (class, text) in [("title", &v.title), ("body", &v.body)] {
        if text.lines.is_empty() {
            continue;
        }
        let cut = text.is_cut();
        let _ = write!(
            out,
            "<div class=\"text {class}{}\" data-lines=\"{}\" data-limit=\"{}\" style=\"width:{}em;-webkit-line-clamp:{};line-clamp:{}\">{}</div>",
            if cut { " cut" } else { "" },
            text.lines.len(),
            text.limit,
            fmt_em(v.spec.width),
            text.limit,
            text.limit,
            esc(&text.lines.join("\n"))
        );
        if cut {
            marks.push(format!(
                "✂ {class} cut after {} {}: {} more {} ({} characters) hidden",
                text.limit,
                if text.limit == 1 { "line" } else { "lines" },
                text.lines.len() - text.limit,
                if text.lines.len() - text.limit == 1 {
                    "line"
                } else {
                    "lines"
                },
                text.hidden_chars()
            ));
        }
    }
    if v.title.lines.is_empty() && v.body.lines.is_empty() {
        out.push_str("<div class=\"empty\">no title and no alert: nothing is shown</div>");
    }
    for m in &marks {
        let _ = write!(out, "<div class=\"cutmark\">{}</div>", esc(m));
    }
    if let Some(image) = &v.image {
        let _ = write!(
            out,
            "<div class=\"image\">image from {} (not loaded): {}</div>",
            esc(image.field),
            esc(&image.url)
        );
    }
    let mut facts: Vec<String> = Vec::new();
    if let Some(f) = v.title_field {
        facts.push(format!("title from {f}"));
    }
    if let Some(f) = v.body_field {
        facts.push(format!("text from {f}"));
    }
    if let Some(b) = v.badge {
        facts.push(if b > 0 {
            format!("badge {b}")
        } else {
            "clears the badge".to_owned()
        });
    }
    facts.extend(v.facts.iter().cloned());
    out.push_str("<figcaption><ul>");
    for f in facts {
        let _ = write!(out, "<li>{}</li>", esc(&f));
    }
    out.push_str("</ul></figcaption></figure>\n");
}

/// Twentieths of an em as a CSS number: 340 → "17", 345 → "17.25".
fn fmt_em(u: text::Units) -> String {
    let whole = u / 20;
    let frac = u % 20 * 5;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:02}")
    }
}
