//! Output to userspace: `printf` and `exit`, each one ring buffer record reserved, filled in
//! place and submitted: no stack copies. Record layout: an 8-byte id (index into
//! `Module::records`), then the fields, each 8-byte aligned.

use super::{CompileError, Dst, Lowerer};
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::{Field, FieldKind, Module, RecordLayout};
use scry_lang::printf::Format;
use scry_lang::typed::Expr;
use scry_lang::types::{IntType, Type};

impl Lowerer<'_> {
    pub(super) fn printf(
        &mut self,
        format: &Format,
        args: &[Expr],
        depth: usize,
    ) -> Result<(), CompileError> {
        let mut offset = 8u32;
        let mut fields = Vec::new();
        for arg in args {
            let kind = match &arg.ty {
                Type::Str(cap) => FieldKind::Str(*cap),
                Type::Stack { user, limit } => FieldKind::Stack {
                    map: self.module.stack_map(*user, *limit),
                    user: *user,
                },
                ty => FieldKind::Int(ty.as_int().unwrap_or(IntType::U64)),
            };
            fields.push(Field { offset, kind });
            offset += kind.size();
        }
        let id = self.add_record(RecordLayout::Printf {
            format: format.clone(),
            args: fields.clone(),
        });
        let skip = self.asm.new_label();
        self.reserve(offset, id, depth, skip);
        for (arg, field) in args.iter().zip(&fields) {
            match field.kind {
                FieldKind::Str(cap) => {
                    let dst = Dst {
                        base: super::Base::Temp(depth),
                        off: field.offset as i32,
                    };
                    self.write_str(arg, dst, cap, depth + 1)?;
                }
                FieldKind::Int(_) | FieldKind::Stack { .. } => {
                    self.eval_int(arg, depth + 1)?;
                    let v = self.fetch(depth + 1, Reg::R2);
                    let rec = self.fetch(depth, Reg::R1);
                    self.asm
                        .emit(Insn::stx(Size::DW, rec, field.offset as i16, v));
                }
            }
        }
        self.submit(depth);
        self.asm.bind(skip);
        Ok(())
    }

    pub(super) fn exit(&mut self, code: Option<&Expr>, depth: usize) -> Result<(), CompileError> {
        let id = self.add_record(RecordLayout::Exit);
        let skip = self.asm.new_label();
        self.reserve(16, id, depth, skip);
        match code {
            Some(code) => {
                self.eval_int(code, depth + 1)?;
                let v = self.fetch(depth + 1, Reg::R2);
                let rec = self.fetch(depth, Reg::R1);
                self.asm.emit(Insn::stx(Size::DW, rec, 8, v));
            }
            None => {
                let rec = self.fetch(depth, Reg::R1);
                self.asm.emit(Insn::st_imm(Size::DW, rec, 8, 0));
            }
        }
        self.submit(depth);
        self.asm.bind(skip);
        Ok(())
    }

    /// Reserves a record of `size` bytes into the temporary at `depth` and writes its id; when
    /// the ring buffer has no room, counts the loss in `scry_lost` and jumps to `full`.
    pub(super) fn reserve(&mut self, size: u32, id: u32, depth: usize, full: crate::asm::Label) {
        self.asm.ld_map(Reg::R1, Module::EVENTS);
        self.asm.emit(Insn::mov64_imm(Reg::R2, size as i32));
        self.asm.emit(Insn::mov64_imm(Reg::R3, 0));
        self.asm.emit(Insn::call(Helper::RingbufReserve));
        let reserved = self.asm.new_label();
        self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, reserved);
        // No room: count the loss for userspace to report, never drop silently.
        self.array_lookup(Module::LOST);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, full);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R1, 1));
        self.asm.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
        self.asm.ja(full);
        self.asm.bind(reserved);
        self.asm.emit(Insn::st_imm(Size::DW, Reg::R0, 0, id as i32));
        self.set_temp(depth, Reg::R0);
    }

    pub(super) fn submit(&mut self, depth: usize) {
        self.fetch_into(depth, Reg::R1);
        self.asm.emit(Insn::mov64_imm(Reg::R2, 0));
        self.asm.emit(Insn::call(Helper::RingbufSubmit));
    }
}
