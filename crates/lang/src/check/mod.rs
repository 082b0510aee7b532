//! Semantic analysis: AST + probe contexts → typed program. Resolves attach points through the
//! caller's `ProbeResolver`, scopes scratch variables, types every expression, and checks printf
//! formats against their arguments. Reports every error it finds, each with a span and, where one
//! helps, a hint. No I/O, no panics.

use crate::ast::{self, ExprKind as A, Span, StmtKind as S, UnaryOp};
use crate::builtins::{self, Builtin, Callee, MapFn, Special};
use crate::diagnostic::{nearest, Diagnostic};
use crate::printf;
use crate::typed::{self, ExprKind as T, Var, VarId};
use crate::types::{AddrSpace, ContextField, Func, IntType, ProbeResolver, ResolvedProbe, Type};

mod ctypes;
mod functions;
mod kernel;
mod maps;
mod strings;

pub use maps::MAX_STACK;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Capacity of strings read with `str()`, NUL included (bpftrace's `max_strlen`).
    pub max_strlen: u32,
    /// The script's arguments: `$1`, `$2`…
    pub args: Vec<String>,
    /// The pid of the `-c` command, for `cpid`.
    pub cpid: Option<u32>,
    /// `--unsafe`: allow `system()` and `signal()`.
    pub unsafe_allowed: bool,
    /// What a probe that does not exist is (bpftrace's `missing_probes`).
    pub missing_probes: MissingProbes,
    /// Named arguments after the script (`--verbose`, `--limit=5`), for `getopt()`.
    pub named_args: Vec<(String, Option<String>)>,
}

/// What to do about a probe that cannot be found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingProbes {
    /// Stop with an error.
    #[default]
    Error,
    /// Leave it out, with a warning.
    Warn,
    /// Leave it out silently.
    Ignore,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_strlen: 1024,
            args: Vec::new(),
            cpid: None,
            unsafe_allowed: false,
            missing_probes: MissingProbes::Error,
            named_args: Vec::new(),
        }
    }
}

/// The most times `unroll` may repeat its body (bpftrace's limit).
pub const MAX_UNROLL: u32 = 100;

/// Checks a parsed program. Returns the typed program, or every error found.
pub fn check(
    program: &ast::Program,
    resolver: &dyn ProbeResolver,
    options: &CheckOptions,
) -> Result<typed::Program, Vec<Diagnostic>> {
    let mut expanded;
    let program = if program.macros.is_empty() {
        program
    } else {
        expanded = program.clone();
        crate::macros::expand(&mut expanded)?;
        &expanded
    };
    let mut diags: Vec<Diagnostic> = Vec::new();
    // The script's own C types come first, then the kernel's.
    let script_types = ctypes::ScriptTypes::new(&program.c_types, resolver, &mut diags);
    let resolver: &dyn ProbeResolver = &script_types;
    let mut probes = Vec::new();
    let mut maps = maps::Maps::new(program);
    let mut getopts = Vec::new();
    for probe in &program.probes {
        for ap in &probe.attach_points {
            let parts = ap.parts();
            let resolved = match resolver.resolve(ap.provider(), &parts) {
                Ok(r) => r,
                Err(e) => {
                    let mut d = match options.missing_probes {
                        MissingProbes::Error => Diagnostic::error(ap.span, e.message),
                        MissingProbes::Warn => Diagnostic::warning(
                            ap.span,
                            format!("{}; the probe is left out", e.message),
                        ),
                        MissingProbes::Ignore => continue,
                    };
                    d.hint = e.hint;
                    diags.push(d);
                    continue;
                }
            };
            for rp in resolved {
                let mut ck = Checker {
                    options,
                    resolver,
                    defines: &program.defines,
                    expanding: Vec::new(),
                    probe: &rp,
                    diags: Vec::new(),
                    vars: Vec::new(),
                    scopes: vec![Vec::new()],
                    loops: 0,
                    failed_vars: Vec::new(),
                    maps: &mut maps,
                    getopts: &mut getopts,
                };
                let predicate = probe
                    .predicate
                    .as_ref()
                    .and_then(|p| ck.scalar(p, "a predicate"));
                let body = ck.stmts(&probe.body);
                // `let $x;` never assigned: an integer, as bpftrace defaults it.
                for v in &mut ck.vars {
                    if v.ty == Type::Void {
                        v.ty = Type::Int(IntType::I64);
                    }
                }
                for d in ck.diags {
                    // A block attached to many probes would repeat the same error for each.
                    if !diags.contains(&d) {
                        diags.push(d);
                    }
                }
                probes.push(typed::Probe {
                    predicate,
                    body,
                    vars: ck.vars,
                    attach_span: ap.span,
                    resolved: rp,
                });
            }
        }
    }
    maps::apply_declarations(&program.map_decls, &mut maps.decls, &mut diags);
    let attach_points = program.probes.iter().flat_map(|p| &p.attach_points);
    if probes.is_empty() && !diags.iter().any(Diagnostic::is_error) {
        if let Some(first) = attach_points.clone().next() {
            diags.push(
                Diagnostic::error(first.span, "none of the program's probes exist")
                    .with_hint("list the probes there are with `scry -l`"),
            );
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(typed::Program {
            probes,
            maps: maps.decls,
            warnings: diags,
            options: getopts,
        })
    }
}

struct Checker<'a> {
    options: &'a CheckOptions,
    resolver: &'a dyn ProbeResolver,
    defines: &'a [ast::Define],
    /// The `#define`s whose values are being checked, outermost first.
    expanding: Vec<String>,
    probe: &'a ResolvedProbe,
    diags: Vec<Diagnostic>,
    /// Declared with `let $x;` and not yet assigned: `Type::Void` until the first assignment.
    vars: Vec<Var>,
    /// Innermost last: the variables declared in each open block.
    scopes: Vec<Vec<(String, VarId)>>,
    /// Variables whose assignment had an error: their uses are not reported again.
    failed_vars: Vec<String>,
    /// How many loops enclose the statement being checked (`break` needs one).
    loops: u32,
    maps: &'a mut maps::Maps,
    /// The names `getopt()` reads, across every probe.
    getopts: &'a mut Vec<String>,
}

