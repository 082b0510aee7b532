//! An instruction buffer with labels: emits instructions tagged with the source span being
//! lowered, resolves forward and backward jumps, and records which slots load a map or take
//! a kernel field's offset.

use crate::insn::{Alu, Cond, Insn, Reg};
use crate::module::{KernelField, MapId};
use scry_lang::ast::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label(usize);

#[derive(Default)]
pub struct Asm {
    insns: Vec<Insn>,
    spans: Vec<Span>,
    /// The span new instructions are attributed to.
    pub span: Span,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
    /// `ld_func` slots and the subprogram each loads.
    func_fixups: Vec<(usize, Label)>,
    map_loads: Vec<(usize, MapId)>,
    /// `kernel_field` slots and the field whose offset the kernel writes into each.
    kernel_fields: Vec<(usize, KernelField)>,
    /// The first place an instruction's offset did not fit its 16 bits.
    offset_overflow: Option<Span>,
}

/// What a finished buffer yields.
pub struct Assembled {
    pub insns: Vec<Insn>,
    /// The span of each instruction.
    pub spans: Vec<Span>,
    pub map_loads: Vec<(usize, MapId)>,
    /// `ld_func` slots with the slot of the subprogram each loads.
    pub func_loads: Vec<(usize, usize)>,
    pub kernel_fields: Vec<(usize, KernelField)>,
}

/// What cannot be encoded: a jump, or a memory offset, beyond the 16-bit offset field.
#[derive(Debug)]
pub enum AsmError {
    JumpTooFar { span: Span },
    OffsetTooLarge { span: Span },
}

impl Asm {
    pub fn emit(&mut self, insn: Insn) {
        self.insns.push(insn);
        self.spans.push(self.span);
    }
    pub fn emit_all(&mut self, insns: impl IntoIterator<Item = Insn>) {
        for i in insns {
            self.emit(i);
        }
    }
    pub fn new_label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    /// Places `label` at the next instruction.
    pub fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }
    pub fn jmp_imm(&mut self, cond: Cond, reg: Reg, imm: i32, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::jmp_imm(cond, reg, imm, 0));
    }
    pub fn jmp_reg(&mut self, cond: Cond, a: Reg, b: Reg, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::jmp_reg(cond, a, b, 0));
    }
    pub fn ja(&mut self, to: Label) {
        self.fixups.push((self.insns.len(), to));
        self.emit(Insn::ja(0));
    }
    pub fn ld_map(&mut self, dst: Reg, map: MapId) {
        self.map_loads.push((self.insns.len(), map));
        self.emit_all(Insn::ld_map(dst));
    }
    /// `dst = &subprogram` for the subprogram starting at `label`.
    pub fn ld_func(&mut self, dst: Reg, label: Label) {
        self.func_fixups.push((self.insns.len(), label));
        self.emit_all(Insn::ld_func(dst, 0));
    }
    /// `ptr += offsetof(field)`, for `ptr` pointing to the field's struct: the kernel writes
    /// the offset its own types give when it loads the program (a CO-RE relocation).
    pub fn kernel_field(&mut self, ptr: Reg, field: KernelField) {
        self.kernel_fields.push((self.insns.len(), field));
        self.emit(Insn::alu64_imm(Alu::Add, ptr, 0));
    }
    /// `off` as an instruction's 16-bit memory offset. One that does not fit is reported by
    /// `finish`, located at the code being lowered; 0 stands in for it meanwhile.
    pub fn off16(&mut self, off: impl TryInto<i16>) -> i16 {
        off.try_into().unwrap_or_else(|_| {
            self.offset_overflow.get_or_insert(self.span);
            0
        })
    }

    /// The slot the next instruction goes to.
    pub fn position(&self) -> usize {
        self.insns.len()
    }

    /// Takes out the instructions of slots `range` (code that turned out not to be needed),
    /// with their jumps and map loads; labels and loads after them move up. No jump from
    /// outside may land inside it.
    pub fn remove(&mut self, range: std::ops::Range<usize>) {
        let len = range.len();
        let moved = |at: usize| if at >= range.end { at - len } else { at };
        self.insns.drain(range.clone());
        self.spans.drain(range.clone());
        for l in self.labels.iter_mut().flatten() {
            *l = if range.contains(l) {
                range.start
            } else {
                moved(*l)
            };
        }
        for list in [&mut self.fixups, &mut self.func_fixups] {
            list.retain(|(at, _)| !range.contains(at));
            for (at, _) in list.iter_mut() {
                *at = moved(*at);
            }
        }
        self.map_loads.retain(|(at, _)| !range.contains(at));
        for (at, _) in self.map_loads.iter_mut() {
            *at = moved(*at);
        }
        self.kernel_fields.retain(|(at, _)| !range.contains(at));
        for (at, _) in self.kernel_fields.iter_mut() {
            *at = moved(*at);
        }
    }

    /// `dst = value`, in one slot when the value fits a sign-extended 32-bit immediate.
    pub fn mov_const(&mut self, dst: Reg, value: u64) {
        match i32::try_from(value as i64) {
            Ok(imm) => self.emit(Insn::mov64_imm(dst, imm)),
            Err(_) => self.emit_all(Insn::ld_imm64(dst, value)),
        }
    }

    pub fn finish(mut self) -> Result<Assembled, AsmError> {
        if let Some(span) = self.offset_overflow {
            return Err(AsmError::OffsetTooLarge { span });
        }
        for (at, label) in std::mem::take(&mut self.fixups) {
            let target = self.labels[label.0].expect("every label used by a jump is bound");
            let off = target as i64 - at as i64 - 1;
            self.insns[at].off = i16::try_from(off).map_err(|_| AsmError::JumpTooFar {
                span: self.spans[at],
            })?;
        }
        let mut func_loads = Vec::new();
        for (at, label) in std::mem::take(&mut self.func_fixups) {
            let target = self.labels[label.0].expect("every subprogram is bound");
            self.insns[at].imm = (target as i64 - at as i64 - 1) as i32;
            func_loads.push((at, target));
        }
        Ok(Assembled {
            insns: self.insns,
            spans: self.spans,
            map_loads: self.map_loads,
            func_loads,
            kernel_fields: self.kernel_fields,
        })
    }
}
