//! One campaign file (docs/contract.md §2): its identity, timing, variables, locales and the templated
//! `push` body. Parsing keeps the line of every value so later findings can point at it; the
//! body itself stays an untyped tree until it has been merged and rendered.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::body::{Audience, PushBody};
use crate::config::Config;
use crate::finding::Finding;
use crate::node::{Node, Origin, from_yaml};
use crate::quota::Priority;
use crate::window::{self, Window, WindowFile, WindowSpec};

/// The file format, exactly as written. `Spanned` and `Node` keep lines for findings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "pushform campaign")]
pub(crate) struct CampaignFile {
    /// Unique, stable, never reused: `[a-z0-9][a-z0-9._-]*`.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339 instant; never sent earlier.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_before: Option<Spanned<String>>,
    /// RFC 3339 instant; if no quota slot exists before it, the push expires unsent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub not_after: Option<Spanned<String>>,
    /// Template variables, each available as a top-level name.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub vars: Option<Node>,
    /// Who picks a quota slot first: `high`, `normal` (default) or `low`.
    #[serde(default)]
    #[schemars(with = "Option<Priority>")]
    pub priority: Option<Spanned<Priority>>,
    /// Hours in which this campaign may be sent; replaces `schedule.window` of pushform.yaml.
    #[serde(default)]
    pub send_window: Option<WindowFile>,
    /// Former ids of this campaign: its pushes take over their history in the state, so a
    /// renamed campaign is not sent again.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub moved_from: Option<Vec<Spanned<String>>>,
    /// The id of an earlier campaign whose push this one deliberately sends again.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub resend_of: Option<Spanned<String>>,
    /// One push per locale, in this order.
    #[serde(default)]
    pub locales: Option<IndexMap<String, LocaleFile>>,
    /// The /push.json body with the API's own field names; string leaves are templates.
    #[serde(default)]
    #[schemars(with = "PushBody")]
    pub push: Option<Node>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LocaleFile {
    /// Deep-merged over `push.audience` for this locale.
    #[serde(default)]
    #[schemars(with = "Option<Audience>")]
    pub audience: Option<Node>,
    /// This locale's strings (`t.<key>`), over the catalog `templates/locales/<locale>.yaml`.
    #[serde(default)]
    #[schemars(with = "Option<BTreeMap<String, serde_json::Value>>")]
    pub strings: Option<Node>,
    /// Hours in which this locale may be sent (e.g. in its audience's time zone); replaces
    /// the campaign's `send_window` and `schedule.window`.
    #[serde(default)]
    pub send_window: Option<WindowFile>,
}

#[derive(Clone, Debug)]
pub struct Locale {
    pub name: String,
    pub audience: Option<Node>,
    pub strings: Option<Node>,
    pub window: Option<WindowSpec>,
}

/// An id named by `moved_from` or `resend_of`, with where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdRef {
    pub id: String,
    pub origin: Origin,
}

/// What the scheduler and the re-send guard need to know about one unit beyond its body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitSchedule {
    pub priority: Priority,
    /// The window in force: the locale's, else the campaign's, else the project's.
    pub window: Option<Window>,
    pub moved_from: Vec<IdRef>,
    pub resend_of: Option<IdRef>,
}

#[derive(Clone, Debug)]
pub struct Campaign {
    pub id: String,
    pub id_origin: Origin,
    /// Path relative to the project root, with `/` separators.
    pub file: Arc<str>,
    pub description: Option<String>,
    pub not_before: Option<DateTime<FixedOffset>>,
    pub not_after: Option<DateTime<FixedOffset>>,
    pub not_after_origin: Origin,
    pub vars: Option<Node>,
    pub locales: Vec<Locale>,
    pub push: Node,
    pub priority: Priority,
    pub window: Option<WindowSpec>,
    pub moved_from: Vec<IdRef>,
    pub resend_of: Option<IdRef>,
}

impl Campaign {
    /// Drops the trees a campaign is rendered from, once it has been rendered and checked
    /// (see `commands::validate::Loaded`); its id, file, times and scheduling stay.
    pub(crate) fn forget_trees(&mut self) {
        self.push = Node::new(crate::node::Kind::Null);
        self.vars = None;
        for locale in &mut self.locales {
            locale.audience = None;
            locale.strings = None;
        }
    }

