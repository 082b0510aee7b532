//! Statements: assignments (plain, compound, `++`/`--`), `if`/`else`, loops and blocks.

use super::expressions::compound_op;
use super::{span_of, var_ident, Builder, Rule};
use crate::ast::*;
use crate::diagnostic::Diagnostic;
use pest::iterators::Pair;

impl Builder {
    pub(super) fn stmt(&mut self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span_of(&pair);
        let kind = match pair.as_rule() {
            Rule::if_stmt => self.if_stmt(pair),
            Rule::block => StmtKind::Block(self.block(pair)),
            Rule::while_stmt => {
                let mut inner = pair.into_inner();
                let cond = self.expr(inner.next().expect("grammar: while condition"));
                let body = self.block(inner.next().expect("grammar: while body"));
                StmtKind::While { cond, body }
            }
            Rule::unroll_stmt => {
                let mut inner = pair.into_inner();
                let count = self.expr(inner.next().expect("grammar: unroll count"));
                let body = self.block(inner.next().expect("grammar: unroll body"));
                StmtKind::Unroll { count, body }
            }
            Rule::for_stmt => {
                let mut inner = pair.into_inner();
                let mut head = inner.next().expect("grammar: for head").into_inner();
                let body = self.block(inner.next().expect("grammar: for body"));
                let var = var_ident(&head.next().expect("grammar: for variable"));
                let source = head.next().expect("grammar: for source");
                if source.as_rule() == Rule::range {
                    let mut r = source.into_inner();
                    let start = self.expr(r.next().expect("grammar: range start"));
                    let end = self.expr(r.next().expect("grammar: range end"));
                    StmtKind::ForRange {
                        var,
                        start,
                        end,
                        body,
                    }
                } else {
                    let (map, keys) = self.map(source);
                    if let Some(k) = keys.first() {
                        self.errors.push(
                            Diagnostic::error(k.span, "`for` iterates over a whole map")
                                .with_hint("write `for ($kv : @map)`; `$kv.0` is the key"),
                        );
                    }
                    StmtKind::ForMap { var, map, body }
                }
            }
            Rule::break_stmt => StmtKind::Break,
            Rule::continue_stmt => StmtKind::Continue,
            Rule::return_stmt => StmtKind::Return(pair.into_inner().next().map(|e| self.expr(e))),
            Rule::let_stmt => {
                let mut name = None;
                let mut ty = None;
                let mut value = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::variable => name = Some(var_ident(&p)),
                        Rule::type_name => ty = Some(self.type_name(p)),
                        _ => value = Some(self.expr(p)),
                    }
                }
                StmtKind::Let {
                    name: name.expect("grammar: let variable"),
                    ty,
                    value,
                }
            }
            Rule::assign_stmt => {
                let mut inner = pair.into_inner();
                let target = inner.next().expect("grammar: assignment target");
                let op = inner.next().expect("grammar: assignment operator");
                let mut value = self.expr(inner.next().expect("grammar: assigned value"));
                if let Some(bop) = compound_op(op.as_str()) {
                    let current = self.target_expr(target.clone());
                    value = Expr {
                        span,
                        kind: ExprKind::Binary {
                            op: bop,
                            lhs: Box::new(current),
                            rhs: Box::new(value),
                        },
                    };
                }
                self.assign(target, value)
            }
            Rule::incr_stmt => self.increment(pair).1,
            Rule::expr_stmt | Rule::discard_stmt => {
                StmtKind::Expr(self.expr(pair.into_inner().next().expect("grammar: expression")))
            }
            other => unreachable!("grammar produced {other:?} as a statement"),
        };
        Stmt { kind, span }
    }

    /// The statement `target = value`.
    /// `$x++`, `--@m[k]`: the target, the assignment that steps it by one, and whether the
    /// operator comes first.
    pub(super) fn increment<'i>(
        &mut self,
        pair: Pair<'i, Rule>,
    ) -> (Pair<'i, Rule>, StmtKind, bool) {
        let span = span_of(&pair);
        let mut target = None;
        let mut op = BinaryOp::Add;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::incr_op if p.as_str() == "--" => op = BinaryOp::Sub,
                Rule::incr_op => {}
                _ => target = Some(p),
            }
        }
        let target = target.expect("grammar: increment target");
        let prefix = target.as_span().start() > span.start;
        let value = Expr {
            span,
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(self.target_expr(target.clone())),
                rhs: Box::new(Expr {
                    kind: ExprKind::Int(1),
                    span,
                }),
            },
        };
        let step = self.assign(target.clone(), value);
        (target, step, prefix)
    }

    pub(super) fn assign(&mut self, target: Pair<'_, Rule>, value: Expr) -> StmtKind {
        if target.as_rule() == Rule::map {
            let (map, keys) = self.map(target);
            StmtKind::AssignMap { map, keys, value }
        } else {
            StmtKind::AssignVar {
                name: var_ident(&target),
                value,
            }
        }
    }

    /// The current value of an assignment target, for `+=` and `++`.
    pub(super) fn target_expr(&mut self, target: Pair<'_, Rule>) -> Expr {
        let span = span_of(&target);
        let kind = if target.as_rule() == Rule::map {
            let (map, keys) = self.map(target);
            ExprKind::Map { map, keys }
        } else {
            ExprKind::Var(target.as_str()[1..].to_string())
        };
        Expr { kind, span }
    }

    /// `@name[k1, k2]`: the map's name (with its `@`) and the keys.
    pub(super) fn map(&mut self, pair: Pair<'_, Rule>) -> (Ident, Vec<Expr>) {
        let mut inner = pair.into_inner();
        let name = inner.next().expect("grammar: map name");
        let map = Ident {
            name: name.as_str().to_string(),
            span: span_of(&name),
        };
        (map, inner.map(|k| self.expr(k)).collect())
    }

    pub(super) fn if_stmt(&mut self, pair: Pair<'_, Rule>) -> StmtKind {
        let mut inner = pair.into_inner();
        let cond = self.expr(inner.next().expect("grammar: if condition"));
        let then = self.block(inner.next().expect("grammar: if body"));
        let otherwise = match inner.next() {
            Some(else_clause) => {
                let branch = else_clause.into_inner().next().expect("grammar: else body");
                match branch.as_rule() {
                    Rule::if_stmt => {
                        let span = span_of(&branch);
                        vec![Stmt {
                            kind: self.if_stmt(branch),
                            span,
                        }]
                    }
                    _ => self.block(branch),
                }
            }
            None => Vec::new(),
        };
        StmtKind::If {
            cond,
            then,
            otherwise,
        }
    }
}
