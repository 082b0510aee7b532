//! Text → `ast::Program`. The grammar lives in `grammar.pest`; this module builds the tree, applies
//! bpftrace's operator precedence, decodes literals, and turns pest's errors into located
//! diagnostics. It never panics on any input.

use crate::ast::visit::VisitorMut;
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::Parser as _;
use std::sync::OnceLock;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// Parses a whole script. On failure, returns every error found (pest stops at the first syntax
/// error; literal errors are collected across the tree).
pub fn parse(source: &str) -> Result<Program, Vec<Diagnostic>> {
    let source = &crate::preprocess::conditionals(source);
    let pairs = Grammar::parse(Rule::program, source).map_err(|e| vec![syntax_error(e, source)])?;
    let mut b = Builder { errors: Vec::new() };
    let mut program = Program {
        probes: Vec::new(),
        config: Vec::new(),
        macros: Vec::new(),
        defines: Vec::new(),
        map_decls: Vec::new(),
        c_types: Vec::new(),
    };
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
            Rule::c_record => program.c_types.push(b.c_record(pair)),
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
            _ => {}
        }
    }
    if b.errors.is_empty() {
        Ok(program)
    } else {
        Err(b.errors)
    }
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

fn pratt() -> &'static PrattParser<Rule> {
    static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
    PRATT.get_or_init(|| {
        // Lowest precedence first, as in bpftrace's docs/language_parsing.md.
        PrattParser::new()
            .op(Op::infix(Rule::log_or, Assoc::Left))
            .op(Op::infix(Rule::log_and, Assoc::Left))
            .op(Op::infix(Rule::bit_or, Assoc::Left))
            .op(Op::infix(Rule::bit_xor, Assoc::Left))
            .op(Op::infix(Rule::bit_and, Assoc::Left))
            .op(Op::infix(Rule::eq, Assoc::Left) | Op::infix(Rule::ne, Assoc::Left))
            .op(Op::infix(Rule::lt, Assoc::Left)
                | Op::infix(Rule::gt, Assoc::Left)
                | Op::infix(Rule::le, Assoc::Left)
                | Op::infix(Rule::ge, Assoc::Left))
            .op(Op::infix(Rule::shl, Assoc::Left) | Op::infix(Rule::shr, Assoc::Left))
            .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
            .op(Op::infix(Rule::mul, Assoc::Left)
                | Op::infix(Rule::div, Assoc::Left)
                | Op::infix(Rule::rem, Assoc::Left))
            .op(Op::prefix(Rule::not)
                | Op::prefix(Rule::bit_not)
                | Op::prefix(Rule::neg)
                | Op::prefix(Rule::deref)
                | Op::prefix(Rule::addr_of)
                | Op::prefix(Rule::cast))
            .op(Op::postfix(Rule::field)
                | Op::postfix(Rule::arrow_field)
                | Op::postfix(Rule::index))
    })
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

struct Builder {
    errors: Vec<Diagnostic>,
}

impl Builder {
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

