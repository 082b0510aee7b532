//! What code generation produces: programs (instructions with their source spans), the maps they
//! use, and the layouts of the records they send to userspace. Pure data: the runtime loads it,
//! tests inspect it.

use crate::insn::{disassemble, Helper, Insn};
use scry_lang::ast::Span;
use scry_lang::diagnostic::Location;
use scry_lang::printf::Format;
use scry_lang::typed::{log2_buckets, Aggregate, LinearBuckets, MapDecl, MapValue};
use scry_lang::types::{
    str_slot, Attach, EnumType, Formatted, IntType, ProgramKind, StackMode, Type, View,
};

/// Index into `Module::maps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapId(pub usize);

#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    pub programs: Vec<Program>,
    pub maps: Vec<MapSpec>,
    /// Indexed by the id in the first 8 bytes of each ring buffer record, less `first_record`.
    pub records: Vec<RecordLayout>,
    /// The id of `records[0]`.
    pub first_record: u32,
    /// The script's maps (`@name`), indexed like the typed program's `MapId`s.
    pub user_maps: Vec<UserMap>,
    /// How stacks print when the script does not say (`stack_mode`).
    pub stack_mode: StackMode,
    /// Appended to strings that filled their capacity (`str_trunc_trailer`).
    pub str_trailer: String,
    /// The license the programs are loaded under (`license`): GPL-compatible, since the
    /// helpers they call are GPL-only.
    pub license: String,
    /// The most of a file `cat()` prints (`max_cat_bytes`).
    pub max_cat_bytes: u64,
}

impl Module {
    /// The map that carries records to userspace.
    pub const EVENTS: MapId = MapId(0);
    /// Per-CPU working memory: string variables, map keys and values being built.
    pub const SCRATCH: MapId = MapId(1);
    /// An array whose one value is all zeros: the initial value of aggregations.
    pub const ZERO: MapId = MapId(2);
    /// Per-CPU count of records dropped because the ring buffer was full.
    pub const LOST: MapId = MapId(3);
    /// The number of keys of each map that `len()` is used on.
    pub const COUNTS: MapId = MapId(4);
    /// Per CPU: the tick (jiffies) a record last woke the reader (see `lower::output`'s
    /// `submit`).
    pub const WAKE: MapId = MapId(5);
    /// Set (to 1) by the runtime to stop the set's programs before their probes are detached:
    /// each program that runs on events returns at once while it is set, so the maps stop
    /// changing. Read through its value's address (`MapKind::Globals`), without a helper call.
    pub const STOP: MapId = MapId(6);

    /// The layout of the record with this id, if it is one of this module's.
    pub fn record(&self, id: u64) -> Option<&RecordLayout> {
        let index = id.checked_sub(u64::from(self.first_record))?;
        self.records.get(usize::try_from(index).ok()?)
    }

    /// The maps a module loaded beside this one uses too when it names them: all but the
    /// per-program working memory (`SCRATCH`, `ZERO`), whose sizes differ between modules, and
    /// `STOP`, which stops only its own module's programs.
    pub fn shared_maps(&self) -> impl Iterator<Item = &MapSpec> {
        self.maps
            .iter()
            .enumerate()
            .filter(|(i, _)| ![Module::SCRATCH.0, Module::ZERO.0, Module::STOP.0].contains(i))
            .map(|(_, m)| m)
    }

    /// Resolves the source location of every `errorf`/`warnf` record.
    pub fn locate(&mut self, at: impl Fn(Span) -> Location) {
        for r in &mut self.records {
            if let RecordLayout::Printf {
                sink: Sink::Message { span, location, .. },
                ..
            }
            | RecordLayout::HelperError { span, location, .. } = r
            {
                *location = Some(at(*span));
            }
        }
    }

    /// Every program's disassembly under its probe's name, as the golden tests compare it.
    pub fn disassembly(&self) -> String {
        self.programs
            .iter()
            .map(|p| format!("{}:\n{}\n", p.probe, p.disassemble(&self.maps)))
            .collect()
    }

