//! Rendering: from parsed campaigns to the exact `/push.json` bodies, one per (campaign, locale).
//!
//! One minijinja environment per run, loading `templates/` for include/import/macros, strict
//! about undefined names, and with nothing in its context that depends on the clock, randomness
//! or the environment, so the same files always give the same bytes. Every template source (a
//! string leaf at one place in one file) is compiled once, up front, and then rendered for every
//! unit that uses it; strings without template syntax are never compiled. Strings of `t` are
//! rendered lazily, when a template asks for them, so a catalog entry that needs a variable only
//! one campaign defines does not break the others.
//!
//! This file orchestrates (units, bodies, the canonical shape); `templates` compiles and loads,
//! `strings` is the lazy `t` and its plurals, `diagnostics` turns template errors into findings.

mod diagnostics;
mod strings;
mod templates;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use minijinja::value::Value;

use crate::body::{self, PushBody};
use crate::campaign::Campaign;
use crate::finding::Finding;
use crate::node::{Entry, Kind, Node, Origin};
use crate::project::{CATALOG_DIR, Project};

use diagnostics::{is_undefined, type_message};
use strings::{Lookups, Strings, to_value};
use templates::{LeafError, LeafFailure, Templates};

/// Fuel of one template render (minijinja counts about one per instruction and one per 64
/// bytes it creates): about 12 MB of work. The longest real template uses a few hundred.
pub(crate) const MAX_RENDER_FUEL: u64 = 200_000;

/// Fuel all the renders of one unit may use together (its leaves and the strings of `t` they
/// ask for), so a campaign of many leaves cannot multiply [`MAX_RENDER_FUEL`].
pub(crate) const MAX_UNIT_FUEL: u64 = 2_000_000;

/// The longest text one string may render to: the largest field the API takes
/// (`message.content`, 128 KiB).
pub(crate) const MAX_RENDERED_STRING_BYTES: usize = 128 * 1024;

/// The most text all the renders of one unit may produce together; also bounds its body.
pub(crate) const MAX_UNIT_RENDERED_BYTES: usize = 512 * 1024;

/// One push: a campaign in one locale, rendered to the bytes that would be sent.
#[derive(Clone, Debug)]
pub struct Unit {
    /// `<id>` or `<id>/<locale>`.
    pub key: String,
    pub campaign: String,
    /// `None` for a campaign without `locales`.
    pub locale: Option<String>,
    /// The campaign file, relative to the project root.
    pub file: Arc<str>,
    /// Position of the campaign in file-path order, and of the locale in the campaign.
    pub file_index: usize,
    pub locale_index: usize,
    pub not_before: Option<DateTime<FixedOffset>>,
    pub not_after: Option<DateTime<FixedOffset>>,
    /// The body's audience (the rest of the body is read from `bytes` when needed, see
    /// [`Unit::push_body`]: a plan of 30,000 units does not hold 30,000 parsed bodies).
    pub audience: Option<body::Audience>,
    /// The exact bytes POSTed (shared with the plan's copy of the body).
    pub bytes: Arc<[u8]>,
    /// Lowercase hex SHA-1 of `bytes`.
    pub digest: String,
    /// The merged, rendered `push` tree: where each field of the body was written. Commands
    /// that only need the bodies drop it after validation (see `render_all_with`).
    pub tree: Node,
    /// Where the unit's audience was written (kept when the tree is dropped).
    pub audience_origin: Origin,
    /// For each `push` field whose text used strings of `t` (`push.notification.title`), where
    /// those strings are written (a catalog or the campaign's `strings`): a finding about the
    /// rendered text names the line to edit, not only the `{{ t.… }}` that pulled it in.
    pub strings_used: Vec<(String, Vec<Origin>)>,
    /// Priority, send window and history links (`moved_from`, `resend_of`).
    pub schedule: crate::campaign::UnitSchedule,
}

impl Unit {
    /// The body as a JSON value (for the lockfile, plan files and `render`).
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes).unwrap_or(serde_json::Value::Null)
    }

    /// The body's bytes as a [`JsonBody`](crate::body::JsonBody), for a record of it.
    pub fn json_body(&self) -> body::JsonBody {
        body::JsonBody::shared(&self.bytes)
    }

    /// A record of an attempt to send this unit's body, in `status` at `at`.
    pub(crate) fn record(
        &self,
        status: crate::state::Status,
        at: DateTime<FixedOffset>,
    ) -> crate::state::Record {
        crate::state::Record::attempt(
            self.key.clone(),
            self.campaign.clone(),
            self.locale.clone(),
            self.digest.clone(),
            self.json_body(),
            status,
            at,
        )
    }

    /// The body as the typed `PushBody` it was rendered to, read back from [`Unit::bytes`]
    /// (which `PushBody::to_bytes` wrote, so the round trip is exact).
    pub fn push_body(&self) -> PushBody {
        serde_json::from_slice(&self.bytes).unwrap_or_default()
    }
}

