//! The checked program: one `Probe` per expanded attach point, every expression typed, names
//! resolved to variables, builtins and context fields. This is what code generation consumes.

use crate::ast::{BinaryOp, Span, UnaryOp};
use crate::printf::Format;
use crate::types::{AddrSpace, ContextField, Formatted, IntType, ResolvedProbe, Type};

pub mod visit;

use crate::builtins::Aggregator;
pub use crate::builtins::Builtin;

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub probes: Vec<Probe>,
    /// Every map the program uses, indexed by `MapId`, in order of first use.
    pub maps: Vec<MapDecl>,
    /// What checking found worth saying that does not stop the program.
    pub warnings: Vec<crate::Diagnostic>,
    /// The named arguments the script reads with `getopt()`.
    pub options: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapId(pub usize);

/// A map, as every use of it in the program agrees: its key and value types.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDecl {
    /// As written, with the `@`: `@bytes`, or `@` for the anonymous map.
    pub name: String,
    /// The key's fields; empty for a scalar map (`@x = …`). Integers are 64-bit, strings have
    /// the largest capacity any use needs.
    pub keys: Vec<Type>,
    pub value: MapValue,
    /// `len(@m)` is used: the program keeps a count of its keys.
    pub counted: bool,
    /// From `let @m = lruhash(N);`; `None`: a hash map (per-CPU for aggregations) of
    /// `max_map_keys` entries.
    pub storage: Option<MapStorage>,
    /// A name per key field, for Prometheus labels: the key expression's own name where it
    /// has one (`comm`, `$x` → `x`, `args.fd` → `fd`), `key0`… otherwise.
    pub key_names: Vec<String>,
}

/// How a declared map is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapStorage {
    /// The least recently used entry makes room for a new one when the map is full.
    pub lru: bool,
    pub max_entries: u32,
}

/// What a map holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// A plain integer (`@start[tid] = nsecs`).
    Int(IntType),
    /// A plain string of this capacity (`@name = comm`).
    Str(u32),
    /// Any other value, stored as its bytes: a bool, a tuple, a value userspace renders
    /// (`@sym[pid] = ksym(addr)`).
    Stored(Type),
    /// What an aggregation function keeps: per CPU, updated in place, combined when read.
    Aggregate(Aggregate),
}

/// An aggregation and its parameters: what `@m[k] = count()` and the others keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    Stats,
    /// `hist(v, bits)`: log2 buckets, each power of two split in 2^bits.
    Hist {
        bits: u8,
    },
    /// `lhist(v, min, max, step)`: linear buckets.
    Lhist(LinearBuckets),
}

/// `lhist`'s buckets: one below `min`, one per `step` up to `max`, one above. The checker
/// allows at most 1000 steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearBuckets {
    pub min: i64,
    pub max: i64,
    pub step: i64,
}

impl LinearBuckets {
    /// The number of steps from `min` to `max` (rounded down), computed without overflow.
    pub fn steps(&self) -> u32 {
        let steps = (i128::from(self.max) - i128::from(self.min)) / i128::from(self.step.max(1));
        u32::try_from(steps).unwrap_or(u32::MAX - 2)
    }
    /// Underflow, the steps, overflow.
    pub fn count(&self) -> u32 {
        self.steps() + 2
    }
    /// The bucket for values above `max`.
    pub fn overflow(&self) -> u32 {
        self.steps() + 1
    }
    /// The lower bound of bucket `index` (1 is `min`), if it is not past `max`.
    pub fn lower_bound(&self, index: u32) -> Option<i64> {
        let v = i128::from(self.min) + (i128::from(index) - 1) * i128::from(self.step);
        i64::try_from(v).ok().filter(|&v| v <= self.max)
    }
}

/// `hist`'s buckets: negative values, zero, then 2^bits per power of two.
pub fn log2_buckets(bits: u8) -> u32 {
    ((64 - u32::from(bits)) << bits) + 1
}

impl Aggregate {
    /// What `f` keeps, histograms with placeholder parameters (a read of a map before its
    /// assignment is checked knows the function, not yet its parameters).
    pub fn unparameterized(f: Aggregator) -> Aggregate {
        match f {
            Aggregator::Count => Aggregate::Count,
            Aggregator::Sum => Aggregate::Sum,
            Aggregator::Min => Aggregate::Min,
            Aggregator::Max => Aggregate::Max,
            Aggregator::Avg => Aggregate::Avg,
            Aggregator::Stats => Aggregate::Stats,
            Aggregator::Hist => Aggregate::Hist { bits: 0 },
            Aggregator::Lhist => Aggregate::Lhist(LinearBuckets {
                min: 0,
                max: 1,
                step: 1,
            }),
        }
    }