    /// The stack trace map for stacks of this kind, created on first use.
    pub fn stack_map(&mut self, user: bool, limit: u8) -> MapId {
        let kind = MapKind::StackTrace { user, limit };
        if let Some(i) = self.maps.iter().position(|m| m.kind == kind) {
            return MapId(i);
        }
        self.maps.push(MapSpec {
            name: format!("scry_{}stack{limit}", if user { "u" } else { "k" }),
            kind,
            key_size: 4,
            value_size: 8 * u32::from(limit),
            max_entries: STACK_MAP_ENTRIES,
        });
        MapId(self.maps.len() - 1)
    }
}

/// How many distinct stacks a stack trace map holds.
pub const STACK_MAP_ENTRIES: u32 = 4096;

/// A script map and how its keys and values are laid out in the kernel map.
#[derive(Clone, Debug, PartialEq)]
pub struct UserMap {
    pub decl: MapDecl,
    pub map: MapId,
    /// The key's fields (empty for a scalar map, whose key is 8 zero bytes).
    pub keys: Vec<Field>,
    /// How its value is laid out in the kernel map.
    pub value: ValueLayout,
    /// Slot in `Module::COUNTS` when `len()` is used on this map.
    pub counter: Option<u32>,
}

/// How a script map's value is laid out in the kernel map: what the programs write and
/// userspace reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueLayout {
    /// An integer in 8 bytes, sign- or zero-extended from its type.
    Int(IntType),
    /// A NUL-terminated string in `str_slot(cap)` bytes.
    Str(u32),
    /// Any other value, laid out as a record field of its type is.
    Stored(FieldKind),
    /// An aggregation's state, one per CPU.
    Aggregate(AggregateLayout),
}

impl ValueLayout {
    /// Bytes of the value (of one CPU's, for aggregations).
    pub fn size(&self) -> u32 {
        match self {
            ValueLayout::Int(_) => 8,
            ValueLayout::Str(cap) => str_slot(*cap),
            ValueLayout::Stored(kind) => kind.size(),
            ValueLayout::Aggregate(a) => a.size(),
        }
    }
}

/// One CPU's state of an aggregation, in 64-bit words, and how the CPUs' states combine into
/// the value printed. The code generator writes these words and the runtime reads them; this
/// is the one description of where each is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateLayout {
    /// `count()`, `sum()`: a total in word 0; the CPUs' totals add up.
    Total { signed: bool },
    /// `min()`, `max()`: the extreme so far in word 0 and, in word 1, 1 once a value was
    /// seen; the extreme of the CPUs that saw one.
    Extreme { max: bool },
    /// `avg()`, `stats()`: the count in word 0 and the total in word 1; both add up.
    Moments,
    /// `hist()`: a count per log2 bucket (`log2_buckets(bits)` of them), then the total of
    /// the values (`sum_word`, for Prometheus's `_sum`); all add up.
    Log2 { bits: u8 },
    /// `lhist()`: a count per linear bucket, then the total of the values; all add up.
    Linear(LinearBuckets),
}

impl AggregateLayout {
    /// Word 0 (`Total`, `Extreme`: the value; `Moments`: the count).
    pub const VALUE: u32 = 0;
    /// Word 1 (`Extreme`: whether a value was seen; `Moments`: the total).
    pub const SECOND: u32 = 8;

    pub fn of(aggregate: Aggregate) -> AggregateLayout {
        match aggregate {
            Aggregate::Count => AggregateLayout::Total { signed: false },
            Aggregate::Sum => AggregateLayout::Total { signed: true },
            Aggregate::Min => AggregateLayout::Extreme { max: false },
            Aggregate::Max => AggregateLayout::Extreme { max: true },
            Aggregate::Avg | Aggregate::Stats => AggregateLayout::Moments,
            Aggregate::Hist { bits } => AggregateLayout::Log2 { bits },
            Aggregate::Lhist(buckets) => AggregateLayout::Linear(buckets),
        }
    }

