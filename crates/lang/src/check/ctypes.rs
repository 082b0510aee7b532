//! C types a script defines (`struct foo { int a; char name[16]; };`, `enum color { RED };`),
//! laid out as a C compiler lays them out on a 64-bit machine. They are seen before the kernel's
//! BTF: `ScriptTypes` answers for them and passes every other question to the kernel resolver.

use super::MAX_SIZE;
use crate::ast::{CDefinition, CField};
use crate::diagnostic::Diagnostic;
use crate::types::{
    AddrSpace, EnumType, IntType, Member, ProbeResolver, RecordKind, ResolveError, ResolvedProbe,
    Type,
};

struct Record {
    kind: RecordKind,
    name: String,
    size: u32,
    members: Vec<Member>,
}

pub struct ScriptTypes<'a> {
    kernel: &'a dyn ProbeResolver,
    records: Vec<Record>,
    enums: Vec<EnumType>,
}

/// The integer a C type name (or a scry one, or a kernel typedef) stands for.
pub(super) fn c_int(words: &[&str]) -> Option<Type> {
    let int = |bits, signed| Some(Type::Int(IntType { bits, signed }));
    match words.join(" ").as_str() {
        "char" | "signed char" | "int8" | "s8" | "__s8" | "int8_t" => int(8, true),
        "unsigned char" | "uint8" | "u8" | "__u8" | "uint8_t" => int(8, false),
        "short" | "short int" | "signed short" | "int16" | "s16" | "__s16" | "int16_t" => {
            int(16, true)
        }
        "unsigned short" | "unsigned short int" | "uint16" | "u16" | "__u16" | "uint16_t" => {
            int(16, false)
        }
        "int" | "signed" | "signed int" | "int32" | "s32" | "__s32" | "int32_t" => int(32, true),
        "unsigned" | "unsigned int" | "uint32" | "u32" | "__u32" | "uint32_t" => int(32, false),
        "long" | "long int" | "long long" | "long long int" | "signed long" | "int64" | "s64"
        | "__s64" | "int64_t" | "ssize_t" => int(64, true),
        "unsigned long" | "unsigned long int" | "unsigned long long" | "uint64" | "u64"
        | "__u64" | "uint64_t" | "size_t" => int(64, false),
        "bool" | "_Bool" => Some(Type::Bool),
        "void" => Some(Type::Void),
        _ => None,
    }
}

/// A type's alignment: its size for scalars, its element's for arrays, 8 at most.
fn align(ty: &Type) -> u32 {
    match ty {
        Type::Array { elem, .. } => align(elem),
        Type::Record { size, .. } => {
            // A kernel struct's alignment is not in its type here: the largest power of two
            // (up to 8) its size allows.
            [8, 4, 2, 1]
                .into_iter()
                .find(|a| size % a == 0)
                .unwrap_or(1)
        }
        other => other.size().clamp(1, 8),
    }
}

impl<'a> ScriptTypes<'a> {
    /// Lays out the script's definitions in order (a definition may use the ones before it).
    pub fn new(
        defs: &[CDefinition],
        kernel: &'a dyn ProbeResolver,
        diags: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut me = ScriptTypes {
            kernel,
            records: Vec::new(),
            enums: Vec::new(),
        };
        for d in defs {
            match d {
                CDefinition::Enum { name, variants } => {
                    let mut next = 0i64;
                    let variants = variants
                        .iter()
                        .map(|(n, v)| {
                            let value = v.unwrap_or(next);
                            next = value.wrapping_add(1);
                            (n.name.clone(), value)
                        })
                        .collect();
                    me.enums.push(EnumType {
                        name: name.name.clone(),
                        int: IntType::I64,
                        variants,
                    });
                }
                CDefinition::Record {
                    union,
                    name,
                    fields,
                    packed,
                } => {
                    let kind = if *union {
                        RecordKind::Union
                    } else {
                        RecordKind::Struct
                    };
                    if let Some(r) = me.layout(kind, &name.name, fields, *packed, diags) {
                        me.records.push(r);
                    }
                }
            }
        }
        me
    }

