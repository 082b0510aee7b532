//! The kernel's own type information (`/sys/kernel/btf/vmlinux`): structs, unions, typedefs
//! and enums, turned into the language's `Type`s on demand. Read once, on first use, so
//! scripts that never touch kernel structs do not pay for it.

use scry_lang::types::{AddrSpace, EnumType, IntType, Member, RecordKind, Type};

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// How deep pointer-to-pointer chains are followed when converting a type.
const MAX_DEPTH: u32 = 8;

/// One BTF type record: its header words and where its trailing data starts.
#[derive(Clone, Copy)]
struct RawType {
    name_off: u32,
    info: u32,
    size_or_type: u32,
    data: usize,
}

impl RawType {
    fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    fn kind_flag(&self) -> bool {
        self.info >> 31 != 0
    }
}

pub struct Btf {
    bytes: Vec<u8>,
    strings: usize,
    strings_len: usize,
    /// Indexed by type id; id 0 is `void`.
    types: Vec<RawType>,
    /// The BTF has type tags (a kernel built with clang): `__user` pointers are marked. Without
    /// them (gcc-built kernels, Debian's), a pointer's address space is not known.
    type_tags: bool,
}

/// The kernel's BTF, read the first time anything asks for it.
pub fn vmlinux() -> Option<&'static Btf> {
    static BTF: std::sync::OnceLock<Option<Btf>> = std::sync::OnceLock::new();
    BTF.get_or_init(Btf::load).as_ref()
}

impl Btf {
    pub fn load() -> Option<Btf> {
        Btf::parse(std::fs::read(VMLINUX).ok()?)
    }

