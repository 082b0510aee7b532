//! Values that live in memory rather than registers (strings, tuples): writing them to a
//! destination, and finding where a variable's value already is.

use super::kernel::read_helper;
use super::{in_register, Base, CompileError, Dst, Lowerer};
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use scry_lang::typed::{Builtin, Expr, ExprKind};
use scry_lang::types::{tuple_offsets, AddrSpace, Formatted, IntType, Type};

impl Lowerer<'_> {
    /// Writes the value of `e`, as type `ty` lays it out, to `dst`.
    pub(super) fn write_value(
        &mut self,
        e: &Expr,
        ty: &Type,
        dst: Dst,
        depth: usize,
    ) -> Result<(), CompileError> {
        if in_register(ty) {
            self.eval_int(e, depth)?;
            let v = self.fetch(depth, Reg::R2);
            self.store_word(dst, v);
            return Ok(());
        }
        match (ty, &e.kind) {
            (Type::Str(cap), _) => self.write_str(e, dst, *cap, depth),
            (Type::Tuple { elems, .. }, ExprKind::Tuple(items)) => {
                let (offsets, _) = tuple_offsets(elems);
                for ((item, ty), off) in items.iter().zip(elems).zip(offsets) {
                    self.write_value(item, ty, dst.at(off), depth)?;
                }
                Ok(())
            }
            (Type::Formatted(kind), ExprKind::Format { args, .. }) => {
                self.write_formatted(kind, args, dst, depth)
            }
            (_, ExprKind::MapRead { map, keys }) => {
                self.map_read_bytes(*map, keys, dst, ty.slot_size(), depth)
            }
            (
                _,
                ExprKind::Ternary {
                    cond,
                    then,
                    otherwise,
                },
            ) => {
                let other = self.asm.new_label();
                let end = self.asm.new_label();
                self.eval_int(cond, depth)?;
                let r = self.fetch(depth, Reg::R0);
                self.asm.jmp_imm(Cond::Eq, r, 0, other);
                self.write_value(then, ty, dst, depth)?;
                self.asm.ja(end);
                self.asm.bind(other);
                self.write_value(otherwise, ty, dst, depth)?;
                self.asm.bind(end);
                Ok(())
            }
            (Type::Array { .. }, ExprKind::Cast(inner)) => self.array_cast(inner, ty, dst, depth),
            (_, ExprKind::Block { stmts, value }) => {
                self.block_stmts(stmts, depth, e.span)?;
                self.write_value(value, ty, dst, depth)
            }
            // A tuple laid out differently (narrower strings): element by element.
            (Type::Tuple { elems, .. }, _) if e.ty != *ty => {
                let (offsets, _) = tuple_offsets(elems);
                let Some(have) = e.ty.elements() else {
                    return Err(self.unsupported(format!("a {} as a {ty}", e.ty), e.span));
                };
                for (index, ((want, elem_ty), off)) in
                    elems.iter().zip(have).zip(offsets).enumerate()
                {
                    let item = Expr {
                        kind: ExprKind::TupleGet {
                            tuple: Box::new(e.clone()),
                            index,
                        },
                        ty: elem_ty.clone(),
                        span: e.span,
                    };
                    self.write_value(&item, want, dst.at(off), depth)?;
                }
                Ok(())
            }
            _ => {
                let size = ty.size().min(e.ty.size());
                self.copy_bytes(e, dst, size, depth)
            }
        }
    }

    /// `*(u64 *)dst = v`, addressing the destination's base register directly (`v` is not r1).
    pub(super) fn store_word(&mut self, dst: Dst, v: Reg) {
        let base = match dst.base {
            Base::Temp(depth) => self.fetch(depth, Reg::R1),
            Base::Scratch => {
                self.asm
                    .emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, self.scratch_slot));
                Reg::R1
            }
            Base::Frame => Reg::FP,
        };
        match i16::try_from(dst.off) {
            Ok(off) => self.asm.emit(Insn::stx(Size::DW, base, off, v)),
            Err(_) => {
                self.dst_into(dst, Reg::R1);
                self.asm.emit(Insn::stx(Size::DW, Reg::R1, 0, v));
            }
        }
    }

    /// Copies the first `size` bytes of a value in memory (a variable, a tuple element, an
    /// array in the probe's record or in kernel or user memory) to `dst`.
    pub(super) fn copy_bytes(
        &mut self,
        e: &Expr,
        dst: Dst,
        size: u32,
        depth: usize,
    ) -> Result<(), CompileError> {
        if e.ty.is_str() && self.place(e).is_none() {
            return self.write_str(e, dst, size, depth);
        }
        if let ExprKind::Bytes(bytes) = &e.kind {
            self.dst_into(dst, Reg::R1);
            for (i, b) in bytes.iter().take(size as usize).enumerate() {
                let off = self.asm.off16(i);
                self.asm
                    .emit(Insn::st_imm(Size::B, Reg::R1, off, i32::from(*b)));
            }
            return Ok(());
        }
        // Only reads of kernel or user memory can fail (and are checked with -kk).
        let (helper, may_fail) = match (&e.kind, self.place(e)) {
            (_, Some(src)) => {
                self.dst_into(src, Reg::R3);
                (Helper::ProbeReadKernel, false)
            }
            (ExprKind::Arg(field), None) => {
                self.arg_str_addr(field, Reg::R3);
                (Helper::ProbeReadKernel, false)
            }
            (ExprKind::Load { addr, space }, None) => {
                self.eval_int(addr, depth)?;
                self.fetch_into(depth, Reg::R3);
                (read_helper(*space), true)
            }
            _ => return Err(self.unsupported(format!("a value of type {} here", e.ty), e.span)),
        };
        self.dst_into(dst, Reg::R1);
        self.asm.emit(Insn::mov64_imm(Reg::R2, size as i32));
        if may_fail {
            self.call_checked(helper, None);
        } else {
            self.asm.emit(Insn::call(helper));
        }
        Ok(())
    }

    /// `a == b` for byte arrays: both copied to the scratch area, then compared in the
    /// widest loads that fit, into the temporary at `depth` as 1 or 0.
    pub(super) fn bytes_eq(
        &mut self,
        a: &Expr,
        b: &Expr,
        depth: usize,
    ) -> Result<(), CompileError> {
        let size = a.ty.size().min(b.ty.size());
        let mut at = [Dst {
            base: Base::Scratch,
            off: 0,
        }; 2];
        for (slot, e) in at.iter_mut().zip([a, b]) {
            *slot = self.in_memory(e, depth)?;
        }
        let differ = self.asm.new_label();
        self.dst_into(at[0], Reg::R1);
        self.dst_into(at[1], Reg::R2);
        let mut off = 0u32;
        while off < size {
            let width = [8, 4, 2, 1]
                .into_iter()
                .find(|w| off + w <= size)
                .unwrap_or(1);
            let sz = Size::from_bytes(width).unwrap_or(Size::B);
            let at = self.asm.off16(off);
            self.asm.emit(Insn::ldx(sz, Reg::R3, Reg::R1, at));
            self.asm.emit(Insn::ldx(sz, Reg::R4, Reg::R2, at));
            self.asm.jmp_reg(Cond::Ne, Reg::R3, Reg::R4, differ);
            off += width;
        }
        let equal = self.asm.new_label();
        self.asm.ja(equal);
        self.bool_from(differ, equal, depth);
        Ok(())
    }

    /// The raw parts of a value userspace renders, as `Formatted` lays them out.
    fn write_formatted(
        &mut self,
        kind: &Formatted,
        args: &[Expr],
        dst: Dst,
        depth: usize,
    ) -> Result<(), CompileError> {
        let word = |me: &mut Self, e: &Expr, off: u32| -> Result<(), CompileError> {
            me.eval_int(e, depth)?;
            let v = me.fetch(depth, Reg::R2);
            me.store_word(dst.at(off), v);
            Ok(())
        };
        match kind {
            Formatted::Macaddr => {
                // Six bytes, read through a pointer or copied from an array.
                let data = &args[0];
                self.dst_into(dst, Reg::R1);
                self.asm.emit(Insn::st_imm(Size::DW, Reg::R1, 0, 0));
                if data.ty.is_scalar() {
                    let space = match &data.ty {
                        Type::Ptr { space, .. } => *space,
                        _ => AddrSpace::Unknown,
                    };
                    self.eval_int(data, depth)?;
                    self.fetch_into(depth, Reg::R3);
                    self.dst_into(dst, Reg::R1);
                    self.asm.emit(Insn::mov64_imm(Reg::R2, 6));
                    self.call_checked(read_helper(space), None);
                    Ok(())
                } else {
                    self.copy_bytes(data, dst, 6, depth)
                }
            }
            Formatted::Inet => {
                // The family, then 16 address bytes (an IPv4 address in the first 4).
                let (family, addr) = (&args[0], &args[1]);
                word(self, family, 0)?;
                self.dst_into(dst.at(8), Reg::R1);
                self.asm.emit(Insn::st_imm(Size::DW, Reg::R1, 0, 0));
                self.asm.emit(Insn::st_imm(Size::DW, Reg::R1, 8, 0));
                if addr.ty.is_scalar() {
                    self.eval_int(addr, depth)?;
                    let v = self.fetch(depth, Reg::R2);
                    self.dst_into(dst.at(8), Reg::R1);
                    self.asm.emit(Insn::stx(Size::W, Reg::R1, 0, v));
                    Ok(())
                } else {
                    let size = addr.ty.size().min(16);
                    self.copy_bytes(addr, dst.at(8), size, depth)
                }
            }
            Formatted::Buffer(cap) => {
                let (data, len) = (&args[0], &args[1]);
                // The length, clamped to the capacity so the verifier can bound the read.
                self.eval_int(len, depth)?;
                let n = self.fetch(depth, Reg::R0);
                let ok = self.asm.new_label();
                self.asm.jmp_imm(Cond::Le, n, *cap as i32, ok);
                self.asm.emit(Insn::mov64_imm(n, *cap as i32));
                self.asm.bind(ok);
                self.set_temp(depth, n);
                let n = self.fetch(depth, Reg::R2);
                self.dst_into(dst, Reg::R1);
                self.asm.emit(Insn::stx(Size::DW, Reg::R1, 0, n));
                if data.ty.is_scalar() {
                    let space = match &data.ty {
                        Type::Ptr { space, .. } => *space,
                        _ => AddrSpace::Unknown,
                    };
                    self.eval_int(data, depth + 1)?;
                    self.fetch_into(depth + 1, Reg::R3);
                    self.fetch_into(depth, Reg::R2);
                    self.dst_into(dst.at(8), Reg::R1);
                    self.call_checked(read_helper(space), None);
                    Ok(())
                } else if data.ty.is_str() && self.place(data).is_none() {
                    // A string made here (a literal, `comm`, `str()`): written whole to the
                    // scratch area first, so its first bytes are copied as they are (a string
                    // written to the buffer directly would end in a NUL within it).
                    let whole = super::Dst {
                        base: super::Base::Scratch,
                        off: self.scratch_alloc(data.ty.size()),
                    };
                    self.write_str(data, whole, data.ty.size(), depth + 1)?;
                    self.dst_into(whole, Reg::R3);
                    self.dst_into(dst.at(8), Reg::R1);
                    self.asm
                        .emit(Insn::mov64_imm(Reg::R2, data.ty.size().min(*cap) as i32));
                    self.asm.emit(Insn::call(Helper::ProbeReadKernel));
                    Ok(())
                } else {
                    self.copy_bytes(data, dst.at(8), data.ty.size().min(*cap), depth + 1)
                }
            }
            Formatted::Usym => {
                word(self, &args[0], 0)?;
                word(self, &args[1], 8)
            }
            Formatted::Strings { max, cap } => self.string_array(&args[0], dst, *max, *cap, depth),
            // The record's bytes, as they are in memory.
            Formatted::Record(view) => self.copy_bytes(&args[0], dst, view.size, depth),
            Formatted::Ksym
            | Formatted::Username
            | Formatted::Timestamp { .. }
            | Formatted::Errno
            | Formatted::ErrnoName
            | Formatted::Syscall
            | Formatted::Signal
            | Formatted::CgroupPath { .. }
            | Formatted::Function => word(self, &args[0], 0),
        }
    }

    /// Where a memory value already is: a variable's scratch slot, or an element of one.
    pub(super) fn place(&self, e: &Expr) -> Option<Dst> {
        match &e.kind {
            ExprKind::Var(id) if !in_register(&self.probe.vars[id.0].ty) => Some(self.var_dst(*id)),
            // An element at a constant index of an array that is in memory.
            ExprKind::ElementAt { value, index, .. } => {
                let ExprKind::Int(i) = index.kind else {
                    return None;
                };
                let base = self.place(value)?;
                let off = i32::try_from(i * u64::from(e.ty.size())).ok()?;
                Some(Dst {
                    base: base.base,
                    off: base.off + off,
                })
            }
            ExprKind::TupleGet { tuple, index } => {
                let elems = tuple.ty.elements()?;
                let base = self.place(tuple)?;
                let (offsets, _) = tuple_offsets(elems);
                Some(Dst {
                    base: base.base,
                    off: base.off + offsets[*index] as i32,
                })
            }
            _ => None,
        }
    }

    /// `(uint8[4])x`: an integer's bytes, a string's (NUL-padded), or another array's.
    fn array_cast(
        &mut self,
        inner: &Expr,
        ty: &Type,
        dst: Dst,
        depth: usize,
    ) -> Result<(), CompileError> {
        let size = ty.size();
        if inner.ty.is_int() || matches!(inner.ty, Type::Bool) {
            let width = Size::from_bytes(size)
                .ok_or_else(|| self.unsupported(format!("an integer as a {ty}"), inner.span))?;
            self.eval_int(inner, depth)?;
            let v = self.fetch(depth, Reg::R2);
            if v != Reg::R2 {
                self.asm.emit(Insn::mov64_reg(Reg::R2, v));
            }
            self.dst_into(dst, Reg::R1);
            self.asm.emit(Insn::stx(width, Reg::R1, 0, Reg::R2));
            return Ok(());
        }
        if inner.ty.is_str() {
            self.dst_into(dst, Reg::R1);
            for off in 0..size {
                let at = self.asm.off16(off);
                self.asm.emit(Insn::st_imm(Size::B, Reg::R1, at, 0));
            }
            return self.write_str(inner, dst, size, depth);
        }
        self.copy_bytes(inner, dst, size, depth)
    }

    /// Where a memory value is: its place, or a scratch copy made now.
    pub(super) fn in_memory(&mut self, e: &Expr, depth: usize) -> Result<Dst, CompileError> {
        if let Some(at) = self.place(e) {
            return Ok(at);
        }
        if let (ExprKind::Builtin(Builtin::Comm), Some(at)) = (&e.kind, self.comm_read()) {
            return Ok(at);
        }
        let dst = self.temporary(e.ty.size());
        self.write_value(e, &e.ty, dst, depth)?;
        Ok(dst)
    }

    /// `a[i]`: the integer element at a run-time index of an array or string value, 0 when the
    /// index is past the end, into the temporary at `depth`.
    pub(super) fn element_at(
        &mut self,
        value: &Expr,
        index: &Expr,
        len: u32,
        elem: &Type,
        depth: usize,
    ) -> Result<(), CompileError> {
        let Some(int) = elem
            .as_int()
            .or(matches!(elem, Type::Bool).then_some(IntType::U64))
        else {
            return Err(self.unsupported(format!("an element of type {elem}"), index.span));
        };
        let size = elem.size();
        let width = Size::from_bytes(size)
            .ok_or_else(|| self.unsupported(format!("a {size}-byte element"), index.span))?;
        let at = self.in_memory(value, depth)?;
        self.eval_int(index, depth)?;
        let i = self.fetch(depth, Reg::R2);
        if i != Reg::R2 {
            self.asm.emit(Insn::mov64_reg(Reg::R2, i));
        }
        let past = self.asm.new_label();
        let end = self.asm.new_label();
        // Unsigned: a negative index is past the end too.
        self.asm.jmp_imm(Cond::Ge, Reg::R2, len as i32, past);
        if size > 1 {
            self.asm
                .emit(Insn::alu64_imm(Alu::Mul, Reg::R2, size as i32));
        }
        self.dst_into(at, Reg::R1);
        self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R1, Reg::R2));
        let w = self.work_reg(depth);
        self.asm.emit(Insn::ldx(width, w, Reg::R1, 0));
        if int.signed && size < 8 {
            let shift = 64 - 8 * size as i32;
            self.asm.emit(Insn::alu64_imm(Alu::Lsh, w, shift));
            self.asm.emit(Insn::alu64_imm(Alu::Arsh, w, shift));
        }
        self.asm.ja(end);
        self.asm.bind(past);
        self.asm.emit(Insn::mov64_imm(w, 0));
        self.asm.bind(end);
        self.set_temp(depth, w);
        Ok(())
    }

    /// Where a tuple's element is: in place, or in a copy of a tuple that is nowhere yet (a
    /// map's value, a call's) made now.
    pub(super) fn element_place(&mut self, e: &Expr, depth: usize) -> Result<Dst, CompileError> {
        if let Some(at) = self.place(e) {
            return Ok(at);
        }
        let ExprKind::TupleGet { tuple, index } = &e.kind else {
            return Err(self.unsupported("this tuple element", e.span));
        };
        let elems = tuple
            .ty
            .elements()
            .ok_or_else(|| self.unsupported("this tuple element", e.span))?;
        let (offsets, _) = tuple_offsets(elems);
        let offset = offsets[*index];
        Ok(self.in_memory(tuple, depth)?.at(offset))
    }

    /// An integer element of a tuple, into the temporary at `depth`.
    pub(super) fn tuple_get_int(&mut self, e: &Expr, depth: usize) -> Result<(), CompileError> {
        let src = self.element_place(e, depth)?;
        let w = self.work_reg(depth);
        self.load_word(src, w);
        self.set_temp(depth, w);
        Ok(())
    }
}
