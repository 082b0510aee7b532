//! Expressions: bpftrace's operator precedence (a Pratt parser), primaries, types as written,
//! and the spans of a `#define`'s value, parsed apart from the script.

use super::literals::{parse_int, unescape};
use super::{ident_of, span_of, Builder, Rule};
use crate::ast::visit::VisitorMut;
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::OnceLock;

impl Builder {
    pub(super) fn type_name(&mut self, pair: Pair<'_, Rule>) -> TypeName {
        let span = span_of(&pair);
        let mut base = BaseType::Scalar(String::new());
        let mut pointers = 0u8;
        let mut array = Vec::new();
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
                // `[]` is length 0: a cast's operand gives it.
                Rule::array_dim => match p.clone().into_inner().next() {
                    None => array.push(0),
                    Some(len) => match len.as_str().parse() {
                        Ok(n) => array.push(n),
                        Err(_) => self.errors.push(Diagnostic::error(
                            span_of(&len),
                            "array length does not fit in 32 bits",
                        )),
                    },
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

    pub(super) fn type_or_expr(&mut self, pair: Pair<'_, Rule>) -> TypeOrExpr {
        if pair.as_rule() == Rule::type_name {
            TypeOrExpr::Type(self.type_name(pair))
        } else {
            TypeOrExpr::Expr(Box::new(self.expr(pair)))
        }
    }

    pub(super) fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
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

    pub(super) fn binary(&mut self, pair: Pair<'_, Rule>) -> Expr {
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

    pub(super) fn primary(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => return self.expr(pair),
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::positional => match &pair.as_str()[1..] {
                "#" => ExprKind::ArgCount,
                n => ExprKind::Positional(n.parse().unwrap_or(u32::MAX)),
            },
            Rule::tuple => {
                let mut inner = pair.into_inner();
                let first = self.expr(inner.next().expect("grammar: a first expression"));
                let Some(rest) = inner.next() else {
                    // `(e)`: just e.
                    return first;
                };
                let mut items = vec![first];
                items.extend(rest.into_inner().map(|e| self.expr(e)));
                ExprKind::Tuple(items)
            }
            Rule::record => ExprKind::Record(
                pair.into_inner()
                    .map(|field| {
                        let mut parts = field.into_inner();
                        let name = parts.next().expect("grammar: a field name");
                        let name = Ident {
                            name: name.as_str().to_string(),
                            span: span_of(&name),
                        };
                        (
                            name,
                            self.expr(parts.next().expect("grammar: a field value")),
                        )
                    })
                    .collect(),
            ),
            Rule::incr_expr => {
                let (target, step, prefix) = self.increment(pair);
                let update = Stmt { kind: step, span };
                // `$x++` keeps the old value in a variable of the block's own (a name no
                // script can write).
                let (stmts, value) = if prefix {
                    (vec![update], self.target_expr(target))
                } else {
                    let before = Stmt {
                        kind: StmtKind::AssignVar {
                            name: Ident {
                                name: "(before)".into(),
                                span,
                            },
                            value: self.target_expr(target),
                        },
                        span,
                    };
                    let old = Expr {
                        kind: ExprKind::Var("(before)".into()),
                        span,
                    };
                    (vec![before, update], old)
                };
                ExprKind::Block {
                    stmts,
                    value: Box::new(value),
                }
            }
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

pub(super) fn pratt() -> &'static PrattParser<Rule> {
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

/// The operator of a compound assignment (`+=` → `+`); `None` for plain `=`.
pub(super) fn compound_op(text: &str) -> Option<BinaryOp> {
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
pub(super) fn shift_spans(e: &mut Expr, by: usize) {
    struct Shift(usize);
    impl VisitorMut for Shift {
        fn span(&mut self, span: &mut Span) {
            *span = Span::new(span.start + self.0, span.end + self.0);
        }
    }
    Shift(by).expr(e);
}
