//! Output to userspace: `printf` and its kin (`cat`, `system`, `errorf`, `warnf`, `emit`),
//! `print`, `time`, `join` and `exit`, each one ring buffer record reserved, filled in place
//! and submitted; or, for a printf with a string read, built in the scratch area and sent as
//! far as the string reaches (`formatted_record`). Record layout: an 8-byte id (index into
//! `Module::records`), then the fields, each 8-byte aligned.

use super::{Base, CompileError, Dst, Lowerer, SCRATCH_LIMIT};
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::{Field, Module, RecordLayout, Sink};
use scry_lang::printf::Format;
use scry_lang::typed::{AsyncOp, Expr, ExprKind};
use scry_lang::types::Type;

/// How many clock ticks (jiffies: 1 to 10 ms, by the kernel's `HZ`) after waking the reader a
/// CPU submits records without waking it again; the next wakeup comes in the tick after.
pub const WAKE_TICKS: i32 = 1;
/// `bpf_ringbuf_submit` flags and the `bpf_ringbuf_query` of the bytes not yet read.
const BPF_RB_NO_WAKEUP: i32 = 1;
const BPF_RB_FORCE_WAKEUP: i32 = 2;
const BPF_RB_AVAIL_DATA: i32 = 0;

/// The most strings `join()` reads from an array, and the bytes it keeps of each.
pub const JOIN_MAX_ARGS: u32 = 16;
pub const JOIN_ARG_BYTES: u32 = 256;

