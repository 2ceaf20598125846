//! Rendering: from parsed campaigns to the exact `/push.json` bodies, one per (campaign, locale).
//!
//! One minijinja environment per run, loading `templates/` for include/import/macros, strict
//! about undefined names, and with nothing in its context that depends on the clock, randomness
//! or the environment, so the same files always give the same bytes. Every template source (a
//! string leaf at one place in one file) is compiled once, up front, and then rendered for every
//! unit that uses it; strings without template syntax are never compiled. Strings of `t` are
//! rendered lazily, when a template asks for them, so a catalog entry that needs a variable only
//! one campaign defines does not break the others.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use minijinja::value::{Enumerator, Object, ObjectExt, Value};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::body::{self, PushBody};
use crate::campaign::Campaign;
use crate::finding::Finding;
use crate::node::{Entry, Kind, Node, Origin};
use crate::project::{CATALOG_DIR, Jail, Project, TEMPLATES_DIR};

/// Fuel of one template render (minijinja counts about one per instruction and one per 64
/// bytes it creates): about 12 MB of work. The longest real template uses a few hundred.
pub const MAX_RENDER_FUEL: u64 = 200_000;

/// Fuel all the renders of one unit may use together (its leaves and the strings of `t` they
/// ask for), so a campaign of many leaves cannot multiply [`MAX_RENDER_FUEL`].
pub const MAX_UNIT_FUEL: u64 = 2_000_000;

/// The longest text one string may render to: the largest field the API takes
/// (`message.content`, 128 KiB).
pub const MAX_RENDERED_STRING_BYTES: usize = 128 * 1024;

/// The most text all the renders of one unit may produce together; also bounds its body.
pub const MAX_UNIT_RENDERED_BYTES: usize = 512 * 1024;

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
    pub body: PushBody,
    /// The exact bytes POSTed.
    pub bytes: Vec<u8>,
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
    render_all_with(project, &mut |_| {})
}

/// Like `render_all`, calling `on_unit` on each unit as soon as it is rendered: a command can
/// check a unit and drop its tree there, so a large repository never holds every tree at once.
pub fn render_all_with(
    project: &Project,
    on_unit: &mut dyn FnMut(&mut Unit),
) -> (Vec<Unit>, Vec<Finding>) {
    let mut findings = Vec::new();
    let templates = Arc::new(Templates::compile(project, &mut findings));
    let mut units = Vec::new();
    for (index, campaign) in project.campaigns.iter().enumerate() {
        render_campaign(
            project,
            &templates,
            index,
            campaign,
            &mut units,
            &mut findings,
            on_unit,
        );
    }
    (units, findings)
}

/// The environment with every template leaf of the project compiled into it.
struct Templates {
    env: Environment<'static>,
    /// Source → template name. The same source written in many places (`{{ t.title }}` in
    /// every campaign) is compiled once. A source missing here failed to compile (reported
    /// once for every place it is written).
    names: HashMap<String, String>,
    /// Sources rendered at most once in the run (a campaign's own strings, mostly): checked up
    /// front, then compiled again when rendered and dropped, since holding tens of thousands of
    /// compiled templates that are used once costs more memory than compiling one twice.
    once: HashSet<String>,
    /// The merged catalogs of each locale's fallback chain, built once per locale.
    catalogs: Mutex<HashMap<String, Arc<Node>>>,
}

/// Template names of string leaves start with this, so an error can tell a leaf's own
/// template from one it included from `templates/`.
const LEAF_PREFIX: &str = "<leaf ";

/// The name of a leaf template compiled for one render and dropped.
const ONCE_NAME: &str = "<leaf once>";

/// Adds `n` to the uses of every template source in a tree.
fn count_uses<'a>(node: &'a Node, n: usize, uses: &mut HashMap<&'a str, usize>) {
    match &node.kind {
        Kind::Str(source) if is_template(source) => {
            let count = uses.entry(source.as_str()).or_insert(0);
            *count = count.saturating_add(n);
        }
        Kind::Seq(items) => items.iter().for_each(|item| count_uses(item, n, uses)),
        Kind::Map(entries) => entries.iter().for_each(|e| count_uses(&e.value, n, uses)),
        _ => {}
    }
}

/// Why a leaf produced no text: a finding to report, or one that was already reported.
enum LeafError {
    New(Box<Finding>),
    Reported,
}

