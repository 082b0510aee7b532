//! Process identity builtins: `pid`, `tid`, `uid`, `gid`, `cpu`, `pid(curr_ns)` and
//! `tid(curr_ns)` (and `comm`, a string, in `strings`).

use super::Lowerer;
use crate::insn::{Alu, Helper, Insn, Reg, Size};
use crate::module::KernelField;
use scry_lang::typed::Builtin;

impl Lowerer<'_> {
    /// Computes one of the integer process builtins into r0.
    pub(super) fn process_int(&mut self, b: Builtin) {
        // The task `comm` was read from: its ids are two loads, not a helper call.
        let field = match b {
            Builtin::Pid => Some(KernelField::TaskTgid),
            Builtin::Tid => Some(KernelField::TaskPid),
            _ => None,
        };
        if let (Some(slot), Some(field)) = (self.task_slot, field) {
            self.asm.emit(Insn::ldx(Size::DW, Reg::R0, Reg::FP, slot));
            self.asm.kernel_field(Reg::R0, field);
            self.asm.emit(Insn::ldx(Size::W, Reg::R0, Reg::R0, 0));
            return;
        }
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

    /// `pid(curr_ns)` or `tid(curr_ns)` into r0: the ids in scry's pid namespace, read by
    /// `bpf_get_ns_current_pid_tgid` into a stack slot (`{ u32 pid; u32 tgid; }`). In the
    /// initial namespace they are the plain ids.
    pub(super) fn ns_pid(&mut self, thread: bool) {
        let Some((dev, ino)) = self.options.pid_ns else {
            self.process_int(if thread { Builtin::Tid } else { Builtin::Pid });
            return;
        };
        let slot = self.alloc(8);
        self.asm.emit(Insn::st_imm(Size::DW, Reg::FP, slot, 0));
        self.asm.emit_all(Insn::ld_imm64(Reg::R1, dev));
        self.asm.emit_all(Insn::ld_imm64(Reg::R2, ino));
        self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::FP));
        self.asm
            .emit(Insn::alu64_imm(Alu::Add, Reg::R3, i32::from(slot)));
        self.asm.emit(Insn::mov64_imm(Reg::R4, 8));
        self.asm.emit(Insn::call(Helper::GetNsCurrentPidTgid));
        let off = if thread { slot } else { slot + 4 };
        self.asm.emit(Insn::ldx(Size::W, Reg::R0, Reg::FP, off));
    }
}
