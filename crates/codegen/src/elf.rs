//! A relocatable eBPF ELF object that aya loads: one section per program (named by program type:
//! `tracepoint/…`, `raw_tp/…`), an `STT_FUNC` symbol per program, a `license` section, legacy
//! `maps` definitions (28 bytes each), `.bss` for the programs' globals (`MapKind::Globals`),
//! and `R_BPF_64_64` relocations on every map load.
//!
//! Subprograms (`for` loop callbacks) go to `.text`, one symbol each, referenced by relocations
//! on the `ld_func` instructions; the loader links them into their program. The kernel wants
//! BTF function info for programs with callbacks, so then the object also carries `.BTF` (a
//! function type per program and subprogram) and `.BTF.ext` (where each function starts). A
//! program that reads a kernel struct's field directly (`KernelField`) has, in `.BTF`, a
//! local type of the struct with that one member and, in `.BTF.ext`, a CO-RE relocation that
//! has the loader put in the running kernel's offset.

use crate::insn::encode;
use crate::module::{MapKind, Module, Program};
use object::write::{Object, Relocation, SectionId, Symbol, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};

/// The ELF section name, whose prefix tells the loader the program type.
pub fn section_name(program: &Program) -> String {
    let section = &program.kind.section;
    let name = section.name.as_deref().unwrap_or(&program.name);
    format!("{}/{name}", section.prefix)
}

/// A global symbol for a map definition or a program.
fn symbol(name: &str, kind: SymbolKind, section: SectionId, offset: u64, size: usize) -> Symbol {
    Symbol {
        name: name.as_bytes().to_vec(),
        value: offset,
        size: size as u64,
        kind,
        scope: SymbolScope::Linkage,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("writing the ELF object: {0}")]
pub struct ElfError(#[from] object::write::Error);

pub fn write(module: &Module) -> Result<Vec<u8>, ElfError> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    let mut text = module.license.clone().into_bytes();
    text.push(0);
    obj.append_section_data(license, &text, 1);

    let maps = obj.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data);
    let mut map_symbols = Vec::new();
    let mut bss = None;
    for spec in &module.maps {
        if spec.kind == MapKind::Globals {
            // A global of the programs: the loader makes `.bss` an array map, and a relocated
            // load of its symbol loads the value's address.
            let section = *bss.get_or_insert_with(|| {
                obj.add_section(Vec::new(), b".bss".to_vec(), SectionKind::UninitializedData)
            });
            let offset = obj.append_section_bss(section, u64::from(spec.value_size), 8);
            map_symbols.push(obj.add_symbol(symbol(
                &spec.name,
                SymbolKind::Data,
                section,
                offset,
                spec.value_size as usize,
            )));
            continue;
        }
        let mut def = Vec::with_capacity(28);
        for word in [
            spec.kind.kernel_type(),
            spec.key_size,
            spec.value_size,
            spec.max_entries,
            0,
            0,
            0,
        ] {
            def.extend_from_slice(&word.to_le_bytes());
        }
        let offset = obj.append_section_data(maps, &def, 4);
        map_symbols.push(obj.add_symbol(symbol(
            &spec.name,
            SymbolKind::Data,
            maps,
            offset,
            def.len(),
        )));
    }

    let mut text: Option<SectionId> = None;
    let mut funcs = btf::Functions::default();
    let mut with_fields = false;
    for program in &module.programs {
        let section_name = section_name(program);
        let section = obj.add_section(
            Vec::new(),
            section_name.clone().into_bytes(),
            SectionKind::Text,
        );
        let main_end = program
            .subprograms
            .first()
            .copied()
            .unwrap_or(program.insns.len());
        let code = encode(&program.insns[..main_end]);
        let offset = obj.append_section_data(section, &code, 8);
        obj.add_symbol(symbol(
            &program.name,
            SymbolKind::Text,
            section,
            offset,
            code.len(),
        ));
        funcs.main(&section_name, &program.name);
        // Where each slot ends up: the program's section, or its subprogram's place in `.text`.
        let mut places = vec![(section, offset)];
        let mut sub_symbols = Vec::new();
        for (i, &start) in program.subprograms.iter().enumerate() {
            let end = program
                .subprograms
                .get(i + 1)
                .copied()
                .unwrap_or(program.insns.len());
            let text = *text.get_or_insert_with(|| {
                obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text)
            });
            let code = encode(&program.insns[start..end]);
            let at = obj.append_section_data(text, &code, 8);
            let name = program.subprogram_name(i);
            sub_symbols.push(obj.add_symbol(symbol(&name, SymbolKind::Text, text, at, code.len())));
            funcs.callback(at, &name);
            places.push((text, at));
        }
        let locate = |slot: usize| -> (SectionId, u64) {
            let i = program.subprograms.partition_point(|&s| s <= slot);
            let start = if i == 0 {
                0
            } else {
                program.subprograms[i - 1]
            };
            let (section, base) = places[i];
            (section, base + ((slot - start) as u64) * 8)
        };
        let loads = program
            .map_loads
            .iter()
            .map(|(slot, map)| (*slot, map_symbols[map.0]))
            .chain(
                program
                    .func_loads
                    .iter()
                    .map(|(slot, sub)| (*slot, sub_symbols[*sub])),
            );
        for &(slot, field) in &program.kernel_fields {
            let (in_section, offset) = locate(slot);
            let name = if in_section == section {
                section_name.as_str()
            } else {
                ".text"
            };
            funcs.field(name, offset as u32, field);
            with_fields = true;
        }
        for (slot, target) in loads {
            let (section, offset) = locate(slot);
            obj.add_relocation(
                section,
                Relocation {
                    offset,
                    symbol: target,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )?;
        }
    }
    if text.is_some() || with_fields {
        let (types, ext) = funcs.encode();
        let btf = obj.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
        obj.append_section_data(btf, &types, 4);
        let btf_ext = obj.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Metadata);
        obj.append_section_data(btf_ext, &ext, 4);
    }
    Ok(obj.write()?)
}

