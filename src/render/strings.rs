//! The lazy `t`: strings of the catalog rendered only when a template asks for them (so an
//! entry that needs a variable only one campaign defines does not break the others), the
//! lookups that record what was missing, and CLDR plural forms with their `plural` filter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectExt, Value};

use super::templates::{LeafError, Templates, is_template};
use crate::finding::Finding;
use crate::node::{Kind, Node, Origin};

pub(super) fn to_value(node: &Node) -> Value {
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
pub(super) struct Lookups {
    /// Keys asked for and not found, since the last leaf was rendered.
    pub(super) missing: Mutex<Vec<String>>,
    /// Whether a string of `t` that failed was asked for, since the last leaf was rendered.
    pub(super) broken: AtomicBool,
    /// Strings of `t` whose own template failed, for the whole unit.
    pub(super) failed: Mutex<Vec<Finding>>,
    /// Where the strings of `t` read since the last leaf was rendered are written.
    pub(super) used: Mutex<Vec<Origin>>,
    /// For each rendered leaf (by field path) that read strings of `t`, where they are written.
    pub(super) sources: Mutex<Vec<(String, Vec<Origin>)>>,
    /// Fuel and bytes of text all the renders of the unit have used so far.
    pub(super) fuel: AtomicU64,
    pub(super) bytes: AtomicUsize,
    /// Whether running out of the unit's fuel was reported.
    pub(super) out_of_fuel: AtomicBool,
}

impl Lookups {
    /// What went wrong in the lookups of the leaf just rendered, clearing it for the next one.
    pub(super) fn take_leaf(&self) -> (Vec<String>, bool) {
        let missing = self
            .missing
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        (missing, self.broken.swap(false, Ordering::Relaxed))
    }

    /// Where the strings read by the leaf just rendered are written, clearing it.
    pub(super) fn take_used(&self) -> Vec<Origin> {
        self.used
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }
}

/// `t`, or one of its nested sections: strings rendered on first use.
pub(super) struct Strings {
    pub(super) prefix: String,
    /// Mappings of this section, most specific first (the campaign's `strings`, then the
    /// merged catalogs): the first that has a key wins, and sections merge across them.
    pub(super) layers: Vec<Arc<Node>>,
    pub(super) templates: Arc<Templates>,
    pub(super) ctx: Value,
    pub(super) shared: Arc<Lookups>,
    pub(super) cache: Mutex<HashMap<String, Option<Value>>>,
}

impl std::fmt::Debug for Strings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.keys().into_iter().map(|k| (k, "…")))
            .finish()
    }
}

impl Strings {
    pub(super) fn value(
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

    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        self.layers.iter().find_map(|l| l.get(key))
    }

    pub(super) fn keys(&self) -> BTreeSet<&str> {
        self.layers
            .iter()
            .filter_map(|l| l.as_map())
            .flat_map(|entries| entries.iter().map(|e| e.key.as_str()))
            .collect()
    }

