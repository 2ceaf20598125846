//! The template environment of a run: every leaf of the project compiled once, up front,
//! the `templates/` loader read only through the repository's jail, and the catalog and
//! contexts the leaves render with. Kept apart from rendering so "compile once, render many"
//! is one place's invariant.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Once};

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior};

use super::diagnostics::{innermost, template_finding};
use super::strings::{Lookups, plural_filter, plural_formatter};
use super::{MAX_RENDER_FUEL, MAX_RENDERED_STRING_BYTES, MAX_UNIT_FUEL, MAX_UNIT_RENDERED_BYTES};
use crate::finding::Finding;
use crate::node::{Entry, Kind, Node};
use crate::project::{Jail, Project};

/// The environment with every template leaf of the project compiled into it.
pub(super) struct Templates {
    pub(super) env: Environment<'static>,
    /// Source → template name. The same source written in many places (`{{ t.title }}` in
    /// every campaign) is compiled once. A source missing here failed to compile (reported
    /// once for every place it is written).
    pub(super) names: HashMap<String, String>,
    /// Sources rendered at most once in the run (a campaign's own strings, mostly): checked up
    /// front, then compiled again when rendered and dropped, since holding tens of thousands of
    /// compiled templates that are used once costs more memory than compiling one twice.
    pub(super) once: HashSet<String>,
    /// The merged catalogs of each locale's fallback chain, built once per locale.
    pub(super) catalogs: Mutex<HashMap<String, Arc<Node>>>,
}

/// Template names of string leaves start with this, so an error can tell a leaf's own
/// template from one it included from `templates/`.
pub(super) const LEAF_PREFIX: &str = "<leaf ";

/// The name of a leaf template compiled for one render and dropped.
pub(super) const ONCE_NAME: &str = "<leaf once>";

/// Adds `n` to the uses of every template source in a tree.
pub(super) fn count_uses<'a>(node: &'a Node, n: usize, uses: &mut HashMap<&'a str, usize>) {
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
pub(super) enum LeafError {
    New(Box<Finding>),
    Reported,
}

/// A `push` leaf that failed to render, with what its own lookups into `t` found wrong: an
/// "undefined value" is explained by them, and only by them, not by another leaf's.
pub(super) struct LeafFailure {
    pub(super) error: LeafError,
    /// Keys of `t` this leaf asked for that no catalog has.
    pub(super) missing: Vec<String>,
    /// This leaf asked for a string of `t` whose own template failed.
    pub(super) broken: bool,
}

impl Templates {
    pub(super) fn compile(project: &Project, findings: &mut Vec<Finding>) -> Templates {
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
        env.add_filter("plural", plural_filter);
        env.set_formatter(plural_formatter);
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
    pub(super) fn catalog(&self, project: &Project, chain: &[String]) -> Arc<Node> {
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

    pub(super) fn add_tree(
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
                    match guarded(|| self.env.template_from_named_str(ONCE_NAME, source)) {
                        Ok(_) => {
                            self.once.insert(source.clone());
                        }
                        Err(err) => findings.push(template_finding(&err, node, path, &[])),
                    }
                    return;
                }
                let name = format!("{LEAF_PREFIX}{}>", self.names.len());
                match guarded(|| self.env.add_template_owned(name.clone(), source.clone())) {
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

    pub(super) fn render(
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
            guarded(|| self.env.template_from_named_str(ONCE_NAME, source))
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
            .and_then(|t| guarded(|| t.render_captured(ctx)))
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
    pub(super) fn render_tree(
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

/// The loader of `templates/` for include, import and extends: a name is a path below the
/// folder (no `..`), read only through the repository's [`Jail`], so a template that is a link
/// to `/proc/self/environ` is refused by name and never read.
pub(super) fn load_template(
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

pub(super) fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

thread_local! {
    /// Whether this thread is inside [`guarded`], whose panics are expected and reported as errors.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

static QUIET_HOOK: Once = Once::new();

/// minijinja panics (`unreachable!`) on a few malformed templates that its parser accepts, such
/// as `{% import 'macros.j2' as m*a %}`. Campaign text comes from pull requests and must never
/// crash pushform: a panic while compiling or rendering one template becomes an ordinary template
/// error of that template, and the panic message is not printed. Panics anywhere else still are.
fn guarded<T>(f: impl FnOnce() -> Result<T, minijinja::Error>) -> Result<T, minijinja::Error> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = GUARDED.with(|g| g.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.unwrap_or_else(|_| {
        Err(minijinja::Error::new(
            ErrorKind::SyntaxError,
            "this template cannot be compiled: the target of a `set`, `for`, `import` or \
             `from` is not a plain name",
        ))
    })
}
