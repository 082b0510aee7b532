//! Lowering: one typed probe → one eBPF program.
//!
//! Register use: r9 holds the context for the whole program; integer temporaries live by
//! expression depth in r6, r7, r8 and then in stack slots, so values survive helper calls (which
//! clobber r0–r5) without a register allocator. Strings are never in registers: they are written
//! straight into their destination (a ring buffer record or a variable's slot in the per-CPU
//! scratch map).
//!
//! Builtin families live in their own modules (`process`, `time`, `context`, `strings`,
//! `output`); this module holds the frame, temporaries, statements and operators.

mod aggregations;
mod context;
mod control;
mod debugf;
mod kernel;
mod maps;
mod output;
mod process;
mod stacks;
mod strings;
mod time;
mod values;

pub use output::WAKE_TICKS;

use crate::asm::{Asm, AsmError, Label};
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::{MapKind, MapSpec, Module, Program, RecordLayout, UserMap};
use scry_lang::ast::{BinaryOp, Span, UnaryOp};
use scry_lang::typed::{self, Builtin, ExprKind, StmtKind};
use scry_lang::types::Type;

/// The kernel's limit on a program's stack.
pub const STACK_LIMIT: u32 = 512;

#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Program names are `{prefix}_{index}`; keep the prefix short (names are cut at 15 bytes).
    pub name_prefix: String,
    /// `CLOCK_BOOTTIME` in ns when the session started: `elapsed` counts from here.
    pub start_boot_ns: u64,
    /// Size of the ring buffer that carries records to userspace (a power of two, ≥ 4096).
    pub ringbuf_bytes: u32,
    /// The number of possible CPUs: reading an aggregation in a probe combines this many
    /// per-CPU values.
    pub ncpus: u32,
    /// How many keys each map holds (bpftrace's `max_map_keys`).
    pub max_map_keys: u32,
    /// `-p PID`: probes other than BEGIN and END do nothing in other processes.
    pub pid_filter: Option<u32>,
    /// How stacks print when the script does not say (`stack_mode`).
    pub stack_mode: scry_lang::types::StackMode,
    /// `-k`: report failed map updates at run time; `-kk`: failed memory reads too.
    pub helper_checks: u8,
    /// Appended to strings that filled their capacity (`str_trunc_trailer`).
    pub str_trailer: String,
    /// The license the programs are loaded under (`license`).
    pub license: String,
    /// The most of a file `cat()` prints (`max_cat_bytes`).
    pub max_cat_bytes: u64,
    /// The id of the module's first record: modules loaded into one session (the REPL's
    /// blocks) share one ring buffer, so their record ids must not overlap.
    pub first_record: u32,
    /// The module's maps are shared with modules loaded beside it (the REPL): every map keeps
    /// its key count at the slot of its own index, so `len()` in any module sees every
    /// module's updates.
    pub shared: bool,
    /// CLOCK_TAI minus CLOCK_BOOTTIME when compiling, for `nsecs(sw_tai)`.
    pub boot_to_tai_ns: u64,
    /// The device and inode of scry's pid namespace, for `pid(curr_ns)`; `None` when it is
    /// the initial one (whose ids `pid` gives already).
    pub pid_ns: Option<(u64, u64)>,
    /// `comm` is read straight from the current task (`bpf_get_current_task_btf` and the
    /// kernel's relocation of `task_struct.comm`), not by `bpf_get_current_comm`, a costlier
    /// helper call: for kernels that have both (5.17 on).
    pub comm_from_task: bool,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            name_prefix: "scry".to_string(),
            start_boot_ns: 0,
            ringbuf_bytes: 1 << 20,
            ncpus: 1,
            max_map_keys: 4096,
            pid_filter: None,
            stack_mode: scry_lang::types::StackMode::Bpftrace,
            helper_checks: 0,
            str_trailer: "..".to_string(),
            license: "GPL".to_string(),
            max_cat_bytes: 10240,
            first_record: 0,
            shared: false,
            boot_to_tai_ns: 0,
            pid_ns: None,
            comm_from_task: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{probe}: the program needs {needed} bytes of stack; the kernel allows {STACK_LIMIT}")]
    StackLimit {
        probe: String,
        needed: u32,
        span: Span,
    },
    #[error("{probe}: the program is too large for a jump to reach across it")]
    JumpTooFar { probe: String, span: Span },
    #[error("{probe}: a value here is too far into its memory for an instruction to reach (more than 32767 bytes)")]
    OffsetTooLarge { probe: String, span: Span },
    #[error("{probe}: the program needs {needed} bytes of working memory; at most {SCRATCH_LIMIT} are possible")]
    ScratchLimit {
        probe: String,
        needed: u32,
        span: Span,
    },
    #[error("{probe}: cannot generate code for this yet: {what}")]
    Unsupported {
        probe: String,
        what: String,
        span: Span,
    },
}

impl CompileError {
    pub fn span(&self) -> Span {
        match self {
            CompileError::StackLimit { span, .. }
            | CompileError::ScratchLimit { span, .. }
            | CompileError::JumpTooFar { span, .. }
            | CompileError::OffsetTooLarge { span, .. }
            | CompileError::Unsupported { span, .. } => *span,
        }
    }
}

/// The largest per-CPU scratch area a program may use (the kernel's limit on per-CPU values).
pub const SCRATCH_LIMIT: u32 = 32 * 1024;

/// Key count slots of a shared module's `Module::COUNTS`: one per map, by map index.
pub const SHARED_COUNT_SLOTS: u32 = 1024;

