//! Kernel and user memory: values read through pointers (struct members, `*p`), and casts.

use super::{CompileError, Lowerer};
use crate::insn::{Alu, Helper, Insn, Reg, Size};
use scry_lang::typed::Expr;
use scry_lang::types::{AddrSpace, Type};

/// The helper that copies bytes from an address space.
pub(super) fn read_helper(space: AddrSpace) -> Helper {
    match space {
        AddrSpace::Kernel => Helper::ProbeReadKernel,
        AddrSpace::User => Helper::ProbeReadUser,
        AddrSpace::Unknown => Helper::ProbeRead,
    }
}

/// The helper that copies a NUL-terminated string from an address space.
pub(super) fn read_str_helper(space: AddrSpace) -> Helper {
    match space {
        AddrSpace::Kernel => Helper::ProbeReadKernelStr,
        AddrSpace::User => Helper::ProbeReadUserStr,
        AddrSpace::Unknown => Helper::ProbeReadStr,
    }
}

impl Lowerer<'_> {
    /// Reads the integer or pointer of type `ty` at `addr` into the temporary at `depth`. A
    /// failed read gives 0 (the helper zeroes its destination).
    pub(super) fn load_int(
        &mut self,
        addr: &Expr,
        space: AddrSpace,
        ty: &Type,
        depth: usize,
    ) -> Result<(), CompileError> {
        let bytes = ty.size();
        let size = Size::from_bytes(bytes)
            .ok_or_else(|| self.unsupported(format!("reading a {ty} as a value"), addr.span))?;
        let slot = self.alloc(8);
        self.eval_int(addr, depth)?;
        self.fetch_into(depth, Reg::R3);
        self.asm.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
        self.asm
            .emit(Insn::alu64_imm(Alu::Add, Reg::R1, i32::from(slot)));
        self.asm.emit(Insn::mov64_imm(Reg::R2, bytes as i32));
        self.call_checked(read_helper(space), None);
        let w = self.work_reg(depth);
        self.asm.emit(Insn::ldx(size, w, Reg::FP, slot));
        if let Some(i) = ty.as_int() {
            if i.signed && bytes < 8 {
                let shift = 64 - 8 * bytes as i32;
                self.asm.emit(Insn::alu64_imm(Alu::Lsh, w, shift));
                self.asm.emit(Insn::alu64_imm(Alu::Arsh, w, shift));
            }
        }
        self.set_temp(depth, w);
        Ok(())
    }

    /// `(type) value`: integers are truncated and then sign- or zero-extended from the new
    /// width; pointers keep their bits.
    pub(super) fn cast(
        &mut self,
        inner: &Expr,
        to: &Type,
        depth: usize,
    ) -> Result<(), CompileError> {
        if matches!(inner.ty, Type::Array { .. }) {
            // An array's bytes read as the integer of its size.
            let at = self.in_memory(inner, depth)?;
            let size = inner.ty.size();
            let width = Size::from_bytes(size).ok_or_else(|| {
                self.unsupported(format!("a {size}-byte array as an integer"), inner.span)
            })?;
            self.dst_into(at, Reg::R1);
            let w = self.work_reg(depth);
            self.asm.emit(Insn::ldx(width, w, Reg::R1, 0));
            self.set_temp(depth, w);
        } else {
            self.eval_int(inner, depth)?;
        }
        let i = match to {
            Type::Int(i) => i,
            Type::Enum(e) => &e.int,
            _ => return Ok(()),
        };
        if i.bits >= 64 {
            return Ok(());
        }
        let r = self.fetch(depth, Reg::R0);
        let shift = 64 - i32::from(i.bits);
        self.asm.emit(Insn::alu64_imm(Alu::Lsh, r, shift));
        let alu = if i.signed { Alu::Arsh } else { Alu::Rsh };
        self.asm.emit(Insn::alu64_imm(alu, r, shift));
        self.set_temp(depth, r);
        Ok(())
    }
}