    fn field_type(&self, f: &CField, diags: &mut Vec<Diagnostic>) -> Option<Type> {
        let words: Vec<&str> =
            f.ty.iter()
                .map(String::as_str)
                .filter(|w| !matches!(*w, "const" | "volatile"))
                .collect();
        let base = match words.as_slice() {
            [kw @ ("struct" | "union"), name] => {
                let kind = if *kw == "union" {
                    RecordKind::Union
                } else {
                    RecordKind::Struct
                };
                match self.record(kind, name) {
                    Some(r) => r,
                    // Only a pointer may point to a struct nothing describes.
                    None if f.pointers > 0 => Type::Opaque {
                        name: format!("{kw} {name}"),
                        size: 0,
                    },
                    None => {
                        diags.push(Diagnostic::error(
                            f.span,
                            format!("unknown type `{kw} {name}`"),
                        ));
                        return None;
                    }
                }
            }
            ["enum", name] => match self.enumeration(name) {
                Some(e) => Type::Enum(Box::new(e)),
                None => {
                    diags.push(Diagnostic::error(
                        f.span,
                        format!("unknown type `enum {name}`"),
                    ));
                    return None;
                }
            },
            words => match c_int(words) {
                Some(t) => t,
                None => {
                    diags.push(
                        Diagnostic::error(
                            f.span,
                            format!("unknown type `{}`", words.join(" ")),
                        )
                        .with_hint("fields are C integers (int, unsigned long, u32…), bool, pointers, arrays, structs and enums"),
                    );
                    return None;
                }
            },
        };
        let mut ty = base;
        for _ in 0..f.pointers {
            ty = Type::Ptr {
                pointee: Box::new(ty),
                space: AddrSpace::Kernel,
            };
        }
        if ty == Type::Void {
            diags.push(Diagnostic::error(f.span, "a field cannot be void"));
            return None;
        }
        if !f.array.is_empty() {
            let Some(array) = array_of(ty.clone(), &f.array) else {
                diags.push(Diagnostic::error(
                    f.span,
                    format!("{} is larger than 2 GiB", f.name.name),
                ));
                return None;
            };
            ty = array;
        }
        Some(ty)
    }

    fn layout(
        &self,
        kind: RecordKind,
        name: &str,
        fields: &[CField],
        packed: bool,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Record> {
        let mut members = Vec::new();
        let (mut size, mut max_align) = (0u32, 1u32);
        for f in fields {
            let ty = self.field_type(f, diags)?;
            let a = if packed { 1 } else { align(&ty) };
            max_align = max_align.max(a);
            let offset = if kind == RecordKind::Union {
                0
            } else {
                size.next_multiple_of(a)
            };
            let end = u64::from(offset) + u64::from(ty.size());
            if end > MAX_SIZE {
                diags.push(Diagnostic::error(
                    f.span,
                    format!("{} {name} is larger than 2 GiB", kind.keyword()),
                ));
                return None;
            }
            size = size.max(end as u32);
            members.push(Member {
                name: f.name.name.clone(),
                ty,
                offset,
                bitfield: None,
            });
        }
        Some(Record {
            kind,
            name: name.to_string(),
            size: size.next_multiple_of(max_align),
            members,
        })
    }

    fn script_record(&self, kind: RecordKind, name: &str) -> Option<&Record> {
        self.records
            .iter()
            .find(|r| r.kind == kind && r.name == name)
    }
}

/// The script's types first, then the kernel's; everything else is the kernel resolver's (each
/// method of `ProbeResolver` is forwarded: a default here would hide the kernel's answer).
impl ProbeResolver for ScriptTypes<'_> {
    fn resolve(&self, provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        self.kernel.resolve(provider, parts)
    }
    fn join(&self, name: String, probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        self.kernel.join(name, probes)
    }
    fn record(&self, kind: RecordKind, name: &str) -> Option<Type> {
        match self.script_record(kind, name) {
            Some(r) => Some(Type::Record {
                kind,
                name: r.name.clone(),
                size: r.size,
            }),
            None => self.kernel.record(kind, name),
        }
    }
    fn members(&self, kind: RecordKind, name: &str) -> Option<Vec<Member>> {
        match self.script_record(kind, name) {
            Some(r) => Some(r.members.clone()),
            None => self.kernel.members(kind, name),
        }
    }
    fn enum_value(&self, name: &str) -> Option<i64> {
        self.enums
            .iter()
            .flat_map(|e| &e.variants)
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .or_else(|| self.kernel.enum_value(name))
    }
    fn enum_of(&self, enumerator: &str) -> Option<EnumType> {
        self.enums
            .iter()
            .find(|e| e.variants.iter().any(|(n, _)| n == enumerator))
            .cloned()
            .or_else(|| self.kernel.enum_of(enumerator))
    }
    fn enumeration(&self, name: &str) -> Option<EnumType> {
        self.enums
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .or_else(|| self.kernel.enumeration(name))
    }
    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        self.kernel.kernel_symbol(name)
    }
    fn user_symbol(&self, path: &str, name: &str) -> Option<u64> {
        self.kernel.user_symbol(path, name)
    }
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        self.kernel.cgroup_id(path)
    }
    fn providers_of(&self, name: &str) -> Vec<&'static str> {
        self.kernel.providers_of(name)
    }
}

/// `elem` in arrays of these lengths, outermost first (`int[2][3]`: two arrays of three);
/// `None` past 2 GiB.
pub(super) fn array_of(elem: Type, dims: &[u32]) -> Option<Type> {
    let mut ty = elem;
    for &len in dims.iter().rev() {
        if u64::from(ty.size()) * u64::from(len) > MAX_SIZE {
            return None;
        }
        ty = Type::Array {
            elem: Box::new(ty),
            len,
        };
    }
    Some(ty)
}
