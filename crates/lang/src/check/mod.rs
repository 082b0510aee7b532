//! Semantic analysis: AST + probe contexts → typed program. Resolves attach points through the
//! caller's `ProbeResolver`, scopes scratch variables, types every expression, and checks printf
//! formats against their arguments. Reports every error it finds, each with a span and, where one
//! helps, a hint. No I/O, no panics.
//!
//! This file holds the entry point, the checker's state and the helpers every part shares;
//! `statements`, `expressions` and `names` check what their names say, and `maps`, `kernel`,
//! `strings`, `functions` and `ctypes` each a family of the language.

use crate::ast::{self, ExprKind as A, Span, UnaryOp};
use crate::diagnostic::Diagnostic;
use crate::typed::{self, ExprKind as T, Var, VarId};
use crate::types::{IntType, ProbeResolver, ResolvedProbe, Type};
use std::collections::HashMap;

mod ctypes;
mod debugf;
mod expressions;
mod functions;
mod kernel;
mod maps;
mod names;
mod statements;
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
    /// The integer constants of the script's `#include`d headers (`AF_INET`), read by the
    /// caller; names no header gives come from BTF's enums, then from `constants`' table.
    pub constants: std::collections::HashMap<String, i64>,
    /// Every setting in force (`config = { … }`, the environment, the defaults), for the
    /// `config` builtin.
    pub settings: Vec<(String, Setting)>,
}

/// A setting's value, as the `config` builtin shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    Int(u64),
    Bool(bool),
    Text(String),
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
            constants: Default::default(),
            settings: Vec::new(),
        }
    }
}

/// The largest struct, union or array a script defines: offsets into it are 32-bit signed.
const MAX_SIZE: u64 = i32::MAX as u64;

/// The most times `unroll` may repeat its body (bpftrace's limit).
pub const MAX_UNROLL: u32 = 100;

/// Checks a parsed program. Returns the typed program, or every error found.
pub fn check(
    program: &ast::Program,
    resolver: &dyn ProbeResolver,
    options: &CheckOptions,
) -> Result<typed::Program, Vec<Diagnostic>> {
    check_with_maps(program, resolver, options, &[])
}

/// Checks a program that joins maps which exist already (the earlier blocks of an interactive
/// session): each keeps its `MapId` and its types, a use that disagrees with them is an error,
/// and the typed program's `maps` are these, then the program's new ones.
pub fn check_with_maps(
    program: &ast::Program,
    resolver: &dyn ProbeResolver,
    options: &CheckOptions,
    existing: &[typed::MapDecl],
) -> Result<typed::Program, Vec<Diagnostic>> {
    let mut expanded;
    let program = if program.macros.is_empty() {
        program
    } else {
        expanded = program.clone();
        crate::macros::expand(&mut expanded)?;
        &expanded
    };
    // A map read before the assignment that types it (`BEGIN { print(@) } END { @ = (1, "a") }`)
    // is first taken as an integer; when the assignment says otherwise, the program is checked
    // again knowing it.
    let (first, learned) = check_pass(program, resolver, options, existing, HashMap::new());
    if learned.is_empty() {
        first
    } else {
        check_pass(program, resolver, options, existing, learned).0
    }
}