pub fn unit_key(campaign: &str, locale: Option<&str>) -> String {
    match locale {
        Some(locale) => format!("{campaign}/{locale}"),
        None => campaign.to_owned(),
    }
}

/// Renders every campaign of the project. Units that fail to render are left out and explained
/// in the findings.
pub fn render_all(project: &Project) -> (Vec<Unit>, Vec<Finding>) {
    let mut findings = Vec::new();
    let templates = Arc::new(Templates::compile(project, &mut findings));
    // The caller keeps its project whole: render a copy of the campaigns, trees kept.
    let mut campaigns = project.campaigns.clone();
    let units = render_campaigns(
        project,
        &templates,
        &mut campaigns,
        None,
        Trees::Keep,
        &mut findings,
        &mut |_, _| {},
    );
    (units, findings)
}

/// What [`render_all_with`] calls on each unit as soon as it is rendered, with its typed body.
pub(crate) type OnUnit<'a> = dyn FnMut(&mut Unit, &PushBody) + 'a;

/// Like `render_all`, calling `on_unit` on each unit as soon as it is rendered (a command can
/// check a unit and drop its tree there), and dropping each campaign's own trees once its
/// units are rendered (`Campaign::forget_trees`): a large repository never holds every tree,
/// typed body or campaign tree at once. The project keeps its campaigns' ids, files, times and
/// scheduling; run whatever reads their trees (`validate::check_project`) before.
pub(crate) fn render_all_with(
    project: &mut Project,
    on_unit: &mut OnUnit<'_>,
) -> (Vec<Unit>, Vec<Finding>) {
    let mut findings = Vec::new();
    let templates = Arc::new(Templates::compile(project, &mut findings));
    // Rendering reads the project's config and catalogs and each campaign it is given, never
    // `project.campaigns`: taken out, they can be emptied batch by batch while the rest is shared.
    let mut campaigns = std::mem::take(&mut project.campaigns);
    let units = render_campaigns(
        project,
        &templates,
        &mut campaigns,
        None,
        Trees::Forget,
        &mut findings,
        on_unit,
    );
    project.campaigns = campaigns;
    (units, findings)
}

/// Whether [`render_campaigns`] keeps each campaign's trees once rendered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trees {
    Keep,
    Forget,
}