fn expr(kind: T, ty: Type, span: Span) -> typed::Expr {
    typed::Expr { kind, ty, span }
}

fn str_literal(value: Vec<u8>, span: Span) -> typed::Expr {
    let cap = value.len() as u32 + 1;
    expr(T::Str(value), Type::Str(cap), span)
}

/// Whether a call's first argument is a whole map (`print(@m)`, not `print(@m[1])`).
fn whole_map(arg: Option<&ast::Expr>) -> bool {
    matches!(arg.map(|a| &a.kind), Some(A::Map { keys, .. }) if keys.is_empty())
}

/// Whether a variable, tuple element or map value can hold this type.
fn storable(ty: &Type) -> bool {
    match ty {
        Type::Int(_)
        | Type::Bool
        | Type::Ptr { .. }
        | Type::Str(_)
        | Type::Stack { .. }
        | Type::Enum(_) => true,
        Type::Formatted(_) => true,
        // A tuple's elements are shown one by one: byte arrays are not among them.
        Type::Tuple(items) => items
            .iter()
            .all(|t| storable(t) && !matches!(t, Type::Array { .. })),
        // Arrays of integers are kept as their bytes (`$a = pton("::1")`, `$b = args.saddr`).
        Type::Array { elem, .. } => matches!(**elem, Type::Int(_)),
        _ => false,
    }
}

/// The type a variable gets from a value: integers widened to 64 bits, keeping their sign.
fn var_type(ty: &Type) -> Type {
    match ty {
        Type::Int(i) => Type::Int(IntType {
            bits: 64,
            signed: i.signed,
        }),
        Type::Tuple(items) => Type::Tuple(items.iter().map(var_type).collect()),
        other => other.clone(),
    }
}

/// The zero value of a declared type.
fn zero_of(ty: &Type, span: Span) -> Option<typed::Expr> {
    match ty {
        Type::Str(_) => Some(str_literal(Vec::new(), span)),
        t if t.is_scalar() => Some(expr(T::Int(0), t.clone(), span)),
        _ => None,
    }
}

/// Whether the constant `v` of type `from` is in the range of `to`.
fn int_fits(v: u64, from: &Type, to: IntType) -> bool {
    let signed_from = from.as_int().is_some_and(|i| i.signed);
    let v = if signed_from {
        v as i64 as i128
    } else {
        v as i128
    };
    let (lo, hi) = if to.signed {
        (-(1i128 << (to.bits - 1)), (1i128 << (to.bits - 1)) - 1)
    } else {
        (0, (1i128 << to.bits) - 1)
    };
    (lo..=hi).contains(&v)
}

