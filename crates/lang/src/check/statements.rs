//! Statements: blocks and their scopes, assignments and `let`, `if`, loops, and calls made as
//! statements, dispatched by what they call (`printf` and the functions formatted like it,
//! the map functions, `print` of a value).

use super::*;
use crate::ast::{self, ExprKind as A, Span, StmtKind as S};
use crate::builtins::{Callee, MapFn};
use crate::diagnostic::Diagnostic;
use crate::printf;
use crate::typed::{self, ExprKind as T, Var, VarId};
use crate::types::{IntType, Type};

impl Checker<'_> {
    pub(super) fn stmts(&mut self, stmts: &[ast::Stmt]) -> Vec<typed::Stmt> {
        // What follows `exit()`, `return`, `break` or `continue` never runs (nor is it
        // compiled): said once per block, as bpftrace says it.
        if let Some(at) = stmts.iter().position(terminates) {
            if let Some(next) = stmts.get(at + 1) {
                self.diags
                    .push(Diagnostic::warning(next.span, "Unreachable statement."));
            }
        }
        stmts.iter().filter_map(|s| self.stmt(s)).collect()
    }

    pub(super) fn scoped(&mut self, stmts: &[ast::Stmt]) -> Vec<typed::Stmt> {
        self.push_scope();
        let out = self.stmts(stmts);
        self.pop_scope();
        out
    }

    pub(super) fn stmt(&mut self, stmt: &ast::Stmt) -> Option<typed::Stmt> {
        let kind = match &stmt.kind {
            S::Expr(e) => match &e.kind {
                A::Call { func, args } => match Callee::of(&func.name) {
                    Some(Callee::Statement(f)) => {
                        self.arity(func, f.arity(), args, e.span)?;
                        self.statement_function(f, func, args, e.span)?
                    }
                    Some(Callee::Map(MapFn::Print)) if !whole_map(args.first()) => {
                        self.print_value(args, e.span)?
                    }
                    Some(Callee::Map(
                        f @ (MapFn::Delete | MapFn::Clear | MapFn::Zero | MapFn::Print),
                    )) => self.map_statement(f, func, args, e.span)?,
                    Some(Callee::Map(MapFn::Len | MapFn::HasKey | MapFn::Find))
                    | Some(Callee::Value(_) | Callee::Aggregation(_))
                    | None => typed::StmtKind::Expr(self.expr(e)?),
                },
                // `c ? printf("a") : printf("b");`: a choice of statements, as an `if`.
                A::Ternary {
                    cond,
                    then: Some(then),
                    otherwise,
                } if is_statement_call(then) || is_statement_call(otherwise) => {
                    let cond = self.scalar(cond, "a `?:` condition");
                    let branch = |ck: &mut Self, e: &ast::Expr| {
                        let s = ast::Stmt {
                            kind: S::Expr(e.clone()),
                            span: e.span,
                        };
                        ck.scoped(std::slice::from_ref(&s))
                    };
                    let then = branch(self, then);
                    let otherwise = branch(self, otherwise);
                    typed::StmtKind::If {
                        cond: cond?,
                        then,
                        otherwise,
                    }
                }
                _ => typed::StmtKind::Expr(self.expr(e)?),
            },
            S::AssignMap { map, keys, value } => self.assign_map(map, keys, value)?,
            S::AssignVar { name, value } => {
                let Some(value) = self.expr(value) else {
                    self.failed_vars.push(name.name.clone());
                    return None;
                };
                let value = match self.lookup_var(&name.name) {
                    Some(id) => {
                        let kept = self.vars[id.0].ty.clone();
                        self.in_field_order(value, &kept)
                    }
                    None => value,
                };
                let var = self.assign_var(name, &value, stmt.span)?;
                typed::StmtKind::Assign { var, value }
            }
            S::Let { name, ty, value } => {
                return self.let_stmt(name, ty.as_ref(), value.as_ref(), stmt.span)
            }
            S::If {
                cond,
                then,
                otherwise,
            } => {
                let cond = self.scalar(cond, "an `if` condition");
                let then = self.scoped(then);
                let otherwise = self.scoped(otherwise);
                typed::StmtKind::If {
                    cond: cond?,
                    then,
                    otherwise,
                }
            }
            S::While { cond, body } => {
                let cond = self.scalar(cond, "a `while` condition");
                let body = self.loop_body(body);
                typed::StmtKind::While { cond: cond?, body }
            }
            S::ForRange {
                var,
                start,
                end,
                body,
            } => {
                let start = self.scalar(start, "a range bound");
                let end = self.scalar(end, "a range bound");
                let (start, end) = (start?, end?);
                self.push_scope();
                let id = self.declare(&var.name, Type::Int(IntType::I64));
                let body = self.loop_body(body);
                self.pop_scope();
                typed::StmtKind::ForRange {
                    var: id,
                    start,
                    end,
                    body,
                }
            }
            S::ForMap { var, map, body } => {
                let (map, ty) = self.for_map(map)?;
                self.push_scope();
                let id = self.declare(&var.name, ty);
                // The body is a callback of its own: what it declares stays in it.
                let body = self.own_scope(|ck| ck.loop_body(body));
                self.pop_scope();
                typed::StmtKind::ForMap { var: id, map, body }
            }
            S::Unroll { count, body } => {
                let n = self.const_int(count, "unroll's count")?;
                if !(1..=i64::from(MAX_UNROLL)).contains(&n) {
                    let d = self.error(
                        count.span,
                        format!("unroll's count must be between 1 and {MAX_UNROLL}"),
                    );
                    self.diags.push(d);
                    return None;
                }
                let body = self.scoped(body);
                typed::StmtKind::Unroll {
                    count: n as u32,
                    body,
                }
            }
            S::Break | S::Continue => {
                if self.loops == 0 {
                    let word = if stmt.kind == S::Break {
                        "break"
                    } else {
                        "continue"
                    };
                    let d = self
                        .error(stmt.span, format!("`{word}` outside a loop"))
                        .with_hint("use `return` to end this run of the probe");
                    self.diags.push(d);
                    return None;
                }
                if stmt.kind == S::Break {
                    typed::StmtKind::Break
                } else {
                    typed::StmtKind::Continue
                }
            }
            S::Return(value) => typed::StmtKind::Return(match value {
                Some(v) => Some(self.scalar(v, "a return value")?),
                None => None,
            }),
            S::Block(body) => typed::StmtKind::Block(self.scoped(body)),
        };
        Some(typed::Stmt {
            kind,
            span: stmt.span,
        })
    }

    pub(super) fn loop_body(&mut self, body: &[ast::Stmt]) -> Vec<typed::Stmt> {
        self.loops += 1;
        let out = self.scoped(body);
        self.loops -= 1;
        out
    }

    pub(super) fn push_scope(&mut self) {
        self.scopes.push(Vec::new());
        self.scope_ids.push(self.next_scope_id);
        self.next_scope_id += 1;
    }

    pub(super) fn pop_scope(&mut self) {
        self.scopes.pop();
        self.scope_ids.pop();
    }

    /// Declares a variable in the innermost scope.
    pub(super) fn declare(&mut self, name: &str, ty: Type) -> VarId {
        self.declare_in(self.scopes.len() - 1, name, ty)
    }

    /// Declares a variable in the scope at this depth.
    pub(super) fn declare_in(&mut self, scope: usize, name: &str, ty: Type) -> VarId {
        let id = VarId(self.vars.len());
        self.vars.push(Var {
            name: name.to_string(),
            ty,
        });
        self.born_in
            .push(self.scope_ids.last().copied().unwrap_or(0));
        let scope = scope.min(self.scopes.len() - 1);
        self.scopes[scope].push((name.to_string(), id));
        id
    }

    /// Checks with variables first assigned inside kept in the innermost scope.
    pub(super) fn own_scope<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let outer = std::mem::replace(&mut self.implicit_scope, self.scopes.len() - 1);
        let out = f(self);
        self.implicit_scope = outer;
        out
    }

    /// A record assigned where one of the same fields in another order is kept
    /// (`$a = (x=1, y=2); $a = (y=3, x=4)`): evaluated in its own order, into a variable of
    /// its own, then laid out in the kept order. Any other value is returned as it is.
    pub(super) fn in_field_order(&mut self, value: typed::Expr, kept: &Type) -> typed::Expr {
        let (Type::Tuple { names: wanted, .. }, Type::Tuple { elems, names }) = (kept, &value.ty)
        else {
            return value;
        };
        let order: Option<Vec<usize>> = wanted
            .iter()
            .map(|n| names.iter().position(|m| m == n))
            .collect();
        let Some(order) = order.filter(|o| {
            !names.is_empty()
                && names != wanted
                && names.len() == wanted.len()
                && o.len() == elems.len()
        }) else {
            return value;
        };
        let span = value.span;
        let ty = value.ty.clone();
        let elems = elems.clone();
        let scope = self.scopes.len() - 1;
        let held = self.declare_in(scope, "(record)", ty.clone());
        let items = order
            .iter()
            .map(|&i| {
                let whole = expr(T::Var(held), ty.clone(), span);
                expr(
                    T::TupleGet {
                        tuple: Box::new(whole),
                        index: i,
                    },
                    elems[i].clone(),
                    span,
                )
            })
            .collect();
        let reordered = Type::Tuple {
            elems: order.iter().map(|&i| elems[i].clone()).collect(),
            names: wanted.clone(),
        };
        let stmt = typed::Stmt {
            kind: typed::StmtKind::Assign { var: held, value },
            span,
        };
        expr(
            T::Block {
                stmts: vec![stmt],
                value: Box::new(expr(T::Tuple(items), reordered.clone(), span)),
            },
            reordered,
            span,
        )
    }

    /// The variable an assignment of `value` to `$name` writes: an existing one whose type
    /// accepts it, or a new one typed by it.
    pub(super) fn assign_var(
        &mut self,
        name: &ast::Ident,
        value: &typed::Expr,
        span: Span,
    ) -> Option<VarId> {
        if value.ty == Type::Void {
            let d = self.error(value.span, "this expression has no value to assign");
            self.diags.push(d);
            return None;
        }
        // A struct is copied whole into a variable (`$t = *curtask`), its members read there.
        if !storable(&value.ty) && !matches!(value.ty, Type::Record { .. }) {
            let d = self
                .error(
                    value.span,
                    format!(
                        "a scratch variable cannot hold a value of type {}",
                        value.ty
                    ),
                )
                .with_hint(match value.ty {
                    Type::Record { .. } => {
                        "keep a pointer to it instead: `&…`, or read the member you need"
                    }
                    _ => "read the part you need, or convert it with str() or a cast",
                });
            self.diags.push(d);
            return None;
        }
        let Some(id) = self.lookup_var(&name.name) else {
            return Some(self.declare_in(self.implicit_scope, &name.name, var_type(&value.ty)));
        };
        let have = self.vars[id.0].ty.clone();
        if have == Type::Void {
            self.vars[id.0].ty = var_type(&value.ty);
            return Some(id);
        }
        let compatible = match (&have, &value.ty) {
            (Type::Str(_), Type::Str(_)) => true,
            (
                Type::Tuple { elems: a, names },
                Type::Tuple {
                    elems: b,
                    names: other,
                },
            ) => a.len() == b.len() && names == other,
            (a, b) if a.is_scalar() && b.is_scalar() => true,
            (a, b) => a == b,
        };
        // A wider integer or a longer string assigned later widens the variable (as bpftrace
        // upcasts integers and sizes strings by the longest value).
        if compatible {
            self.vars[id.0].ty = widest(&have, &value.ty);
        }
        // First assigned in a block that has closed (`if (…) { $x = "a" } else { $x = 1 }`):
        // here it is another variable, as in bpftrace; reads after both see the later one.
        let born = self.born_in.get(id.0).copied().unwrap_or(0);
        if !compatible && !self.scope_ids.contains(&born) {
            return Some(self.declare_in(self.implicit_scope, &name.name, var_type(&value.ty)));
        }
        if !compatible {
            let d = self
                .error(
                    span,
                    format!(
                        "type mismatch: ${} holds {have}, but this assigns {}",
                        name.name, value.ty
                    ),
                )
                .with_hint(
                    "a variable's type is fixed by its first assignment; use another variable",
                );
            self.diags.push(d);
            return None;
        }
        Some(id)
    }

    /// `let $x [: type] [= value];`
    pub(super) fn let_stmt(
        &mut self,
        name: &ast::Ident,
        ty: Option<&ast::TypeName>,
        value: Option<&ast::Expr>,
        span: Span,
    ) -> Option<typed::Stmt> {
        if self
            .scopes
            .last()
            .is_some_and(|s| s.iter().any(|(n, _)| *n == name.name))
        {
            let d = self
                .error(
                    name.span,
                    format!("${} is already declared in this block", name.name),
                )
                .with_hint("assign it without `let`, or use another name");
            self.diags.push(d);
            return None;
        }
        let declared = match ty {
            Some(t) => Some(self.type_name(t)?),
            None => None,
        };
        let value = match value {
            Some(v) => Some(self.expr(v)?),
            None => None,
        };
        let ty = match (&declared, &value) {
            (Some(t), _) => var_type(t),
            (None, Some(v)) => var_type(&v.ty),
            (None, None) => Type::Void,
        };
        if let (Some(t), Some(v)) = (&declared, &value) {
            self.check_fits(t, v)?;
        }
        let id = self.declare(&name.name, ty.clone());
        // A declaration without a value starts at zero (or the empty string).
        let value = match value {
            Some(v) => v,
            None if ty == Type::Void => {
                return Some(typed::Stmt {
                    kind: typed::StmtKind::ZeroVar(id),
                    span,
                })
            }
            None => zero_of(&ty, span)?,
        };
        Some(typed::Stmt {
            kind: typed::StmtKind::Assign { var: id, value },
            span,
        })
    }

    /// Whether `value` may be stored in a place declared with type `ty`; a literal must fit.
    pub(super) fn check_fits(&mut self, ty: &Type, value: &typed::Expr) -> Option<()> {
        let ok = match (ty, &value.ty) {
            (Type::Int(i), _) if value.ty.is_scalar() => match value.kind {
                T::Int(v) => int_fits(v, &value.ty, *i),
                _ => true,
            },
            (Type::Bool, t) => t.is_scalar(),
            (Type::Ptr { .. }, t) => t.is_scalar(),
            (Type::Str(_), Type::Str(_)) => true,
            (a, b) => a == b,
        };
        if ok {
            return Some(());
        }
        let d = self.error(
            value.span,
            format!("this {} does not fit a variable declared {ty}", value.ty),
        );
        let d = match value.kind {
            T::Int(_) => d.with_hint(format!("the value is out of range for {ty}")),
            _ => d,
        };
        self.diags.push(d);
        None
    }

    pub(super) fn printf(&mut self, span: Span, args: &[ast::Expr]) -> Option<typed::StmtKind> {
        let (format, args) = self.format_args("printf", span, args)?;
        Some(typed::StmtKind::Printf { format, args })
    }

    /// `emit(format, (name = value, …))`: the record's fields are the format's arguments.
    pub(super) fn emit(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::AsyncOp> {
        let ast::ExprKind::Record(fields) = &args[1].kind else {
            let d = self
                .error(args[1].span, "emit's second argument must be a record")
                .with_hint("emit(\"%d %s\\n\", (pid = pid, comm = comm))");
            self.diags.push(d);
            return None;
        };
        self.distinct_fields(fields, "event")?;
        let names = fields.iter().map(|(n, _)| n.name.clone()).collect();
        let mut format_args = vec![args[0].clone()];
        format_args.extend(fields.iter().map(|(_, e)| e.clone()));
        let (format, args) = self.format_args("emit", span, &format_args)?;
        Some(typed::AsyncOp::Event {
            format,
            names,
            args,
        })
    }

    /// A format string and its arguments, checked against each other (printf, cat, errorf…).
    pub(super) fn format_args(
        &mut self,
        func: &str,
        span: Span,
        args: &[ast::Expr],
    ) -> Option<(printf::Format, Vec<typed::Expr>)> {
        let Some(first) = args.first() else {
            let d = self
                .error(span, format!("{func} needs a format string"))
                .with_hint("printf(\"%d\\n\", pid)");
            self.diags.push(d);
            return None;
        };
        let A::Str { value: fmt, raw } = &first.kind else {
            let d = self.error(
                first.span,
                format!("{func}'s format must be a string literal"),
            );
            self.diags.push(d);
            return None;
        };
        // Offsets in the unescaped format, mapped back to the script text.
        let locate = |at: (usize, usize)| {
            let base = first.span.start + 1;
            Span::new(
                base + crate::parser::raw_offset(raw, at.0),
                base + crate::parser::raw_offset(raw, at.1),
            )
        };
        let format = match printf::parse(fmt) {
            Ok(f) => f,
            Err(e) => {
                let d = Diagnostic::error(locate(e.at), e.message)
                    .with_hint("conversions: %d %i %u %x %X %o %c %s %p %f %e %g %a %r %rx %rh %% with flags - 0 + space #, a width, a precision, and h/hh/l/ll/j/z/t");
                self.diags.push(d);
                return None;
            }
        };
        let typed_args: Vec<Option<typed::Expr>> = args[1..]
            .iter()
            .map(|a| self.expr(a).map(|e| self.record_value(e)))
            .collect();
        let specs: Vec<&printf::Spec> = format.specs().collect();
        if specs.len() != typed_args.len() {
            let (msg, at) = if specs.len() > typed_args.len() {
                (
                    format!(
                        "{func}: the format has {} but {} {}",
                        counted(specs.len(), "conversion"),
                        counted(typed_args.len(), "argument"),
                        if typed_args.len() == 1 {
                            "follows"
                        } else {
                            "follow"
                        }
                    ),
                    locate(specs[typed_args.len()].at),
                )
            } else {
                (
                    format!(
                        "{func}: {} but the format has only {}",
                        counted(typed_args.len(), "argument"),
                        counted(specs.len(), "conversion")
                    ),
                    args[1 + specs.len()].span,
                )
            };
            self.diags.push(Diagnostic::error(at, msg));
            return None;
        }
        let mut ok = true;
        let mut out = Vec::new();
        for (spec, arg) in specs.iter().zip(typed_args) {
            let Some(arg) = arg else {
                ok = false;
                continue;
            };
            let text = String::from_utf8_lossy(&fmt[spec.at.0..spec.at.1]).into_owned();
            let fits = match spec.conv {
                printf::Conv::Buffer(_) => {
                    matches!(arg.ty, Type::Formatted(crate::types::Formatted::Buffer(_)))
                }
                c if c.takes_int() => arg.ty.is_scalar(),
                _ => matches!(
                    arg.ty,
                    Type::Str(_)
                        | Type::Stack { .. }
                        | Type::Formatted(_)
                        | Type::Tuple { .. }
                        | Type::Bool
                        | Type::Enum(_)
                ),
            };
            if !fits {
                ok = false;
                let mut d = Diagnostic::error(
                    arg.span,
                    format!(
                        "{func}: {text} expects {}, but this is {}",
                        if spec.conv.takes_int() {
                            "an integer"
                        } else {
                            "a string"
                        },
                        arg.ty
                    ),
                );
                d = match (&arg.ty, spec.conv) {
                    (Type::Ptr { .. }, printf::Conv::Str) => {
                        d.with_hint("read the string it points to with str(…)")
                    }
                    (Type::Int(_), printf::Conv::Str) => {
                        d.with_hint("print integers with %d, %u or %x")
                    }
                    (Type::Str(_), _) => d.with_hint("print strings with %s"),
                    _ => d,
                };
                self.diags.push(d);
            }
            out.push(arg);
        }
        ok.then_some((format, out))
    }
}