    /// The number of buckets of a histogram (0 for the others).
    pub fn buckets(&self) -> u32 {
        match self {
            AggregateLayout::Total { .. }
            | AggregateLayout::Extreme { .. }
            | AggregateLayout::Moments => 0,
            AggregateLayout::Log2 { bits } => log2_buckets(*bits),
            AggregateLayout::Linear(b) => b.count(),
        }
    }

    /// Bytes of one CPU's state.
    pub fn size(&self) -> u32 {
        match self {
            AggregateLayout::Total { .. } => 8,
            AggregateLayout::Extreme { .. } | AggregateLayout::Moments => 16,
            AggregateLayout::Log2 { .. } | AggregateLayout::Linear(_) => 8 * (self.buckets() + 1),
        }
    }

    /// Where a histogram keeps the total of its values: after its buckets.
    pub fn sum_word(&self) -> u32 {
        8 * self.buckets()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The ELF symbol and kernel program name (at most 15 bytes).
    pub name: String,
    /// The probe's full name, as `probe` returns it.
    pub probe: String,
    /// Its probe type, as users write it (`kretprobe`).
    pub provider: &'static str,
    pub kind: ProgramKind,
    /// Where it attaches: its probe type's to read.
    pub attach: Attach,
    pub insns: Vec<Insn>,
    /// The source span that produced each instruction slot (same length as `insns`).
    pub spans: Vec<Span>,
    /// Instruction slots that load a map's address (for a `MapKind::Globals` map, its value's
    /// address).
    pub map_loads: Vec<(usize, MapId)>,
    /// Where each subprogram (a `for` loop's callback) starts; the program's own code ends at
    /// the first. Jumps stay within their subprogram.
    pub subprograms: Vec<usize>,
    /// `ld_func` slots and the index (in `subprograms`) of the subprogram each loads.
    pub func_loads: Vec<(usize, usize)>,
    /// Slots (`ptr += 0`) that the kernel makes add a field's offset in its own types.
    pub kernel_fields: Vec<(usize, KernelField)>,
    /// The attach point as written.
    pub attach_span: Span,
}

/// The ELF symbol of subprogram `index` of program `program`.
pub fn subprogram_name(program: &str, index: usize) -> String {
    format!("{program}_cb{index}")
}

/// A field of a kernel struct that programs read directly, at the offset the running kernel's
/// BTF gives it (the kernel relocates the program when it loads it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelField {
    /// `task_struct.comm`, `char[16]`.
    TaskComm,
    /// `task_struct.tgid`, the process id (`pid` in scripts), an `int`.
    TaskTgid,
    /// `task_struct.pid`, the thread id (`tid` in scripts), an `int`.
    TaskPid,
}

/// The type a `KernelField`'s member has in the program's own BTF, which the kernel matches
/// against its own by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// An array of `char` of this length.
    Chars(u32),
    /// A signed 32-bit `int`.
    Int,
}

impl KernelField {
    /// The struct, the member, and the member's type.
    pub fn describe(self) -> (&'static str, &'static str, FieldType) {
        match self {
            KernelField::TaskComm => (
                "task_struct",
                "comm",
                FieldType::Chars(scry_lang::builtins::COMM_LEN),
            ),
            KernelField::TaskTgid => ("task_struct", "tgid", FieldType::Int),
            KernelField::TaskPid => ("task_struct", "pid", FieldType::Int),
        }
    }
}

impl Program {
    /// The name of subprogram `index`: its ELF symbol.
    pub fn subprogram_name(&self, index: usize) -> String {
        subprogram_name(&self.name, index)
    }