/// `threads`: how many to render on (`None`: one per core).
fn render_campaigns(
    project: &Project,
    templates: &Arc<Templates>,
    campaigns: &mut [Campaign],
    threads: Option<usize>,
    trees: Trees,
    findings: &mut Vec<Finding>,
    on_unit: &mut OnUnit<'_>,
) -> Vec<Unit> {
    let forget = |done: &mut [Campaign]| {
        if trees == Trees::Forget {
            done.iter_mut().for_each(Campaign::forget_trees);
        }
    };
    // One unit per locale (or one for a campaign without): no doubling growth of a large Vec.
    let mut units = Vec::with_capacity(campaigns.iter().map(|c| c.locales.len().max(1)).sum());
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    if threads == 1 || campaigns.len() < 2 * RENDER_BATCH_PER_THREAD {
        for (index, campaign) in campaigns.iter_mut().enumerate() {
            render_campaign(
                project,
                templates,
                index,
                campaign,
                findings,
                &mut |mut unit, body| {
                    on_unit(&mut unit, &body);
                    units.push(unit);
                },
            );
            forget(std::slice::from_mut(campaign));
        }
        return units;
    }
    // Every campaign renders independently (one environment, shared read-only; each unit has
    // its own context and budgets), so the campaigns of a batch are split between the cores.
    // The parts are joined in campaign order and `on_unit` is called in that order on this
    // thread, so units, findings and whatever `on_unit` collects come out exactly as a
    // sequential run gives them. Batches bound how many typed bodies and trees exist before
    // `on_unit` has seen (and can drop) them.
    let batch = RENDER_BATCH_PER_THREAD * threads;
    for (first, campaigns) in (0..).step_by(batch).zip(campaigns.chunks_mut(batch)) {
        let per_thread = campaigns.len().div_ceil(threads).max(1);
        let parts: Vec<Part> = std::thread::scope(|scope| {
            let handles: Vec<_> = campaigns
                .chunks(per_thread)
                .enumerate()
                .map(|(part, chunk)| {
                    scope.spawn(move || {
                        let (mut rendered, mut findings) = (Vec::new(), Vec::new());
                        for (i, campaign) in chunk.iter().enumerate() {
                            let index = first + part * per_thread + i;
                            render_campaign(
                                project,
                                templates,
                                index,
                                campaign,
                                &mut findings,
                                &mut |unit, body| rendered.push((unit, body)),
                            );
                        }
                        (rendered, findings)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(part) => part,
                    // A panic is a bug, not bad input: surface it as a sequential run would.
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        });
        forget(campaigns);
        for (rendered, mut part_findings) in parts {
            for (mut unit, body) in rendered {
                on_unit(&mut unit, &body);
                units.push(unit);
            }
            findings.append(&mut part_findings);
        }
    }
    units
}

/// What one thread renders of a batch: its units with their typed bodies, and its findings.
type Part = (Vec<(Unit, PushBody)>, Vec<Finding>);

/// Campaigns each core renders before the parts are joined and `on_unit` sees their units.
const RENDER_BATCH_PER_THREAD: usize = 64;

fn render_campaign(
    project: &Project,
    templates: &Arc<Templates>,
    index: usize,
    campaign: &Campaign,
    findings: &mut Vec<Finding>,
    emit: &mut dyn FnMut(Unit, PushBody),
) {
    let config = &project.config;
    let base = match &config.defaults.push {
        Some(defaults) => Node::merge_over(defaults, &campaign.push),
        None => campaign.push.clone(),
    };
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(node) = &campaign.vars {
        match &node.kind {
            Kind::Map(entries) => {
                for e in entries {
                    vars.insert(e.key.clone(), to_value(&e.value));
                }
            }
            Kind::Null => {}
            _ => {
                findings.push(
                    Finding::error(format!(
                        "must be a mapping of names to values, not {}",
                        node.type_name()
                    ))
                    .at(&node.origin)
                    .field("vars"),
                );
                return;
            }
        }
    }
    // A campaign without `locales` is one unit in the project's default locale (or none).
    let declared: Vec<(Option<&str>, Option<&Node>, Option<&Node>)> = if campaign.locales.is_empty()
    {
        vec![(config.locales.default.as_deref(), None, None)]
    } else {
        campaign
            .locales
            .iter()
            .map(|l| {
                (
                    Some(l.name.as_str()),
                    l.audience.as_ref(),
                    l.strings.as_ref(),
                )
            })
            .collect()
    };
    let keyed = !campaign.locales.is_empty();
    for (locale_index, (locale, audience, strings)) in declared.into_iter().enumerate() {
        let key = unit_key(&campaign.id, if keyed { locale } else { None });
        let input = UnitInput {
            project,
            templates,
            campaign,
            vars: &vars,
            locale,
            audience,
            strings,
            base: &base,
        };
        match input.render() {
            Ok((body, bytes, tree, strings_used)) => {
                let digest = body::digest(&bytes);
                let unit = Unit {
                    key,
                    campaign: campaign.id.clone(),
                    locale: if keyed {
                        locale.map(str::to_owned)
                    } else {
                        None
                    },
                    file: Arc::clone(&campaign.file),
                    file_index: index,
                    locale_index,
                    not_before: campaign.not_before,
                    not_after: campaign.not_after,
                    audience: body.audience.clone(),
                    bytes: bytes.into(),
                    digest,
                    audience_origin: tree.locate("audience"),
                    tree,
                    strings_used,
                    schedule: campaign.schedule_for(if keyed { locale } else { None }, config),
                };
                emit(unit, body);
            }
            Err(errors) => findings.extend(errors.into_iter().map(|f| {
                if f.unit.is_some() {
                    f
                } else {
                    f.unit(key.clone())
                }
            })),
        }
    }
}

/// A unit's body, its bytes, its rendered tree, and where the strings of `t` it used are written.
type Rendered = (PushBody, Vec<u8>, Node, Vec<(String, Vec<Origin>)>);

struct UnitInput<'a> {
    project: &'a Project,
    templates: &'a Arc<Templates>,
    campaign: &'a Campaign,
    vars: &'a BTreeMap<String, Value>,
    locale: Option<&'a str>,
    audience: Option<&'a Node>,
    strings: Option<&'a Node>,
    base: &'a Node,
}

impl UnitInput<'_> {
    fn render(&self) -> Result<Rendered, Vec<Finding>> {
        let mut ctx = self.vars.clone();
        ctx.insert("locale".to_owned(), Value::from(self.locale));
        ctx.insert(
            "campaign".to_owned(),
            Value::from(self.campaign.id.as_str()),
        );
        let plain_ctx = Value::from(ctx.clone());

        // t: the campaign's strings over the locale's catalog, then the same two for each
        // locale of its fallback chain.
        let chain = self
            .locale
            .map(|l| self.project.config.chain(l))
            .unwrap_or_default();
        let mut layers = Vec::with_capacity(2);
        if let Some(strings) = self.strings {
            if strings.as_map().is_some() {
                layers.push(Arc::new(strings.clone()));
            } else if !matches!(strings.kind, Kind::Null) {
                return Err(vec![
                    Finding::error(format!(
                        "must be a mapping of keys to strings, not {}",
                        strings.type_name()
                    ))
                    .at(&strings.origin)
                    .field(format!(
                        "locales.{}.strings",
                        self.locale.unwrap_or_default()
                    )),
                ]);
            }
        }
        self.fallback_layers(&chain, &mut layers);
        let shared = Arc::new(Lookups::default());
        let t = Strings::value(layers, "", self.templates, &plain_ctx, &shared);
        ctx.insert("t".to_owned(), t);
        let ctx = Value::from(ctx);

        let mut push = self.base.clone();
        if let Some(audience) = self.audience {
            let wrapper = Node {
                kind: Kind::Map(vec![Entry {
                    key: "audience".to_owned(),
                    key_line: audience.origin.line,
                    value: audience.clone(),
                }]),
                origin: audience.origin.clone(),
            };
            push = Node::merge_over(&push, &wrapper);
        }
        let mut errors = Vec::new();
        let mut tree = self
            .templates
            .render_tree(&push, "push", &ctx, &shared, &mut errors);
        if !errors.is_empty() {
            return Err(self.explain(errors, &shared, &chain));
        }
        normalise(&mut tree);
        let json = tree.to_json();
        match serde_path_to_error::deserialize::<_, PushBody>(json) {
            Ok(body) => {
                let bytes = body.to_bytes();
                let sources = shared
                    .sources
                    .lock()
                    .map(|mut s| std::mem::take(&mut *s))
                    .unwrap_or_default();
                Ok((body, bytes, tree, sources))
            }
            Err(err) => {
                let path = err.path().to_string();
                let path = if path == "." { String::new() } else { path };
                let inner = err.into_inner().to_string();
                let origin = tree.locate(&path);
                let field = if path.is_empty() {
                    "push".to_owned()
                } else {
                    format!("push.{path}")
                };
                Err(vec![
                    Finding::error(type_message(&inner))
                        .at(&origin)
                        .field(field),
                ])
            }
        }
    }

    /// Turns leaf errors into findings, naming the real cause: a broken string of `t`, or a
    /// translation that is missing, rather than the "undefined value" it surfaced as.
    fn explain(
        &self,
        errors: Vec<LeafFailure>,
        shared: &Lookups,
        chain: &[String],
    ) -> Vec<Finding> {
        let mut out: Vec<Finding> = shared.failed.lock().map(|f| f.clone()).unwrap_or_default();
        for LeafFailure {
            error,
            missing,
            broken,
        } in errors
        {
            let LeafError::New(finding) = error else {
                continue;
            };
            let mut finding = *finding;
            if is_undefined(&finding.message) {
                if broken {
                    // The string of `t` that failed has been reported: this is only its echo.
                    continue;
                }
                if !missing.is_empty() {
                    let mut keys: Vec<String> = Vec::with_capacity(missing.len());
                    for key in missing {
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                    finding.message = self.missing_message(&keys, chain);
                    finding.detail = None;
                }
            }
            out.push(finding);
        }
        out
    }

    fn missing_message(&self, missing: &[String], chain: &[String]) -> String {
        let mut looked = Vec::new();
        if self.locale.is_some() {
            for c in chain {
                if self.campaign_strings(c).is_some() {
                    looked.push(format!("locales.{c}.strings"));
                }
                let state = if self.project.catalogs.contains_key(c) {
                    ""
                } else if self.project.broken_catalogs.contains(c) {
                    " (does not parse)"
                } else {
                    " (no such file)"
                };
                looked.push(format!("{CATALOG_DIR}/{c}.yaml{state}"));
            }
        }
        let wherefrom = if self.locale.is_none() {
            "the campaign has no `locales` and pushform.yaml sets no `locales.default`, so `t` is empty".to_owned()
        } else {
            format!("looked in {}", looked.join(", "))
        };
        let keys: Vec<String> = missing.iter().map(|k| format!("`t.{k}`")).collect();
        format!(
            "missing translation {} for locale `{}` of campaign `{}` ({wherefrom})",
            keys.join(", "),
            self.locale.unwrap_or("none"),
            self.campaign.id
        )
    }
}

impl UnitInput<'_> {
    /// The campaign's own `strings` for locale `l` (the unit's own, or one of its fallback
    /// chain), when they are a mapping.
    fn campaign_strings(&self, l: &str) -> Option<&Node> {
        if Some(l) == self.locale {
            return self.strings.filter(|s| s.as_map().is_some());
        }
        self.campaign
            .locales
            .iter()
            .find(|x| x.name == l)
            .and_then(|x| x.strings.as_ref())
            .filter(|s| s.as_map().is_some())
    }

    /// The layers of `t` after the unit's own `strings`, most specific first: for each locale
    /// of the fallback chain, its catalog, then the campaign's `strings` of the next locale and
    /// that locale's catalog. So `en-GB` reads the campaign's `en` strings before the shared
    /// `en` catalog, and a regional locale needs no copy of every campaign string.
    fn fallback_layers(&self, chain: &[String], layers: &mut Vec<Arc<Node>>) {
        for (i, l) in chain.iter().enumerate() {
            if i > 0
                && let Some(strings) = self.campaign_strings(l)
            {
                layers.push(Arc::new(strings.clone()));
            }
            if self.project.catalogs.contains_key(l) {
                layers.push(
                    self.templates
                        .catalog(self.project, std::slice::from_ref(l)),
                );
            }
        }
    }
}

/// Shape fixes that make the wire body canonical: a `message.content` mapping becomes compact
/// JSON with sorted keys, and platform names are lowercase on the wire.
fn normalise(tree: &mut Node) {
    let Kind::Map(entries) = &mut tree.kind else {
        return;
    };
    for entry in entries.iter_mut() {
        match entry.key.as_str() {
            "message" => {
                if let Kind::Map(fields) = &mut entry.value.kind
                    && let Some(content) = fields.iter_mut().find(|f| f.key == "content")
                    && matches!(content.value.kind, Kind::Map(_) | Kind::Seq(_))
                {
                    let json = content.value.to_json();
                    content.value.kind =
                        Kind::Str(serde_json::to_string(&json).unwrap_or_default());
                }
            }
            "platform" => {
                if let Kind::Seq(items) = &mut entry.value.kind {
                    for item in items {
                        if let Kind::Str(s) = &mut item.kind {
                            *s = s.to_ascii_lowercase();
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project of `n` campaigns in two locales each; campaign 100 does not render.
    fn project(n: usize) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("campaigns")).unwrap();
        for i in 0..n {
            let alert = if i == 100 {
                "{{ no_such_name }}"
            } else {
                "{{ campaign }} in {{ locale }}: {{ n }}"
            };
            std::fs::write(
                dir.path().join(format!("campaigns/c{i:04}.yaml")),
                format!(
                    "id: c{i:04}\nvars: {{n: {i}}}\nlocales:\n  en: {{}}\n  fr: {{}}\npush:\n  \
                     platform: [ios]\n  audience: {{is_to_all: true}}\n  notification: \
                     {{alert: \"{alert}\"}}\n"
                ),
            )
            .unwrap();
        }
        let project = Project::load(dir.path()).unwrap();
        (dir, project)
    }

    #[test]
    fn every_core_renders_exactly_what_one_core_renders_in_the_same_order() {
        let n = 5 * RENDER_BATCH_PER_THREAD + 7;
        let (_dir, project) = project(n);
        let render = |threads: usize| {
            let mut findings = Vec::new();
            let templates = Arc::new(Templates::compile(&project, &mut findings));
            let mut campaigns = project.campaigns.clone();
            let mut seen = Vec::new();
            let units = render_campaigns(
                &project,
                &templates,
                &mut campaigns,
                Some(threads),
                Trees::Forget,
                &mut findings,
                &mut |unit, _| seen.push(unit.key.clone()),
            );
            let units: Vec<_> = units
                .iter()
                .map(|u| {
                    (
                        u.key.clone(),
                        u.file_index,
                        u.locale_index,
                        u.bytes.to_vec(),
                    )
                })
                .collect();
            let forgotten = campaigns
                .iter()
                .all(|c| matches!(c.push.kind, Kind::Null) && c.vars.is_none());
            (units, seen, findings, forgotten)
        };
        let one = render(1);
        assert_eq!(
            one.0.len(),
            2 * (n - 1),
            "every campaign but the broken one"
        );
        assert_eq!(one.1, one.0.iter().map(|u| u.0.clone()).collect::<Vec<_>>());
        assert_eq!(one.2.len(), 2, "{:?}", one.2);
        assert!(one.3, "each campaign's trees are dropped once rendered");
        for threads in [2, 3] {
            assert!(render(threads) == one, "{threads} threads");
        }
    }
}
