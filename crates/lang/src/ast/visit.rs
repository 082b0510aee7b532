//! The one walk over the syntax tree. A pass implements `Visitor` (reading) or `VisitorMut`
//! (rewriting), overrides the nodes it cares about, and calls `walk_*` to go on into their
//! children. The walks know every node kind, so no pass misses statements inside an expression
//! (`{ …; v }` blocks from macros) or expressions inside a type (`typeof(expr)`).

use super::*;

/// Reads a tree. Each method's default visits the node's children.
pub trait Visitor {
    fn expr(&mut self, e: &Expr) {
        walk_expr(self, e);
    }
    fn stmt(&mut self, s: &Stmt) {
        walk_stmt(self, s);
    }
    fn type_name(&mut self, t: &TypeName) {
        walk_type_name(self, t);
    }
}

/// Rewrites a tree in place. Each method's default visits the node's children; `span` is
/// called on every span of every node (expressions, statements, names and types).
pub trait VisitorMut {
    fn expr(&mut self, e: &mut Expr) {
        walk_expr_mut(self, e);
    }
    fn stmt(&mut self, s: &mut Stmt) {
        walk_stmt_mut(self, s);
    }
    fn type_name(&mut self, t: &mut TypeName) {
        walk_type_name_mut(self, t);
    }
    fn ident(&mut self, i: &mut Ident) {
        self.span(&mut i.span);
    }
    fn span(&mut self, _span: &mut Span) {}
}

/// Visits every statement of a list.
pub fn walk_stmts<V: Visitor + ?Sized>(v: &mut V, stmts: &[Stmt]) {
    stmts.iter().for_each(|s| v.stmt(s));
}

/// Visits a probe's predicate and body.
pub fn walk_probe<V: Visitor + ?Sized>(v: &mut V, p: &Probe) {
    if let Some(e) = &p.predicate {
        v.expr(e);
    }
    walk_stmts(v, &p.body);
}

pub fn walk_type_name<V: Visitor + ?Sized>(v: &mut V, t: &TypeName) {
    if let BaseType::Typeof(of) = &t.base {
        walk_type_or_expr(v, of);
    }
}

fn walk_type_or_expr<V: Visitor + ?Sized>(v: &mut V, of: &TypeOrExpr) {
    match of {
        TypeOrExpr::Type(t) => v.type_name(t),
        TypeOrExpr::Expr(e) => v.expr(e),
    }
}

pub fn walk_expr<V: Visitor + ?Sized>(v: &mut V, e: &Expr) {
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Str { .. }
        | ExprKind::Ident(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_)
        | ExprKind::ArgCount => {}
        ExprKind::Map { keys, .. } => keys.iter().for_each(|k| v.expr(k)),
        ExprKind::Call { args, .. } | ExprKind::Tuple(args) => args.iter().for_each(|a| v.expr(a)),
        ExprKind::Record(fields) => fields.iter().for_each(|(_, a)| v.expr(a)),
        ExprKind::Field { base, .. } => v.expr(base),
        ExprKind::Index { base, index } => {
            v.expr(base);
            v.expr(index);
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            if let Some(t) = then {
                v.expr(t);
            }
            v.expr(otherwise);
        }
        ExprKind::Cast { ty, operand } => {
            v.type_name(ty);
            v.expr(operand);
        }
        ExprKind::Unary { operand, .. } => v.expr(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            v.expr(lhs);
            v.expr(rhs);
        }
        ExprKind::SizeOf(of) | ExprKind::OffsetOf { of, .. } => walk_type_or_expr(v, of),
        ExprKind::Block { stmts, value } => {
            walk_stmts(v, stmts);
            v.expr(value);
        }
    }
}

pub fn walk_stmt<V: Visitor + ?Sized>(v: &mut V, s: &Stmt) {
    match &s.kind {
        StmtKind::Expr(e) | StmtKind::AssignVar { value: e, .. } => v.expr(e),
        StmtKind::AssignMap { keys, value, .. } => {
            keys.iter().for_each(|k| v.expr(k));
            v.expr(value);
        }
        StmtKind::Let { ty, value, .. } => {
            if let Some(t) = ty {
                v.type_name(t);
            }
            if let Some(e) = value {
                v.expr(e);
            }
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            walk_stmts(v, then);
            walk_stmts(v, otherwise);
        }
        StmtKind::While { cond, body } | StmtKind::Unroll { count: cond, body } => {
            v.expr(cond);
            walk_stmts(v, body);
        }
        StmtKind::ForRange {
            start, end, body, ..
        } => {
            v.expr(start);
            v.expr(end);
            walk_stmts(v, body);
        }
        StmtKind::ForMap { body, .. } | StmtKind::Block(body) => walk_stmts(v, body),
        StmtKind::Return(value) => value.iter().for_each(|e| v.expr(e)),
        StmtKind::Break | StmtKind::Continue => {}
    }
}