/// Decimal or hex text as a number (a script argument).
fn parse_number(text: &str) -> Option<i64> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        None if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok()?,
        None => return None,
    };
    Some(if neg { -v } else { v })
}

/// The value of a constant integer expression, if it is one.
fn fold(e: &typed::Expr) -> Option<i64> {
    use crate::ast::BinaryOp as B;
    match &e.kind {
        T::Int(v) => Some(*v as i64),
        T::Unary {
            op: UnaryOp::Neg,
            operand,
        } => fold(operand).map(i64::wrapping_neg),
        T::Unary {
            op: UnaryOp::BitNot,
            operand,
        } => fold(operand).map(|v| !v),
        T::Binary { op, lhs, rhs, .. } => {
            let (a, b) = (fold(lhs)?, fold(rhs)?);
            Some(match op {
                B::Add => a.wrapping_add(b),
                B::Sub => a.wrapping_sub(b),
                B::Mul => a.wrapping_mul(b),
                B::Div if b != 0 => a.wrapping_div(b),
                B::Rem if b != 0 => a.wrapping_rem(b),
                B::Shl => a.wrapping_shl(b as u32),
                B::Shr => a.wrapping_shr(b as u32),
                B::BitAnd => a & b,
                B::BitOr => a | b,
                B::BitXor => a ^ b,
                _ => return None,
            })
        }
        T::Cast(inner) => fold(inner),
        _ => None,
    }
}

