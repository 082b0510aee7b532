//! Process identity builtins: `pid`, `tid`, `uid`, `gid`, `cpu` (and `comm`, a string, in
//! `strings`).

use super::Lowerer;
use crate::insn::{Alu, Helper, Insn, Reg};
use scry_lang::typed::Builtin;

impl Lowerer<'_> {
    /// Computes one of the integer process builtins into r0.
    pub(super) fn process_int(&mut self, b: Builtin) {
        let (helper, high_half) = match b {
            // get_current_pid_tgid = tgid << 32 | pid: the user's pid is the kernel's tgid.
            Builtin::Pid => (Helper::GetCurrentPidTgid, true),
            Builtin::Tid => (Helper::GetCurrentPidTgid, false),
            Builtin::Uid => (Helper::GetCurrentUidGid, false),
            Builtin::Gid => (Helper::GetCurrentUidGid, true),
            Builtin::Cpu => {
                self.asm.emit(Insn::call(Helper::GetSmpProcessorId));
                return;
            }
            other => unreachable!("not a process builtin: {other:?}"),
        };
        self.asm.emit(Insn::call(helper));
        if high_half {
            self.asm.emit(Insn::alu64_imm(Alu::Rsh, Reg::R0, 32));
        } else {
            self.asm.emit(Insn::mov32_reg(Reg::R0, Reg::R0));
        }
    }
}
