//! Strings: `==`/`!=` between strings, `strncmp`, `strcontains`, `strlen`.

use super::{expr, fold, str_literal, Checker};
use crate::ast::{self, BinaryOp, ExprKind as A, Span, UnaryOp};
use crate::builtins::ValueFn;
use crate::typed::{self, ExprKind as T};
use crate::types::{AddrSpace, IntType, Type};

impl Checker<'_> {
    /// `a == b` / `a != b` where one side is a string: both must be.
    pub(super) fn string_comparison(
        &mut self,
        op: BinaryOp,
        l: typed::Expr,
        r: typed::Expr,
        span: Span,
    ) -> Option<typed::Expr> {
        if !matches!(op, BinaryOp::Eq | BinaryOp::Ne) {
            let d = self
                .error(
                    span,
                    format!("strings cannot be compared with `{}`", op.symbol()),
                )
                .with_hint("strings support == and !=; strncmp() compares a prefix");
            self.diags.push(d);
            return None;
        }
        for side in [&l, &r] {
            if !side.ty.is_str() {
                let d = self
                    .error(side.span, format!("comparing a string with {}", side.ty))
                    .with_hint(match side.ty {
                        Type::Ptr { .. } => "read the string it points to with str(…)",
                        _ => "both sides of a string comparison must be strings",
                    });
                self.diags.push(d);
                return None;
            }
        }
        Some(negate_if(op == BinaryOp::Ne, str_eq(l, r, None, span)))
    }

    /// `strncmp(a, b, n)`: 0 when the first n characters are equal, as in C.
    pub(super) fn strncmp(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let a = self.string_arg(&args[0], "strncmp");
        let b = self.string_arg(&args[1], "strncmp");
        let n = self.const_int(&args[2], "strncmp's length");
        let (a, b, n) = (a?, b?, n?);
        if n < 0 {
            let d = self.error(args[2].span, "strncmp's length cannot be negative");
            self.diags.push(d);
            return None;
        }
        let n = n.min(i64::from(u32::MAX)) as u32;
        // strncmp is 0 on equality (the negation of "equal"), an integer as in C.
        let differ = negate_if(true, str_eq(a, b, Some(n), span));
        Some(expr(
            T::Cast(Box::new(differ)),
            Type::Int(IntType::I64),
            span,
        ))
    }

    /// `strcontains(h, n)` (a bool) or `strstr(h, n)` (where `n` starts in `h`, or -1).
    pub(super) fn strcontains(
        &mut self,
        f: ValueFn,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<typed::Expr> {
        let h = self.string_arg(&args[0], f.name());
        let n = self.string_arg(&args[1], f.name());
        let (h, n) = (h?, n?);
        let position = f == ValueFn::Strstr;
        Some(expr(
            T::StrContains {
                haystack: Box::new(h),
                needle: Box::new(n),
                position,
            },
            if position {
                Type::Int(IntType::I64)
            } else {
                Type::Bool
            },
            span,
        ))
    }

    pub(super) fn strlen(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let s = self.string_arg(&args[0], "strlen")?;
        if let T::Str(bytes) = &s.kind {
            return Some(expr(
                T::Int(bytes.len() as u64),
                Type::Int(IntType::U64),
                span,
            ));
        }
        Some(expr(T::StrLen(Box::new(s)), Type::Int(IntType::U64), span))
    }

    fn string_arg(&mut self, e: &ast::Expr, func: &str) -> Option<typed::Expr> {
        let t = self.expr(e)?;
        if t.ty.is_str() {
            return Some(t);
        }
        let d = self
            .error(
                e.span,
                format!("{func}() takes strings, but this is {}", t.ty),
            )
            .with_hint(match t.ty {
                Type::Ptr { .. } => "read the string it points to with str(…)",
                _ => "pass a string",
            });
        self.diags.push(d);
        None
    }
}

fn str_eq(l: typed::Expr, r: typed::Expr, limit: Option<u32>, span: Span) -> typed::Expr {
    // Two literals compare now.
    if let (T::Str(a), T::Str(b)) = (&l.kind, &r.kind) {
        let n = limit.map_or(usize::MAX, |n| n as usize);
        let cut = |s: &[u8]| s[..s.len().min(n)].to_vec();
        return expr(T::Int(u64::from(cut(a) == cut(b))), Type::Bool, span);
    }
    expr(
        T::StrEq {
            lhs: Box::new(l),
            rhs: Box::new(r),
            limit,
        },
        Type::Bool,
        span,
    )
}

fn negate_if(negate: bool, e: typed::Expr) -> typed::Expr {
    if !negate {
        return e;
    }
    if let Some(v) = fold(&e) {
        return expr(T::Int(u64::from(v == 0)), Type::Bool, e.span);
    }
    let span = e.span;
    expr(
        T::Unary {
            op: UnaryOp::Not,
            operand: Box::new(e),
        },
        Type::Bool,
        span,
    )
}

impl Checker<'_> {
    pub(super) fn str_call(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        // `str($1)` is the argument's text even when it is a number; `str($1 + n)` skips n
        // characters of it.
        let positional = match &args[0].kind {
            A::Positional(n) => Some((*n, 0)),
            A::Binary {
                op: crate::ast::BinaryOp::Add,
                lhs,
                rhs,
            } => match (&lhs.kind, &rhs.kind) {
                (A::Positional(n), A::Int(k)) => Some((*n, *k)),
                _ => None,
            },
            _ => None,
        };
        if let Some((n, skip)) = positional {
            let text = self
                .options
                .args
                .get((n as usize).wrapping_sub(1))
                .cloned()
                .unwrap_or_default();
            let bytes = text.into_bytes();
            let mut rest = bytes.get(skip as usize..).unwrap_or(&[]).to_vec();
            rest.truncate(self.options.max_strlen.saturating_sub(1) as usize);
            return Some(str_literal(rest, span));
        }
        let ptr = self.expr(&args[0]);
        let len = match args.get(1) {
            Some(a) => Some(self.scalar(a, "str's length")?),
            None => None,
        };
        let ptr = ptr?;
        let max = self.options.max_strlen;
        // A literal length bounds the buffer; `str(p, n)` reads at most n - 1 characters (n
        // counts the NUL, as in bpftrace).
        let cap = match len.as_ref().map(|l| &l.kind) {
            Some(T::Int(n)) => (*n).clamp(1, u64::from(max)) as u32,
            _ => max,
        };
        let space = match &ptr.ty {
            Type::Ptr { space, .. } => *space,
            Type::Int(_) => AddrSpace::Unknown,
            // Already a string (a `__data_loc` field, comm): str() is the identity.
            Type::Str(n) => {
                let n = (*n).min(cap);
                return Some(typed::Expr {
                    ty: Type::Str(n),
                    span,
                    ..ptr
                });
            }
            other => {
                let d = self.error(
                    args[0].span,
                    format!("str() reads through a pointer, but this is {other}"),
                );
                self.diags.push(d);
                return None;
            }
        };
        Some(expr(
            T::ReadStr {
                ptr: Box::new(ptr),
                space,
                len: len.map(Box::new),
            },
            Type::Str(cap),
            span,
        ))
    }
}