    /// The scheduling of this campaign's unit in `locale` (`None` for a campaign without
    /// locales). A window without its own `timezone` is read in `quota.timezone`.
    pub(crate) fn schedule_for(&self, locale: Option<&str>, config: &Config) -> UnitSchedule {
        let default_tz = config.quota.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
        let own = locale
            .and_then(|name| self.locales.iter().find(|l| l.name == name))
            .and_then(|l| l.window)
            .or(self.window);
        let window = own
            .or_else(|| config.schedule.window_spec())
            .map(|spec| spec.resolve(default_tz));
        UnitSchedule {
            priority: self.priority,
            window,
            moved_from: self.moved_from.clone(),
            resend_of: self.resend_of.clone(),
        }
    }
}

/// Parses a campaign file. Structural errors (YAML syntax, unknown keys, bad timestamps) are
/// returned as findings; a campaign that cannot be read at all yields `None`.
pub(crate) fn parse(
    file: &Arc<str>,
    source: &str,
    findings: &mut Vec<Finding>,
) -> Option<Campaign> {
    let parsed: CampaignFile = match from_yaml(source) {
        Ok(parsed) => parsed,
        Err(err) => {
            findings.push(yaml_finding(file, source, &err));
            return None;
        }
    };
    let at = |line: u64| Origin {
        file: Some(Arc::clone(file)),
        line: u32::try_from(line).unwrap_or(u32::MAX),
    };
    let mut time = |field: &str,
                    value: Option<Spanned<String>>|
     -> (Option<DateTime<FixedOffset>>, Origin) {
        let Some(value) = value else {
            return (None, Origin::default());
        };
        let origin = at(value.referenced.line());
        match DateTime::parse_from_rfc3339(value.value.trim()) {
            Ok(t) => (Some(t), origin),
            Err(err) => {
                findings.push(
                    Finding::error(format!(
                        "`{}` is not an RFC 3339 time ({err}); write e.g. 2026-12-01T10:00:00+08:00",
                        value.value
                    ))
                    .at(&origin)
                    .field(field),
                );
                (None, origin)
            }
        }
    };
    let (not_before, _) = time("not_before", parsed.not_before);
    let (not_after, not_after_origin) = time("not_after", parsed.not_after);
    let window = parsed
        .send_window
        .as_ref()
        .and_then(|w| window::parse(file, "send_window", w, findings));
    let id_ref = |value: Spanned<String>| IdRef {
        id: value.value.trim().to_owned(),
        origin: at(value.referenced.line()),
    };
    let moved_from: Vec<IdRef> = parsed
        .moved_from
        .unwrap_or_default()
        .into_iter()
        .map(id_ref)
        .collect();
    let resend_of = parsed.resend_of.map(id_ref);
    let own_id = parsed.id.value.as_str();
    for (field, r) in moved_from
        .iter()
        .map(|r| ("moved_from", r))
        .chain(resend_of.iter().map(|r| ("resend_of", r)))
    {
        if r.id == own_id {
            findings.push(
                Finding::error(format!(
                    "`{own_id}` names the campaign itself; name the id it had before"
                ))
                .at(&r.origin)
                .field(field),
            );
        }
    }
    let stamp = |node: Option<Node>| {
        node.map(|mut n| {
            n.set_file(file);
            n
        })
    };
    let locales = parsed
        .locales
        .unwrap_or_default()
        .into_iter()
        .map(|(name, spec)| {
            let window = spec.send_window.as_ref().and_then(|w| {
                window::parse(file, &format!("locales.{name}.send_window"), w, findings)
            });
            Locale {
                audience: stamp(spec.audience),
                strings: stamp(spec.strings),
                window,
                name,
            }
        })
        .collect();
    let push = stamp(parsed.push).unwrap_or_else(|| {
        let mut empty = Node::empty_map();
        empty.set_file(file);
        empty
    });
    Some(Campaign {
        id: parsed.id.value,
        id_origin: at(parsed.id.referenced.line()),
        file: Arc::clone(file),
        description: parsed.description,
        not_before,
        not_after,
        not_after_origin,
        vars: stamp(parsed.vars),
        locales,
        push,
        priority: parsed.priority.map(|p| p.value).unwrap_or_default(),
        window,
        moved_from,
        resend_of,
    })
}

