//! The types of scry values, and the description of a probe's context (`args`) that the caller
//! supplies: the language knows the shape of `args` only through these.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntType {
    /// 8, 16, 32 or 64.
    pub bits: u8,
    pub signed: bool,
}

impl IntType {
    pub const I64: IntType = IntType {
        bits: 64,
        signed: true,
    };
    pub const U64: IntType = IntType {
        bits: 64,
        signed: false,
    };
    pub const U32: IntType = IntType {
        bits: 32,
        signed: false,
    };
    pub const I32: IntType = IntType {
        bits: 32,
        signed: true,
    };
    pub const I8: IntType = IntType {
        bits: 8,
        signed: true,
    };
    pub fn bytes(self) -> u32 {
        u32::from(self.bits) / 8
    }
}

/// Which address space a pointer points into: decides the helper that reads through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddrSpace {
    Kernel,
    User,
    /// Not known (e.g. an integer used as an address): read with the legacy helper that tries
    /// both on architectures where the spaces do not overlap.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Int(IntType),
    /// `true`/`false`, and what comparisons and `!` give. Held as 0 or 1.
    Bool,
    /// A NUL-terminated string in a buffer of this many bytes (NUL included).
    Str(u32),
    Ptr {
        pointee: Box<Type>,
        space: AddrSpace,
    },
    Array {
        elem: Box<Type>,
        len: u32,
    },
    /// A kernel struct or union (from BTF), reached only in memory: through a pointer or as a
    /// member of another.
    Record {
        kind: RecordKind,
        name: String,
        size: u32,
    },
    /// `(a, b, …)`: each element in its own 8-byte-aligned slot (see `tuple_offsets`). With
    /// `names` (one per element), a record `(x = a, y = b)`, whose elements are `.x`, `.y`.
    Tuple {
        elems: Vec<Type>,
        names: Vec<String>,
    },
    /// A value carried raw to userspace and shown there in a readable form.
    Formatted(Formatted),
    /// A C type this language cannot handle yet (struct by value, function pointer…); named so
    /// errors can say what it is.
    Opaque {
        name: String,
        size: u32,
    },
    /// A call stack, as `kstack`/`ustack` capture it: at most `limit` frames of the kernel's or
    /// of the user's stack. Printed symbolized (in `mode`, or the `stack_mode` setting's when
    /// none is given); usable as a map key.
    Stack {
        user: bool,
        limit: u8,
        mode: Option<StackMode>,
    },
    /// A value of a kernel enum: an integer that `%s` and map printing show by name.
    Enum(Box<EnumType>),
    /// The "value" of `printf(…)` and `exit()`.
    Void,
}

/// An enum from BTF: its integer type and its named values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnumType {
    pub name: String,
    pub int: IntType,
    pub variants: Vec<(String, i64)>,
}

impl EnumType {
    /// The name of a value, if it has one.
    pub fn name_of(&self, value: i64) -> Option<&str> {
        self.variants
            .iter()
            .find(|(_, v)| *v == value)
            .map(|(n, _)| n.as_str())
    }
}

/// How a stack prints: bpftrace's `stack_mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StackMode {
    /// `function+offset`, one frame per line, indented.
    #[default]
    Bpftrace,
    /// perf's layout: a tab, the address in hex, then `function+offset`.
    Perf,
    /// Addresses in hex only.
    Raw,
}

impl StackMode {
    pub const NAMES: [&'static str; 3] = ["bpftrace", "perf", "raw"];

    pub fn from_name(name: &str) -> Option<StackMode> {
        match name {
            "bpftrace" => Some(StackMode::Bpftrace),
            "perf" => Some(StackMode::Perf),
            "raw" => Some(StackMode::Raw),
            _ => None,
        }
    }
}

/// Whether a `Type::Record` is a struct or a union.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Struct,
    Union,
}

impl RecordKind {
    pub fn keyword(self) -> &'static str {
        match self {
            RecordKind::Struct => "struct",
            RecordKind::Union => "union",
        }
    }
}