    /// Records, for the leaf being rendered, where the string `key` it read is written.
    pub(super) fn note_use(&self, key: &str) {
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
    pub(super) fn note_failure(&self, key: &str) {
        if self.get(key).is_some() {
            self.shared.broken.store(true, Ordering::Relaxed);
        } else if let Ok(mut missing) = self.shared.missing.lock() {
            missing.push(format!("{}{key}", self.prefix));
        }
    }

    pub(super) fn resolve(&self, key: &str) -> Option<Value> {
        let Some(node) = self.get(key) else {
            self.note_failure(key);
            return None;
        };
        let path = format!("t.{}{key}", self.prefix);
        match &node.kind {
            Kind::Map(_) if crate::l10n::plural::is_plural(node) => {
                Some(Value::from_object(Plural {
                    key: format!("{}{key}", self.prefix),
                    forms: node.clone(),
                    templates: Arc::clone(&self.templates),
                    ctx: self.ctx.clone(),
                    shared: Arc::clone(&self.shared),
                }))
            }
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

/// A string of `t` written as CLDR plural forms. It has no text of its own: `{{ t.key |
/// plural(n) }}` picks the form of `n` in the unit's locale and renders it with the unit's
/// context plus `n`. Printed without the filter, it is an error that says so (see
/// [`plural_formatter`]), never a silent "other" form.
pub(super) struct Plural {
    /// Its key in `t`, for messages (`inbox.unread`).
    pub(super) key: String,
    pub(super) forms: Node,
    pub(super) templates: Arc<Templates>,
    pub(super) ctx: Value,
    pub(super) shared: Arc<Lookups>,
}

impl Object for Plural {}

impl std::fmt::Debug for Plural {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<plural forms of t.{}: {}>", self.key, self.forms())
    }
}

impl Plural {
    pub(super) fn forms(&self) -> String {
        self.forms
            .as_map()
            .unwrap_or_default()
            .iter()
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The form of `n` in the unit's locale, rendered; `other` when the locale's form is
    /// missing (validation reports it).
    pub(super) fn pick(&self, n: &Value) -> Result<String, minijinja::Error> {
        let invalid =
            |msg: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg);
        let number = match n.kind() {
            minijinja::value::ValueKind::Number => n.to_string(),
            minijinja::value::ValueKind::String => n.as_str().unwrap_or_default().to_owned(),
            _ => String::new(),
        };
        let locale = self
            .ctx
            .get_attr("locale")
            .ok()
            .and_then(|l| l.as_str().map(str::to_owned))
            .unwrap_or_else(|| "und".to_owned());
        let Some(category) = crate::l10n::plural::category_for(&locale, &number) else {
            return Err(invalid(format!(
                "`plural` needs a number to choose the form of `t.{}`, not {n:?}",
                self.key
            )));
        };
        let Some(node) = self.forms.get(category).or_else(|| self.forms.get("other")) else {
            return Err(invalid(format!(
                "`t.{}` has no `{category}` form (nor `other`) for {number} in locale `{locale}`",
                self.key
            )));
        };
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        if let Ok(keys) = self.ctx.try_iter() {
            for k in keys {
                if let Some(name) = k.as_str()
                    && let Ok(v) = self.ctx.get_item(&k)
                {
                    ctx.insert(name.to_owned(), v);
                }
            }
        }
        ctx.insert("n".to_owned(), n.clone());
        let ctx = Value::from(ctx);
        let path = format!("t.{}.{category}", self.key);
        match &node.kind {
            Kind::Str(source) if is_template(source) => {
                match self
                    .templates
                    .render(node, source, &path, &ctx, &self.shared)
                {
                    Ok(text) => {
                        if node.origin.line > 0
                            && let Ok(mut used) = self.shared.used.lock()
                            && !used.contains(&node.origin)
                        {
                            used.push(node.origin.clone());
                        }
                        Ok(text)
                    }
                    Err(err) => {
                        if let LeafError::New(finding) = err
                            && let Ok(mut failed) = self.shared.failed.lock()
                        {
                            failed.push(*finding);
                        }
                        self.shared.broken.store(true, Ordering::Relaxed);
                        Err(invalid(format!(
                            "the `{category}` form of `t.{}` failed to render",
                            self.key
                        )))
                    }
                }
            }
            _ => Ok(to_value(node).to_string()),
        }
    }
}

/// The `plural` filter: `{{ t.key | plural(n) }}`.
pub(super) fn plural_filter(value: &Value, n: &Value) -> Result<String, minijinja::Error> {
    if let Some(plural) = value.downcast_object_ref::<Plural>() {
        return plural.pick(n);
    }
    let what = if value.downcast_object_ref::<Strings>().is_some() {
        "a section of `t` whose keys are not all CLDR plural categories (zero, one, two, few, many, other)".to_owned()
    } else {
        format!("the plain text {value:?}")
    };
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!(
            "`plural` applies to a string of `t` written as CLDR plural forms (`one: …`, `other: …`), not to {what}"
        ),
    ))
}

/// Prints values as minijinja does, except a plural entry used without `| plural(n)`.
pub(super) fn plural_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if let Some(plural) = value.downcast_object_ref::<Plural>() {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!(
                "`t.{key}` has plural forms ({forms}): write `{{{{ t.{key} | plural(n) }}}}` with the count that chooses the form",
                key = plural.key,
                forms = plural.forms()
            ),
        ));
    }
    minijinja::escape_formatter(out, state, value)
}
