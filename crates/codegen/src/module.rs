//! What code generation produces: programs (instructions with their source spans), the maps they
//! use, and the layouts of the records they send to userspace. Pure data: the runtime loads it,
//! tests inspect it.

use crate::insn::{disassemble, Insn};
use scry_lang::ast::Span;
use scry_lang::printf::Format;
use scry_lang::types::{IntType, ProbeTarget};

/// Index into `Module::maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapId(pub usize);

#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub programs: Vec<Program>,
    pub maps: Vec<MapSpec>,
    /// Indexed by the id in the first 8 bytes of each ring buffer record.
    pub records: Vec<RecordLayout>,
}

impl Module {
    /// The map that carries records to userspace.
    pub const EVENTS: MapId = MapId(0);
}

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The ELF symbol and kernel program name (at most 15 bytes).
    pub name: String,
    /// The probe's full name, as `probe` returns it.
    pub probe: String,
    pub target: ProbeTarget,
    pub insns: Vec<Insn>,
    /// The source span that produced each instruction slot (same length as `insns`).
    pub spans: Vec<Span>,
    /// Instruction slots that load a map's address.
    pub map_loads: Vec<(usize, MapId)>,
    /// The attach point as written.
    pub attach_span: Span,
}

impl Program {
    pub fn disassemble(&self, maps: &[MapSpec]) -> String {
        disassemble(&self.insns, |slot| {
            self.map_loads
                .iter()
                .find(|(s, _)| *s == slot)
                .map(|(_, m)| maps[m.0].name.clone())
        })
    }

    /// The source span of the instruction at `slot`, if any.
    pub fn span_at(&self, slot: usize) -> Option<Span> {
        self.spans.get(slot).copied().filter(|s| s.end > s.start)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    RingBuf,
    PerCpuArray,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    /// Kernel map name (at most 15 bytes, `[A-Za-z0-9_]`).
    pub name: String,
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// How to read one ring buffer record.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordLayout {
    /// `printf(format, args…)`: arguments at fixed offsets after the 8-byte id.
    Printf { format: Format, args: Vec<Field> },
    /// `exit(code)`: an i64 code at offset 8.
    Exit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u32,
    pub kind: FieldKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer stored as 8 bytes, sign- or zero-extended from its type.
    Int(IntType),
    /// A NUL-terminated string in a buffer of this many bytes.
    Str(u32),
}