impl Lowerer<'_> {
    /// `printf` and the functions formatted like it: one record with each argument laid out
    /// as its type says.
    pub(super) fn printf(
        &mut self,
        format: &Format,
        args: &[Expr],
        sink: Sink,
        depth: usize,
    ) -> Result<(), CompileError> {
        let sized = sized_arg(args);
        let fields = self.arg_fields(args, 8, sized);
        let id = self.add_record(RecordLayout::Printf {
            format: format.clone(),
            args: fields.clone(),
            sink,
        });
        self.formatted_record(id, args, &fields, false, sized, depth)
    }

    /// `emit(format, (name = value, …))`: a printf record with the time (`nsecs`) at offset 8.
    fn event(
        &mut self,
        format: &Format,
        names: &[String],
        args: &[Expr],
        depth: usize,
    ) -> Result<(), CompileError> {
        let sized = sized_arg(args);
        let fields = self.arg_fields(args, 16, sized);
        let id = self.add_record(RecordLayout::Event {
            format: format.clone(),
            names: names.to_vec(),
            args: fields.clone(),
        });
        self.formatted_record(id, args, &fields, true, sized, depth)
    }

    /// Where each argument goes in a record, from `start` on, one after another; the `last`
    /// one, if any, after all the others.
    fn arg_fields(&mut self, args: &[Expr], start: u32, last: Option<usize>) -> Vec<Field> {
        let types: Vec<Type> = args.iter().map(|a| a.ty.clone()).collect();
        let mut fields = crate::module::fields(self.module, &types);
        let mut offset = start;
        for (i, f) in fields.iter_mut().enumerate() {
            if Some(i) != last {
                f.offset = offset;
                offset += f.kind.size();
            }
        }
        if let Some(i) = last {
            fields[i].offset = offset;
        }
        fields
    }

    /// Writes record `id`: `args` at `fields` (and the time at offset 8 when `stamped`), and
    /// sends it. Reserved in the ring and filled in place; or, when argument `sized` is a
    /// string read whose field ends the record, built in the scratch area and sent only as
    /// far as the string reaches (`bpf_ringbuf_output` takes a length, the reservation only
    /// a constant): a path of 30 bytes then takes 30 bytes of the ring, not 1,024.
    fn formatted_record(
        &mut self,
        id: u32,
        args: &[Expr],
        fields: &[Field],
        stamped: bool,
        sized: Option<usize>,
        depth: usize,
    ) -> Result<(), CompileError> {
        let start = if stamped { 16 } else { 8 };
        let size = start + fields.iter().map(|f| f.kind.size()).sum::<u32>();
        let area = match sized {
            Some(_) => self.record_area(size),
            None => None,
        };
        let Some(area) = area else {
            let skip = self.asm.new_label();
            self.reserve(size, id, depth, skip);
            if stamped {
                self.asm.emit(Insn::call(Helper::KtimeGetBootNs));
                let rec = self.fetch(depth, Reg::R1);
                self.asm.emit(Insn::stx(Size::DW, rec, 8, Reg::R0));
            }
            let record = Dst {
                base: Base::Temp(depth),
                off: 0,
            };
            for (arg, field) in args.iter().zip(fields) {
                self.write_value(arg, &arg.ty, record.at(field.offset), depth + 1)?;
            }
            self.submit(depth);
            self.asm.bind(skip);
            return Ok(());
        };
        // Records sent from the arguments' `{ …; v }` blocks are built elsewhere, and so is
        // this one when it is such a record itself.
        let was_busy = std::mem::replace(&mut self.record_busy, true);
        self.dst_into(area, Reg::R1);
        self.asm.emit(Insn::st_imm(Size::DW, Reg::R1, 0, id as i32));
        if stamped {
            self.asm.emit(Insn::call(Helper::KtimeGetBootNs));
            self.store_word(area.at(8), Reg::R0);
        }
        let length = self.alloc(8);
        for (i, (arg, field)) in args.iter().zip(fields).enumerate() {
            self.write_value(arg, &arg.ty, area.at(field.offset), depth)?;
            if Some(i) == sized {
                // The helper's count of the bytes it wrote, the NUL included; a failed read
                // leaves the field zeroed, of which the first byte is sent.
                let (read, capped) = (self.asm.new_label(), self.asm.new_label());
                self.asm.jmp_imm(Cond::SGt, Reg::R0, 0, read);
                self.asm.emit(Insn::mov64_imm(Reg::R0, 1));
                self.asm.bind(read);
                let room = field.kind.size() as i32;
                self.asm.jmp_imm(Cond::Le, Reg::R0, room, capped);
                self.asm.emit(Insn::mov64_imm(Reg::R0, room));
                self.asm.bind(capped);
                self.asm
                    .emit(Insn::alu64_imm(Alu::Add, Reg::R0, field.offset as i32));
                self.asm.emit(Insn::stx(Size::DW, Reg::FP, length, Reg::R0));
            }
        }
        self.record_busy = was_busy;
        self.wake_flags();
        self.asm.emit(Insn::mov64_reg(Reg::R4, Reg::R2));
        self.asm.ld_map(Reg::R1, Module::EVENTS);
        self.dst_into(area, Reg::R2);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R3, Reg::FP, length));
        self.asm.emit(Insn::call(Helper::RingbufOutput));
        let sent = self.asm.new_label();
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, sent);
        self.count_lost();
        self.asm.bind(sent);
        Ok(())
    }

    /// The scratch area a record is built in before it is sent: one for every record of the
    /// function (each is sent before the next is built), a larger one from a record that needs
    /// more on, or a fresh one while a record is being built (one sent from its arguments'
    /// `{ …; v }`).
    /// None when the scratch area has no room left.
    fn record_area(&mut self, size: u32) -> Option<Dst> {
        let reuse = match self.record_area {
            Some((off, held)) if !self.record_busy && held >= size => Some(off),
            _ => None,
        };
        let off = match reuse {
            Some(off) => off,
            None => {
                if self.scratch_bytes.saturating_add(size) > SCRATCH_LIMIT / 2 {
                    return None;
                }
                let off = self.scratch_alloc(size);
                if !self.record_busy {
                    self.record_area = Some((off, size));
                }
                off
            }
        };
        Some(Dst {
            base: Base::Scratch,
            off,
        })
    }

    /// Output that userspace produces when the record arrives.
    pub(super) fn async_op(&mut self, op: &AsyncOp, depth: usize) -> Result<(), CompileError> {
        match op {
            AsyncOp::Cat { format, args } => self.printf(format, args, Sink::Cat, depth),
            AsyncOp::System { format, args } => self.printf(format, args, Sink::System, depth),
            AsyncOp::Event {
                format,
                names,
                args,
            } => self.event(format, names, args, depth),
            AsyncOp::Message {
                error,
                span,
                format,
                args,
            } => {
                let sink = Sink::Message {
                    error: *error,
                    span: *span,
                    location: None,
                };
                self.printf(format, args, sink, depth)
            }
            AsyncOp::Print(value) => {
                let kind = self.module.field_kind(&value.ty);
                let size = 8 + kind.size();
                let id = self.add_record(RecordLayout::Print(Field { offset: 8, kind }));
                let skip = self.asm.new_label();
                self.reserve(size, id, depth, skip);
                let at = Dst {
                    base: Base::Temp(depth),
                    off: 8,
                };
                self.write_value(value, &value.ty, at, depth + 1)?;
                self.submit(depth);
                self.asm.bind(skip);
                Ok(())
            }
            AsyncOp::Time(format) => {
                let id = self.add_record(RecordLayout::Time(format.clone()));
                let skip = self.asm.new_label();
                self.reserve(8, id, depth, skip);
                self.submit(depth);
                self.asm.bind(skip);
                Ok(())
            }
            AsyncOp::Join { argv, sep } => self.join(argv, sep, depth),
        }
    }

    /// `join(argv, sep)`: the strings of a NULL-terminated array of string pointers, up to
    /// `JOIN_MAX_ARGS` of them, read into one record.
    fn join(&mut self, argv: &Expr, sep: &str, depth: usize) -> Result<(), CompileError> {
        let id = self.add_record(RecordLayout::Join {
            sep: sep.to_string(),
            max: JOIN_MAX_ARGS,
            cap: JOIN_ARG_BYTES,
        });
        let skip = self.asm.new_label();
        self.reserve(16 + JOIN_MAX_ARGS * JOIN_ARG_BYTES, id, depth, skip);
        let record = Dst {
            base: Base::Temp(depth),
            off: 8,
        };
        self.string_array(argv, record, JOIN_MAX_ARGS, JOIN_ARG_BYTES, depth + 1)?;
        self.submit(depth);
        self.asm.bind(skip);
        Ok(())
    }

    /// Reads the NULL-terminated array of string pointers `argv` (evaluated at `depth`) into
    /// `dst`: the number of strings read as a u64, then up to `max` strings of `cap` bytes
    /// each. Unrolled: no loop for the verifier to bound.
    pub(super) fn string_array(
        &mut self,
        argv: &Expr,
        dst: Dst,
        max: u32,
        cap: u32,
        depth: usize,
    ) -> Result<(), CompileError> {
        let space = match &argv.ty {
            Type::Ptr { space, .. } => *space,
            _ => scry_lang::types::AddrSpace::Unknown,
        };
        let (read, read_str) = (
            super::kernel::read_helper(space),
            super::kernel::read_str_helper(space),
        );
        self.dst_into(dst, Reg::R1);
        self.asm.emit(Insn::st_imm(Size::DW, Reg::R1, 0, 0));
        self.eval_int(argv, depth)?;
        let slot = self.alloc(8);
        let done = self.asm.new_label();
        for i in 0..max {
            // r3 = argv[i], read into the stack slot.
            self.fetch_into(depth, Reg::R3);
            self.asm
                .emit(Insn::alu64_imm(Alu::Add, Reg::R3, (i * 8) as i32));
            self.asm.emit(Insn::mov64_reg(Reg::R1, Reg::FP));
            self.asm
                .emit(Insn::alu64_imm(Alu::Add, Reg::R1, i32::from(slot)));
            self.asm.emit(Insn::mov64_imm(Reg::R2, 8));
            self.asm.emit(Insn::call(read));
            self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, done);
            self.asm.emit(Insn::ldx(Size::DW, Reg::R3, Reg::FP, slot));
            self.asm.jmp_imm(Cond::Eq, Reg::R3, 0, done);
            self.dst_into(dst.at(8 + i * cap), Reg::R1);
            self.asm.emit(Insn::mov64_imm(Reg::R2, cap as i32));
            self.asm.emit(Insn::call(read_str));
            self.dst_into(dst, Reg::R1);
            self.asm
                .emit(Insn::st_imm(Size::DW, Reg::R1, 0, (i + 1) as i32));
        }
        self.asm.bind(done);
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
        self.submit_now(depth);
        self.asm.bind(skip);
        Ok(())
    }

    /// Calls `helper`; with `-k` (map updates) or `-kk` (memory reads), a negative result other
    /// than `expected` sends a warning record with the call's span. r0 keeps the result.
    /// With `-k`, the warning that a map lookup found no element (bpftrace's, for reads of a
    /// missing key); r0–r5 are clobbered.
    pub(super) fn report_missing_element(&mut self) {
        if self.options.helper_checks >= 2 {
            self.helper_error_record(Helper::MapLookupElem, None);
        }
    }

    pub(super) fn call_checked(&mut self, helper: Helper, expected: Option<i32>) {
        self.asm.emit(Insn::call(helper));
        let level = match helper {
            Helper::MapUpdateElem => 1,
            Helper::ProbeRead
            | Helper::ProbeReadUser
            | Helper::ProbeReadKernel
            | Helper::ProbeReadStr
            | Helper::ProbeReadUserStr
            | Helper::ProbeReadKernelStr => 2,
            _ => u8::MAX,
        };
        if self.options.helper_checks < level {
            return;
        }
        let ok = self.asm.new_label();
        self.asm.jmp_imm(Cond::SGe, Reg::R0, 0, ok);
        if let Some(e) = expected {
            self.asm.jmp_imm(Cond::Eq, Reg::R0, e, ok);
        }
        let slot = self.alloc(8);
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, slot, Reg::R0));
        self.helper_error_record(helper, Some(slot));
        self.asm.emit(Insn::ldx(Size::DW, Reg::R0, Reg::FP, slot));
        self.asm.bind(ok);
    }

    /// Sends the record of a helper's failure at this span: its return code from the stack slot
    /// given, or 0 (a lookup that found nothing). r0–r5 are clobbered.
    fn helper_error_record(&mut self, helper: Helper, retcode: Option<i16>) {
        let id = self.add_record(RecordLayout::HelperError {
            helper,
            span: self.asm.span,
            location: None,
        });
        let done = self.asm.new_label();
        self.asm.ld_map(Reg::R1, Module::EVENTS);
        self.asm.emit(Insn::mov64_imm(Reg::R2, 16));
        self.asm.emit(Insn::mov64_imm(Reg::R3, 0));
        self.asm.emit(Insn::call(Helper::RingbufReserve));
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, done);
        self.asm.emit(Insn::st_imm(Size::DW, Reg::R0, 0, id as i32));
        match retcode {
            Some(slot) => {
                self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, slot));
                self.asm.emit(Insn::stx(Size::DW, Reg::R0, 8, Reg::R1));
            }
            None => self.asm.emit(Insn::st_imm(Size::DW, Reg::R0, 8, 0)),
        }
        self.asm.emit(Insn::mov64_reg(Reg::R1, Reg::R0));
        self.asm.emit(Insn::mov64_imm(Reg::R2, 0));
        self.asm.emit(Insn::call(Helper::RingbufSubmit));
        self.asm.bind(done);
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
        self.count_lost();
        self.asm.ja(full);
        self.asm.bind(reserved);
        self.asm.emit(Insn::st_imm(Size::DW, Reg::R0, 0, id as i32));
        self.set_temp(depth, Reg::R0);
    }

    /// A record found no room in the ring: counts the loss in `scry_lost` for userspace to
    /// report (never dropped silently), and goes on after.
    fn count_lost(&mut self) {
        let done = self.asm.new_label();
        self.array_lookup(Module::LOST);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, done);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
        self.asm.emit(Insn::alu64_imm(Alu::Add, Reg::R1, 1));
        self.asm.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
        self.asm.bind(done);
    }

    /// Submits the record at `depth` (the flags are `wake_flags`').
    pub(super) fn submit(&mut self, depth: usize) {
        self.wake_flags();
        self.fetch_into(depth, Reg::R1);
        self.asm.emit(Insn::call(Helper::RingbufSubmit));
    }

    /// Leaves in r2 the flags a record is sent with, which wake the reader only when it is
    /// due: when this CPU has not woken it for more than `WAKE_TICKS`, or when the ring is a
    /// quarter full. Waking
    /// the reader for every record costs an interrupt each (about 15 µs in a virtual machine);
    /// the reader, once woken, looks again a little later for what came meanwhile (`Session`).
    /// The time is the tick count (`bpf_jiffies64`, a load): a clock read costs more here than
    /// the rest of the record. While the reader lags (the ring over a quarter full), every
    /// record wakes it, which also slows the traced program down to what the reader keeps up
    /// with: counting bytes instead, which spares the ring query, lost records at full rate.
    fn wake_flags(&mut self) {
        let now = match self.submit_slot {
            Some(slot) => slot,
            None => {
                let slot = self.alloc_kept(8);
                self.submit_slot = Some(slot);
                slot
            }
        };
        self.asm.emit(Insn::call(Helper::GetJiffies64));
        self.asm.emit(Insn::stx(Size::DW, Reg::FP, now, Reg::R0));
        self.array_lookup(Module::WAKE);
        let (wake, send) = (self.asm.new_label(), self.asm.new_label());
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, wake);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0));
        self.asm.emit(Insn::ldx(Size::DW, Reg::R2, Reg::FP, now));
        self.asm.emit(Insn::alu64_reg(Alu::Sub, Reg::R2, Reg::R1));
        let due = self.asm.new_label();
        self.asm.jmp_imm(Cond::Gt, Reg::R2, WAKE_TICKS, due);
        // Woken lately: only a filling ring wakes it again.
        self.asm.ld_map(Reg::R1, Module::EVENTS);
        self.asm.emit(Insn::mov64_imm(Reg::R2, BPF_RB_AVAIL_DATA));
        self.asm.emit(Insn::call(Helper::RingbufQuery));
        self.asm.emit(Insn::mov64_imm(Reg::R2, BPF_RB_NO_WAKEUP));
        let threshold = (self.options.ringbuf_bytes / 4) as i32;
        self.asm.jmp_imm(Cond::Lt, Reg::R0, threshold, send);
        self.asm.ja(wake);
        self.asm.bind(due);
        self.asm.emit(Insn::ldx(Size::DW, Reg::R1, Reg::FP, now));
        self.asm.emit(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
        self.asm.bind(wake);
        self.asm.emit(Insn::mov64_imm(Reg::R2, BPF_RB_FORCE_WAKEUP));
        self.asm.bind(send);
    }

    /// Submits the record at `depth` and wakes the reader now (`exit()`).
    fn submit_now(&mut self, depth: usize) {
        self.fetch_into(depth, Reg::R1);
        self.asm.emit(Insn::mov64_imm(Reg::R2, BPF_RB_FORCE_WAKEUP));
        self.asm.emit(Insn::call(Helper::RingbufSubmit));
    }
}

/// The argument a record may end with, sent only as far as its string reaches: a string a
/// helper reads (`str()`, a tracepoint's string field), which says how many bytes it wrote;
/// the largest, if several.
fn sized_arg(args: &[Expr]) -> Option<usize> {
    args.iter()
        .enumerate()
        .filter_map(|(i, a)| match (&a.ty, &a.kind) {
            (Type::Str(cap), ExprKind::ReadStr { .. } | ExprKind::Arg(_)) => Some((*cap, i)),
            _ => None,
        })
        .max_by_key(|&(cap, i)| (cap, std::cmp::Reverse(i)))
        .map(|(_, i)| i)
}