/// Whether any probe of the program reads `comm` (for which `CompileOptions::comm_from_task`
/// matters).
pub fn reads_comm(program: &typed::Program) -> bool {
    program.probes.iter().any(|p| strings::comm_uses(p) > 0)
}

/// Compiles every probe of a checked program into one module.
pub fn compile(program: &typed::Program, options: &CompileOptions) -> Result<Module, CompileError> {
    let fixed = |name: &str, kind, key_size, value_size, max_entries| MapSpec {
        name: name.into(),
        kind,
        key_size,
        value_size,
        max_entries,
    };
    let counted = if options.shared {
        SHARED_COUNT_SLOTS
    } else {
        program.maps.iter().filter(|m| m.counted).count() as u32
    };
    let mut module = Module {
        programs: Vec::new(),
        // The order matches `Module::EVENTS`, `SCRATCH`, `ZERO`, `LOST`, `COUNTS`, `WAKE` and
        // `STOP`.
        maps: vec![
            fixed("scry_events", MapKind::RingBuf, 0, 0, options.ringbuf_bytes),
            fixed("scry_scratch", MapKind::PerCpuArray, 4, 8, 1),
            fixed("scry_zero", MapKind::Array, 4, 8, 1),
            fixed("scry_lost", MapKind::PerCpuArray, 4, 8, 1),
            fixed("scry_counts", MapKind::Array, 4, 8, counted.max(1)),
            fixed("scry_wake", MapKind::PerCpuArray, 4, 8, 1),
            fixed("scry_stop", MapKind::Globals, 4, 8, 1),
        ],
        records: Vec::new(),
        user_maps: Vec::new(),
        stack_mode: options.stack_mode,
        str_trailer: options.str_trailer.clone(),
        license: options.license.clone(),
        max_cat_bytes: options.max_cat_bytes,
        first_record: options.first_record,
    };
    let mut next_counter = 0;
    // A session's later modules may use its maps in other ways: they stay hashes there.
    let in_arrays = if options.shared {
        vec![false; program.maps.len()]
    } else {
        aggregations::in_arrays(program)
    };
    for (index, decl) in program.maps.iter().enumerate() {
        let keys = crate::module::fields(&mut module, &decl.keys);
        let key_size: u32 = keys.iter().map(|f| f.kind.size()).sum();
        let value = module.value_layout(&decl.value);
        let lru = decl.storage.is_some_and(|s| s.lru);
        let kind = match (decl.value.is_aggregation(), lru) {
            _ if in_arrays[index] => MapKind::PerCpuArray,
            (true, false) => MapKind::PerCpuHash,
            (true, true) => MapKind::LruPerCpuHash,
            (false, false) => MapKind::Hash,
            (false, true) => MapKind::LruHash,
        };
        let (key_size, max_entries) = if in_arrays[index] {
            // Index 0 (the zero key slot's first 4 bytes).
            (4, 1)
        } else {
            (
                key_size.max(8),
                decl.storage.map_or(options.max_map_keys, |s| s.max_entries),
            )
        };
        module.maps.push(MapSpec {
            name: kernel_map_name(index, &decl.name),
            kind,
            key_size,
            value_size: value.size(),
            max_entries,
        });
        let counter = if options.shared {
            // Within the slots: a session of more maps than that has no `len()` past them.
            (index < SHARED_COUNT_SLOTS as usize).then_some(index as u32)
        } else {
            decl.counted.then(|| {
                next_counter += 1;
                next_counter - 1
            })
        };
        module.user_maps.push(UserMap {
            decl: decl.clone(),
            map: crate::module::MapId(module.maps.len() - 1),
            keys,
            value,
            counter,
        });
    }
    for (index, probe) in program.probes.iter().enumerate() {
        let name = format!("{}_{index}", options.name_prefix);
        let prog = Lowerer::new(probe, options, &mut module).lower(name)?;
        module.programs.push(prog);
    }
    Ok(module)
}

/// A kernel map name for a script map: unique, at most 15 bytes of `[A-Za-z0-9_]`.
fn kernel_map_name(index: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    let mut out = format!("m{index}_{clean}");
    out.truncate(15);
    out
}

enum Loc {
    Reg(Reg),
    Stack(i16),
}

/// Where a string is written: a base pointer plus a constant offset.
#[derive(Clone, Copy)]
pub(crate) struct Dst {
    base: Base,
    off: i32,
}

