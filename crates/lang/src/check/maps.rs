//! Maps: `@m[keys]` reads and assignments, aggregations (`count()` … `lhist()`), the map
//! functions (`delete clear zero print len has_key`). A map's key and value types are fixed by
//! its first use anywhere in the program; every later use must agree.

use super::{expr, Checker};
use crate::ast::visit::{walk_probe, walk_stmt, Visitor};
use crate::ast::{self, ExprKind as A, Span, UnaryOp};
use crate::builtins::{Aggregator, Arity, MapFn};
use crate::diagnostic::{nearest, Diagnostic};
use crate::typed::{
    self, Aggregate, ExprKind as T, LinearBuckets, MapDecl, MapId, MapOp, MapValue, StmtKind,
};
use crate::types::{IntType, StackMode, Type};
use std::collections::{HashMap, HashSet};

/// The deepest stack `kstack`/`ustack` capture (the kernel's default `perf_event_max_stack`).
pub const MAX_STACK: u8 = 127;

/// The most buckets an `lhist` may have, as bpftrace allows.
const MAX_LHIST_BUCKETS: i64 = 1000;

/// Every map of the program being checked.
#[derive(Default)]
pub(super) struct Maps {
    pub decls: Vec<MapDecl>,
    by_name: HashMap<String, MapId>,
    /// Maps assigned anywhere in the program, from a first look at the syntax: the function
    /// name of an aggregation, or `None` for a plain value. Lets a read come before the
    /// assignment in the text (`/@start[tid]/` in a probe declared first).
    assigned: HashMap<String, Option<Aggregator>>,
    /// Maps declared by a read whose keys the next use decides.
    keyless: Vec<MapId>,
    /// Histograms declared by a read, whose parameters their assignment decides.
    unparameterized: HashSet<MapId>,
    /// The values of maps read before their assignment, learned by an earlier pass.
    pub planned: HashMap<String, MapValue>,
    /// Maps declared by a read as integers, a guess no write has confirmed yet.
    guessed: HashSet<MapId>,
    /// What writes said of guessed maps when it was not an integer: the next pass's `planned`.
    pub learned: HashMap<String, MapValue>,
}

impl Maps {
    pub fn new(program: &ast::Program, existing: &[MapDecl]) -> Maps {
        let mut maps = Maps::default();
        for decl in existing {
            maps.by_name
                .insert(decl.name.clone(), MapId(maps.decls.len()));
            maps.decls.push(decl.clone());
        }
        for probe in &program.probes {
            walk_probe(&mut maps, probe);
        }
        maps
    }
}

/// Finds every map assignment, wherever it is.
impl Visitor for Maps {
    fn stmt(&mut self, s: &ast::Stmt) {
        if let ast::StmtKind::AssignMap { map, value, .. } = &s.kind {
            let agg = match &value.kind {
                A::Call { func, .. } => Aggregator::from_name(&func.name),
                _ => None,
            };
            self.assigned.entry(map.name.clone()).or_insert(agg);
        }
        walk_stmt(self, s);
    }
}

/// What a use of a map says about its value.
enum Use {
    /// Reading: the value must be known from elsewhere.
    Read,
    Write(MapValue),
}

