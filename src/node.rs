//! A YAML document as a tree that remembers where every value came from.
//!
//! Campaign `push` sections, `vars`, string catalogs and `defaults.push` are not typed until after
//! they have been deep-merged and rendered, but every finding about them must still name the file
//! and line the user wrote. So they are parsed into this tree first: each node keeps its file and
//! line through merging and rendering, and a field path (`push.notification.title`) can be traced
//! back to a source location at any stage.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a value was written: a file (relative to the project root) and a 1-based line (0 if unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: Option<Arc<str>>,
    pub line: u32,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), 0) => write!(f, "{file}"),
            (Some(file), line) => write!(f, "{file}:{line}"),
            (None, 0) => write!(f, "<unknown>"),
            (None, line) => write!(f, "line {line}"),
        }
    }
}

/// One mapping entry; the key's own line is kept because it is where a user looks for a field.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_line: u32,
    pub value: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub origin: Origin,
}

impl Node {
    pub fn new(kind: Kind) -> Self {
        Node {
            kind,
            origin: Origin::default(),
        }
    }

    pub fn empty_map() -> Self {
        Node::new(Kind::Map(Vec::new()))
    }

    /// Stamps every node of the tree with the file it was read from.
    pub fn set_file(&mut self, file: &Arc<str>) {
        self.origin.file = Some(Arc::clone(file));
        match &mut self.kind {
            Kind::Seq(items) => items.iter_mut().for_each(|n| n.set_file(file)),
            Kind::Map(entries) => entries.iter_mut().for_each(|e| e.value.set_file(file)),
            _ => {}
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// The origin of the value at a dotted path (`notification.ios.badge`, `audience.tag.3`), or of
    /// the deepest ancestor that exists: a missing field is reported where its parent is.
    pub fn locate(&self, path: &str) -> Origin {
        let mut node = self;
        let mut best = self.origin.clone();
        if path.is_empty() {
            return best;
        }
        for part in path.split('.') {
            let next = match &node.kind {
                Kind::Map(entries) => entries.iter().find(|e| e.key == part).map(|e| {
                    best = Origin {
                        file: e.value.origin.file.clone(),
                        line: e.key_line,
                    };
                    &e.value
                }),
                Kind::Seq(items) => part
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .inspect(|n| best = n.origin.clone()),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        best
    }

    /// Deep merge: mappings merge key by key, and anything else from `over` replaces `self`
    /// (a locale's `audience.tag` replaces the campaign's list, it never appends to it).
    pub fn merge_over(base: &Node, over: &Node) -> Node {
        match (&base.kind, &over.kind) {
            (Kind::Map(b), Kind::Map(o)) => {
                let mut out: Vec<Entry> = b.clone();
                for entry in o {
                    if let Some(existing) = out.iter_mut().find(|e| e.key == entry.key) {
                        existing.value = Node::merge_over(&existing.value, &entry.value);
                        existing.key_line = entry.key_line;
                    } else {
                        out.push(entry.clone());
                    }
                }
                Node {
                    kind: Kind::Map(out),
                    origin: over.origin.clone(),
                }
            }
            _ => over.clone(),
        }
    }

    /// Plain JSON, dropping origins. Mapping keys come out sorted (serde_json's map is a BTreeMap).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Events one file may replay through aliases (`*name`). A real campaign uses a handful; an
/// alias bomb (an anchor of ten aliases of an anchor of ten aliases ...) is stopped here.
pub(crate) const MAX_ALIAS_EVENTS_PER_FILE: usize = 100_000;

/// Work all the YAML of one run may build: one unit per value, plus one per 64 bytes of text,
/// after aliases are expanded. A repository of 10,000 campaigns needs well under a million;
/// the cap bounds memory (to a few hundred MB) when many files each stay under the per-file
/// limits, which a per-file budget alone cannot do.
pub(crate) const MAX_YAML_WORK_PER_RUN: usize = 2_000_000;

/// What is left of the YAML budget of a run, shared by the threads that parse its files.
#[derive(Clone, Debug)]
pub(crate) struct YamlBudget {
    left: Arc<AtomicUsize>,
    total: usize,
}

impl YamlBudget {
    pub(crate) fn new(total: usize) -> Self {
        YamlBudget {
            left: Arc::new(AtomicUsize::new(total)),
            total,
        }
    }

    pub(crate) fn per_run() -> Self {
        YamlBudget::new(MAX_YAML_WORK_PER_RUN)
    }

    /// Takes `cost` units; false once the budget is spent (and it stays spent).
    fn charge(&self, cost: usize) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(cost)
            })
            .is_ok()
    }
}

thread_local! {
    /// The budget that `Node` values parsed on this thread are charged to, if any.
    static BUDGET: RefCell<Option<YamlBudget>> = const { RefCell::new(None) };
}

/// Runs `parse` with every `Node` it deserialises on this thread charged to `budget`. A
/// thread-local rather than a parameter, because typed files (campaigns) reach their `Node`
/// fields through serde, which cannot carry one.
pub(crate) fn with_yaml_budget<R>(budget: &YamlBudget, parse: impl FnOnce() -> R) -> R {
    struct Reset(Option<YamlBudget>);
    impl Drop for Reset {
        fn drop(&mut self) {
            BUDGET.with(|b| *b.borrow_mut() = self.0.take());
        }
    }
    let previous = BUDGET.with(|b| b.borrow_mut().replace(budget.clone()));
    let _reset = Reset(previous);
    parse()
}

/// Charges one parsed value to the thread's budget, if one is set.
fn charge_node<E: de::Error>(kind: &Kind) -> Result<(), E> {
    let cost = match kind {
        Kind::Str(s) => 1 + s.len() / 64,
        _ => 1,
    };
    BUDGET.with(|b| match &*b.borrow() {
        Some(budget) if !budget.charge(cost) => Err(E::custom(format!(
            "the YAML of this repository expands to more than pushform's budget of {} values \
             per run (aliases `*name` count once per use); refusing to build it",
            budget.total
        ))),
        _ => Ok(()),
    })
}

/// Parses YAML the way every pushform file is read: YAML 1.2 core booleans only, so `no`, `y` or
/// `on` (a Norwegian locale, a key named `y`) stay strings instead of silently becoming booleans;
/// and a number written with a leading zero or underscores (`007`, `1_000`) stays the text it
/// was written as, instead of passing through a float and rendering as `7.0`.
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(
    src: &str,
) -> Result<T, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_EVENTS_PER_FILE,
        },
    };
    serde_saphyr::from_str_with_options(src, options)
}

