//! Maps: keys built in the scratch area, plain assignments and reads, `delete`, `has_key`,
//! `len`, and the map functions userspace carries out (`clear`, `zero`, `print`).

use super::{in_register, Base, CompileError, Dst, Lowerer};
use crate::insn::{Alu, Cond, Helper, Insn, Reg, Size};
use crate::module::{MapOpKind, Module, RecordLayout, UserMap};
use scry_lang::typed::{Expr, MapId, MapOp, MapValue};

/// `BPF_NOEXIST`: insert only when the key is new.
pub(super) const BPF_NOEXIST: i32 = 1;

/// Strings up to this size are zeroed with stores; longer ones by copying from `scry_zero`.
const ZERO_WITH_STORES: u32 = 128;

impl Lowerer<'_> {
    pub(super) fn user_map(&self, id: MapId) -> UserMap {
        self.module.user_maps[id.0].clone()
    }

    /// Builds the key of `map` for `keys` and returns where it is. Temporaries from `depth`
    /// up are free to use.
    pub(super) fn build_key(
        &mut self,
        map: &UserMap,
        keys: &[Expr],
        depth: usize,
    ) -> Result<Dst, CompileError> {
        if map.keys.is_empty() {
            // A scalar map's key: the 8 zero bytes of the zero key slot.
            return Ok(Dst {
                base: Base::Frame,
                off: i32::from(self.zero_key),
            });
        }
        let size: u32 = map.keys.iter().map(|f| f.kind.size()).sum();
        let key = self.temporary(size);
        for ((field, e), ty) in map.keys.iter().zip(keys).zip(&map.decl.keys) {
            let at = key.at(field.offset);
            if !field.kind.is_word() && key.base == Base::Scratch {
                // Keys compare as bytes: what the value leaves unwritten must be zeros (a
                // temporary on the stack is zeroed already).
                self.zero(at, field.kind.size());
            }
            self.write_value(e, ty, at, depth)?;
        }
        Ok(key)
    }

    /// Zeroes `bytes` (a multiple of 8) at `dst`.
    fn zero(&mut self, dst: Dst, bytes: u32) {
        if bytes <= ZERO_WITH_STORES {
            self.dst_into(dst, Reg::R1);
            for i in 0..bytes / 8 {
                let off = self.asm.off16(i * 8);
                self.asm.emit(Insn::st_imm(Size::DW, Reg::R1, off, 0));
            }
            return;
        }
        let zero = &mut self.module.maps[Module::ZERO.0];
        zero.value_size = zero.value_size.max(bytes);
        self.array_lookup(Module::ZERO);
        // The lookup of index 0 cannot fail; the check is for the verifier. Skipping the copy,
        // not returning, keeps a ring buffer record being written from leaking.
        let done = self.asm.new_label();
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, done);
        self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        self.dst_into(dst, Reg::R1);
        self.asm.emit(Insn::mov64_imm(Reg::R2, bytes as i32));
        self.asm.emit(Insn::call(Helper::ProbeReadKernel));
        self.asm.bind(done);
    }

    /// `r0 = lookup(map, key)`.
    pub(super) fn lookup(&mut self, map: &UserMap, key: Dst) {
        self.asm.ld_map(Reg::R1, map.map);
        self.dst_into(key, Reg::R2);
        self.asm.emit(Insn::call(Helper::MapLookupElem));
    }

    /// Adds `delta` to the key count of a map `len()` is used on.
    pub(super) fn count_keys(&mut self, map: &UserMap, delta: i32) {
        let Some(slot) = map.counter else { return };
        let skip = self.asm.new_label();
        self.counts_lookup(slot);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, skip);
        self.asm.emit(Insn::mov64_imm(Reg::R1, delta));
        self.asm.emit(Insn::atomic_add64(Reg::R0, 0, Reg::R1));
        self.asm.bind(skip);
    }

    /// `r0 = &scry_counts[slot]` (may be NULL to the verifier).
    fn counts_lookup(&mut self, slot: u32) {
        let key = self.alloc(8);
        self.asm
            .emit(Insn::st_imm(Size::DW, Reg::FP, key, slot as i32));
        self.asm.ld_map(Reg::R1, Module::COUNTS);
        self.asm.emit(Insn::mov64_reg(Reg::R2, Reg::FP));
        self.asm
            .emit(Insn::alu64_imm(Alu::Add, Reg::R2, i32::from(key)));
        self.asm.emit(Insn::call(Helper::MapLookupElem));
    }

    /// `@m[keys] = value` for plain integers and strings.
    pub(super) fn map_assign(
        &mut self,
        id: MapId,
        keys: &[Expr],
        value: &Expr,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let value_at = match &map.decl.value {
            MapValue::Str(cap) => {
                let at = Dst {
                    base: Base::Scratch,
                    off: self.scratch_alloc(scry_lang::types::str_slot(*cap)),
                };
                self.write_str(value, at, *cap, self.base)?;
                at
            }
            MapValue::Stored(ty) if !in_register(ty) => {
                let at = Dst {
                    base: Base::Scratch,
                    off: self.scratch_alloc(ty.slot_size()),
                };
                self.write_value(value, ty, at, self.base)?;
                at
            }
            _ => {
                self.eval_int(value, self.base)?;
                let slot = self.alloc(8);
                let v = self.fetch(self.base, Reg::R0);
                self.asm.emit(Insn::stx(Size::DW, Reg::FP, slot, v));
                Dst {
                    base: Base::Frame,
                    off: i32::from(slot),
                }
            }
        };
        let key = self.build_key(&map, keys, self.base)?;
        let update = |me: &mut Self, flags: i32| {
            me.asm.ld_map(Reg::R1, map.map);
            me.dst_into(key, Reg::R2);
            me.dst_into(value_at, Reg::R3);
            me.asm.emit(Insn::mov64_imm(Reg::R4, flags));
            if flags == BPF_NOEXIST {
                // An existing key is no failure: the update that follows handles it.
                me.asm.emit(Insn::call(Helper::MapUpdateElem));
            } else {
                me.call_checked(Helper::MapUpdateElem, None);
            }
        };
        if map.counter.is_some() {
            // Insert first, so a new key is counted; update when it exists.
            let existed = self.asm.new_label();
            let done = self.asm.new_label();
            update(self, BPF_NOEXIST);
            self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, existed);
            self.count_keys(&map, 1);
            self.asm.ja(done);
            self.asm.bind(existed);
            update(self, 0);
            self.asm.bind(done);
        } else {
            update(self, 0);
        }
        Ok(())
    }

    /// `delete(@m, key)`
    /// `delete(@m, key)`, with temporaries from `depth` free; as a value, whether the key was
    /// there, into the temporary at `depth`.
    pub(super) fn map_delete(
        &mut self,
        id: MapId,
        keys: &[Expr],
        depth: usize,
        as_value: bool,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let key = self.build_key(&map, keys, depth)?;
        self.asm.ld_map(Reg::R1, map.map);
        self.dst_into(key, Reg::R2);
        self.asm.emit(Insn::call(Helper::MapDeleteElem));
        let result = as_value.then(|| {
            let slot = self.alloc(8);
            self.asm.emit(Insn::stx(Size::DW, Reg::FP, slot, Reg::R0));
            slot
        });
        if map.counter.is_some() {
            let missing = self.asm.new_label();
            self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, missing);
            self.count_keys(&map, -1);
            self.asm.bind(missing);
        }
        if let Some(slot) = result {
            let w = self.work_reg(depth);
            self.asm.emit(Insn::ldx(Size::DW, w, Reg::FP, slot));
            self.set_bool(w, |asm, r, yes| asm.jmp_imm(Cond::Eq, r, 0, yes));
            self.set_temp(depth, w);
        }
        Ok(())
    }

    /// `clear(@m)`, `zero(@m)`, `print(@m, top, div)`: a record for userspace to act on.
    pub(super) fn map_op(
        &mut self,
        id: MapId,
        op: &MapOp,
        depth: usize,
    ) -> Result<(), CompileError> {
        let kind = match op {
            MapOp::Clear => MapOpKind::Clear,
            MapOp::Zero => MapOpKind::Zero,
            MapOp::Print { .. } => MapOpKind::Print,
        };
        let record = self.add_record(RecordLayout::MapOp {
            map: id.0,
            op: kind,
        });
        let skip = self.asm.new_label();
        self.reserve(24, record, depth, skip);
        let (top, div) = match op {
            MapOp::Print { top, div } => (top.as_deref(), div.as_deref()),
            _ => (None, None),
        };
        for (offset, arg, default) in [(8, top, 0), (16, div, 1)] {
            match arg {
                Some(e) => {
                    self.eval_int(e, depth + 1)?;
                    let v = self.fetch(depth + 1, Reg::R2);
                    let rec = self.fetch(depth, Reg::R1);
                    self.asm.emit(Insn::stx(Size::DW, rec, offset, v));
                }
                None => {
                    let rec = self.fetch(depth, Reg::R1);
                    self.asm.emit(Insn::st_imm(Size::DW, rec, offset, default));
                }
            }
        }
        self.submit(depth);
        self.asm.bind(skip);
        Ok(())
    }

    /// `@m[keys]` as an integer into the temporary at `depth`: zero when the key is missing.
    pub(super) fn map_read_int(
        &mut self,
        id: MapId,
        keys: &[Expr],
        depth: usize,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let key = self.build_key(&map, keys, depth)?;
        if map.decl.value.is_aggregation() {
            return self.read_aggregation(&map, key, depth);
        }
        let w = self.work_reg(depth);
        let missing = self.asm.new_label();
        let done = self.asm.new_label();
        self.lookup(&map, key);
        self.asm.emit(Insn::mov64_reg(w, Reg::R0));
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, missing);
        self.asm.emit(Insn::ldx(Size::DW, w, Reg::R0, 0));
        if self.options.helper_checks >= 2 {
            // A missing key warns (-k); the warning's calls leave `w` to be zeroed again.
            self.asm.ja(done);
            self.asm.bind(missing);
            self.report_missing_element();
            self.asm.emit(Insn::mov64_imm(w, 0));
        } else {
            self.asm.bind(missing);
        }
        self.asm.bind(done);
        self.set_temp(depth, w);
        Ok(())
    }

    /// `@m[keys]` as `size` bytes copied to `dst` (a string's bytes as they are, so one that
    /// filled its capacity stays marked truncated); zeros when the key is missing.
    pub(super) fn map_read_bytes(
        &mut self,
        id: MapId,
        keys: &[Expr],
        dst: Dst,
        size: u32,
        depth: usize,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let key = self.build_key(&map, keys, depth)?;
        let found = self.asm.new_label();
        let done = self.asm.new_label();
        self.lookup(&map, key);
        self.asm.jmp_imm(Cond::Ne, Reg::R0, 0, found);
        self.report_missing_element();
        self.zero(dst, size.next_multiple_of(8));
        self.asm.ja(done);
        self.asm.bind(found);
        self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
        self.dst_into(dst, Reg::R1);
        self.asm.emit(Insn::mov64_imm(Reg::R2, size as i32));
        self.asm.emit(Insn::call(Helper::ProbeReadKernel));
        self.asm.bind(done);
        Ok(())
    }

    /// `find(@m, key, $v)`: 1, with the value copied to `$v`, or 0 when the key is missing.
    pub(super) fn map_find(
        &mut self,
        id: MapId,
        keys: &[Expr],
        var: scry_lang::typed::VarId,
        depth: usize,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let key = self.build_key(&map, keys, depth)?;
        let missing = self.asm.new_label();
        let found = self.asm.new_label();
        self.lookup(&map, key);
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, missing);
        let dst = self.var_dst(var);
        let ty = self.probe.vars[var.0].ty.clone();
        if map.decl.value.is_aggregation() {
            self.read_aggregation(&map, key, depth)?;
            let v = self.fetch(depth, Reg::R2);
            self.store_word(dst, v);
        } else if in_register(&ty) {
            self.asm.emit(Insn::ldx(Size::DW, Reg::R2, Reg::R0, 0));
            self.store_word(dst, Reg::R2);
        } else {
            let size = ty.slot_size().min(self.module.maps[map.map.0].value_size);
            self.asm.emit(Insn::mov64_reg(Reg::R3, Reg::R0));
            self.dst_into(dst, Reg::R1);
            self.asm.emit(Insn::mov64_imm(Reg::R2, size as i32));
            self.asm.emit(Insn::call(Helper::ProbeReadKernel));
        }
        self.asm.ja(found);
        self.bool_from(missing, found, depth);
        Ok(())
    }

    /// `has_key(@m, key)`: 1 or 0.
    pub(super) fn has_key(
        &mut self,
        id: MapId,
        keys: &[Expr],
        depth: usize,
    ) -> Result<(), CompileError> {
        let map = self.user_map(id);
        let key = self.build_key(&map, keys, depth)?;
        self.lookup(&map, key);
        let w = self.work_reg(depth);
        self.asm.emit(Insn::mov64_reg(w, Reg::R0));
        self.set_bool(w, |asm, r, yes| asm.jmp_imm(Cond::Ne, r, 0, yes));
        self.set_temp(depth, w);
        Ok(())
    }

    /// `len(@m)`: the key count kept in `scry_counts`.
    pub(super) fn len(&mut self, id: MapId, depth: usize) {
        let map = self.user_map(id);
        self.counts_lookup(map.counter.expect("len() marks its map counted"));
        let w = self.work_reg(depth);
        let missing = self.asm.new_label();
        self.asm.emit(Insn::mov64_reg(w, Reg::R0));
        self.asm.jmp_imm(Cond::Eq, Reg::R0, 0, missing);
        self.asm.emit(Insn::ldx(Size::DW, w, Reg::R0, 0));
        self.asm.bind(missing);
        self.set_temp(depth, w);
    }
}
