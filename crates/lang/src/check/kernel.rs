//! Kernel data: struct members through pointers (`curtask->real_parent->comm`), `*p`, `&x`,
//! indexing, casts, `sizeof`/`offsetof` and pointer arithmetic. Types come from the caller's
//! `ProbeResolver` (BTF); a member access becomes a `Load` from a computed address, so
//! structs are never copied, only the values read out of them.

use super::{expr, fold, Checker};
use crate::ast::{self, BaseType, BinaryOp, Span, TypeOrExpr};
use crate::diagnostic::nearest;
use crate::typed::{self, ExprKind as T};
use crate::types::{AddrSpace, ContextField, FieldLocation, IntType, Member, RecordKind, Type};

/// A C `char`: arrays of it are strings.
const CHAR: Type = Type::Int(IntType::I8);

impl Checker<'_> {
    /// `base.name` / `base->name` on anything but `args`.
    pub(super) fn member(&mut self, base: typed::Expr, field: &ast::Ident) -> Option<typed::Expr> {
        let span = base.span.to(field.span);
        if let Type::Tuple {
            elems: items,
            names,
        } = &base.ty
        {
            let index = if names.is_empty() {
                field
                    .name
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < items.len())
            } else {
                names.iter().position(|n| *n == field.name)
            };
            let Some(index) = index else {
                let hint = if names.is_empty() {
                    format!("elements are .0 to .{}", items.len().saturating_sub(1))
                } else {
                    let fields: Vec<String> = names.iter().map(|n| format!(".{n}")).collect();
                    format!("its fields are {}", fields.join(", "))
                };
                let message = if names.is_empty() {
                    format!("a {} has no element `{}`", base.ty, field.name)
                } else {
                    // A long record's type says less than its field names, in the hint.
                    let ty = base.ty.to_string();
                    let record = if ty.len() > 60 {
                        "this record".to_string()
                    } else {
                        format!("the record {ty}")
                    };
                    format!("{record} has no field `{}`", field.name)
                };
                let d = self.error(field.span, message).with_hint(hint);
                self.diags.push(d);
                return None;
            };
            // An element of a tuple of constants (`config.max_strlen`) is that constant.
            if let T::Tuple(values) = &base.kind {
                if values
                    .iter()
                    .all(|v| matches!(v.kind, T::Int(_) | T::Str(_)))
                {
                    return Some(typed::Expr {
                        span,
                        ..values[index].clone()
                    });
                }
            }
            let ty = items[index].clone();
            return Some(expr(
                T::TupleGet {
                    tuple: Box::new(base),
                    index,
                },
                ty,
                span,
            ));
        }
        // The record's address: a pointer to it, or where a record member lives.
        let (addr, space, kind, name) = match (&base.ty, &base.kind) {
            (Type::Ptr { pointee, space }, _) => match self.known_record(pointee) {
                Some(Type::Record { kind, name, .. }) => (base.clone(), *space, kind, name),
                _ => return self.no_fields(&base, field),
            },
            (Type::Record { kind, name, .. }, T::Load { addr, space }) => {
                ((**addr).clone(), *space, *kind, name.clone())
            }
            // A struct value of the program's own (`$t = *curtask; $t.pid`): read where it is.
            (Type::Record { kind, name, .. }, _) => {
                let (kind, name) = (*kind, name.clone());
                (
                    own_address(base.clone(), span),
                    AddrSpace::Kernel,
                    kind,
                    name,
                )
            }
            _ => return self.no_fields(&base, field),
        };
        let members = self.resolver.members(kind, &name).unwrap_or_default();
        let Some(m) = members.iter().find(|m| m.name == field.name) else {
            let names = members.iter().map(|m| m.name.as_str());
            let d = self.error(
                field.span,
                format!("{} {name} has no member `{}`", kind.keyword(), field.name),
            );
            let d = match nearest(&field.name, names) {
                Some(n) => d.with_hint(format!("did you mean `{n}`?")),
                None => d,
            };
            self.diags.push(d);
            return None;
        };
        // A member of the program's context is loaded from it directly, as the verifier
        // wants (a perf event's context is not the struct it reads as).
        if let Some(at) = context_offset(&addr) {
            if m.ty.is_scalar() && m.ty.size() <= 8 && m.bitfield.is_none() {
                let offset = at + m.offset;
                let field = ContextField {
                    name: field.name.clone(),
                    ty: m.ty.clone(),
                    location: if offset.is_multiple_of(8) {
                        FieldLocation::Word { offset }
                    } else {
                        FieldLocation::Inline { offset }
                    },
                    c_decl: format!("{} {}", m.ty, field.name),
                };
                return Some(self.context_field(field, span));
            }
        }
        Some(self.read_member(addr, space, m, span))
    }

    fn no_fields(&mut self, base: &typed::Expr, field: &ast::Ident) -> Option<typed::Expr> {
        let d = self.error(field.span, format!("{} has no fields", base.ty));
        let d = match &base.ty {
            Type::Int(_) => d.with_hint(format!(
                "if it is an address, cast it first: `((struct NAME *)…)->{}`",
                field.name
            )),
            _ => d,
        };
        self.diags.push(d);
        None
    }

    /// The value of member `m` of the record at `addr`.
    fn read_member(
        &mut self,
        addr: typed::Expr,
        space: AddrSpace,
        m: &Member,
        span: Span,
    ) -> typed::Expr {
        let at = offset_addr(addr, u64::from(m.offset), m.ty.clone(), space);
        let Some((shift, bits)) = m.bitfield else {
            return load(at, m.ty.clone(), space, span);
        };
        // A bitfield: load the bytes that hold it, shift and mask.
        let bytes = (u32::from(shift) + u32::from(bits))
            .div_ceil(8)
            .next_power_of_two();
        let unit = Type::Int(IntType {
            bits: (bytes * 8) as u8,
            signed: false,
        });
        let word = load(at, unit, space, span);
        let shifted = binary(BinaryOp::Shr, word, int(u64::from(shift), span), span);
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        binary(BinaryOp::BitAnd, shifted, int(mask, span), span)
    }

    /// `*p`
    pub(super) fn deref(&mut self, operand: &ast::Expr, span: Span) -> Option<typed::Expr> {
        let p = self.expr(operand)?;
        match &p.ty {
            Type::Ptr { pointee, space } if **pointee != Type::Void => {
                let (ty, space) = ((**pointee).clone(), *space);
                Some(load(p, ty, space, span))
            }
            other => {
                let d = self
                    .error(
                        operand.span,
                        format!("`*` reads through a pointer, but this is {other}"),
                    )
                    .with_hint("cast an address to a typed pointer first: `*(uint64 *)addr`");
                self.diags.push(d);
                None
            }
        }
    }

    /// `&x`: the address of something in kernel or user memory, or of a value of the
    /// program's own (`&$x`, `&comm`, `&(1, 2)`).
    pub(super) fn address_of(&mut self, operand: &ast::Expr, span: Span) -> Option<typed::Expr> {
        let v = self.expr(operand)?;
        match v.kind {
            T::Load { addr, space } => Some(typed::Expr {
                ty: Type::Ptr {
                    pointee: Box::new(v.ty),
                    space,
                },
                span,
                ..*addr
            }),
            _ if super::storable(&v.ty) || matches!(v.ty, Type::Record { .. }) => {
                Some(own_address(v, span))
            }
            _ => {
                let d = self
                    .error(
                        operand.span,
                        format!("`&` cannot take the address of a {}", v.ty),
                    )
                    .with_hint("as in `&curtask->fs`, `&args.bprm->file` or `&$x`");
                self.diags.push(d);
                None
            }
        }
    }

    /// `base[index]`: a character of a string, an element of a tuple or a kernel array, or
    /// the value a pointer points to at an index.
    pub(super) fn index(
        &mut self,
        base: &ast::Expr,
        index: &ast::Expr,
        span: Span,
    ) -> Option<typed::Expr> {
        let b = self.expr(base);
        let i = self.scalar(index, "an index");
        let (b, i) = (b?, i?);
        let constant = fold(&i);
        match (&b.ty, &b.kind) {
            (Type::Str(_), T::Str(bytes)) if constant.is_some() => {
                let c = constant
                    .and_then(|c| bytes.get(c as usize))
                    .copied()
                    .unwrap_or(0);
                Some(expr(T::Int(u64::from(c)), CHAR, span))
            }
            (Type::Str(cap), _) => match constant {
                Some(c) if (0..i64::from(*cap)).contains(&c) => Some(expr(
                    T::StrIndex {
                        string: Box::new(b),
                        index: c as u32,
                    },
                    CHAR,
                    span,
                )),
                Some(c) => self.bad_index(
                    index.span,
                    &format!("the index {c} is out of bounds for a string[{cap}]"),
                ),
                None => {
                    let len = *cap;
                    Some(element_at(b, i, CHAR, len, span))
                }
            },
            (Type::Tuple { elems: items, .. }, _) => match constant {
                Some(c) if (0..items.len() as i64).contains(&c) => {
                    let ty = items[c as usize].clone();
                    Some(expr(
                        T::TupleGet {
                            tuple: Box::new(b),
                            index: c as usize,
                        },
                        ty,
                        span,
                    ))
                }
                _ => self.bad_index(
                    index.span,
                    "a tuple's index must be a constant within its length",
                ),
            },
            (Type::Array { len, .. }, _)
                if constant.is_some_and(|c| !(0..i64::from(*len)).contains(&c)) =>
            {
                let c = constant.unwrap_or_default();
                self.bad_index(
                    index.span,
                    &format!(
                        "the index {c} is out of bounds for an array of {len} elements ({})",
                        b.ty
                    ),
                )
            }
            (Type::Array { elem, .. }, T::Load { addr, space }) if constant.is_some() => {
                let (elem, space) = ((**elem).clone(), *space);
                let at = offset_addr(
                    (**addr).clone(),
                    constant.unwrap_or_default() as u64 * u64::from(elem.size()),
                    elem.clone(),
                    space,
                );
                Some(load(at, elem, space, span))
            }
            // An element of an array in the probe's record is a field of its own.
            (Type::Array { elem, .. }, T::Arg(field))
                if constant.is_some() && matches!(field.location, FieldLocation::Inline { .. }) =>
            {
                let FieldLocation::Inline { offset } = field.location else {
                    return None;
                };
                let elem = (**elem).clone();
                let at = offset + constant.unwrap_or_default() as u32 * elem.size();
                let field = ContextField {
                    name: format!("{}[{}]", field.name, constant.unwrap_or_default()),
                    ty: elem.clone(),
                    location: FieldLocation::Inline { offset: at },
                    c_decl: field.c_decl.clone(),
                };
                Some(self.context_field(field, span))
            }
            (Type::Array { elem, len }, _) => {
                let (elem, len) = ((**elem).clone(), *len);
                if !elem.is_scalar() && constant.is_none() {
                    return self.bad_index(
                        index.span,
                        &format!("an array of {elem} is indexed by constants only"),
                    );
                }
                Some(element_at(b, i, elem, len, span))
            }
            (Type::Ptr { pointee, space }, _) if **pointee != Type::Void => {
                let (elem, space) = ((**pointee).clone(), *space);
                let scaled = binary(BinaryOp::Mul, i, int(u64::from(elem.size()), span), span);
                let at = binary(BinaryOp::Add, b, scaled, span);
                let at = typed::Expr {
                    ty: Type::Ptr {
                        pointee: Box::new(elem.clone()),
                        space,
                    },
                    ..at
                };
                Some(load(at, elem, space, span))
            }
            (other, _) => {
                let d = self.error(
                    base.span,
                    format!("a value of type {other} cannot be indexed"),
                );
                self.diags.push(d);
                None
            }
        }
    }

    fn bad_index(&mut self, span: Span, msg: &str) -> Option<typed::Expr> {
        let d = self.error(span, msg);
        self.diags.push(d);
        None
    }

    /// The type a type name denotes.
    /// A struct or union read whole, as userspace shows it: its bytes, read back member by
    /// member. Other values are left as they are.
    pub(super) fn record_value(&mut self, e: typed::Expr) -> typed::Expr {
        let Type::Record { kind, name, size } = &e.ty else {
            return e;
        };
        let Some(view) = self.record_view(*kind, name, *size, 0) else {
            return e;
        };
        let kind = crate::types::Formatted::Record(Box::new(view));
        let span = e.span;
        expr(
            T::Format {
                kind: kind.clone(),
                args: vec![e],
            },
            Type::Formatted(kind),
            span,
        )
    }

    fn record_view(
        &self,
        kind: RecordKind,
        name: &str,
        size: u32,
        depth: u32,
    ) -> Option<crate::types::RecordView> {
        let members = self.resolver.members(kind, name)?;
        Some(crate::types::RecordView {
            size,
            members: members
                .into_iter()
                .map(|m| {
                    let v = self.view(&m.ty, m.bitfield, depth);
                    (m.name, m.offset, v)
                })
                .collect(),
        })
    }

    /// How a member of this type shows; records nest at most 8 deep.
    fn view(&self, ty: &Type, bitfield: Option<(u8, u8)>, depth: u32) -> crate::types::View {
        use crate::types::View;
        match ty {
            Type::Int(i) => View::Int {
                bytes: i.bits / 8,
                signed: i.signed,
                bitfield,
            },
            Type::Bool => View::Bool,
            Type::Ptr { .. } => View::Pointer,
            Type::Array { elem, len } if **elem == CHAR => View::Str(*len),
            Type::Array { elem, len } => View::Array {
                elem: Box::new(self.view(elem, None, depth)),
                elem_size: elem.size(),
                len: *len,
            },
            Type::Record { kind, name, size } if depth < 8 => self
                .record_view(*kind, name, *size, depth + 1)
                .map_or(View::Opaque, |v| View::Record(Box::new(v))),
            _ => View::Opaque,
        }
    }

    /// A record type, or an opaque one a tracepoint's `format` names (`const struct
    /// __kernel_timespec`) looked up in BTF.
    fn known_record(&self, ty: &Type) -> Option<Type> {
        match ty {
            Type::Record { .. } => Some(ty.clone()),
            Type::Opaque { name, .. } => {
                let words: Vec<&str> = name
                    .split_whitespace()
                    .filter(|w| !matches!(*w, "const" | "volatile"))
                    .collect();
                let (kind, record) = match words.as_slice() {
                    ["struct", n] => (RecordKind::Struct, *n),
                    ["union", n] => (RecordKind::Union, *n),
                    _ => return None,
                };
                self.resolver.record(kind, record)
            }
            _ => None,
        }
    }

    pub(super) fn type_name(&mut self, t: &ast::TypeName) -> Option<Type> {
        let mut ty = match &t.base {
            BaseType::Scalar(name) => match name.as_str() {
                "bool" => Type::Bool,
                "string" => Type::Str(self.options.max_strlen),
                n => {
                    let signed = !n.starts_with('u');
                    let bits: u8 = n
                        .trim_start_matches("uint")
                        .trim_start_matches("int")
                        .parse()
                        .ok()?;
                    Type::Int(IntType { bits, signed })
                }
            },
            BaseType::Typeof(of) => match &**of {
                ast::TypeOrExpr::Type(t) => self.type_name(t)?,
                // Only the type: the expression is not evaluated.
                ast::TypeOrExpr::Expr(e) => self.expr(e)?.ty,
            },
            BaseType::Record { keyword, name } if keyword == "enum" => {
                match self.resolver.enumeration(name) {
                    Some(e) => Type::Enum(Box::new(e)),
                    None => {
                        let d = self
                            .error(t.span, format!("unknown type `enum {name}`"))
                            .with_hint("kernel enums come from BTF (/sys/kernel/btf/vmlinux)");
                        self.diags.push(d);
                        return None;
                    }
                }
            }
            BaseType::Record { keyword, name } => {
                let kind = if keyword == "union" {
                    RecordKind::Union
                } else {
                    RecordKind::Struct
                };
                match self.resolver.record(kind, name) {
                    Some(r) => r,
                    None => {
                        let d = self
                            .error(t.span, format!("unknown type `{keyword} {name}`"))
                            .with_hint("kernel types come from BTF (/sys/kernel/btf/vmlinux); check the spelling with `scry -lv 'struct NAME'`");
                        self.diags.push(d);
                        return None;
                    }
                }
            }
        };
        for _ in 0..t.pointers {
            ty = Type::Ptr {
                pointee: Box::new(ty),
                space: AddrSpace::Kernel,
            };
        }
        match super::ctypes::array_of(ty, &t.array) {
            Some(ty) => Some(ty),
            None => {
                let d = self.error(t.span, format!("{t} is larger than 2 GiB"));
                self.diags.push(d);
                None
            }
        }
    }

    /// `(type) operand`
    pub(super) fn cast(
        &mut self,
        t: &ast::TypeName,
        operand: &ast::Expr,
        span: Span,
    ) -> Option<typed::Expr> {
        let ty = self.type_name(t);
        let v = self.expr(operand);
        let (mut ty, v) = (ty?, v?);
        // `(int8[])"hello"`: as many elements as the operand's bytes make.
        if let Type::Array { elem, len: 0 } = &ty {
            let n = v.ty.size() / elem.size().max(1);
            ty = Type::Array {
                elem: elem.clone(),
                len: n,
            };
        }
        if let Some(cast) = self.array_cast(ty.clone(), &v, t.span, span) {
            return cast;
        }
        if !v.ty.is_scalar() {
            let d = self.error(operand.span, format!("cannot cast {} to {ty}", v.ty));
            self.diags.push(d);
            return None;
        }
        match ty {
            Type::Bool => Some(binary(BinaryOp::Ne, v, int(0, span), span)),
            Type::Int(_) | Type::Enum(_) => Some(expr(T::Cast(Box::new(v)), ty, span)),
            Type::Ptr { pointee, .. } => {
                // A cast keeps the address space of a pointer it retypes.
                let space = match &v.ty {
                    Type::Ptr { space, .. } => *space,
                    _ => AddrSpace::Kernel,
                };
                Some(expr(
                    T::Cast(Box::new(v)),
                    Type::Ptr { pointee, space },
                    span,
                ))
            }
            other => {
                let hint = match other {
                    Type::Record { .. } => {
                        format!("a struct is reached through a pointer: `({t} *)`")
                    }
                    _ => "casts convert to an integer type, bool, or a pointer type".to_string(),
                };
                let d = self
                    .error(t.span, format!("cannot cast to {other}"))
                    .with_hint(hint);
                self.diags.push(d);
                None
            }
        }
    }

    /// Casts to and from integer arrays: `(uint8[4])x` of an integer of that size (or any
    /// literal that fits), `(int8[8])"abc"` of a string, `(int32)$arr` of an array of that size.
    /// `None` when neither side is an array.
    fn array_cast(
        &mut self,
        ty: Type,
        v: &typed::Expr,
        type_span: Span,
        span: Span,
    ) -> Option<Option<typed::Expr>> {
        let int_array = |t: &Type| matches!(t, Type::Array { elem, .. } if matches!(**elem, Type::Int(_) | Type::Bool));
        let ok = match (&ty, &v.ty) {
            (to, from) if int_array(to) => {
                let size = to.size();
                match from {
                    Type::Int(_) | Type::Bool => {
                        from.size() == size
                            || (matches!(v.kind, T::Int(_)) && matches!(size, 1 | 2 | 4 | 8))
                    }
                    Type::Str(_) => true,
                    Type::Array { .. } => int_array(from) && from.size() == size,
                    _ => false,
                }
            }
            (Type::Array { .. }, _) => false,
            (Type::Int(_), from) if int_array(from) => from.size() == ty.size(),
            (_, Type::Array { .. }) => false,
            _ => return None,
        };
        if !ok {
            let d = self
                .error(type_span, format!("cannot cast {} to {ty}", v.ty))
                .with_hint(
                    "an integer array casts to and from an integer of its size, and from a string",
                );
            self.diags.push(d);
            return Some(None);
        }
        Some(Some(expr(T::Cast(Box::new(v.clone())), ty, span)))
    }

    pub(super) fn size_of(&mut self, of: &TypeOrExpr, span: Span) -> Option<typed::Expr> {
        let ty = match of {
            TypeOrExpr::Type(t) => self.type_name(t)?,
            // A C type's name parses as an identifier: `sizeof(uint64_t)`, `sizeof(size_t)`.
            TypeOrExpr::Expr(e) => match &e.kind {
                ast::ExprKind::Ident(name) if super::ctypes::c_int(&[name]).is_some() => {
                    super::ctypes::c_int(&[name])?
                }
                _ => self.expr(e)?.ty,
            },
        };
        Some(expr(
            T::Int(u64::from(ty.size())),
            Type::Int(IntType::U64),
            span,
        ))
    }

    /// `offsetof(struct X, a.b)`
    pub(super) fn offset_of(
        &mut self,
        of: &TypeOrExpr,
        path: &[ast::Ident],
        span: Span,
    ) -> Option<typed::Expr> {
        let mut ty = match of {
            TypeOrExpr::Type(t) => match &t.base {
                BaseType::Record { keyword, name } if t.pointers == 0 => {
                    let kind = if keyword == "union" {
                        RecordKind::Union
                    } else {
                        RecordKind::Struct
                    };
                    self.resolver.record(kind, name)
                }
                _ => None,
            },
            // Of an expression: its struct's type, or (for a pointer) the struct it points to.
            TypeOrExpr::Expr(e) => match self.expr(e)?.ty {
                Type::Ptr { pointee, .. } if matches!(*pointee, Type::Record { .. }) => {
                    Some(*pointee)
                }
                other => Some(other),
            },
        };
        let mut offset = 0u64;
        for name in path {
            let Some(Type::Record {
                kind, name: rec, ..
            }) = &ty
            else {
                let what = ty
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "this type".into());
                let d = self.error(name.span, format!("{what} has no members"));
                self.diags.push(d);
                return None;
            };
            let members = self.resolver.members(*kind, rec).unwrap_or_default();
            let Some(m) = members.into_iter().find(|m| m.name == name.name) else {
                let d = self.error(
                    name.span,
                    format!("{} {rec} has no member `{}`", kind.keyword(), name.name),
                );
                self.diags.push(d);
                return None;
            };
            offset += u64::from(m.offset);
            ty = Some(m.ty);
        }
        Some(expr(T::Int(offset), Type::Int(IntType::U64), span))
    }

    /// `p + n` / `p - n` on a typed pointer move by whole elements, as in C.
    pub(super) fn pointer_arithmetic(
        &mut self,
        op: BinaryOp,
        l: &typed::Expr,
        r: &typed::Expr,
        span: Span,
    ) -> Option<typed::Expr> {
        let Type::Ptr { pointee, .. } = &l.ty else {
            return None;
        };
        if !matches!(op, BinaryOp::Add | BinaryOp::Sub) || !r.ty.is_int() {
            return None;
        }
        let size = u64::from(pointee.size()).max(1);
        let scaled = if size == 1 {
            r.clone()
        } else {
            binary(BinaryOp::Mul, r.clone(), int(size, span), span)
        };
        let out = binary(op, l.clone(), scaled, span);
        Some(typed::Expr {
            ty: l.ty.clone(),
            ..out
        })
    }

    /// A context field or builtin used as a struct: `curtask->mm`.
    pub(super) fn kernel_pointer(&mut self, record: &str) -> Option<Type> {
        self.resolver
            .record(RecordKind::Struct, record)
            .map(|r| Type::Ptr {
                pointee: Box::new(r),
                space: AddrSpace::Kernel,
            })
    }
}