impl Dst {
    /// The place `off` bytes further on.
    fn at(self, off: u32) -> Dst {
        Dst {
            base: self.base,
            off: self.off + off as i32,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    /// A pointer held in the temporary at this depth (a ring buffer record).
    Temp(usize),
    /// The per-CPU scratch area.
    Scratch,
    /// The program's stack frame (r10).
    Frame,
}

const TEMP_REGS: [Reg; 3] = [Reg::R6, Reg::R7, Reg::R8];
const CTX: Reg = Reg::R9;

pub(crate) struct Lowerer<'a> {
    probe: &'a typed::Probe,
    options: &'a CompileOptions,
    module: &'a mut Module,
    asm: Asm,
    /// Bytes of stack in use below r10.
    frame: u32,
    /// Bytes of stack that stay in use to the program's end (`alloc_kept`): a statement's
    /// own slots are given back when it ends, down to here.
    frame_kept: u32,
    /// The most bytes of stack in use at any point: the frame's size.
    frame_peak: u32,
    /// Stack slots of temporaries past the registers, by depth.
    temp_slots: Vec<i16>,
    /// Per variable: a stack slot (integers) or an offset in the scratch area (strings).
    var_slots: Vec<i32>,
    /// Stack slot holding the scratch area's address.
    scratch_slot: i16,
    /// The prologue's lookup of the scratch area, taken out again if nothing used it.
    scratch_lookup: std::ops::Range<usize>,
    /// Whether any code addresses the scratch area.
    scratch_used: bool,
    /// Bytes of the scratch area in use.
    scratch_bytes: u32,
    /// A stack slot holding 0: the key of every single-entry array map.
    zero_key: i16,
    /// The stack slot `submit` keeps the time in, made on first use (one for the program).
    submit_slot: Option<i16>,
    ret: Label,
    /// The enclosing loops, innermost last.
    loops: Vec<control::LoopLabels>,
    /// The first temporary statements may use: 0, or above the temporaries of the expression
    /// whose `{ …; v }` block is being lowered, which hold values still needed after it.
    base: usize,
    /// Every variable lives in the scratch area, where `for` callbacks reach it.
    vars_in_scratch: bool,
    /// `for` bodies that run as callbacks, emitted as subprograms after the program.
    callbacks: Vec<control::Callback>,
    /// The stack slot `comm` is read into once, at the start, when the probe uses it more
    /// than once (each read is a helper call).
    comm_slot: Option<i16>,
    /// The stack slot holding the current task's address (`bpf_get_current_task_btf`), when
    /// `comm` was read once from it.
    task_slot: Option<i16>,
    /// The scratch area records are built in (`output::record_area`): offset and bytes.
    record_area: Option<(i32, u32)>,
    /// Whether a record is being built there now.
    record_busy: bool,
}

impl<'a> Lowerer<'a> {
    fn new(probe: &'a typed::Probe, options: &'a CompileOptions, module: &'a mut Module) -> Self {
        let mut asm = Asm::default();
        let ret = asm.new_label();
        Lowerer {
            probe,
            options,
            module,
            asm,
            frame: 0,
            frame_kept: 0,
            frame_peak: 0,
            temp_slots: Vec::new(),
            var_slots: Vec::new(),
            scratch_slot: 0,
            scratch_lookup: 0..0,
            scratch_used: false,
            scratch_bytes: 0,
            zero_key: 0,
            submit_slot: None,
            ret,
            loops: Vec::new(),
            base: 0,
            vars_in_scratch: control::has_callbacks(probe),
            callbacks: Vec::new(),
            comm_slot: None,
            task_slot: None,
            record_area: None,
            record_busy: false,
        }
    }

    fn unsupported(&self, what: impl Into<String>, span: Span) -> CompileError {
        CompileError::Unsupported {
            probe: self.probe.resolved.name.clone(),
            what: what.into(),
            span,
        }
    }

