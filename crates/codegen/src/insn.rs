//! eBPF instructions: typed constructors for every instruction scry emits, their encoding, and a
//! disassembler that prints them the way the kernel's verifier log does (so `-d` output and
//! verifier messages read alike).
//!
//! `ld_imm64` occupies two slots; jump offsets count both.

use std::fmt;

/// A register, r0–r10. r1–r5 carry helper arguments and are clobbered by calls; r6–r9 survive
/// them; r10 is the read-only frame pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reg(pub u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    pub const FP: Reg = Reg(10);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    B,
    H,
    W,
    DW,
}

impl Size {
    pub fn from_bytes(n: u32) -> Option<Size> {
        Some(match n {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            8 => Size::DW,
            _ => return None,
        })
    }
    fn code(self) -> u8 {
        match self {
            Size::W => 0x00,
            Size::H => 0x08,
            Size::B => 0x10,
            Size::DW => 0x18,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Size::B => "u8",
            Size::H => "u16",
            Size::W => "u32",
            Size::DW => "u64",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    Or,
    And,
    Lsh,
    Rsh,
    Neg,
    Mod,
    Xor,
    Mov,
    Arsh,
    /// Signed division (`BPF_DIV` with offset 1, cpu v4).
    SDiv,
    /// Signed remainder (`BPF_MOD` with offset 1, cpu v4).
    SMod,
}

impl Alu {
    fn code(self) -> (u8, i16) {
        match self {
            Alu::Add => (0x00, 0),
            Alu::Sub => (0x10, 0),
            Alu::Mul => (0x20, 0),
            Alu::Div => (0x30, 0),
            Alu::SDiv => (0x30, 1),
            Alu::Or => (0x40, 0),
            Alu::And => (0x50, 0),
            Alu::Lsh => (0x60, 0),
            Alu::Rsh => (0x70, 0),
            Alu::Neg => (0x80, 0),
            Alu::Mod => (0x90, 0),
            Alu::SMod => (0x90, 1),
            Alu::Xor => (0xa0, 0),
            Alu::Mov => (0xb0, 0),
            Alu::Arsh => (0xc0, 0),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    SGt,
    SGe,
    Lt,
    Le,
    SLt,
    SLe,
}

impl Cond {
    fn code(self) -> u8 {
        match self {
            Cond::Eq => 0x10,
            Cond::Gt => 0x20,
            Cond::Ge => 0x30,
            Cond::Set => 0x40,
            Cond::Ne => 0x50,
            Cond::SGt => 0x60,
            Cond::SGe => 0x70,
            Cond::Lt => 0xa0,
            Cond::Le => 0xb0,
            Cond::SLt => 0xc0,
            Cond::SLe => 0xd0,
        }
    }
    /// The condition that holds exactly when this one does not.
    pub fn negate(self) -> Cond {
        match self {
            Cond::Eq => Cond::Ne,
            Cond::Ne => Cond::Eq,
            Cond::Gt => Cond::Le,
            Cond::Le => Cond::Gt,
            Cond::Ge => Cond::Lt,
            Cond::Lt => Cond::Ge,
            Cond::SGt => Cond::SLe,
            Cond::SLe => Cond::SGt,
            Cond::SGe => Cond::SLt,
            Cond::SLt => Cond::SGe,
            // No direct negation; callers never negate it.
            Cond::Set => Cond::Set,
        }
    }
}

/// The kernel helpers scry calls, with their stable numbers (include/uapi/linux/bpf.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Helper {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    ProbeRead = 4,
    KtimeGetNs = 5,
    GetSmpProcessorId = 8,
    GetCurrentPidTgid = 14,
    GetCurrentUidGid = 15,
    GetCurrentComm = 16,
    ProbeReadStr = 45,
    ProbeReadUser = 112,
    ProbeReadKernel = 113,
    ProbeReadUserStr = 114,
    ProbeReadKernelStr = 115,
    KtimeGetBootNs = 125,
    RingbufOutput = 130,
    RingbufReserve = 131,
    RingbufSubmit = 132,
    RingbufDiscard = 133,
    RingbufQuery = 134,
    GetStackid = 27,
    MapLookupPercpuElem = 195,
    GetPrandomU32 = 7,
    GetCurrentTask = 35,
    GetCurrentTaskBtf = 158,
    GetCurrentCgroupId = 80,
    SendSignal = 109,
    GetJiffies64 = 118,
    ForEachMapElem = 164,
    GetFuncIp = 173,
    GetAttachCookie = 174,
    Loop = 181,
    GetNumaNodeId = 42,
    GetNsCurrentPidTgid = 120,
    KtimeGetTaiNs = 208,
    GetStack = 67,
    TracePrintk = 6,
    TraceVprintk = 177,
}

impl Helper {
    pub fn from_id(id: i32) -> Option<Helper> {
        use Helper::*;
        [
            MapLookupElem,
            MapUpdateElem,
            MapDeleteElem,
            ProbeRead,
            KtimeGetNs,
            GetSmpProcessorId,
            GetCurrentPidTgid,
            GetCurrentUidGid,
            GetCurrentComm,
            ProbeReadStr,
            ProbeReadUser,
            ProbeReadKernel,
            ProbeReadUserStr,
            ProbeReadKernelStr,
            KtimeGetBootNs,
            GetStackid,
            MapLookupPercpuElem,
            GetPrandomU32,
            GetCurrentTask,
            GetCurrentTaskBtf,
            GetCurrentCgroupId,
            SendSignal,
            GetJiffies64,
            ForEachMapElem,
            GetFuncIp,
            GetAttachCookie,
            Loop,
            GetNumaNodeId,
            GetNsCurrentPidTgid,
            KtimeGetTaiNs,
            GetStack,
            TracePrintk,
            TraceVprintk,
            RingbufOutput,
            RingbufReserve,
            RingbufSubmit,
            RingbufDiscard,
            RingbufQuery,
        ]
        .into_iter()
        .find(|h| *h as i32 == id)
    }
    pub fn name(self) -> &'static str {
        use Helper::*;
        match self {
            MapLookupElem => "map_lookup_elem",
            MapUpdateElem => "map_update_elem",
            MapDeleteElem => "map_delete_elem",
            ProbeRead => "probe_read",
            KtimeGetNs => "ktime_get_ns",
            GetSmpProcessorId => "get_smp_processor_id",
            GetCurrentPidTgid => "get_current_pid_tgid",
            GetCurrentUidGid => "get_current_uid_gid",
            GetCurrentComm => "get_current_comm",
            ProbeReadStr => "probe_read_str",
            ProbeReadUser => "probe_read_user",
            ProbeReadKernel => "probe_read_kernel",
            ProbeReadUserStr => "probe_read_user_str",
            ProbeReadKernelStr => "probe_read_kernel_str",
            KtimeGetBootNs => "ktime_get_boot_ns",
            RingbufOutput => "ringbuf_output",
            RingbufReserve => "ringbuf_reserve",
            RingbufSubmit => "ringbuf_submit",
            RingbufDiscard => "ringbuf_discard",
            RingbufQuery => "ringbuf_query",
            GetStackid => "get_stackid",
            MapLookupPercpuElem => "map_lookup_percpu_elem",
            GetPrandomU32 => "get_prandom_u32",
            GetCurrentTask => "get_current_task",
            GetCurrentTaskBtf => "get_current_task_btf",
            GetCurrentCgroupId => "get_current_cgroup_id",
            SendSignal => "send_signal",
            GetJiffies64 => "get_jiffies_64",
            ForEachMapElem => "for_each_map_elem",
            GetFuncIp => "get_func_ip",
            GetAttachCookie => "get_attach_cookie",
            Loop => "loop",
            GetNumaNodeId => "get_numa_node_id",
            GetNsCurrentPidTgid => "get_ns_current_pid_tgid",
            KtimeGetTaiNs => "ktime_get_tai_ns",
            GetStack => "get_stack",
            TracePrintk => "trace_printk",
            TraceVprintk => "trace_vprintk",
        }
    }
}

const CLASS_LD: u8 = 0x00;
/// The `src` of an `ld_imm64` whose immediate is a subprogram's offset.
const PSEUDO_FUNC: u8 = 4;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU64: u8 = 0x07;
const MODE_IMM: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
const MODE_ATOMIC: u8 = 0xc0;
const SRC_X: u8 = 0x08;
const OP_JA: u8 = 0x00;
const OP_CALL: u8 = 0x80;
const OP_EXIT: u8 = 0x90;

/// One 8-byte instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    const fn raw(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst: dst.0,
            src: src.0,
            off,
            imm,
        }
    }
    /// `dst op= imm` on 64 bits.
    pub fn alu64_imm(op: Alu, dst: Reg, imm: i32) -> Insn {
        let (code, off) = op.code();
        Insn::raw(CLASS_ALU64 | code, dst, Reg(0), off, imm)
    }
    /// `dst op= src` on 64 bits.
    pub fn alu64_reg(op: Alu, dst: Reg, src: Reg) -> Insn {
        let (code, off) = op.code();
        Insn::raw(CLASS_ALU64 | code | SRC_X, dst, src, off, 0)
    }
    pub fn mov64_imm(dst: Reg, imm: i32) -> Insn {
        Insn::alu64_imm(Alu::Mov, dst, imm)
    }
    /// Reverses the low `bits` (16, 32 or 64) bytes of `dst` (to big-endian on this
    /// little-endian machine) and zeroes the rest.
    pub fn bswap(dst: Reg, bits: i32) -> Insn {
        Insn::raw(CLASS_ALU | 0xd0 | SRC_X, dst, Reg(0), 0, bits)
    }
    pub fn mov64_reg(dst: Reg, src: Reg) -> Insn {
        Insn::alu64_reg(Alu::Mov, dst, src)
    }
    /// `wdst = wsrc`: copies the low 32 bits and zeroes the high ones.
    pub fn mov32_reg(dst: Reg, src: Reg) -> Insn {
        Insn::raw(CLASS_ALU | 0xb0 | SRC_X, dst, src, 0, 0)
    }
    pub fn neg64(dst: Reg) -> Insn {
        Insn::alu64_imm(Alu::Neg, dst, 0)
    }
    /// `dst = imm` for any 64-bit value: two slots.
    pub fn ld_imm64(dst: Reg, imm: u64) -> [Insn; 2] {
        [
            Insn::raw(
                CLASS_LD | MODE_IMM | Size::DW.code(),
                dst,
                Reg(0),
                0,
                imm as u32 as i32,
            ),
            Insn::raw(0, Reg(0), Reg(0), 0, (imm >> 32) as u32 as i32),
        ]
    }
    /// `dst = map` — the map's fd is filled in by the loader from the ELF relocation.
    pub fn ld_map(dst: Reg) -> [Insn; 2] {
        Insn::ld_imm64(dst, 0)
    }
    /// `dst = &subprogram`, the subprogram `imm` slots after the next one (`BPF_PSEUDO_FUNC`):
    /// a callback for helpers such as `bpf_for_each_map_elem`.
    pub fn ld_func(dst: Reg, imm: i32) -> [Insn; 2] {
        let [mut first, second] = Insn::ld_imm64(dst, 0);
        first.src = PSEUDO_FUNC;
        first.imm = imm;
        [first, second]
    }
    /// `dst = *(size *)(src + off)`
    pub fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::raw(CLASS_LDX | MODE_MEM | size.code(), dst, src, off, 0)
    }
    /// `*(size *)(dst + off) = src`
    pub fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::raw(CLASS_STX | MODE_MEM | size.code(), dst, src, off, 0)
    }
    /// `*(size *)(dst + off) = imm` (sign-extended for DW).
    pub fn st_imm(size: Size, dst: Reg, off: i16, imm: i32) -> Insn {
        Insn::raw(CLASS_ST | MODE_MEM | size.code(), dst, Reg(0), off, imm)
    }
    /// `lock *(u64 *)(dst + off) += src`
    pub fn atomic_add64(dst: Reg, off: i16, src: Reg) -> Insn {
        Insn::raw(CLASS_STX | MODE_ATOMIC | Size::DW.code(), dst, src, off, 0)
    }
    /// `if dst cond imm goto +off`
    pub fn jmp_imm(cond: Cond, dst: Reg, imm: i32, off: i16) -> Insn {
        Insn::raw(CLASS_JMP | cond.code(), dst, Reg(0), off, imm)
    }
    /// `if dst cond src goto +off`
    pub fn jmp_reg(cond: Cond, dst: Reg, src: Reg, off: i16) -> Insn {
        Insn::raw(CLASS_JMP | cond.code() | SRC_X, dst, src, off, 0)
    }
    pub fn ja(off: i16) -> Insn {
        Insn::raw(CLASS_JMP | OP_JA, Reg(0), Reg(0), off, 0)
    }
    pub fn call(helper: Helper) -> Insn {
        Insn::raw(CLASS_JMP | OP_CALL, Reg(0), Reg(0), 0, helper as i32)
    }
    pub fn exit() -> Insn {
        Insn::raw(CLASS_JMP | OP_EXIT, Reg(0), Reg(0), 0, 0)
    }

    pub fn is_jump(&self) -> bool {
        self.code & 0x07 == CLASS_JMP && !matches!(self.code & 0xf0, OP_CALL | OP_EXIT)
    }
    pub fn is_ld_imm64(&self) -> bool {
        self.code == CLASS_LD | MODE_IMM | Size::DW.code()
    }

    /// Little-endian encoding, as the kernel and ELF objects want it.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.src << 4) | (self.dst & 0x0f);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