/// Values that the kernel side carries as raw data and userspace renders.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Formatted {
    /// `ksym(addr)`: a kernel address, shown as its symbol.
    Ksym,
    /// `usym(addr)`: a user address and the pid whose address it is.
    Usym,
    /// `username`: a uid, shown as the user's name.
    Username,
    /// `strftime(fmt, ns)`: a CLOCK_BOOTTIME time, shown as wall-clock time in `format`.
    Timestamp { format: String },
    /// `ntop(…)`: an address family and 16 address bytes, shown as IPv4 or IPv6 text.
    Inet,
    /// `strerror(e)`: an errno value, shown as its message.
    Errno,
    /// `errno_name(e)`: an errno value, shown as its name (`ENOENT`), the sign ignored.
    ErrnoName,
    /// `syscall_name(nr)`: a syscall number, shown as its name.
    Syscall,
    /// `signal_name(sig)`: a signal number, shown as its description (`Interrupt`).
    Signal,
    /// `macaddr(x)`: six bytes, shown as `AA:BB:CC:DD:EE:FF`.
    Macaddr,
    /// `cgroup_path(id[, filter])`: a cgroup id, shown as its path in each mounted hierarchy
    /// whose name matches the glob `filter` (`unified:/user.slice,cpu:/`).
    CgroupPath { filter: String },
    /// `func` of a uprobe attached to many functions at once: an index in the runtime's table
    /// of the functions it attached to, shown as the function's name.
    Function,
    /// `buf(p, n)`: a length and up to this many bytes, shown with `\x` escapes.
    Buffer(u32),
    /// A struct or union's bytes, shown member by member: `{ .pid = 1, .comm = bash }`.
    Record(Box<RecordView>),
    /// `strs(argv[, max])`: how many strings were read (a u64), then `max` strings of `cap`
    /// bytes each; shown separated by spaces, and as an array in JSON.
    Strings { max: u32, cap: u32 },
}

/// How a record's bytes are read back, member by member.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordView {
    pub size: u32,
    pub members: Vec<(String, u32, View)>,
}

/// How a member at some offset of a record is shown.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum View {
    Int {
        bytes: u8,
        signed: bool,
        /// Bit offset and width within the 8 bytes at the member's offset.
        bitfield: Option<(u8, u8)>,
    },
    Bool,
    /// Shown in hex.
    Pointer,
    /// A `char` array: text up to its first NUL.
    Str(u32),
    Record(Box<RecordView>),
    Array {
        elem: Box<View>,
        elem_size: u32,
        len: u32,
    },
    /// Something without a printable form (a function pointer type, an empty struct).
    Opaque,
}

impl View {
    /// Bytes an array view covers (other views: what their first member needs, at most 8).
    pub fn size(&self) -> u32 {
        match self {
            View::Array { elem_size, len, .. } => elem_size * len,
            View::Int { bytes, .. } => u32::from(*bytes),
            View::Bool => 1,
            _ => 8,
        }
    }
}

impl Formatted {
    /// Bytes the raw value takes.
    pub fn size(&self) -> u32 {
        match self {
            Formatted::Usym => 16,
            Formatted::Inet => 24,
            Formatted::Buffer(n) => 8 + n.next_multiple_of(8),
            Formatted::Record(view) => view.size,
            Formatted::Strings { max, cap } => 8 + max * cap,
            _ => 8,
        }
    }
}

/// Bytes a string of capacity `cap` is kept in: one more than its capacity, rounded up to 8.
/// A string that fills its capacity has no NUL there, which marks it as truncated (as bpftrace
/// does); the spare byte is where the read's own NUL lands.
pub fn str_slot(cap: u32) -> u32 {
    (cap + 1).next_multiple_of(8)
}

/// Offsets of the elements of a tuple of these types, and the tuple's size.
pub fn tuple_offsets(elems: &[Type]) -> (Vec<u32>, u32) {
    let mut offsets = Vec::with_capacity(elems.len());
    let mut at = 0;
    for t in elems {
        offsets.push(at);
        at += t.slot_size();
    }
    (offsets, at)
}