/// What the kernel needs to load a program with callbacks (subprograms) by `bpf(2)` directly.
pub struct ProgramBtf {
    /// BTF with a function type for the program and each callback.
    pub blob: Vec<u8>,
    /// Where each function starts, as `BPF_PROG_LOAD`'s `func_info` takes it.
    pub func_info: Vec<FuncInfo>,
    /// The kernel fields whose offsets the kernel writes in, as `BPF_PROG_LOAD`'s
    /// `core_relos` takes them.
    pub core_relos: Vec<CoreRelo>,
}

/// One `struct bpf_core_relo`: the instruction (its byte offset), the local type, the access
/// string (`0:N`: member N of that type) and the kind of relocation.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreRelo {
    pub insn_off: u32,
    pub type_id: u32,
    pub access_str_off: u32,
    pub kind: u32,
}

/// One `struct bpf_func_info`: a function's first instruction and its type id in the BTF.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: u32,
}

/// The BTF a program with callbacks or kernel fields is loaded with; `None` for a program
/// with neither.
pub fn program_btf(program: &Program) -> Option<ProgramBtf> {
    code_btf(
        &section_name(program),
        &program.name,
        &program.subprograms,
        &program.kernel_fields,
    )
}

/// The BTF for code named `name` in `section`, whose subprograms start at these slots and whose
/// `kernel_fields` slots take a kernel field's offset; `None` when it has neither.
pub fn code_btf(
    section: &str,
    name: &str,
    subprograms: &[usize],
    kernel_fields: &[(usize, crate::module::KernelField)],
) -> Option<ProgramBtf> {
    if subprograms.is_empty() && kernel_fields.is_empty() {
        return None;
    }
    let mut funcs = btf::Functions::default();
    funcs.main(section, name);
    for (i, &start) in subprograms.iter().enumerate() {
        funcs.callback(start as u64 * 8, &crate::module::subprogram_name(name, i));
    }
    for &(slot, field) in kernel_fields {
        funcs.field(section, slot as u32 * 8, field);
    }
    let types = funcs.types();
    let func_info = types
        .functions
        .into_iter()
        .flat_map(|(_, records)| records)
        .map(|(byte_offset, type_id)| FuncInfo {
            insn_off: byte_offset / 8,
            type_id,
        })
        .collect();
    let core_relos = types
        .relocations
        .into_iter()
        .flat_map(|(_, records)| records)
        .collect();
    Some(ProgramBtf {
        blob: types.blob,
        func_info,
        core_relos,
    })
}

/// The BTF the kernel needs to load programs with callbacks: a function type for each program
/// and each subprogram, and where each starts.
mod btf {
    use super::CoreRelo;
    use crate::module::{FieldType, KernelField};