    fn c_record(&mut self, pair: Pair<'_, Rule>) -> CDefinition {
        let mut inner = pair.into_inner();
        let union = inner.next().is_some_and(|k| k.as_str() == "union");
        let name = ident_of(&inner.next().expect("grammar: record name"));
        let fields = inner
            .map(|f| {
                let span = span_of(&f);
                let mut words = Vec::new();
                let mut pointers = 0u8;
                let mut array = None;
                for p in f.into_inner() {
                    match p.as_rule() {
                        Rule::ident => words.push(ident_of(&p)),
                        Rule::ptr_star => pointers = pointers.saturating_add(1),
                        Rule::array_len => array = p.as_str().parse().ok(),
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
        CDefinition::Record {
            union,
            name,
            fields,
        }
    }

    fn c_enum(&mut self, pair: Pair<'_, Rule>) -> CDefinition {
        // After the `enum` keyword.
        let mut inner = pair.into_inner().skip(1);
        let name = ident_of(&inner.next().expect("grammar: enum name"));
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

    fn stmt(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::if_stmt => self.if_stmt(pair),
            Rule::block => StmtKind::Block(self.block(pair)),
            Rule::while_stmt => {
                let mut inner = pair.into_inner();
                let cond = self.expr(inner.next().expect("grammar: while condition"));
                let body = self.block(inner.next().expect("grammar: while body"));
                StmtKind::While { cond, body }
            }
            Rule::unroll_stmt => {
                let mut inner = pair.into_inner();
                let count = self.expr(inner.next().expect("grammar: unroll count"));
                let body = self.block(inner.next().expect("grammar: unroll body"));
                StmtKind::Unroll { count, body }
            }
            Rule::for_stmt => {
                let mut inner = pair.into_inner();
                let mut head = inner.next().expect("grammar: for head").into_inner();
                let body = self.block(inner.next().expect("grammar: for body"));
                let var = var_ident(&head.next().expect("grammar: for variable"));
                let source = head.next().expect("grammar: for source");
                if source.as_rule() == Rule::range {
                    let mut r = source.into_inner();
                    let start = self.expr(r.next().expect("grammar: range start"));
                    let end = self.expr(r.next().expect("grammar: range end"));
                    StmtKind::ForRange {
                        var,
                        start,
                        end,
                        body,
                    }
                } else {
                    let (map, keys) = self.map(source);
                    if let Some(k) = keys.first() {
                        self.errors.push(
                            Diagnostic::error(k.span, "`for` iterates over a whole map")
                                .with_hint("write `for ($kv : @map)`; `$kv.0` is the key"),
                        );
                    }
                    StmtKind::ForMap { var, map, body }
                }
            }
            Rule::break_stmt => StmtKind::Break,
            Rule::continue_stmt => StmtKind::Continue,
            Rule::return_stmt => {
                if let Some(e) = pair.into_inner().next() {
                    self.errors.push(
                        Diagnostic::error(span_of(&e), "`return` takes no value in a probe")
                            .with_hint("use `exit(code)` to stop scry with an exit code"),
                    );
                }
                StmtKind::Return
            }
            Rule::let_stmt => {
                let mut name = None;
                let mut ty = None;
                let mut value = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::variable => name = Some(var_ident(&p)),
                        Rule::type_name => ty = Some(self.type_name(p)),
                        _ => value = Some(self.expr(p)),
                    }
                }
                StmtKind::Let {
                    name: name.expect("grammar: let variable"),
                    ty,
                    value,
                }
            }
            Rule::assign_stmt => {
                let mut inner = pair.into_inner();
                let target = inner.next().expect("grammar: assignment target");
                let op = inner.next().expect("grammar: assignment operator");
                let mut value = self.expr(inner.next().expect("grammar: assigned value"));
                if let Some(bop) = compound_op(op.as_str()) {
                    let current = self.target_expr(target.clone());
                    value = Expr {
                        span,
                        kind: ExprKind::Binary {
                            op: bop,
                            lhs: Box::new(current),
                            rhs: Box::new(value),
                        },
                    };
                }
                self.assign(target, value)
            }
            Rule::incr_stmt => {
                let mut target = None;
                let mut op = BinaryOp::Add;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::incr_op if p.as_str() == "--" => op = BinaryOp::Sub,
                        Rule::incr_op => {}
                        _ => target = Some(p),
                    }
                }
                let target = target.expect("grammar: increment target");
                let current = self.target_expr(target.clone());
                let value = Expr {
                    span,
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(current),
                        rhs: Box::new(Expr {
                            kind: ExprKind::Int(1),
                            span,
                        }),
                    },
                };
                self.assign(target, value)
            }
            Rule::expr_stmt | Rule::discard_stmt => {
                StmtKind::Expr(self.expr(pair.into_inner().next().expect("grammar: expression")))
            }
            other => unreachable!("grammar produced {other:?} as a statement"),
        };
        Stmt { kind, span }
    }

    /// The statement `target = value`.
    fn assign(&mut self, target: Pair<'_, Rule>, value: Expr) -> StmtKind {
        if target.as_rule() == Rule::map {
            let (map, keys) = self.map(target);
            StmtKind::AssignMap { map, keys, value }
        } else {
            StmtKind::AssignVar {
                name: var_ident(&target),
                value,
            }
        }
    }

    /// The current value of an assignment target, for `+=` and `++`.
    fn target_expr(&mut self, target: Pair<'_, Rule>) -> Expr {
        let span = span_of(&target);
        let kind = if target.as_rule() == Rule::map {
            let (map, keys) = self.map(target);
            ExprKind::Map { map, keys }
        } else {
            ExprKind::Var(target.as_str()[1..].to_string())
        };
        Expr { kind, span }
    }

    fn type_name(&mut self, pair: Pair<'_, Rule>) -> TypeName {
        let span = span_of(&pair);
        let mut base = BaseType::Scalar(String::new());
        let mut pointers = 0u8;
        let mut array = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::base_type => {
                    let b = p.into_inner().next().expect("grammar: base type");
                    base = if b.as_rule() == Rule::typeof_type {
                        let of = b.into_inner().next().expect("grammar: typeof operand");
                        BaseType::Typeof(Box::new(self.type_or_expr(of)))
                    } else if b.as_rule() == Rule::record_type {
                        let mut r = b.into_inner();
                        let keyword = r.next().map(|k| k.as_str().to_string());
                        let name = r.next().map(|n| n.as_str().to_string());
                        BaseType::Record {
                            keyword: keyword.unwrap_or_default(),
                            name: name.unwrap_or_default(),
                        }
                    } else {
                        BaseType::Scalar(b.as_str().to_string())
                    };
                }
                Rule::ptr_star => pointers = pointers.saturating_add(1),
                Rule::array_len => match p.as_str().parse() {
                    Ok(n) => array = Some(n),
                    Err(_) => self.errors.push(Diagnostic::error(
                        span_of(&p),
                        "array length does not fit in 32 bits",
                    )),
                },
                _ => {}
            }
        }
        TypeName {
            base,
            pointers,
            array,
            span,
        }
    }

    fn type_or_expr(&mut self, pair: Pair<'_, Rule>) -> TypeOrExpr {
        if pair.as_rule() == Rule::type_name {
            TypeOrExpr::Type(self.type_name(pair))
        } else {
            TypeOrExpr::Expr(Box::new(self.expr(pair)))
        }
    }

    /// `@name[k1, k2]`: the map's name (with its `@`) and the keys.
    fn map(&mut self, pair: Pair<'_, Rule>) -> (Ident, Vec<Expr>) {
        let mut inner = pair.into_inner();
        let name = inner.next().expect("grammar: map name");
        let map = Ident {
            name: name.as_str().to_string(),
            span: span_of(&name),
        };
        (map, inner.map(|k| self.expr(k)).collect())
    }

    fn if_stmt(&mut self, pair: Pair<'_, Rule>) -> StmtKind {
        let mut inner = pair.into_inner();
        let cond = self.expr(inner.next().expect("grammar: if condition"));
        let then = self.block(inner.next().expect("grammar: if body"));
        let otherwise = match inner.next() {
            Some(else_clause) => {
                let branch = else_clause.into_inner().next().expect("grammar: else body");
                match branch.as_rule() {
                    Rule::if_stmt => {
                        let span = span_of(&branch);
                        vec![Stmt {
                            kind: self.if_stmt(branch),
                            span,
                        }]
                    }
                    _ => self.block(branch),
                }
            }
            None => Vec::new(),
        };
        StmtKind::If {
            cond,
            then,
            otherwise,
        }
    }

    fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        match pair.as_rule() {
            Rule::binary => return self.binary(pair),
            Rule::block_expr => return self.primary(pair),
            _ => {}
        }
        let span = span_of(&pair);
        let mut inner: Vec<Pair<'_, Rule>> = pair.into_inner().collect();
        let first = self.binary(inner.remove(0));
        match inner.len() {
            0 => first,
            1 => Expr {
                span,
                kind: ExprKind::Ternary {
                    cond: Box::new(first),
                    then: None,
                    otherwise: Box::new(self.expr(inner.remove(0))),
                },
            },
            _ => {
                let then = self.expr(inner.remove(0));
                let otherwise = self.expr(inner.remove(0));
                Expr {
                    span,
                    kind: ExprKind::Ternary {
                        cond: Box::new(first),
                        then: Some(Box::new(then)),
                        otherwise: Box::new(otherwise),
                    },
                }
            }
        }
    }

    fn binary(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let pairs: Pairs<'_, Rule> = pair.into_inner();
        // The Pratt callbacks all need `self`; a RefCell-free way is to collect errors afterwards.
        let errors = std::cell::RefCell::new(std::mem::take(&mut self.errors));
        let expr = pratt()
            .map_primary(|p| {
                let mut b = Builder { errors: Vec::new() };
                let e = b.primary(p);
                errors.borrow_mut().extend(b.errors);
                e
            })
            .map_prefix(|op, operand| {
                let span = span_of(&op).to(operand.span);
                let op_kind = match op.as_rule() {
                    Rule::not => UnaryOp::Not,
                    Rule::bit_not => UnaryOp::BitNot,
                    Rule::deref => UnaryOp::Deref,
                    Rule::addr_of => UnaryOp::AddrOf,
                    Rule::cast => {
                        let mut b = Builder { errors: Vec::new() };
                        let ty = b.type_name(op.into_inner().next().expect("grammar: cast type"));
                        errors.borrow_mut().extend(b.errors);
                        return Expr {
                            kind: ExprKind::Cast {
                                ty,
                                operand: Box::new(operand),
                            },
                            span,
                        };
                    }
                    _ => UnaryOp::Neg,
                };
                Expr {
                    kind: ExprKind::Unary {
                        op: op_kind,
                        operand: Box::new(operand),
                    },
                    span,
                }
            })
            .map_postfix(|base, op| {
                let arrow = op.as_rule() == Rule::arrow_field;
                let span = base.span.to(span_of(&op));
                if op.as_rule() == Rule::index {
                    let mut b = Builder { errors: Vec::new() };
                    let index = b.expr(op.into_inner().next().expect("grammar: index"));
                    errors.borrow_mut().extend(b.errors);
                    return Expr {
                        kind: ExprKind::Index {
                            base: Box::new(base),
                            index: Box::new(index),
                        },
                        span,
                    };
                }
                let id = op.into_inner().next().expect("grammar: field name");
                let field = Ident {
                    name: id.as_str().to_string(),
                    span: span_of(&id),
                };
                Expr {
                    kind: ExprKind::Field {
                        base: Box::new(base),
                        field,
                        arrow,
                    },
                    span,
                }
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::log_or => BinaryOp::LogOr,
                    Rule::log_and => BinaryOp::LogAnd,
                    Rule::bit_or => BinaryOp::BitOr,
                    Rule::bit_xor => BinaryOp::BitXor,
                    Rule::bit_and => BinaryOp::BitAnd,
                    Rule::eq => BinaryOp::Eq,
                    Rule::ne => BinaryOp::Ne,
                    Rule::lt => BinaryOp::Lt,
                    Rule::gt => BinaryOp::Gt,
                    Rule::le => BinaryOp::Le,
                    Rule::ge => BinaryOp::Ge,
                    Rule::shl => BinaryOp::Shl,
                    Rule::shr => BinaryOp::Shr,
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    Rule::div => BinaryOp::Div,
                    _ => BinaryOp::Rem,
                };
                let span = lhs.span.to(rhs.span);
                Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                }
            })
            .parse(pairs);
        self.errors = errors.into_inner();
        expr
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => return self.expr(pair),
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::positional => match &pair.as_str()[1..] {
                "#" => ExprKind::ArgCount,
                n => ExprKind::Positional(n.parse().unwrap_or(u32::MAX)),
            },
            Rule::tuple => ExprKind::Tuple(pair.into_inner().map(|e| self.expr(e)).collect()),
            Rule::block_expr => {
                let text = pair.as_str();
                let start = pair.as_span().start();
                let mut stmts = self.block(pair);
                // The value is a last expression with no `;` after it.
                let value = match stmts.last() {
                    Some(Stmt {
                        kind: StmtKind::Expr(_),
                        span: last,
                    }) if !text[last.end - start..].contains(';') => match stmts.pop() {
                        Some(Stmt {
                            kind: StmtKind::Expr(e),
                            ..
                        }) => Some(e),
                        _ => None,
                    },
                    _ => None,
                };
                match value {
                    Some(value) => ExprKind::Block {
                        stmts,
                        value: Box::new(value),
                    },
                    None => {
                        self.errors.push(
                            Diagnostic::error(
                                span,
                                "a block used as a value ends with an expression",
                            )
                            .with_hint(
                                "drop the `;` after the last expression: `{ $a = 2; $a * 3 }`",
                            ),
                        );
                        ExprKind::Int(0)
                    }
                }
            }
            Rule::sizeof => {
                let inner = pair.into_inner().next().expect("grammar: sizeof operand");
                ExprKind::SizeOf(self.type_or_expr(inner))
            }
            Rule::offsetof => {
                let mut inner = pair.into_inner();
                let of = self.type_or_expr(inner.next().expect("grammar: offsetof type"));
                ExprKind::OffsetOf {
                    of,
                    path: inner.map(|p| ident_of(&p)).collect(),
                }
            }
            Rule::integer => match parse_int(pair.as_str()) {
                Some(v) => ExprKind::Int(v),
                None => {
                    self.errors.push(
                        Diagnostic::error(span, "integer literal does not fit in 64 bits")
                            .with_hint(
                                "the largest integer is 18446744073709551615 (0xffffffffffffffff)",
                            ),
                    );
                    ExprKind::Int(0)
                }
            },
            Rule::string => {
                let text = pair.as_str();
                let raw = &text[1..text.len() - 1];
                match unescape(raw) {
                    Ok(value) => ExprKind::Str {
                        value,
                        raw: raw.to_string(),
                    },
                    Err((offset, len, msg)) => {
                        let at = span.start + 1 + offset;
                        self.errors.push(
                            Diagnostic::error(Span::new(at, at + len), msg)
                                .with_hint("valid escapes: \\n \\t \\r \\\\ \\\" \\' \\0 \\a \\b \\f \\v \\NNN (octal) \\xHH (hex)"),
                        );
                        ExprKind::Str {
                            value: Vec::new(),
                            raw: raw.to_string(),
                        }
                    }
                }
            }
            Rule::variable => ExprKind::Var(pair.as_str()[1..].to_string()),
            Rule::ident => ExprKind::Ident(pair.as_str().to_string()),
            Rule::map => {
                let (map, keys) = self.map(pair);
                ExprKind::Map { map, keys }
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let name = inner.next().expect("grammar: function name");
                let func = Ident {
                    name: name.as_str().to_string(),
                    span: span_of(&name),
                };
                let args = inner.map(|a| self.expr(a)).collect();
                ExprKind::Call { func, args }
            }
            other => unreachable!("grammar produced {other:?} as a primary"),
        };
        Expr { kind, span }
    }
}