    pub fn parse(bytes: Vec<u8>) -> Option<Btf> {
        let u32_at =
            |b: &[u8], o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?));
        if bytes.get(..2)? != [0x9f, 0xeb] {
            return None;
        }
        let hdr_len = u32_at(&bytes, 4)? as usize;
        let type_off = hdr_len + u32_at(&bytes, 8)? as usize;
        let type_len = u32_at(&bytes, 12)? as usize;
        let strings = hdr_len + u32_at(&bytes, 16)? as usize;
        let strings_len = u32_at(&bytes, 20)? as usize;
        let mut types = vec![RawType {
            name_off: 0,
            info: 0,
            size_or_type: 0,
            data: 0,
        }];
        let mut at = type_off;
        while at + 12 <= type_off + type_len {
            let t = RawType {
                name_off: u32_at(&bytes, at)?,
                info: u32_at(&bytes, at + 4)?,
                size_or_type: u32_at(&bytes, at + 8)?,
                data: at + 12,
            };
            let extra = match t.kind() {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * t.vlen(),
                KIND_ENUM | KIND_FUNC_PROTO => 8 * t.vlen(),
                _ => 0,
            };
            at = t.data + extra;
            types.push(t);
        }
        let mut btf = Btf {
            type_tags: false,
            bytes,
            strings,
            strings_len,
            types,
        };
        btf.type_tags = btf
            .types
            .iter()
            .any(|t| t.kind() == KIND_TYPE_TAG && btf.name(t.name_off) == "user");
        Some(btf)
    }

    fn u32_at(&self, o: usize) -> u32 {
        self.bytes
            .get(o..o + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
    }

    fn name(&self, off: u32) -> &str {
        let start = self.strings + off as usize;
        let end = self.strings + self.strings_len;
        let s = self.bytes.get(start..end).unwrap_or(&[]);
        let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
        std::str::from_utf8(s).unwrap_or("")
    }

    /// The id of the struct or union with this name (`#ID` names an anonymous one).
    fn find_record(&self, kind: RecordKind, name: &str) -> Option<usize> {
        if let Some(id) = name.strip_prefix('#') {
            return id.parse().ok();
        }
        let want = match kind {
            RecordKind::Struct => KIND_STRUCT,
            RecordKind::Union => KIND_UNION,
        };
        self.types
            .iter()
            .position(|t| t.kind() == want && t.vlen() > 0 && self.name(t.name_off) == name)
    }

    pub fn record(&self, kind: RecordKind, name: &str) -> Option<Type> {
        let id = self.find_record(kind, name)?;
        Some(self.to_type(id, 0))
    }

    /// Every raw tracepoint the kernel describes (each `btf_trace_EVENT` typedef), sorted, with
    /// its arguments (without the first parameter, the tracepoint's private data): names and
    /// types. The names come from the `__bpf_trace_EVENT` function; its prototype
    /// `btf_trace_EVENT` has only types (then the names are `argN`). One pass over the types.
    pub fn raw_tracepoints(&self) -> Vec<(String, Vec<(String, Type)>)> {
        let mut named = std::collections::HashMap::new();
        let mut typedefs = Vec::new();
        for (id, t) in self.types.iter().enumerate() {
            let name = self.name(t.name_off);
            match t.kind() {
                KIND_FUNC => {
                    if let Some(e) = name.strip_prefix("__bpf_trace_") {
                        named.insert(e, t.size_or_type as usize);
                    }
                }
                KIND_TYPEDEF => {
                    if let Some(e) = name.strip_prefix("btf_trace_") {
                        typedefs.push((e, id));
                    }
                }
                _ => {}
            }
        }
        let mut out: Vec<(String, Vec<(String, Type)>)> = typedefs
            .into_iter()
            .filter_map(|(event, typedef)| {
                let proto = match named.get(event) {
                    Some(p) => *p,
                    None => {
                        let ptr = self.skip_modifiers(typedef);
                        self.types
                            .get(ptr)
                            .filter(|t| t.kind() == KIND_PTR)?
                            .size_or_type as usize
                    }
                };
                let proto = self
                    .types
                    .get(proto)
                    .copied()
                    .filter(|t| t.kind() == KIND_FUNC_PROTO)?;
                let args = (1..proto.vlen())
                    .map(|i| {
                        let at = proto.data + 8 * i;
                        let name = match self.name(self.u32_at(at)) {
                            "" => format!("arg{}", i - 1),
                            n => n.to_string(),
                        };
                        (name, self.to_type(self.u32_at(at + 4) as usize, 0))
                    })
                    .collect();
                Some((event.to_string(), args))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }

    /// Every kernel function BTF describes, sorted, each name once.
    pub fn functions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .types
            .iter()
            .filter(|t| t.kind() == KIND_FUNC)
            .map(|t| self.name(t.name_off).to_string())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// A kernel function's parameters (names and types) and return type (`Void` for none).
    /// The type id of kernel function `name` (`BTF_KIND_FUNC`), which programs attached by BTF
    /// id (fentry, fexit, iterators' `bpf_iter_*`) are loaded with.
    pub fn function_id(&self, name: &str) -> Option<u32> {
        let id = self
            .types
            .iter()
            .position(|t| t.kind() == KIND_FUNC && self.name(t.name_off) == name)?;
        u32::try_from(id).ok()
    }

    pub fn function(&self, name: &str) -> Option<(Vec<(String, Type)>, Type)> {
        let func = self
            .types
            .iter()
            .find(|t| t.kind() == KIND_FUNC && self.name(t.name_off) == name)?;
        let proto = self
            .types
            .get(func.size_or_type as usize)
            .copied()
            .filter(|t| t.kind() == KIND_FUNC_PROTO)?;
        let params = (0..proto.vlen())
            .map(|i| {
                let at = proto.data + 8 * i;
                let name = match self.name(self.u32_at(at)) {
                    "" => format!("arg{i}"),
                    n => n.to_string(),
                };
                (name, self.parameter(self.u32_at(at + 4) as usize))
            })
            .collect();
        Some((params, self.to_type(proto.size_or_type as usize, 0)))
    }

    /// Members with anonymous struct and union members flattened into the parent.
    pub fn members(&self, kind: RecordKind, name: &str) -> Option<Vec<Member>> {
        let id = self.find_record(kind, name)?;
        let mut out = Vec::new();
        self.collect_members(id, 0, &mut out);
        Some(out)
    }

    fn collect_members(&self, id: usize, base_bits: u32, out: &mut Vec<Member>) {
        let Some(t) = self.types.get(id).copied() else {
            return;
        };
        for i in 0..t.vlen() {
            let at = t.data + 12 * i;
            let name = self.name(self.u32_at(at)).to_string();
            let ty_id = self.u32_at(at + 4) as usize;
            let raw_off = self.u32_at(at + 8);
            let (bit_off, bit_size) = if t.kind_flag() {
                (raw_off & 0xff_ffff, raw_off >> 24)
            } else {
                (raw_off, 0)
            };
            let bits = base_bits + bit_off;
            let resolved = self.skip_modifiers(ty_id);
            if name.is_empty() {
                if let Some(inner) = self.types.get(resolved) {
                    if matches!(inner.kind(), KIND_STRUCT | KIND_UNION) {
                        self.collect_members(resolved, bits, out);
                    }
                }
                continue;
            }
            let ty = self.to_type(ty_id, 0);
            let (offset, bitfield) = if bit_size > 0 {
                (bits / 8, Some(((bits % 8) as u8, bit_size as u8)))
            } else {
                (bits / 8, None)
            };
            out.push(Member {
                name,
                ty,
                offset,
                bitfield,
            });
        }
    }

    /// Whether the pointee's modifiers include the `user` type tag (`char __user *`).
    fn tagged_user(&self, mut id: usize) -> bool {
        for _ in 0..32 {
            match self.types.get(id) {
                Some(t) if t.kind() == KIND_TYPE_TAG && self.name(t.name_off) == "user" => {
                    return true
                }
                Some(t)
                    if matches!(
                        t.kind(),
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.size_or_type as usize
                }
                _ => return false,
            }
        }
        false
    }

    /// A function parameter's type. Without type tags, a pointer parameter may be a user
    /// pointer (`const char __user *filename`): it is read with the helper that reads either
    /// (x86's address spaces do not overlap).
    fn parameter(&self, id: usize) -> Type {
        match self.to_type(id, 0) {
            Type::Ptr {
                pointee,
                space: AddrSpace::Kernel,
            } if !self.type_tags => Type::Ptr {
                pointee,
                space: AddrSpace::Unknown,
            },
            ty => ty,
        }
    }

    fn skip_modifiers(&self, mut id: usize) -> usize {
        for _ in 0..32 {
            match self.types.get(id).map(RawType::kind) {
                Some(
                    KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    | KIND_DECL_TAG,
                ) => id = self.types[id].size_or_type as usize,
                _ => return id,
            }
        }
        id
    }

    fn to_type(&self, id: usize, depth: u32) -> Type {
        let id = self.skip_modifiers(id);
        let Some(t) = self.types.get(id).copied() else {
            return Type::Void;
        };
        if id == 0 {
            return Type::Void;
        }
        match t.kind() {
            KIND_INT => {
                let enc = (self.u32_at(t.data) >> 24) & 0xf;
                let size = t.size_or_type;
                if enc & 4 != 0 {
                    return Type::Bool;
                }
                // pahole writes `char` without an encoding; C's char is signed here.
                let signed = enc & 1 != 0 || self.name(t.name_off) == "char";
                match size {
                    1 | 2 | 4 | 8 => Type::Int(IntType {
                        bits: (size * 8) as u8,
                        signed,
                    }),
                    _ => Type::Opaque {
                        name: self.name(t.name_off).to_string(),
                        size,
                    },
                }
            }
            KIND_PTR => {
                let pointee = if depth >= MAX_DEPTH {
                    Type::Void
                } else {
                    self.to_type(t.size_or_type as usize, depth + 1)
                };
                Type::Ptr {
                    pointee: Box::new(pointee),
                    space: if self.tagged_user(t.size_or_type as usize) {
                        AddrSpace::User
                    } else {
                        AddrSpace::Kernel
                    },
                }
            }
            KIND_ARRAY => {
                let elem = self.u32_at(t.data) as usize;
                let len = self.u32_at(t.data + 8);
                Type::Array {
                    elem: Box::new(self.to_type(elem, depth)),
                    len,
                }
            }
            KIND_STRUCT | KIND_UNION => {
                let name = self.name(t.name_off);
                Type::Record {
                    kind: if t.kind() == KIND_STRUCT {
                        RecordKind::Struct
                    } else {
                        RecordKind::Union
                    },
                    name: if name.is_empty() {
                        format!("#{id}")
                    } else {
                        name.to_string()
                    },
                    size: t.size_or_type,
                }
            }
            KIND_ENUM | KIND_ENUM64 => Type::Enum(Box::new(self.enum_type(t))),
            KIND_FWD => Type::Opaque {
                name: format!("struct {}", self.name(t.name_off)),
                size: 0,
            },
            KIND_FUNC | KIND_FUNC_PROTO => Type::Opaque {
                name: "a function".into(),
                size: 0,
            },
            KIND_FLOAT => Type::Opaque {
                name: self.name(t.name_off).to_string(),
                size: t.size_or_type,
            },
            _ => Type::Void,
        }
    }

    /// An enum's integer type and its named values.
    fn enum_type(&self, t: RawType) -> EnumType {
        let wide = t.kind() == KIND_ENUM64;
        let variants = (0..t.vlen())
            .map(|i| {
                let at = t.data + if wide { 12 } else { 8 } * i;
                let name = self.name(self.u32_at(at)).to_string();
                let value = if wide {
                    let lo = u64::from(self.u32_at(at + 4));
                    let hi = u64::from(self.u32_at(at + 8));
                    (hi << 32 | lo) as i64
                } else if t.kind_flag() {
                    i64::from(self.u32_at(at + 4) as i32)
                } else {
                    i64::from(self.u32_at(at + 4))
                };
                (name, value)
            })
            .collect();
        EnumType {
            name: self.name(t.name_off).to_string(),
            int: IntType {
                bits: (t.size_or_type * 8).clamp(8, 64) as u8,
                signed: t.kind_flag(),
            },
            variants,
        }
    }

    /// A named enum, for `(enum NAME)x`.
    pub fn enumeration(&self, name: &str) -> Option<EnumType> {
        self.types
            .iter()
            .find(|t| matches!(t.kind(), KIND_ENUM | KIND_ENUM64) && self.name(t.name_off) == name)
            .map(|t| self.enum_type(*t))
    }

    /// The named enum an enumerator belongs to (an anonymous enum's stay integers).
    pub fn enum_of(&self, enumerator: &str) -> Option<EnumType> {
        self.types
            .iter()
            .find(|t| {
                let size = match t.kind() {
                    KIND_ENUM => 8,
                    KIND_ENUM64 => 12,
                    _ => return false,
                };
                (0..t.vlen()).any(|i| self.name(self.u32_at(t.data + size * i)) == enumerator)
            })
            .filter(|t| !self.name(t.name_off).is_empty())
            .map(|t| self.enum_type(*t))
    }

    /// The value of an enum constant.
    pub fn enum_value(&self, name: &str) -> Option<i64> {
        for t in &self.types {
            match t.kind() {
                KIND_ENUM => {
                    for i in 0..t.vlen() {
                        let at = t.data + 8 * i;
                        if self.name(self.u32_at(at)) == name {
                            return Some(i64::from(self.u32_at(at + 4) as i32));
                        }
                    }
                }
                KIND_ENUM64 => {
                    for i in 0..t.vlen() {
                        let at = t.data + 12 * i;
                        if self.name(self.u32_at(at)) == name {
                            let lo = u64::from(self.u32_at(at + 4));
                            let hi = u64::from(self.u32_at(at + 8));
                            return Some((hi << 32 | lo) as i64);
                        }
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// `-l 'struct task_struct'`: the kernel type's members, one per line with its type and
/// offset. `None` when the pattern names no struct or union; an error when BTF cannot be read
/// or has no such type.
pub fn definition(pattern: &str) -> Option<Result<String, String>> {
    let (kind, name) = match pattern.split_once(' ') {
        Some(("struct", n)) => (RecordKind::Struct, n.trim()),
        Some(("union", n)) => (RecordKind::Union, n.trim()),
        _ => return None,
    };
    let Some(btf) = vmlinux() else {
        return Some(Err(format!("the kernel's BTF ({VMLINUX}) cannot be read")));
    };
    let Some(members) = btf.members(kind, name) else {
        return Some(Err(format!("no {pattern} in the kernel's BTF")));
    };
    let mut out = format!("{pattern} {{\n");
    for m in members {
        let bits = m
            .bitfield
            .map_or(String::new(), |(_, width)| format!(" : {width}"));
        out.push_str(&format!(
            "    {} {}{bits};  // offset {}\n",
            m.ty, m.name, m.offset
        ));
    }
    out.push_str("};\n");
    Some(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the machine's BTF; every test host has it (see the developer guide).
    fn btf() -> Option<Btf> {
        let b = Btf::load();
        if b.is_none() && std::env::var_os("SCRY_REQUIRE_KERNEL").is_some() {
            panic!("{VMLINUX} is required");
        }
        b
    }

    #[test]
    fn task_struct_members() {
        let Some(btf) = btf() else { return };
        let members = btf.members(RecordKind::Struct, "task_struct").unwrap();
        let comm = members.iter().find(|m| m.name == "comm").unwrap();
        assert_eq!(
            comm.ty,
            Type::Array {
                elem: Box::new(Type::Int(IntType::I8)),
                len: 16
            }
        );
        let parent = members.iter().find(|m| m.name == "real_parent").unwrap();
        assert!(
            matches!(&parent.ty, Type::Ptr { pointee, .. } if matches!(&**pointee, Type::Record { name, .. } if name == "task_struct"))
        );
        assert!(members.iter().any(|m| m.name == "tgid"));
        assert_eq!(btf.enum_value("TCP_SYN_SENT"), Some(2));
    }
}