/// The type that holds values of both `a` and `b`, of a variable assigned both: the wider
/// integer, the longer string, and so member by member in tuples; otherwise `a`.
fn widest(a: &Type, b: &Type) -> Type {
    match (a, b) {
        (Type::Int(x), Type::Int(y)) if y.bits > x.bits => Type::Int(*y),
        (Type::Str(x), Type::Str(y)) => Type::Str(*x.max(y)),
        (
            Type::Tuple { elems: x, names },
            Type::Tuple {
                elems: y,
                names: other,
            },
        ) if x.len() == y.len() && names == other => Type::Tuple {
            elems: x.iter().zip(y).map(|(x, y)| widest(x, y)).collect(),
            names: names.clone(),
        },
        _ => a.clone(),
    }
}

/// Whether a statement always leaves its block: `exit()`, `return`, `break`, `continue`, or an
/// `if` whose branches both do, or a block that does.
fn terminates(s: &ast::Stmt) -> bool {
    let leaves = |b: &[ast::Stmt]| b.iter().any(terminates);
    match &s.kind {
        S::Expr(ast::Expr {
            kind: A::Call { func, .. },
            ..
        }) => func.name == "exit",
        S::Return(_) | S::Break | S::Continue => true,
        S::If {
            then, otherwise, ..
        } => leaves(then) && leaves(otherwise),
        S::Block(b) => leaves(b),
        _ => false,
    }
}

/// Whether an expression is a call of a function that is only a statement (`printf`).
fn is_statement_call(e: &ast::Expr) -> bool {
    matches!(&e.kind, A::Call { func, .. } if matches!(Callee::of(&func.name), Some(Callee::Statement(_))))
}

/// `1 argument`, `2 arguments`, `0 arguments`.
fn counted(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