    const MAGIC: u16 = 0xeb9f;
    const KIND_INT: u32 = 1;
    const KIND_PTR: u32 = 2;
    const KIND_ARRAY: u32 = 3;
    const KIND_STRUCT: u32 = 4;
    /// `BPF_CORE_FIELD_BYTE_OFFSET`.
    const FIELD_BYTE_OFFSET: u32 = 0;
    /// `BTF_INT_SIGNED`, in an int type's encoding bits.
    const INT_SIGNED: u32 = 1;
    const KIND_FUNC: u32 = 12;
    const KIND_FUNC_PROTO: u32 = 13;
    const LINKAGE_STATIC: u32 = 0;
    const LINKAGE_GLOBAL: u32 = 1;
    /// Type ids of the fixed types `encode` writes first.
    const INT: u32 = 1;
    const VOID_PTR: u32 = 2;
    const PROG_PROTO: u32 = 3;
    const CALLBACK_PROTO: u32 = 4;

    /// A section's name (its string offset) and the (byte offset, type id) of each function.
    pub type SectionFunctions = (u32, Vec<(u32, u32)>);

    /// The BTF blob, and per section (by its name's string offset) its functions and its
    /// kernel field relocations.
    pub struct Types {
        pub blob: Vec<u8>,
        /// The programs' sections first, `.text` last.
        pub functions: Vec<SectionFunctions>,
        pub relocations: Vec<(u32, Vec<CoreRelo>)>,
    }

    #[derive(Default)]
    pub struct Functions {
        /// Per program section: its name and the program's function name.
        mains: Vec<(String, String)>,
        /// Subprograms in `.text`: their byte offset and name.
        callbacks: Vec<(u64, String)>,
        /// Instructions that take a kernel field's offset: their section, byte offset in it,
        /// and the field.
        fields: Vec<(String, u32, KernelField)>,
    }

    struct Strings(Vec<u8>);

    impl Strings {
        /// The offset of `s`, added unless it is there already.
        fn add(&mut self, s: &str) -> u32 {
            let mut needle = vec![0];
            needle.extend_from_slice(s.as_bytes());
            needle.push(0);
            if let Some(at) = self.0.windows(needle.len()).position(|w| w == needle) {
                return at as u32 + 1;
            }
            let off = self.0.len() as u32;
            self.0.extend_from_slice(s.as_bytes());
            self.0.push(0);
            off
        }
    }