    /// The instructions as text, with map names, and with the kernel field whose offset each
    /// `kernel_fields` slot takes.
    pub fn disassemble(&self, maps: &[MapSpec]) -> String {
        let text = disassemble(&self.insns, |slot| {
            self.map_loads
                .iter()
                .find(|(s, _)| *s == slot)
                .map(|(_, m)| match maps[m.0].kind {
                    MapKind::Globals => format!("{}.value", maps[m.0].name),
                    _ => maps[m.0].name.clone(),
                })
        });
        if self.kernel_fields.is_empty() {
            return text;
        }
        text.lines()
            .map(|line| {
                let slot = line.split(':').next().and_then(|n| n.trim().parse().ok());
                match self.kernel_fields.iter().find(|(s, _)| Some(*s) == slot) {
                    Some((_, field)) => {
                        let (record, member, _) = field.describe();
                        format!("{line} (offsetof({record}, {member}))\n")
                    }
                    None => format!("{line}\n"),
                }
            })
            .collect()
    }

    /// The source span of the instruction at `slot`, if any.
    pub fn span_at(&self, slot: usize) -> Option<Span> {
        self.spans.get(slot).copied().filter(|s| s.end > s.start)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    RingBuf,
    Array,
    PerCpuArray,
    Hash,
    PerCpuHash,
    LruHash,
    LruPerCpuHash,
    StackTrace {
        user: bool,
        limit: u8,
    },
    /// An array of one value that programs load the address of (`BPF_PSEUDO_MAP_VALUE`), as
    /// C programs address their globals; the ELF object carries it as `.bss`.
    Globals,
}

impl MapKind {
    /// Its `BPF_MAP_TYPE_*`.
    pub fn kernel_type(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array | MapKind::Globals => 2,
            MapKind::PerCpuHash => 5,
            MapKind::PerCpuArray => 6,
            MapKind::StackTrace { .. } => 7,
            MapKind::LruHash => 9,
            MapKind::LruPerCpuHash => 10,
            MapKind::RingBuf => 27,
        }
    }
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
    /// `printf(format, args…)` and the functions formatted like it: arguments at fixed offsets
    /// after the 8-byte id; `sink` says what becomes of the text.
    Printf {
        format: Format,
        args: Vec<Field>,
        sink: Sink,
    },
    /// `emit(format, (name = value, …))`: the time it happened (boot ns, a u64 at offset 8),
    /// then the named fields, laid out as printf's arguments are.
    Event {
        format: Format,
        names: Vec<String>,
        args: Vec<Field>,
    },
    /// `exit(code)`: an i64 code at offset 8.
    Exit,
    /// `clear`, `zero` or `print` of the user map at this index; print's top and div are
    /// u64s at offsets 8 and 16.
    MapOp { map: usize, op: MapOpKind },
    /// `print(value)`: the value at offset 8.
    Print(Field),
    /// `time(format)`: nothing but the id; userspace reads the clock.
    Time(String),
    /// A helper failed (`-k`): its negative errno as an i64 at offset 8.
    HelperError {
        helper: Helper,
        span: Span,
        /// Filled in by `Module::locate`.
        location: Option<Location>,
    },
    /// `join(argv, sep)`: the number of strings read (u64 at 8), then up to `max` strings of
    /// `cap` bytes each from offset 16.
    Join { sep: String, max: u32, cap: u32 },
}