/// A `push` leaf that failed to render, with what its own lookups into `t` found wrong: an
/// "undefined value" is explained by them, and only by them, not by another leaf's.
struct LeafFailure {
    error: LeafError,
    /// Keys of `t` this leaf asked for that no catalog has.
    missing: Vec<String>,
    /// This leaf asked for a string of `t` whose own template failed.
    broken: bool,
}

impl Templates {
    fn compile(project: &Project, findings: &mut Vec<Finding>) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Debug info names the undefined expression and where it was made (a macro argument
        // comes from the campaign line that called the macro). It is on by default only in
        // debug builds; an error in a release build would otherwise just say "undefined value".
        env.set_debug(true);
        // A YAML block scalar's final newline is part of the text the author wrote.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_auto_escape_callback(|_| AutoEscape::None);
        // A template from a pull request may loop or grow a string without end: fuel bounds
        // the time and memory of every render.
        env.set_fuel(Some(MAX_RENDER_FUEL));
        let dir = project.templates_dir();
        if dir.is_dir() {
            let jail = project.jail.clone();
            env.set_loader(move |name| load_template(&jail, &dir, name));
            env.set_auto_reload(false);
        }
        // How many times each source may be rendered: a campaign's `push` once per locale,
        // defaults and catalogs by any number of units.
        let mut uses: HashMap<&str, usize> = HashMap::new();
        let shared = usize::MAX;
        if let Some(defaults) = &project.config.defaults.push {
            count_uses(defaults, shared, &mut uses);
        }
        for catalog in project.catalogs.values() {
            count_uses(catalog, shared, &mut uses);
        }
        for campaign in &project.campaigns {
            count_uses(&campaign.push, campaign.locales.len().max(1), &mut uses);
            for locale in &campaign.locales {
                if let Some(audience) = &locale.audience {
                    count_uses(audience, 1, &mut uses);
                }
                if let Some(strings) = &locale.strings {
                    count_uses(strings, 1, &mut uses);
                }
            }
        }
        let once: HashSet<&str> = uses
            .into_iter()
            .filter(|&(_, n)| n == 1)
            .map(|(source, _)| source)
            .collect();
        let mut templates = Templates {
            env,
            names: HashMap::new(),
            once: HashSet::new(),
            catalogs: Mutex::new(HashMap::new()),
        };
        if let Some(defaults) = &project.config.defaults.push {
            templates.add_tree(defaults, "push", &once, findings);
        }
        for catalog in project.catalogs.values() {
            templates.add_tree(catalog, "t", &once, findings);
        }
        for campaign in &project.campaigns {
            templates.add_tree(&campaign.push, "push", &once, findings);
            for locale in &campaign.locales {
                if let Some(audience) = &locale.audience {
                    templates.add_tree(audience, "push.audience", &once, findings);
                }
                if let Some(strings) = &locale.strings {
                    templates.add_tree(strings, "t", &once, findings);
                }
            }
        }
        templates
    }

    /// The catalogs of a fallback chain deep-merged, most specific last; built once per chain.
    fn catalog(&self, project: &Project, chain: &[String]) -> Arc<Node> {
        let key = chain.join("\u{0}");
        if let Ok(cache) = self.catalogs.lock()
            && let Some(hit) = cache.get(&key)
        {
            return Arc::clone(hit);
        }
        let mut merged = Node::empty_map();
        for l in chain.iter().rev() {
            if let Some(catalog) = project.catalogs.get(l) {
                merged = Node::merge_over(&merged, catalog);
            }
        }
        let merged = Arc::new(merged);
        if let Ok(mut cache) = self.catalogs.lock() {
            cache.insert(key, Arc::clone(&merged));
        }
        merged
    }

