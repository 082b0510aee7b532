//! Time builtins: `nsecs` (CLOCK_BOOTTIME, as bpftrace), `nsecs(clock)` for the other clocks,
//! and `elapsed` (since the session began).

use super::Lowerer;
use crate::insn::{Alu, Helper, Insn, Reg};
use scry_lang::typed::{Builtin, Clock};

impl Lowerer<'_> {
    /// Computes `nsecs` or `elapsed` into r0.
    pub(super) fn time_int(&mut self, b: Builtin) {
        self.asm.emit(Insn::call(Helper::KtimeGetBootNs));
        if b == Builtin::Elapsed {
            // The start time is known when the program is generated, so it is an immediate.
            self.asm
                .emit_all(Insn::ld_imm64(Reg::R1, self.options.start_boot_ns));
            self.asm.emit(Insn::alu64_reg(Alu::Sub, Reg::R0, Reg::R1));
        }
    }

    /// `nsecs(clock)` into r0.
    pub(super) fn now(&mut self, clock: Clock) {
        match clock {
            Clock::Monotonic => self.asm.emit(Insn::call(Helper::KtimeGetNs)),
            Clock::Boot => self.asm.emit(Insn::call(Helper::KtimeGetBootNs)),
            Clock::Tai => self.asm.emit(Insn::call(Helper::KtimeGetTaiNs)),
            Clock::SwTai => {
                self.asm.emit(Insn::call(Helper::KtimeGetBootNs));
                self.asm
                    .emit_all(Insn::ld_imm64(Reg::R1, self.options.boot_to_tai_ns));
                self.asm.emit(Insn::alu64_reg(Alu::Add, Reg::R0, Reg::R1));
            }
        }
    }
}
