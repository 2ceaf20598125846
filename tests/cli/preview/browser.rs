//! The preview in a real browser: headless Chromium (Debian's `chromium`, with `fonts-noto-cjk`
//! for the CJK glyphs). `.ci/run` installs both, so in CI these tests always run; on a machine
//! without Chromium they are skipped with a loud message, unless `CI` is set, where a missing
//! browser fails them.
//!
//! Layout facts come from Chromium itself: the pages are copied, a probe script is added to the
//! copy (the site ships none), and `--dump-dom` returns the DOM after the probe wrote what it
//! measured into attributes. Pixels come from `--screenshot`, decoded with the `png` crate.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Repo, files_below};
use crate::team::sample_copy;

use super::NOW;

/// The Chromium binary, or `None` (skip) when it is absent and `CI` is not set.
fn chromium() -> Option<PathBuf> {
    let candidates = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| candidates.iter().map(move |name| dir.join(name)))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no Chromium is installed: the browser tests of the preview must run in CI \
             (.ci/run installs `chromium` and `fonts-noto-cjk`)"
        );
        eprintln!(
            "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPED: browser test of `pushform preview`: no chromium on PATH.      !!!\n\
             !!! Install it: apt-get install -y chromium fonts-noto-cjk                 !!!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    found
}

/// Runs headless Chromium on `page` with `extra` flags, with no network at all. Headless
/// Chromium makes a temporary profile per run, so tests can run in parallel. (An explicit, new
/// `--user-data-dir` makes this Chromium take its screenshots before the first paint: blank.)
fn run_chromium(bin: &Path, page: &Path, extra: &[String]) -> std::process::Output {
    let output = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=3000",
        ])
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed on {}:\n{}",
        page.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A screenshot of `page` at `width`×`height`, as (width, height, RGBA pixels).
fn screenshot(bin: &Path, page: &Path, width: u32, height: u32) -> (u32, u32, Vec<u8>) {
    let out = tempfile::tempdir().unwrap();
    let png_path = out.path().join("shot.png");
    run_chromium(
        bin,
        page,
        &[
            format!("--window-size={width},{height}"),
            format!("--screenshot={}", png_path.display()),
        ],
    );
    decode(&fs::read(&png_path).expect("chromium wrote the screenshot"))
}

fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgba = buf
        .chunks(channels)
        .flat_map(|px| match px.len() {
            3 => [px[0], px[1], px[2], 255],
            4 => [px[0], px[1], px[2], px[3]],
            _ => [px[0], px[0], px[0], 255],
        })
        .collect();
    (info.width, info.height, rgba)
}

/// The site of the sample repository, previewed at the pinned instant.
fn sample_site() -> tempfile::TempDir {
    let repo = sample_copy();
    crate::support::pushform(repo.path(), &["--now", NOW, "preview"]).success();
    repo
}

/// Distinct colours (to 5 bits a channel) and the share of pixels unlike the top-left one.
fn variety(rgba: &[u8]) -> (usize, f64) {
    let background = &rgba[..4];
    let mut colours = std::collections::HashSet::new();
    let mut unlike = 0;
    for px in rgba.chunks(4) {
        colours.insert((px[0] >> 3, px[1] >> 3, px[2] >> 3));
        if px != background {
            unlike += 1;
        }
    }
    (colours.len(), f64::from(unlike) / (rgba.len() / 4) as f64)
}

#[test]
fn the_index_and_a_campaign_page_are_drawn() {
    let Some(bin) = chromium() else { return };
    let repo = sample_site();
    let site = repo.path().join("preview");
    for (page, height) in [("index.html", 1000), ("units/grading-week-2026.html", 1400)] {
        let (w, h, rgba) = screenshot(&bin, &site.join(page), 1280, height);
        assert_eq!((w, h), (1280, height));
        let (colours, share) = variety(&rgba);
        assert!(
            colours >= 64 && share > 0.03,
            "{page} looks blank: {colours} colours, {:.1}% of pixels drawn",
            share * 100.0
        );
    }
}

/// A page of one glyph per 100-pixel cell, in the preview's own stylesheet and font stack.
fn glyph_page(dir: &Path, glyphs: &[&str]) -> PathBuf {
    let mut cells = String::new();
    for (i, g) in glyphs.iter().enumerate() {
        let _ = write!(
            cells,
            "<div class=\"g\" style=\"left:{}px\">{g}</div>",
            i * 100
        );
    }
    let path = dir.join("glyphs.html");
    fs::write(
        &path,
        format!(
            "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
             <link rel=\"stylesheet\" href=\"style.css\"><style>body{{margin:0;padding:0;background:#fff}}\
             .g{{position:absolute;top:0;width:100px;height:100px;font-size:72px;line-height:100px;\
             text-align:center;color:#000}}</style></head><body>{cells}</body></html>"
        ),
    )
    .unwrap();
    path
}

