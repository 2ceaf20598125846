//! How much of a text a notification shows: a width estimate, line breaking and clamping.
//!
//! Phones cut titles and bodies after a few lines, and a reviewer must see where. A browser
//! cannot be asked (the preview runs no script), and fonts differ between the reviewer's machine
//! and the phone, so pushform breaks the lines itself, with a deliberately wide estimate of each
//! character's advance, and the page shows exactly those lines (`white-space: pre`) in a box
//! whose width is given in the same unit (`em`). The estimate only has to be conservative: a line
//! that pushform thinks fits must fit in the browser (the browser tests check every line of the
//! sample and of crafted texts against real fonts). The cut is then the same in both: the CSS
//! `line-clamp` hides the lines after the platform's limit, and pushform marks exactly the texts
//! that have more lines than that.
//!
//! Widths are in twentieths of an em (`u`). The table is the widest of the common sans-serif
//! fonts (DejaVu Sans, the widest, bounds Roboto, Noto Sans, SF and Helvetica): East Asian wide
//! and fullwidth characters (CJK, kana, hangul, fullwidth punctuation) are a full em, as in every
//! CJK font (about two average Latin letters); emoji and unknown scripts 1.3 em.

/// Twentieths of an em.
pub(crate) type Units = u32;

/// The advance of `c` in a regular weight, in twentieths of an em, rounded up.
pub(crate) fn advance(c: char) -> Units {
    match c {
        'i' | 'j' | 'l' | '|' | '\'' => 6,
        ' ' | '.' | ',' | ':' | ';' => 7,
        'f' | 't' | 'r' | 'I' | 'J' | '!' | '(' | ')' | '[' | ']' | '-' | '/' | '\\' => 9,
        'm' | 'M' | 'W' | '@' | '%' => 20,
        'w' => 17,
        'a'..='z' | '0'..='9' => 13,
        'A'..='Z' | '&' => 16,
        '!'..='~' => 17,
        _ if is_wide(c) => 20,
        // Accented Latin, Greek, Cyrillic: as wide as a capital.
        '\u{a0}'..='\u{52f}' => 16,
        _ => 26,
    }
}

/// East Asian Wide or Fullwidth (UAX #11), the blocks that matter for notifications.
pub(crate) fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115f}'     // Hangul Jamo
        | '\u{2e80}'..='\u{303e}'   // CJK radicals, symbols and punctuation
        | '\u{3041}'..='\u{33ff}'   // kana, bopomofo, CJK compatibility
        | '\u{3400}'..='\u{4dbf}'   // CJK extension A
        | '\u{4e00}'..='\u{9fff}'   // CJK unified ideographs
        | '\u{a960}'..='\u{a97f}'
        | '\u{ac00}'..='\u{d7a3}'   // Hangul syllables
        | '\u{f900}'..='\u{faff}'   // CJK compatibility ideographs
        | '\u{fe30}'..='\u{fe4f}'   // CJK compatibility forms
        | '\u{ff00}'..='\u{ff60}'   // fullwidth forms
        | '\u{ffe0}'..='\u{ffe6}'
        | '\u{20000}'..='\u{3fffd}' // CJK extensions B and later
    )
}

/// CJK closing punctuation, which no line may start with (it stays with the character before).
fn closes(c: char) -> bool {
    matches!(
        c,
        '，' | '。'
            | '、'
            | '；'
            | '：'
            | '！'
            | '？'
            | '）'
            | '」'
            | '』'
            | '》'
            | '〉'
            | '】'
            | '”'
            | '’'
    )
}

/// Whether a line may break between `a` and `b` without a space: around wide characters.
fn may_break_between(a: char, b: char) -> bool {
    (is_wide(a) || is_wide(b)) && !closes(b)
}

/// The estimated width of `text` in `u`; `bold` adds 12% (bold faces are wider).
pub(crate) fn width(text: &str, bold: bool) -> Units {
    let w: Units = text.chars().map(advance).sum();
    if bold { w + w.div_ceil(8) } else { w }
}

/// Text as a notification shows it: Unix newlines, tabs and other controls as spaces.
fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| if c != '\n' && c.is_control() { ' ' } else { c })
        .collect()
}