/// Visits every statement of a list, in place.
pub fn walk_stmts_mut<V: VisitorMut + ?Sized>(v: &mut V, stmts: &mut [Stmt]) {
    stmts.iter_mut().for_each(|s| v.stmt(s));
}

pub fn walk_type_name_mut<V: VisitorMut + ?Sized>(v: &mut V, t: &mut TypeName) {
    v.span(&mut t.span);
    if let BaseType::Typeof(of) = &mut t.base {
        walk_type_or_expr_mut(v, of);
    }
}

fn walk_type_or_expr_mut<V: VisitorMut + ?Sized>(v: &mut V, of: &mut TypeOrExpr) {
    match of {
        TypeOrExpr::Type(t) => v.type_name(t),
        TypeOrExpr::Expr(e) => v.expr(e),
    }
}

pub fn walk_expr_mut<V: VisitorMut + ?Sized>(v: &mut V, e: &mut Expr) {
    v.span(&mut e.span);
    match &mut e.kind {
        ExprKind::Int(_)
        | ExprKind::Bool(_)
        | ExprKind::Str { .. }
        | ExprKind::Ident(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_)
        | ExprKind::ArgCount => {}
        ExprKind::Map { map, keys } => {
            v.ident(map);
            keys.iter_mut().for_each(|k| v.expr(k));
        }
        ExprKind::Call { func, args } => {
            v.ident(func);
            args.iter_mut().for_each(|a| v.expr(a));
        }
        ExprKind::Tuple(items) => items.iter_mut().for_each(|a| v.expr(a)),
        ExprKind::Record(fields) => fields.iter_mut().for_each(|(_, a)| v.expr(a)),
        ExprKind::Field { base, field, .. } => {
            v.expr(base);
            v.ident(field);
        }
        ExprKind::Index { base, index } => {
            v.expr(base);
            v.expr(index);
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            if let Some(t) = then {
                v.expr(t);
            }
            v.expr(otherwise);
        }
        ExprKind::Cast { ty, operand } => {
            v.type_name(ty);
            v.expr(operand);
        }
        ExprKind::Unary { operand, .. } => v.expr(operand),
        ExprKind::Binary { lhs, rhs, .. } => {
            v.expr(lhs);
            v.expr(rhs);
        }
        ExprKind::SizeOf(of) => walk_type_or_expr_mut(v, of),
        ExprKind::OffsetOf { of, path } => {
            walk_type_or_expr_mut(v, of);
            path.iter_mut().for_each(|i| v.ident(i));
        }
        ExprKind::Block { stmts, value } => {
            walk_stmts_mut(v, stmts);
            v.expr(value);
        }
    }
}

pub fn walk_stmt_mut<V: VisitorMut + ?Sized>(v: &mut V, s: &mut Stmt) {
    v.span(&mut s.span);
    match &mut s.kind {
        StmtKind::Expr(e) => v.expr(e),
        StmtKind::AssignVar { name, value } => {
            v.ident(name);
            v.expr(value);
        }
        StmtKind::AssignMap { map, keys, value } => {
            v.ident(map);
            keys.iter_mut().for_each(|k| v.expr(k));
            v.expr(value);
        }
        StmtKind::Let { name, ty, value } => {
            v.ident(name);
            if let Some(t) = ty {
                v.type_name(t);
            }
            if let Some(e) = value {
                v.expr(e);
            }
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            walk_stmts_mut(v, then);
            walk_stmts_mut(v, otherwise);
        }
        StmtKind::While { cond, body } | StmtKind::Unroll { count: cond, body } => {
            v.expr(cond);
            walk_stmts_mut(v, body);
        }
        StmtKind::ForRange {
            var,
            start,
            end,
            body,
        } => {
            v.ident(var);
            v.expr(start);
            v.expr(end);
            walk_stmts_mut(v, body);
        }
        StmtKind::ForMap { var, map, body } => {
            v.ident(var);
            v.ident(map);
            walk_stmts_mut(v, body);
        }
        StmtKind::Block(body) => walk_stmts_mut(v, body),
        StmtKind::Return(value) => value.iter_mut().for_each(|e| v.expr(e)),
        StmtKind::Break | StmtKind::Continue => {}
    }
}