    fn words(out: &mut Vec<u8>, words: &[u32]) {
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    fn info(kind: u32, vlen: u32) -> u32 {
        (kind << 24) | vlen
    }

    impl Functions {
        pub fn main(&mut self, section: &str, name: &str) {
            self.mains.push((section.to_string(), name.to_string()));
        }

        pub fn callback(&mut self, offset: u64, name: &str) {
            self.callbacks.push((offset, name.to_string()));
        }

        pub fn field(&mut self, section: &str, offset: u32, field: KernelField) {
            self.fields.push((section.to_string(), offset, field));
        }

        /// The `.BTF` and `.BTF.ext` sections.
        pub fn encode(&self) -> (Vec<u8>, Vec<u8>) {
            let types = self.types();
            // func_info and core_relo: a record size, then per section its name, count and
            // records.
            let mut func_info = Vec::new();
            words(&mut func_info, &[8]);
            for (sec, records) in &types.functions {
                words(&mut func_info, &[*sec, records.len() as u32]);
                for (off, id) in records {
                    words(&mut func_info, &[*off, *id]);
                }
            }
            let mut core_relo = Vec::new();
            if !types.relocations.is_empty() {
                words(&mut core_relo, &[16]);
                for (sec, records) in &types.relocations {
                    words(&mut core_relo, &[*sec, records.len() as u32]);
                    for r in records {
                        words(
                            &mut core_relo,
                            &[r.insn_off, r.type_id, r.access_str_off, r.kind],
                        );
                    }
                }
            }
            // Header: magic, version, flags, hdr_len, then (offset, length) of func_info,
            // line_info and core_relo, offsets from the end of the header.
            let mut ext = Vec::new();
            ext.extend_from_slice(&MAGIC.to_le_bytes());
            ext.extend_from_slice(&[1, 0]);
            let (fi, cr) = (func_info.len() as u32, core_relo.len() as u32);
            words(&mut ext, &[32, 0, fi, fi, 0, fi, cr]);
            ext.extend_from_slice(&func_info);
            ext.extend_from_slice(&core_relo);
            (types.blob, ext)
        }

        /// The BTF: function types, and the local types of the kernel fields.
        pub fn types(&self) -> Types {
            let mut strings = Strings(vec![0]);
            let mut types = Vec::new();
            // 1: int; 2: void *; 3: int (void *ctx); 4: int (void *map, *key, *value, *ctx).
            let int = strings.add("int");
            words(&mut types, &[int, info(KIND_INT, 0), 4, (1 << 24) | 32]);
            words(&mut types, &[0, info(KIND_PTR, 0), 0]);
            let ctx = strings.add("ctx");
            words(
                &mut types,
                &[0, info(KIND_FUNC_PROTO, 1), INT, ctx, VOID_PTR],
            );
            words(&mut types, &[0, info(KIND_FUNC_PROTO, 4), INT]);
            for param in ["map", "key", "value", "ctx"] {
                let name = strings.add(param);
                words(&mut types, &[name, VOID_PTR]);
            }
            let mut next_id = CALLBACK_PROTO + 1;
            let mut func =
                |types: &mut Vec<u8>, strings: &mut Strings, name: &str, linkage, proto| {
                    let name = strings.add(name);
                    words(types, &[name, info(KIND_FUNC, linkage), proto]);
                    next_id += 1;
                    next_id - 1
                };
            let mut sections: Vec<SectionFunctions> = Vec::new();
            for (section, name) in &self.mains {
                let id = func(&mut types, &mut strings, name, LINKAGE_GLOBAL, PROG_PROTO);
                let sec = strings.add(section);
                sections.push((sec, vec![(0, id)]));
            }
            let text = strings.add(".text");
            let mut records = Vec::new();
            for (offset, name) in &self.callbacks {
                let id = func(
                    &mut types,
                    &mut strings,
                    name,
                    LINKAGE_STATIC,
                    CALLBACK_PROTO,
                );
                records.push((*offset as u32, id));
            }
            sections.push((text, records));

            // Per kernel field: its member's type (`char[N]`, with `char`; or `int`) and a
            // struct of the kernel's name with that one member, which the kernel matches by
            // name (member 0 of the struct: `0:0`).
            let mut relocations: Vec<(u32, Vec<CoreRelo>)> = Vec::new();
            let mut local: Vec<(KernelField, u32)> = Vec::new();
            let access = (!self.fields.is_empty()).then(|| strings.add("0:0"));
            for (section, offset, field) in &self.fields {
                let type_id = match local.iter().find(|(f, _)| f == field) {
                    Some((_, id)) => *id,
                    None => {
                        let (record, member, ty) = field.describe();
                        // The member's type, and the struct's size.
                        let (member_type, size) = match ty {
                            FieldType::Chars(len) => {
                                let char_name = strings.add("char");
                                words(
                                    &mut types,
                                    &[char_name, info(KIND_INT, 0), 1, (INT_SIGNED << 24) | 8],
                                );
                                words(&mut types, &[0, info(KIND_ARRAY, 0), 0]);
                                words(&mut types, &[next_id, INT, len]);
                                next_id += 2;
                                (next_id - 1, len)
                            }
                            FieldType::Int => {
                                let int_name = strings.add("int");
                                words(
                                    &mut types,
                                    &[int_name, info(KIND_INT, 0), 4, (INT_SIGNED << 24) | 32],
                                );
                                next_id += 1;
                                (next_id - 1, 4)
                            }
                        };
                        let record = strings.add(record);
                        let member = strings.add(member);
                        words(&mut types, &[record, info(KIND_STRUCT, 1), size]);
                        words(&mut types, &[member, member_type, 0]);
                        next_id += 1;
                        local.push((*field, next_id - 1));
                        next_id - 1
                    }
                };
                let sec = strings.add(section);
                let relo = CoreRelo {
                    insn_off: *offset,
                    type_id,
                    access_str_off: access.unwrap_or(0),
                    kind: FIELD_BYTE_OFFSET,
                };
                match relocations.iter_mut().find(|(s, _)| *s == sec) {
                    Some((_, records)) => records.push(relo),
                    None => relocations.push((sec, vec![relo])),
                }
            }

            let mut btf = Vec::new();
            btf.extend_from_slice(&MAGIC.to_le_bytes());
            btf.extend_from_slice(&[1, 0]);
            words(
                &mut btf,
                &[
                    24,
                    0,
                    types.len() as u32,
                    types.len() as u32,
                    strings.0.len() as u32,
                ],
            );
            btf.extend_from_slice(&types);
            btf.extend_from_slice(&strings.0);
            Types {
                blob: btf,
                functions: sections,
                relocations,
            }
        }
    }
}
