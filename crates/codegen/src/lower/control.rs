//! Control flow: `while`, `for ($i : a..b)`, `for ($kv : @map)`, `break`/`continue`, and `?:`.
//! Loops are plain backward jumps: the kernel's verifier proves them bounded by walking them.
//! A loop over a map is `bpf_for_each_map_elem` with the body as a callback subprogram, emitted
//! after the program, and so is a range whose bounds are not constants (`bpf_loop`: the
//! verifier cannot walk a loop whose count it does not know); a callback reaches the probe's
//! variables through the scratch area and its context through a stack slot of the caller.

use super::{CompileError, Lowerer, CTX};
use crate::asm::Label;
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::Module;
use scry_lang::typed::visit::{walk_probe, walk_stmt, Visitor};
use scry_lang::typed::{Expr, MapId, Probe, Stmt, StmtKind, VarId};
use scry_lang::types::Type;

/// A loop body waiting to be emitted as a subprogram.
pub(super) struct Callback {
    entry: Label,
    var: VarId,
    over: Over,
    body: Vec<Stmt>,
}

/// The most iterations `bpf_loop` runs (the kernel's BPF_MAX_LOOPS).
const MAX_LOOPS: i32 = 1 << 23;

/// What a callback loops over.
enum Over {
    /// `for ($kv : @map)`: each entry.
    Map(MapId),
    /// `for ($i : a..b)` with bounds known only at run time: `bpf_loop`'s index, from `a`.
    Range,
}

/// A range loop runs as a callback unless both its bounds are constants.
fn range_in_callback(start: &Expr, end: &Expr) -> bool {
    use scry_lang::typed::ExprKind;
    !matches!(
        (&start.kind, &end.kind),
        (ExprKind::Int(_), ExprKind::Int(_))
    )
}

/// Whether any statement, however nested (inside a `{ …; v }` value too), is a loop that runs
/// as a callback.
pub(super) fn has_callbacks(probe: &Probe) -> bool {
    #[derive(Default)]
    struct Find(bool);
    impl Visitor for Find {
        fn stmt(&mut self, s: &Stmt) {
            self.0 |= match &s.kind {
                StmtKind::ForMap { .. } => true,
                StmtKind::ForRange { start, end, .. } => range_in_callback(start, end),
                _ => false,
            };
            walk_stmt(self, s);
        }
    }
    let mut find = Find::default();
    walk_probe(&mut find, probe);
    find.0
}

pub(super) struct LoopLabels {
    /// Where `continue` goes.
    next: Label,
    /// Where `break` goes.
    end: Label,
    /// Whether any `continue` jumped to `next`.
    continued: bool,
}