/// A parser's or serde's message in the words of a campaign author: no Rust type names
/// (`i64`, `u32`), no hints about library options (`set DuplicateKeyPolicy in Options`).
///
/// `source` is the file the message is about, when known: a duplicate key then also names the
/// line of its first occurrence.
pub(crate) fn plain_words(message: &str, source: Option<&str>) -> String {
    const DUPLICATE: &str = "duplicate mapping key";
    const HINT: &str = ", set DuplicateKeyPolicy in Options if acceptable";
    let mut out = message.replace("invalid type: ", "wrong type: found ");
    for (rust, words) in [
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("i16", "a whole number"),
        ("i8", "a whole number"),
        ("u64", "a whole number (0 or more)"),
        ("u32", "a whole number (0 or more)"),
        ("u16", "a whole number (0 or more)"),
        ("u8", "a whole number (0 or more)"),
        ("usize", "a whole number (0 or more)"),
        ("f64", "a number"),
        ("f32", "a number"),
    ] {
        out = out
            .replace(&format!("expected {rust}"), &format!("expected {words}"))
            .replace(&format!("invalid {rust}"), &format!("not {words}"));
    }
    // The message may repeat (a headline and a caret line under the excerpt): reword each.
    let mut done = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find(DUPLICATE) {
        done.push_str(&rest[..at]);
        let tail = &rest[at + DUPLICATE.len()..];
        let key = tail
            .strip_prefix(": ")
            .and_then(|t| t.find(HINT).map(|end| &t[..end]))
            .filter(|k| !k.contains('\n'));
        done.push_str("duplicate key");
        rest = match key {
            Some(key) => {
                done.push_str(&format!(" `{key}`"));
                if let Some(first) = source.and_then(|s| first_key_line(s, key, message)) {
                    done.push_str(&format!(" (first at line {first})"));
                }
                &tail[2 + key.len() + HINT.len()..]
            }
            None => tail.strip_prefix(HINT).unwrap_or(tail),
        };
    }
    done.push_str(rest);
    done
}

