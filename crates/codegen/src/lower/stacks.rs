//! `kstack` and `ustack`: the stack is captured into a stack trace map with `get_stackid`;
//! the value is its id (and, for user stacks, the pid in the high 32 bits, so userspace knows
//! whose symbols to use). Userspace reads the frames and symbolizes them.

use super::{Lowerer, CTX};
use crate::insn::{Alu, Cond, Helper, Insn, Reg};
use scry_lang::types::Type;

/// `BPF_F_USER_STACK`
const USER_STACK: i32 = 1 << 8;

impl Lowerer<'_> {
    /// The stack of type `ty` as a value, into the temporary at `depth`.
    pub(super) fn stack_id(&mut self, ty: &Type, depth: usize) {
        let Type::Stack { user, limit, .. } = *ty else {
            unreachable!("the checker gives stack expressions a stack type")
        };
        let map = self.module.stack_map(user, limit);
        self.asm.emit(Insn::mov64_reg(Reg::R1, CTX));
        self.asm.ld_map(Reg::R2, map);
        self.asm
            .emit(Insn::mov64_imm(Reg::R3, if user { USER_STACK } else { 0 }));
        self.asm.emit(Insn::call(Helper::GetStackid));
        if user {
            // id in the low half, pid in the high half
            self.set_temp(depth, Reg::R0);
            self.process_int(scry_lang::typed::Builtin::Pid);
            self.asm.emit(Insn::alu64_imm(Alu::Lsh, Reg::R0, 32));
            let id = self.fetch(depth, Reg::R1);
            self.asm.emit(Insn::mov32_reg(Reg::R1, id));
            self.asm.emit(Insn::alu64_reg(Alu::Or, Reg::R0, Reg::R1));
        }
        self.set_temp(depth, Reg::R0);
    }

    /// `len(kstack)`, `len(ustack)` into r0: `bpf_get_stack` writes the frames into the scratch
    /// area and says how many bytes they took (0 frames when it fails).
    pub(super) fn stack_len(&mut self, user: bool, limit: u8) {
        let size = u32::from(limit) * 8;
        let frames = super::Dst {
            base: super::Base::Scratch,
            off: self.scratch_alloc(size),
        };
        self.dst_into(frames, Reg::R2);
        self.asm.emit(Insn::mov64_reg(Reg::R1, CTX));
        self.asm.emit(Insn::mov64_imm(Reg::R3, size as i32));
        self.asm
            .emit(Insn::mov64_imm(Reg::R4, if user { USER_STACK } else { 0 }));
        self.asm.emit(Insn::call(Helper::GetStack));
        let ok = self.asm.new_label();
        self.asm.jmp_imm(Cond::SGe, Reg::R0, 0, ok);
        self.asm.emit(Insn::mov64_imm(Reg::R0, 0));
        self.asm.bind(ok);
        self.asm.emit(Insn::alu64_imm(Alu::Rsh, Reg::R0, 3));
    }
}