impl Checker<'_> {
    fn error(&self, span: Span, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(span, msg)
    }

    fn lookup_var(&self, name: &str) -> Option<VarId> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter())
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    fn stmts(&mut self, stmts: &[ast::Stmt]) -> Vec<typed::Stmt> {
        stmts.iter().filter_map(|s| self.stmt(s)).collect()
    }

    fn scoped(&mut self, stmts: &[ast::Stmt]) -> Vec<typed::Stmt> {
        self.scopes.push(Vec::new());
        let out = self.stmts(stmts);
        self.scopes.pop();
        out
    }

    fn stmt(&mut self, stmt: &ast::Stmt) -> Option<typed::Stmt> {
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
                _ => typed::StmtKind::Expr(self.expr(e)?),
            },
            S::AssignMap { map, keys, value } => self.assign_map(map, keys, value)?,
            S::AssignVar { name, value } => {
                let Some(value) = self.expr(value) else {
                    self.failed_vars.push(name.name.clone());
                    return None;
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
                self.scopes.push(Vec::new());
                let id = self.declare(&var.name, Type::Int(IntType::I64));
                let body = self.loop_body(body);
                self.scopes.pop();
                typed::StmtKind::ForRange {
                    var: id,
                    start,
                    end,
                    body,
                }
            }
            S::ForMap { var, map, body } => {
                let (map, ty) = self.for_map(map)?;
                self.scopes.push(Vec::new());
                let id = self.declare(&var.name, ty);
                let body = self.loop_body(body);
                self.scopes.pop();
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
            S::Return => typed::StmtKind::Return,
            S::Block(body) => typed::StmtKind::Block(self.scoped(body)),
        };
        Some(typed::Stmt {
            kind,
            span: stmt.span,
        })
    }

    fn loop_body(&mut self, body: &[ast::Stmt]) -> Vec<typed::Stmt> {
        self.loops += 1;
        let out = self.scoped(body);
        self.loops -= 1;
        out
    }

    /// Declares a variable in the innermost scope.
    fn declare(&mut self, name: &str, ty: Type) -> VarId {
        let id = VarId(self.vars.len());
        self.vars.push(Var {
            name: name.to_string(),
            ty,
        });
        self.scopes
            .last_mut()
            .expect("a scope is always open")
            .push((name.to_string(), id));
        id
    }

    /// The variable an assignment of `value` to `$name` writes: an existing one whose type
    /// accepts it, or a new one typed by it.
    fn assign_var(&mut self, name: &ast::Ident, value: &typed::Expr, span: Span) -> Option<VarId> {
        if value.ty == Type::Void {
            let d = self.error(value.span, "this expression has no value to assign");
            self.diags.push(d);
            return None;
        }
        if !storable(&value.ty) {
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
            return Some(self.declare(&name.name, var_type(&value.ty)));
        };
        let have = self.vars[id.0].ty.clone();
        if have == Type::Void {
            self.vars[id.0].ty = var_type(&value.ty);
            return Some(id);
        }
        let compatible = match (&have, &value.ty) {
            (Type::Str(_), Type::Str(_)) => true,
            (Type::Tuple(a), Type::Tuple(b)) => a.len() == b.len(),
            (a, b) if a.is_scalar() && b.is_scalar() => true,
            (a, b) => a == b,
        };
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
    fn let_stmt(
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
                    kind: typed::StmtKind::Block(Vec::new()),
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
    fn check_fits(&mut self, ty: &Type, value: &typed::Expr) -> Option<()> {
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

    /// An expression that must be an integer or pointer.
    fn scalar(&mut self, e: &ast::Expr, what: &str) -> Option<typed::Expr> {
        let t = self.expr(e)?;
        self.require_scalar(t, what)
    }

    fn require_scalar(&mut self, t: typed::Expr, what: &str) -> Option<typed::Expr> {
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
    fn const_int(&mut self, e: &ast::Expr, what: &str) -> Option<i64> {
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

    fn printf(&mut self, span: Span, args: &[ast::Expr]) -> Option<typed::StmtKind> {
        let (format, args) = self.format_args("printf", span, args)?;
        Some(typed::StmtKind::Printf { format, args })
    }

    /// A format string and its arguments, checked against each other (printf, cat, errorf…).
    fn format_args(
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
                        "{func}: the format has {} conversions but {} arguments follow",
                        specs.len(),
                        typed_args.len()
                    ),
                    locate(specs[typed_args.len()].at),
                )
            } else {
                (
                    format!(
                        "{func}: {} arguments but the format has only {} conversions",
                        typed_args.len(),
                        specs.len()
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
                        | Type::Tuple(_)
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

    fn expr(&mut self, e: &ast::Expr) -> Option<typed::Expr> {
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
                Some(id) if self.vars[id.0].ty == Type::Void => {
                    let d = self
                        .error(e.span, format!("${name} is read before any value is assigned to it"))
                        .with_hint(format!("give it a value or a type: `let ${name} = 0;` or `let ${name}: uint64;`"));
                    self.diags.push(d);
                    None
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
                self.scopes.push(Vec::new());
                let stmts = self.stmts(stmts);
                let value = self.expr(value);
                self.scopes.pop();
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
            A::Tuple(items) => {
                let items: Vec<Option<typed::Expr>> = items.iter().map(|i| self.expr(i)).collect();
                let items: Vec<typed::Expr> = items.into_iter().collect::<Option<_>>()?;
                for i in &items {
                    if !storable(&i.ty) {
                        let d = self.error(
                            i.span,
                            format!("a tuple cannot hold a value of type {}", i.ty),
                        );
                        self.diags.push(d);
                        return None;
                    }
                }
                let ty = Type::Tuple(items.iter().map(|i| var_type(&i.ty)).collect());
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

    /// `$1`, `$2`…: a number when the argument is one, else a string; missing ones are 0.
    fn positional(&mut self, n: u32, span: Span) -> typed::Expr {
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

    fn ternary(
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

    fn ident(&mut self, name: &str, span: Span) -> Option<typed::Expr> {
        if let Some(b) = Builtin::from_name(name) {
            let mut ty = b.ty();
            if b == typed::Builtin::Curtask {
                ty = self.kernel_pointer("task_struct").unwrap_or(ty);
            }
            return Some(expr(T::Builtin(b), ty, span));
        }
        if let Some(d) = self.defines.iter().find(|d| d.name.name == name) {
            if self.expanding.iter().any(|n| n == name) {
                let chain = self.expanding.join(" → ");
                let d = self
                    .error(span, format!("#define {name} refers to itself"))
                    .with_hint(format!(
                        "its value must not use {name}, directly or through another #define ({chain} → {name})"
                    ));
                self.diags.push(d);
                return None;
            }
            self.expanding.push(name.to_string());
            let v = self.expr(&d.value);
            self.expanding.pop();
            let mut v = v?;
            v.span = span;
            return Some(v);
        }
        let special = Special::from_name(name);
        match special {
            // The parent's pid and name: `curtask->real_parent->tgid` and `->comm`.
            Some(s @ (Special::Ppid | Special::Pcomm)) => {
                let task = self.ident("curtask", span)?;
                let parent = self.member(
                    task,
                    &ast::Ident {
                        name: "real_parent".into(),
                        span,
                    },
                )?;
                let field = if s == Special::Ppid { "tgid" } else { "comm" };
                return self.member(
                    parent,
                    &ast::Ident {
                        name: field.into(),
                        span,
                    },
                );
            }
            Some(Special::Username) => {
                let uid = expr(T::Builtin(Builtin::Uid), Type::Int(IntType::U64), span);
                return Some(expr(
                    T::Format {
                        kind: crate::types::Formatted::Username,
                        args: vec![uid],
                    },
                    Type::Formatted(crate::types::Formatted::Username),
                    span,
                ));
            }
            Some(Special::Cpid) => match self.options.cpid {
                Some(pid) => {
                    return Some(expr(T::Int(u64::from(pid)), Type::Int(IntType::U32), span))
                }
                None => {
                    let d = self
                        .error(span, "`cpid` is the pid of the command that `-c` runs")
                        .with_hint("run scry with `-c 'COMMAND'`");
                    self.diags.push(d);
                    return None;
                }
            },
            Some(s @ (Special::Kstack | Special::Ustack)) => {
                return Some(self.stack(s == Special::Ustack, &[], span));
            }
            Some(Special::Probe) => {
                let text = self.probe.name.clone().into_bytes();
                let len = text.len() as u32 + 1;
                return Some(expr(T::Str(text), Type::Str(len), span));
            }
            // Given by the probe, found below.
            Some(Special::Args | Special::Func | Special::Retval | Special::Ctx) | None => {}
        }
        if let Some(v) = self.resolver.enum_value(name) {
            return Some(expr(T::Int(v as u64), Type::Int(IntType::I64), span));
        }
        let d = if special == Some(Special::Args) {
            self.error(
                span,
                "`args` must be followed by a field name, as in `args.filename`",
            )
        } else if Callee::of(name).is_some() {
            self.error(span, format!("`{name}` is a function"))
                .with_hint(format!("call it: `{name}(…)`"))
        } else if let Some(v) = self.probe.values.iter().find(|v| v.name == name) {
            return Some(expr(T::Arg(v.clone()), v.ty.clone(), span));
        } else if let (Some(f), Some(Special::Func)) = (&self.probe.func, special) {
            // In the kernel it is a `ksym_t`, as bpftrace types it (so `@m = func` and
            // `@m = ksym(addr)` agree); in a uprobe, the name.
            let address = match f {
                Func::Kernel(name) => self.resolver.kernel_symbol(name),
                Func::User(_) => None,
            };
            if let Some(addr) = address {
                let kind = crate::types::Formatted::Ksym;
                return Some(expr(
                    T::Format {
                        kind: kind.clone(),
                        args: vec![expr(T::Int(addr), Type::Int(IntType::U64), span)],
                    },
                    Type::Formatted(kind),
                    span,
                ));
            }
            return Some(str_literal(f.name().as_bytes().to_vec(), span));
        } else if let (Some(_), n @ 1..) = (
            builtins::arg_index(name),
            self.probe
                .values
                .iter()
                .filter(|v| v.name.starts_with("arg"))
                .count(),
        ) {
            // The probe has arguments, fewer than this (a USDT probe's note says how many).
            self.error(
                span,
                format!("`{name}` is beyond the arguments of {}", self.probe.name),
            )
            .with_hint(if n == 1 {
                "it has one: arg0".to_string()
            } else {
                format!("it has {n}: arg0 to arg{}", n - 1)
            })
        } else if let Some(probes) = builtins::probe_specific(name) {
            self.error(
                span,
                format!(
                    "`{name}` is not available in a {} probe",
                    self.probe.provider
                ),
            )
            .with_hint(format!("`{name}` is provided by {probes} probes"))
        } else {
            let d = self.error(span, format!("unknown identifier `{name}`"));
            match nearest(name, builtins::all_value_names()) {
                Some(n) => d.with_hint(format!("did you mean `{n}`?")),
                None => d.with_hint(format!(
                    "builtins: {}",
                    builtins::all_value_names().collect::<Vec<_>>().join(", ")
                )),
            }
        };
        self.diags.push(d);
        None
    }

    /// `a == b` / `a != b` between arrays: the same size, compared byte by byte.
    fn array_comparison(
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

    fn field(&mut self, base: &ast::Expr, field: &ast::Ident) -> Option<typed::Expr> {
        let base_name = match &base.kind {
            A::Ident(n) => n.as_str(),
            _ => "",
        };
        let special = Special::from_name(base_name);
        let known = Builtin::from_name(base_name).is_some()
            || self.defines.iter().any(|d| d.name.name == base_name)
            || matches!(
                special,
                Some(Special::Ppid | Special::Pcomm | Special::Username | Special::Cpid)
            );
        if base_name.is_empty() || known {
            let b = self.expr(base)?;
            return self.member(b, field);
        }
        // `ctx.task` in an iterator: its context's fields, as `args` names them elsewhere.
        let is_ctx = special == Some(Special::Ctx) && self.probe.args_as_ctx;
        if special != Some(Special::Args) && !is_ctx {
            let d = self.error(base.span, format!("unknown identifier `{base_name}`"));
            let d = match nearest(base_name, builtins::all_value_names()) {
                Some(n) => d.with_hint(format!("did you mean `{n}`?")),
                None => {
                    d.with_hint("probe arguments are reached through `args`, as in `args.filename`")
                }
            };
            self.diags.push(d);
            return None;
        }
        let Some(fields) = &self.probe.args else {
            let d = self.error(
                base.span,
                format!("`args` is not available in {} probes", self.probe.name),
            );
            self.diags.push(d);
            return None;
        };
        if let Some(f) = fields.iter().find(|f| f.name == field.name) {
            return Some(self.context_field(f.clone(), base.span.to(field.span)));
        }
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let mut hint = String::new();
        if let Some(n) = nearest(&field.name, names.iter().copied()) {
            hint.push_str(&format!("did you mean `{n}`?\n"));
        }
        hint.push_str(&format!(
            "{} has: {}",
            self.probe.name,
            if names.is_empty() {
                "no fields".to_string()
            } else {
                names.join(", ")
            }
        ));
        let d = self
            .error(
                field.span,
                format!("{} has no field `{}`", self.probe.name, field.name),
            )
            .with_hint(hint);
        self.diags.push(d);
        None
    }

    fn context_field(&self, field: ContextField, span: Span) -> typed::Expr {
        let ty = match (&field.location, &field.ty) {
            // `__data_loc char[]` strings read up to max_strlen.
            (crate::types::FieldLocation::DataLoc { .. }, _) => Type::Str(self.options.max_strlen),
            (_, ty) => ty.clone(),
        };
        expr(T::Arg(field), ty, span)
    }

    fn call(&mut self, func: &ast::Ident, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let Some(callee) = Callee::of(&func.name) else {
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

    /// The error for a statement-only function used as a value.
    fn no_value<T>(&mut self, name: &str, span: Span) -> Option<T> {
        let d = self
            .error(span, format!("{name}() has no value"))
            .with_hint(format!("call {name}(…) as a statement of its own"));
        self.diags.push(d);
        None
    }

    fn str_call(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Recorded as Fixture;

    fn errors(src: &str) -> Vec<String> {
        let ast = crate::parse(src).unwrap();
        match check(&ast, &Fixture, &CheckOptions::default()) {
            Ok(_) => vec![],
            Err(d) => d
                .into_iter()
                .map(|d| format!("{} | {}", d.message, d.hint.unwrap_or_default()))
                .collect(),
        }
    }

    #[test]
    fn typo_in_args_gets_a_hint() {
        let e = errors(
            r#"tracepoint:syscalls:sys_enter_execve { printf("%s\n", str(argv->filename)); }"#,
        );
        assert_eq!(e, vec!["unknown identifier `argv` | did you mean `args`?"]);
    }

    #[test]
    fn all_errors_are_reported() {
        let e = errors(r#"BEGIN { printf("%d %s\n", comm, pid); $x = foo; }"#);
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn variables_are_block_scoped() {
        assert!(
            errors("BEGIN { if (1) { $x = 1; } $y = $x; }")[0].starts_with("unknown variable `$x`")
        );
        assert!(errors("BEGIN { $x = 1; if (1) { $x = 2; } $y = $x; }").is_empty());
    }
}