/// What a formatted record's text is for.
#[derive(Clone, Debug, PartialEq)]
pub enum Sink {
    /// Printed: `printf`.
    Output,
    /// The path of a file to print: `cat`.
    Cat,
    /// A shell command whose output is printed: `system` (`--unsafe`).
    System,
    /// A message on stderr with the call's location: `errorf` and `warnf`.
    Message {
        error: bool,
        span: Span,
        /// Filled in by `Module::locate`, once the script's file name is known.
        location: Option<Location>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOpKind {
    Clear,
    Zero,
    Print,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u32,
    pub kind: FieldKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// An integer stored as 8 bytes, sign- or zero-extended from its type.
    Int(IntType),
    /// 0 or 1 in 8 bytes.
    Bool,
    /// An address in 8 bytes, shown in hex.
    Pointer,
    /// An array of integers or booleans (or of such arrays), element after element: shown
    /// `[1,2,3]`. The view is a `View::Array`.
    Array(View),
    /// An enum's value in 8 bytes, shown by name.
    Enum(Box<EnumType>),
    /// A NUL-terminated string in a buffer of this many bytes.
    Str(u32),
    /// A stack id in this stack trace map (an i32 in 8 bytes; for user stacks the pid whose
    /// stack it is follows as a u32 at +4).
    Stack {
        map: MapId,
        user: bool,
        mode: StackMode,
    },
    /// A value userspace renders; its raw layout is described by `Formatted`.
    Formatted(Formatted),
    /// A tuple: its elements, at offsets from the tuple's start; with `names`, a record,
    /// shown `{ .a = 1, .b = x }`.
    Tuple {
        fields: Vec<Field>,
        names: Vec<String>,
    },
}

impl FieldKind {
    /// Bytes the field takes in a record or key.
    pub fn size(&self) -> u32 {
        match self {
            FieldKind::Int(_)
            | FieldKind::Bool
            | FieldKind::Pointer
            | FieldKind::Enum(_)
            | FieldKind::Stack { .. } => 8,
            FieldKind::Str(cap) => str_slot(*cap),
            FieldKind::Array(view) => view.size().next_multiple_of(8),
            FieldKind::Formatted(f) => f.size().next_multiple_of(8),
            FieldKind::Tuple { fields, .. } => fields.iter().map(|f| f.kind.size()).sum(),
        }
    }

    /// Whether the field is one 8-byte word written from a register.
    pub fn is_word(&self) -> bool {
        matches!(
            self,
            FieldKind::Int(_)
                | FieldKind::Bool
                | FieldKind::Pointer
                | FieldKind::Enum(_)
                | FieldKind::Stack { .. }
        )
    }
}

/// Lays out fields of these types one after another from offset 0.
pub fn fields(module: &mut Module, types: &[Type]) -> Vec<Field> {
    let mut offset = 0;
    types
        .iter()
        .map(|ty| {
            let kind = module.field_kind(ty);
            let field = Field { offset, kind };
            offset += field.kind.size();
            field
        })
        .collect()
}

impl Module {
    /// How a map's value is laid out.
    pub fn value_layout(&mut self, value: &MapValue) -> ValueLayout {
        match value {
            MapValue::Int(i) => ValueLayout::Int(*i),
            MapValue::Str(cap) => ValueLayout::Str(*cap),
            MapValue::Stored(ty) => ValueLayout::Stored(self.field_kind(ty)),
            MapValue::Aggregate(a) => ValueLayout::Aggregate(AggregateLayout::of(*a)),
        }
    }

    /// How a value of this type is laid out for userspace to read.
    pub fn field_kind(&mut self, ty: &Type) -> FieldKind {
        match ty {
            Type::Str(cap) => FieldKind::Str(*cap),
            Type::Bool => FieldKind::Bool,
            Type::Ptr { .. } => FieldKind::Pointer,
            Type::Array { .. } if array_view(ty).is_some() => {
                FieldKind::Array(array_view(ty).unwrap_or(View::Opaque))
            }
            Type::Enum(e) => FieldKind::Enum(e.clone()),
            Type::Stack { user, limit, mode } => FieldKind::Stack {
                map: self.stack_map(*user, *limit),
                user: *user,
                mode: mode.unwrap_or(self.stack_mode),
            },
            Type::Formatted(f) => FieldKind::Formatted(f.clone()),
            Type::Tuple { elems, names } => FieldKind::Tuple {
                fields: fields(self, elems),
                names: names.clone(),
            },
            other => FieldKind::Int(other.as_int().unwrap_or(IntType::U64)),
        }
    }
}

/// How an array of integers or booleans (or of such arrays) is read back.
fn array_view(ty: &Type) -> Option<View> {
    match ty {
        Type::Int(i) => Some(View::Int {
            bytes: i.bits / 8,
            signed: i.signed,
            bitfield: None,
        }),
        Type::Bool => Some(View::Bool),
        Type::Array { elem, len } => Some(View::Array {
            elem: Box::new(array_view(elem)?),
            elem_size: elem.size(),
            len: *len,
        }),
        _ => None,
    }
}
