//! Macro expansion: `macro name(params) { … }` calls are replaced by their bodies before type
//! checking. Parameters are `$var` (the caller's variable, by name), `@map` (the caller's map)
//! or a bare name (the argument expression). Other variables in a body are renamed per
//! expansion, so a macro cannot see or clobber its caller's variables.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use std::collections::HashMap;

/// How deeply macros may call macros.
const MAX_DEPTH: u32 = 16;

/// Replaces every macro call in the program's probes by the macro's body.
pub fn expand(program: &mut Program) -> Result<(), Vec<Diagnostic>> {
    if program.macros.is_empty() {
        return Ok(());
    }
    let mut x = Expander {
        macros: std::mem::take(&mut program.macros),
        counter: 0,
        errors: Vec::new(),
        depth: 0,
    };
    for probe in &mut program.probes {
        if let Some(p) = &mut probe.predicate {
            x.expr(p);
        }
        x.stmts(&mut probe.body);
    }
    program.macros = x.macros;
    if x.errors.is_empty() {
        Ok(())
    } else {
        Err(x.errors)
    }
}

struct Expander {
    macros: Vec<Macro>,
    counter: u32,
    errors: Vec<Diagnostic>,
    depth: u32,
}

impl Expander {
    fn find(&self, name: &str, arity: usize) -> Option<&Macro> {
        self.macros
            .iter()
            .find(|m| m.name.name == name && m.params.len() == arity)
    }

    fn stmts(&mut self, stmts: &mut [Stmt]) {
        stmts.iter_mut().for_each(|s| self.stmt(s));
    }

    fn stmt(&mut self, s: &mut Stmt) {
        // A call as a statement becomes a block of the body.
        if let StmtKind::Expr(Expr {
            kind: ExprKind::Call { func, args },
            span,
        }) = &s.kind
        {
            if self.find(&func.name, args.len()).is_some() {
                let (func, args, span) = (func.clone(), args.clone(), *span);
                if let Some(mut body) = self.instantiate(&func, &args, span) {
                    self.depth += 1;
                    if self.depth <= MAX_DEPTH {
                        self.stmts(&mut body);
                    }
                    self.depth -= 1;
                    s.kind = StmtKind::Block(body);
                }
                return;
            }
        }
        visit_stmt_children(s, &mut |c| match c {
            Child::Expr(e) => self.expr(e),
            Child::Stmt(st) => self.stmt(st),
        });
    }

    fn expr(&mut self, e: &mut Expr) {
        let call = match &e.kind {
            ExprKind::Call { func, args } if self.find(&func.name, args.len()).is_some() => {
                Some((func.clone(), args.clone()))
            }
            ExprKind::Ident(name) if self.find(name, 0).is_some() => Some((
                Ident {
                    name: name.clone(),
                    span: e.span,
                },
                Vec::new(),
            )),
            _ => None,
        };
        if let Some((func, args)) = call {
            let Some(mut body) = self.instantiate(&func, &args, e.span) else {
                return;
            };
            let value = match body.pop() {
                Some(Stmt {
                    kind: StmtKind::Expr(v),
                    ..
                }) => v,
                _ => {
                    self.errors.push(
                        Diagnostic::error(e.span, format!("macro {} has no value", func.name))
                            .with_hint(
                                "end its body with an expression (no `;`) to use it as a value",
                            ),
                    );
                    return;
                }
            };
            let mut block = Expr {
                kind: ExprKind::Block {
                    stmts: body,
                    value: Box::new(value),
                },
                span: e.span,
            };
            self.depth += 1;
            if self.depth <= MAX_DEPTH {
                if let ExprKind::Block { stmts, value } = &mut block.kind {
                    self.stmts(stmts);
                    self.expr(value);
                }
            }
            self.depth -= 1;
            *e = block;
            return;
        }
        visit_children(e, &mut |c| self.expr(c));
    }

    /// The macro's body with its parameters bound to `args`, or None after an error.
    fn instantiate(&mut self, func: &Ident, args: &[Expr], span: Span) -> Option<Vec<Stmt>> {
        if self.depth >= MAX_DEPTH {
            self.errors.push(
                Diagnostic::error(span, format!("macro {} expands too deeply", func.name))
                    .with_hint("a macro may not call itself"),
            );
            return None;
        }
        let m = self.find(&func.name, args.len())?.clone();
        self.counter += 1;
        let mut sub = Substitution {
            prefix: format!("__{}{}_", m.name.name, self.counter),
            vars: HashMap::new(),
            maps: HashMap::new(),
            exprs: HashMap::new(),
        };
        for (param, arg) in m.params.iter().zip(args) {
            if let Some(var) = param.name.strip_prefix('$') {
                let ExprKind::Var(caller) = &arg.kind else {
                    self.errors.push(
                        Diagnostic::error(
                            arg.span,
                            format!(
                                "macro {} takes a variable here (parameter {})",
                                m.name.name, param.name
                            ),
                        )
                        .with_hint("pass a `$variable`"),
                    );
                    return None;
                };
                sub.vars.insert(var.to_string(), caller.clone());
            } else if param.name.starts_with('@') {
                let ExprKind::Map { map, keys } = &arg.kind else {
                    self.errors.push(
                        Diagnostic::error(
                            arg.span,
                            format!(
                                "macro {} takes a map here (parameter {})",
                                m.name.name, param.name
                            ),
                        )
                        .with_hint("pass an `@map`"),
                    );
                    return None;
                };
                if !keys.is_empty() {
                    self.errors.push(Diagnostic::error(
                        arg.span,
                        "pass the whole map, without keys",
                    ));
                    return None;
                }
                sub.maps.insert(param.name.clone(), map.name.clone());
            } else {
                sub.exprs.insert(param.name.clone(), arg.clone());
            }
        }
        let mut body = m.body.clone();
        body.iter_mut().for_each(|s| sub.stmt(s));
        Some(body)
    }
}

