//! Values as printers see them: a map's entries decoded, combined across CPUs, sorted and
//! built into histograms, with no kernel layout left. Golden tests build these by hand.

use scry_lang::types::StackMode;

/// One key field, or a plain map value.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    UInt(u64),
    /// An address: hex in text, a number in JSON (as bpftrace shows pointers).
    Pointer(u64),
    Str(String),
    Bool(bool),
    /// An enum's value that has a name: shown by it in text, as the number in JSON (as
    /// bpftrace keeps JSON output stable).
    Enum {
        name: String,
        value: i64,
    },
    Stack(Stack),
    Tuple(Vec<Scalar>),
    /// `buf()`: raw bytes, shown with `\x` escapes.
    Bytes(Vec<u8>),
    /// A struct's members, in order.
    Record(Vec<(String, Scalar)>),
    Array(Vec<Scalar>),
    /// `strs()`: separated by spaces in text, an array of strings in JSON.
    Strings(Vec<String>),
}

/// A symbolized stack (`kstack`, `ustack`).
#[derive(Clone, Debug, PartialEq)]
pub struct Stack {
    /// Innermost first.
    pub frames: Vec<Frame>,
    /// A user stack, else the kernel's.
    pub user: bool,
    /// How text output writes its frames.
    pub mode: StackMode,
}

/// One return address of a stack, and the function that holds it when one is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    pub ip: u64,
    /// The function's name and the address's offset in it.
    pub symbol: Option<(String, u64)>,
}

impl Frame {
    /// As a stack mode writes it: `name+offset` (or hex) for bpftrace's, perf's tab and
    /// address before that, or the address alone.
    pub fn text(&self, mode: StackMode) -> String {
        let symbol = || match &self.symbol {
            Some((name, off)) => format!("{name}+{off}"),
            None => format!("0x{:x}", self.ip),
        };
        match mode {
            StackMode::Bpftrace => symbol(),
            StackMode::Perf => format!("\t{:x} {}", self.ip, symbol()),
            StackMode::Raw => format!("{:x}", self.ip),
        }
    }

    /// The function's name, or the address in hex: what a flame graph's frame shows.
    pub fn function(&self) -> String {
        match &self.symbol {
            Some((name, _)) => name.clone(),
            None => format!("0x{:x}", self.ip),
        }
    }
}

/// A histogram bucket boundary: a number, or a number shown with a suffix (`4K`).
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    Int(i64),
    Sym(String, i64),
}

impl Label {
    pub fn value(&self) -> i64 {
        match self {
            Label::Int(v) | Label::Sym(_, v) => *v,
        }
    }
}

/// Buckets as bpftrace describes them: bucket `i` runs from the label before it (or
/// `lower_bound` for the first) up to `labels[i]`; a bucket past the last label is open-ended.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Histogram {
    pub lower_bound: Option<Label>,
    pub labels: Vec<Label>,
    pub counts: Vec<u64>,
    /// The total of the values counted (Prometheus's `_sum`; not printed).
    pub sum: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Stats {
        count: i64,
        average: i64,
        total: i64,
    },
    Hist(Histogram),
}

/// What a map holds, which decides its JSON record type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DumpKind {
    Map,
    /// `avg()` and `stats()` maps.
    Stats,
    Hist,
}

/// A map ready to print.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDump {
    /// With its `@`.
    pub name: String,
    pub kind: DumpKind,
    pub entries: Entries,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entries {
    /// A map without keys.
    Scalar(Value),
    /// Keyed entries in print order; each key has one field per key expression.
    Keyed(Vec<(Vec<Scalar>, Value)>),
}

impl MapDump {
    pub fn is_empty(&self) -> bool {
        matches!(&self.entries, Entries::Keyed(e) if e.is_empty())
    }
}