    /// The function that makes it.
    pub fn function(&self) -> Aggregator {
        match self {
            Aggregate::Count => Aggregator::Count,
            Aggregate::Sum => Aggregator::Sum,
            Aggregate::Min => Aggregator::Min,
            Aggregate::Max => Aggregator::Max,
            Aggregate::Avg => Aggregator::Avg,
            Aggregate::Stats => Aggregator::Stats,
            Aggregate::Hist { .. } => Aggregator::Hist,
            Aggregate::Lhist(_) => Aggregator::Lhist,
        }
    }
    /// The type of its one value, for those that have one (`stats`, `hist` and `lhist` have
    /// none).
    pub fn value_type(&self) -> Option<Type> {
        match self {
            Aggregate::Count => Some(Type::Int(IntType::U64)),
            Aggregate::Sum | Aggregate::Min | Aggregate::Max | Aggregate::Avg => {
                Some(Type::Int(IntType::I64))
            }
            Aggregate::Stats | Aggregate::Hist { .. } | Aggregate::Lhist(_) => None,
        }
    }
}

impl MapValue {
    /// Aggregations live in per-CPU maps, combined when read.
    pub fn is_aggregation(&self) -> bool {
        matches!(self, MapValue::Aggregate(_))
    }
    /// The type of one value read from the map; `None` for `stats`, `hist` and `lhist`, which
    /// have no single value.
    pub fn value_type(&self) -> Option<Type> {
        match self {
            MapValue::Int(i) => Some(Type::Int(*i)),
            MapValue::Str(n) => Some(Type::Str(*n)),
            MapValue::Stored(t) => Some(t.clone()),
            MapValue::Aggregate(a) => a.value_type(),
        }
    }
    /// The function or type that makes this kind of value, for messages.
    pub fn describe(&self) -> String {
        match self {
            MapValue::Int(i) => format!("{}", Type::Int(*i)),
            MapValue::Str(n) => format!("{}", Type::Str(*n)),
            MapValue::Stored(t) => format!("{t}"),
            MapValue::Aggregate(a) => format!("{}()", a.function().name()),
        }
    }
}

