//! Aggregations: `count sum min max avg stats hist lhist`, each updating this CPU's value in a
//! per-CPU map in place (no atomics needed), and reading one back in a probe by combining every
//! CPU's value.
//!
//! Where each part of an aggregation's value is, is `module::AggregateLayout`'s to say.

use super::maps::BPF_NOEXIST;
use super::{CompileError, Dst, Lowerer};
use crate::asm::Label;
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::{AggregateLayout, MapKind, Module, UserMap, ValueLayout};
use scry_lang::typed::visit::{walk_expr, walk_probe, walk_stmt, Visitor};
use scry_lang::typed::{
    Aggregate, Expr, ExprKind, LinearBuckets, MapId, MapOp, MapValue, Program, Stmt, StmtKind,
};

/// `EEXIST`: the key is already in the map.
const EEXIST: i32 = 17;

/// Per map of `program`: whether it is kept in a one-entry per-CPU array instead of a hash,
/// whose lookup the kernel inlines, with nothing to insert. That is a map without keys of an
/// aggregation whose value is all zeros until it first aggregates (what userspace takes for
/// "no value yet"): not `sum()`, which may add zeros; and only where nothing needs the entry
/// to be absent or present on its own: no `delete`, `has_key`, `find`, `for` or `zero()`.
pub(super) fn in_arrays(program: &Program) -> Vec<bool> {
    struct Uses(Vec<bool>);
    impl Visitor for Uses {
        fn stmt(&mut self, s: &Stmt) {
            if let StmtKind::Delete { map, .. }
            | StmtKind::ForMap { map, .. }
            | StmtKind::MapOp {
                map,
                op: MapOp::Zero,
            } = &s.kind
            {
                self.0[map.0] = true;
            }
            walk_stmt(self, s);
        }
        fn expr(&mut self, e: &Expr) {
            if let ExprKind::HasKey { map, .. }
            | ExprKind::Find { map, .. }
            | ExprKind::Delete { map, .. } = &e.kind
            {
                self.0[map.0] = true;
            }
            walk_expr(self, e);
        }
    }
    let mut uses = Uses(vec![false; program.maps.len()]);
    for probe in &program.probes {
        walk_probe(&mut uses, probe);
    }
    program
        .maps
        .iter()
        .zip(uses.0)
        .map(|(decl, used)| {
            let zero_until_set = matches!(
                decl.value,
                MapValue::Aggregate(
                    Aggregate::Count
                        | Aggregate::Min
                        | Aggregate::Max
                        | Aggregate::Avg
                        | Aggregate::Stats
                        | Aggregate::Hist { .. }
                        | Aggregate::Lhist(_)
                )
            );
            decl.keys.is_empty()
                && zero_until_set
                && !used
                && !decl.counted
                && decl.storage.is_none()
        })
        .collect()
}