/// Encodes a program for an ELF section.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Disassembles a program, one instruction per line, numbered by slot. `map_names` names the map
/// loaded at a slot (from the program's relocations).
pub fn disassemble(insns: &[Insn], map_name: impl Fn(usize) -> Option<String>) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        let text = if insn.is_ld_imm64() {
            let hi = insns.get(i + 1).map_or(0, |n| n.imm as u32 as u64);
            let value = (hi << 32) | u64::from(insn.imm as u32);
            match map_name(i) {
                Some(name) => format!("r{} = map[{name}] ll", insn.dst),
                None if insn.src == PSEUDO_FUNC => {
                    format!(
                        "r{} = subprog[{}]",
                        insn.dst,
                        i as i64 + i64::from(insn.imm) + 1
                    )
                }
                None => format!("r{} = {value:#x} ll", insn.dst),
            }
        } else {
            Disasm(insn).to_string()
        };
        out.push_str(&format!("{i:4}: {text}\n"));
        i += if insn.is_ld_imm64() { 2 } else { 1 };
    }
    out
}

struct Disasm(Insn);

fn size_name(code: u8) -> &'static str {
    [Size::W, Size::H, Size::B, Size::DW]
        .into_iter()
        .find(|s| s.code() == code & 0x18)
        .map_or("?", Size::name)
}