/// The line where `key` was first written, in the mapping whose duplicate a message reports at
/// `line L column C` (or `file:L:C`). Looks back from the duplicate for the same key at the same
/// indentation, stopping where the mapping starts (a line indented less).
fn first_key_line(source: &str, key: &str, message: &str) -> Option<usize> {
    let (line, column) = message_position(message)?;
    let lines: Vec<&str> = source.lines().collect();
    let here = lines.get(line.checked_sub(1)?)?;
    let indent = column.checked_sub(1)?;
    let is_key = |text: &str, at: usize| {
        let rest = text.get(at..).unwrap_or("");
        let rest = rest.trim_start_matches("- ");
        [
            format!("{key}:"),
            format!("\"{key}\":"),
            format!("'{key}':"),
        ]
        .iter()
        .any(|k| rest.starts_with(k.as_str()))
    };
    // A flow mapping (`{a: 1, a: 2}`) on one line: the first occurrence is on the same line.
    if here.get(..indent).is_some_and(|before| {
        [format!("{{{key}:"), format!(", {key}:")]
            .iter()
            .any(|k| before.contains(k.as_str()))
    }) {
        return Some(line);
    }
    let mut first = None;
    for n in (0..line - 1).rev() {
        let text = lines[n];
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let own = text.len() - trimmed.len();
        if own < indent && !trimmed.starts_with("- ") {
            break;
        }
        if own <= indent && is_key(text, own) && (own == indent || trimmed.starts_with("- ")) {
            first = Some(n + 1);
        }
        if own < indent {
            break;
        }
    }
    first
}

