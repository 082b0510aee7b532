//! Strings: `comm`, `str()`, string fields, literals and variables, each written straight into a
//! destination buffer (never through registers or extra stack copies).

use super::{Base, CompileError, Dst, Lowerer};
use crate::asm::Label;
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::KernelField;
use scry_lang::builtins::COMM_LEN;
use scry_lang::typed::visit::{walk_expr, walk_probe, Visitor};
use scry_lang::typed::{Builtin, Expr, ExprKind, Probe};
use scry_lang::types::Type;

/// The most (haystack start, needle offset) pairs a run-time `strcontains` may have: what the
/// verifier can walk.
const MAX_CONTAINS_PAIRS: u64 = 32 * 1024;

/// How many times a probe's predicate and body name `comm`.
pub(super) fn comm_uses(probe: &Probe) -> usize {
    struct Count(usize);
    impl Visitor for Count {
        fn expr(&mut self, e: &Expr) {
            if matches!(e.kind, ExprKind::Builtin(Builtin::Comm)) {
                self.0 += 1;
            }
            walk_expr(self, e);
        }
    }
    let mut count = Count(0);
    walk_probe(&mut count, probe);
    count.0
}

impl Lowerer<'_> {
    /// Reads `comm` into a stack slot of its own, where its uses find it; read from the
    /// current task, the task's address is kept too, where `pid` and `tid` find it.
    pub(super) fn read_comm_once(&mut self) {
        let slot = self.alloc_kept(COMM_LEN);
        let at = Dst {
            base: Base::Frame,
            off: i32::from(slot),
        };
        if self.options.comm_from_task {
            let task = self.alloc_kept(8);
            self.asm.emit(Insn::call(Helper::GetCurrentTaskBtf));
            self.asm.emit(Insn::stx(Size::DW, Reg::FP, task, Reg::R0));
            self.task_slot = Some(task);
            self.task_comm(at);
        } else {
            self.dst_into(at, Reg::R1);
            self.asm.emit(Insn::mov64_imm(Reg::R2, COMM_LEN as i32));
            self.asm.emit(Insn::call(Helper::GetCurrentComm));
        }
        self.comm_slot = Some(slot);
    }

    /// Where `comm` already is, when it was read once for the whole program.
    pub(super) fn comm_read(&self) -> Option<Dst> {
        self.comm_slot.map(|off| Dst {
            base: Base::Frame,
            off: i32::from(off),
        })
    }

    /// Writes `comm` to `dst` of capacity `cap` without `bpf_get_current_comm`: copied word
    /// by word from where it was read once, or from the current task. False (nothing done)
    /// when neither can be, or it does not fit whole.
    fn comm_copied(&mut self, dst: Dst, cap: u32) -> bool {
        match self.comm_slot {
            Some(slot) if self.comm_fits(dst, cap) => {
                self.copy_comm_words(Reg::FP, slot, dst);
                true
            }
            Some(_) => false,
            None => self.comm_from_task(dst, cap),
        }
    }

    /// Whether all of `comm` fits `dst` of capacity `cap`, in aligned words where it is stack
    /// (other memory is read and written in any alignment).
    fn comm_fits(&self, dst: Dst, cap: u32) -> bool {
        cap + 1 >= COMM_LEN && !(dst.base == Base::Frame && dst.off % 8 != 0)
    }

    /// `comm` copied to `dst` from the current task's `task_struct`, when the kernel lets
    /// programs read it there (`CompileOptions::comm_from_task`).
    fn comm_from_task(&mut self, dst: Dst, cap: u32) -> bool {
        if !self.options.comm_from_task || !self.comm_fits(dst, cap) {
            return false;
        }
        self.asm.emit(Insn::call(Helper::GetCurrentTaskBtf));
        self.task_comm(dst);
        true
    }

    /// Copies the `comm` of the task r0 points to into `dst`, at the offset the kernel gives.
    fn task_comm(&mut self, dst: Dst) {
        self.asm.kernel_field(Reg::R0, KernelField::TaskComm);
        self.copy_comm_words(Reg::R0, 0, dst);
    }

    /// Copies the 16 bytes at `src + off` to `dst`, using r1 and r2.
    fn copy_comm_words(&mut self, src: Reg, off: i16, dst: Dst) {
        self.dst_into(dst, Reg::R1);
        for word in (0..COMM_LEN as i16).step_by(8) {
            self.asm.emit(Insn::ldx(Size::DW, Reg::R2, src, off + word));
            self.asm.emit(Insn::stx(Size::DW, Reg::R1, word, Reg::R2));
        }
    }

    /// Writes the string value of `e`, NUL-terminated and at most `cap` bytes, to `dst`.
    /// Temporaries from `depth` up are free to use.
    pub(super) fn write_str(
        &mut self,
        e: &Expr,
        dst: Dst,
        cap: u32,
        depth: usize,
    ) -> Result<(), CompileError> {
        let saved = std::mem::replace(&mut self.asm.span, e.span);
        match &e.kind {
            ExprKind::Str(bytes) => self.write_literal(bytes, dst, cap),
            ExprKind::Builtin(Builtin::Comm) if self.comm_copied(dst, cap) => {}
            ExprKind::Builtin(Builtin::Comm) => {
                self.dst_into(dst, Reg::R1);
                self.asm
                    .emit(Insn::mov64_imm(Reg::R2, cap.min(COMM_LEN) as i32));
                self.asm.emit(Insn::call(Helper::GetCurrentComm));
            }
            ExprKind::Var(id) => {
                let Type::Str(var_cap) = self.probe.vars[id.0].ty else {
                    return Err(self.unsupported("an integer variable used as a string", e.span));
                };
                let src = self.var_dst(*id);
                self.dst_into(src, Reg::R3);
                self.dst_into(dst, Reg::R1);
                self.asm
                    .emit(Insn::mov64_imm(Reg::R2, cap.min(var_cap) as i32));
                self.asm.emit(Insn::call(Helper::ProbeReadKernel));
            }
            ExprKind::Arg(field) => {
                // A `__data_loc` string has no size of its own: up to `cap` characters, and
                // the NUL in the slot's spare byte.
                let field_cap = self.arg_str_addr(field, Reg::R3);
                let size = if field_cap == u32::MAX {
                    cap + 1
                } else {
                    cap.min(field_cap)
                };
                self.dst_into(dst, Reg::R1);
                self.asm.emit(Insn::mov64_imm(Reg::R2, size as i32));
                self.asm.emit(Insn::call(Helper::ProbeReadKernelStr));
            }
            ExprKind::ReadStr { ptr, space, len } => {
                self.eval_int(ptr, depth)?;
                match len {
                    Some(len) => {
                        // `len` counts the NUL, as in bpftrace: at most len - 1 characters.
                        // The size is clamped to 1..=cap, provably, for the verifier.
                        self.eval_int(len, depth + 1)?;
                        self.fetch_into(depth + 1, Reg::R2);
                        let (ok, positive) = (self.asm.new_label(), self.asm.new_label());
                        self.asm.jmp_imm(Cond::Le, Reg::R2, cap as i32, ok);
                        self.asm.emit(Insn::mov64_imm(Reg::R2, cap as i32));
                        self.asm.bind(ok);
                        self.asm.jmp_imm(Cond::Ne, Reg::R2, 0, positive);
                        self.asm.emit(Insn::mov64_imm(Reg::R2, 1));
                        self.asm.bind(positive);
                    }
                    // Up to `cap` characters; a string that long is marked truncated.
                    None => self.asm.emit(Insn::mov64_imm(Reg::R2, cap as i32 + 1)),
                }
                self.fetch_into(depth, Reg::R3);
                self.dst_into(dst, Reg::R1);
                self.call_checked(super::kernel::read_str_helper(*space), None);
            }
            ExprKind::MapRead { map, keys } => {
                let stored = match self.user_map(*map).decl.value {
                    scry_lang::typed::MapValue::Str(n) => n,
                    _ => cap,
                };
                self.map_read_bytes(*map, keys, dst, stored.min(cap), depth)?
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let other = self.asm.new_label();
                let end = self.asm.new_label();
                self.eval_int(cond, depth)?;
                let r = self.fetch(depth, Reg::R0);
                self.asm.jmp_imm(Cond::Eq, r, 0, other);
                self.write_str(then, dst, cap, depth)?;
                self.asm.ja(end);
                self.asm.bind(other);
                self.write_str(otherwise, dst, cap, depth)?;
                self.asm.bind(end);
            }
            ExprKind::Block { stmts, value } => {
                self.block_stmts(stmts, depth, e.span)?;
                self.write_str(value, dst, cap, depth)?;
            }
            ExprKind::TupleGet { .. } => {
                let src = self.element_place(e, depth)?;
                let elem_cap = match e.ty {
                    Type::Str(n) => n,
                    _ => cap,
                };
                self.dst_into(src, Reg::R3);
                self.dst_into(dst, Reg::R1);
                self.asm
                    .emit(Insn::mov64_imm(Reg::R2, cap.min(elem_cap) as i32));
                self.asm.emit(Insn::call(Helper::ProbeReadKernel));
            }
            _ => return Err(self.unsupported(format!("{} used as a string", e.ty), e.span)),
        }
        self.asm.span = saved;
        Ok(())
    }

    /// Stores a constant string with 4-byte immediate stores, NUL-padded to a multiple of 4.
    pub(super) fn write_literal(&mut self, bytes: &[u8], dst: Dst, cap: u32) {
        let keep = bytes.len().min(cap as usize - 1);
        let mut data = bytes[..keep].to_vec();
        data.push(0);
        while !data.len().is_multiple_of(4) && data.len() < cap as usize {
            data.push(0);
        }
        self.dst_into(dst, Reg::R1);
        let mut chunks = data.chunks_exact(4);
        for (i, chunk) in chunks.by_ref().enumerate() {
            let word = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let off = self.asm.off16(i * 4);
            self.asm.emit(Insn::st_imm(Size::W, Reg::R1, off, word));
        }
        let done = data.len() - chunks.remainder().len();
        for (i, b) in chunks.remainder().iter().enumerate() {
            let off = self.asm.off16(done + i);
            self.asm
                .emit(Insn::st_imm(Size::B, Reg::R1, off, i32::from(*b)));
        }
    }
}