    fn add_tree(
        &mut self,
        node: &Node,
        path: &str,
        once: &HashSet<&str>,
        findings: &mut Vec<Finding>,
    ) {
        match &node.kind {
            Kind::Str(source) if is_template(source) => {
                if self.names.contains_key(source) || self.once.contains(source) {
                    return;
                }
                if once.contains(source.as_str()) {
                    match self.env.template_from_named_str(ONCE_NAME, source) {
                        Ok(_) => {
                            self.once.insert(source.clone());
                        }
                        Err(err) => findings.push(template_finding(&err, node, path, &[])),
                    }
                    return;
                }
                let name = format!("{LEAF_PREFIX}{}>", self.names.len());
                match self.env.add_template_owned(name.clone(), source.clone()) {
                    Ok(()) => {
                        self.names.insert(source.clone(), name);
                    }
                    Err(err) => findings.push(template_finding(&err, node, path, &[])),
                }
            }
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.add_tree(item, &format!("{path}.{i}"), once, findings);
                }
            }
            Kind::Map(entries) => {
                for e in entries {
                    self.add_tree(&e.value, &format!("{path}.{}", e.key), once, findings);
                }
            }
            _ => {}
        }
    }

    fn render(
        &self,
        node: &Node,
        source: &str,
        path: &str,
        ctx: &Value,
        lookups: &Lookups,
    ) -> Result<String, LeafError> {
        let template = if let Some(name) = self.names.get(source) {
            self.env.get_template(name)
        } else if self.once.contains(source) {
            self.env.template_from_named_str(ONCE_NAME, source)
        } else {
            return Err(LeafError::Reported);
        };
        let limit = |message: String| {
            LeafError::New(Box::new(
                Finding::error(message).at(&node.origin).field(path),
            ))
        };
        let over_fuel = || {
            // Said once per unit; its other leaves are then not rendered at all.
            if lookups.out_of_fuel.swap(true, Ordering::Relaxed) {
                LeafError::Reported
            } else {
                limit(format!(
                    "the templates of this push need more than {MAX_UNIT_FUEL} fuel (steps of \
                     work) together; a push may use at most that much"
                ))
            }
        };
        if lookups.fuel.load(Ordering::Relaxed) > MAX_UNIT_FUEL {
            return Err(over_fuel());
        }
        let captured = template
            .and_then(|t| t.render_captured(ctx))
            .map_err(|err| {
                // A render that ran out burnt all its fuel: charge it, so that a campaign of
                // thousands of leaves that each loop until they run out is stopped early.
                if innermost(&err).kind() == minijinja::ErrorKind::OutOfFuel {
                    lookups.fuel.fetch_add(MAX_RENDER_FUEL, Ordering::Relaxed);
                }
                let names: Vec<String> = ctx
                    .try_iter()
                    .map(|keys| keys.filter_map(|k| k.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                LeafError::New(Box::new(template_finding(&err, node, path, &names)))
            })?;
        let fuel = captured.state().fuel_levels().map_or(0, |(used, _)| used);
        let text = captured.into_output();
        if text.len() > MAX_RENDERED_STRING_BYTES {
            return Err(limit(format!(
                "renders to {} bytes; one string may render to at most {MAX_RENDERED_STRING_BYTES} bytes (128 KiB)",
                text.len()
            )));
        }
        let used_fuel = lookups.fuel.fetch_add(fuel, Ordering::Relaxed) + fuel;
        let used_bytes = lookups.bytes.fetch_add(text.len(), Ordering::Relaxed) + text.len();
        if used_fuel > MAX_UNIT_FUEL {
            return Err(over_fuel());
        }
        if used_bytes > MAX_UNIT_RENDERED_BYTES {
            return Err(limit(format!(
                "the templates of this push render more than {MAX_UNIT_RENDERED_BYTES} bytes \
                 together (512 KiB); a push may render at most that much"
            )));
        }
        Ok(text)
    }

    /// Renders every string leaf of a tree, keeping the tree's shape and origins.
    fn render_tree(
        &self,
        node: &Node,
        path: &str,
        ctx: &Value,
        lookups: &Lookups,
        errors: &mut Vec<LeafFailure>,
    ) -> Node {
        let kind = match &node.kind {
            Kind::Str(source) if is_template(source) => {
                let result = self.render(node, source, path, ctx, lookups);
                let (missing, broken) = lookups.take_leaf();
                let used = lookups.take_used();
                match result {
                    Ok(text) => {
                        if !used.is_empty()
                            && let Ok(mut sources) = lookups.sources.lock()
                        {
                            sources.push((path.to_owned(), used));
                        }
                        Kind::Str(text)
                    }
                    Err(error) => {
                        errors.push(LeafFailure {
                            error,
                            missing,
                            broken,
                        });
                        Kind::Str(String::new())
                    }
                }
            }
            Kind::Seq(items) => Kind::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.render_tree(n, &format!("{path}.{i}"), ctx, lookups, errors))
                    .collect(),
            ),
            Kind::Map(entries) => Kind::Map(
                entries
                    .iter()
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_line: e.key_line,
                        value: self.render_tree(
                            &e.value,
                            &format!("{path}.{}", e.key),
                            ctx,
                            lookups,
                            errors,
                        ),
                    })
                    .collect(),
            ),
            other => other.clone(),
        };
        Node {
            kind,
            origin: node.origin.clone(),
        }
    }
}

