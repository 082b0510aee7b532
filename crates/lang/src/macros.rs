//! Macro expansion: `macro name(params) { … }` calls are replaced by their bodies before type
//! checking. Parameters are `$var` (the caller's variable, by name), `@map` (the caller's map)
//! or a bare name (the argument expression). Other variables in a body are renamed per
//! expansion, so a macro cannot see or clobber its caller's variables.

use crate::ast::visit::{walk_expr_mut, walk_stmt_mut, walk_stmts_mut, VisitorMut};
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
        walk_stmts_mut(&mut x, &mut probe.body);
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
}

impl VisitorMut for Expander {
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
                        walk_stmts_mut(self, &mut body);
                    }
                    self.depth -= 1;
                    s.kind = StmtKind::Block(body);
                }
                return;
            }
        }
        walk_stmt_mut(self, s);
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
                walk_expr_mut(self, &mut block);
            }
            self.depth -= 1;
            *e = block;
            return;
        }
        walk_expr_mut(self, e);
    }
}

impl Expander {
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
        walk_stmts_mut(&mut sub, &mut body);
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
}

impl VisitorMut for Substitution {
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
        walk_stmt_mut(self, s);
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
            _ => {}
        }
        walk_expr_mut(self, e);
    }
}