/// The dark pixels of the 100×100 cell `i` of a glyph page screenshot.
fn cell(rgba: &[u8], width: u32, i: u32) -> Vec<bool> {
    let mut out = Vec::with_capacity(100 * 100);
    for y in 0..100 {
        for x in i * 100..i * 100 + 100 {
            let at = ((y * width + x) * 4) as usize;
            let luminance =
                (u32::from(rgba[at]) + u32::from(rgba[at + 1]) + u32::from(rgba[at + 2])) / 3;
            out.push(luminance < 128);
        }
    }
    out
}

fn differing(a: &[bool], b: &[bool]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

#[test]
fn cjk_text_renders_as_glyphs_not_as_missing_glyph_boxes() {
    let Some(bin) = chromium() else { return };
    let repo = sample_site();
    let site = repo.path().join("preview");
    // Four ideographs of the sample, then U+10FFFD (a private-use code point no font has): what
    // a missing glyph looks like on this machine.
    let glyphs = ["冬", "季", "大", "促", "\u{10FFFD}"];
    let page = glyph_page(&site, &glyphs);
    let (w, _, rgba) = screenshot(&bin, &page, 500, 100);
    let cells: Vec<Vec<bool>> = (0..5).map(|i| cell(&rgba, w, i)).collect();
    let missing = &cells[4];
    for (i, glyph) in glyphs[..4].iter().enumerate() {
        let ink = cells[i].iter().filter(|d| **d).count();
        assert!(
            ink > 300,
            "{glyph} drew {ink} dark pixels: nothing rendered"
        );
        assert!(
            differing(&cells[i], missing) > 300,
            "{glyph} looks like a missing glyph (install fonts-noto-cjk)"
        );
        for (j, other) in glyphs[..4].iter().enumerate().skip(i + 1) {
            assert!(
                differing(&cells[i], &cells[j]) > 300,
                "{glyph} and {other} draw the same shape: boxes, not glyphs (install fonts-noto-cjk)"
            );
        }
    }
}

/// Adds the probe to a copy of `page`: for every text box it records whether the browser clips
/// it vertically (line-clamp cut something), and the widest of its lines laid out on its own.
fn probe(page: &Path) -> PathBuf {
    const SCRIPT: &str = r"<script>
for (const el of document.querySelectorAll('.text, .probe-control')) {
  el.setAttribute('data-clamped', String(el.scrollHeight > el.clientHeight));
  let widest = 0;
  for (const line of el.textContent.split('\n')) {
    const p = el.cloneNode(false);
    p.removeAttribute('id');
    p.style.cssText = 'display:inline-block;width:auto;position:absolute;visibility:hidden;white-space:pre';
    p.textContent = line;
    el.parentNode.appendChild(p);
    widest = Math.max(widest, p.getBoundingClientRect().width);
    p.remove();
  }
  el.setAttribute('data-widest', widest.toFixed(2));
  el.setAttribute('data-box', el.getBoundingClientRect().width.toFixed(2));
}
</script>";
    let html = fs::read_to_string(page).unwrap();
    // A control the probe must find too wide, or its width check could never fail.
    let control = "<figure class=\"card\"><div class=\"probe-control\" style=\"width:5em;white-space:pre;overflow:hidden\">WWWWWWWWWWWW</div></figure>";
    let probed = page.with_file_name(format!(
        "probed-{}",
        page.file_name().unwrap().to_string_lossy()
    ));
    fs::write(
        &probed,
        html.replace("</body>", &format!("{control}{SCRIPT}</body>")),
    )
    .unwrap();
    probed
}

/// The value of `name="…"` in an opening tag.
fn attr<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(&tag[start..end])
}