fn mem(reg: u8, off: i16) -> String {
    if off < 0 {
        format!("r{reg} {off}")
    } else {
        format!("r{reg} +{off}")
    }
}

impl fmt::Display for Disasm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.0;
        let class = i.code & 0x07;
        match class {
            CLASS_ALU | CLASS_ALU64 => {
                let r = if class == CLASS_ALU64 { "r" } else { "w" };
                let op = i.code & 0xf0;
                let rhs = if i.code & SRC_X != 0 {
                    format!("{r}{}", i.src)
                } else {
                    format!("{}", i.imm)
                };
                let sym = match (op, i.off) {
                    (0x00, _) => "+=",
                    (0x10, _) => "-=",
                    (0x20, _) => "*=",
                    (0x30, 1) => "s/=",
                    (0x30, _) => "/=",
                    (0x40, _) => "|=",
                    (0x50, _) => "&=",
                    (0x60, _) => "<<=",
                    (0x70, _) => ">>=",
                    (0x80, _) => return write!(f, "{r}{} = -{r}{}", i.dst, i.dst),
                    (0xd0, _) => return write!(f, "r{} = be{} r{}", i.dst, i.imm, i.dst),
                    (0x90, 1) => "s%=",
                    (0x90, _) => "%=",
                    (0xa0, _) => "^=",
                    (0xb0, _) => "=",
                    (0xc0, _) => "s>>=",
                    _ => "?=",
                };
                write!(f, "{r}{} {sym} {rhs}", i.dst)
            }
            CLASS_LDX => write!(
                f,
                "r{} = *({} *)({})",
                i.dst,
                size_name(i.code),
                mem(i.src, i.off)
            ),
            CLASS_STX if i.code & 0xe0 == MODE_ATOMIC => write!(
                f,
                "lock *({} *)({}) += r{}",
                size_name(i.code),
                mem(i.dst, i.off),
                i.src
            ),
            CLASS_STX => write!(
                f,
                "*({} *)({}) = r{}",
                size_name(i.code),
                mem(i.dst, i.off),
                i.src
            ),
            CLASS_ST => write!(
                f,
                "*({} *)({}) = {}",
                size_name(i.code),
                mem(i.dst, i.off),
                i.imm
            ),
            CLASS_JMP => {
                let op = i.code & 0xf0;
                match op {
                    OP_JA => write!(f, "goto pc{:+}", i.off),
                    OP_CALL => match Helper::from_id(i.imm) {
                        Some(h) => write!(f, "call bpf_{}#{}", h.name(), i.imm),
                        None => write!(f, "call #{}", i.imm),
                    },
                    OP_EXIT => write!(f, "exit"),
                    _ => {
                        let sym = match op {
                            0x10 => "==",
                            0x20 => ">",
                            0x30 => ">=",
                            0x40 => "&",
                            0x50 => "!=",
                            0x60 => "s>",
                            0x70 => "s>=",
                            0xa0 => "<",
                            0xb0 => "<=",
                            0xc0 => "s<",
                            0xd0 => "s<=",
                            _ => "?",
                        };
                        let rhs = if i.code & SRC_X != 0 {
                            format!("r{}", i.src)
                        } else {
                            format!("{:#x}", i.imm)
                        };
                        write!(f, "if r{} {sym} {rhs} goto pc{:+}", i.dst, i.off)
                    }
                }
            }
            _ => write!(f, "(unknown opcode {:#04x})", i.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_kernel() {
        // r1 = r6: 0xbf, dst 1, src 6
        assert_eq!(
            Insn::mov64_reg(Reg::R1, Reg::R6).to_bytes(),
            [0xbf, 0x61, 0, 0, 0, 0, 0, 0]
        );
        // *(u64 *)(r10 -8) = r0
        assert_eq!(
            Insn::stx(Size::DW, Reg::FP, -8, Reg::R0).to_bytes(),
            [0x7b, 0x0a, 0xf8, 0xff, 0, 0, 0, 0]
        );
        // call 14
        assert_eq!(
            Insn::call(Helper::GetCurrentPidTgid).to_bytes(),
            [0x85, 0, 0, 0, 14, 0, 0, 0]
        );
        // sdiv: off 1
        assert_eq!(
            Insn::alu64_reg(Alu::SDiv, Reg::R1, Reg::R2).to_bytes(),
            [0x3f, 0x21, 1, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn disassembles() {
        let mut prog = vec![Insn::mov64_reg(Reg::R9, Reg::R1)];
        prog.extend(Insn::ld_imm64(Reg::R1, 0x1_0000_0002));
        prog.push(Insn::jmp_imm(Cond::Eq, Reg::R0, 0, 3));
        prog.push(Insn::ldx(Size::W, Reg::R2, Reg::R9, 16));
        prog.push(Insn::exit());
        let text = disassemble(&prog, |_| None);
        assert_eq!(
            text,
            "   0: r9 = r1\n   1: r1 = 0x100000002 ll\n   3: if r0 == 0x0 goto pc+3\n   4: r2 = *(u32 *)(r9 +16)\n   5: exit\n"
        );
    }
}
