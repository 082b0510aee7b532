//! Text → `ast::Program`. The grammar lives in `grammar.pest`; this module builds the tree's top
//! level (probes, definitions, config), `statements` and `expressions` the rest (with bpftrace's
//! operator precedence), `literals` decodes numbers and strings, and `errors` turns pest's errors
//! into located diagnostics. It never panics on any input.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use pest::iterators::Pair;
use pest::Parser as _;

mod errors;
mod expressions;
mod limits;
mod literals;
mod statements;

use errors::syntax_error;
use expressions::shift_spans;
use literals::parse_int;
pub use literals::raw_offset;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// Parses a whole script. On failure, returns every error found (pest stops at the first syntax
/// error; literal errors are collected across the tree).
pub fn parse(source: &str) -> Result<Program, Vec<Diagnostic>> {
    let source = &crate::preprocess::conditionals(source);
    if let Some(d) = limits::brackets(source) {
        return Err(vec![d]);
    }
    let pairs = Grammar::parse(Rule::program, source).map_err(|e| vec![syntax_error(e, source)])?;
    let mut b = Builder { errors: Vec::new() };
    let mut program = Program::default();
    for pair in pairs
        .into_iter()
        .next()
        .into_iter()
        .flat_map(|p| p.into_inner())
    {
        match pair.as_rule() {
            Rule::probe => program.probes.push(b.probe(pair)),
            Rule::config_block => {
                for entry in pair.into_inner() {
                    program.config.push(b.config_entry(entry));
                }
            }
            Rule::macro_def => program.macros.push(b.macro_def(pair)),
            Rule::c_record => {
                let mut inner = pair.into_inner();
                let union = inner.next().is_some_and(|k| k.as_str() == "union");
                let name = ident_of(&inner.next().expect("grammar: record name"));
                b.c_record(union, name, inner, &mut program.c_types);
            }
            Rule::c_enum => program.c_types.push(b.c_enum(pair)),
            Rule::map_decl => {
                let span = span_of(&pair);
                let mut inner = pair.into_inner();
                let (Some(map), Some(kind), Some(size)) =
                    (inner.next(), inner.next(), inner.next())
                else {
                    continue;
                };
                match parse_int(size.as_str()) {
                    Some(size) => program.map_decls.push(MapDeclaration {
                        map: ident_of(&map),
                        kind: ident_of(&kind),
                        size,
                        span,
                    }),
                    None => b.errors.push(Diagnostic::error(
                        span_of(&size),
                        "a map's size is a number of entries",
                    )),
                }
            }
            Rule::define => {
                if let Some(d) = b.define(pair) {
                    program.defines.push(d);
                }
            }
            Rule::include => {
                if let Some(h) = pair.into_inner().find(|p| p.as_rule() == Rule::header) {
                    let text = h.as_str();
                    program.includes.push(Include {
                        path: text[1..text.len() - 1].to_string(),
                        span: span_of(&h),
                    });
                }
            }
            _ => {}
        }
    }
    b.finish(program)
}

/// Statements with no probe around them, as typed at the REPL's prompt (`print(@n)`): a program
/// of one BEGIN probe whose body they are, with every span in `source`'s own terms.
pub fn parse_statements(source: &str) -> Result<Program, Vec<Diagnostic>> {
    let source = &crate::preprocess::conditionals(source);
    if let Some(d) = limits::brackets(source) {
        return Err(vec![d]);
    }
    let pairs =
        Grammar::parse(Rule::statements, source).map_err(|e| vec![syntax_error(e, source)])?;
    let mut b = Builder { errors: Vec::new() };
    let body = pairs
        .into_iter()
        .next()
        .into_iter()
        .flat_map(|p| p.into_inner())
        .filter(|p| p.as_rule() == Rule::loose_stmts)
        .flat_map(|p| p.into_inner())
        .map(|s| b.stmt(s))
        .collect();
    let whole = Span::new(0, source.len());
    let program = Program {
        probes: vec![Probe {
            attach_points: vec![AttachPointSpec {
                text: "BEGIN".into(),
                span: whole,
            }],
            predicate: None,
            body,
            span: whole,
        }],
        ..Program::default()
    };
    b.finish(program)
}

fn ident_of(pair: &Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(pair),
    }
}

/// `$name` → an identifier `name` spanning the whole variable.
fn var_ident(pair: &Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str()[1..].to_string(),
        span: span_of(pair),
    }
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

struct Builder {
    errors: Vec<Diagnostic>,
}

