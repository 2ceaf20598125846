//! Writes a generated campaign repository for benchmarks: N campaigns × L locales, with
//! includes, macros and catalogs, and a lockfile holding S sent units whose digests match the
//! current rendering (so `plan` has real history to index and nothing changed).
//!
//! cargo run --release --example corpus -- --campaigns 1000 --locales 3 --sent 1000 --seed 7 --out /tmp/corpus-1000
//!
//! Two shapes (`--shape`): `basic` (the default, the shape of the first benchmarks: 20 catalog
//! keys, one macro, one include) and `realistic` (what real repositories use: a macro file of
//! several macros imported inside a string, an include that itself reads the catalog, catalogs
//! of 30 templated keys, several catalog keys per push, conditionals and filters).
//!
//! Deterministic for a seed: the same arguments give the same files (the lock's lineage too).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use pushform::project::Project;
use pushform::render::render_all;
use pushform::state::{Lock, Record, Status};

const LOCALES: &[&str] = &["en", "zh-CN", "zh-TW", "ja", "ko", "fr", "de", "es"];

struct Args {
    campaigns: usize,
    locales: usize,
    sent: usize,
    seed: u64,
    out: PathBuf,
    realistic: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        campaigns: 1000,
        locales: 3,
        sent: usize::MAX,
        seed: 7,
        out: PathBuf::from("target/corpus"),
        realistic: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--campaigns" => {
                args.campaigns = value()?.parse().map_err(|e| format!("--campaigns: {e}"))?;
            }
            "--locales" => {
                args.locales = value()?.parse().map_err(|e| format!("--locales: {e}"))?;
            }
            "--sent" => args.sent = value()?.parse().map_err(|e| format!("--sent: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--out" => args.out = PathBuf::from(value()?),
            "--shape" => match value()?.as_str() {
                "basic" => args.realistic = false,
                "realistic" => args.realistic = true,
                other => return Err(format!("--shape: basic or realistic, not {other}")),
            },
            "-h" | "--help" => {
                return Err(
                    "usage: corpus --campaigns N --locales L --sent S --seed K --shape basic|realistic --out DIR"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.locales == 0 || args.locales > LOCALES.len() {
        return Err(format!("--locales must be 1..={}", LOCALES.len()));
    }
    if args.sent == usize::MAX {
        args.sent = args.campaigns;
    }
    Ok(args)
}

/// A small deterministic generator (SplitMix64): no dependency, same output everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, text)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = generate(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn generate(args: &Args) -> anyhow::Result<()> {
    let out = &args.out;
    if out.exists() {
        fs::remove_dir_all(out)?;
    }
    let locales = &LOCALES[..args.locales];
    let mut rng = Rng(args.seed);
    if args.realistic {
        write_realistic(args, locales, &mut rng)?;
    } else {
        write_basic(args, locales, &mut rng)?;
    }
    write_lock(args)
}

/// The shape of the first benchmarks: one macro, one include, 22 catalog keys.
fn write_basic(args: &Args, locales: &[&str], rng: &mut Rng) -> anyhow::Result<()> {
    let out = &args.out;
    write(
        &out.join("pushform.yaml"),
        "quota: {per_hour: 2, per_day: 3, timezone: Asia/Shanghai}\n\
         locales: {default: en, fallback: {en-GB: en}}\n\
         defaults:\n  push:\n    platform: [ios, android]\n    fromuserid: ops-bot\n",
    )?;
    write(
        &out.join("templates/macros.j2"),
        "{% macro cta(locale) %}{% if locale == 'en' %}Open the app{% else %}打开应用{% endif %}{% endmacro %}\n",
    )?;
    write(
        &out.join("templates/footer.j2"),
        "{{ t.brand }} · {{ campaign }}",
    )?;
    for (i, l) in locales.iter().enumerate() {
        let mut catalog = format!("brand: Brand-{l}\nopen_app: open-{l}\n");
        for k in 0..20 {
            let _ = writeln!(
                catalog,
                "common_{k}: \"{l} common string {k} for {{{{ campaign }}}}\""
            );
        }
        let _ = writeln!(catalog, "greeting: \"hello {i} {{{{ name }}}}\"");
        write(&out.join(format!("templates/locales/{l}.yaml")), &catalog)?;
    }
    for c in 0..args.campaigns {
        let id = format!("campaign-{c:06}");
        let package = if c % 2 == 0 {
            "com.example.student"
        } else {
            "com.example.teacher"
        };
        let discount = 5 + rng.below(60);
        let mut text = format!(
            "id: {id}\ndescription: generated campaign {c}\nvars:\n  name: user{c}\n  discount: {discount}\nlocales:\n"
        );
        for l in locales {
            let _ = write!(
                text,
                "  {l}:\n    audience: {{ tag: [lang_{}] }}\n    strings:\n      title: \"{l} title {c}\"\n      body: \"{{{{ discount }}}}% off, {l} #{c}\"\n",
                l.to_lowercase().replace('-', "_")
            );
        }
        let _ = write!(
            text,
            "push:\n  audience: {{ packageName: {package}, is_to_all: false }}\n  message:\n    objectName: RC:TxtMsg\n    content:\n      content: \"{{{{ t.body }}}}\"\n      footer: \"{{% include 'footer.j2' %}}\"\n  notification:\n    title: \"{{{{ t.title }}}}\"\n    alert: \"{{% import 'macros.j2' as m %}}{{{{ t.body }}}} {{{{ m.cta(locale) }}}} {{{{ t.greeting }}}}\"\n    ios: {{ badge: {} }}\n",
            1 + rng.below(9)
        );
        write(
            &out.join(format!("campaigns/group-{:03}/{id}.yaml", c / 100)),
            &text,
        )?;
    }
    Ok(())
}

/// What real repositories use: a macro file of several macros imported inside a string, an
/// include that reads the catalog, catalogs of 30 templated keys, conditionals and filters.
fn write_realistic(args: &Args, locales: &[&str], rng: &mut Rng) -> anyhow::Result<()> {
    let out = &args.out;
    write(
        &out.join("pushform.yaml"),
        "quota: {per_hour: 2, per_day: 3, timezone: Asia/Shanghai}\n\
         locales: {default: en, fallback: {en-GB: en, zh-HK: zh-TW}}\n\
         defaults:\n  push:\n    platform: [ios, android]\n    fromuserid: ops-bot\n",
    )?;
    write(
        &out.join("templates/macros.j2"),
        "{% macro cta(locale) %}{% if locale == 'en' %}Open the app{% elif locale[:2] == 'zh' %}打开应用{% else %}{{ locale | upper }}: open{% endif %}{% endmacro %}\n\
         {% macro price(amount, currency='¥') %}{{ currency }}{{ amount }}{% endmacro %}\n\
         {% macro badge(n) %}{% if n > 5 %}🔥{% else %}{{ '★' * n }}{% endif %}{% endmacro %}\n\
         {% macro greet(name, locale) %}{% if locale == 'en' %}Hi {{ name | title }}{% else %}{{ name }}，你好{% endif %}{% endmacro %}\n",
    )?;
    write(
        &out.join("templates/footer.j2"),
        "{{ t.brand }} · {{ t.signature }} · {{ campaign | replace('-', ' ') }}",
    )?;
    for (i, l) in locales.iter().enumerate() {
        let mut catalog =
            format!("brand: Brand-{l}\nsignature: \"the {l} team for {{{{ campaign }}}}\"\n");
        for k in 0..28 {
            let value = match k % 4 {
                0 => format!("{l} offer {k}: {{{{ discount }}}}% off for {{{{ name }}}}"),
                1 => format!("{l} reminder {k} for {{{{ campaign }}}}"),
                2 => format!(
                    "{{% if discount > 30 %}}{l} big sale {k}{{% else %}}{l} sale {k}{{% endif %}}"
                ),
                _ => format!("{l} note {k}: {{{{ name | upper }}}} ({i})"),
            };
            let _ = writeln!(catalog, "key_{k}: \"{value}\"");
        }
        write(&out.join(format!("templates/locales/{l}.yaml")), &catalog)?;
    }
    for c in 0..args.campaigns {
        let id = format!("campaign-{c:06}");
        let package = if c % 2 == 0 {
            "com.example.student"
        } else {
            "com.example.teacher"
        };
        let discount = 5 + rng.below(60);
        let (k1, k2, k3) = (rng.below(28), rng.below(28), rng.below(28));
        let mut text = format!(
            "id: {id}\ndescription: generated campaign {c} (realistic shape)\nvars:\n  name: user{c}\n  discount: {discount}\n  stars: {}\nlocales:\n",
            1 + rng.below(9)
        );
        for l in locales {
            let _ = write!(
                text,
                "  {l}:\n    audience: {{ tag: [lang_{}, segment_{}] }}\n    strings:\n      title: \"{l} title {c}\"\n      body: \"{{{{ discount }}}}% off, {l} #{c}\"\n",
                l.to_lowercase().replace('-', "_"),
                c % 7
            );
        }
        let _ = write!(
            text,
            "push:\n  audience: {{ packageName: {package}, is_to_all: false }}\n  message:\n    objectName: RC:TxtMsg\n    content:\n      content: \"{{{{ t.body }}}} {{{{ t.key_{k1} }}}} {{{{ t.key_{k3} }}}}\"\n      footer: \"{{% include 'footer.j2' %}}\"\n  notification:\n    title: \"{{{{ t.title }}}}\"\n    alert: \"{{% import 'macros.j2' as m %}}{{{{ m.greet(name, locale) }}}}: {{{{ t.body }}}} {{{{ m.price(discount) }}}} {{{{ m.badge(stars) }}}} {{{{ m.cta(locale) }}}}\"\n    ios: {{ badge: {}, title: \"{{{{ t.key_{k2} }}}}\" }}\n    android: {{ alert: \"{{{{ t.key_{k2} }}}} {{{{ t.signature }}}}\" }}\n",
            1 + rng.below(9)
        );
        write(
            &out.join(format!("campaigns/group-{:03}/{id}.yaml", c / 100)),
            &text,
        )?;
    }
    Ok(())
}

/// The lock: the first S units, sent over the past days, with their real digests.
fn write_lock(args: &Args) -> anyhow::Result<()> {
    let out = &args.out;
    let project = Project::load(out)?;
    let (units, findings) = render_all(&project);
    if let Some(f) = findings.iter().find(|f| f.is_error()) {
        anyhow::bail!("generated corpus does not render: {f}");
    }
    let mut lock = Lock::new();
    lock.lineage = format!("corpus-seed-{}", args.seed);
    let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse()?;
    let tz = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("utc"));
    for (i, u) in units.iter().take(args.sent).enumerate() {
        // 3 a day, spread 8 hours apart: a history that respects the quota.
        let at = start + TimeDelta::hours(8 * i as i64);
        lock.sends.push(Record {
            push_id: Some(format!("push{i:08}")),
            request_id: Some(format!("req-{i:08}")),
            endpoint: Some("https://api.rong-api.com".to_owned()),
            ..Record::attempt(
                u.key.clone(),
                u.campaign.clone(),
                u.locale.clone(),
                u.digest.clone(),
                u.json_body(),
                Status::Sent,
                at.with_timezone(&tz),
            )
        });
    }
    lock.serial = 1;
    write(
        &out.join("pushform.lock"),
        &pushform::state::to_pretty_json(&lock),
    )?;
    println!(
        "wrote {} campaigns × {} locales = {} units, {} sent in the lock, to {}",
        args.campaigns,
        args.locales,
        units.len(),
        lock.sends.len(),
        out.display()
    );
    Ok(())
}
