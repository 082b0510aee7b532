//! The one walk over the checked tree, as `ast::visit` is over the syntax tree: a pass
//! implements `Visitor` or `VisitorMut`, overrides the nodes it cares about and calls `walk_*`
//! to go on into their children, which include the statements of `{ …; v }` blocks.

use super::*;

/// Reads a tree. Each method's default visits the node's children.
pub trait Visitor {
    fn expr(&mut self, e: &Expr) {
        walk_expr(self, e);
    }
    fn stmt(&mut self, s: &Stmt) {
        walk_stmt(self, s);
    }
}

/// Rewrites a tree in place. Each method's default visits the node's children.
pub trait VisitorMut {
    fn expr(&mut self, e: &mut Expr) {
        walk_expr_mut(self, e);
    }
    fn stmt(&mut self, s: &mut Stmt) {
        walk_stmt_mut(self, s);
    }
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

pub fn walk_expr<V: Visitor + ?Sized>(v: &mut V, e: &Expr) {
    match &e.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Builtin(_)
        | ExprKind::AttachCookie
        | ExprKind::Context
        | ExprKind::Now(_)
        | ExprKind::StackLen { .. }
        | ExprKind::NsPid { .. }
        | ExprKind::Var(_)
        | ExprKind::Len(_)
        | ExprKind::Stack
        | ExprKind::Arg(_)
        | ExprKind::Bytes(_) => {}
        ExprKind::MapRead { keys, .. }
        | ExprKind::HasKey { keys, .. }
        | ExprKind::Find { keys, .. }
        | ExprKind::Delete { keys, .. }
        | ExprKind::Tuple(keys)
        | ExprKind::Format { args: keys, .. } => keys.iter().for_each(|k| v.expr(k)),
        ExprKind::ReadStr { ptr, len, .. } => {
            v.expr(ptr);
            if let Some(l) = len {
                v.expr(l);
            }
        }
        ExprKind::Unary { operand: x, .. }
        | ExprKind::Cast(x)
        | ExprKind::AddrOf(x)
        | ExprKind::TupleGet { tuple: x, .. }
        | ExprKind::Load { addr: x, .. }
        | ExprKind::StrLen(x)
        | ExprKind::Bswap(x)
        | ExprKind::StrIndex { string: x, .. } => v.expr(x),
        ExprKind::Binary { lhs, rhs, .. }
        | ExprKind::StrEq { lhs, rhs, .. }
        | ExprKind::BytesEq { lhs, rhs }
        | ExprKind::ElementAt {
            value: lhs,
            index: rhs,
            ..
        }
        | ExprKind::StrContains {
            haystack: lhs,
            needle: rhs,
            ..
        } => {
            v.expr(lhs);
            v.expr(rhs);
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            v.expr(then);
            v.expr(otherwise);
        }
        ExprKind::Block { stmts, value } => {
            walk_stmts(v, stmts);
            v.expr(value);
        }
    }
}

pub fn walk_stmt<V: Visitor + ?Sized>(v: &mut V, s: &Stmt) {
    match &s.kind {
        StmtKind::Expr(e) | StmtKind::Assign { value: e, .. } | StmtKind::Signal(e) => v.expr(e),
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            walk_stmts(v, then);
            walk_stmts(v, otherwise);
        }
        StmtKind::Block(body) | StmtKind::ForMap { body, .. } | StmtKind::Unroll { body, .. } => {
            walk_stmts(v, body)
        }
        StmtKind::Printf { args, .. } | StmtKind::Debugf { args, .. } => {
            args.iter().for_each(|a| v.expr(a))
        }
        StmtKind::Exit { code } => code.iter().for_each(|c| v.expr(c)),
        StmtKind::MapAssign { keys, value, .. } => {
            keys.iter().for_each(|k| v.expr(k));
            v.expr(value);
        }
        StmtKind::Aggregate { keys, value, .. } => {
            keys.iter().chain(value).for_each(|k| v.expr(k));
        }
        StmtKind::Delete { keys, .. } => keys.iter().for_each(|k| v.expr(k)),
        StmtKind::MapOp { op, .. } => match op {
            MapOp::Clear | MapOp::Zero => {}
            MapOp::Print { top, div } => top.iter().chain(div).for_each(|x| v.expr(x)),
        },
        StmtKind::While { cond, body } => {
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
        StmtKind::Return(value) => value.iter().for_each(|e| v.expr(e)),
        StmtKind::Break | StmtKind::Continue | StmtKind::ZeroVar(_) => {}
        StmtKind::Async(op) => match op {
            AsyncOp::Print(e) | AsyncOp::Join { argv: e, .. } => v.expr(e),
            AsyncOp::Time(_) => {}
            AsyncOp::Cat { args, .. }
            | AsyncOp::System { args, .. }
            | AsyncOp::Event { args, .. }
            | AsyncOp::Message { args, .. } => args.iter().for_each(|a| v.expr(a)),
        },
    }
}