/// Renames a macro body's variables and maps and puts argument expressions in place.
struct Substitution {
    prefix: String,
    vars: HashMap<String, String>,
    maps: HashMap<String, String>,
    exprs: HashMap<String, Expr>,
}

impl Substitution {
    fn var(&self, name: &mut String) {
        *name = match self.vars.get(name) {
            Some(caller) => caller.clone(),
            None => format!("{}{name}", self.prefix),
        };
    }

    fn map(&self, map: &mut Ident) {
        if let Some(n) = self.maps.get(&map.name) {
            map.name = n.clone();
        }
    }

    fn stmt(&mut self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::AssignVar { name, .. }
            | StmtKind::Let { name, .. }
            | StmtKind::ForRange { var: name, .. } => self.var(&mut name.name),
            StmtKind::ForMap { var, map, .. } => {
                self.var(&mut var.name);
                self.map(map);
            }
            StmtKind::AssignMap { map, .. } => self.map(map),
            _ => {}
        }
        visit_stmt_children(s, &mut |c| match c {
            Child::Expr(e) => self.expr(e),
            Child::Stmt(st) => self.stmt(st),
        });
    }

    fn expr(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Var(name) => self.var(name),
            ExprKind::Map { map, .. } => self.map(map),
            ExprKind::Ident(name) => {
                if let Some(arg) = self.exprs.get(name) {
                    *e = arg.clone();
                    return;
                }
            }
            ExprKind::Block { stmts, .. } => stmts.iter_mut().for_each(|s| self.stmt(s)),
            _ => {}
        }
        visit_children(e, &mut |c| self.expr(c));
    }
}

/// Calls `f` on each direct sub-expression of `e`.
fn visit_children(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    match &mut e.kind {
        ExprKind::Map { keys, .. } => keys.iter_mut().for_each(f),
        ExprKind::Call { args, .. } | ExprKind::Tuple(args) => args.iter_mut().for_each(f),
        ExprKind::Field { base, .. } => f(base),
        ExprKind::Index { base, index } => {
            f(base);
            f(index);
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            f(cond);
            if let Some(t) = then {
                f(t);
            }
            f(otherwise);
        }
        ExprKind::Cast { operand, .. } | ExprKind::Unary { operand, .. } => f(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            f(lhs);
            f(rhs);
        }
        ExprKind::SizeOf(TypeOrExpr::Expr(x)) => f(x),
        ExprKind::OffsetOf {
            of: TypeOrExpr::Expr(x),
            ..
        } => f(x),
        ExprKind::Block { value, .. } => f(value),
        _ => {}
    }
}

enum Child<'a> {
    Expr(&'a mut Expr),
    Stmt(&'a mut Stmt),
}

/// Calls `f` on each expression and nested statement directly in `s`.
fn visit_stmt_children(s: &mut Stmt, f: &mut dyn FnMut(Child<'_>)) {
    match &mut s.kind {
        StmtKind::Expr(e) | StmtKind::AssignVar { value: e, .. } => f(Child::Expr(e)),
        StmtKind::AssignMap { keys, value, .. } => {
            keys.iter_mut().for_each(|k| f(Child::Expr(k)));
            f(Child::Expr(value));
        }
        StmtKind::Let { value, .. } => {
            if let Some(v) = value {
                f(Child::Expr(v));
            }
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            f(Child::Expr(cond));
            then.iter_mut()
                .chain(otherwise.iter_mut())
                .for_each(|s| f(Child::Stmt(s)));
        }
        StmtKind::While { cond, body } | StmtKind::Unroll { count: cond, body } => {
            f(Child::Expr(cond));
            body.iter_mut().for_each(|s| f(Child::Stmt(s)));
        }
        StmtKind::ForRange {
            start, end, body, ..
        } => {
            f(Child::Expr(start));
            f(Child::Expr(end));
            body.iter_mut().for_each(|s| f(Child::Stmt(s)));
        }
        StmtKind::ForMap { body, .. } | StmtKind::Block(body) => {
            body.iter_mut().for_each(|s| f(Child::Stmt(s)))
        }
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
    }
}