/// `(line, column)` from `… line L column C …` or `file:L:C` in a parser message.
fn message_position(message: &str) -> Option<(usize, usize)> {
    if let Some(at) = message.find("line ") {
        let mut words = message[at..].split_whitespace();
        let line = words.nth(1)?.trim_end_matches([',', ':']).parse().ok()?;
        if words.next() == Some("column") {
            let column = words.next()?.trim_end_matches([',', ':']).parse().ok()?;
            return Some((line, column));
        }
    }
    message.lines().find_map(|l| {
        let l = l.trim().strip_prefix("--> ")?;
        let mut parts = l.rsplitn(3, ':');
        let column = parts.next()?.parse().ok()?;
        let line = parts.next()?.parse().ok()?;
        Some((line, column))
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        charge_node::<D::Error>(&spanned.value)?;
        Ok(Node {
            kind: spanned.value,
            origin: Origin {
                file: None,
                line: u32::try_from(spanned.referenced.line()).unwrap_or(u32::MAX),
            },
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        i64::try_from(v)
            .map(Kind::Int)
            .map_err(|_| E::custom(format!("the integer {v} is too large")))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        i64::try_from(v)
            .map(Kind::Int)
            .map_err(|_| E::custom(format!("the integer {v} is too large")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        i64::try_from(v)
            .map(Kind::Int)
            .map_err(|_| E::custom(format!("the integer {v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        Kind::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Kind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries: Vec<Entry> = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyString>>()? {
            let value = map.next_value::<Node>()?;
            let key_line = u32::try_from(key.referenced.line()).unwrap_or(u32::MAX);
            let key = key.value.0;
            if entries.iter().any(|e| e.key == key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{key}` (first at line {})",
                    entries
                        .iter()
                        .find(|e| e.key == key)
                        .map_or(0, |e| e.key_line)
                )));
            }
            entries.push(Entry {
                key,
                key_line,
                value,
            });
        }
        Ok(Kind::Map(entries))
    }
}

/// A mapping key: YAML allows `1: x` or `true: x`; campaign keys are names, so take their text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping key (a name)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".to_owned()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Node {
        from_yaml(src).expect("parses")
    }

    #[test]
    fn keeps_lines_and_order() {
        let n = parse("b: 1\na:\n  x: [1, 2]\n  y: hello\n");
        let keys: Vec<_> = n.as_map().unwrap().iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(n.locate("a.y").line, 4);
        assert_eq!(n.locate("a.x").line, 3);
        // A missing leaf is reported where its nearest parent is.
        assert_eq!(n.locate("a.zzz").line, 2);
    }

    #[test]
    fn merge_replaces_lists_and_merges_maps() {
        let base = parse("audience: {tag: [a, b], packageName: p}\nplatform: [ios]\n");
        let over = parse("audience: {tag: [c]}\n");
        let merged = Node::merge_over(&base, &over);
        assert_eq!(
            merged.to_json(),
            serde_json::json!({"audience": {"tag": ["c"], "packageName": "p"}, "platform": ["ios"]})
        );
    }

    #[test]
    fn numbers_with_leading_zeros_or_underscores_stay_text() {
        let n = parse("a: 007\nb: 1_000\nc: 12\nd: 1.5\ne: -0\n");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": "007", "b": "1_000", "c": 12, "d": 1.5, "e": 0})
        );
    }

    #[test]
    fn the_yaml_budget_is_shared_by_every_file_of_a_run() {
        // Each document is 4 values (the list, 3 items); the budget allows 10.
        let budget = YamlBudget::new(10);
        let one = || with_yaml_budget(&budget, || from_yaml::<Node>("[a, b, c]\n"));
        assert!(one().is_ok());
        assert!(one().is_ok());
        let err = one().unwrap_err().to_string();
        assert!(err.contains("budget of 10 values per run"), "{err}");
        // Outside the scope, parsing is not charged.
        assert!(from_yaml::<Node>("[a, b, c]\n").is_ok());
        // Text counts by its size too: 64 bytes per unit.
        let budget = YamlBudget::new(10);
        let long = format!("[{}]\n", "x".repeat(64 * 20));
        assert!(with_yaml_budget(&budget, || from_yaml::<Node>(&long)).is_err());
    }

    #[test]
    fn an_alias_bomb_stops_at_the_per_file_limit() {
        // 10^4 lists of 10: about 111,000 events, over pushform's limit, under the library's.
        let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, prev) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d")] {
            let aliases = vec![format!("*{prev}"); 10].join(", ");
            src.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        }
        let err = from_yaml::<Node>(&src).unwrap_err().to_string();
        assert!(err.contains("alias replay limit exceeded"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_errors() {
        assert!(from_yaml::<Node>("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn library_wording_becomes_plain_words() {
        let src = "push:\n  notification:\n    alert: hi\n    title: t\n    alert: again\n";
        let err = from_yaml::<Node>(src).expect_err("duplicate");
        let text = err.to_string();
        let plain = plain_words(&text, Some(src));
        assert!(!plain.contains("DuplicateKeyPolicy"), "{plain}");
        assert!(
            plain.contains("duplicate key `alert` (first at line 3)"),
            "{plain}"
        );
        assert_eq!(
            plain_words(r#"invalid type: string "x", expected i64"#, None),
            r#"wrong type: found string "x", expected a whole number"#
        );
        assert_eq!(
            plain_words("invalid u32", None),
            "not a whole number (0 or more)"
        );
        // A flow mapping repeats a key on the same line.
        let src = "a: {b: 1, b: 2}\n";
        let err = from_yaml::<Node>(src).expect_err("duplicate");
        assert!(
            plain_words(&err.to_string(), Some(src)).contains("(first at line 1)"),
            "{err}"
        );
    }

    #[test]
    fn scalars() {
        let n = parse(
            "i: -3\nf: 1.5\nb: true\nn: null\ns: '10'\nno: no\nt: 2026-12-01T10:00:00+08:00\n",
        );
        assert_eq!(
            n.to_json(),
            serde_json::json!({"i": -3, "f": 1.5, "b": true, "n": null, "s": "10", "no": "no", "t": "2026-12-01T10:00:00+08:00"})
        );
    }
}
