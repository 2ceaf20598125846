//! No input makes pushform panic: property tests over mutated campaign, catalog and config
//! files and over arbitrary template strings.
//!
//! They call the library directly (`Project::load`, `render_all`, `check`) on a temp dir per
//! case, which is fast enough for a few hundred cases, and besides "no panic" they check what
//! must hold for any input: every finding is printable and points at a real file and line, every unit's
//! digest is the SHA-1 of its bytes, a project without errors renders every unit, and
//! rendering the same project twice gives the same bytes and the same findings.
//!
//! A last property feeds costly input (nested loops up to ten million, strings repeated and
//! doubled, alias bombs over several files) and holds each case to a time and memory budget:
//! fuel, size caps and the YAML budget must stop it, quickly, without a panic.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use sha1::{Digest, Sha1};

use pushform::finding::{self, Finding};
use pushform::printer::Printer;
use pushform::project::Project;
use pushform::render::{Unit, render_all, unit_key};
use pushform::validate::check;

const SAMPLES: [&str; 4] = [
    include_str!("../../campaigns/student/exam-reminder.yaml"),
    include_str!("../../campaigns/student/winter-sale-2026.yaml"),
    include_str!("../../campaigns/teacher/grading-week.yaml"),
    include_str!("../../campaigns/teacher/maintenance-window.yaml"),
];
const CONFIG: &str = include_str!("../../pushform.yaml");
const CATALOG_EN: &str = include_str!("../../templates/locales/en.yaml");
const CATALOG_ZH_CN: &str = include_str!("../../templates/locales/zh-CN.yaml");
const MACROS: &str = include_str!("../../templates/macros.j2");

/// Pieces of YAML and of template syntax that mutations splice into the files.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "{",
    "}",
    "[",
    "]",
    ",",
    "\"",
    "'",
    "#",
    "\n",
    "\r\n",
    "  ",
    "\t",
    "&a ",
    "*a",
    "<<: *a",
    "!!str ",
    "!!int ",
    "!!binary ",
    "~",
    "null",
    "true",
    "no",
    "|",
    ">-",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "é",
    "冬季",
    "\u{feff}",
    "\u{0}",
    "99999999999999999999",
    "-1",
    "1e400",
    ".nan",
    "0x1F",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{{ t.",
    "{{ nope }}",
    "{% include 'macros.j2' %}",
    "{% include 'nope.j2' %}",
    "id: x\n",
    "locales:\n",
    "  en: {}\n",
    "push: {}\n",
    "message: ",
    "audience: ",
    "is_to_all: ",
    "platform: [IOS]",
];

/// Pieces of template syntax for arbitrary templates.
const TEMPLATE_TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{%-",
    "-%}",
    " ",
    "t.",
    "t.title",
    "t.body",
    "t.nope",
    "campaign",
    "locale",
    "discount",
    "nope",
    "if ",
    "else",
    "endif",
    "for x in ",
    "endfor",
    "range(3)",
    "x",
    "loop.index",
    "include 'part.j2'",
    "include 'nope.j2'",
    "import 'macros.j2' as m",
    "m.signoff(locale)",
    "m.percent_off(discount, locale)",
    "macro f()",
    "endmacro",
    "set y = ",
    "raw",
    "endraw",
    "filter upper",
    "endfilter",
    "block b",
    "endblock",
    "extends 'part.j2'",
    "|",
    "upper",
    "default('x')",
    "tojson",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "'",
    "+",
    "-",
    "~",
    "%",
    "/",
    "//",
    "*",
    "1",
    "0",
    "none",
    "true",
    "is defined",
    "not ",
    "and ",
    "\n",
    "\r\n",
    "é",
    "冬",
    "\u{0}",
    "\\",
];

#[derive(Clone, Debug)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, &'static str),
    InsertChar(Index, char),
    DuplicateLine(Index),
    SwapLines(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), 1..12usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        3 => (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Mutation::Insert(i, t)),
        1 => (any::<Index>(), any::<char>()).prop_map(|(i, c)| Mutation::InsertChar(i, c)),
        1 => any::<Index>().prop_map(Mutation::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
    ]
}

/// Applies a mutation at character (not byte) positions, so the text stays valid UTF-8.
fn apply(text: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match m {
        Mutation::Delete(at, n) => {
            let start = at.index(chars.len() + 1);
            let end = (start + n).min(chars.len());
            chars.drain(start..end);
        }
        Mutation::Insert(at, token) => {
            let at = at.index(chars.len() + 1);
            chars.splice(at..at, token.chars());
        }
        Mutation::InsertChar(at, c) => {
            let at = at.index(chars.len() + 1);
            chars.insert(at, *c);
        }
        Mutation::DuplicateLine(at) | Mutation::SwapLines(at, _) => {
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            if lines.is_empty() {
                return text.to_owned();
            }
            let i = at.index(lines.len());
            match m {
                Mutation::SwapLines(_, other) => {
                    let j = other.index(lines.len());
                    lines.swap(i, j);
                }
                _ => lines.insert(i, lines[i]),
            }
            return lines.concat();
        }
    }
    chars.into_iter().collect()
}