impl Type {
    /// The type that holds values of both `self` and `other`, when they are compatible: a map
    /// key or value used with both. Integers keep the first width, strings take the larger
    /// capacity, tuples combine element by element.
    pub fn unify(&self, other: &Type) -> Option<Type> {
        match (self, other) {
            (Type::Int(_), Type::Int(_)) => Some(self.clone()),
            // An enum's value beside plain integers is an integer (shown as a number).
            (Type::Int(i), Type::Enum(_)) => Some(Type::Int(*i)),
            (Type::Enum(e), Type::Int(_)) => Some(Type::Int(e.int)),
            (Type::Str(a), Type::Str(b)) => Some(Type::Str((*a).max(*b))),
            // Pointers that differ in their pointee (`const` or not) keep the first one's type.
            (Type::Ptr { .. }, Type::Ptr { .. }) => Some(self.clone()),
            (
                Type::Tuple { elems: a, names },
                Type::Tuple {
                    elems: b,
                    names: other_names,
                },
            ) if a.len() == b.len() && names == other_names => a
                .iter()
                .zip(b)
                .map(|(x, y)| x.unify(y))
                .collect::<Option<Vec<_>>>()
                .map(|elems| Type::Tuple {
                    elems,
                    names: names.clone(),
                }),
            (a, b) if a == b => Some(a.clone()),
            _ => None,
        }
    }

    /// A tuple of these elements.
    pub fn tuple(elems: Vec<Type>) -> Type {
        Type::Tuple {
            elems,
            names: Vec::new(),
        }
    }

    /// The elements of a tuple or record.
    pub fn elements(&self) -> Option<&[Type]> {
        match self {
            Type::Tuple { elems, .. } => Some(elems),
            _ => None,
        }
    }

    pub const fn int(bits: u8, signed: bool) -> Type {
        Type::Int(IntType { bits, signed })
    }
    pub fn is_int(&self) -> bool {
        matches!(self, Type::Int(_))
    }
    /// Integers, booleans and pointers: values that fit a register.
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Type::Int(_) | Type::Bool | Type::Ptr { .. } | Type::Enum(_)
        )
    }
    /// Bytes the value takes in a record, a map or a variable: 8-byte slots for register
    /// values, the capacity rounded up to 8 for the others (`str_slot` for strings).
    pub fn slot_size(&self) -> u32 {
        match self {
            Type::Int(_) | Type::Bool | Type::Ptr { .. } | Type::Stack { .. } | Type::Enum(_) => 8,
            Type::Str(cap) => str_slot(*cap),
            other => other.size().next_multiple_of(8),
        }
    }
    pub fn is_str(&self) -> bool {
        matches!(self, Type::Str(_))
    }
    /// The integer view of a scalar (pointers are unsigned 64-bit).
    pub fn as_int(&self) -> Option<IntType> {
        match self {
            Type::Int(i) => Some(*i),
            Type::Bool => Some(IntType {
                bits: 8,
                signed: false,
            }),
            Type::Ptr { .. } => Some(IntType::U64),
            Type::Enum(e) => Some(e.int),
            _ => None,
        }
    }
    /// Size in bytes of a value of this type when stored.
    pub fn size(&self) -> u32 {
        match self {
            Type::Int(i) => i.bytes(),
            Type::Enum(e) => e.int.bytes(),
            Type::Bool => 1,
            Type::Str(n) => *n,
            Type::Record { size, .. } => *size,
            Type::Tuple { elems, .. } => tuple_offsets(elems).1,
            Type::Formatted(f) => f.size(),
            Type::Ptr { .. } => 8,
            Type::Array { elem, len } => elem.size().saturating_mul(*len),
            Type::Opaque { size, .. } => *size,
            // A stack id (and, for user stacks, the pid whose stack it is).
            Type::Stack { .. } => 8,
            Type::Void => 0,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int(i) => write!(f, "{}int{}", if i.signed { "" } else { "u" }, i.bits),
            Type::Bool => write!(f, "bool"),
            Type::Str(n) => write!(f, "string[{n}]"),
            Type::Record { kind, name, .. } => write!(f, "{} {name}", kind.keyword()),
            Type::Tuple { elems, names } => {
                write!(f, "(")?;
                for (i, t) in elems.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    if let Some(name) = names.get(i) {
                        write!(f, "{name}=")?;
                    }
                    write!(f, "{t}")?;
                }
                write!(f, ")")
            }
            Type::Formatted(kind) => write!(
                f,
                "{}",
                match kind {
                    Formatted::Ksym => "ksym_t",
                    Formatted::Usym => "usym_t",
                    Formatted::Username => "username",
                    Formatted::Timestamp { .. } => "timestamp",
                    Formatted::Inet => "inet",
                    Formatted::Errno => "strerror_t",
                    Formatted::ErrnoName => "errno_name_t",
                    Formatted::Syscall => "syscall_name_t",
                    Formatted::Signal => "signal_name_t",
                    Formatted::Function => "func_t",
                    Formatted::Macaddr => "macaddr_t",
                    Formatted::CgroupPath { .. } => "cgroup_path_t",
                    Formatted::Buffer(_) => "buffer",
                    Formatted::Record(_) => "record",
                    Formatted::Strings { .. } => "strings",
                }
            ),
            Type::Ptr { pointee, .. } if **pointee == Type::Int(IntType::I8) => write!(f, "char *"),
            Type::Ptr { pointee, .. } => write!(f, "{pointee} *"),
            Type::Array { elem, len } => write!(f, "{elem}[{len}]"),
            Type::Opaque { name, .. } => write!(f, "{name}"),
            Type::Stack { user: false, .. } => write!(f, "kstack"),
            Type::Stack { user: true, .. } => write!(f, "ustack"),
            Type::Enum(e) if e.name.is_empty() => write!(f, "enum (anonymous)"),
            Type::Enum(e) => write!(f, "enum {}", e.name),
            Type::Void => write!(f, "void"),
        }
    }
}