/// Checks every text box of `page` in the browser; returns (cut, whole) counts.
fn check_cuts(bin: &Path, page: &Path) -> (usize, usize) {
    let probed = probe(page);
    let dom =
        String::from_utf8(run_chromium(bin, &probed, &["--dump-dom".to_owned()]).stdout).unwrap();
    let (mut cut, mut whole) = (0, 0);
    let mut control_seen = false;
    for tag in dom.split('<').filter(|t| t.starts_with("div ")) {
        let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
        let Some(class) = attr(tag, "class") else {
            continue;
        };
        let widest: f64 = attr(tag, "data-widest").map_or(-1.0, |v| v.parse().unwrap());
        let box_width: f64 = attr(tag, "data-box").map_or(-1.0, |v| v.parse().unwrap());
        if class == "probe-control" {
            assert!(widest > box_width, "the probe cannot see overflow: {tag}");
            control_seen = true;
            continue;
        }
        if !class.split(' ').any(|c| c == "text") {
            continue;
        }
        let marked = class.split(' ').any(|c| c == "cut");
        let clamped = attr(tag, "data-clamped") == Some("true");
        assert_eq!(
            marked,
            clamped,
            "{}: pushform {} this text, the browser {} it: {tag}",
            page.display(),
            if marked {
                "marks a cut in"
            } else {
                "does not mark"
            },
            if clamped { "clamps" } else { "does not clamp" }
        );
        assert!(
            widest <= box_width,
            "{}: a line is wider ({widest}px) than its box ({box_width}px): pushform's width \
             estimate is not conservative for it: {tag}",
            page.display()
        );
        if marked {
            cut += 1;
        } else {
            whole += 1;
        }
    }
    assert!(control_seen, "the probe did not run on {}", page.display());
    (cut, whole)
}

/// Deterministic texts that stress the width estimate: the widest Latin letters, CJK with its
/// punctuation, emoji, other scripts, long words and URLs, at every length up to a few lines.
fn stress_texts() -> Vec<(String, String)> {
    const WORDS: [&str; 34] = [
        "WWW",
        "MMMM",
        "mmm",
        "www",
        "@@",
        "%%%",
        "Winter",
        "sale",
        "off",
        "everything",
        "I",
        "ill",
        "Grading",
        "open.",
        "Submit",
        "final",
        "grades",
        "by",
        "December",
        "20.",
        "—",
        "supercalifragilisticexpialidocious",
        "https://example.com/a/very/long/path?q=1",
        "期末考试",
        "下周开始，",
        "记得复习！",
        "冬季大促",
        "全场7折，",
        "仅限三天。",
        "成績錄入已開放",
        "🎉",
        "🔥👍",
        "Ünïcödé",
        "Привет",
    ];
    let mut seed: u64 = 0x5eed;
    let mut next = move |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize % n
    };
    let mut texts = Vec::new();
    for i in 0..36 {
        let mut title = String::new();
        while title.chars().count() < 6 + i % 7 * 6 {
            title.push_str(WORDS[next(WORDS.len())]);
            title.push(if next(3) == 0 { '\u{3000}' } else { ' ' });
        }
        let title: String = title.trim().chars().take(50).collect();
        let mut body = String::new();
        while body.chars().count() < 8 + i * 9 {
            body.push_str(WORDS[next(WORDS.len())]);
            if next(4) != 0 {
                body.push(' ');
            }
        }
        texts.push((title.trim().to_owned(), body.trim().to_owned()));
    }
    // The bare extremes: one line of the widest letter in bold, and a line of ideographs.
    texts.push(("W".repeat(50), "m".repeat(200)));
    texts.push(("冬".repeat(50), "季".repeat(200)));
    texts
}

#[test]
fn texts_marked_as_cut_are_clamped_in_the_browser_and_no_other_text_is() {
    let Some(bin) = chromium() else { return };
    // The sample, and campaigns of crafted texts around every clamp of every view.
    let repo = sample_site();
    let site = repo.path().join("preview");
    let (mut cut, mut whole) = (0, 0);
    for name in files_below(&site).iter().filter(|p| p.starts_with("units")) {
        let (c, w) = check_cuts(&bin, &site.join(name));
        cut += c;
        whole += w;
    }
    assert!(
        cut > 0 && whole > 0,
        "the sample has {cut} cut and {whole} whole texts"
    );

    let crafted = Repo::new();
    let mut yaml = String::from("id: stress\nlocales:\n");
    let texts = stress_texts();
    for (i, (title, body)) in texts.iter().enumerate() {
        yaml.push_str(&format!(
            "  l{i}:\n    strings: {{title: {}, body: {}}}\n",
            serde_json::to_string(title).unwrap(),
            serde_json::to_string(body).unwrap()
        ));
    }
    yaml.push_str(
        "push:\n  platform: [ios, android]\n  audience: {packageName: com.example, is_to_all: false}\n  notification: {title: \"{{ t.title }}\", alert: \"{{ t.body }}\"}\n",
    );
    crafted.file("campaigns/stress.yaml", &yaml);
    crafted.run(&["--now", NOW, "preview"]).success();
    let (cut, whole) = check_cuts(&bin, &crafted.path().join("preview/units/stress.html"));
    // 38 locales × 5 views × (title + body).
    assert_eq!(cut + whole, texts.len() * 10);
    assert!(
        cut > 60 && whole > 60,
        "{cut} cut, {whole} whole: the texts do not straddle the clamps"
    );
}