impl Lowerer<'_> {
    pub(super) fn while_loop(&mut self, cond: &Expr, body: &[Stmt]) -> Result<(), CompileError> {
        let top = self.asm.new_label();
        let end = self.asm.new_label();
        self.asm.bind(top);
        self.eval_int(cond, self.base)?;
        let r = self.fetch(self.base, Reg::R0);
        self.asm.jmp_imm(Cond::Eq, r, 0, end);
        self.loops.push(LoopLabels {
            next: top,
            end,
            continued: false,
        });
        let ends = self.stmts(body)?;
        self.loops.pop();
        if !ends {
            self.asm.ja(top);
        }
        self.asm.bind(end);
        Ok(())
    }

    /// `for ($i : start..end)`: `$i` runs from start up to end - 1; the bounds are evaluated
    /// once.
    pub(super) fn for_range(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        body: &[Stmt],
    ) -> Result<(), CompileError> {
        if range_in_callback(start, end) {
            return self.range_loop(var, start, end, body);
        }
        let slot = self.var_dst(var);
        let limit = self.alloc(8);
        self.eval_int(end, self.base)?;
        let r = self.fetch(self.base, Reg::R0);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, limit, r));
        self.eval_int(start, self.base)?;
        let r = self.fetch(self.base, Reg::R2);
        self.store_word(slot, r);
        let top = self.asm.new_label();
        let next = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.bind(top);
        self.load_word(slot, Reg::R1);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R2, Reg::FP, limit));
        self.asm.jmp_reg(Cond::SGe, Reg::R1, Reg::R2, done);
        self.loops.push(LoopLabels {
            next,
            end: done,
            continued: false,
        });
        let ends = self.stmts(body)?;
        let labels = self.loops.pop().expect("pushed above");
        // After a body that always leaves, the step is reached only through `continue`.
        if !ends || labels.continued {
            self.asm.bind(next);
            self.load_word(slot, Reg::R2);
            self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R2, 1));
            self.store_word(slot, Reg::R2);
            self.asm.ja(top);
        }
        self.asm.bind(done);
        Ok(())
    }

    /// A range whose bounds are known at run time only: `bpf_loop(end - start, callback,
    /// slots, 0)` (no iterations when end ≤ start), the callback given the address of two
    /// stack slots: the context, then `start`.
    fn range_loop(
        &mut self,
        var: VarId,
        start: &Expr,
        end: &Expr,
        body: &[Stmt],
    ) -> Result<(), CompileError> {
        let entry = self.asm.new_label();
        let slots = self.alloc(16);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, slots, CTX));
        self.eval_int(end, self.base)?;
        let r = self.fetch(self.base, Reg::R0);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, slots + 8, r));
        self.eval_int(start, self.base)?;
        let r = self.fetch(self.base, Reg::R2);
        // r1 = end - start, through the start slot.
        self.asm
            .emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, slots + 8));
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, slots + 8, r));
        self.asm.emit(Insn::alu64_reg(Alu::Sub, Reg::R1, r));
        let skip = self.asm.new_label();
        self.asm.jmp_imm(Cond::SLe, Reg::R1, 0, skip);
        // bpf_loop refuses more than 2^23 iterations (running none): that many run.
        let counted = self.asm.new_label();
        self.asm.jmp_imm(Cond::Le, Reg::R1, MAX_LOOPS, counted);
        self.asm.emit(Insn::mov64_imm(Reg::R1, MAX_LOOPS));
        self.asm.bind(counted);
        self.asm.ld_func(Reg::R2, entry);
        self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        self.asm
            .emit(Insn::alu64_imm(Alu::Add, Reg::R3, i32::from(slots)));
        self.asm.emit(Insn::mov64_imm(Reg::R4, 0));
        self.asm.emit(Insn::call(Helper::Loop));
        self.asm.bind(skip);
        self.callbacks.push(Callback {
            entry,
            var,
            over: Over::Range,
            body: body.to_vec(),
        });
        Ok(())
    }

    /// `for ($kv : @map)`: calls `bpf_for_each_map_elem` with the body as its callback, which
    /// gets the address of a stack slot holding the context.
    pub(super) fn for_map(
        &mut self,
        var: VarId,
        map: MapId,
        body: &[Stmt],
    ) -> Result<(), CompileError> {
        let entry = self.asm.new_label();
        let ctx_slot = self.alloc(8);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, ctx_slot, CTX));
        let kernel_map = self.user_map(map).map;
        self.asm.ld_map(Reg::R1, kernel_map);
        self.asm.ld_func(Reg::R2, entry);
        self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        self.asm
            .emit(Insn::alu64_imm(Alu::Add, Reg::R3, i32::from(ctx_slot)));
        self.asm.emit(Insn::mov64_imm(Reg::R4, 0));
        self.asm.emit(Insn::call(Helper::ForEachMapElem));
        self.callbacks.push(Callback {
            entry,
            var,
            over: Over::Map(map),
            body: body.to_vec(),
        });
        Ok(())
    }

    /// A loop body as a callback; returns 0 to go on, 1 to stop. It has a frame of its own,
    /// laid out like the program's (the zero key and the scratch address at the same offsets).
    /// Over a map it gets `(map, key, value, ctx slot)` in r1–r4 and copies the entry into
    /// `$kv` first; over a range, `(index, slots)`, and sets `$i` to start + index.
    pub(super) fn callback(&mut self, cb: Callback) -> Result<(), CompileError> {
        let map = match cb.over {
            Over::Map(map) => map,
            Over::Range => {
                self.asm.bind(cb.entry);
                self.asm.emit(Insn::ldx(Size::DW, CTX, Reg::R2, 0));
                self.asm.emit(Insn::ldx(Size::DW, Reg::R6, Reg::R2, 8));
                self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R6, Reg::R1));
                let stop = self.asm.new_label();
                self.scratch_entry(stop);
                let var = self.var_dst(cb.var);
                self.store_word(var, Reg::R6);
                return self.callback_body(&cb.body, stop);
            }
        };
        let map = self.user_map(map);
        let Type::Tuple { elems: kv, .. } = self.probe.vars[cb.var.0].ty.clone() else {
            return Err(self.unsupported(
                "a loop variable that is not a (key, value) tuple",
                self.asm.span,
            ));
        };
        let (key_ty, value_ty) = (&kv[0], &kv[1]);
        let key_size = self.module.maps[map.map.0].key_size;
        if key_ty.slot_size() != map.keys.iter().map(|f| f.kind.size()).sum::<u32>() {
            return Err(self.unsupported(
                "a loop over a map whose keys change size after the loop",
                self.asm.span,
            ));
        }
        self.asm.bind(cb.entry);
        self.asm.emit(Insn::ldx(Size::DW, CTX, Reg::R4, 0));
        self.asm.emit(Insn::mov64_reg(Reg::R6, Reg::R2));
        self.asm.emit(Insn::mov64_reg(Reg::R7, Reg::R3));
        let stop = self.asm.new_label();
        self.scratch_entry(stop);
        let kv_at = self.var_dst(cb.var);
        let value_at = kv_at.at(key_ty.slot_size());
        self.copy_from(Reg::R6, kv_at, key_ty.slot_size().min(key_size));
        if map.decl.value.is_aggregation() {
            // This CPU's share is not the value: combine them all, as reading the map does.
            self.read_aggregation(&map, kv_at, 0)?;
            let v = self.fetch(0, Reg::R2);
            self.store_word(value_at, v);
        } else {
            let value_size = self.module.maps[map.map.0].value_size;
            self.copy_from(Reg::R7, value_at, value_ty.slot_size().min(value_size));
        }
        self.callback_body(&cb.body, stop)
    }

    /// A callback's start: the scratch area's address into its slot (to `stop` if missing).
    fn scratch_entry(&mut self, stop: Label) {
        self.asm
            .emit(Insn::st_imm(Size::DW, Reg::FP, self.zero_key, 0));
        self.array_lookup(Module::SCRATCH);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, stop);
        self.asm
            .emit(Insn::stx(Size::DW, Reg::FP, self.scratch_slot, Reg::R0));
    }

    /// A callback's body, then its returns: 0 to go on, 1 (at `stop`) to stop.
    fn callback_body(&mut self, body: &[Stmt], stop: Label) -> Result<(), CompileError> {
        let next = self.asm.new_label();
        // `break`, `return` and `exit()` stop the iteration; `continue` goes on to the next.
        let saved_ret = std::mem::replace(&mut self.ret, stop);
        let saved_loops = std::mem::replace(
            &mut self.loops,
            vec![LoopLabels {
                next,
                end: stop,
                continued: false,
            }],
        );
        let ends = self.stmts(body);
        self.ret = saved_ret;
        let labels = std::mem::replace(&mut self.loops, saved_loops);
        // The verifier refuses unreachable code: after a body that always leaves, the next
        // iteration is reached only through `continue`.
        if !ends? || labels[0].continued {
            self.asm.bind(next);
            self.asm.emit(Insn::mov64_imm(Reg::R0, 0));
            self.asm.emit(Insn::exit());
        }
        self.asm.bind(stop);
        self.asm.emit(Insn::mov64_imm(Reg::R0, 1));
        self.asm.emit(Insn::exit());
        Ok(())
    }

    /// Copies `size` bytes from the map memory `src` points to (a key or a value) to `dst`:
    /// word by word when short, else with a helper.
    fn copy_from(&mut self, src: Reg, dst: super::Dst, size: u32) {
        self.dst_into(dst, Reg::R1);
        if size.is_multiple_of(8) && size <= 64 {
            // `size` is at most 64 here.
            for off in (0..size as i16).step_by(8) {
                self.asm.emit(Insn::ldx(Size::DW, Reg::R2, src, off));
                self.asm.emit(Insn::stx(Size::DW, Reg::R1, off, Reg::R2));
            }
        } else {
            self.asm.emit(Insn::mov64_imm(Reg::R2, size as i32));
            self.asm.emit(Insn::mov64_reg(Reg::R3, src));
            self.asm.emit(Insn::call(Helper::ProbeReadKernel));
        }
    }

    /// `break` (to the loop's end) or `continue` (to its next iteration).
    pub(super) fn loop_jump(&mut self, is_break: bool) {
        let Some(l) = self.loops.last_mut() else {
            return;
        };
        let to = if is_break {
            l.end
        } else {
            l.continued = true;
            l.next
        };
        self.asm.ja(to);
    }

    /// `cond ? then : otherwise` for integers, into the temporary at `depth`.
    pub(super) fn ternary_int(
        &mut self,
        cond: &Expr,
        then: &Expr,
        otherwise: &Expr,
        depth: usize,
    ) -> Result<(), CompileError> {
        let other = self.asm.new_label();
        let end = self.asm.new_label();
        self.eval_int(cond, depth)?;
        let r = self.fetch(depth, Reg::R0);
        self.asm.jmp_imm(Cond::Eq, r, 0, other);
        self.eval_int(then, depth)?;
        self.asm.ja(end);
        self.asm.bind(other);
        self.eval_int(otherwise, depth)?;
        self.asm.bind(end);
        Ok(())
    }
}