impl Lowerer<'_> {
    pub(super) fn aggregate(
        &mut self,
        id: MapId,
        keys: &[Expr],
        value: Option<&Expr>,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let layout = match map.value {
            ValueLayout::Aggregate(layout) => layout,
            ValueLayout::Int(_) | ValueLayout::Str(_) | ValueLayout::Stored(_) => {
                return Err(self.unsupported(
                    format!("an aggregation of {}", map.decl.value.describe()),
                    self.asm.span,
                ))
            }
        };
        // The value first, into the first free temporary; the key's temporaries start above it.
        let at = self.base;
        if let Some(v) = value {
            self.eval_int(v, at)?;
        }
        let key = self.build_key(&map, keys, at + 1)?;
        let skip = self.asm.new_label();
        self.value_slot(&map, key, skip);
        // r0: this CPU's value. r1–r5 are free: no calls follow.
        let v = Reg::R1;
        if value.is_some() {
            self.fetch_into(at, v);
        }
        let (first, second) = (
            AggregateLayout::VALUE as i16,
            AggregateLayout::SECOND as i16,
        );
        let with_value = value.map(|_| v);
        match layout {
            AggregateLayout::Total { .. } => self.add_at(Reg::R0, first, with_value),
            AggregateLayout::Moments => {
                self.add_at(Reg::R0, first, None);
                self.add_at(Reg::R0, second, Some(v));
            }
            AggregateLayout::Extreme { max: false } => self.extreme(v, Cond::SGe),
            AggregateLayout::Extreme { max: true } => self.extreme(v, Cond::SLe),
            AggregateLayout::Log2 { bits } => {
                self.add_at(Reg::R0, layout.sum_word() as i16, Some(v));
                self.log2_bucket(v, bits);
                self.bump_bucket(v, layout.buckets());
            }
            AggregateLayout::Linear(buckets) => {
                self.add_at(Reg::R0, layout.sum_word() as i16, Some(v));
                self.linear_bucket(v, buckets);
                self.bump_bucket(v, layout.buckets());
            }
        }
        self.asm.bind(skip);
        Ok(())
    }

    /// `r0` = this CPU's value for `key`, inserting a zero value first when the key is new;
    /// jumps to `skip` when the map is full.
    fn value_slot(&mut self, map: &UserMap, key: Dst, skip: Label) {
        let found = self.asm.new_label();
        self.lookup(map, key);
        if self.module.maps[map.map.0].kind == MapKind::PerCpuArray {
            // The one entry is always there; the check is for the verifier.
            self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, skip);
            return;
        }
        self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, found);
        let zero = &mut self.module.maps[Module::ZERO.0];
        zero.value_size = zero.value_size.max(map.value.size());
        self.array_lookup(Module::ZERO);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, skip);
        self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        self.asm.ld_map(Reg::R1, map.map);
        self.dst_into(key, Reg::R2);
        self.asm.emit(Insn::mov64_imm(Reg::R4, BPF_NOEXIST));
        // Another CPU inserting the key first (EEXIST) is no failure.
        self.call_checked(Helper::MapUpdateElem, Some(-EEXIST));
        if map.counter.is_some() {
            // Another CPU may have inserted the key first: count only our insert.
            let lost_race = self.asm.new_label();
            self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, lost_race);
            self.count_keys(map, 1);
            self.asm.bind(lost_race);
        }
        self.lookup(map, key);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, skip);
        self.asm.bind(found);
    }

    /// `*(u64 *)(base + off) += v` (or `+= 1`), using r2.
    fn add_at(&mut self, base: Reg, off: i16, v: Option<Reg>) {
        self.asm.emit(Insn::ldx(Size::DW, Reg::R2, base, off));
        match v {
            Some(v) => self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R2, v)),
            None => self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R2, 1)),
        }
        self.asm.emit(Insn::stx(Size::DW, base, off, Reg::R2));
    }

    /// min/max: store `v` when no value is set yet or when `keep` does not hold between `v`
    /// and the current value.
    fn extreme(&mut self, v: Reg, keep: Cond) {
        let store = self.asm.new_label();
        let done = self.asm.new_label();
        let (value, seen) = (
            AggregateLayout::VALUE as i16,
            AggregateLayout::SECOND as i16,
        );
        self.asm.emit(Insn::ldx(Size::DW, Reg::R2, Reg::R0, seen));
        self.asm.jmp_imm(Cond::Eq, Reg::R2, 0, store);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R2, Reg::R0, value));
        self.asm.jmp_reg(keep, v, Reg::R2, done);
        self.asm.bind(store);
        self.asm.emit(Insn::stx(Size::DW, Reg::R0, value, v));
        self.asm.emit(Insn::st_imm(Size::DW, Reg::R0, seen, 1));
        self.asm.bind(done);
    }

    /// `v` = its hist bucket: 0 for negatives, `v + 1` below 2^bits, else 2^bits buckets per
    /// power of two (bpftrace's numbering). Uses r2–r4.
    fn log2_bucket(&mut self, v: Reg, bits: u8) {
        let done = self.asm.new_label();
        let small = self.asm.new_label();
        let nonneg = self.asm.new_label();
        let mask = (1i32 << bits) - 1;
        self.asm.jmp_imm(Cond::SGe, v, 0, nonneg);
        self.asm.emit(Insn::mov64_imm(v, 0));
        self.asm.ja(done);
        self.asm.bind(nonneg);
        self.asm.jmp_imm(Cond::Le, v, mask, small);
        // r2 = floor(log2(v)), by halving the search range six times; r3 = v.
        self.asm.emit(Insn::mov64_reg(Reg::R3, v));
        self.asm.emit(Insn::mov64_imm(Reg::R2, 0));
        for i in (0..6).rev() {
            let below = self.asm.new_label();
            let threshold = 1u64 << (1u32 << i);
            self.asm.mov_const(Reg::R4, threshold);
            self.asm.jmp_reg(Cond::Lt, Reg::R3, Reg::R4, below);
            self.asm.emit(Insn::alu64_imm(Alu::Rsh, Reg::R3, 1 << i));
            self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R2, 1 << i));
            self.asm.bind(below);
        }
        // bucket = ((l - bits + 1) << bits) + ((v >> (l - bits)) & mask) + 1
        self.asm
            .emit(Insn::alu64_imm(Alu::Sub, Reg::R2, i32::from(bits)));
        self.asm.emit(Insn::alu64_reg(Alu::Rsh, v, Reg::R2));
        self.asm.emit(Insn::alu64_imm(Alu::And, v, mask));
        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R2, 1));
        self.asm
            .emit(Insn::alu64_imm(Alu::Lsh, Reg::R2, i32::from(bits)));
        self.asm.emit(Insn::alu64_reg(Alu::Add, v, Reg::R2));
        self.asm.bind(small);
        self.asm.emit(Insn::alu64_imm(Alu::Add, v, 1));
        self.asm.bind(done);
    }

    /// `v` = its lhist bucket: 0 below `min`, `1 + (v - min) / step` up to `max`, and the
    /// overflow bucket above. Uses r2.
    fn linear_bucket(&mut self, v: Reg, buckets: LinearBuckets) {
        let LinearBuckets { min, max, step } = buckets;
        let done = self.asm.new_label();
        let in_range = self.asm.new_label();
        let above = self.asm.new_label();
        self.asm.mov_const(Reg::R2, min as u64);
        self.asm.jmp_reg(Cond::SGe, v, Reg::R2, in_range);
        self.asm.emit(Insn::mov64_imm(v, 0));
        self.asm.ja(done);
        self.asm.bind(in_range);
        self.asm.mov_const(Reg::R2, max as u64);
        self.asm.jmp_reg(Cond::SGt, v, Reg::R2, above);
        self.asm.mov_const(Reg::R2, min as u64);
        self.asm.emit(Insn::alu64_reg(Alu::Sub, v, Reg::R2));
        self.asm.mov_const(Reg::R2, step as u64);
        self.asm.emit(Insn::alu64_reg(Alu::Div, v, Reg::R2));
        self.asm.emit(Insn::alu64_imm(Alu::Add, v, 1));
        self.asm.ja(done);
        self.asm.bind(above);
        self.asm.mov_const(v, u64::from(buckets.overflow()));
        self.asm.bind(done);
    }

    /// `((u64 *)r0)[v] += 1`, with `v` clamped below `buckets` for the verifier.
    fn bump_bucket(&mut self, v: Reg, buckets: u32) {
        let ok = self.asm.new_label();
        let last = buckets as i32 - 1;
        self.asm.jmp_imm(Cond::Le, v, last, ok);
        self.asm.emit(Insn::mov64_imm(v, last));
        self.asm.bind(ok);
        self.asm.emit(Insn::alu64_imm(Alu::Lsh, v, 3));
        self.asm.emit(Insn::alu64_reg(Alu::Add, v, Reg::R0));
        self.add_at(v, 0, None);
    }

    /// Reads an aggregation in a probe: every CPU's value for `key`, combined, into the
    /// temporary at `depth`. Uses the temporaries `depth`..`depth + 2`.
    pub(super) fn read_aggregation(
        &mut self,
        map: &UserMap,
        key: Dst,
        depth: usize,
    ) -> Result<(), CompileError> {
        let (acc, cpu, aux) = (depth, depth + 1, depth + 2);
        let layout = match map.value {
            ValueLayout::Aggregate(layout) => layout,
            ValueLayout::Int(_) | ValueLayout::Str(_) | ValueLayout::Stored(_) => {
                return Err(self.unsupported(
                    format!("reading {} as an aggregation", map.decl.value.describe()),
                    self.asm.span,
                ))
            }
        };
        let (first, second) = (
            AggregateLayout::VALUE as i16,
            AggregateLayout::SECOND as i16,
        );
        let init = |me: &mut Self, at: usize| {
            let w = me.work_reg(at);
            me.asm.emit(Insn::mov64_imm(w, 0));
            me.set_temp(at, w);
        };
        init(self, acc);
        init(self, cpu);
        init(self, aux);
        let top = self.asm.new_label();
        let next = self.asm.new_label();
        self.asm.bind(top);
        self.asm.ld_map(Reg::R1, map.map);
        self.dst_into(key, Reg::R2);
        self.fetch_into(cpu, Reg::R3);
        self.asm.emit(Insn::call(Helper::MapLookupPercpuElem));
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, next);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, first));
        let a = self.fetch(acc, Reg::R2);
        match layout {
            AggregateLayout::Total { .. } => {
                self.asm.emit(Insn::alu64_reg(Alu::Add, a, Reg::R1));
            }
            // Only avg() has one value to read: stats() is rejected by the checker.
            AggregateLayout::Moments => {
                // aux = Σ count, acc = Σ total
                let c = self.fetch(aux, Reg::R3);
                self.asm.emit(Insn::alu64_reg(Alu::Add, c, Reg::R1));
                self.set_temp(aux, c);
                self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, second));
                self.asm.emit(Insn::alu64_reg(Alu::Add, a, Reg::R1));
            }
            AggregateLayout::Extreme { max } => {
                // aux = whether any CPU had a value
                let keep = self.asm.new_label();
                let take = self.asm.new_label();
                self.asm.emit(Insn::ldx(Size::DW, Reg::R3, Reg::R0, second));
                self.asm.jmp_imm(Cond::Eq, Reg::R3, 0, keep);
                let seen = self.fetch(aux, Reg::R3);
                self.asm.jmp_imm(Cond::Eq, seen, 0, take);
                let better = if max { Cond::SGt } else { Cond::SLt };
                self.asm.jmp_reg(better.negate(), Reg::R1, a, keep);
                self.asm.bind(take);
                self.asm.emit(Insn::mov64_reg(a, Reg::R1));
                let one = self.work_reg(aux);
                self.asm.emit(Insn::mov64_imm(one, 1));
                self.set_temp(aux, one);
                self.asm.bind(keep);
            }
            AggregateLayout::Log2 { .. } | AggregateLayout::Linear(_) => {
                return Err(self.unsupported(
                    format!("reading {} in a probe", map.decl.value.describe()),
                    self.asm.span,
                ))
            }
        }
        self.set_temp(acc, a);
        self.asm.bind(next);
        let c = self.fetch(cpu, Reg::R3);
        self.asm.emit(Insn::alu64_imm(Alu::Add, c, 1));
        self.set_temp(cpu, c);
        let c = self.fetch(cpu, Reg::R3);
        let ncpus = self.options.ncpus.max(1) as i32;
        self.asm.jmp_imm(Cond::Lt, c, ncpus, top);
        if layout == AggregateLayout::Moments {
            let done = self.asm.new_label();
            let a = self.fetch(acc, Reg::R1);
            let n = self.fetch(aux, Reg::R2);
            self.asm.jmp_imm(Cond::Eq, n, 0, done);
            self.asm.emit(Insn::alu64_reg(Alu::SDiv, a, n));
            self.set_temp(acc, a);
            self.asm.bind(done);
        }
        Ok(())
    }
}
