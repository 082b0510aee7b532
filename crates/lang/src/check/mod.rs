//! Semantic analysis: AST + probe contexts → typed program. Resolves attach points through the
//! caller's `ProbeResolver`, scopes scratch variables, types every expression, and checks printf
//! formats against their arguments. Reports every error it finds, each with a span and, where one
//! helps, a hint. No I/O, no panics.

use crate::ast::{self, ExprKind as A, Span, StmtKind as S, UnaryOp};
use crate::builtins;
use crate::diagnostic::{nearest, Diagnostic};
use crate::printf;
use crate::typed::{self, ExprKind as T, Var, VarId};
use crate::types::{AddrSpace, ContextField, IntType, ProbeResolver, ResolvedProbe, Type};

mod maps;

pub use maps::{AGGREGATIONS, MAP_FUNCTIONS, MAX_STACK};

#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Capacity of strings read with `str()`, NUL included (bpftrace's `max_strlen`).
    pub max_strlen: u32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { max_strlen: 1024 }
    }
}

/// Checks a parsed program. Returns the typed program, or every error found.
pub fn check(
    program: &ast::Program,
    resolver: &dyn ProbeResolver,
    options: &CheckOptions,
) -> Result<typed::Program, Vec<Diagnostic>> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut probes = Vec::new();
    let mut maps = maps::Maps::new(program);
    for probe in &program.probes {
        for ap in &probe.attach_points {
            let parts = ap.parts();
            let resolved = match resolver.resolve(ap.provider(), &parts) {
                Ok(r) => r,
                Err(e) => {
                    let mut d = Diagnostic::error(ap.span, e.message);
                    d.hint = e.hint;
                    diags.push(d);
                    continue;
                }
            };
            for rp in resolved {
                let mut ck = Checker {
                    options,
                    probe: &rp,
                    diags: Vec::new(),
                    vars: Vec::new(),
                    scopes: vec![Vec::new()],
                    maps: &mut maps,
                };
                let predicate = probe
                    .predicate
                    .as_ref()
                    .and_then(|p| ck.scalar(p, "a predicate"));
                let body = ck.stmts(&probe.body);
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
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(typed::Program {
            probes,
            maps: maps.decls,
        })
    }
}

struct Checker<'a> {
    options: &'a CheckOptions,
    probe: &'a ResolvedProbe,
    diags: Vec<Diagnostic>,
    vars: Vec<Var>,
    /// Innermost last: the variables declared in each open block.
    scopes: Vec<Vec<(String, VarId)>>,
    maps: &'a mut maps::Maps,
}

