//! Values that live in memory rather than registers (strings, tuples): writing them to a
//! destination, and finding where a variable's value already is.

use super::{in_register, Base, CompileError, Dst, Lowerer};
use crate::insn::{Helper, Insn, Reg, Size};
use scry_lang::typed::{AsyncOp, Expr, ExprKind};
use scry_lang::types::{tuple_offsets, Type};

impl Lowerer<'_> {
    /// Writes the value of `e`, as type `ty` lays it out, to `dst`.
    pub(super) fn write_value(
        &mut self,
        e: &Expr,
        ty: &Type,
        dst: Dst,
        depth: usize,
    ) -> Result<(), CompileError> {
        if in_register(ty) {
            self.eval_int(e, depth)?;
            let v = self.fetch(depth, Reg::R2);
            self.dst_into(dst, Reg::R1);
            self.asm.emit(Insn::stx(Size::DW, Reg::R1, 0, v));
            return Ok(());
        }
        match (ty, &e.kind) {
            (Type::Str(cap), _) => self.write_str(e, dst, *cap, depth),
            (Type::Tuple(elems), ExprKind::Tuple(items)) => {
                let (offsets, _) = tuple_offsets(elems);
                for ((item, ty), off) in items.iter().zip(elems).zip(offsets) {
                    let at = Dst {
                        base: dst.base,
                        off: dst.off + off as i32,
                    };
                    self.write_value(item, ty, at, depth)?;
                }
                Ok(())
            }
            _ => match self.place(e) {
                Some(src) => {
                    self.dst_into(src, Reg::R3);
                    self.dst_into(dst, Reg::R1);
                    self.asm
                        .emit(Insn::mov64_imm(Reg::R2, ty.slot_size() as i32));
                    self.asm.emit(Insn::call(Helper::ProbeReadKernel));
                    Ok(())
                }
                None => Err(self.unsupported(format!("a value of type {ty} here"), e.span)),
            },
        }
    }

    /// Where a memory value already is: a variable's scratch slot, or an element of one.
    pub(super) fn place(&self, e: &Expr) -> Option<Dst> {
        match &e.kind {
            ExprKind::Var(id) if !in_register(&self.probe.vars[id.0].ty) => Some(Dst {
                base: Base::Scratch,
                off: self.var_slots[id.0],
            }),
            ExprKind::TupleGet { tuple, index } => {
                let Type::Tuple(elems) = &tuple.ty else {
                    return None;
                };
                let base = self.place(tuple)?;
                let (offsets, _) = tuple_offsets(elems);
                Some(Dst {
                    base: base.base,
                    off: base.off + offsets[*index] as i32,
                })
            }
            _ => None,
        }
    }

    /// An integer element of a tuple, into the temporary at `depth`.
    pub(super) fn tuple_get_int(&mut self, e: &Expr, depth: usize) -> Result<(), CompileError> {
        let src = self
            .place(e)
            .ok_or_else(|| self.unsupported("this tuple element", e.span))?;
        let w = self.work_reg(depth);
        self.dst_into(src, Reg::R1);
        self.asm.emit(Insn::ldx(Size::DW, w, Reg::R1, 0));
        self.set_temp(depth, w);
        Ok(())
    }

    /// Output that userspace produces.
    pub(super) fn async_op(&mut self, op: &AsyncOp, _depth: usize) -> Result<(), CompileError> {
        let (what, span) = match op {
            AsyncOp::Print(e) => ("print() of a value", e.span),
            AsyncOp::Time(_) => ("time()", self.asm.span),
            AsyncOp::Join { argv, .. } => ("join()", argv.span),
            AsyncOp::Cat { .. } => ("cat()", self.asm.span),
            AsyncOp::System { .. } => ("system()", self.asm.span),
            AsyncOp::Message { span, .. } => ("errorf()/warnf()", *span),
        };
        Err(self.unsupported(what, span))
    }
}