/// Where a probe's `args` field lives in the program's context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldLocation {
    /// The value itself is at this byte offset of the context record.
    Inline { offset: u32 },
    /// A tracepoint `__data_loc` field: a u32 at `offset` whose low 16 bits are the offset of the
    /// string in the record and whose high 16 bits are its length.
    DataLoc { offset: u32 },
    /// A 64-bit slot at `offset` holding the value in its low bytes: a register, or an argument
    /// of a raw tracepoint. Read whole, then narrowed to the type.
    Word { offset: u32 },
    /// An argument of a trampoline or an iterator: a 64-bit slot the verifier types from BTF.
    /// A pointer read from it directly would be a kernel object the program may not do
    /// arithmetic on, so it is copied out as a plain address.
    BtfWord { offset: u32 },
    /// A USDT argument, found where its probe's note says (the context is the user registers).
    Usdt(UsdtArg),
}

/// A USDT probe argument as its note's spec describes it (`-4@%edi`, `8@-16(%rbp)`, `-4@$42`):
/// where the value is, and its size in bytes and signedness, by which it is widened to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsdtArg {
    pub operand: UsdtOperand,
    pub size: u8,
    pub signed: bool,
}

/// Where a USDT argument is. Registers are given by their offset in `struct pt_regs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsdtOperand {
    /// In a register.
    Register { offset: u32 },
    /// In user memory at `base + index * scale + displacement`. A `symbol(%rip)` operand has
    /// the instruction pointer (the probe's own address when it fires) as its base.
    Memory {
        base: Option<u32>,
        index: Option<(u32, u8)>,
        displacement: i64,
    },
    /// A constant.
    Constant(i64),
}

/// One field of `args`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextField {
    pub name: String,
    pub ty: Type,
    pub location: FieldLocation,
    /// The C declaration as the kernel writes it (`const char * filename`), for `-lv` and hints.
    pub c_decl: String,
}

/// What checking and code generation know of a probe's program: the ELF section that tells the
/// loader its program type, and when it runs. Where and how it attaches is its probe type's
/// own business (`ResolvedProbe::attach`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramKind {
    pub section: Section,
    pub runs: Runs,
}