/// The operator of a compound assignment (`+=` → `+`); `None` for plain `=`.
fn compound_op(text: &str) -> Option<BinaryOp> {
    Some(match text {
        "+=" => BinaryOp::Add,
        "-=" => BinaryOp::Sub,
        "*=" => BinaryOp::Mul,
        "/=" => BinaryOp::Div,
        "%=" => BinaryOp::Rem,
        "&=" => BinaryOp::BitAnd,
        "|=" => BinaryOp::BitOr,
        "^=" => BinaryOp::BitXor,
        "<<=" => BinaryOp::Shl,
        ">>=" => BinaryOp::Shr,
        _ => return None,
    })
}

/// Moves every span of a tree parsed from a substring to where the substring is.
fn shift_spans(e: &mut Expr, by: usize) {
    struct Shift(usize);
    impl VisitorMut for Shift {
        fn span(&mut self, span: &mut Span) {
            *span = Span::new(span.start + self.0, span.end + self.0);
        }
    }
    Shift(by).expr(e);
}

/// Decimal, hex or `NeM`, with `_` separators, an ignored C suffix (`UL`…) or a duration suffix
/// (`ns us ms s m h d`, giving nanoseconds). `None` when it does not fit in 64 bits.
fn parse_int(text: &str) -> Option<u64> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(hex) = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        let hex = hex.trim_end_matches(['U', 'L', 'u', 'l']);
        return u64::from_str_radix(hex, 16).ok();
    }
    let digits_end = clean
        .find(|c: char| !c.is_ascii_digit() && c != 'e')
        .unwrap_or(clean.len());
    let (number, suffix) = clean.split_at(digits_end);
    let value = match number.split_once('e') {
        Some((m, e)) => m
            .parse::<u64>()
            .ok()?
            .checked_mul(10u64.checked_pow(e.parse().ok()?)?)?,
        None => number.parse().ok()?,
    };
    let scale: u64 = match suffix {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => 1,
    };
    value.checked_mul(scale)
}