impl Checker<'_> {
    /// `@m[keys] = value`: an aggregation or a plain value.
    pub(super) fn assign_map(
        &mut self,
        map: &ast::Ident,
        keys: &[ast::Expr],
        value: &ast::Expr,
    ) -> Option<StmtKind> {
        // `@m = { let $a = 100; avg($a) }`: the block's statements, then the aggregation.
        if let A::Block { stmts, value: last } = &value.kind {
            if matches!(&last.kind, A::Call { func, .. } if Aggregator::from_name(&func.name).is_some())
            {
                self.push_scope();
                let (mut body, aggregate) =
                    self.own_scope(|ck| (ck.stmts(stmts), ck.assign_map(map, keys, last)));
                self.pop_scope();
                body.push(typed::Stmt {
                    kind: aggregate?,
                    span: value.span,
                });
                return Some(StmtKind::Block(body));
            }
        }
        let keys = self.map_keys(keys);
        if let A::Call { func, args } = &value.kind {
            if let Some(f) = Aggregator::from_name(&func.name) {
                let (operand, kind) = self.aggregation(f, func, args, value.span)?;
                let keys = keys?;
                let id = self.use_map(
                    map,
                    &keys,
                    Use::Write(MapValue::Aggregate(kind)),
                    value.span,
                )?;
                return Some(StmtKind::Aggregate {
                    map: id,
                    keys,
                    value: operand,
                });
            }
        }
        // A struct is kept by its bytes, shown member by member.
        let value = self.expr(value)?;
        let mut value = self.record_value(value);
        let kept = match self.maps.by_name.get(&map.name) {
            Some(id) => match &self.maps.decls[id.0].value {
                MapValue::Stored(ty) => Some(ty.clone()),
                _ => None,
            },
            None => None,
        };
        if let Some(kept) = kept {
            value = self.in_field_order(value, &kept);
        }
        let kind = match &value.ty {
            Type::Int(i) => MapValue::Int(IntType {
                bits: 64,
                signed: i.signed,
            }),
            Type::Str(n) => MapValue::Str(*n),
            // A pointer keeps its type: what is read back can be followed (`@p[tid]->field`).
            Type::Ptr { .. } => MapValue::Stored(value.ty.clone()),
            Type::Bool
            | Type::Tuple { .. }
            | Type::Formatted(_)
            | Type::Stack { .. }
            | Type::Enum(_) => MapValue::Stored(value.ty.clone()),
            Type::Array { .. } if super::storable(&value.ty) => MapValue::Stored(value.ty.clone()),
            other => {
                let d = self.error(
                    value.span,
                    format!("a map cannot hold a value of type {other}"),
                );
                self.diags.push(d);
                return None;
            }
        };
        let keys = keys?;
        let id = self.use_map(map, &keys, Use::Write(kind), value.span)?;
        Some(StmtKind::MapAssign {
            map: id,
            keys,
            value,
        })
    }

    /// `@m[keys]` read as a value: zero (or "") when the key is missing.
    pub(super) fn read_map(
        &mut self,
        map: &ast::Ident,
        keys: &[ast::Expr],
        span: Span,
    ) -> Option<typed::Expr> {
        let keys = self.map_keys(keys)?;
        let id = self.use_map(map, &keys, Use::Read, span)?;
        let ty = self.single_value(id, map, span, "use here")?;
        Some(expr(T::MapRead { map: id, keys }, ty, span))
    }

    /// The type of one value of the map, or an error naming what it holds instead.
    fn single_value(
        &mut self,
        id: MapId,
        map: &ast::Ident,
        span: Span,
        what: &str,
    ) -> Option<Type> {
        let value = &self.maps.decls[id.0].value;
        if let Some(ty) = value.value_type() {
            return Some(ty);
        }
        let d = self
            .error(
                span,
                format!(
                    "{} holds {}, which has no single value to {what}",
                    map.name,
                    value.describe()
                ),
            )
            .with_hint(format!("print it with `print({})`", map.name));
        self.diags.push(d);
        None
    }

    /// Map functions used as statements: `delete`, `clear`, `zero`, `print`.
    pub(super) fn map_statement(
        &mut self,
        f: MapFn,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<StmtKind> {
        self.arity(func, f.arity(), args, span)?;
        let (map, keys) = self.map_arg(func, &args[0])?;
        match f {
            MapFn::Delete => {
                let (id, keys) = self.delete(map, keys, args, span)?;
                Some(StmtKind::Delete { map: id, keys })
            }
            MapFn::Clear | MapFn::Zero | MapFn::Print => {
                if !keys.is_empty() {
                    let d = self
                        .error(args[0].span, format!("{}() takes a whole map", func.name))
                        .with_hint(format!("write `{}({})`", func.name, map.name));
                    self.diags.push(d);
                    return None;
                }
                let id = self.existing_map(map)?;
                let op = match f {
                    MapFn::Clear => MapOp::Clear,
                    MapFn::Zero => MapOp::Zero,
                    _ => {
                        let top = match args.get(1) {
                            Some(a) => Some(Box::new(self.scalar(a, "print's top count")?)),
                            None => None,
                        };
                        let div = match args.get(2) {
                            Some(a) => Some(Box::new(self.scalar(a, "print's divisor")?)),
                            None => None,
                        };
                        MapOp::Print { top, div }
                    }
                };
                Some(StmtKind::MapOp { map: id, op })
            }
            MapFn::Len | MapFn::HasKey | MapFn::Find => {
                let other = f.name();
                let d = self
                    .error(
                        span,
                        format!("{other}() has a value; it is not a statement"),
                    )
                    .with_hint(format!("use it in an expression: `$n = {other}(…)`"));
                self.diags.push(d);
                None
            }
        }
    }

    /// `find(@m, key, $v)`: true when the key is there, and then `$v` holds its value.
    fn find(&mut self, map: &ast::Ident, args: &[ast::Expr], span: Span) -> Option<typed::Expr> {
        let last = args.last()?;
        let A::Var(name) = &last.kind else {
            let d = self
                .error(last.span, "find() puts the value in a scratch variable")
                .with_hint(format!("let $v; if (find({}, key, $v)) {{ … }}", map.name));
            self.diags.push(d);
            return None;
        };
        let keys = self.map_keys(&args[1..args.len() - 1])?;
        let id = self.use_map(map, &keys, Use::Read, span)?;
        if self.maps.decls[id.0].keys.is_empty() {
            let d = self
                .error(span, format!("{} has no keys to find", map.name))
                .with_hint(format!("read it directly: `{}`", map.name));
            self.diags.push(d);
            return None;
        }
        let ty = self.single_value(id, map, span, "find")?;
        let read = expr(
            T::MapRead {
                map: id,
                keys: keys.clone(),
            },
            ty,
            span,
        );
        let ident = ast::Ident {
            name: name.clone(),
            span: last.span,
        };
        let var = self.assign_var(&ident, &read, last.span)?;
        Some(expr(T::Find { map: id, keys, var }, Type::Bool, span))
    }

    /// `delete(@m, key)` or the older `delete(@m[key])`: the map and the key.
    fn delete(
        &mut self,
        map: &ast::Ident,
        keys: &[ast::Expr],
        args: &[ast::Expr],
        span: Span,
    ) -> Option<(MapId, Vec<typed::Expr>)> {
        let keys: Vec<ast::Expr> = match (keys.is_empty(), args.get(1)) {
            (true, Some(k)) => vec![k.clone()],
            (_, None) => keys.to_vec(),
            (false, Some(k)) => {
                let d = self
                    .error(k.span, "delete() takes the key once")
                    .with_hint(format!("write `delete({}, key)`", map.name));
                self.diags.push(d);
                return None;
            }
        };
        let keys = self.map_keys(&keys)?;
        let id = self.use_map(map, &keys, Use::Read, span)?;
        Some((id, keys))
    }

    /// Map functions used as values: `len(@m)`, `has_key(@m, key)`, and `delete(…)`, which is
    /// true when the key was there.
    pub(super) fn map_value_call(
        &mut self,
        f: MapFn,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<typed::Expr> {
        self.arity(func, f.arity(), args, span)?;
        // `len(kstack)`, `len(ustack)`: how many frames the stack has now.
        if f == MapFn::Len && !matches!(args[0].kind, A::Map { .. }) {
            if let Some(Type::Stack { user, limit, .. }) = self.expr(&args[0]).map(|e| e.ty) {
                return Some(expr(
                    T::StackLen { user, limit },
                    Type::Int(IntType::U64),
                    span,
                ));
            }
        }
        let (map, keys) = self.map_arg(func, &args[0])?;
        match f {
            MapFn::Delete => {
                let (id, keys) = self.delete(map, keys, args, span)?;
                return Some(expr(T::Delete { map: id, keys }, Type::Bool, span));
            }
            MapFn::Find => return self.find(map, args, span),
            MapFn::Clear | MapFn::Zero | MapFn::Print => return self.no_value(f.name(), span),
            MapFn::Len | MapFn::HasKey => {}
        }
        if !keys.is_empty() {
            let d = self
                .error(args[0].span, format!("{}() takes a whole map", func.name))
                .with_hint(format!("write `{}({}, …)`", func.name, map.name));
            self.diags.push(d);
            return None;
        }
        if f == MapFn::Len {
            let id = self.existing_map(map)?;
            self.maps.decls[id.0].counted = true;
            return Some(expr(T::Len(id), Type::Int(IntType::U64), span));
        }
        let keys = self.map_keys(&args[1..])?;
        let id = self.use_map(map, &keys, Use::Read, span)?;
        Some(expr(T::HasKey { map: id, keys }, Type::Bool, span))
    }

    /// `kstack`, `kstack(N)`, `kstack(perf)`, `kstack(raw, N)`.
    pub(super) fn stack(&mut self, user: bool, args: &[ast::Expr], span: Span) -> typed::Expr {
        let mut mode = None;
        let mut limit = None;
        for a in args {
            match &a.kind {
                A::Ident(name) if mode.is_none() && limit.is_none() => {
                    mode = StackMode::from_name(name);
                    if mode.is_none() {
                        let d = self
                            .error(a.span, format!("unknown stack mode `{name}`"))
                            .with_hint(format!("modes: {}", StackMode::NAMES.join(", ")));
                        self.diags.push(d);
                    }
                }
                _ => limit = Some(a),
            }
        }
        let limit = match limit {
            Some(e) => match self.constant(e, "the stack depth") {
                Some(n) if (1..=i64::from(MAX_STACK)).contains(&n) => n as u8,
                Some(_) => {
                    let d = self.error(
                        e.span,
                        format!("a stack depth is between 1 and {MAX_STACK}"),
                    );
                    self.diags.push(d);
                    MAX_STACK
                }
                None => MAX_STACK,
            },
            None => MAX_STACK,
        };
        expr(T::Stack, Type::Stack { user, limit, mode }, span)
    }

    /// An aggregation call: what it aggregates (nothing for `count()`) and what the map
    /// keeps.
    fn aggregation(
        &mut self,
        f: Aggregator,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<(Option<typed::Expr>, Aggregate)> {
        self.arity(func, f.arity(), args, span)?;
        let value = match f {
            Aggregator::Count => None,
            _ => {
                let what = format!("{}'s argument", f.name());
                Some(self.scalar(&args[0], &what))
            }
        };
        let kind = match f {
            Aggregator::Count
            | Aggregator::Sum
            | Aggregator::Min
            | Aggregator::Max
            | Aggregator::Avg
            | Aggregator::Stats => Aggregate::unparameterized(f),
            Aggregator::Hist => {
                let bits = match args.get(1) {
                    Some(k) => {
                        let bits = self.constant(k, "hist's second argument")?;
                        if !(0..=5).contains(&bits) {
                            let d = self
                                .error(k.span, "hist's second argument is between 0 and 5")
                                .with_hint("it splits each power of two into 2^k buckets");
                            self.diags.push(d);
                            return None;
                        }
                        bits as u8
                    }
                    None => 0,
                };
                Aggregate::Hist { bits }
            }
            Aggregator::Lhist => {
                let min = self.constant(&args[1], "lhist's min");
                let max = self.constant(&args[2], "lhist's max");
                let step = self.constant(&args[3], "lhist's step");
                let (min, max, step) = (min?, max?, step?);
                let problem = if step <= 0 {
                    Some("lhist's step must be positive")
                } else if max <= min {
                    Some("lhist's max must be greater than its min")
                } else if (i128::from(max) - i128::from(min)) / i128::from(step)
                    > i128::from(MAX_LHIST_BUCKETS)
                {
                    Some("lhist may have at most 1000 buckets")
                } else {
                    None
                };
                if let Some(p) = problem {
                    let d = self.error(span, p).with_hint(
                        "lhist(value, min, max, step), as in lhist(args.ret, 0, 2000, 200)",
                    );
                    self.diags.push(d);
                    return None;
                }
                Aggregate::Lhist(LinearBuckets { min, max, step })
            }
        };
        match value {
            Some(v) => Some((Some(v?), kind)),
            None => Some((None, kind)),
        }
    }

    /// An integer literal, possibly negated.
    fn constant(&mut self, e: &ast::Expr, what: &str) -> Option<i64> {
        let v = match &e.kind {
            A::Int(v) => i64::try_from(*v).ok(),
            A::Unary {
                op: UnaryOp::Neg,
                operand,
            } => match operand.kind {
                A::Int(v) => i64::try_from(v).ok().map(|v| -v),
                _ => None,
            },
            _ => None,
        };
        if v.is_none() {
            let d = self.error(e.span, format!("{what} must be an integer literal"));
            self.diags.push(d);
        }
        v
    }

    /// Checks the argument count against the function's.
    pub(super) fn arity(
        &mut self,
        func: &ast::Ident,
        arity: Arity,
        args: &[ast::Expr],
        span: Span,
    ) -> Option<()> {
        if arity.allows(args.len()) {
            return Some(());
        }
        let d = self.error(
            span,
            format!("{}() takes {arity}, not {}", func.name, args.len()),
        );
        self.diags.push(d);
        None
    }

    /// The first argument of a map function, which must name a map.
    fn map_arg<'e>(
        &mut self,
        func: &ast::Ident,
        arg: &'e ast::Expr,
    ) -> Option<(&'e ast::Ident, &'e [ast::Expr])> {
        if let A::Map { map, keys } = &arg.kind {
            return Some((map, keys));
        }
        let d = self
            .error(arg.span, format!("{}() takes a map", func.name))
            .with_hint(format!("as in `{}(@name)`", func.name));
        self.diags.push(d);
        None
    }

    /// Types each key of a map access; keys are integers, strings or stacks.
    fn map_keys(&mut self, keys: &[ast::Expr]) -> Option<Vec<typed::Expr>> {
        let mut out = Vec::new();
        let mut ok = true;
        for k in keys {
            let Some(t) = self.expr(k) else {
                ok = false;
                continue;
            };
            let t = self.record_value(t);
            if !can_be_key(&t.ty) {
                let d = self.error(
                    k.span,
                    format!("a value of type {} cannot be a map key", t.ty),
                );
                self.diags.push(d);
                ok = false;
            }
            out.push(t);
        }
        // `@m[(a, b)]` and `@m[$tuple]` are the same map as `@m[a, b]`.
        if let [single] = out.as_slice() {
            if let Type::Tuple { elems, names } = &single.ty {
                if !names.is_empty() {
                    // A record is a key of its own: `@m[(a=1, b=2)]`.
                    return ok.then_some(out);
                }
                let elems = elems.clone();
                let single = out.pop()?;
                out = match single.kind {
                    T::Tuple(items) => items,
                    _ => elems
                        .into_iter()
                        .enumerate()
                        .map(|(index, ty)| typed::Expr {
                            kind: T::TupleGet {
                                tuple: Box::new(single.clone()),
                                index,
                            },
                            ty,
                            span: single.span,
                        })
                        .collect(),
                };
            }
        }
        ok.then_some(out)
    }

    /// `for ($kv : @map)`: the map, and the type of `$kv`, a (key, value) tuple; several keys
    /// make the key a tuple.
    pub(super) fn for_map(&mut self, map: &ast::Ident) -> Option<(MapId, Type)> {
        let id = self.existing_map(map)?;
        let decl = &self.maps.decls[id.0];
        let key = match decl.keys.as_slice() {
            [] => {
                let d = self
                    .error(
                        map.span,
                        format!("{} has no keys to iterate over", map.name),
                    )
                    .with_hint(format!("read it directly: `{}`", map.name));
                self.diags.push(d);
                return None;
            }
            [one] => one.clone(),
            many => Type::tuple(many.to_vec()),
        };
        let value = self.single_value(id, map, map.span, "iterate over")?;
        Some((id, Type::tuple(vec![key, value])))
    }

    /// A map that must already exist (`clear`, `print`, `len`).
    fn existing_map(&mut self, map: &ast::Ident) -> Option<MapId> {
        if let Some(id) = self.maps.by_name.get(&map.name) {
            return Some(*id);
        }
        if self.maps.assigned.contains_key(&map.name) {
            // Assigned later in the text: declare it now from that assignment.
            return self.declare_planned(map);
        }
        self.unknown_map(map);
        None
    }

    fn unknown_map(&mut self, map: &ast::Ident) {
        let known = self.maps.assigned.keys().map(String::as_str);
        let hint = match nearest(&map.name, known) {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!(
                "a map exists once it is assigned: `{} = count()` or `{}[key] = value`",
                map.name, map.name
            ),
        };
        let d = Diagnostic::error(map.span, format!("unknown map `{}`", map.name)).with_hint(hint);
        self.diags.push(d);
    }

    /// Declares a map read before its assignment, with the value that assignment will give
    /// it. Keys are set by the first use that has them.
    fn declare_planned(&mut self, map: &ast::Ident) -> Option<MapId> {
        let planned = *self.maps.assigned.get(&map.name)?;
        // Histogram parameters come from the assignment itself, checked when reached;
        // nothing reads a histogram's value before that.
        let id = MapId(self.maps.decls.len());
        let value = match (planned, self.maps.planned.get(&map.name)) {
            (Some(f), _) => MapValue::Aggregate(Aggregate::unparameterized(f)),
            (None, Some(known)) => known.clone(),
            (None, None) => {
                self.maps.guessed.insert(id);
                MapValue::Int(IntType::I64)
            }
        };
        self.maps.decls.push(MapDecl {
            name: map.name.clone(),
            keys: Vec::new(),
            value,
            counted: false,
            storage: None,
            key_names: Vec::new(),
        });
        self.maps.by_name.insert(map.name.clone(), id);
        self.maps.keyless.push(id);
        if matches!(planned, Some(Aggregator::Hist | Aggregator::Lhist)) {
            self.maps.unparameterized.insert(id);
        }
        Some(id)
    }

    /// Records a use of `map` with these keys (and this value, for a write), checking it
    /// agrees with every earlier use.
    fn use_map(
        &mut self,
        map: &ast::Ident,
        keys: &[typed::Expr],
        how: Use,
        span: Span,
    ) -> Option<MapId> {
        let key_types: Vec<Type> = keys.iter().map(|k| key_type(&k.ty)).collect();
        let id = match self.maps.by_name.get(&map.name) {
            Some(id) => *id,
            None => match how {
                Use::Read => {
                    if !self.maps.assigned.contains_key(&map.name) {
                        self.unknown_map(map);
                        return None;
                    }
                    self.declare_planned(map)?
                }
                Use::Write(ref value) => {
                    let id = MapId(self.maps.decls.len());
                    self.maps.decls.push(MapDecl {
                        name: map.name.clone(),
                        keys: key_types.clone(),
                        value: value.clone(),
                        counted: false,
                        storage: None,
                        key_names: Vec::new(),
                    });
                    self.maps.by_name.insert(map.name.clone(), id);
                    return Some(id);
                }
            },
        };
        // Keys: the first use with keys fixes them.
        if let Some(pos) = self.maps.keyless.iter().position(|k| *k == id) {
            self.maps.keyless.remove(pos);
            self.maps.decls[id.0].keys = key_types.clone();
        }
        let decl = &mut self.maps.decls[id.0];
        let unified: Option<Vec<Type>> = (decl.keys.len() == key_types.len())
            .then(|| {
                decl.keys
                    .iter()
                    .zip(&key_types)
                    .map(|(a, b)| a.unify(b))
                    .collect()
            })
            .flatten();
        let Some(unified) = unified else {
            let have = describe_keys(&decl.keys);
            let name = decl.name.clone();
            let d = self
                .error(
                    span,
                    format!(
                        "{name} is keyed by {have}, but this uses {}",
                        describe_keys(&key_types)
                    ),
                )
                .with_hint("a map's keys are fixed by its first use");
            self.diags.push(d);
            return None;
        };
        decl.keys = unified;
        if let Use::Write(value) = how {
            if self.maps.guessed.remove(&id) && !matches!(value, MapValue::Int(_)) {
                // The read before this assignment guessed wrong: checked again knowing it.
                self.maps.learned.insert(decl.name.clone(), value.clone());
                decl.value = value;
                return Some(id);
            }
            let merged = match (&decl.value, &value) {
                (MapValue::Int(a), MapValue::Int(_)) => Some(MapValue::Int(*a)),
                // An enum's value beside plain integers is an integer.
                (MapValue::Int(a), MapValue::Stored(Type::Enum(_)))
                | (MapValue::Stored(Type::Enum(_)), MapValue::Int(a)) => Some(MapValue::Int(*a)),
                (MapValue::Str(a), MapValue::Str(b)) => Some(MapValue::Str((*a).max(*b))),
                (MapValue::Stored(a), MapValue::Stored(b)) => a.unify(b).map(MapValue::Stored),
                // A histogram read before its assignment was declared without parameters.
                (MapValue::Aggregate(a), MapValue::Aggregate(b))
                    if a.function() == b.function() && self.maps.unparameterized.remove(&id) =>
                {
                    Some(value.clone())
                }
                (a, b) if *a == *b => Some(value.clone()),
                _ => None,
            };
            match merged {
                Some(v) => decl.value = v,
                None => {
                    let msg = format!(
                        "type mismatch: {} holds {}, but this assigns {}",
                        decl.name,
                        decl.value.describe(),
                        value.describe()
                    );
                    let d = self
                        .error(span, msg)
                        .with_hint("a map's value type is fixed by its first assignment");
                    self.diags.push(d);
                    return None;
                }
            }
        }
        Some(id)
    }
}

/// `let @m = KIND(N);`: how each declared map is kept, checked against what it holds.
pub(super) fn apply_declarations(
    declarations: &[ast::MapDeclaration],
    decls: &mut [MapDecl],
    diags: &mut Vec<Diagnostic>,
) {
    for d in declarations {
        let (lru, per_cpu) = match d.kind.name.as_str() {
            "hash" => (false, false),
            "lruhash" => (true, false),
            "percpuhash" => (false, true),
            "percpulruhash" => (true, true),
            other => {
                diags.push(
                    Diagnostic::error(d.kind.span, format!("unknown map kind `{other}`"))
                        .with_hint("map kinds: hash, lruhash, percpuhash, percpulruhash"),
                );
                continue;
            }
        };
        let Some(decl) = decls.iter_mut().find(|m| m.name == d.map.name) else {
            diags.push(Diagnostic::warning(
                d.map.span,
                format!("{} is declared but never used", d.map.name),
            ));
            continue;
        };
        let max_entries = match u32::try_from(d.size) {
            Ok(n) if n > 0 => n,
            _ => {
                diags.push(Diagnostic::error(
                    d.span,
                    "a map holds from 1 to 4294967295 entries",
                ));
                continue;
            }
        };
        if per_cpu != decl.value.is_aggregation() {
            let hint = if per_cpu {
                "plain values live in `hash` or `lruhash` maps"
            } else {
                "aggregations are kept per CPU: declare it `percpuhash` or `percpulruhash`"
            };
            diags.push(
                Diagnostic::error(
                    d.kind.span,
                    format!(
                        "{} holds {}, which a {} map cannot keep",
                        decl.name,
                        decl.value.describe(),
                        d.kind.name
                    ),
                )
                .with_hint(hint),
            );
            continue;
        }
        if lru && decl.counted {
            diags.push(
                Diagnostic::error(
                    d.kind.span,
                    format!(
                        "len() cannot count {}'s keys: an LRU map drops entries by itself",
                        decl.name
                    ),
                )
                .with_hint("declare it `hash` to count its keys"),
            );
            continue;
        }
        decl.storage = Some(typed::MapStorage { lru, max_entries });
    }
}

/// Whether values of this type can key a map: they compare as bytes.
fn can_be_key(ty: &Type) -> bool {
    match ty {
        Type::Int(_)
        | Type::Bool
        | Type::Ptr { .. }
        | Type::Str(_)
        | Type::Stack { .. }
        | Type::Enum(_)
        | Type::Formatted(_) => true,
        Type::Tuple { elems, .. } => elems.iter().all(can_be_key),
        // Arrays of integers, kept as their bytes (`@[pton("::1")]`, `@[args.saddr]`).
        Type::Array { .. } => super::storable(ty),
        _ => false,
    }
}

/// How a key value is stored: integers widened to 64 bits (pointers keep their type, shown in
/// hex).
fn key_type(ty: &Type) -> Type {
    match ty {
        Type::Int(i) => Type::Int(IntType {
            bits: 64,
            signed: i.signed,
        }),
        Type::Tuple { elems, names } => Type::Tuple {
            elems: elems.iter().map(key_type).collect(),
            names: names.clone(),
        },
        other => other.clone(),
    }
}

fn describe_keys(keys: &[Type]) -> String {
    match keys {
        [] => "nothing (a scalar map)".to_string(),
        [one] => short(one),
        many => format!(
            "({})",
            many.iter().map(short).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn short(ty: &Type) -> String {
    match ty {
        Type::Int(_) => "an integer".into(),
        Type::Str(_) => "a string".into(),
        other => other.to_string(),
    }
}

/// Names every map's key fields after the expressions of its first keyed assignment, for
/// Prometheus labels (`MapDecl::key_names`). A tuple key names each of its members.
pub(super) fn name_keys(program: &ast::Program, decls: &mut [MapDecl]) {
    /// The maps, and each one's index by name (a generated script has thousands).
    struct Names<'a>(&'a mut [MapDecl], std::collections::HashMap<String, usize>);
    impl ast::visit::Visitor for Names<'_> {
        fn stmt(&mut self, s: &ast::Stmt) {
            if let ast::StmtKind::AssignMap { map, keys, .. } = &s.kind {
                let keys = match keys.as_slice() {
                    [ast::Expr {
                        kind: ast::ExprKind::Tuple(items),
                        ..
                    }] => items.as_slice(),
                    k => k,
                };
                if let Some(d) = self.1.get(&map.name).map(|&i| &mut self.0[i]) {
                    if d.key_names.is_empty() && d.keys.len() == keys.len() {
                        d.key_names = label_names(keys);
                    }
                }
            }
            ast::visit::walk_stmt(self, s);
        }
    }
    let index = decls
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name.clone(), i))
        .collect();
    let mut names = Names(decls, index);
    for p in &program.probes {
        ast::visit::walk_stmts(&mut names, &p.body);
    }
    for d in names.0.iter_mut() {
        if d.key_names.len() != d.keys.len() {
            d.key_names = (0..d.keys.len()).map(|i| format!("key{i}")).collect();
        }
    }
}

/// `comm` → `comm`, `$x` → `x`, `args.fd` → `fd`, `kstack(3)` → `kstack`; anything else, or
/// a name used twice, → `keyN`.
fn label_names(keys: &[ast::Expr]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let name = match &k.kind {
            ast::ExprKind::Ident(n) | ast::ExprKind::Var(n) => Some(n.clone()),
            ast::ExprKind::Field { field, .. } => Some(field.name.clone()),
            ast::ExprKind::Call { func, .. }
                if matches!(func.name.as_str(), "kstack" | "ustack") =>
            {
                Some(func.name.clone())
            }
            _ => None,
        };
        let valid = |n: &String| {
            n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !n.starts_with("__")
                && !out.contains(n)
        };
        out.push(name.filter(valid).unwrap_or_else(|| format!("key{i}")));
    }
    out
}
