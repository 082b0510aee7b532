//! What rustyline asks of the REPL while a line is typed: completions (from `complete`), a hint
//! from history, and colours: keywords, probe specs, strings, maps and variables, and the brace
//! that matches the one at the cursor.

use super::complete::{self, Scope};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hinter, HistoryHinter};
use rustyline::validate::Validator;
use rustyline::Context;
use std::borrow::Cow;

pub struct ReplHelper {
    /// The lines of the block typed so far (before the current one).
    pub earlier: String,
    /// The session's map names.
    pub maps: Vec<String>,
    hinter: HistoryHinter,
}

impl ReplHelper {
    pub fn new() -> ReplHelper {
        ReplHelper {
            earlier: String::new(),
            maps: Vec::new(),
            hinter: HistoryHinter::new(),
        }
    }
}

impl rustyline::Helper for ReplHelper {}

impl Validator for ReplHelper {}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let scope = Scope {
            earlier: &self.earlier,
            maps: &self.maps,
        };
        let (start, names) = complete::complete(line, pos, &scope);
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, ctx: &Context<'_>) -> Option<String> {
        // History entries that span lines would be hinted as one line: not those.
        self.hinter
            .hint(line, pos, ctx)
            .filter(|h| !h.contains('\n'))
    }
}

const KEYWORD: &str = "\x1b[1;35m";
const SPEC: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const MAP: &str = "\x1b[33m";
const VARIABLE: &str = "\x1b[36m";
const COMMENT: &str = "\x1b[2m";
const MATCH: &str = "\x1b[7m";
const RESET: &str = "\x1b[0m";

const KEYWORDS: &[&str] = &[
    "if", "else", "for", "while", "unroll", "return", "break", "continue", "let", "config",
    "BEGIN", "END", "macro", "struct", "union", "enum",
];

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        Cow::Owned(paint(line, pos, &self.earlier))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("{COMMENT}{hint}{RESET}"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        // The brace match moves with the cursor: paint on every change.
        true
    }
}

/// The line with colours, for a terminal. `earlier` (the block's previous lines) says whether
/// the line starts inside a block.
pub fn paint(line: &str, pos: usize, earlier: &str) -> String {
    let pair = matching_brace(line, pos);
    let mut depth = super::input::open_braces(earlier);
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len() * 2);
    let mut i = 0;
    let mark = |out: &mut String, at: usize, text: &str| {
        if pair.is_some_and(|(a, b)| a == at || b == at) {
            out.push_str(MATCH);
            out.push_str(text);
            out.push_str(RESET);
        } else {
            out.push_str(text);
        }
    };
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &line[i..];
        let end = match c {
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let j = (j + 1).min(bytes.len());
                paint_span(&mut out, STRING, &line[i..j]);
                j
            }
            b'/' if rest.starts_with("//") => {
                paint_span(&mut out, COMMENT, rest);
                bytes.len()
            }
            b'@' | b'$' => {
                let j = i + 1 + word_len(&line[i + 1..]);
                paint_span(
                    &mut out,
                    if c == b'@' { MAP } else { VARIABLE },
                    &line[i..j],
                );
                j
            }
            b'{' | b'}' | b'(' | b')' | b'[' | b']' => {
                if c == b'{' {
                    depth += 1;
                } else if c == b'}' {
                    depth -= 1;
                }
                mark(&mut out, i, &line[i..i + 1]);
                i + 1
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let w = word_len(rest);
                let word = &line[i..i + w];
                if depth == 0 && rest[w..].starts_with(':') && word != "config" {
                    // A probe spec runs to a space, `{`, `,` or a predicate's `/`.
                    let j = i + rest
                        .find(|ch: char| ch.is_whitespace() || "{,/".contains(ch))
                        .unwrap_or(rest.len());
                    paint_span(&mut out, SPEC, &line[i..j]);
                    j
                } else if KEYWORDS.contains(&word) {
                    paint_span(&mut out, KEYWORD, word);
                    i + w
                } else {
                    out.push_str(word);
                    i + w
                }
            }
            _ => {
                let ch = rest.chars().next().map_or(1, char::len_utf8);
                out.push_str(&line[i..i + ch]);
                i + ch
            }
        };
        i = end;
    }
    out
}

fn paint_span(out: &mut String, colour: &str, text: &str) {
    out.push_str(colour);
    out.push_str(text);
    out.push_str(RESET);
}

fn word_len(text: &str) -> usize {
    text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len())
}

/// The bracket at the cursor (or just before it) and the one that matches it, outside strings
/// and comments.
pub fn matching_brace(line: &str, pos: usize) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let brackets: Vec<usize> = super::input::code(line)
        .into_iter()
        .filter(|(_, c)| "{}()[]".contains(*c))
        .map(|(i, _)| i)
        .collect();
    let at = [pos, pos.wrapping_sub(1)]
        .into_iter()
        .find(|p| brackets.contains(p))?;
    let (open, close, forward) = match bytes[at] {
        b'{' => (b'{', b'}', true),
        b'(' => (b'(', b')', true),
        b'[' => (b'[', b']', true),
        b'}' => (b'{', b'}', false),
        b')' => (b'(', b')', false),
        _ => (b'[', b']', false),
    };
    let mut depth = 0i32;
    let order: Vec<usize> = if forward {
        brackets.iter().copied().filter(|&b| b >= at).collect()
    } else {
        brackets
            .iter()
            .rev()
            .copied()
            .filter(|&b| b <= at)
            .collect()
    };
    for b in order {
        let c = bytes[b];
        if c == open {
            depth += if forward { 1 } else { -1 };
        } else if c == close {
            depth += if forward { -1 } else { 1 };
        }
        if depth == 0 {
            return Some((at.min(b), at.max(b)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_match_outside_strings() {
        let line = "BEGIN { printf(\"}\"); }";
        assert_eq!(matching_brace(line, 6), Some((6, 21)));
        assert_eq!(matching_brace(line, 22), Some((6, 21)));
        assert_eq!(matching_brace(line, 14), Some((14, 18)));
        assert_eq!(matching_brace("BEGIN { ", 6), None);
    }

    #[test]
    fn colours_keep_the_text() {
        let line = "t:syscalls:sys_enter_openat /pid == 1/ { @[comm] = count(); $x = \"a{\"; }";
        let painted = paint(line, 0, "");
        let plain = painted
            .split('\x1b')
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    s
                } else {
                    &s[s.find('m').unwrap() + 1..]
                }
            })
            .collect::<String>();
        assert_eq!(plain, line);
        assert!(painted.starts_with(&format!("{SPEC}t:syscalls:sys_enter_openat{RESET}")));
        assert!(painted.contains(&format!("{MAP}@{RESET}")));
        assert!(painted.contains(&format!("{STRING}\"a{{\"{RESET}")));
        assert!(painted.contains(&format!("{VARIABLE}$x{RESET}")));
    }
}