/// Where byte `offset` of an unescaped string literal came from in its raw text.
pub fn raw_offset(raw: &str, offset: usize) -> usize {
    let mut i = 0;
    for _ in 0..offset {
        if i >= raw.len() {
            break;
        }
        i += escape_len(&raw.as_bytes()[i..]);
    }
    i
}

/// The length in the raw text of the character or escape starting `rest`.
fn escape_len(rest: &[u8]) -> usize {
    if rest[0] != b'\\' || rest.len() < 2 {
        return 1;
    }
    match rest[1] {
        b'0'..=b'7' => {
            1 + rest[1..]
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(d))
                .count()
        }
        b'x' => {
            2 + rest[2..]
                .iter()
                .take(2)
                .take_while(|d| d.is_ascii_hexdigit())
                .count()
        }
        _ => 2,
    }
}

/// Decodes C escapes. On error, the byte offset and length of the bad escape within `text`.
fn unescape(text: &str) -> Result<Vec<u8>, (usize, usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let esc =
            *bytes
                .get(i + 1)
                .ok_or((i, 1, "a string cannot end with a lone `\\`".to_string()))?;
        let simple = match esc {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            b'\'' => Some(b'\''),
            b'?' => Some(b'?'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
        } else if esc.is_ascii_digit() && esc < b'8' {
            let digits = bytes[i + 1..]
                .iter()
                .take(3)
                .take_while(|d| (b'0'..=b'7').contains(d))
                .count();
            let s = &text[i + 1..i + 1 + digits];
            let v = u32::from_str_radix(s, 8).unwrap_or(256);
            if v > 255 {
                return Err((
                    i,
                    digits + 1,
                    format!("octal escape `\\{s}` is larger than a byte"),
                ));
            }
            out.push(v as u8);
            i += 1 + digits;
        } else if esc == b'x' {
            let digits = bytes[i + 2..]
                .iter()
                .take(2)
                .take_while(|d| d.is_ascii_hexdigit())
                .count();
            if digits == 0 {
                return Err((i, 2, "`\\x` needs one or two hex digits".to_string()));
            }
            out.push(u8::from_str_radix(&text[i + 2..i + 2 + digits], 16).unwrap_or(0));
            i += 2 + digits;
        } else {
            let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
            return Err((
                i,
                1 + ch_len,
                format!("unknown escape `\\{}`", &text[i + 1..i + 1 + ch_len]),
            ));
        }
    }
    Ok(out)
}