fn mutated(text: &'static str, mutations: &[Mutation]) -> String {
    mutations
        .iter()
        .fold(text.to_owned(), |text, m| apply(&text, m))
}

/// A template: a soup of template syntax, or lines of mostly plain text (with `\r\n` or `\n`
/// endings and non-ASCII text, where byte and character offsets part) ending in template syntax.
fn template() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        4 => select(TEMPLATE_TOKENS).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-z_.]{1,6}",
    ];
    let soup = prop::collection::vec(part.clone(), 0..16).prop_map(|parts| parts.concat());
    let line = ("[a-zé冬 ]{0,4}", select(&["\n", "\r\n"][..]))
        .prop_map(|(text, end)| format!("{text}{end}"));
    let lines = (
        prop::collection::vec(line, 1..6),
        prop::collection::vec(part, 1..6),
    )
        .prop_map(|(lines, last)| format!("{}{}", lines.concat(), last.concat()));
    prop_oneof![soup, lines]
}

/// A YAML double-quoted scalar holding `text` exactly (JSON strings are valid YAML ones).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// Writes the files into a fresh repo, then loads, renders and checks it twice, asserting what
/// must hold for any input.
fn check_pipeline(files: &[(String, String)]) {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("campaigns")).expect("campaigns dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).expect("parent dir");
        fs::write(path, text).expect("write");
    }
    let project = match Project::read(dir.path()) {
        Ok(project) => project,
        // Only an unreadable repository may fail outright; that is an error, not a crash.
        Err(err) => {
            assert!(!format!("{err:#}").is_empty());
            return;
        }
    };
    let (units, findings) = pipeline(&project);
    let (units_again, findings_again) = pipeline(&project);

    let printer = Printer::plain();
    for f in &findings {
        assert!(!f.message.is_empty(), "{f:?}");
        assert!(f.line.is_none_or(|l| l >= 1), "{f:?}");
        // A finding points at a file of the repo (never `<input>` or a template's internal name).
        if let Some(file) = &f.file {
            assert!(dir.path().join(file).is_file(), "no such file: {f:?}");
        }
        let text = printer.format_finding(f);
        assert!(
            text.starts_with("error: ") || text.starts_with("warning: "),
            "{text}"
        );
    }
    for unit in &units {
        assert_eq!(unit.digest, hex::encode(Sha1::digest(&unit.bytes)));
        assert_eq!(*unit.bytes, *unit.push_body().to_bytes());
        assert_eq!(unit.key, unit_key(&unit.campaign, unit.locale.as_deref()));
        let json: serde_json::Value =
            serde_json::from_slice(&unit.bytes).expect("the body is JSON");
        assert!(json.is_object());
    }
    if !findings.iter().any(Finding::is_error) {
        let expected: usize = project
            .campaigns
            .iter()
            .map(|c| c.locales.len().max(1))
            .sum();
        assert_eq!(
            units.len(),
            expected,
            "a unit went missing without an error"
        );
    }
    // Deterministic: same project, same bytes, same findings.
    let bytes = |units: &[Unit]| -> Vec<(String, Vec<u8>)> {
        units
            .iter()
            .map(|u| (u.key.clone(), u.bytes.to_vec()))
            .collect()
    };
    assert_eq!(bytes(&units), bytes(&units_again));
    assert_eq!(findings, findings_again);
}

fn pipeline(project: &Project) -> (Vec<Unit>, Vec<Finding>) {
    let (units, mut findings) = render_all(project);
    findings.extend(project.findings.iter().cloned());
    findings.extend(check(project, &units));
    finding::sort(&mut findings);
    (units, findings)
}

/// The sample repo's config, catalogs and macros (in this order), by path.
fn shared_files() -> Vec<(String, String)> {
    [
        ("pushform.yaml", CONFIG),
        ("templates/locales/en.yaml", CATALOG_EN),
        ("templates/locales/zh-CN.yaml", CATALOG_ZH_CN),
        ("templates/macros.j2", MACROS),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_owned(), text.to_owned()))
    .collect()
}

fn file(path: &str, text: impl Into<String>) -> (String, String) {
    (path.to_owned(), text.into())
}