fn expr(kind: T, ty: Type, span: Span) -> typed::Expr {
    typed::Expr { kind, ty, span }
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
                A::Call { func, args } if func.name == "printf" => self.printf(func.span, args)?,
                A::Call { func, args } if func.name == "exit" => {
                    let code = match args.first() {
                        Some(a) => Some(self.scalar(a, "exit's code")?),
                        None => None,
                    };
                    typed::StmtKind::Exit { code }
                }
                A::Call { func, args }
                    if matches!(func.name.as_str(), "delete" | "clear" | "zero" | "print") =>
                {
                    self.map_statement(func, args, e.span)?
                }
                _ => typed::StmtKind::Expr(self.expr(e)?),
            },
            S::AssignMap { map, keys, value } => self.assign_map(map, keys, value)?,
            S::AssignVar { name, value } => {
                let value = self.expr(value)?;
                if value.ty == Type::Void {
                    let d = self.error(value.span, "this expression has no value to assign");
                    self.diags.push(d);
                    return None;
                }
                if let Type::Array { .. } | Type::Opaque { .. } = value.ty {
                    let d = self.error(
                        value.span,
                        format!(
                            "a scratch variable cannot hold a value of type {}",
                            value.ty
                        ),
                    );
                    self.diags.push(d);
                    return None;
                }
                let var = match self.lookup_var(&name.name) {
                    Some(id) => {
                        let have = self.vars[id.0].ty.clone();
                        let compatible = match (&have, &value.ty) {
                            (Type::Str(_), Type::Str(_)) => true,
                            (a, b) => a.is_scalar() && b.is_scalar(),
                        };
                        if !compatible {
                            let d = self
                                .error(stmt.span, format!("type mismatch: ${} holds {have}, but this assigns {}", name.name, value.ty))
                                .with_hint("a variable's type is fixed by its first assignment; use another variable");
                            self.diags.push(d);
                            return None;
                        }
                        id
                    }
                    None => {
                        let id = VarId(self.vars.len());
                        // Integers are stored widened to 64 bits, keeping their sign.
                        let ty = match &value.ty {
                            Type::Int(i) => Type::Int(IntType {
                                bits: 64,
                                signed: i.signed,
                            }),
                            other => other.clone(),
                        };
                        self.vars.push(Var {
                            name: name.name.clone(),
                            ty,
                        });
                        self.scopes
                            .last_mut()
                            .expect("a scope is always open")
                            .push((name.name.clone(), id));
                        id
                    }
                };
                typed::StmtKind::Assign { var, value }
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
            S::Block(body) => typed::StmtKind::Block(self.scoped(body)),
        };
        Some(typed::Stmt {
            kind,
            span: stmt.span,
        })
    }

    /// An expression that must be an integer or pointer.
    fn scalar(&mut self, e: &ast::Expr, what: &str) -> Option<typed::Expr> {
        let t = self.expr(e)?;
        if t.ty.is_scalar() {
            return Some(t);
        }
        let mut d = self.error(
            e.span,
            format!("{what} must be an integer, but this is {}", t.ty),
        );
        if t.ty.is_str() {
            d = d.with_hint("comparing strings is not supported yet");
        }
        self.diags.push(d);
        None
    }

    fn printf(&mut self, span: Span, args: &[ast::Expr]) -> Option<typed::StmtKind> {
        let Some(first) = args.first() else {
            let d = self
                .error(span, "printf needs a format string")
                .with_hint("printf(\"%d\\n\", pid)");
            self.diags.push(d);
            return None;
        };
        let A::Str { value: fmt, raw } = &first.kind else {
            let d = self.error(first.span, "printf's format must be a string literal");
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
                    .with_hint("conversions: %d %i %u %x %X %o %c %s %p %% with flags - 0 + space #, a width, and h/hh/l/ll");
                self.diags.push(d);
                return None;
            }
        };
        let typed_args: Vec<Option<typed::Expr>> = args[1..].iter().map(|a| self.expr(a)).collect();
        let specs: Vec<&printf::Spec> = format.specs().collect();
        if specs.len() != typed_args.len() {
            let (msg, at) = if specs.len() > typed_args.len() {
                (
                    format!(
                        "printf: the format has {} conversions but {} arguments follow",
                        specs.len(),
                        typed_args.len()
                    ),
                    locate(specs[typed_args.len()].at),
                )
            } else {
                (
                    format!(
                        "printf: {} arguments but the format has only {} conversions",
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
            let fits = if spec.conv.takes_int() {
                arg.ty.is_scalar()
            } else {
                arg.ty.is_str() || matches!(arg.ty, Type::Stack { .. })
            };
            if !fits {
                ok = false;
                let mut d = Diagnostic::error(
                    arg.span,
                    format!(
                        "printf: {text} expects {}, but this is {}",
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
        ok.then_some(typed::StmtKind::Printf { format, args: out })
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
            A::Str { value, .. } => Some(expr(
                T::Str(value.clone()),
                Type::Str(value.len() as u32 + 1),
                e.span,
            )),
            A::Var(name) => match self.lookup_var(name) {
                Some(id) => Some(expr(T::Var(id), self.vars[id.0].ty.clone(), e.span)),
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
            A::Call { func, args } => self.call(func, args, e.span),
            A::Unary { op, operand } => {
                let operand = self.scalar(operand, &format!("the operand of `{}`", op.symbol()))?;
                let it = operand.ty.as_int().unwrap_or(IntType::I64);
                let ty = match op {
                    UnaryOp::Not => IntType::U64,
                    UnaryOp::Neg => IntType {
                        bits: 64,
                        signed: true,
                    },
                    UnaryOp::BitNot => IntType {
                        bits: 64,
                        signed: it.signed,
                    },
                };
                Some(expr(
                    T::Unary {
                        op: *op,
                        operand: Box::new(operand),
                    },
                    Type::Int(ty),
                    e.span,
                ))
            }
            A::Binary { op, lhs, rhs } => {
                let what = format!("an operand of `{}`", op.symbol());
                let l = self.scalar(lhs, &what);
                let r = self.scalar(rhs, &what);
                let (l, r) = (l?, r?);
                let (li, ri) = (
                    l.ty.as_int().unwrap_or(IntType::I64),
                    r.ty.as_int().unwrap_or(IntType::I64),
                );
                // Signed only when both sides are: mixing in an unsigned value makes the
                // operation unsigned, as in C for 64-bit operands.
                let signed = li.signed && ri.signed;
                let ty = if op.is_comparison() || op.is_logical() {
                    IntType::U64
                } else {
                    IntType { bits: 64, signed }
                };
                Some(expr(
                    T::Binary {
                        op: *op,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                        signed,
                    },
                    Type::Int(ty),
                    e.span,
                ))
            }
        }
    }

    fn ident(&mut self, name: &str, span: Span) -> Option<typed::Expr> {
        if let Some(b) = builtins::value(name) {
            return Some(expr(T::Builtin(b), builtins::type_of(b), span));
        }
        if name == "kstack" || name == "ustack" {
            return Some(self.stack(name == "ustack", None, span));
        }
        if name == "probe" {
            let text = self.probe.name.clone().into_bytes();
            let len = text.len() as u32 + 1;
            return Some(expr(T::Str(text), Type::Str(len), span));
        }
        let d = if name == "args" {
            self.error(
                span,
                "`args` must be followed by a field name, as in `args.filename`",
            )
        } else if builtins::function(name).is_some() {
            self.error(span, format!("`{name}` is a function"))
                .with_hint(format!("call it: `{name}(…)`"))
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

    fn field(&mut self, base: &ast::Expr, field: &ast::Ident) -> Option<typed::Expr> {
        let A::Ident(base_name) = &base.kind else {
            // Only `args.x` exists so far; struct field access through BTF comes with the
            // language work.
            let b = self.expr(base)?;
            let d = self.error(field.span, format!("{} has no fields", b.ty));
            self.diags.push(d);
            return None;
        };
        if base_name != "args" {
            if builtins::value(base_name).is_some() {
                let ty = builtins::type_of(builtins::value(base_name)?);
                let d = self.error(
                    field.span,
                    format!("`{base_name}` is {ty} and has no fields"),
                );
                self.diags.push(d);
                return None;
            }
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
        if maps::is_aggregation(&func.name) {
            let d = self
                .error(
                    span,
                    format!(
                        "{}() is an aggregation: it can only be assigned to a map",
                        func.name
                    ),
                )
                .with_hint(format!(
                    "as in `@x = {}(…)` or `@x[key] = {}(…)`",
                    func.name, func.name
                ));
            self.diags.push(d);
            return None;
        }
        if maps::is_map_function(&func.name) {
            return self.map_value_call(func, args, span);
        }
        if func.name == "kstack" || func.name == "ustack" {
            if args.len() > 1 {
                let d = self.error(
                    span,
                    format!("{}() takes at most 1 argument (the depth)", func.name),
                );
                self.diags.push(d);
                return None;
            }
            return Some(self.stack(func.name == "ustack", args.first(), span));
        }
        if builtins::function(&func.name).is_none() {
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
        self.arity(func, args, builtins::FUNCTIONS, span)?;
        match func.name.as_str() {
            "str" => self.str_call(args, span),
            name => {
                // printf and exit are statements: their use as a value is an error.
                let d = self
                    .error(span, format!("{name}() has no value"))
                    .with_hint(format!("call {name}(…) as a statement of its own"));
                self.diags.push(d);
                None
            }
        }
    }

    fn str_call(&mut self, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let ptr = self.expr(&args[0]);
        let len = match args.get(1) {
            Some(a) => Some(self.scalar(a, "str's length")?),
            None => None,
        };
        let ptr = ptr?;
        let max = self.options.max_strlen;
        // A literal length bounds the buffer; `str(p, n)` reads at most n characters.
        let cap = match len.as_ref().map(|l| &l.kind) {
            Some(T::Int(n)) => (n.saturating_add(1)).min(u64::from(max)) as u32,
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
    use crate::types::{FieldLocation, ProbeTarget, ResolveError};

    pub(crate) struct Fixture;

    impl ProbeResolver for Fixture {
        fn resolve(
            &self,
            provider: &str,
            parts: &[&str],
        ) -> Result<Vec<ResolvedProbe>, ResolveError> {
            match (provider, parts) {
                ("BEGIN", []) => Ok(vec![ResolvedProbe {
                    name: "BEGIN".into(),
                    target: ProbeTarget::Begin,
                    args: None,
                }]),
                ("tracepoint", ["syscalls", "sys_enter_execve"]) => Ok(vec![ResolvedProbe {
                    name: "tracepoint:syscalls:sys_enter_execve".into(),
                    target: ProbeTarget::Tracepoint {
                        category: "syscalls".into(),
                        event: "sys_enter_execve".into(),
                    },
                    args: Some(vec![ContextField {
                        name: "filename".into(),
                        ty: Type::Ptr {
                            pointee: Box::new(Type::Int(IntType::I8)),
                            space: AddrSpace::User,
                        },
                        location: FieldLocation::Inline { offset: 16 },
                        c_decl: "const char * filename".into(),
                    }]),
                }]),
                _ => Err(ResolveError {
                    message: format!("unknown probe {provider}"),
                    hint: None,
                }),
            }
        }
    }

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