/// Strings compared or measured in place: in their variable's slot (or `comm`'s, when read
/// once), or copied to a temporary.
impl Lowerer<'_> {
    /// Where the string value of `e` is in memory: a variable's own slot, `comm`'s when read
    /// once, or a fresh copy.
    fn materialize(&mut self, e: &Expr, depth: usize) -> Result<(Dst, u32), CompileError> {
        let Type::Str(cap) = e.ty else {
            return Err(self.unsupported(format!("{} used as a string", e.ty), e.span));
        };
        if let ExprKind::Var(id) = e.kind {
            return Ok((self.var_dst(id), cap));
        }
        if let (ExprKind::Builtin(Builtin::Comm), Some(at)) = (&e.kind, self.comm_read()) {
            return Ok((at, cap));
        }
        let dst = self.temporary(scry_lang::types::str_slot(cap));
        self.write_str(e, dst, cap, depth)?;
        Ok((dst, cap))
    }

    /// Whether two strings are equal (in their first `limit` bytes), as 1 or 0 into the
    /// temporary at `depth`. Against a literal the compare is unrolled into word loads;
    /// otherwise it is a loop that stops at the first difference or NUL.
    pub(super) fn str_eq(
        &mut self,
        lhs: &Expr,
        rhs: &Expr,
        limit: Option<u32>,
        depth: usize,
    ) -> Result<(), CompileError> {
        let limit = limit.unwrap_or(u32::MAX);
        let (lit, other) = match (&lhs.kind, &rhs.kind) {
            (ExprKind::Str(b), _) => (Some(b), rhs),
            (_, ExprKind::Str(b)) => (Some(b), lhs),
            _ => (None, lhs),
        };
        let differ = self.asm.new_label();
        let equal = self.asm.new_label();
        if let Some(lit) = lit {
            let (at, cap) = self.materialize(other, depth)?;
            let mut bytes = lit.clone();
            bytes.push(0);
            let n = (bytes.len() as u32).min(limit).min(cap) as usize;
            self.dst_into(at, Reg::R1);
            let mut i = 0;
            while i < n {
                let chunk = [8usize, 4, 2, 1]
                    .into_iter()
                    .find(|c| i % c == 0 && i + c <= n)
                    .unwrap_or(1);
                let mut word = [0u8; 8];
                word[..chunk].copy_from_slice(&bytes[i..i + chunk]);
                let value = u64::from_le_bytes(word);
                let size = Size::from_bytes(chunk as u32).unwrap_or(Size::B);
                let off = self.asm.off16(i);
                self.asm.emit(Insn::ldx(size, Reg::R2, Reg::R1, off));
                if chunk == 8 {
                    self.asm.mov_const(Reg::R3, value);
                    self.asm.jmp_reg(Cond::Ne, Reg::R2, Reg::R3, differ);
                } else {
                    self.asm.jmp_imm(Cond::Ne, Reg::R2, value as i32, differ);
                }
                i += chunk;
            }
            self.asm.ja(equal);
        } else {
            let (a, cap_a) = self.materialize(lhs, depth)?;
            let (b, cap_b) = self.materialize(rhs, depth)?;
            let n = cap_a.min(cap_b).min(limit);
            let top = self.asm.new_label();
            self.dst_into(a, Reg::R1);
            self.dst_into(b, Reg::R2);
            self.asm.emit(Insn::mov64_imm(Reg::R3, 0));
            self.asm.bind(top);
            self.asm.jmp_imm(Cond::Ge, Reg::R3, n as i32, equal);
            self.byte_at(Reg::R4, Reg::R1, Reg::R3);
            self.byte_at(Reg::R5, Reg::R2, Reg::R3);
            self.asm.jmp_reg(Cond::Ne, Reg::R4, Reg::R5, differ);
            self.asm.jmp_imm(Cond::Eq, Reg::R4, 0, equal);
            self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R3, 1));
            self.asm.ja(top);
        }
        self.bool_from(differ, equal, depth);
        Ok(())
    }

    /// `dst = *(u8 *)(base + index)`.
    fn byte_at(&mut self, dst: Reg, base: Reg, index: Reg) {
        self.asm.emit(Insn::mov64_reg(dst, base));
        self.asm.emit(Insn::alu64_reg(Alu::Add, dst, index));
        self.asm.emit(Insn::ldx(Size::B, dst, dst, 0));
    }

    /// `strlen(s)`: the index of the first NUL (or the capacity).
    pub(super) fn str_len(&mut self, s: &Expr, depth: usize) -> Result<(), CompileError> {
        let (at, cap) = self.materialize(s, depth)?;
        let top = self.asm.new_label();
        let done = self.asm.new_label();
        self.dst_into(at, Reg::R1);
        self.asm.emit(Insn::mov64_imm(Reg::R3, 0));
        self.asm.bind(top);
        self.asm.jmp_imm(Cond::Ge, Reg::R3, cap as i32, done);
        self.byte_at(Reg::R4, Reg::R1, Reg::R3);
        self.asm.jmp_imm(Cond::Eq, Reg::R4, 0, done);
        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R3, 1));
        self.asm.ja(top);
        self.asm.bind(done);
        self.set_temp(depth, Reg::R3);
        Ok(())
    }

    /// `strcontains(haystack, "literal")`: each start position compared against the needle's
    /// bytes, unrolled.
    pub(super) fn str_contains(
        &mut self,
        haystack: &Expr,
        needle: &Expr,
        position: bool,
        depth: usize,
    ) -> Result<(), CompileError> {
        let ExprKind::Str(lit) = &needle.kind else {
            return self.str_contains_dynamic(haystack, needle, position, depth);
        };
        if lit.is_empty() {
            // Every string holds the empty string, at its start.
            let w = self.work_reg(depth);
            self.asm
                .emit(Insn::mov64_imm(w, if position { 0 } else { 1 }));
            self.set_temp(depth, w);
            return Ok(());
        }
        let (at, cap) = self.materialize(haystack, depth)?;
        let found = self.asm.new_label();
        let missing = self.asm.new_label();
        {
            let top = self.asm.new_label();
            let next = self.asm.new_label();
            let last = cap.saturating_sub(lit.len() as u32);
            self.dst_into(at, Reg::R1);
            self.asm.emit(Insn::mov64_imm(Reg::R3, 0));
            self.asm.bind(top);
            self.asm.jmp_imm(Cond::Ge, Reg::R3, last as i32, missing);
            self.asm.emit(Insn::mov64_reg(Reg::R4, Reg::R1));
            self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R4, Reg::R3));
            for (i, b) in lit.iter().enumerate() {
                let off = self.asm.off16(i);
                self.asm.emit(Insn::ldx(Size::B, Reg::R5, Reg::R4, off));
                if i == 0 {
                    // The haystack ended: no later start can match.
                    self.asm.jmp_imm(Cond::Eq, Reg::R5, 0, missing);
                }
                self.asm.jmp_imm(Cond::Ne, Reg::R5, i32::from(*b), next);
            }
            self.asm.ja(found);
            self.asm.bind(next);
            self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R3, 1));
            self.asm.ja(top);
        }
        self.contains_result(missing, found, position, depth);
        Ok(())
    }

    /// The end of a search that jumps to `missing`, or to `found` with the start in r3: 0 or 1,
    /// or with `position` the start or -1.
    fn contains_result(&mut self, missing: Label, found: Label, position: bool, depth: usize) {
        if !position {
            return self.bool_from(missing, found, depth);
        }
        let w = self.work_reg(depth);
        let end = self.asm.new_label();
        self.asm.bind(missing);
        self.asm.emit(Insn::mov64_imm(w, -1));
        self.asm.ja(end);
        self.asm.bind(found);
        self.asm.emit(Insn::mov64_reg(w, Reg::R3));
        self.asm.bind(end);
        self.set_temp(depth, w);
    }

    /// `strcontains(haystack, needle)` with a needle known only at run time: for each start in
    /// the haystack, compare the needle byte by byte. The verifier walks every (start, offset)
    /// pair, so their product is bounded.
    fn str_contains_dynamic(
        &mut self,
        haystack: &Expr,
        needle: &Expr,
        position: bool,
        depth: usize,
    ) -> Result<(), CompileError> {
        let (hay, hcap) = self.materialize(haystack, depth)?;
        let (ndl, ncap) = self.materialize(needle, depth + 1)?;
        if u64::from(hcap) * u64::from(ncap) > MAX_CONTAINS_PAIRS {
            return Err(self.unsupported(
                format!(
                    "strcontains() of a {ncap}-byte needle known only at run time in a {hcap}-byte string (at most {MAX_CONTAINS_PAIRS} start and offset pairs); bound them with str(s, n)"
                ),
                needle.span,
            ));
        }
        let (top, inner, next) = (
            self.asm.new_label(),
            self.asm.new_label(),
            self.asm.new_label(),
        );
        let (found, missing) = (self.asm.new_label(), self.asm.new_label());
        self.dst_into(hay, Reg::R1);
        self.dst_into(ndl, Reg::R2);
        self.asm.emit(Insn::mov64_imm(Reg::R3, 0));
        self.asm.bind(top);
        self.asm.jmp_imm(Cond::Ge, Reg::R3, hcap as i32, missing);
        self.asm.emit(Insn::mov64_imm(Reg::R4, 0));
        self.asm.bind(inner);
        self.asm.jmp_imm(Cond::Ge, Reg::R4, ncap as i32, found);
        // r5 = needle[j]: its end means a match.
        self.byte_at(Reg::R5, Reg::R2, Reg::R4);
        self.asm.jmp_imm(Cond::Eq, Reg::R5, 0, found);
        // r0 = haystack[i + j]: its end means no later start can match either.
        self.asm.emit(Insn::mov64_reg(Reg::R0, Reg::R3));
        self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R0, Reg::R4));
        self.asm.jmp_imm(Cond::Ge, Reg::R0, hcap as i32, missing);
        self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R0, Reg::R1));
        self.asm.emit(Insn::ldx(Size::B, Reg::R0, Reg::R0, 0));
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, missing);
        self.asm.jmp_reg(Cond::Ne, Reg::R0, Reg::R5, next);
        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R4, 1));
        self.asm.ja(inner);
        self.asm.bind(next);
        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R3, 1));
        self.asm.ja(top);
        self.contains_result(missing, found, position, depth);
        Ok(())
    }

    /// `s[i]` for a constant i: the byte there, or 0 past the string's end.
    pub(super) fn str_index(
        &mut self,
        s: &Expr,
        index: u32,
        depth: usize,
    ) -> Result<(), CompileError> {
        let (at, _) = self.materialize(s, depth)?;
        let w = self.work_reg(depth);
        self.dst_into(at, Reg::R1);
        let off = self.asm.off16(index);
        self.asm.emit(Insn::ldx(Size::B, w, Reg::R1, off));
        // Sign-extend: a C char.
        self.asm.emit(Insn::alu64_imm(Alu::Lsh, w, 56));
        self.asm.emit(Insn::alu64_imm(Alu::Arsh, w, 56));
        self.set_temp(depth, w);
        Ok(())
    }
}