/// One pass of the checker, with the value types of maps read before their assignment known
/// from an earlier pass (`planned`); returns what this pass learned of such maps.
fn check_pass(
    program: &ast::Program,
    resolver: &dyn ProbeResolver,
    options: &CheckOptions,
    existing: &[typed::MapDecl],
    planned: HashMap<String, typed::MapValue>,
) -> (
    Result<typed::Program, Vec<Diagnostic>>,
    HashMap<String, typed::MapValue>,
) {
    let mut diags: Vec<Diagnostic> = Vec::new();
    if program.probes.is_empty() {
        // An empty script, or one of only comments or definitions, would attach nothing.
        let d = Diagnostic::error(Span::new(0, 0), "the program has no probes")
            .with_hint("a program is one or more probes, as in `BEGIN { printf(\"hello\\n\"); }`");
        return (Err(vec![d]), HashMap::new());
    }
    // The script's own C types come first, then the kernel's.
    let script_types = ctypes::ScriptTypes::new(&program.c_types, resolver, &mut diags);
    let resolver: &dyn ProbeResolver = &script_types;
    let mut probes = Vec::new();
    let mut maps = maps::Maps::new(program, existing);
    maps.planned = planned;
    let mut getopts = Vec::new();
    for probe in &program.probes {
        for ap in &probe.attach_points {
            let text = match with_positionals(&ap.text, &options.args) {
                Ok(t) => t,
                Err(n) => {
                    diags.push(
                        Diagnostic::error(
                            ap.span,
                            format!("the attach point uses ${n}, which is not given"),
                        )
                        .with_hint(format!(
                            "give the script {n} argument(s) after it: `scry script.bt ARG…`"
                        )),
                    );
                    continue;
                }
            };
            let split = ast::split_attach_point(&text);
            let provider = split.first().map_or("", String::as_str);
            let parts: Vec<&str> = split.iter().skip(1).map(String::as_str).collect();
            let resolved = match resolver.resolve(provider, &parts) {
                Ok(r) if r.len() > 1 && joinable(probe) => {
                    match resolver.join(format!("{}:{}", r[0].provider, parts.join(":")), &r) {
                        Some(one) => vec![one],
                        None => r,
                    }
                }
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
                    scope_ids: vec![0],
                    next_scope_id: 1,
                    born_in: Vec::new(),
                    implicit_scope: 0,
                    loops: 0,
                    failed_vars: Vec::new(),
                    maps: &mut maps,
                    getopts: &mut getopts,
                };
                let predicate = probe
                    .predicate
                    .as_ref()
                    .and_then(|p| ck.scalar(p, "a predicate"));
                let mut body = ck.stmts(&probe.body);
                let mut predicate = predicate;
                // `let $x;` never assigned: an integer, as bpftrace defaults it.
                for v in &mut ck.vars {
                    if v.ty == Type::Void {
                        v.ty = Type::Int(IntType::I64);
                    }
                }
                // A variable widened by a later assignment is read as its final type everywhere,
                // reads before that assignment included (a loop reads them again after it).
                let mut reads = FinalVarTypes(&ck.vars);
                if let Some(p) = &mut predicate {
                    typed::visit::VisitorMut::expr(&mut reads, p);
                }
                typed::visit::walk_stmts_mut(&mut reads, &mut body);
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
    maps::name_keys(program, &mut maps.decls);
    let attach_points = program.probes.iter().flat_map(|p| &p.attach_points);
    if probes.is_empty() && !diags.iter().any(Diagnostic::is_error) {
        if let Some(first) = attach_points.clone().next() {
            diags.push(
                Diagnostic::error(first.span, "none of the program's probes exist")
                    .with_hint("list the probes there are with `scry -l`"),
            );
        }
    }
    let learned = std::mem::take(&mut maps.learned);
    let result = if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok(typed::Program {
            probes,
            maps: maps.decls,
            warnings: diags,
            options: getopts,
        })
    };
    (result, learned)
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
    /// A number for each open scope, as `scopes` holds them; no two scopes share one.
    scope_ids: Vec<u32>,
    next_scope_id: u32,
    /// For each variable, the scope that was innermost when it was declared: a variable
    /// first assigned in a block that has closed (a sibling `if` branch) may be declared
    /// again with another type, as bpftrace's block scoping allows.
    born_in: Vec<u32>,
    /// Where a variable first assigned without `let` is declared: the probe's scope (as
    /// bpftrace's tools expect: `$saddr` set in both branches of an `if` is read after it), or
    /// the scope of the `for` over a map or the `{ …; v }` block it is in.
    implicit_scope: usize,
    /// Variables whose assignment had an error: their uses are not reported again.
    failed_vars: Vec<String>,
    /// How many loops enclose the statement being checked (`break` needs one).
    loops: u32,
    maps: &'a mut maps::Maps,
    /// The names `getopt()` reads, across every probe.
    getopts: &'a mut Vec<String>,
}

/// An attach point with its positional parameters (`interval:ms:$1`, `uprobe:$1:main`)
/// replaced by the script's arguments; the number of one that is not given.
fn with_positionals(text: &str, args: &[String]) -> Result<String, usize> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<usize>() {
            Ok(n) if n >= 1 => {
                out.push_str(args.get(n - 1).ok_or(n)?);
            }
            _ => out.push_str(&rest[at..at + 1 + digits.len()]),
        }
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Sets every read of a variable to the variable's final type.
struct FinalVarTypes<'a>(&'a [typed::Var]);

impl typed::visit::VisitorMut for FinalVarTypes<'_> {
    fn expr(&mut self, e: &mut typed::Expr) {
        if let T::Var(id) = e.kind {
            if let Some(v) = self.0.get(id.0) {
                e.ty = v.ty.clone();
            }
        }
        typed::visit::walk_expr_mut(self, e);
    }
}

