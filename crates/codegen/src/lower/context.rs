//! The probe's context: `args.field` reads from the tracepoint record (or the registers) that
//! r9 points to; USDT arguments from where their note says they are.

use super::{CompileError, Lowerer, CTX};
use crate::insn::{Alu, Helper, Insn, Reg, Size};
use scry_lang::ast::Span;
use scry_lang::types::{ContextField, FieldLocation, Type, UsdtArg, UsdtOperand};

impl Lowerer<'_> {
    /// Loads an integer or pointer field into `r`, extended to 64 bits by its signedness.
    pub(super) fn load_arg_int(
        &mut self,
        field: &ContextField,
        ty: &Type,
        r: Reg,
        span: Span,
    ) -> Result<(), CompileError> {
        let (offset, word) = match field.location {
            FieldLocation::Inline { offset } => (offset, false),
            FieldLocation::Word { offset } => (offset, true),
            FieldLocation::BtfWord { offset } if matches!(ty, Type::Ptr { .. }) => {
                // A copy through the stack reads as a plain address.
                let slot = self.alloc(8);
                self.asm.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.asm
                    .emit(Insn::alu64_imm(Alu::Add, Reg::R1, i32::from(slot)));
                self.asm.emit(Insn::mov64_imm(Reg::R2, 8));
                self.asm.emit(Insn::mov64_reg(Reg::R3, CTX));
                self.asm
                    .emit(Insn::alu64_imm(Alu::Add, Reg::R3, offset as i32));
                self.asm.emit(Insn::call(Helper::ProbeReadKernel));
                self.asm.emit(Insn::ldx(Size::DW, r, Reg::FP, slot));
                return Ok(());
            }
            FieldLocation::BtfWord { offset } => (offset, true),
            FieldLocation::Usdt(arg) => {
                self.load_usdt_arg(arg, r);
                return Ok(());
            }
            FieldLocation::DataLoc { .. } => {
                return Err(self.unsupported(format!("`{}` used as an integer", field.name), span))
            }
        };
        let Some(int) = ty.as_int() else {
            return Err(self.unsupported(
                format!("`{}` of type {ty} used as an integer", field.name),
                span,
            ));
        };
        let bytes = ty.size();
        let size = Size::from_bytes(bytes)
            .ok_or_else(|| self.unsupported(format!("a {bytes}-byte field"), span))?;
        if word {
            // Only whole 64-bit loads are allowed from these contexts: narrow afterwards.
            let off = self.asm.off16(offset);
            self.asm.emit(Insn::ldx(Size::DW, r, CTX, off));
            if bytes < 8 {
                let shift = 64 - 8 * bytes as i32;
                self.asm.emit(Insn::alu64_imm(Alu::Lsh, r, shift));
                let alu = if int.signed { Alu::Arsh } else { Alu::Rsh };
                self.asm.emit(Insn::alu64_imm(alu, r, shift));
            }
            return Ok(());
        }
        // Tracepoint programs may read their record directly (aligned, read-only).
        let off = self.asm.off16(offset);
        self.asm.emit(Insn::ldx(size, r, CTX, off));
        if int.signed && bytes < 8 {
            let shift = 64 - 8 * bytes as i32;
            self.asm.emit(Insn::alu64_imm(Alu::Lsh, r, shift));
            self.asm.emit(Insn::alu64_imm(Alu::Arsh, r, shift));
        }
        Ok(())
    }

    /// Loads a USDT argument into `r`, widened to 64 bits by its signedness. A memory operand
    /// is read from user memory (a failed read gives 0).
    fn load_usdt_arg(&mut self, arg: UsdtArg, r: Reg) {
        let bytes = u32::from(arg.size);
        match arg.operand {
            UsdtOperand::Constant(v) => {
                self.asm.mov_const(r, v as u64);
                return;
            }
            UsdtOperand::Register { offset } => {
                let off = self.asm.off16(offset);
                self.asm.emit(Insn::ldx(Size::DW, r, CTX, off));
            }
            UsdtOperand::Memory {
                base,
                index,
                displacement,
            } => {
                // The address, in r3 for the read.
                match base {
                    Some(base) => {
                        let off = self.asm.off16(base);
                        self.asm.emit(Insn::ldx(Size::DW, Reg::R3, CTX, off))
                    }
                    None => self.asm.emit(Insn::mov64_imm(Reg::R3, 0)),
                }
                if let Some((index, scale)) = index {
                    let off = self.asm.off16(index);
                    self.asm.emit(Insn::ldx(Size::DW, Reg::R2, CTX, off));
                    if scale > 1 {
                        let shift = scale.trailing_zeros() as i32;
                        self.asm.emit(Insn::alu64_imm(Alu::Lsh, Reg::R2, shift));
                    }
                    self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R3, Reg::R2));
                }
                match i32::try_from(displacement) {
                    Ok(0) => {}
                    Ok(d) => self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R3, d)),
                    Err(_) => {
                        self.asm.mov_const(Reg::R2, displacement as u64);
                        self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R3, Reg::R2));
                    }
                }
                let slot = self.alloc(8);
                self.asm.emit(Insn::st_imm(Size::DW, Reg::FP, slot, 0));
                self.asm.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
                self.asm
                    .emit(Insn::alu64_imm(Alu::Add, Reg::R1, i32::from(slot)));
                self.asm.emit(Insn::mov64_imm(Reg::R2, bytes.min(8) as i32));
                self.call_checked(Helper::ProbeReadUser, None);
                self.asm.emit(Insn::ldx(Size::DW, r, Reg::FP, slot));
            }
        }
        if bytes < 8 {
            let shift = 64 - 8 * bytes as i32;
            self.asm.emit(Insn::alu64_imm(Alu::Lsh, r, shift));
            let alu = if arg.signed { Alu::Arsh } else { Alu::Rsh };
            self.asm.emit(Insn::alu64_imm(alu, r, shift));
        }
    }

    /// Puts the kernel address of a string field of the record into `r`; returns its capacity.
    pub(super) fn arg_str_addr(&mut self, field: &ContextField, r: Reg) -> u32 {
        match field.location {
            FieldLocation::DataLoc { offset } => {
                // The low 16 bits of a __data_loc word locate the string within the record.
                let off = self.asm.off16(offset);
                self.asm.emit(Insn::ldx(Size::W, r, CTX, off));
                self.asm.emit(Insn::alu64_imm(Alu::And, r, 0xffff));
                self.asm.emit(Insn::alu64_reg(Alu::Add, r, CTX));
                u32::MAX
            }
            FieldLocation::Inline { offset }
            | FieldLocation::Word { offset }
            | FieldLocation::BtfWord { offset } => {
                self.asm.emit(Insn::mov64_reg(r, CTX));
                self.asm.emit(Insn::alu64_imm(Alu::Add, r, offset as i32));
                field.ty.size()
            }
            FieldLocation::Usdt(_) => unreachable!("USDT arguments are integers, not arrays"),
        }
    }
}
