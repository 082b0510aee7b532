//! Errors and warnings about a script, located by span, and their rendering in the compiler style
//! users know from gcc and clang:
//!
//! ```text
//! stdin:1:40: error: unknown identifier `argv`
//! tracepoint:syscalls:sys_enter_execve { printf("%s\n", str(argv->filename)); }
//!                                                           ^^^^
//!   hint: did you mean `args`?
//! ```
//!
//! The first line is `FILE:LINE:COL` so editors and terminals can jump to it.

use crate::ast::Span;
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    /// More about the diagnostic before it, at another place.
    Note,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Span,
    /// Advice on how to fix it, printed after the source line.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(severity: Severity, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            span,
            hint: None,
        }
    }
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span,
            hint: None,
        }
    }
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            span,
            hint: None,
        }
    }
    pub fn note(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            message: message.into(),
            span,
            hint: None,
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic against the script it refers to.
    pub fn render(&self, file: &str, source: &str) -> String {
        let loc = Location::of(file, source, self.span);
        let start = char_floor(source, self.span.start);
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let (line_no, col) = (loc.line, loc.col);
        let line = &source[line_start..line_end];
        let width = (loc.end_col - loc.col).max(1);
        // A long line (a generated script, a 2 MB string) shows only the part around the span.
        let (line, lead_text, width) = window(line, col - 1, width);
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        let mut out = String::new();
        let _ = writeln!(out, "{file}:{line_no}:{col}: {label}: {}", self.message);
        // Tabs keep their width in the caret line so the caret stays under the span.
        let lead: String = lead_text
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "{line}");
        let _ = writeln!(out, "{lead}{}", "^".repeat(width));
        if let Some(hint) = &self.hint {
            for (i, l) in hint.lines().enumerate() {
                let _ = writeln!(out, "{}{l}", if i == 0 { "  hint: " } else { "        " });
            }
        }
        out
    }
}

/// The most of a source line a diagnostic shows; a longer one is cut to the part around the
/// span, with `…` where text is left out.
const SHOWN_LINE: usize = 160;
/// How much of a long line is shown before the span.
const SHOWN_BEFORE: usize = 60;

/// The line as shown, the text before the caret (for its indent), and the caret's width: a
/// line of up to `SHOWN_LINE` characters whole, a longer one around the span starting at
/// character `col`.
fn window(line: &str, col: usize, width: usize) -> (String, String, usize) {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= SHOWN_LINE {
        let lead: String = chars[..col.min(chars.len())].iter().collect();
        return (line.to_string(), lead, width);
    }
    let from = col.saturating_sub(SHOWN_BEFORE).min(chars.len());
    let to = (from + SHOWN_LINE).min(chars.len());
    let cut_before = if from > 0 { "…" } else { "" };
    let cut_after = if to < chars.len() { "…" } else { "" };
    let shown: String = chars[from..to].iter().collect();
    let lead: String = cut_before
        .chars()
        .chain(chars[from..col.min(to)].iter().copied())
        .collect();
    let width = width.min(to.saturating_sub(col)).max(1);
    (format!("{cut_before}{shown}{cut_after}"), lead, width)
}

/// Where a span is, in the terms users see: file, line and columns (1-based; `end_col` is one
/// past the span's last column on its first line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub end_col: usize,
}

impl Location {
    pub fn of(file: &str, source: &str, span: Span) -> Location {
        let start = char_floor(source, span.start);
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let col = source[line_start..start].chars().count() + 1;
        let end = char_floor(source, span.end.clamp(start, line_end));
        Location {
            file: file.to_string(),
            line: source[..start].matches('\n').count() + 1,
            col,
            end_col: col + source[start..end].chars().count(),
        }
    }
}

/// bpftrace's form, as runtime messages print it: `stdin:1:9-62`.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}-{}",
            self.file, self.line, self.col, self.end_col
        )
    }
}

/// The start of the character at byte `at` (or the end of the text): a span may end, or a
/// computed one start, inside a multi-byte character.
fn char_floor(source: &str, at: usize) -> usize {
    let mut at = at.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Renders every diagnostic, in order.
pub fn render_all(diags: &[Diagnostic], file: &str, source: &str) -> String {
    diags.iter().map(|d| d.render(file, source)).collect()
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len().abs_diff(word.len())))
        .map(|(_, c)| c)
}

/// Edit distance over bytes; names here are ASCII.
pub fn edit_distance(a: &str, b: &str) -> usize {
    // Levenshtein distance where swapping two adjacent characters counts as one edit.
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(before[j - 2] + 1);
            }
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let src = "BEGIN {\n  printf(\"%d\", foo);\n}";
        let d = Diagnostic::error(Span::new(23, 26), "unknown identifier `foo`")
            .with_hint("did you mean `pid`?");
        assert_eq!(
            d.render("stdin", src),
            "stdin:2:16: error: unknown identifier `foo`\n  printf(\"%d\", foo);\n               ^^^\n  hint: did you mean `pid`?\n"
        );
    }

    #[test]
    fn spans_inside_multi_byte_characters_render() {
        let src = "// é ü\nBEGIN { \"ßß\" }";
        for start in 0..=src.len() + 2 {
            for end in start..=src.len() + 2 {
                let d = Diagnostic::error(Span::new(start, end), "x");
                assert!(d.render("stdin", src).starts_with("stdin:"));
            }
        }
        let d = Diagnostic::error(Span::new(18, 21), "x");
        assert!(d.render("stdin", src).starts_with("stdin:2:10: error: x"));
    }

    #[test]
    fn a_long_line_shows_the_part_around_the_span() {
        let src = format!("BEGIN {{ $x = \"{}\" + 1; }}", "a".repeat(1_000_000));
        let at = src.find(" + 1").unwrap() + 1;
        let d = Diagnostic::error(Span::new(at, at + 1), "bad");
        let text = d.render("big.bt", &src);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("big.bt:1:{}: error: bad", at + 1));
        assert!(
            lines[1].starts_with('…') && lines[1].ends_with("a\" + 1; }"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[1].chars().count(), 1 + SHOWN_BEFORE + "+ 1; }".len());
        // The caret is still under the `+`.
        let caret = lines[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(lines[1].chars().nth(caret), Some('+'));
        // A span at the start of a long line: the end is cut.
        let d = Diagnostic::error(Span::new(0, 5), "bad");
        let text = d.render("big.bt", &src);
        let shown = text.lines().nth(1).unwrap();
        assert!(
            shown.starts_with("BEGIN {") && shown.ends_with('…'),
            "{shown}"
        );
        assert_eq!(text.lines().nth(2), Some("^^^^^"));
    }

    #[test]
    fn nearest_finds_typos_only() {
        assert_eq!(nearest("argv", ["args", "pid", "comm"]), Some("args"));
        assert_eq!(nearest("xyzzy", ["args", "pid", "comm"]), None);
    }
}