/// An ELF section name: `PREFIX/NAME`. The prefix gives the program type (`tracepoint`,
/// `raw_tp`, `perf_event`, `kprobe`, `kretprobe`, `uprobe`, `uretprobe`, `fentry`, `fexit`,
/// `iter`); the name is the probe's own where the loader reads it (`syscalls/sys_enter_openat`,
/// `task`), else the program's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub prefix: &'static str,
    pub name: Option<String>,
}

/// When a program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runs {
    /// Once, before the other probes are attached (BEGIN).
    AtStart,
    /// Each time scry receives SIGUSR1 (`self:signal:SIGUSR1`).
    OnSignal,
    /// Once, after the other probes are detached (END).
    AtExit,
    /// Through to its end as it is attached (iterators): nothing is left to wait for.
    ToCompletion,
    /// On every event, from attaching until exit.
    OnEvents,
}

impl Runs {
    /// BEGIN, END and `self:signal` are run by scry itself, in its own process, not attached
    /// to an event: no `-p` filter applies.
    pub fn once(self) -> bool {
        matches!(self, Runs::AtStart | Runs::AtExit | Runs::OnSignal)
    }
}

/// Where `func` comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Func {
    /// A kernel function: `func` is a `ksym_t` of its address, as bpftrace types it.
    Kernel(String),
    /// A function of a user binary: `func` is its name.
    User(String),
    /// One of the functions a probe attached to many at once (a `kprobe_multi` or
    /// `uprobe_multi` link) runs for, told by the cookie it was attached with: a kernel
    /// function's address (`func` is a `ksym_t`, as for one function), or a user function's
    /// index in the runtime's table of function names (`Formatted::Function`).
    Attached { kernel: bool },
}

impl Func {
    pub fn name(&self) -> &str {
        match self {
            Func::Kernel(n) | Func::User(n) => n,
            Func::Attached { .. } => "",
        }
    }
}

/// Where a probe attaches, as its probe type describes it to itself. Checking and code
/// generation carry it along without looking inside; the probe type that made it gets it back
/// with `get`.
#[derive(Clone, Debug)]
pub struct Attach(std::sync::Arc<dyn AttachTarget>);

/// A probe type's own description of where one probe attaches.
pub trait AttachTarget: fmt::Debug + Send + Sync {
    fn as_any(&self) -> &dyn std::any::Any;
    fn equals(&self, other: &dyn AttachTarget) -> bool;
}

impl<T: fmt::Debug + PartialEq + Send + Sync + 'static> AttachTarget for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn equals(&self, other: &dyn AttachTarget) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
}

impl Attach {
    pub fn new(target: impl AttachTarget + 'static) -> Attach {
        Attach(std::sync::Arc::new(target))
    }
    /// The description, when it is a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.as_any().downcast_ref()
    }
}

impl PartialEq for Attach {
    fn eq(&self, other: &Attach) -> bool {
        self.0.equals(&*other.0)
    }
}

impl Eq for Attach {}

/// One attach point after wildcard expansion: what its program is, where `args`, `argN`,
/// `retval`, `func` and the registers are found, and (for its probe type) where it attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedProbe {
    /// The full name, as the `probe` builtin returns it: `tracepoint:syscalls:sys_enter_execve`.
    pub name: String,
    /// The probe type, as users write it in full (`kretprobe`): for messages, and for the
    /// runtime to find the type again.
    pub provider: &'static str,
    pub program: ProgramKind,
    /// The fields of `args`; `None` when the probe type has no `args`.
    pub args: Option<Vec<ContextField>>,
    /// `args` is named `ctx` too (iterators).
    pub args_as_ctx: bool,
    /// Values the probe offers as bare names (`arg0`…, `retval`), read from its context.
    pub values: Vec<ContextField>,
    /// The traced function, for `func`.
    pub func: Option<Func>,
    /// The executable or library a user-space probe is in, whose symbols `uaddr()` resolves.
    pub binary: Option<String>,
    /// The machine registers the context holds, for `reg("name")` and `usermode`.
    pub registers: Vec<ContextField>,
    /// The kernel struct the program's context points to, for a bare `ctx` (`pt_regs`).
    pub context: Option<String>,
    /// The offset of a context word that is NULL on a run that only marks the end (an
    /// iterator's last call, past its last object): the block does not run then.
    pub ends_on_null: Option<u32>,
    pub attach: Attach,
}

