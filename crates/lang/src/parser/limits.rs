//! How deep a script may nest, checked before anything recursive sees it: brackets before
//! pest parses them, and expressions (`1 + 1 + … + 1` is as deep as it is long) before the
//! checker and code generator walk them. A deeper script is one located error, not a stack
//! overflow.

use crate::ast::visit::{walk_expr, walk_probe, walk_stmt, Visitor};
use crate::ast::*;
use crate::diagnostic::Diagnostic;

/// The most brackets (`(`, `[`, `{`) open at once.
pub const MAX_BRACKETS: usize = 100;

/// The most expressions and statements nested in one another.
pub const MAX_DEPTH: usize = 200;

/// The first bracket past `MAX_BRACKETS` deep, outside strings and comments.
pub fn brackets(source: &str) -> Option<Diagnostic> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_BRACKETS {
                    return Some(
                        Diagnostic::error(
                            Span::new(i, i + 1),
                            format!("brackets nest more than {MAX_BRACKETS} deep here"),
                        )
                        .with_hint("split the expression with variables: `$a = …; $b = f($a);`"),
                    );
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The first expression or statement past `MAX_DEPTH` deep. The walk itself stops there, so
/// it is never deeper than that.
pub fn depth(program: &Program) -> Option<Diagnostic> {
    let mut d = Depth {
        depth: 0,
        too_deep: None,
    };
    for probe in &program.probes {
        walk_probe(&mut d, probe);
    }
    for m in &program.macros {
        m.body.iter().for_each(|s| d.stmt(s));
    }
    for def in &program.defines {
        d.expr(&def.value);
    }
    d.too_deep.map(|span| {
        Diagnostic::error(
            span,
            format!("this nests more than {MAX_DEPTH} expressions or statements deep"),
        )
        .with_hint("split it with variables: `$sum = a + b; $sum = $sum + c;`")
    })
}

struct Depth {
    depth: usize,
    too_deep: Option<Span>,
}

impl Depth {
    fn enter(&mut self, span: Span) -> bool {
        if self.too_deep.is_some() {
            return false;
        }
        if self.depth >= MAX_DEPTH {
            self.too_deep = Some(span);
            return false;
        }
        self.depth += 1;
        true
    }
}

impl Visitor for Depth {
    fn expr(&mut self, e: &Expr) {
        if self.enter(e.span) {
            walk_expr(self, e);
            self.depth -= 1;
        }
    }
    fn stmt(&mut self, s: &Stmt) {
        if self.enter(s.span) {
            walk_stmt(self, s);
            self.depth -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn chain(n: usize) -> String {
        format!("BEGIN {{ $x = {}; }}", vec!["1"; n].join(" + "))
    }

    fn nested(n: usize) -> String {
        format!("BEGIN {{ $x = {}1{}; }}", "(".repeat(n), ")".repeat(n))
    }

    #[test]
    fn deep_scripts_are_one_located_error() {
        assert!(parse(&chain(150)).is_ok());
        let e = parse(&chain(10_000)).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("more than 200"), "{}", e[0].message);
        // `BEGIN {` opens one bracket, `$x = ` then 99 more are allowed.
        assert!(parse(&nested(99)).is_ok());
        let e = parse(&nested(20_000)).unwrap_err();
        assert!(e[0].message.contains("brackets nest more than 100"));
        assert_eq!(e[0].span.start, "BEGIN { $x = ".len() + 99);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let text = format!(
            "// {}\nBEGIN {{ printf(\"{}\\n\"); }} /* {} */",
            "(".repeat(500),
            "[".repeat(500),
            "{".repeat(500)
        );
        assert!(parse(&text).is_ok());
    }
}