/// Visits every statement of a list, in place.
pub fn walk_stmts_mut<V: VisitorMut + ?Sized>(v: &mut V, stmts: &mut [Stmt]) {
    stmts.iter_mut().for_each(|s| v.stmt(s));
}

pub fn walk_expr_mut<V: VisitorMut + ?Sized>(v: &mut V, e: &mut Expr) {
    match &mut e.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Builtin(_)
        | ExprKind::AttachCookie
        | ExprKind::Context
        | ExprKind::Now(_)
        | ExprKind::StackLen { .. }
        | ExprKind::NsPid { .. }
        | ExprKind::Var(_)
        | ExprKind::Len(_)
        | ExprKind::Stack
        | ExprKind::Arg(_)
        | ExprKind::Bytes(_) => {}
        ExprKind::MapRead { keys, .. }
        | ExprKind::HasKey { keys, .. }
        | ExprKind::Find { keys, .. }
        | ExprKind::Delete { keys, .. }
        | ExprKind::Tuple(keys)
        | ExprKind::Format { args: keys, .. } => keys.iter_mut().for_each(|k| v.expr(k)),
        ExprKind::ReadStr { ptr, len, .. } => {
            v.expr(ptr);
            if let Some(l) = len {
                v.expr(l);
            }
        }
        ExprKind::Unary { operand: x, .. }
        | ExprKind::Cast(x)
        | ExprKind::AddrOf(x)
        | ExprKind::TupleGet { tuple: x, .. }
        | ExprKind::Load { addr: x, .. }
        | ExprKind::StrLen(x)
        | ExprKind::Bswap(x)
        | ExprKind::StrIndex { string: x, .. } => v.expr(x),
        ExprKind::Binary { lhs, rhs, .. }
        | ExprKind::StrEq { lhs, rhs, .. }
        | ExprKind::BytesEq { lhs, rhs }
        | ExprKind::ElementAt {
            value: lhs,
            index: rhs,
            ..
        }
        | ExprKind::StrContains {
            haystack: lhs,
            needle: rhs,
            ..
        } => {
            v.expr(lhs);
            v.expr(rhs);
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            v.expr(then);
            v.expr(otherwise);
        }
        ExprKind::Block { stmts, value } => {
            walk_stmts_mut(v, stmts);
            v.expr(value);
        }
    }
}

pub fn walk_stmt_mut<V: VisitorMut + ?Sized>(v: &mut V, s: &mut Stmt) {
    match &mut s.kind {
        StmtKind::Expr(e) | StmtKind::Assign { value: e, .. } | StmtKind::Signal(e) => v.expr(e),
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            v.expr(cond);
            walk_stmts_mut(v, then);
            walk_stmts_mut(v, otherwise);
        }
        StmtKind::Block(body) | StmtKind::ForMap { body, .. } | StmtKind::Unroll { body, .. } => {
            walk_stmts_mut(v, body)
        }
        StmtKind::Printf { args, .. } | StmtKind::Debugf { args, .. } => {
            args.iter_mut().for_each(|a| v.expr(a))
        }
        StmtKind::Exit { code } => code.iter_mut().for_each(|c| v.expr(c)),
        StmtKind::MapAssign { keys, value, .. } => {
            keys.iter_mut().for_each(|k| v.expr(k));
            v.expr(value);
        }
        StmtKind::Aggregate { keys, value, .. } => {
            keys.iter_mut().chain(value).for_each(|k| v.expr(k));
        }
        StmtKind::Delete { keys, .. } => keys.iter_mut().for_each(|k| v.expr(k)),
        StmtKind::MapOp { op, .. } => match op {
            MapOp::Clear | MapOp::Zero => {}
            MapOp::Print { top, div } => top.iter_mut().chain(div).for_each(|x| v.expr(x)),
        },
        StmtKind::While { cond, body } => {
            v.expr(cond);
            walk_stmts_mut(v, body);
        }
        StmtKind::ForRange {
            start, end, body, ..
        } => {
            v.expr(start);
            v.expr(end);
            walk_stmts_mut(v, body);
        }
        StmtKind::Return(value) => value.iter_mut().for_each(|e| v.expr(e)),
        StmtKind::Break | StmtKind::Continue | StmtKind::ZeroVar(_) => {}
        StmtKind::Async(op) => match op {
            AsyncOp::Print(e) | AsyncOp::Join { argv: e, .. } => v.expr(e),
            AsyncOp::Time(_) => {}
            AsyncOp::Cat { args, .. }
            | AsyncOp::System { args, .. }
            | AsyncOp::Event { args, .. }
            | AsyncOp::Message { args, .. } => args.iter_mut().for_each(|a| v.expr(a)),
        },
    }
}