impl ResolvedProbe {
    /// A probe with no `args`, values, function, binary or registers; its probe type sets
    /// those it has.
    pub fn new(
        name: impl Into<String>,
        provider: &'static str,
        program: ProgramKind,
        attach: Attach,
    ) -> ResolvedProbe {
        ResolvedProbe {
            name: name.into(),
            provider,
            program,
            args: None,
            args_as_ctx: false,
            values: Vec::new(),
            func: None,
            binary: None,
            registers: Vec::new(),
            context: None,
            ends_on_null: None,
            attach,
        }
    }
}

impl ProgramKind {
    /// A program in section `PREFIX/NAME` (the program's name when `name` is `None`).
    pub fn new(prefix: &'static str, name: Option<String>, runs: Runs) -> ProgramKind {
        ProgramKind {
            section: Section { prefix, name },
            runs,
        }
    }
}

/// Why an attach point could not be resolved, in the user's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveError {
    pub message: String,
    pub hint: Option<String>,
}

/// A member of a struct or union, with nested anonymous members flattened into their parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub ty: Type,
    /// Byte offset from the start of the record.
    pub offset: u32,
    /// For a bitfield: the bit offset within the 8 bytes at `offset`, and the width.
    pub bitfield: Option<(u8, u8)>,
}

/// Implemented by the caller (the runtime from tracefs and BTF, tests from fixtures): expands an
/// attach point into the probes it names and describes each one's context, and describes the
/// kernel's types.
pub trait ProbeResolver {
    fn resolve(&self, provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError>;
    /// One probe that attaches to all of `probes` (what one attach point expanded to) at once,
    /// where its probe type and the kernel can (a `kprobe_multi` link): one program instead of
    /// one each. Its `func` says which function it runs for (`Func::Attached`).
    /// `name` is the attach point's, as `probe` would name it.
    fn join(&self, _name: String, _probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        None
    }

    /// The kernel's struct or union of this name (`Type::Record`), if it has one.
    fn record(&self, _kind: RecordKind, _name: &str) -> Option<Type> {
        None
    }
    /// The members of a struct or union.
    fn members(&self, _kind: RecordKind, _name: &str) -> Option<Vec<Member>> {
        None
    }
    /// The value of a kernel enum constant (`TCP_ESTABLISHED`), as BTF describes it.
    fn enum_value(&self, _name: &str) -> Option<i64> {
        None
    }
    /// A kernel enum by name, for `(enum NAME)x`.
    /// The enum an enumerator belongs to (the script's, or a named kernel enum): its value is
    /// typed as that enum (and shown by name), as bpftrace types it.
    fn enum_of(&self, _enumerator: &str) -> Option<EnumType> {
        None
    }
    fn enumeration(&self, _name: &str) -> Option<EnumType> {
        None
    }
    /// The address of a kernel symbol (`kaddr("jiffies")`).
    fn kernel_symbol(&self, _name: &str) -> Option<u64> {
        None
    }
    /// The address of a function or variable in an executable or library (`uaddr("sym")`).
    fn user_symbol(&self, _path: &str, _name: &str) -> Option<u64> {
        None
    }
    /// The probe types whose probes give a bare name meaning (`func`, `retval`, `arg0`…), for
    /// hints.
    fn providers_of(&self, _name: &str) -> Vec<&'static str> {
        Vec::new()
    }
    /// The id of the cgroup (v2) at this path (`cgroupid("/sys/fs/cgroup/…")`).
    fn cgroup_id(&self, _path: &str) -> Result<u64, String> {
        Err("cgroups are not known here".into())
    }
}