/// Whether a block may run as one program for every probe its attach point expanded to: not
/// when it reads `probe` (which names each), nor when it has a loop that runs as a callback
/// (over a map, or a range to a run-time bound): callbacks need BTF function info, which
/// programs attached to many functions are not loaded with.
fn joinable(probe: &ast::Probe) -> bool {
    struct Reads(bool);
    impl ast::visit::Visitor for Reads {
        fn expr(&mut self, e: &ast::Expr) {
            if matches!(&e.kind, A::Ident(n) if n == "probe") {
                self.0 = true;
            }
            ast::visit::walk_expr(self, e);
        }
        fn stmt(&mut self, s: &ast::Stmt) {
            let literal = |e: &ast::Expr| matches!(e.kind, A::Int(_));
            match &s.kind {
                ast::StmtKind::ForMap { .. } => self.0 = true,
                // Bounds known only at run time make a callback too (`bpf_loop`).
                ast::StmtKind::ForRange { start, end, .. } if !literal(start) || !literal(end) => {
                    self.0 = true
                }
                _ => {}
            }
            ast::visit::walk_stmt(self, s);
        }
    }
    let mut reads = Reads(false);
    if let Some(p) = &probe.predicate {
        ast::visit::Visitor::expr(&mut reads, p);
    }
    for s in &probe.body {
        ast::visit::Visitor::stmt(&mut reads, s);
    }
    !reads.0
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
        Type::Tuple { elems, .. } => elems.iter().all(storable),
        // Arrays of integers or booleans (or of such arrays) are kept as their bytes
        // (`$a = pton("::1")`, `$b = args.saddr`).
        Type::Array { elem, .. } => {
            matches!(**elem, Type::Int(_) | Type::Bool | Type::Array { .. }) && storable(elem)
        }
        _ => false,
    }
}

/// The type a variable gets from a value: its own, integers keeping their width (as in
/// bpftrace: `sizeof` of a `u16` variable is 2, and `bswap` of it swaps two bytes).
fn var_type(ty: &Type) -> Type {
    ty.clone()
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
    // Hex (`0x123`), octal (`0775`) or decimal, as C writes them; up to 64 bits unsigned
    // (`0xffffffffffffffff` is -1 as an int64, and prints as such with `%lu`).
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()? as i64,
        None if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) => return None,
        None if t.len() > 1 && t.starts_with('0') => u64::from_str_radix(&t[1..], 8).ok()? as i64,
        None => t.parse::<u64>().ok()? as i64,
    };
    Some(if neg { -v } else { v })
}

/// The value of a constant integer expression, if it is one.
pub(super) fn fold(e: &typed::Expr) -> Option<i64> {
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
    fn variables_are_probe_scoped_unless_declared_with_let() {
        // As bpftrace's tools expect: first assigned in a branch, read after it.
        assert!(errors("BEGIN { if (1) { $x = 1; } else { $x = 2; } $y = $x; }").is_empty());
        assert!(errors("BEGIN { if (1) { let $x = 1; } $y = $x; }")[0]
            .starts_with("unknown variable `$x`"));
        assert!(errors("BEGIN { $x = 1; if (1) { $x = 2; } $y = $x; }").is_empty());
        // What a `for` over a map declares stays in its body (a callback of its own).
        assert!(
            errors("BEGIN { @m[1] = 1; for ($kv : @m) { $in = 1; } $y = $in; }")[0]
                .starts_with("unknown variable `$in`")
        );
    }

    /// Blocks checked one after another share their maps by name, as an interactive session's
    /// do: a map counted in one is read in the next, and a conflicting use is the usual error.
    #[test]
    fn maps_carry_over_between_programs() {
        let checked = |src: &str, existing: &[typed::MapDecl]| {
            let ast = crate::parse(src).unwrap();
            check_with_maps(&ast, &Fixture, &CheckOptions::default(), existing)
        };
        let first = checked("BEGIN { @n = count(); @s[1] = comm; }", &[]).unwrap();
        let second = checked(
            "BEGIN { printf(\"%d %s\\n\", @n, @s[2]); @t = 1; }",
            &first.maps,
        )
        .unwrap();
        let names: Vec<&str> = second.maps.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["@n", "@s", "@t"]);
        assert_eq!(second.maps[..2], first.maps[..]);
        let err = checked("BEGIN { @n = \"x\"; }", &second.maps).unwrap_err();
        assert!(
            err[0]
                .message
                .contains("@n holds count(), but this assigns string"),
            "{}",
            err[0].message
        );
        assert_eq!(err[0].span.start, "BEGIN { @n = ".len());
    }
}
