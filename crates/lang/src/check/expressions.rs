//! Expressions: literals, operators and constant folding, `?:`, comparisons between arrays,
//! and calls used as values, dispatched by what they call (a value function, a map function;
//! an aggregation or a statement in a value's place is an error).

use super::*;
use crate::ast::{self, ExprKind as A, Span, UnaryOp};
use crate::builtins::{self, Callee};
use crate::diagnostic::{nearest, Diagnostic};
use crate::typed::{self, ExprKind as T};
use crate::types::{IntType, Type};

impl Checker<'_> {
    /// An expression that must be an integer or pointer.
    pub(super) fn scalar(&mut self, e: &ast::Expr, what: &str) -> Option<typed::Expr> {
        let t = self.expr(e)?;
        self.require_scalar(t, what)
    }

    pub(super) fn require_scalar(&mut self, t: typed::Expr, what: &str) -> Option<typed::Expr> {
        if t.ty.is_scalar() {
            return Some(t);
        }
        let mut d = self.error(
            t.span,
            format!("{what} must be an integer, but this is {}", t.ty),
        );
        if t.ty.is_str() {
            d = d.with_hint(
                "compare it with a string: `comm == \"bash\"`, or test its length with strlen()",
            );
        }
        self.diags.push(d);
        None
    }

    /// An integer that must be known when the program is compiled.
    pub(super) fn const_int(&mut self, e: &ast::Expr, what: &str) -> Option<i64> {
        let t = self.expr(e)?;
        match fold(&t) {
            Some(v) => Some(v),
            None => {
                let d = self.error(e.span, format!("{what} must be a constant"));
                self.diags.push(d);
                None
            }
        }
    }

    /// A record's (or an event's) field names, each used once.
    pub(super) fn distinct_fields(
        &mut self,
        fields: &[(ast::Ident, ast::Expr)],
        what: &str,
    ) -> Option<()> {
        for (i, (name, _)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(n, _)| n.name == name.name) {
                let d = self.error(
                    name.span,
                    format!("the {what} names field `{}` twice", name.name),
                );
                self.diags.push(d);
                return None;
            }
        }
        Some(())
    }

    pub(super) fn expr(&mut self, e: &ast::Expr) -> Option<typed::Expr> {
        match &e.kind {
            A::Int(v) => {
                let ty = if *v > i64::MAX as u64 {
                    IntType::U64
                } else {
                    IntType::I64
                };
                Some(expr(T::Int(*v), Type::Int(ty), e.span))
            }
            A::Bool(b) => Some(expr(T::Int(u64::from(*b)), Type::Bool, e.span)),
            A::Str { value, .. } => Some(str_literal(value.clone(), e.span)),
            A::Positional(n) => Some(self.positional(*n, e.span)),
            A::ArgCount => Some(expr(
                T::Int(self.options.args.len() as u64),
                Type::Int(IntType::I64),
                e.span,
            )),
            A::Var(name) => match self.lookup_var(name) {
                // `let $x;` read before any assignment: zero, an integer (as bpftrace has it).
                Some(id) if self.vars[id.0].ty == Type::Void => {
                    self.vars[id.0].ty = Type::Int(IntType::I64);
                    Some(expr(T::Var(id), self.vars[id.0].ty.clone(), e.span))
                }
                Some(id) => Some(expr(T::Var(id), self.vars[id.0].ty.clone(), e.span)),
                None if self.failed_vars.contains(name) => None,
                None => {
                    let names: Vec<String> = self
                        .scopes
                        .iter()
                        .flatten()
                        .map(|(n, _)| n.clone())
                        .collect();
                    let hint = match nearest(name, names.iter().map(String::as_str)) {
                        Some(n) => format!("did you mean `${n}`?"),
                        None => format!("assign it before use: `${name} = …;`"),
                    };
                    let d = self
                        .error(e.span, format!("unknown variable `${name}`"))
                        .with_hint(hint);
                    self.diags.push(d);
                    None
                }
            },
            A::Ident(name) => self.ident(name, e.span),
            A::Map { map, keys } => self.read_map(map, keys, e.span),
            A::Field { base, field, .. } => self.field(base, field),
            A::Index { base, index } => self.index(base, index, e.span),
            A::Call { func, args } => self.call(func, args, e.span),
            A::Cast { ty, operand } => self.cast(ty, operand, e.span),
            A::SizeOf(of) => self.size_of(of, e.span),
            A::OffsetOf { of, path } => self.offset_of(of, path, e.span),
            A::Block { stmts, value } => {
                self.push_scope();
                let (stmts, value) = self.own_scope(|ck| (ck.stmts(stmts), ck.expr(value)));
                self.pop_scope();
                let value = value?;
                Some(expr(
                    T::Block {
                        stmts,
                        value: Box::new(value.clone()),
                    },
                    value.ty,
                    e.span,
                ))
            }
            A::Record(fields) => {
                self.distinct_fields(fields, "record")?;
                let values: Vec<&ast::Expr> = fields.iter().map(|(_, v)| v).collect();
                let items = self.members(&values, "a record")?;
                let ty = Type::Tuple {
                    elems: items.iter().map(|i| var_type(&i.ty)).collect(),
                    names: fields.iter().map(|(n, _)| n.name.clone()).collect(),
                };
                Some(expr(T::Tuple(items), ty, e.span))
            }
            A::Tuple(items) => {
                let items = self.members(&items.iter().collect::<Vec<_>>(), "a tuple")?;
                let ty = Type::tuple(items.iter().map(|i| var_type(&i.ty)).collect());
                Some(expr(T::Tuple(items), ty, e.span))
            }
            A::Ternary {
                cond,
                then,
                otherwise,
            } => self.ternary(cond, then.as_deref(), otherwise, e.span),
            A::Unary {
                op: UnaryOp::Deref,
                operand,
            } => self.deref(operand, e.span),
            A::Unary {
                op: UnaryOp::AddrOf,
                operand,
            } => self.address_of(operand, e.span),
            A::Unary { op, operand } => {
                let operand = self.scalar(operand, &format!("the operand of `{}`", op.symbol()))?;
                let it = operand.ty.as_int().unwrap_or(IntType::I64);
                let ty = match op {
                    UnaryOp::Not => Type::Bool,
                    UnaryOp::Neg => Type::Int(IntType::I64),
                    _ => Type::Int(IntType {
                        bits: 64,
                        signed: it.signed,
                    }),
                };
                Some(expr(
                    T::Unary {
                        op: *op,
                        operand: Box::new(operand),
                    },
                    ty,
                    e.span,
                ))
            }
            A::Binary { op, lhs, rhs } => {
                let l = self.expr(lhs);
                let r = self.expr(rhs);
                let (l, r) = (l?, r?);
                if op.is_comparison() && (l.ty.is_str() || r.ty.is_str()) {
                    return self.string_comparison(*op, l, r, e.span);
                }
                if let (Type::Array { .. }, Type::Array { .. }) = (&l.ty, &r.ty) {
                    return self.array_comparison(*op, l, r, e.span);
                }
                let what = format!("an operand of `{}`", op.symbol());
                let l = self.require_scalar(l, &what);
                let r = self.require_scalar(r, &what);
                let (l, r) = (l?, r?);
                self.certainly_wrong(*op, &r)?;
                if let Some(p) = self.pointer_arithmetic(*op, &l, &r, e.span) {
                    return Some(p);
                }
                let (li, ri) = (
                    l.ty.as_int().unwrap_or(IntType::I64),
                    r.ty.as_int().unwrap_or(IntType::I64),
                );
                // Signed only when both sides are: mixing in an unsigned value makes the
                // operation unsigned, as in C for 64-bit operands. A literal takes the sign of
                // the other side, so `$u > 0` stays unsigned and `$s > 1` signed.
                let signed = match (&l.kind, &r.kind) {
                    (T::Int(_), _) if l.ty != Type::Int(IntType::U64) => ri.signed,
                    (_, T::Int(_)) if r.ty != Type::Int(IntType::U64) => li.signed,
                    _ => li.signed && ri.signed,
                };
                let ty = if op.is_comparison() || op.is_logical() {
                    Type::Bool
                } else {
                    Type::Int(IntType { bits: 64, signed })
                };
                Some(expr(
                    T::Binary {
                        op: *op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                        signed,
                    },
                    ty,
                    e.span,
                ))
            }
        }
    }

    /// A constant right-hand side that makes the operation certainly wrong: a division or
    /// remainder by zero, a shift by 64 or more (or by a negative count).
    fn certainly_wrong(&mut self, op: ast::BinaryOp, rhs: &typed::Expr) -> Option<()> {
        let Some(value) = super::fold(rhs) else {
            return Some(());
        };
        let (message, hint) = match op {
            ast::BinaryOp::Div | ast::BinaryOp::Rem if value == 0 => (
                format!("`{}` by zero", op.symbol()),
                "it would give 1 each time (as in bpftrace), which is never what was meant",
            ),
            ast::BinaryOp::Shl | ast::BinaryOp::Shr if !(0..64).contains(&value) => (
                format!("a shift by {value}: values have 64 bits"),
                "shift by 0 to 63",
            ),
            _ => return Some(()),
        };
        let d = self.error(rhs.span, message).with_hint(hint);
        self.diags.push(d);
        None
    }

    /// `$1`, `$2`…: a number when the argument is one, else a string; missing ones are 0.
    pub(super) fn positional(&mut self, n: u32, span: Span) -> typed::Expr {
        match self.options.args.get((n as usize).wrapping_sub(1)) {
            Some(text) => match parse_number(text) {
                Some(v) => expr(T::Int(v as u64), Type::Int(IntType::I64), span),
                None => str_literal(text.clone().into_bytes(), span),
            },
            None => {
                let d = Diagnostic::warning(span, format!("${n} is not given; it reads as 0"))
                    .with_hint("pass arguments after the script: `scry script.bt ARG…`");
                self.diags.push(d);
                expr(T::Int(0), Type::Int(IntType::I64), span)
            }
        }
    }

    pub(super) fn ternary(
        &mut self,
        cond: &ast::Expr,
        then: Option<&ast::Expr>,
        otherwise: &ast::Expr,
        span: Span,
    ) -> Option<typed::Expr> {
        let c = self.scalar(cond, "a `?:` condition");
        let t = match then {
            Some(t) => self.expr(t),
            None => c.clone(),
        };
        let o = self.expr(otherwise);
        let (c, t, o) = (c?, t?, o?);
        let ty = match (&t.ty, &o.ty) {
            (Type::Str(a), Type::Str(b)) => Type::Str((*a).max(*b)),
            (Type::Bool, Type::Bool) => Type::Bool,
            (a, b) if a.is_scalar() && b.is_scalar() => {
                let signed =
                    a.as_int().is_some_and(|i| i.signed) && b.as_int().is_some_and(|i| i.signed);
                Type::Int(IntType { bits: 64, signed })
            }
            (a, b) if a == b && storable(a) => a.clone(),
            // Tuples (and records) of the same shape: strings as long as the longer one.
            (a @ Type::Tuple { .. }, b) if a.unify(b).is_some_and(|u| storable(&u)) => {
                a.unify(b).unwrap_or_else(|| a.clone())
            }
            (a, b) => {
                let d = self
                    .error(
                        span,
                        format!("the branches of `?:` have different types: {a} and {b}"),
                    )
                    .with_hint("both branches must be integers, or both strings");
                self.diags.push(d);
                return None;
            }
        };
        Some(expr(
            T::Ternary {
                cond: Box::new(c),
                then: Box::new(t),
                otherwise: Box::new(o),
            },
            ty,
            span,
        ))
    }

    /// `a == b` / `a != b` between arrays: the same size, compared byte by byte.
    pub(super) fn array_comparison(
        &mut self,
        op: ast::BinaryOp,
        l: typed::Expr,
        r: typed::Expr,
        span: Span,
    ) -> Option<typed::Expr> {
        if !matches!(op, ast::BinaryOp::Eq | ast::BinaryOp::Ne) || l.ty.size() != r.ty.size() {
            let d = self
                .error(
                    span,
                    format!(
                        "cannot compare {} and {} with `{}`",
                        l.ty,
                        r.ty,
                        op.symbol()
                    ),
                )
                .with_hint("arrays of the same size compare with == and !=");
            self.diags.push(d);
            return None;
        }
        let eq = expr(
            T::BytesEq {
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            Type::Bool,
            span,
        );
        Some(if op == ast::BinaryOp::Ne {
            expr(
                T::Unary {
                    op: UnaryOp::Not,
                    operand: Box::new(eq),
                },
                Type::Bool,
                span,
            )
        } else {
            eq
        })
    }

    pub(super) fn call(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<typed::Expr> {
        // `comm()`, `pid()`, `retval()`: a builtin value written as a call, as bpftrace
        // allows.
        if args.is_empty() && builtins::callable_value(&func.name) {
            return self.ident(&func.name, span);
        }
        let Some(callee) = Callee::of(&func.name) else {
            if matches!(func.name.as_str(), "if" | "while" | "unroll") {
                let d = self
                    .error(func.span, format!("`{}` needs a block after it", func.name))
                    .with_hint(format!("`{} (…) {{ … }}`", func.name));
                self.diags.push(d);
                return None;
            }
            let names = builtins::all_function_names();
            let d = self.error(func.span, format!("unknown function `{}`", func.name));
            let d = match nearest(&func.name, names) {
                Some(n) => d.with_hint(format!("did you mean `{n}`?")),
                None => d.with_hint(format!(
                    "functions: {}",
                    builtins::all_function_names()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            self.diags.push(d);
            return None;
        };
        match callee {
            Callee::Aggregation(f) => {
                let name = f.name();
                let d = self
                    .error(
                        span,
                        format!("{name}() is an aggregation: it can only be assigned to a map"),
                    )
                    .with_hint(format!("as in `@x = {name}(…)` or `@x[key] = {name}(…)`"));
                self.diags.push(d);
                None
            }
            Callee::Map(f) => self.map_value_call(f, func, args, span),
            // printf, exit and the like are statements: their use as a value is an error.
            Callee::Statement(f) => {
                self.arity(func, f.arity(), args, span)?;
                self.no_value(f.name(), span)
            }
            Callee::Value(f) => {
                self.arity(func, f.arity(), args, span)?;
                self.value_function(f, args, span)
            }
        }
    }

    /// A tuple's or record's members, each checked and kept as a value (a struct by its
    /// bytes); `what` names the whole in errors.
    fn members(&mut self, items: &[&ast::Expr], what: &str) -> Option<Vec<typed::Expr>> {
        let items: Vec<Option<typed::Expr>> = items
            .iter()
            .map(|i| self.expr(i).map(|e| self.record_value(e)))
            .collect();
        let items: Vec<typed::Expr> = items.into_iter().collect::<Option<_>>()?;
        if let Some(bad) = items.iter().find(|i| !storable(&i.ty)) {
            let d = self.error(
                bad.span,
                format!("{what} cannot hold a value of type {}", bad.ty),
            );
            self.diags.push(d);
            return None;
        }
        Some(items)
    }

    /// The error for a statement-only function used as a value.
    pub(super) fn no_value<T>(&mut self, name: &str, span: Span) -> Option<T> {
        let d = self
            .error(span, format!("{name}() has no value"))
            .with_hint(format!("call {name}(…) as a statement of its own"));
        self.diags.push(d);
        None
    }
}
