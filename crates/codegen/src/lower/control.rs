//! Control flow: `while`, `for ($i : a..b)`, `for ($kv : @map)`, `break`/`continue`, and `?:`.
//! Loops are plain backward jumps: the kernel's verifier proves them bounded by walking them.
//! A loop over a map is `bpf_for_each_map_elem` with the body as a callback subprogram, emitted
//! after the program; it reaches the probe's variables through the scratch area and its context
//! through a stack slot of the caller.

use super::{CompileError, Lowerer, CTX};
use crate::asm::Label;
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::Module;
use scry_lang::typed::visit::{walk_probe, walk_stmt, Visitor};
use scry_lang::typed::{Expr, MapId, Probe, Stmt, StmtKind, VarId};
use scry_lang::types::Type;

/// A `for ($kv : @map)` body waiting to be emitted as a subprogram.
pub(super) struct Callback {
    entry: Label,
    var: VarId,
    map: MapId,
    body: Vec<Stmt>,
}

/// Whether any statement, however nested (inside a `{ …; v }` value too), is a loop over a map.
pub(super) fn has_for_map(probe: &Probe) -> bool {
    #[derive(Default)]
    struct Find(bool);
    impl Visitor for Find {
        fn stmt(&mut self, s: &Stmt) {
            self.0 |= matches!(s.kind, StmtKind::ForMap { .. });
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
            map,
            body: body.to_vec(),
        });
        Ok(())
    }

    /// A loop body as a callback: `(map, key, value, ctx slot)` in r1–r4; returns 0 to go on,
    /// 1 to stop. It has a frame of its own, laid out like the program's (the zero key and the
    /// scratch address at the same offsets), and copies the entry into `$kv` first.
    pub(super) fn callback(&mut self, cb: Callback) -> Result<(), CompileError> {
        let map = self.user_map(cb.map);
        let Type::Tuple(kv) = self.probe.vars[cb.var.0].ty.clone() else {
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
        let next = self.asm.new_label();
        let stop = self.asm.new_label();
        self.asm
            .emit(Insn::st_imm(Size::DW, Reg::FP, self.zero_key, 0));
        self.array_lookup(Module::SCRATCH);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, stop);
        self.asm
            .emit(Insn::stx(Size::DW, Reg::FP, self.scratch_slot, Reg::R0));
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
        let ends = self.stmts(&cb.body);
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
