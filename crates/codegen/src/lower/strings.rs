//! Strings: `comm`, `str()`, string fields, literals and variables, each written straight into a
//! destination buffer (never through registers or extra stack copies).

use super::{CompileError, Dst, Lowerer};
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use scry_lang::typed::{Builtin, Expr, ExprKind};
use scry_lang::types::{AddrSpace, Type};

impl Lowerer<'_> {
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
            ExprKind::Builtin(Builtin::Comm) => {
                self.dst_into(dst, Reg::R1);
                self.asm.emit(Insn::mov64_imm(
                    Reg::R2,
                    cap.min(scry_lang::builtins::COMM_LEN) as i32,
                ));
                self.asm.emit(Insn::call(Helper::GetCurrentComm));
            }
            ExprKind::Var(id) => {
                let Type::Str(var_cap) = self.probe.vars[id.0].ty else {
                    return Err(self.unsupported("an integer variable used as a string", e.span));
                };
                let src = super::Dst {
                    base: super::Base::Scratch,
                    off: self.var_slots[id.0],
                };
                self.dst_into(src, Reg::R3);
                self.dst_into(dst, Reg::R1);
                self.asm
                    .emit(Insn::mov64_imm(Reg::R2, cap.min(var_cap) as i32));
                self.asm.emit(Insn::call(Helper::ProbeReadKernel));
            }
            ExprKind::Arg(field) => {
                let field_cap = self.arg_str_addr(field, Reg::R3);
                self.dst_into(dst, Reg::R1);
                self.asm
                    .emit(Insn::mov64_imm(Reg::R2, cap.min(field_cap) as i32));
                self.asm.emit(Insn::call(Helper::ProbeReadKernelStr));
            }
            ExprKind::ReadStr { ptr, space, len } => {
                self.eval_int(ptr, depth)?;
                match len {
                    Some(len) => {
                        // At most `len` characters: the size passed includes the NUL, and must
                        // be provably within the buffer for the verifier.
                        self.eval_int(len, depth + 1)?;
                        self.fetch_into(depth + 1, Reg::R2);
                        let ok = self.asm.new_label();
                        let max = cap as i32 - 1;
                        self.asm.jmp_imm(Cond::Le, Reg::R2, max, ok);
                        self.asm.emit(Insn::mov64_imm(Reg::R2, max));
                        self.asm.bind(ok);
                        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R2, 1));
                    }
                    None => self.asm.emit(Insn::mov64_imm(Reg::R2, cap as i32)),
                }
                self.fetch_into(depth, Reg::R3);
                self.dst_into(dst, Reg::R1);
                self.asm.emit(Insn::call(match space {
                    AddrSpace::User => Helper::ProbeReadUserStr,
                    AddrSpace::Kernel => Helper::ProbeReadKernelStr,
                    AddrSpace::Unknown => Helper::ProbeReadStr,
                }));
            }
            ExprKind::MapRead { map, keys } => self.map_read_str(*map, keys, dst, cap, depth)?,
            _ => return Err(self.unsupported(format!("{} used as a string", e.ty), e.span)),
        }
        self.asm.span = saved;
        Ok(())
    }

    /// Stores a constant string with 4-byte immediate stores, NUL-padded to a multiple of 4.
    fn write_literal(&mut self, bytes: &[u8], dst: Dst, cap: u32) {
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
            self.asm
                .emit(Insn::st_imm(Size::W, Reg::R1, (i * 4) as i16, word));
        }
        let done = data.len() - chunks.remainder().len();
        for (i, b) in chunks.remainder().iter().enumerate() {
            self.asm.emit(Insn::st_imm(
                Size::B,
                Reg::R1,
                (done + i) as i16,
                i32::from(*b),
            ));
        }
    }
}
