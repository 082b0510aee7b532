//! The probe's context: `args.field` reads from the tracepoint record that r9 points to.

use super::{CompileError, Lowerer, CTX};
use crate::insn::{Alu, Helper, Insn, Reg, Size};
use scry_lang::ast::Span;
use scry_lang::types::{ContextField, FieldLocation, Type};

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
            self.asm.emit(Insn::ldx(Size::DW, r, CTX, offset as i16));
            if bytes < 8 {
                let shift = 64 - 8 * bytes as i32;
                self.asm.emit(Insn::alu64_imm(Alu::Lsh, r, shift));
                let alu = if int.signed { Alu::Arsh } else { Alu::Rsh };
                self.asm.emit(Insn::alu64_imm(alu, r, shift));
            }
            return Ok(());
        }
        // Tracepoint programs may read their record directly (aligned, read-only).
        self.asm.emit(Insn::ldx(size, r, CTX, offset as i16));
        if int.signed && bytes < 8 {
            let shift = 64 - 8 * bytes as i32;
            self.asm.emit(Insn::alu64_imm(Alu::Lsh, r, shift));
            self.asm.emit(Insn::alu64_imm(Alu::Arsh, r, shift));
        }
        Ok(())
    }

    /// Puts the kernel address of a string field of the record into `r`; returns its capacity.
    pub(super) fn arg_str_addr(&mut self, field: &ContextField, r: Reg) -> u32 {
        match field.location {
            FieldLocation::DataLoc { offset } => {
                // The low 16 bits of a __data_loc word locate the string within the record.
                self.asm.emit(Insn::ldx(Size::W, r, CTX, offset as i16));
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
        }
    }
}