/// Turns pest's error into one diagnostic with a readable list of what was expected.
fn syntax_error(e: pest::error::Error<Rule>, source: &str) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = match e.location {
        InputLocation::Pos(p) => (p, p + 1),
        InputLocation::Span((s, t)) => (s, t.max(s + 1)),
    };
    let expected = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            match names.len() {
                0 => String::new(),
                1 => format!("; expected {}", names[0]),
                _ => {
                    let last = names.pop().unwrap_or_default();
                    format!("; expected {} or {last}", names.join(", "))
                }
            }
        }
        ErrorVariant::CustomError { message } => format!(": {message}"),
    };
    let found: String = {
        let rest = e.line().chars().skip(match e.line_col {
            pest::error::LineColLocation::Pos((_, c))
            | pest::error::LineColLocation::Span((_, c), _) => c - 1,
        });
        let rest: String = rest.collect();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if word.is_empty() {
            rest.chars().next().map(String::from).unwrap_or_default()
        } else {
            word
        }
    };
    let message = format!("syntax error: unexpected `{found}`{expected}");
    if start >= source.len() {
        // Point just past the last thing written, not at an empty last line.
        let at = source.trim_end().len();
        return Diagnostic::error(Span::new(at, at + 1), "unexpected end of the program")
            .with_hint("a closing `}` or `)` may be missing");
    }
    let mut d = Diagnostic::error(Span::new(start, end), message);
    let line = e.line();
    if let InputLocation::Pos(p) = e.location {
        let col = match e.line_col {
            pest::error::LineColLocation::Pos((_, c)) => c,
            pest::error::LineColLocation::Span((_, c), _) => c,
        };
        let before = line.get(..col.saturating_sub(1)).unwrap_or("").trim_end();
        if p > 0
            && (before.ends_with(')')
                || before.ends_with(|c: char| c.is_alphanumeric() || c == '"'))
        {
            d = d.with_hint("statements are separated by `;`");
        }
    }
    d
}

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::EOI => "end of input",
        Rule::probe | Rule::attach_list | Rule::attach_point => {
            "a probe such as `tracepoint:syscalls:sys_enter_openat`"
        }
        Rule::predicate => "`/predicate/`",
        Rule::block => "`{`",
        Rule::stmts | Rule::if_stmt | Rule::assign_stmt | Rule::expr_stmt => "a statement",
        Rule::expr
        | Rule::integer
        | Rule::string
        | Rule::call
        | Rule::variable
        | Rule::ident
        | Rule::map
        | Rule::map_name => "an expression",
        Rule::log_or
        | Rule::log_and
        | Rule::bit_or
        | Rule::bit_xor
        | Rule::bit_and
        | Rule::eq
        | Rule::ne
        | Rule::le
        | Rule::ge
        | Rule::lt
        | Rule::gt
        | Rule::shl
        | Rule::shr
        | Rule::add
        | Rule::sub
        | Rule::mul
        | Rule::div
        | Rule::rem => "an operator",
        Rule::field | Rule::arrow_field => "`.field`",
        Rule::not | Rule::bit_not | Rule::neg => "an expression",
        Rule::else_clause => "`else`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
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
