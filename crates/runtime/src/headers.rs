//! The integer constants of a script's `#include`d headers: object-like `#define`s and enum
//! values, read from the headers (and the headers they include) found under the `-I` folders,
//! `/usr/include` and the running kernel's build tree. Kernel types come from BTF, not from
//! here; this is for names such as `AF_INET` that BTF does not carry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How deep `#include`s are followed, and how many files are read at most.
const MAX_DEPTH: usize = 12;
const MAX_FILES: usize = 400;

/// The constants found, and the headers that were not.
#[derive(Default, Debug)]
pub struct Headers {
    /// A name's value as written (`2`, `PF_INET`, `(1 << 3)`), resolved on demand.
    raw: HashMap<String, String>,
    /// The headers named by the script that no folder has.
    pub missing: Vec<String>,
}

/// The folders searched, in order: `-I` folders first.
pub fn search_path(include_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = include_dirs.to_vec();
    dirs.push("/usr/include".into());
    dirs.push("/usr/include/x86_64-linux-gnu".into());
    if let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        let build = Path::new("/lib/modules").join(release.trim()).join("build");
        for sub in [
            "include",
            "include/uapi",
            "arch/x86/include",
            "arch/x86/include/generated",
            "arch/x86/include/uapi",
        ] {
            dirs.push(build.join(sub));
        }
    }
    dirs
}

impl Headers {
    /// Reads each header (`linux/socket.h`) and what it includes.
    pub fn read(headers: &[String], dirs: &[PathBuf]) -> Headers {
        let mut out = Headers::default();
        let mut seen: Vec<PathBuf> = Vec::new();
        for h in headers {
            if !out.include(h, dirs, 0, &mut seen) {
                out.missing.push(h.clone());
            }
        }
        out
    }

    /// Reads a header and what it includes; false if no folder has it.
    fn include(
        &mut self,
        header: &str,
        dirs: &[PathBuf],
        depth: usize,
        seen: &mut Vec<PathBuf>,
    ) -> bool {
        let Some(path) = find(header, dirs) else {
            return false;
        };
        if depth > MAX_DEPTH || seen.len() >= MAX_FILES || seen.contains(&path) {
            return true;
        }
        seen.push(path.clone());
        let Ok(text) = std::fs::read_to_string(&path) else {
            return true;
        };
        let text = join_continued_lines(&strip_comments(&text));
        for line in text.lines() {
            let line = line.trim_start();
            let Some(directive) = line.strip_prefix('#') else {
                continue;
            };
            let directive = directive.trim_start();
            if let Some(rest) = directive.strip_prefix("include") {
                let rest = rest.trim();
                let name = rest
                    .strip_prefix('<')
                    .and_then(|r| r.split_once('>'))
                    .or_else(|| rest.strip_prefix('"').and_then(|r| r.split_once('"')))
                    .map(|(n, _)| n);
                if let Some(name) = name {
                    self.include(name, dirs, depth + 1, seen);
                }
            } else if let Some(rest) = directive.strip_prefix("define") {
                self.define(rest);
            }
        }
        for (name, value) in enum_values(&text) {
            self.raw.entry(name).or_insert(value);
        }
        true
    }

    /// `#define NAME value`, object-like only (`NAME(x)` is a function-like macro).
    fn define(&mut self, rest: &str) {
        if !rest.starts_with([' ', '\t']) {
            return;
        }
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (name, value) = rest.split_at(end);
        // `NAME(` with no space: a function-like macro.
        if name.is_empty() || value.starts_with('(') {
            return;
        }
        let value = value.trim();
        // `#define SOCK_STREAM SOCK_STREAM` marks an enum value, which gives the number.
        if !value.is_empty() && value != name {
            self.raw
                .entry(name.to_string())
                .or_insert_with(|| value.to_string());
        }
    }

    /// The integer value of a name the headers give, if it is one.
    pub fn constant(&self, name: &str) -> Option<i64> {
        self.resolve(name, 0)
    }

    fn resolve(&self, name: &str, depth: u32) -> Option<i64> {
        if depth > 16 {
            return None;
        }
        let raw = self.raw.get(name)?;
        Eval {
            tokens: tokens(raw)?,
            at: 0,
            lookup: &|n: &str| self.resolve(n, depth + 1),
        }
        .all()
    }

    /// Every name whose value resolves to an integer.
    pub fn all(&self) -> HashMap<String, i64> {
        self.raw
            .keys()
            .filter_map(|n| Some((n.clone(), self.constant(n)?)))
            .collect()
    }
}

fn find(header: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(header)).find(|p| p.is_file())
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('/') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(body) = after.strip_prefix("/*") {
            let end = body.find("*/").map_or(body.len(), |e| e + 2);
            // Lines stay where they were.
            out.extend(body[..end.min(body.len())].chars().filter(|c| *c == '\n'));
            rest = &body[end.min(body.len())..];
        } else if after.starts_with("//") {
            let end = after.find('\n').unwrap_or(after.len());
            rest = &after[end..];
        } else {
            out.push('/');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

fn join_continued_lines(text: &str) -> String {
    text.replace("\\\n", " ")
}

/// `enum [name] { A = 1, B, C = A + 4 };`: each name with its value as written (`B` as
/// `A + 1`).
fn enum_values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("enum") {
        let before_ok = i == 0
            || !rest.as_bytes()[i - 1].is_ascii_alphanumeric() && rest.as_bytes()[i - 1] != b'_';
        let after = &rest[i + 4..];
        rest = after;
        if !before_ok || !after.starts_with([' ', '\t', '\n', '{']) {
            continue;
        }
        let Some(open) = after.find('{') else { break };
        // `enum name {` only: not `enum name var;`.
        if after[..open].contains([';', '(', ')', '=']) {
            continue;
        }
        let Some(close) = after[open..].find('}') else {
            break;
        };
        // Preprocessor lines between the values are not values.
        let body: String = after[open + 1..open + close]
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let mut previous: Option<String> = None;
        for item in body.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), v.trim().to_string()),
                None => (
                    item,
                    previous
                        .as_ref()
                        .map_or("0".to_string(), |p| format!("({p}) + 1")),
                ),
            };
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            out.push((name.to_string(), value));
            previous = Some(name.to_string());
        }
        rest = &after[open + close..];
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Num(i64),
    Name(String),
    Op(&'static str),
}