pub(super) fn int(v: u64, span: Span) -> typed::Expr {
    expr(T::Int(v), Type::Int(IntType::U64), span)
}

pub(super) fn binary(op: BinaryOp, lhs: typed::Expr, rhs: typed::Expr, span: Span) -> typed::Expr {
    let ty = if op.is_comparison() {
        Type::Bool
    } else {
        Type::Int(IntType::U64)
    };
    expr(
        T::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            signed: false,
        },
        ty,
        span,
    )
}

/// `addr + offset`, typed as a pointer to `pointee`.
fn offset_addr(addr: typed::Expr, offset: u64, pointee: Type, space: AddrSpace) -> typed::Expr {
    let span = addr.span;
    let ty = Type::Ptr {
        pointee: Box::new(pointee),
        space,
    };
    if offset == 0 {
        return typed::Expr { ty, ..addr };
    }
    typed::Expr {
        ty,
        ..binary(BinaryOp::Add, addr, int(offset, span), span)
    }
}

/// How far into the program's context an address is, when it is in it (`ctx`, a cast of it,
/// plus constants).
fn context_offset(addr: &typed::Expr) -> Option<u32> {
    match &addr.kind {
        T::Context => Some(0),
        T::Cast(inner) => context_offset(inner),
        T::Binary {
            op: BinaryOp::Add,
            lhs,
            rhs,
            ..
        } => match rhs.kind {
            T::Int(n) => context_offset(lhs)?.checked_add(u32::try_from(n).ok()?),
            _ => None,
        },
        _ => None,
    }
}

/// The address of a value of the program's own, as a kernel pointer.
fn own_address(v: typed::Expr, span: Span) -> typed::Expr {
    let ty = Type::Ptr {
        pointee: Box::new(v.ty.clone()),
        space: AddrSpace::Kernel,
    };
    expr(T::AddrOf(Box::new(v)), ty, span)
}

/// Element `index` of the array or string value `value`.
fn element_at(
    value: typed::Expr,
    index: typed::Expr,
    elem: Type,
    len: u32,
    span: Span,
) -> typed::Expr {
    expr(
        T::ElementAt {
            value: Box::new(value),
            index: Box::new(index),
            len,
        },
        elem,
        span,
    )
}

/// The value of type `ty` at `addr`: char arrays read as strings.
fn load(addr: typed::Expr, ty: Type, space: AddrSpace, span: Span) -> typed::Expr {
    match &ty {
        Type::Array { elem, len } if **elem == CHAR => expr(
            T::ReadStr {
                ptr: Box::new(addr),
                space,
                len: None,
            },
            Type::Str(*len),
            span,
        ),
        _ => expr(
            T::Load {
                addr: Box::new(addr),
                space,
            },
            ty,
            span,
        ),
    }
}