/// Map functions that userspace carries out, in order with the program's other output.
#[derive(Clone, Debug, PartialEq)]
pub enum MapOp {
    Clear,
    Zero,
    /// `print(@m, top, div)`
    Print {
        top: Option<Box<Expr>>,
        div: Option<Box<Expr>>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub resolved: ResolvedProbe,
    pub predicate: Option<Expr>,
    pub body: Vec<Stmt>,
    /// Scratch variables, indexed by `VarId`.
    pub vars: Vec<Var>,
    /// The attach point as written, for messages about this probe.
    pub attach_span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VarId(pub usize);

#[derive(Clone, Debug, PartialEq)]
pub struct Var {
    pub name: String,
    pub ty: Type,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effects (and then dropped).
    Expr(Expr),
    /// `let $x;`: the variable starts at zero (or the empty string), whatever its type turns
    /// out to be.
    ZeroVar(VarId),
    Assign {
        var: VarId,
        value: Expr,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    Block(Vec<Stmt>),
    Printf {
        format: Format,
        args: Vec<Expr>,
    },
    Exit {
        code: Option<Expr>,
    },
    /// `debugf(format, args…)`: the kernel formats the line, into its trace pipe.
    Debugf {
        format: Vec<u8>,
        args: Vec<Expr>,
    },
    /// `@m[keys] = value`, a plain value.
    MapAssign {
        map: MapId,
        keys: Vec<Expr>,
        value: Expr,
    },
    /// `@m[keys] = count()` and the other aggregations: the map's `MapValue::Aggregate`
    /// says which; `value` is what is aggregated (`count()` has none).
    Aggregate {
        map: MapId,
        keys: Vec<Expr>,
        value: Option<Expr>,
    },
    /// `delete(@m, key)`
    Delete {
        map: MapId,
        keys: Vec<Expr>,
    },
    MapOp {
        map: MapId,
        op: MapOp,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
    },
    /// `for ($i : start..end)`: both bounds evaluated once, before the first iteration.
    ForRange {
        var: VarId,
        start: Expr,
        end: Expr,
        body: Vec<Stmt>,
    },
    /// `for ($kv : @map)`: the body once per entry, `$kv` holding (key, value); the map's keys
    /// are those present when the loop starts.
    ForMap {
        var: VarId,
        map: MapId,
        body: Vec<Stmt>,
    },
    /// `unroll(n)`: the body, n times.
    Unroll {
        count: u32,
        body: Vec<Stmt>,
    },
    Break,
    Continue,
    /// Ends this run of the probe.
    /// `return [value]`: the value is evaluated for its effects.
    Return(Option<Expr>),
    /// Output that userspace produces when the record arrives.
    Async(AsyncOp),
    /// `signal(sig)`: send a signal to the current process (`--unsafe`).
    Signal(Expr),
}

/// Effects carried out by userspace, in order with `printf` output.
#[derive(Clone, Debug, PartialEq)]
pub enum AsyncOp {
    /// `print(value)`
    Print(Expr),
    /// `time(fmt)`: the wall-clock time when userspace handles the record.
    Time(String),
    /// `join(argv[, sep])`: the strings of a NULL-terminated array, separated.
    Join { argv: Expr, sep: String },
    /// `cat(fmt, …)`: a file's contents.
    Cat { format: Format, args: Vec<Expr> },
    /// `system(fmt, …)`: a shell command's output (`--unsafe`).
    System { format: Format, args: Vec<Expr> },
    /// `emit(format, (name = value, …))`: an event with named fields, stamped with the
    /// time (`nsecs`) it happened.
    Event {
        format: Format,
        names: Vec<String>,
        args: Vec<Expr>,
    },
    /// `errorf`/`warnf`: a message prefixed with the call's location.
    Message {
        error: bool,
        span: Span,
        format: Format,
        args: Vec<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Type,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer constant; `ty` says how to read the bits.
    Int(u64),
    /// A string constant (without its NUL).
    Str(Vec<u8>),
    Builtin(Builtin),
    /// The program's context pointer (`ctx`).
    Context,
    /// The cookie the program's probe was attached with (`bpf_get_attach_cookie`).
    AttachCookie,
    /// `len(kstack)` / `len(ustack)`: the frames of the current stack, at most `limit`.
    StackLen {
        user: bool,
        limit: u8,
    },
    /// `nsecs(clock)`: a kernel clock now, in ns.
    Now(Clock),
    /// `pid(curr_ns)` / `tid(curr_ns)`: the process or thread id in scry's pid namespace.
    NsPid {
        thread: bool,
    },
    Var(VarId),
    /// `@m[keys]`: the value, or zero when the key is missing.
    MapRead {
        map: MapId,
        keys: Vec<Expr>,
    },
    /// `has_key(@m, keys)`
    HasKey {
        map: MapId,
        keys: Vec<Expr>,
    },
    /// `len(@m)`
    Len(MapId),
    /// `kstack`, `ustack`, `kstack(n)`: the current stack (the limit is in the type).
    Stack,
    /// `args.field`
    Arg(ContextField),
    /// `str(ptr[, len])`: read a NUL-terminated string through a pointer. The result's capacity
    /// is `ty`'s; `len` limits the characters read at run time.
    ReadStr {
        ptr: Box<Expr>,
        space: AddrSpace,
        len: Option<Box<Expr>>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    /// `signed` selects signed division, remainder, shift right and comparisons.
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        signed: bool,
    },
    /// `cond ? then : otherwise`
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// A conversion to `ty` (integer resizing, or a pointer retyped).
    Cast(Box<Expr>),
    /// `(a, b, …)`
    Tuple(Vec<Expr>),
    /// Element `index` of a tuple value.
    TupleGet {
        tuple: Box<Expr>,
        index: usize,
    },
    /// `&$x`, `&(1, 2)`, `&comm`: the address of a value of the program's own (a variable, or
    /// a copy made in its scratch memory), valid while the program runs.
    AddrOf(Box<Expr>),
    /// The value of type `ty` at an address in kernel or user memory.
    Load {
        addr: Box<Expr>,
        space: AddrSpace,
    },
    /// Whether two strings are equal: in their first `limit` characters when set (`strncmp`).
    StrEq {
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        limit: Option<u32>,
    },
    /// `strcontains(haystack, needle)`; with `position`, `strstr`: where the needle first
    /// starts, or -1.
    StrContains {
        haystack: Box<Expr>,
        needle: Box<Expr>,
        position: bool,
    },
    /// `strlen(s)`
    StrLen(Box<Expr>),
    /// `bswap(x)`: the bytes of x (of its type's size) reversed.
    Bswap(Box<Expr>),
    /// `s[i]`: the character at a constant index (0 past the end).
    StrIndex {
        string: Box<Expr>,
        index: u32,
    },
    /// `a[i]` of an array or string value (not reached through a pointer): the element at an
    /// index computed at run time, checked against `len` there (0 past the end).
    ElementAt {
        value: Box<Expr>,
        index: Box<Expr>,
        len: u32,
    },
    /// A value that userspace renders (`ksym(addr)`, `username`, `ntop(…)`…): its raw parts.
    Format {
        kind: Formatted,
        args: Vec<Expr>,
    },
    /// `find(@m, key, $v)`: whether the key is there; when it is, its value goes to `$v`.
    Find {
        map: MapId,
        keys: Vec<Expr>,
        var: VarId,
    },
    /// `delete(@m, key)` as a value: whether the key was there.
    Delete {
        map: MapId,
        keys: Vec<Expr>,
    },
    /// Constant bytes: `pton("127.0.0.1")`.
    Bytes(Vec<u8>),
    /// Whether two byte arrays of the same size are equal.
    BytesEq {
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Statements, then a value (a macro's body).
    Block {
        stmts: Vec<Stmt>,
        value: Box<Expr>,
    },
}

/// The clocks `nsecs()` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// CLOCK_MONOTONIC (`bpf_ktime_get_ns`).
    Monotonic,
    /// CLOCK_BOOTTIME, what bare `nsecs` reads.
    Boot,
    /// CLOCK_TAI (`bpf_ktime_get_tai_ns`, Linux 6.1).
    Tai,
    /// CLOCK_BOOTTIME plus the TAI offset scry measured when it compiled the program.
    SwTai,
}