    fn lower(mut self, name: String) -> Result<Program, CompileError> {
        self.asm.span = self.probe.attach_span;
        self.asm.emit(Insn::mov64_reg(CTX, Reg::R1));
        if !self.probe.resolved.program.runs.once() {
            // Stopped (`Module::STOP`): return before doing anything.
            self.asm.ld_map(Reg::R0, Module::STOP);
            self.asm.emit(Insn::ldx(Size::DW, Reg::R0, Reg::R0, 0));
            let ret = self.ret;
            self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, ret);
        }
        self.prologue();
        if let Some(off) = self.probe.resolved.ends_on_null {
            let off = self.asm.off16(off as i64);
            self.asm.emit(Insn::ldx(Size::DW, Reg::R0, CTX, off));
            let ret = self.ret;
            self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, ret);
        }
        let once = self.probe.resolved.program.runs.once();
        if let (Some(pid), false) = (self.options.pid_filter, once) {
            self.asm.emit(Insn::call(Helper::GetCurrentPidTgid));
            self.asm.emit(Insn::alu64_imm(Alu::Rsh, Reg::R0, 32));
            let ret = self.ret;
            self.asm.jmp_imm(Cond::Ne, Reg::R0, pid as i32, ret);
        }
        // Read once for every use; not where callbacks run, which have frames of their own.
        if !self.vars_in_scratch && strings::comm_uses(self.probe) > 1 {
            self.read_comm_once();
        }
        if let Some(pred) = &self.probe.predicate {
            self.asm.span = pred.span;
            self.eval_int(pred, 0)?;
            let r = self.fetch(0, Reg::R0);
            let ret = self.ret;
            self.asm.jmp_imm(Cond::Eq, r, 0, ret);
        }
        self.stmts(&self.probe.body)?;
        self.asm.span = self.probe.attach_span;
        let ret = self.ret;
        self.asm.bind(ret);
        self.asm.emit(Insn::mov64_imm(Reg::R0, 0));
        self.asm.emit(Insn::exit());
        // A program that never used the scratch area does without looking it up (a helper
        // call on every event).
        if self.scratch_bytes == 0 && !self.scratch_used && self.callbacks.is_empty() {
            self.asm.remove(self.scratch_lookup.clone());
        }
        // In the order they are referenced, as the loader links them.
        while !self.callbacks.is_empty() {
            let callback = self.callbacks.remove(0);
            // A callback may run while the program builds a record: its own area.
            self.record_area = None;
            self.callback(callback)?;
        }
        if self.scratch_bytes > SCRATCH_LIMIT {
            return Err(CompileError::ScratchLimit {
                probe: self.probe.resolved.name.clone(),
                needed: self.scratch_bytes,
                span: self.probe.attach_span,
            });
        }
        let scratch = &mut self.module.maps[Module::SCRATCH.0];
        scratch.value_size = scratch.value_size.max(self.scratch_bytes);
        if self.frame_peak > STACK_LIMIT {
            return Err(CompileError::StackLimit {
                probe: self.probe.resolved.name.clone(),
                needed: self.frame_peak,
                span: self.probe.attach_span,
            });
        }
        let probe_name = self.probe.resolved.name.clone();
        let assembled = self.asm.finish().map_err(|e| match e {
            AsmError::JumpTooFar { span } => CompileError::JumpTooFar {
                probe: probe_name.clone(),
                span,
            },
            AsmError::OffsetTooLarge { span } => CompileError::OffsetTooLarge {
                probe: probe_name.clone(),
                span,
            },
        })?;
        let mut subprograms: Vec<usize> = assembled.func_loads.iter().map(|(_, t)| *t).collect();
        subprograms.sort_unstable();
        subprograms.dedup();
        let func_loads = assembled
            .func_loads
            .into_iter()
            .map(|(slot, target)| (slot, subprograms.binary_search(&target).unwrap_or(0)))
            .collect();
        Ok(Program {
            name,
            probe: probe_name,
            provider: self.probe.resolved.provider,
            kind: self.probe.resolved.program.clone(),
            attach: self.probe.resolved.attach.clone(),
            insns: assembled.insns,
            spans: assembled.spans,
            map_loads: assembled.map_loads,
            subprograms,
            func_loads,
            kernel_fields: assembled.kernel_fields,
            attach_span: self.probe.attach_span,
        })
    }

    /// Sets up what the body relies on: a zero key slot, the scratch area's address, and
    /// variables (integers in zeroed stack slots, since the verifier refuses reads of unwritten
    /// stack; strings in the scratch area).
    fn prologue(&mut self) {
        self.zero_key = self.alloc(8);
        self.asm
            .emit(Insn::st_imm(Size::DW, Reg::FP, self.zero_key, 0));
        for var in &self.probe.vars {
            if !in_register(&var.ty) || self.vars_in_scratch {
                let off = self.scratch_alloc(var.ty.slot_size().max(8));
                self.var_slots.push(off);
            } else {
                let slot = self.alloc(8);
                self.asm.emit(Insn::st_imm(Size::DW, Reg::FP, slot, 0));
                self.var_slots.push(i32::from(slot));
            }
        }
        let start = self.asm.position();
        self.array_lookup(Module::SCRATCH);
        let ret = self.ret;
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, ret);
        self.scratch_slot = self.alloc(8);
        self.asm
            .emit(Insn::stx(Size::DW, Reg::FP, self.scratch_slot, Reg::R0));
        self.scratch_lookup = start..self.asm.position();
    }

    /// `r0 = &map[0]` for a single-entry array map (may be NULL to the verifier).
    fn array_lookup(&mut self, map: crate::module::MapId) {
        self.asm.ld_map(Reg::R1, map);
        self.asm.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
        self.asm
            .emit(Insn::alu64_imm(Alu::Add, Reg::R2, i32::from(self.zero_key)));
        self.asm
            .emit(Insn::call(crate::insn::Helper::MapLookupElem));
    }

    /// Memory for a value built now (a map key, a string compared), zeroed: small ones on the
    /// stack while it has room, so that a program whose values are all small needs no scratch area
    /// (whose lookup is a helper call on every event); others in the scratch area.
    fn temporary(&mut self, bytes: u32) -> Dst {
        /// The largest value put on the stack, and how large the frame may grow with them (the
        /// rest of the kernel's 512 bytes is left to everything else).
        const ON_STACK: u32 = 64;
        const FRAME_FOR_TEMPORARIES: u32 = 160;
        let bytes = bytes.saturating_add(7) & !7;
        if bytes <= ON_STACK && self.frame + bytes <= FRAME_FOR_TEMPORARIES {
            // Zeroed: the verifier refuses reads of stack bytes never written, and a value
            // may be written shorter than its slot (a string) and then read or copied whole.
            let off = self.alloc(bytes);
            for i in 0..bytes as i16 / 8 {
                self.asm
                    .emit(Insn::st_imm(Size::DW, Reg::FP, off + i * 8, 0));
            }
            Dst {
                base: Base::Frame,
                off: i32::from(off),
            }
        } else {
            Dst {
                base: Base::Scratch,
                off: self.scratch_alloc(bytes),
            }
        }
    }

    /// Reserves `bytes` (rounded to 8) of the scratch area; returns their offset.
    fn scratch_alloc(&mut self, bytes: u32) -> i32 {
        self.scratch_used = true;
        let off = self.scratch_bytes;
        // Saturating: the total is checked against SCRATCH_LIMIT once the program is complete.
        self.scratch_bytes = self
            .scratch_bytes
            .saturating_add(bytes.saturating_add(7) & !7);
        off as i32
    }

    /// Reserves `bytes` (rounded to 8) of stack; returns the offset from r10. Overflow is
    /// reported once the program is complete.
    fn alloc(&mut self, bytes: u32) -> i16 {
        self.frame = self.frame.saturating_add(bytes.saturating_add(7) & !7);
        self.frame_peak = self.frame_peak.max(self.frame);
        -(self.frame.min(32767) as i16)
    }

    /// Like `alloc`, for a slot kept to the program's end (one that later statements reuse,
    /// such as `comm` read once): statements ending do not give it back.
    fn alloc_kept(&mut self, bytes: u32) -> i16 {
        let slot = self.alloc(bytes);
        self.frame_kept = self.frame_kept.max(self.frame);
        slot
    }

    // ---- temporaries ---------------------------------------------------------------------------

    fn temp(&mut self, depth: usize) -> Loc {
        if let Some(r) = TEMP_REGS.get(depth) {
            return Loc::Reg(*r);
        }
        let i = depth - TEMP_REGS.len();
        while self.temp_slots.len() <= i {
            let slot = self.alloc_kept(8);
            self.temp_slots.push(slot);
        }
        Loc::Stack(self.temp_slots[i])
    }

    /// A register holding the temporary at `depth`: its own, or `scratch` loaded from the stack.
    fn fetch(&mut self, depth: usize, scratch: Reg) -> Reg {
        match self.temp(depth) {
            Loc::Reg(r) => r,
            Loc::Stack(off) => {
                self.asm.emit(Insn::ldx(Size::DW, scratch, Reg::FP, off));
                scratch
            }
        }
    }

    /// Like `fetch`, but the value ends up in exactly `reg`.
    fn fetch_into(&mut self, depth: usize, reg: Reg) {
        let r = self.fetch(depth, reg);
        if r != reg {
            self.asm.emit(Insn::mov64_reg(reg, r));
        }
    }

    /// Stores `src` as the temporary at `depth`.
    fn set_temp(&mut self, depth: usize, src: Reg) {
        match self.temp(depth) {
            Loc::Reg(r) => {
                if r != src {
                    self.asm.emit(Insn::mov64_reg(r, src));
                }
            }
            Loc::Stack(off) => self.asm.emit(Insn::stx(Size::DW, Reg::FP, off, src)),
        }
    }

    /// The register to compute the temporary at `depth` in: its own, or r0 (then `set_temp`).
    fn work_reg(&mut self, depth: usize) -> Reg {
        match self.temp(depth) {
            Loc::Reg(r) => r,
            Loc::Stack(_) => Reg::R0,
        }
    }

    // ---- statements ----------------------------------------------------------------------------

    /// Lowers a block; returns true when it always ends the program (`exit()` on every path).
    /// Statements after that point are never reached and are not emitted: the verifier rejects
    /// unreachable instructions.
    fn stmts(&mut self, stmts: &[typed::Stmt]) -> Result<bool, CompileError> {
        for s in stmts {
            if self.stmt(s)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Lowers a statement; the stack it used for itself is free again after it (a probe of
    /// thousands of statements needs no more stack than its largest one).
    fn stmt(&mut self, stmt: &typed::Stmt) -> Result<bool, CompileError> {
        let frame = self.frame;
        let ends = self.stmt_in_frame(stmt);
        self.frame = frame.max(self.frame_kept);
        ends
    }

    fn stmt_in_frame(&mut self, stmt: &typed::Stmt) -> Result<bool, CompileError> {
        self.asm.span = stmt.span;
        match &stmt.kind {
            StmtKind::Expr(e) => {
                // Only evaluated for effects; a bare string has none.
                if e.ty.is_scalar() {
                    self.eval_int(e, self.base)?;
                }
            }
            StmtKind::ZeroVar(var) => {
                // Every byte of the slot: an integer, an empty string, a zeroed tuple.
                let ty = self.probe.vars[var.0].ty.clone();
                let dst = self.var_dst(*var);
                self.asm.emit(Insn::mov64_imm(Reg::R2, 0));
                let words = if in_register(&ty) {
                    1
                } else {
                    ty.slot_size().div_ceil(8)
                };
                for i in 0..words {
                    self.store_word(dst.at(i * 8), Reg::R2);
                }
            }
            StmtKind::Assign { var, value } => {
                let ty = self.probe.vars[var.0].ty.clone();
                let dst = self.var_dst(*var);
                self.write_value(value, &ty, dst, self.base)?;
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                let else_label = self.asm.new_label();
                let end = self.asm.new_label();
                self.eval_int(cond, self.base)?;
                let r = self.fetch(self.base, Reg::R0);
                self.asm.jmp_imm(Cond::Eq, r, 0, else_label);
                let then_ends = self.stmts(then)?;
                if !otherwise.is_empty() && !then_ends {
                    self.asm.ja(end);
                }
                self.asm.bind(else_label);
                let else_ends = self.stmts(otherwise)?;
                self.asm.bind(end);
                return Ok(then_ends && else_ends);
            }
            StmtKind::Block(body) => return self.stmts(body),
            StmtKind::Printf { format, args } => {
                self.printf(format, args, crate::module::Sink::Output, self.base)?
            }
            StmtKind::Debugf { format, args } => self.debugf(format, args)?,
            StmtKind::Exit { code } => {
                self.exit(code.as_ref(), self.base)?;
                let ret = self.ret;
                self.asm.ja(ret);
                return Ok(true);
            }
            StmtKind::MapAssign { map, keys, value } => self.map_assign(*map, keys, value)?,
            StmtKind::Aggregate { map, keys, value } => {
                self.aggregate(*map, keys, value.as_ref())?
            }
            StmtKind::Delete { map, keys } => self.map_delete(*map, keys, self.base, false)?,
            StmtKind::MapOp { map, op } => self.map_op(*map, op, self.base)?,
            StmtKind::While { cond, body } => self.while_loop(cond, body)?,
            StmtKind::ForRange {
                var,
                start,
                end,
                body,
            } => self.for_range(*var, start, end, body)?,
            StmtKind::ForMap { var, map, body } => self.for_map(*var, *map, body)?,
            StmtKind::Unroll { count, body } => {
                for _ in 0..*count {
                    if self.stmts(body)? {
                        return Ok(true);
                    }
                }
            }
            StmtKind::Break | StmtKind::Continue => {
                self.loop_jump(matches!(stmt.kind, StmtKind::Break));
                return Ok(true);
            }
            StmtKind::Return(value) => {
                if let Some(v) = value {
                    self.eval_int(v, self.base)?;
                }
                let ret = self.ret;
                self.asm.ja(ret);
                return Ok(true);
            }
            StmtKind::Signal(sig) => {
                self.eval_int(sig, self.base)?;
                self.fetch_into(self.base, Reg::R1);
                self.asm.emit(Insn::call(crate::insn::Helper::SendSignal));
            }
            StmtKind::Async(op) => self.async_op(op, self.base)?,
        }
        Ok(false)
    }

    /// The statements of a `{ …; v }` block evaluated at `depth`: they use the temporaries from
    /// `depth` on, so the enclosing expression's (a reserved record, a left operand) survive.
    fn block_stmts(
        &mut self,
        stmts: &[typed::Stmt],
        depth: usize,
        span: Span,
    ) -> Result<(), CompileError> {
        let saved = std::mem::replace(&mut self.base, depth);
        let ends = self.stmts(stmts);
        self.base = saved;
        if ends? {
            return Err(self.unsupported("a value after `exit()`", span));
        }
        Ok(())
    }

    // ---- integer expressions -------------------------------------------------------------------

    /// Evaluates an integer (or pointer) expression into the temporary at `depth`, as a 64-bit
    /// value sign- or zero-extended from its type.
    fn eval_int(&mut self, e: &typed::Expr, depth: usize) -> Result<(), CompileError> {
        let saved = std::mem::replace(&mut self.asm.span, e.span);
        match &e.kind {
            ExprKind::Int(v) => {
                let r = self.work_reg(depth);
                self.asm.mov_const(r, *v);
                self.set_temp(depth, r);
            }
            ExprKind::Builtin(b) => {
                self.builtin_int(*b, e.span)?;
                self.set_temp(depth, Reg::R0);
            }
            ExprKind::StackLen { user, limit } => {
                self.stack_len(*user, *limit);
                self.set_temp(depth, Reg::R0);
            }
            ExprKind::Now(clock) => {
                self.now(*clock);
                self.set_temp(depth, Reg::R0);
            }
            ExprKind::NsPid { thread } => {
                self.ns_pid(*thread);
                self.set_temp(depth, Reg::R0);
            }
            ExprKind::AddrOf(inner) => {
                let at = match inner.kind {
                    ExprKind::Var(id) => self.var_dst(id),
                    _ => {
                        let at = self.in_memory(inner, depth)?;
                        // The address may be kept in a variable: the value's stack stays in
                        // use after this statement.
                        self.frame_kept = self.frame_kept.max(self.frame);
                        at
                    }
                };
                let r = self.work_reg(depth);
                self.dst_into(at, r);
                self.set_temp(depth, r);
            }
            ExprKind::Context => {
                let r = self.work_reg(depth);
                self.asm.emit(Insn::mov64_reg(r, CTX));
                self.set_temp(depth, r);
            }
            ExprKind::AttachCookie => {
                self.asm.emit(Insn::mov64_reg(Reg::R1, CTX));
                self.asm.emit(Insn::call(Helper::GetAttachCookie));
                self.set_temp(depth, Reg::R0);
            }
            ExprKind::Var(id) => {
                let r = self.work_reg(depth);
                self.load_word(self.var_dst(*id), r);
                self.set_temp(depth, r);
            }
            ExprKind::Arg(field) => {
                let r = self.work_reg(depth);
                self.load_arg_int(field, &e.ty, r, e.span)?;
                self.set_temp(depth, r);
            }
            ExprKind::Unary { op, operand } => {
                self.eval_int(operand, depth)?;
                let r = self.fetch(depth, Reg::R0);
                match op {
                    UnaryOp::Neg => self.asm.emit(Insn::neg64(r)),
                    UnaryOp::BitNot => self.asm.emit(Insn::alu64_imm(Alu::Xor, r, -1)),
                    UnaryOp::Not => {
                        self.set_bool(r, |asm, r, yes| asm.jmp_imm(Cond::Eq, r, 0, yes))
                    }
                    // The checker turns these into loads and addresses.
                    UnaryOp::Deref | UnaryOp::AddrOf => {
                        return Err(self.unsupported(format!("`{}` here", op.symbol()), e.span))
                    }
                }
                self.set_temp(depth, r);
            }
            ExprKind::Binary {
                op,
                lhs,
                rhs,
                signed,
            } => self.binary(*op, lhs, rhs, *signed, depth)?,
            ExprKind::MapRead { map, keys } => self.map_read_int(*map, keys, depth)?,
            ExprKind::HasKey { map, keys } => self.has_key(*map, keys, depth)?,
            ExprKind::Len(map) => self.len(*map, depth),
            ExprKind::Stack => self.stack_id(&e.ty, depth),
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => self.ternary_int(cond, then, otherwise, depth)?,
            ExprKind::Block { stmts, value } => {
                self.block_stmts(stmts, depth, e.span)?;
                self.eval_int(value, depth)?;
            }
            ExprKind::Cast(inner) => self.cast(inner, &e.ty, depth)?,
            ExprKind::Bswap(inner) => {
                self.eval_int(inner, depth)?;
                let r = self.fetch(depth, Reg::R0);
                let bits = e.ty.as_int().map_or(64, |i| i32::from(i.bits));
                if bits > 8 {
                    self.asm.emit(Insn::bswap(r, bits));
                }
                self.set_temp(depth, r);
            }
            ExprKind::Load { addr, space } => self.load_int(addr, *space, &e.ty, depth)?,
            ExprKind::StrEq { lhs, rhs, limit } => self.str_eq(lhs, rhs, *limit, depth)?,
            ExprKind::StrLen(s) => self.str_len(s, depth)?,
            ExprKind::StrContains {
                haystack,
                needle,
                position,
            } => self.str_contains(haystack, needle, *position, depth)?,
            ExprKind::StrIndex { string, index } => self.str_index(string, *index, depth)?,
            ExprKind::ElementAt { value, index, len } => {
                self.element_at(value, index, *len, &e.ty, depth)?
            }
            ExprKind::TupleGet { .. } => self.tuple_get_int(e, depth)?,
            ExprKind::BytesEq { lhs, rhs } => self.bytes_eq(lhs, rhs, depth)?,
            ExprKind::Delete { map, keys } => self.map_delete(*map, keys, depth, true)?,
            ExprKind::Find { map, keys, var } => self.map_find(*map, keys, *var, depth)?,
            ExprKind::Str(_)
            | ExprKind::ReadStr { .. }
            | ExprKind::Tuple(_)
            | ExprKind::Bytes(_)
            | ExprKind::Format { .. } => {
                return Err(self.unsupported(format!("a {} used as an integer", e.ty), e.span));
            }
        }
        self.asm.span = saved;
        Ok(())
    }

    /// Ends a test whose code jumps to `no` or `yes`: 0 or 1 into the temporary at `depth`.
    fn bool_from(&mut self, no: Label, yes: Label, depth: usize) {
        let w = self.work_reg(depth);
        let end = self.asm.new_label();
        self.asm.bind(no);
        self.asm.emit(Insn::mov64_imm(w, 0));
        self.asm.ja(end);
        self.asm.bind(yes);
        self.asm.emit(Insn::mov64_imm(w, 1));
        self.asm.bind(end);
        self.set_temp(depth, w);
    }

    /// `r = cond ? 1 : 0`, where `jump_if` emits a jump to its label when the condition holds.
    fn set_bool(&mut self, r: Reg, jump_if: impl FnOnce(&mut Asm, Reg, Label)) {
        let yes = self.asm.new_label();
        let end = self.asm.new_label();
        jump_if(&mut self.asm, r, yes);
        self.asm.emit(Insn::mov64_imm(r, 0));
        self.asm.ja(end);
        self.asm.bind(yes);
        self.asm.emit(Insn::mov64_imm(r, 1));
        self.asm.bind(end);
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &typed::Expr,
        rhs: &typed::Expr,
        signed: bool,
        depth: usize,
    ) -> Result<(), CompileError> {
        if op.is_logical() {
            // Short-circuit: the right side runs only when it decides the result.
            let done = self.asm.new_label();
            let end = self.asm.new_label();
            let decided = if op == BinaryOp::LogAnd {
                Cond::Eq
            } else {
                Cond::Ne
            };
            self.eval_int(lhs, depth)?;
            let r = self.fetch(depth, Reg::R0);
            self.asm.jmp_imm(decided, r, 0, done);
            self.eval_int(rhs, depth)?;
            let r = self.fetch(depth, Reg::R0);
            self.asm.jmp_imm(decided, r, 0, done);
            let w = self.work_reg(depth);
            self.asm
                .emit(Insn::mov64_imm(w, i32::from(op == BinaryOp::LogAnd)));
            self.asm.ja(end);
            self.asm.bind(done);
            self.asm
                .emit(Insn::mov64_imm(w, i32::from(op != BinaryOp::LogAnd)));
            self.asm.bind(end);
            self.set_temp(depth, w);
            return Ok(());
        }
        self.eval_int(lhs, depth)?;
        // A constant right-hand side that fits an immediate needs no temporary.
        let imm = match rhs.kind {
            ExprKind::Int(v) => i32::try_from(v as i64).ok(),
            _ => None,
        };
        let b = match imm {
            Some(_) => None,
            None => {
                self.eval_int(rhs, depth + 1)?;
                Some(self.fetch(depth + 1, Reg::R1))
            }
        };
        let a = self.fetch(depth, Reg::R0);
        if op.is_comparison() {
            let cond = comparison(op, signed);
            self.set_bool(a, |asm, a, yes| match (b, imm) {
                (Some(b), _) => asm.jmp_reg(cond, a, b, yes),
                (None, Some(imm)) => asm.jmp_imm(cond, a, imm, yes),
                (None, None) => unreachable!("a right-hand side is a register or an immediate"),
            });
        } else if let (Some(b), BinaryOp::Div | BinaryOp::Rem) = (b, op) {
            // As bpftrace defines it: dividing by zero gives 1, with a warning.
            let alu = arithmetic(op, signed);
            let nonzero = self.asm.new_label();
            let done = self.asm.new_label();
            self.asm.jmp_imm(Cond::Ne, b, 0, nonzero);
            self.divided_by_zero(depth + 2)?;
            self.asm.emit(Insn::mov64_imm(a, 1));
            self.asm.ja(done);
            self.asm.bind(nonzero);
            self.asm.emit(Insn::alu64_reg(alu, a, b));
            self.asm.bind(done);
        } else {
            let alu = arithmetic(op, signed);
            match (imm, b) {
                (Some(0), _) if matches!(op, BinaryOp::Div | BinaryOp::Rem) => {
                    self.divided_by_zero(depth + 1)?;
                    self.asm.emit(Insn::mov64_imm(a, 1))
                }
                (_, Some(b)) => self.asm.emit(Insn::alu64_reg(alu, a, b)),
                (Some(imm), None) => self.asm.emit(Insn::alu64_imm(alu, a, imm)),
                (None, None) => unreachable!("a right-hand side is a register or an immediate"),
            }
        }
        self.set_temp(depth, a);
        Ok(())
    }

    /// The run-time warning of a division or remainder by zero, at the operation's span, as
    /// bpftrace words it; temporaries from `depth` up are free (the caller's are not kept).
    fn divided_by_zero(&mut self, depth: usize) -> Result<(), CompileError> {
        let text = b"Divide or modulo by 0 detected. This can lead to unexpected results. 1 is being used as the result.";
        let format = scry_lang::printf::Format {
            segments: vec![scry_lang::printf::Segment::Text(text.to_vec())],
        };
        let sink = crate::module::Sink::Message {
            error: false,
            span: self.asm.span,
            location: None,
        };
        self.printf(&format, &[], sink, depth)
    }

    /// Where a variable's value is: a stack slot, or its place in the scratch area.
    fn var_dst(&self, id: typed::VarId) -> Dst {
        let off = self.var_slots[id.0];
        if in_register(&self.probe.vars[id.0].ty) && !self.vars_in_scratch {
            Dst {
                base: Base::Frame,
                off,
            }
        } else {
            Dst {
                base: Base::Scratch,
                off,
            }
        }
    }

    /// `r = *(u64 *)src`.
    fn load_word(&mut self, src: Dst, r: Reg) {
        match src.base {
            Base::Frame => {
                let off = self.asm.off16(src.off);
                self.asm.emit(Insn::ldx(Size::DW, r, Reg::FP, off))
            }
            Base::Scratch => {
                self.asm
                    .emit(Insn::ldx(Size::DW, r, Reg::FP, self.scratch_slot));
                let off = self.asm.off16(src.off);
                self.asm.emit(Insn::ldx(Size::DW, r, r, off));
            }
            Base::Temp(depth) => {
                let base = self.fetch(depth, r);
                let off = self.asm.off16(src.off);
                self.asm.emit(Insn::ldx(Size::DW, r, base, off));
            }
        }
    }

    /// Loads the destination pointer of a string write into `reg`.
    fn dst_into(&mut self, dst: Dst, reg: Reg) {
        match dst.base {
            Base::Temp(depth) => self.fetch_into(depth, reg),
            Base::Scratch => {
                self.asm
                    .emit(Insn::ldx(Size::DW, reg, Reg::FP, self.scratch_slot));
            }
            Base::Frame => self.asm.emit(Insn::mov64_reg(reg, Reg::FP)),
        }
        if dst.off != 0 {
            self.asm.emit(Insn::alu64_imm(Alu::Add, reg, dst.off));
        }
    }

    /// Computes an integer builtin into r0.
    fn builtin_int(&mut self, b: Builtin, span: Span) -> Result<(), CompileError> {
        match b {
            Builtin::Pid | Builtin::Tid | Builtin::Uid | Builtin::Gid | Builtin::Cpu => {
                self.process_int(b)
            }
            Builtin::Nsecs | Builtin::Elapsed => self.time_int(b),
            Builtin::Curtask => self.asm.emit(Insn::call(Helper::GetCurrentTask)),
            Builtin::Rand => self.asm.emit(Insn::call(Helper::GetPrandomU32)),
            Builtin::Jiffies => self.asm.emit(Insn::call(Helper::GetJiffies64)),
            Builtin::Cgroup => self.asm.emit(Insn::call(Helper::GetCurrentCgroupId)),
            Builtin::Numaid => self.asm.emit(Insn::call(Helper::GetNumaNodeId)),
            Builtin::Ncpus => self
                .asm
                .emit(Insn::mov64_imm(Reg::R0, self.options.ncpus as i32)),
            Builtin::Comm => return Err(self.unsupported("comm used as an integer", span)),
        }
        Ok(())
    }

    fn add_record(&mut self, layout: RecordLayout) -> u32 {
        self.module.records.push(layout);
        self.module.first_record + (self.module.records.len() - 1) as u32
    }
}

/// Whether values of this type live in registers (and 8-byte stack slots) rather than in
/// memory (the scratch area, records, map values).
pub(crate) fn in_register(ty: &Type) -> bool {
    ty.is_scalar() || matches!(ty, Type::Stack { .. })
}

fn comparison(op: BinaryOp, signed: bool) -> Cond {
    match (op, signed) {
        (BinaryOp::Eq, _) => Cond::Eq,
        (BinaryOp::Ne, _) => Cond::Ne,
        (BinaryOp::Lt, false) => Cond::Lt,
        (BinaryOp::Lt, true) => Cond::SLt,
        (BinaryOp::Le, false) => Cond::Le,
        (BinaryOp::Le, true) => Cond::SLe,
        (BinaryOp::Gt, false) => Cond::Gt,
        (BinaryOp::Gt, true) => Cond::SGt,
        (BinaryOp::Ge, false) => Cond::Ge,
        (BinaryOp::Ge, true) => Cond::SGe,
        _ => unreachable!("not a comparison: {op:?}"),
    }
}

fn arithmetic(op: BinaryOp, signed: bool) -> Alu {
    match (op, signed) {
        (BinaryOp::Add, _) => Alu::Add,
        (BinaryOp::Sub, _) => Alu::Sub,
        (BinaryOp::Mul, _) => Alu::Mul,
        (BinaryOp::Div, false) => Alu::Div,
        (BinaryOp::Div, true) => Alu::SDiv,
        (BinaryOp::Rem, false) => Alu::Mod,
        (BinaryOp::Rem, true) => Alu::SMod,
        (BinaryOp::BitAnd, _) => Alu::And,
        (BinaryOp::BitOr, _) => Alu::Or,
        (BinaryOp::BitXor, _) => Alu::Xor,
        (BinaryOp::Shl, _) => Alu::Lsh,
        (BinaryOp::Shr, false) => Alu::Rsh,
        (BinaryOp::Shr, true) => Alu::Arsh,
        _ => unreachable!("not arithmetic: {op:?}"),
    }
}
