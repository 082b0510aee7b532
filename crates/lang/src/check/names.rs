//! Names: scratch variables in their scopes, builtin values, `#define`s, the identifiers a
//! probe gives meaning to (`args`, `retval`, `func`, `argN`, `probe`), and `args.field`.

use super::*;
use crate::ast::{self, BinaryOp, ExprKind as A, Span};
use crate::builtins::{self, Builtin, Callee, Special};
use crate::diagnostic::nearest;
use crate::typed::{self, ExprKind as T, VarId};
use crate::types::{ContextField, Func, IntType, Type};

impl Checker<'_> {
    /// The variable a name means here: the innermost scope's, and in a scope the latest one
    /// (a name declared again after a block gave it another type).
    pub(super) fn lookup_var(&self, name: &str) -> Option<VarId> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }

    pub(super) fn ident(&mut self, name: &str, span: Span) -> Option<typed::Expr> {
        // `__builtin_comm`: bpftrace's own name for a builtin its standard library wraps.
        if let Some(plain) = name.strip_prefix("__builtin_") {
            if builtins::callable_value(plain) {
                return self.ident(plain, span);
            }
        }
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
                let field = if s == Special::Ppid { "tgid" } else { "comm" };
                return self.parent_member(task, field, span);
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
            Some(Special::Probetype) => {
                let kind = match self.probe.provider {
                    "BEGIN" | "END" => "special",
                    other => other,
                };
                return Some(str_literal(kind.as_bytes().to_vec(), span));
            }
            Some(Special::Probe) => {
                let text = self.probe.name.clone().into_bytes();
                let len = text.len() as u32 + 1;
                return Some(expr(T::Str(text), Type::Str(len), span));
            }
            Some(Special::Ctx) => return self.context(span),
            Some(Special::Usermode) => return self.usermode(span),
            Some(Special::Config) => return Some(self.settings(span)),
            // Given by the probe, found below.
            Some(Special::Args | Special::Func | Special::Retval) | None => {}
        }
        if !self.options.constants.contains_key(name) {
            if let Some(e) = self.resolver.enum_of(name) {
                let v = e
                    .variants
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v)?;
                return Some(expr(T::Int(v as u64), Type::Enum(Box::new(e)), span));
            }
        }
        let constant = self
            .options
            .constants
            .get(name)
            .copied()
            .or_else(|| self.resolver.enum_value(name))
            .or_else(|| crate::constants::constant(name));
        if let Some(v) = constant {
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
                Func::Kernel(name) => self
                    .resolver
                    .kernel_symbol(name)
                    .map(|a| expr(T::Int(a), Type::Int(IntType::U64), span)),
                Func::User(_) => None,
                Func::Attached { kernel } => {
                    let cookie = expr(T::AttachCookie, Type::Int(IntType::U64), span);
                    if !kernel {
                        let kind = crate::types::Formatted::Function;
                        return Some(expr(
                            T::Format {
                                kind: kind.clone(),
                                args: vec![cookie],
                            },
                            Type::Formatted(kind),
                            span,
                        ));
                    }
                    Some(cookie)
                }
            };
            if let Some(addr) = address {
                let kind = crate::types::Formatted::Ksym;
                return Some(expr(
                    T::Format {
                        kind: kind.clone(),
                        args: vec![addr],
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
        } else if builtins::probe_specific(name) {
            let d = self.error(
                span,
                format!(
                    "`{name}` is not available in a {} probe",
                    self.probe.provider
                ),
            );
            match self.resolver.providers_of(name).as_slice() {
                [] => d,
                [one] => d.with_hint(format!("`{name}` is provided by {one} probes")),
                [many @ .., last] => d.with_hint(format!(
                    "`{name}` is provided by {} and {last} probes",
                    many.join(", ")
                )),
            }
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

    pub(super) fn field(&mut self, base: &ast::Expr, field: &ast::Ident) -> Option<typed::Expr> {
        let base_name = match &base.kind {
            A::Ident(n) => n.as_str(),
            _ => "",
        };
        let special = Special::from_name(base_name);
        let known = Builtin::from_name(base_name).is_some()
            || self.defines.iter().any(|d| d.name.name == base_name)
            || matches!(
                special,
                Some(
                    Special::Ppid
                        | Special::Pcomm
                        | Special::Username
                        | Special::Cpid
                        | Special::Config
                )
            )
            || (special == Some(Special::Ctx) && !self.probe.args_as_ctx);
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

    /// `task->real_parent->FIELD`: of the parent of a task (`ppid`, `pcomm`, `ppid(task)`).
    pub(super) fn parent_member(
        &mut self,
        task: typed::Expr,
        field: &str,
        span: Span,
    ) -> Option<typed::Expr> {
        let named = |name: &str| ast::Ident {
            name: name.into(),
            span,
        };
        let parent = self.member(task, &named("real_parent"))?;
        self.member(parent, &named(field))
    }

    /// A bare `ctx`: a pointer to the kernel struct the program's context is.
    fn context(&mut self, span: Span) -> Option<typed::Expr> {
        let d = match self.probe.context.clone() {
            Some(record) => match self.kernel_pointer(&record) {
                Some(ty) => return Some(expr(T::Context, ty, span)),
                None => self.error(
                    span,
                    format!(
                        "`ctx` is a `struct {record} *`, which the kernel's BTF does not describe"
                    ),
                ),
            },
            None if self.probe.provider == "tracepoint" => self
                .error(span, "`ctx` is not available in tracepoint probes")
                .with_hint("use `args` instead of `ctx`, as in `args.filename`"),
            None => {
                let d = self.error(
                    span,
                    format!("`ctx` is not available in {} probes", self.probe.provider),
                );
                d.with_hint(
                    "kprobe, uprobe, usdt, profile, interval, software and iter probes have it",
                )
            }
        };
        self.diags.push(d);
        None
    }

    /// `config`: a record of the settings in force, each a constant.
    fn settings(&self, span: Span) -> typed::Expr {
        let items: Vec<typed::Expr> = self
            .options
            .settings
            .iter()
            .map(|(_, v)| match v {
                super::Setting::Int(n) => expr(T::Int(*n), Type::Int(IntType::U64), span),
                super::Setting::Bool(b) => expr(T::Int(u64::from(*b)), Type::Bool, span),
                super::Setting::Text(t) => super::str_literal(t.clone().into_bytes(), span),
            })
            .collect();
        let ty = Type::Tuple {
            elems: items.iter().map(|i| i.ty.clone()).collect(),
            names: self
                .options
                .settings
                .iter()
                .map(|(n, _)| n.clone())
                .collect(),
        };
        expr(T::Tuple(items), ty, span)
    }

    /// `usermode`: 1 when the probe interrupted user code, from the privilege level in CS.
    fn usermode(&mut self, span: Span) -> Option<typed::Expr> {
        let Some(cs) = self
            .probe
            .registers
            .iter()
            .find(|r| r.name == "cs")
            .cloned()
        else {
            let d = self
                .error(
                    span,
                    format!(
                        "`usermode` reads the CS register, which {} probes do not have",
                        self.probe.provider
                    ),
                )
                .with_hint("kprobe, uprobe, usdt, profile, interval and software probes have it");
            self.diags.push(d);
            return None;
        };
        let cs = expr(T::Arg(cs.clone()), cs.ty, span);
        let level = kernel::binary(BinaryOp::BitAnd, cs, kernel::int(3, span), span);
        let user = kernel::binary(BinaryOp::Eq, level, kernel::int(3, span), span);
        Some(expr(T::Cast(Box::new(user)), Type::int(8, false), span))
    }

    pub(super) fn context_field(&self, field: ContextField, span: Span) -> typed::Expr {
        let ty = match (&field.location, &field.ty) {
            // `__data_loc char[]` strings read up to max_strlen.
            (crate::types::FieldLocation::DataLoc { .. }, _) => Type::Str(self.options.max_strlen),
            (_, ty) => ty.clone(),
        };
        expr(T::Arg(field), ty, span)
    }
}