fn tokens(text: &str) -> Option<Vec<Token>> {
    const OPS: [&str; 13] = [
        "<<", ">>", "(", ")", "|", "&", "^", "~", "+", "-", "*", "/", "%",
    ];
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            out.push(Token::Op(op));
            rest = rest[op.len()..].trim_start();
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let word = &rest[..end];
        rest = rest[end..].trim_start();
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            out.push(Token::Num(number(word)?));
        } else {
            out.push(Token::Name(word.to_string()));
        }
    }
    Some(out)
}

/// `42`, `0x2a`, `052`, with `u`/`l` suffixes.
fn number(word: &str) -> Option<i64> {
    let digits = word.trim_end_matches(['u', 'U', 'l', 'L']);
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        u64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<u64>().ok()?
    };
    Some(v as i64)
}

/// C's integer operators over the tokens, by precedence.
struct Eval<'a> {
    tokens: Vec<Token>,
    at: usize,
    lookup: &'a dyn Fn(&str) -> Option<i64>,
}

impl Eval<'_> {
    fn all(mut self) -> Option<i64> {
        let v = self.binary(0)?;
        (self.at == self.tokens.len()).then_some(v)
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.at) {
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn binary(&mut self, level: usize) -> Option<i64> {
        const LEVELS: [&[&str]; 6] = [
            &["|"],
            &["^"],
            &["&"],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut v = self.binary(level + 1)?;
        while let Some(op) = self.peek_op().filter(|op| ops.contains(op)) {
            self.at += 1;
            let r = self.binary(level + 1)?;
            v = match op {
                "|" => v | r,
                "^" => v ^ r,
                "&" => v & r,
                "<<" => v.checked_shl(u32::try_from(r).ok()?)?,
                ">>" => v.checked_shr(u32::try_from(r).ok()?)?,
                "+" => v.wrapping_add(r),
                "-" => v.wrapping_sub(r),
                "*" => v.wrapping_mul(r),
                "/" => v.checked_div(r)?,
                _ => v.checked_rem(r)?,
            };
        }
        Some(v)
    }

    fn unary(&mut self) -> Option<i64> {
        match self.tokens.get(self.at).cloned()? {
            Token::Op("-") => {
                self.at += 1;
                Some(self.unary()?.wrapping_neg())
            }
            Token::Op("+") => {
                self.at += 1;
                self.unary()
            }
            Token::Op("~") => {
                self.at += 1;
                Some(!self.unary()?)
            }
            Token::Op("(") => {
                self.at += 1;
                let v = self.binary(0)?;
                (self.tokens.get(self.at) == Some(&Token::Op(")"))).then_some(())?;
                self.at += 1;
                Some(v)
            }
            Token::Num(n) => {
                self.at += 1;
                Some(n)
            }
            Token::Name(n) => {
                self.at += 1;
                (self.lookup)(&n)
            }
            Token::Op(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(files: &[(&str, &str)]) -> (tempdir::Dir, Headers) {
        let dir = tempdir::Dir::new();
        for (name, text) in files {
            let path = dir.0.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let h = Headers::read(
            &["top.h".to_string(), "gone.h".to_string()],
            std::slice::from_ref(&dir.0),
        );
        (dir, h)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "scry-headers-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn defines_and_enums_through_includes() {
        let (_dir, h) = headers(&[
            (
                "top.h",
                "#include <bits/inner.h>\n#define AF_INET PF_INET /* IPv4 */\n#define FLAGS (1 << 3 | \\\n 1)\n#define F(x) (x)\n#define NEG (-2)\n",
            ),
            (
                "bits/inner.h",
                "#define PF_INET 2\n// #define HIDDEN 9\nenum state { ONE = 1, TWO, TEN = 0x0a, ELEVEN };\n#define BIG 0x10UL\n",
            ),
        ]);
        assert_eq!(h.constant("AF_INET"), Some(2));
        assert_eq!(h.constant("FLAGS"), Some(9));
        assert_eq!(h.constant("NEG"), Some(-2));
        assert_eq!(h.constant("BIG"), Some(16));
        assert_eq!(h.constant("TWO"), Some(2));
        assert_eq!(h.constant("ELEVEN"), Some(11));
        assert_eq!(h.constant("F"), None);
        assert_eq!(h.constant("HIDDEN"), None);
        assert_eq!(h.missing, vec!["gone.h".to_string()]);
    }
}

#[cfg(test)]
mod system {
    #[test]
    fn this_machines_socket_header() {
        let dirs = super::search_path(&[]);
        if super::find("sys/socket.h", &dirs).is_none() {
            return;
        }
        let h = super::Headers::read(&["sys/socket.h".into(), "linux/socket.h".into()], &dirs);
        assert_eq!(h.constant("AF_INET"), Some(2));
        assert_eq!(h.constant("AF_INET6"), Some(10));
        assert_eq!(h.constant("SOCK_STREAM"), Some(1));
    }
}