/// Breaks `text` into lines no wider than `max` (in `u`): greedy, at spaces and around wide
/// characters, and inside a word only when the word alone is wider than a line. Newlines in the
/// text are kept. The spaces a line breaks at are dropped, as browsers and phones do.
pub(crate) fn wrap(text: &str, max: Units, bold: bool) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in normalise(text).split('\n') {
        let mut line = String::new();
        // Tokens: a run of spaces, or a word (a run of non-space characters between break
        // opportunities).
        for token in tokens(paragraph) {
            let candidate = format!("{line}{token}");
            if width(candidate.trim_end(), bold) <= max {
                line = candidate;
                continue;
            }
            if token.trim().is_empty() {
                // A space at the end of a full line: the line breaks here.
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                continue;
            }
            if !line.trim().is_empty() {
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
            }
            line.clear();
            // The word alone may still be too wide: cut it where it must be cut.
            for c in token.chars() {
                let candidate = format!("{line}{c}");
                if width(&candidate, bold) > max && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                } else {
                    line = candidate;
                }
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

fn tokens(paragraph: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for c in paragraph.chars() {
        let new_token = match prev {
            None => true,
            Some(p) => (p == ' ') != (c == ' ') || (c != ' ' && may_break_between(p, c)),
        };
        if new_token {
            out.push(String::new());
        }
        if let Some(last) = out.last_mut() {
            last.push(c);
        }
        prev = Some(c);
    }
    out
}

/// A text as one view of one platform shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Clamped {
    /// Every line, as broken by `wrap`; the page shows the first `limit`.
    pub lines: Vec<String>,
    /// The platform's limit, in lines.
    pub limit: usize,
}

impl Clamped {
    pub(crate) fn new(text: &str, width_u: Units, limit: usize, bold: bool) -> Clamped {
        let lines = if text.is_empty() {
            Vec::new()
        } else {
            wrap(text, width_u, bold)
        };
        Clamped { lines, limit }
    }

    /// Whether the platform cuts this text.
    pub(crate) fn is_cut(&self) -> bool {
        self.lines.len() > self.limit
    }

    /// Characters hidden by the cut (not counting the line breaks).
    pub(crate) fn hidden_chars(&self) -> usize {
        self.lines
            .iter()
            .skip(self.limit)
            .map(|l| l.chars().count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_is_a_full_em() {
        assert_eq!(width("冬季", false), 40);
        assert_eq!(advance('冬'), 20);
        assert_eq!(advance('，'), 20, "fullwidth punctuation too");
        assert!(is_wide('，') && is_wide('ア') && is_wide('한') && !is_wide('é'));
    }

    #[test]
    fn bold_is_wider() {
        assert!(width("Winter sale", true) > width("Winter sale", false));
    }

    #[test]
    fn latin_breaks_at_spaces_and_drops_them() {
        // 7.5 em: "aaaa aaaa" is 8 * 13 + 7 = 111u <= 150u, with a third word 170u is not.
        let lines = wrap("aaaa aaaa aaaa aaaa", 150, false);
        assert_eq!(lines, ["aaaa aaaa", "aaaa aaaa"]);
        for line in &lines {
            assert!(width(line, false) <= 150);
        }
    }

    #[test]
    fn a_word_wider_than_a_line_is_cut_inside() {
        let lines = wrap("aaaaaaaaaaaaaaaaaaaa", 100, false);
        assert_eq!(lines, ["aaaaaaa", "aaaaaaa", "aaaaaa"]);
    }

    #[test]
    fn cjk_breaks_between_characters_but_not_before_closing_punctuation() {
        // 5 em a line: five ideographs.
        let lines = wrap("期末考试下周开始，记得复习！", 100, false);
        assert_eq!(lines, ["期末考试下", "周开始，记", "得复习！"]);
        let lines = wrap("期末考试下，周开始", 100, false);
        // "，" may not start a line: it goes down with the character before it.
        assert_eq!(lines, ["期末考试", "下，周开始"]);
    }

    #[test]
    fn newlines_are_kept_and_controls_are_spaces() {
        assert_eq!(wrap("a\r\nb\tc", 400, false), ["a", "b c"]);
    }

    #[test]
    fn clamping_counts_lines_and_hidden_characters() {
        let short = Clamped::new("Winter sale", 400, 1, true);
        assert!(!short.is_cut());
        let long = Clamped::new("one two three four five six", 100, 1, false);
        assert!(long.is_cut(), "{long:?}");
        assert_eq!(
            long.hidden_chars(),
            long.lines[1..]
                .iter()
                .map(|l| l.chars().count())
                .sum::<usize>()
        );
        assert!(Clamped::new("", 100, 1, false).lines.is_empty());
    }
}