impl Builder {
    /// The program, or every error found while building it.
    fn finish(mut self, program: Program) -> Result<Program, Vec<Diagnostic>> {
        if let Some(d) = limits::depth(&program) {
            // Dropping a tree this deep would recurse as deep as it is: it is left unfreed.
            std::mem::forget(program);
            self.errors.push(d);
            return Err(self.errors);
        }
        if self.errors.is_empty() {
            Ok(program)
        } else {
            Err(self.errors)
        }
    }

    fn probe(&mut self, pair: Pair<'_, Rule>) -> Probe {
        let span = span_of(&pair);
        let mut attach_points = Vec::new();
        let mut predicate = None;
        let mut body = Vec::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::attach_list => {
                    for ap in p.into_inner() {
                        attach_points.push(AttachPointSpec {
                            text: ap.as_str().to_string(),
                            span: span_of(&ap),
                        });
                    }
                }
                Rule::predicate => predicate = p.into_inner().next().map(|e| self.expr(e)),
                Rule::block => body = self.block(p),
                _ => {}
            }
        }
        Probe {
            attach_points,
            predicate,
            body,
            span,
        }
    }

    fn block(&mut self, pair: Pair<'_, Rule>) -> Vec<Stmt> {
        match pair.into_inner().next() {
            Some(stmts) => stmts.into_inner().map(|s| self.stmt(s)).collect(),
            None => Vec::new(),
        }
    }

    /// A struct or union's definition, pushed to `out` after those of the types its members
    /// define in place (named `OUTER.member`).
    fn c_record<'a>(
        &mut self,
        union: bool,
        name: Ident,
        members: impl Iterator<Item = Pair<'a, Rule>>,
        out: &mut Vec<CDefinition>,
    ) {
        let mut packed = false;
        let fields = members
            .filter(|f| {
                if f.as_rule() != Rule::c_attribute {
                    return true;
                }
                // `aligned(N)` and the like change nothing scry lays out.
                packed |= f
                    .clone()
                    .into_inner()
                    .any(|item| item.as_str().trim() == "packed");
                false
            })
            .map(|f| {
                let span = span_of(&f);
                if f.as_rule() == Rule::c_nested {
                    let mut parts: Vec<Pair<'_, Rule>> = f.into_inner().collect();
                    let nested_union = parts.first().is_some_and(|k| k.as_str() == "union");
                    let array: Vec<u32> = parts
                        .iter()
                        .filter(|p| p.as_rule() == Rule::array_len)
                        .filter_map(|p| p.as_str().parse().ok())
                        .collect();
                    parts.retain(|p| p.as_rule() != Rule::array_len);
                    let member = parts.pop().map(|p| ident_of(&p)).unwrap_or(Ident {
                        name: String::new(),
                        span,
                    });
                    // Named (`struct bar { … } b;`, a type of its own) or not (`OUTER.b`).
                    let mut rest = parts.into_iter().skip(1).peekable();
                    let inner_name = match rest.next_if(|p| p.as_rule() == Rule::ident) {
                        Some(own) => ident_of(&own),
                        None => Ident {
                            name: format!("{}.{}", name.name, member.name),
                            span: member.span,
                        },
                    };
                    let keyword = if nested_union { "union" } else { "struct" };
                    self.c_record(nested_union, inner_name.clone(), rest, out);
                    return CField {
                        ty: vec![keyword.to_string(), inner_name.name],
                        pointers: 0,
                        name: member,
                        array,
                        span,
                    };
                }
                let mut words = Vec::new();
                let mut pointers = 0u8;
                let mut array = Vec::new();
                for p in f.into_inner() {
                    match p.as_rule() {
                        Rule::ident => words.push(ident_of(&p)),
                        Rule::ptr_star => pointers = pointers.saturating_add(1),
                        Rule::array_len => array.extend(p.as_str().parse::<u32>().ok()),
                        _ => {}
                    }
                }
                let name = words.pop().unwrap_or(Ident {
                    name: String::new(),
                    span,
                });
                CField {
                    ty: words.into_iter().map(|w| w.name).collect(),
                    pointers,
                    name,
                    array,
                    span,
                }
            })
            .collect();
        out.push(CDefinition::Record {
            union,
            name,
            fields,
            packed,
        });
    }

    fn c_enum(&mut self, pair: Pair<'_, Rule>) -> CDefinition {
        // After the `enum` keyword.
        let span = span_of(&pair);
        let mut inner = pair.into_inner().skip(1).peekable();
        let name = match inner.next_if(|p| p.as_rule() == Rule::ident) {
            Some(n) => ident_of(&n),
            None => Ident {
                name: String::new(),
                span,
            },
        };
        let variants = inner
            .map(|v| {
                let mut parts = v.into_inner();
                let n = ident_of(&parts.next().expect("grammar: enumerator"));
                let value = parts.next().and_then(|p| {
                    let text = p.as_str();
                    match text.strip_prefix('-') {
                        Some(t) => parse_int(t).map(|v| -(v as i64)),
                        None => parse_int(text).map(|v| v as i64),
                    }
                });
                (n, value)
            })
            .collect();
        CDefinition::Enum { name, variants }
    }

    fn config_entry(&mut self, pair: Pair<'_, Rule>) -> ConfigEntry {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let key = ident_of(&inner.next().expect("grammar: config key"));
        let v = inner.next().expect("grammar: config value");
        let value = match v.as_rule() {
            Rule::integer => match self.primary(v).kind {
                ExprKind::Int(n) => ConfigValue::Int(n),
                _ => ConfigValue::Int(0),
            },
            Rule::string => match self.primary(v).kind {
                ExprKind::Str { value, .. } => {
                    ConfigValue::Str(String::from_utf8_lossy(&value).into_owned())
                }
                _ => ConfigValue::Str(String::new()),
            },
            _ => ConfigValue::Word(v.as_str().to_string()),
        };
        ConfigEntry { key, value, span }
    }

    fn macro_def(&mut self, pair: Pair<'_, Rule>) -> Macro {
        let span = span_of(&pair);
        let mut inner = pair.into_inner();
        let name = ident_of(&inner.next().expect("grammar: macro name"));
        let mut params = Vec::new();
        let mut body = Vec::new();
        for p in inner {
            match p.as_rule() {
                Rule::block => body = self.block(p),
                _ => params.push(ident_of(&p)),
            }
        }
        Macro {
            name,
            params,
            body,
            span,
        }
    }

    /// `#define NAME value`: the value must be a constant expression.
    fn define(&mut self, pair: Pair<'_, Rule>) -> Option<Define> {
        let mut inner = pair.into_inner();
        let name = ident_of(&inner.next()?);
        let value_pair = inner.next()?;
        let offset = value_pair.as_span().start();
        let text = value_pair.as_str().trim_end();
        match Grammar::parse(Rule::expr, text) {
            Ok(mut pairs) if pairs.as_str().len() == text.len() => {
                let before = self.errors.len();
                let mut value = self.expr(pairs.next()?);
                shift_spans(&mut value, offset);
                // Errors found inside the value are located in the script, not in its text.
                for d in &mut self.errors[before..] {
                    d.span = Span::new(d.span.start + offset, d.span.end + offset);
                }
                Some(Define { name, value })
            }
            _ => {
                self.errors.push(
                    Diagnostic::error(
                        Span::new(offset, offset + text.len()),
                        format!("#define {}: the value must be an expression", name.name),
                    )
                    .with_hint("as in `#define AF_INET 2`"),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::literals::unescape;
    use super::*;

    fn expr_of(src: &str) -> String {
        let prog = parse(&format!("BEGIN {{ {src}; }}")).unwrap();
        match &prog.probes[0].body[0].kind {
            StmtKind::Expr(e) => e.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_matches_bpftrace() {
        assert_eq!(expr_of("1 + 2 * 3"), "(1 + (2 * 3))");
        assert_eq!(expr_of("1 << 2 + 3"), "(1 << (2 + 3))");
        assert_eq!(expr_of("1 | 2 ^ 3 & 4"), "(1 | (2 ^ (3 & 4)))");
        assert_eq!(
            expr_of("a == 1 && b != 2 || c"),
            "(((a == 1) && (b != 2)) || c)"
        );
        assert_eq!(expr_of("1 < 2 == 3 > 4"), "((1 < 2) == (3 > 4))");
        assert_eq!(expr_of("-1 - -2"), "((-1) - (-2))");
        assert_eq!(expr_of("!a && ~b"), "((!a) && (~b))");
        assert_eq!(expr_of("8 - 4 - 2"), "((8 - 4) - 2)");
        assert_eq!(expr_of("(1 + 2) * 3"), "((1 + 2) * 3)");
        assert_eq!(expr_of("-args.x"), "(-args.x)");
    }

    #[test]
    fn literals() {
        assert_eq!(expr_of("0x1F"), "31");
        assert_eq!(expr_of("1_000_000"), "1000000");
        assert_eq!(expr_of(r#""a\tb\x41\101\n""#), r#""a\tbAA\n""#);
        assert!(parse("BEGIN { 18446744073709551616 }").is_err());
        assert!(parse(r#"BEGIN { "\q" }"#).is_err());
    }

    #[test]
    fn unescape_reports_position() {
        assert_eq!(unescape(r"ab\q").unwrap_err().0, 2);
        assert_eq!(unescape(r"\777").unwrap_err().1, 4);
    }
}