fn render_campaign(
    project: &Project,
    templates: &Arc<Templates>,
    index: usize,
    campaign: &Campaign,
    units: &mut Vec<Unit>,
    findings: &mut Vec<Finding>,
    on_unit: &mut dyn FnMut(&mut Unit),
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
                units.push(Unit {
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
                    body,
                    bytes,
                    digest,
                    audience_origin: tree.locate("audience"),
                    tree,
                    strings_used,
                    schedule: campaign.schedule_for(if keyed { locale } else { None }, config),
                });
                if let Some(unit) = units.last_mut() {
                    on_unit(unit);
                }
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

        // t: the campaign's strings over the locale's catalog over its fallback chain.
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
        layers.push(self.templates.catalog(self.project, &chain));
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
        if let Some(l) = self.locale {
            if self.strings.is_some() {
                looked.push(format!("locales.{l}.strings"));
            }
            for c in chain {
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

/// The loader of `templates/` for include, import and extends: a name is a path below the
/// folder (no `..`), read only through the repository's [`Jail`], so a template that is a link
/// to `/proc/self/environ` is refused by name and never read.
fn load_template(
    jail: &Jail,
    dir: &std::path::Path,
    name: &str,
) -> Result<Option<String>, minijinja::Error> {
    let mut path = dir.to_path_buf();
    for segment in name.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Ok(None),
            s if s.contains('\\') => return Ok(None),
            s => path.push(s),
        }
    }
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(None);
    }
    jail.read(&path).map(Some).map_err(|err| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("{err:#}"))
    })
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
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

/// serde's type errors, in the words of a campaign author.
fn type_message(inner: &str) -> String {
    crate::node::plain_words(inner, None)
}

/// Whether a template finding is about an undefined value (as `template_finding` words it).
fn is_undefined(message: &str) -> bool {
    message.starts_with("template error: undefined") || message.starts_with("template error: `")
}