/// A YAML or shape error as a finding: the first line of serde-saphyr's message, its location,
/// and its source excerpt (headed by the file's name) as the detail. The finding already says
/// `error` and where, so serde-saphyr's own `error: line L column C: ` prefix is dropped.
pub(crate) fn yaml_finding(file: &str, source: &str, err: &serde_saphyr::Error) -> Finding {
    let text = err.render_with_options(serde_saphyr::render_options! { source_name: Some(file) });
    let text = crate::node::plain_words(&text, Some(source));
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = match err.location() {
        Some(l) => {
            let prefix = format!("line {} column {}: ", l.line(), l.column());
            first.strip_prefix(&prefix).unwrap_or(first)
        }
        None => first,
    };
    let message = if message.is_empty() {
        "invalid YAML"
    } else {
        message
    };
    let rest: Vec<&str> = lines.collect();
    let mut finding = Finding::error(message).in_file(file);
    if let Some(location) = err.location() {
        let line = u32::try_from(location.line()).unwrap_or(u32::MAX);
        finding.line = (line > 0).then_some(line);
    }
    if !rest.is_empty() {
        finding = finding.detail(rest.join("\n"));
    }
    finding
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> (Option<Campaign>, Vec<Finding>) {
        let mut findings = Vec::new();
        let file: Arc<str> = Arc::from("campaigns/a.yaml");
        (parse(&file, src, &mut findings), findings)
    }

    #[test]
    fn parses_locales_in_order() {
        let (c, f) = parse_ok(
            "id: a\nlocales:\n  zh-CN: {strings: {title: x}}\n  en: {strings: {title: y}}\npush: {platform: [ios]}\n",
        );
        assert!(f.is_empty(), "{f:?}");
        let c = c.unwrap();
        let names: Vec<_> = c.locales.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["zh-CN", "en"]);
        assert_eq!(c.push.locate("platform").to_string(), "campaigns/a.yaml:5");
    }

    #[test]
    fn unknown_top_level_key_names_line() {
        let (c, f) = parse_ok("id: a\npush: {}\nnot_befor: 2026-01-01T00:00:00Z\n");
        assert!(c.is_none());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].line, Some(3), "{f:?}");
        assert!(
            f[0].message.starts_with("unknown field `not_befor`"),
            "{}",
            f[0].message
        );
        let detail = f[0].detail.as_deref().unwrap_or_default();
        assert!(detail.contains("--> campaigns/a.yaml:3:1"), "{detail}");
    }

    #[test]
    fn the_narrowest_window_wins_and_a_zone_defaults_to_the_quota_zone() {
        let (c, f) = parse_ok(
            "id: a\npriority: low\nsend_window: {from: \"10:00\", to: \"20:00\"}\n\
             moved_from: [a-old, a-older]\nresend_of: a-first\nlocales:\n  \
             en: {send_window: {from: \"22:00\", to: \"06:00\", timezone: America/New_York}}\n  \
             de: {}\npush: {}\n",
        );
        assert!(f.is_empty(), "{f:?}");
        let c = c.unwrap();
        let config: Config = from_yaml(
            "quota: {timezone: Europe/London}\nschedule: {window: {from: \"09:00\", to: \"21:00\"}}\n",
        )
        .unwrap();
        let en = c.schedule_for(Some("en"), &config);
        assert_eq!(
            en.window.unwrap().to_string(),
            "22:00–06:00 America/New_York"
        );
        assert_eq!(en.priority, Priority::Low);
        let de = c.schedule_for(Some("de"), &config);
        assert_eq!(de.window.unwrap().to_string(), "10:00–20:00 Europe/London");
        let ids: Vec<_> = de
            .moved_from
            .iter()
            .map(|r| (r.id.as_str(), r.origin.line))
            .collect();
        assert_eq!(ids, [("a-old", 4), ("a-older", 4)]);
        assert_eq!(de.resend_of.unwrap().origin.line, 5);
        // Without its own window, the project's applies.
        let (plain, _) = parse_ok("id: b\npush: {}\n");
        let plain = plain.unwrap().schedule_for(None, &config);
        assert_eq!(
            plain.window.unwrap().to_string(),
            "09:00–21:00 Europe/London"
        );
        assert_eq!(plain.priority, Priority::Normal);
        assert_eq!(
            c.schedule_for(None, &Config::default()).window.unwrap().tz,
            chrono_tz::Asia::Shanghai
        );
    }

    #[test]
    fn naming_itself_in_moved_from_or_resend_of_is_an_error() {
        let (_, f) = parse_ok("id: a\nmoved_from: [a]\nresend_of: a\npush: {}\n");
        let fields: Vec<_> = f
            .iter()
            .map(|f| (f.field.as_deref().unwrap(), f.line.unwrap()))
            .collect();
        assert_eq!(fields, [("moved_from", 2), ("resend_of", 3)]);
    }

    #[test]
    fn bad_time_is_a_finding_with_line() {
        let (c, f) = parse_ok("id: a\nnot_after: tomorrow\npush: {}\n");
        assert!(c.is_some());
        assert_eq!(f[0].line, Some(2));
        assert_eq!(f[0].field.as_deref(), Some("not_after"));
        assert!(f[0].message.contains("not an RFC 3339 time"));
    }
}
