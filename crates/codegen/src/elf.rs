//! A relocatable eBPF ELF object that aya loads: one section per program (named by program type:
//! `tracepoint/…`, `raw_tp/…`), an `STT_FUNC` symbol per program, a `license` section, legacy
//! `maps` definitions (28 bytes each), and `R_BPF_64_64` relocations on every map load.

use crate::insn::encode;
use crate::module::{MapKind, Module, Program};
use object::write::{Object, Relocation, SectionId, Symbol, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};
use scry_lang::types::ProbeTarget;

/// `BPF_MAP_TYPE_*` values.
fn map_type(kind: MapKind) -> u32 {
    match kind {
        MapKind::Hash => 1,
        MapKind::Array => 2,
        MapKind::PerCpuHash => 5,
        MapKind::PerCpuArray => 6,
        MapKind::StackTrace { .. } => 7,
        MapKind::RingBuf => 27,
    }
}

/// The ELF section name, whose prefix tells the loader the program type.
pub fn section_name(program: &Program) -> String {
    match &program.target {
        // Run once with BPF_PROG_TEST_RUN; the tracepoint name is never attached to.
        ProbeTarget::Begin | ProbeTarget::End => format!("raw_tp/{}", program.name),
        ProbeTarget::Tracepoint { category, event } => format!("tracepoint/{category}/{event}"),
        ProbeTarget::Interval(_) | ProbeTarget::Profile(_) => {
            format!("perf_event/{}", program.name)
        }
    }
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
    obj.append_section_data(license, b"GPL\0", 1);

    let maps = obj.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data);
    let mut map_symbols = Vec::new();
    for spec in &module.maps {
        let mut def = Vec::with_capacity(28);
        for word in [
            map_type(spec.kind),
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

    for program in &module.programs {
        let section = obj.add_section(
            Vec::new(),
            section_name(program).into_bytes(),
            SectionKind::Text,
        );
        let code = encode(&program.insns);
        let offset = obj.append_section_data(section, &code, 8);
        obj.add_symbol(symbol(
            &program.name,
            SymbolKind::Text,
            section,
            offset,
            code.len(),
        ));
        for (slot, map) in &program.map_loads {
            obj.add_relocation(
                section,
                Relocation {
                    offset: offset + (*slot as u64) * 8,
                    symbol: map_symbols[map.0],
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )?;
        }
    }
    Ok(obj.write()?)
}