/// `names`: the variables the failing template could use (the render context), for a
/// "did you mean" when one is misspelt.
fn template_finding(err: &minijinja::Error, node: &Node, path: &str, names: &[String]) -> Finding {
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
struct Undefined {
    expr: String,
    /// What failed because of it (`tried to use - operator on …`), when not just the output.
    effect: Option<String>,
    from: Option<String>,
}

impl Undefined {
    fn parse(detail: &str) -> Option<Undefined> {
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
    fn from_span(err: &minijinja::Error) -> Option<Undefined> {
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
    fn leaf_line(&self) -> Option<usize> {
        let from = self.from.as_deref()?;
        if !from.starts_with(LEAF_PREFIX) {
            return None;
        }
        from.rsplit(':').next()?.parse().ok()
    }

    fn message(&self, err: &minijinja::Error, names: &[String]) -> String {
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
    fn effect(&self) -> String {
        self.effect
            .as_ref()
            .map_or_else(String::new, |effect| format!(": {effect}"))
    }
}

/// The identifiers written in a template source (names, not keywords or strings' contents).
fn identifiers(source: &str) -> Vec<&str> {
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
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance by characters, a swap of two neighbours counting as one edit (`nmae`, `name`).
fn edit_distance(a: &str, b: &str) -> usize {
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
        let templates = super::Templates::compile(&project, &mut Vec::new());
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

/// The error a template really failed with. An error inside an included template comes wrapped
/// in a "could not render include" error of the including one, which names only the includer.
fn innermost(err: &minijinja::Error) -> &minijinja::Error {
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
fn excerpt(err: &minijinja::Error) -> Option<String> {
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

fn to_value(node: &Node) -> Value {
    match &node.kind {
        Kind::Null => Value::from(()),
        Kind::Bool(b) => Value::from(*b),
        Kind::Int(i) => Value::from(*i),
        Kind::Float(f) => Value::from(*f),
        Kind::Str(s) => Value::from(s.as_str()),
        Kind::Seq(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        Kind::Map(entries) => Value::from(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_value(&e.value)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// What the lookups into `t` found wrong while one unit rendered.
#[derive(Default)]
struct Lookups {
    /// Keys asked for and not found, since the last leaf was rendered.
    missing: Mutex<Vec<String>>,
    /// Whether a string of `t` that failed was asked for, since the last leaf was rendered.
    broken: AtomicBool,
    /// Strings of `t` whose own template failed, for the whole unit.
    failed: Mutex<Vec<Finding>>,
    /// Where the strings of `t` read since the last leaf was rendered are written.
    used: Mutex<Vec<Origin>>,
    /// For each rendered leaf (by field path) that read strings of `t`, where they are written.
    sources: Mutex<Vec<(String, Vec<Origin>)>>,
    /// Fuel and bytes of text all the renders of the unit have used so far.
    fuel: AtomicU64,
    bytes: AtomicUsize,
    /// Whether running out of the unit's fuel was reported.
    out_of_fuel: AtomicBool,
}

impl Lookups {
    /// What went wrong in the lookups of the leaf just rendered, clearing it for the next one.
    fn take_leaf(&self) -> (Vec<String>, bool) {
        let missing = self
            .missing
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        (missing, self.broken.swap(false, Ordering::Relaxed))
    }

    /// Where the strings read by the leaf just rendered are written, clearing it.
    fn take_used(&self) -> Vec<Origin> {
        self.used
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }
}

/// `t`, or one of its nested sections: strings rendered on first use.
struct Strings {
    prefix: String,
    /// Mappings of this section, most specific first (the campaign's `strings`, then the
    /// merged catalogs): the first that has a key wins, and sections merge across them.
    layers: Vec<Arc<Node>>,
    templates: Arc<Templates>,
    ctx: Value,
    shared: Arc<Lookups>,
    cache: Mutex<HashMap<String, Option<Value>>>,
}

impl std::fmt::Debug for Strings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.keys().into_iter().map(|k| (k, "…")))
            .finish()
    }
}

impl Strings {
    fn value(
        layers: Vec<Arc<Node>>,
        prefix: &str,
        templates: &Arc<Templates>,
        ctx: &Value,
        shared: &Arc<Lookups>,
    ) -> Value {
        Value::from_object(Strings {
            prefix: prefix.to_owned(),
            layers,
            templates: Arc::clone(templates),
            ctx: ctx.clone(),
            shared: Arc::clone(shared),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn get(&self, key: &str) -> Option<&Node> {
        self.layers.iter().find_map(|l| l.get(key))
    }

    fn keys(&self) -> BTreeSet<&str> {
        self.layers
            .iter()
            .filter_map(|l| l.as_map())
            .flat_map(|entries| entries.iter().map(|e| e.key.as_str()))
            .collect()
    }

    /// Records, for the leaf being rendered, where the string `key` it read is written.
    fn note_use(&self, key: &str) {
        if let Some(node) = self.get(key)
            && node.as_map().is_none()
            && node.origin.line > 0
            && let Ok(mut used) = self.shared.used.lock()
            && !used.contains(&node.origin)
        {
            used.push(node.origin.clone());
        }
    }

    /// Records, for the leaf being rendered, that `key` gave no value: missing, or broken.
    fn note_failure(&self, key: &str) {
        if self.get(key).is_some() {
            self.shared.broken.store(true, Ordering::Relaxed);
        } else if let Ok(mut missing) = self.shared.missing.lock() {
            missing.push(format!("{}{key}", self.prefix));
        }
    }

    fn resolve(&self, key: &str) -> Option<Value> {
        let Some(node) = self.get(key) else {
            self.note_failure(key);
            return None;
        };
        let path = format!("t.{}{key}", self.prefix);
        match &node.kind {
            Kind::Map(_) => Some(Strings::value(
                self.layers
                    .iter()
                    .filter_map(|l| l.get(key))
                    .filter(|n| n.as_map().is_some())
                    .map(|n| Arc::new(n.clone()))
                    .collect(),
                &format!("{}{key}.", self.prefix),
                &self.templates,
                &self.ctx,
                &self.shared,
            )),
            Kind::Str(source) if is_template(source) => {
                match self
                    .templates
                    .render(node, source, &path, &self.ctx, &self.shared)
                {
                    Ok(text) => Some(Value::from(text)),
                    Err(LeafError::New(finding)) => {
                        if let Ok(mut failed) = self.shared.failed.lock() {
                            failed.push(*finding);
                        }
                        self.note_failure(key);
                        None
                    }
                    Err(LeafError::Reported) => {
                        self.note_failure(key);
                        None
                    }
                }
            }
            _ => Some(to_value(node)),
        }
    }
}

impl Object for Strings {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(key)
        {
            if hit.is_none() {
                // Another leaf asked first; this one must know of the failure too.
                self.note_failure(key);
            } else {
                self.note_use(key);
            }
            return hit.clone();
        }
        let value = self.resolve(key);
        if value.is_some() {
            self.note_use(key);
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key.to_owned(), value.clone());
        }
        value
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| {
            Box::new(
                this.keys()
                    .into_iter()
                    .map(Value::from)
                    .collect::<Vec<_>>()
                    .into_iter(),
            )
        })
    }
}
