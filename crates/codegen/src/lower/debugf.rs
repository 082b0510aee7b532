//! `debugf(format, args…)`: the format and the arguments' words go to the scratch area, and
//! the kernel formats the line into its trace pipe: `bpf_trace_printk` for up to three
//! arguments (any kernel), `bpf_trace_vprintk` (Linux 5.16) for more. A string argument is
//! passed as the address of its bytes, which the kernel copies.

use super::{Base, CompileError, Dst, Lowerer};
use crate::insn::{Helper, Insn, Reg, Size};
use scry_lang::typed::Expr;

impl Lowerer<'_> {
    pub(super) fn debugf(&mut self, format: &[u8], args: &[Expr]) -> Result<(), CompileError> {
        let depth = self.base;
        let format_size = format.len() as u32 + 1;
        let fmt = Dst {
            base: Base::Scratch,
            off: self.scratch_alloc(format_size),
        };
        self.write_literal(format, fmt, format_size);
        let words = Dst {
            base: Base::Scratch,
            off: self.scratch_alloc(8 * args.len().max(1) as u32),
        };
        for (i, a) in args.iter().enumerate() {
            let word = words.at(8 * i as u32);
            if a.ty.is_str() {
                let at = match self.place(a) {
                    Some(p) => p,
                    None => {
                        let size = a.ty.size();
                        let dst = Dst {
                            base: Base::Scratch,
                            off: self.scratch_alloc(size),
                        };
                        self.write_str(a, dst, size, depth)?;
                        dst
                    }
                };
                self.dst_into(at, Reg::R2);
                self.store_word(word, Reg::R2);
            } else {
                self.eval_int(a, depth)?;
                let v = self.fetch(depth, Reg::R2);
                if v != Reg::R2 {
                    self.asm.emit(Insn::mov64_reg(Reg::R2, v));
                }
                self.store_word(word, Reg::R2);
            }
        }
        if args.len() <= 3 {
            self.dst_into(words, Reg::R0);
            for (i, r) in [Reg::R3, Reg::R4, Reg::R5]
                .into_iter()
                .enumerate()
                .take(args.len())
            {
                let off = self.asm.off16(8 * i);
                self.asm.emit(Insn::ldx(Size::DW, r, Reg::R0, off));
            }
            self.dst_into(fmt, Reg::R1);
            self.asm.emit(Insn::mov64_imm(Reg::R2, format_size as i32));
            self.asm.emit(Insn::call(Helper::TracePrintk));
        } else {
            self.dst_into(fmt, Reg::R1);
            self.asm.emit(Insn::mov64_imm(Reg::R2, format_size as i32));
            self.dst_into(words, Reg::R3);
            self.asm
                .emit(Insn::mov64_imm(Reg::R4, 8 * args.len() as i32));
            self.asm.emit(Insn::call(Helper::TraceVprintk));
        }
        Ok(())
    }
}