proptest! {
    // Each case loads and renders a small repo twice (~15 ms in a debug build): 128 cases of
    // each file mutation and 256 of templates keep the suite within a few seconds.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn mutated_campaign_files_never_panic(
        sample in 0..SAMPLES.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut files = shared_files();
        files.push(file("campaigns/a.yaml", mutated(SAMPLES[sample], &mutations)));
        // A second, untouched campaign: one broken file must not break the other.
        files.push(file("campaigns/b.yaml", SAMPLES[(sample + 1) % SAMPLES.len()]));
        check_pipeline(&files);
    }

    #[test]
    fn mutated_config_and_catalogs_never_panic(
        which in 0..3usize,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut files = shared_files();
        files[which].1 = mutated([CONFIG, CATALOG_EN, CATALOG_ZH_CN][which], &mutations);
        // One campaign with locales, catalogs and macros, one in the default locale.
        files.push(file("campaigns/a.yaml", SAMPLES[1]));
        files.push(file("campaigns/b.yaml", SAMPLES[3]));
        check_pipeline(&files);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_templates_never_panic(
        title in template(),
        alert in template(),
        part in template(),
        catalog in template(),
        content in template(),
    ) {
        let campaign = [
            "id: p",
            "vars: {discount: 30}",
            "locales:",
            &format!("  en: {{strings: {{title: {}}}}}", quoted(&title)),
            "  zh-CN: {}",
            "push:",
            "  platform: [ios, android]",
            "  audience: {is_to_all: true}",
            "  message:",
            "    objectName: RC:TxtMsg",
            &format!("    content: {{content: {}}}", quoted(&content)),
            "  notification:",
            "    title: \"{{ t.title }}\"",
            &format!("    alert: {}", quoted(&alert)),
            "    ios: {alert: \"{% include 'part.j2' %}{{ t.body }}\"}",
            "",
        ]
        .join("\n");
        let mut files = shared_files();
        files[1].1 = format!("body: {}\ntitle: x\n", quoted(&catalog));
        files.push(file("campaigns/p.yaml", campaign));
        files.push(file("templates/part.j2", part));
        check_pipeline(&files);
    }
}

/// Template syntax that costs: loops up to ten million, strings repeated and doubled, lookups
/// into `t` whose own strings loop, includes of templates that loop.
fn costly_template() -> impl Strategy<Value = String> {
    let count = select(&["3", "1000", "100000", "10000000"][..]);
    let body = select(
        &[
            "{{ i }}",
            "{{ 'x' * 100000 }}",
            "{{ 'x' * 100000000 }}",
            "{% set ns.s = ns.s ~ ns.s %}",
            "{{ ns.s }}",
            "{{ t.title }}{{ t.body }}",
            "{% include 'part.j2' %}",
            "{{ range(100000)|list|length }}",
            "{{ ns.s|upper|replace('A', 'bb') }}",
        ][..],
    );
    let layer = (count, prop::collection::vec(body, 1..3));
    prop::collection::vec(layer, 0..4).prop_map(|layers| {
        let mut text = String::from("{% set ns = namespace(s='ab') %}");
        for (n, _) in &layers {
            text.push_str(&format!("{{% for i in range({n}) %}}"));
        }
        for (_, bodies) in layers.iter().rev() {
            text.push_str(&bodies.concat());
            text.push_str("{% endfor %}");
        }
        text.push_str("{{ ns.s|length }}");
        text
    })
}

/// `vars` that expand through aliases: `width` aliases per level, `depth` levels.
fn alias_vars(width: usize, depth: usize, text: usize) -> String {
    let mut out = format!("vars:\n  l0: &l0 {}\n", "y".repeat(text));
    for level in 1..=depth {
        let aliases = vec![format!("*l{}", level - 1); width].join(", ");
        out.push_str(&format!("  l{level}: &l{level} [{aliases}]\n"));
    }
    out
}

/// The peak resident memory of this test process, in MiB (Linux).
fn peak_rss_mib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

proptest! {
    // Each case may run templates until their fuel is spent: few cases, each timed.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn hostile_templates_and_yaml_stay_within_time_and_memory(
        alert in costly_template(),
        part in costly_template(),
        catalog in costly_template(),
        width in 1..12usize,
        depth in 0..7usize,
        text in select(&[1usize, 64, 4096, 60_000][..]),
        files_count in 1..4usize,
    ) {
        let started = std::time::Instant::now();
        let mut files = shared_files();
        files[1].1 = format!("body: {}\ntitle: x\n", quoted(&catalog));
        files.push(file("templates/part.j2", part));
        for n in 0..files_count {
            files.push(file(
                &format!("campaigns/p{n}.yaml"),
                [
                    format!("id: p{n}"),
                    alias_vars(width, depth, text),
                    "locales: {en: {}}".to_owned(),
                    "push:".to_owned(),
                    "  platform: [ios, android]".to_owned(),
                    "  audience: {is_to_all: true}".to_owned(),
                    format!("  notification: {{alert: {}}}", quoted(&alert)),
                    String::new(),
                ]
                .join("\n"),
            ));
        }
        check_pipeline(&files);
        let took = started.elapsed();
        // Two renders of every unit (check_pipeline renders twice), each bounded by fuel.
        prop_assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
        let peak = peak_rss_mib();
        prop_assert!(peak < 2048, "peak memory {peak} MiB");
    }
}
