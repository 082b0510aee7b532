//! Control flow: `while`, `for ($i : a..b)`, `break`/`continue`, and `?:`. Loops are plain
//! backward jumps: the kernel's verifier proves them bounded by walking them.

use super::{CompileError, Lowerer};
use crate::asm::Label;
use crate::insn::{Alu, Cond, Insn, Reg, Size};
use scry_lang::typed::{Expr, Stmt, VarId};

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
        self.eval_int(cond, 0)?;
        let r = self.fetch(0, Reg::R0);
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
        let slot = self.var_slots[var.0] as i16;
        let limit = self.alloc(8);
        self.eval_int(end, 0)?;
        let r = self.fetch(0, Reg::R0);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, limit, r));
        self.eval_int(start, 0)?;
        let r = self.fetch(0, Reg::R0);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, slot, r));
        let top = self.asm.new_label();
        let next = self.asm.new_label();
        let done = self.asm.new_label();
        self.asm.bind(top);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, slot));
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
            self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, slot));
            self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R1, 1));
            self.asm.emit(Insn::stx(Size::DW, Reg::FP, slot, Reg::R1));
            self.asm.ja(top);
        }
        self.asm.bind(done);
        Ok(())
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
