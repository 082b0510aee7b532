//! The names the language knows without being told, each kind in one table: builtin values
//! (`pid`), the identifiers some probes give meaning to (`args`, `retval`), and the functions,
//! by what a call is: a statement (`printf`), a value (`str`), an aggregation (`count`) or a
//! map function (`delete`). Each table entry is a variant carrying its name and arity, so the
//! checker and code generator match on variants, never on strings, and a new entry that is not
//! handled everywhere is a compile error. Hints for typos search these tables.

use crate::types::{IntType, Type};

/// Defines an enum of named entries, with `ALL`, `name` and `from_name`, from one table.
macro_rules! table {
    ($(#[$m:meta])* pub enum $E:ident { $($(#[$vm:meta])* $V:ident = $name:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $E { $($(#[$vm])* $V,)* }

        impl $E {
            /// Every entry, in table order.
            pub const ALL: &'static [$E] = &[$($E::$V,)*];

            /// As users write it.
            pub fn name(self) -> &'static str {
                match self { $($E::$V => $name,)* }
            }

            pub fn from_name(name: &str) -> Option<$E> {
                Self::ALL.iter().copied().find(|e| e.name() == name)
            }
        }
    };
}

/// Defines a function table: like `table!`, every entry with its argument count (min, max).
macro_rules! functions {
    ($(#[$m:meta])* pub enum $E:ident { $($(#[$vm:meta])* $V:ident = $name:literal ($lo:expr, $hi:expr),)* }) => {
        table! { $(#[$m])* pub enum $E { $($(#[$vm])* $V = $name,)* } }

        impl $E {
            /// How many arguments it takes.
            pub fn arity(self) -> Arity {
                match self { $($E::$V => Arity { min: $lo, max: $hi },)* }
            }
        }
    };
}

/// How many arguments a function takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arity {
    pub min: usize,
    /// `usize::MAX`: any number more.
    pub max: usize,
}

impl Arity {
    pub fn allows(self, n: usize) -> bool {
        (self.min..=self.max).contains(&n)
    }
}

impl std::fmt::Display for Arity {
    /// `1 argument`, `1 to 2 arguments`, `at least 1 argument`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.min == 1 { "" } else { "s" };
        match (self.min, self.max) {
            (lo, hi) if lo == hi => write!(f, "{lo} argument{plural}"),
            (0, 1) => write!(f, "at most 1 argument"),
            (lo, usize::MAX) => write!(f, "at least {lo} argument{plural}"),
            (lo, hi) => write!(f, "{lo} to {hi} arguments"),
        }
    }
}

table! {
    /// Builtin values written as bare identifiers.
    pub enum Builtin {
        Pid = "pid",
        Tid = "tid",
        Uid = "uid",
        Gid = "gid",
        Comm = "comm",
        Nsecs = "nsecs",
        Elapsed = "elapsed",
        Cpu = "cpu",
        /// `struct task_struct *` of the current task.
        Curtask = "curtask",
        Rand = "rand",
        Jiffies = "jiffies",
        /// The number of possible CPUs.
        Ncpus = "ncpus",
        /// The cgroup v2 id of the current task.
        Cgroup = "cgroup",
        /// The NUMA node the CPU running the probe belongs to.
        Numaid = "numaid",
    }
}

table! {
    /// Identifiers that are not plain builtin values: made from other values, or given by the
    /// probe (`args`, `retval`, `func`). `arg0`…`argN` are a family of their own (`arg_index`).
    pub enum Special {
        Probe = "probe",
        /// The probe's type: `tracepoint`, `kprobe`…; `special` for BEGIN and END.
        Probetype = "probetype",
        Args = "args",
        Kstack = "kstack",
        Ustack = "ustack",
        Ppid = "ppid",
        Pcomm = "pcomm",
        Username = "username",
        Cpid = "cpid",
        Func = "func",
        Retval = "retval",
        /// The program's context: `struct pt_regs *` in kprobes and uprobes; in an iterator
        /// its `ctx.task`… are `args` by another name.
        Ctx = "ctx",
        /// Whether the probe interrupted user code (the CS register's privilege level is 3).
        Usermode = "usermode",
        /// The settings in force, as a record: `config.max_strlen`.
        Config = "config",
    }
}

functions! {
    /// Functions called as statements for their effect; they have no value.
    pub enum StatementFn {
        Printf = "printf" (1, usize::MAX),
        Exit = "exit" (0, 1),
        Time = "time" (0, 1),
        Join = "join" (1, 2),
        Cat = "cat" (1, usize::MAX),
        System = "system" (1, usize::MAX),
        Signal = "signal" (1, 1),
        Errorf = "errorf" (1, usize::MAX),
        Warnf = "warnf" (1, usize::MAX),
        Assert = "assert" (2, 2),
        /// A line for the kernel's trace pipe (`bpf_trace_printk`).
        Debugf = "debugf" (1, usize::MAX),
        /// `emit(format, (name = value, …))`: one event, printed through the format as text
        /// and as an object of named fields with `-f json`.
        Emit = "emit" (2, 2),
    }
}

functions! {
    /// Functions that give a value.
    pub enum ValueFn {
        Str = "str" (1, 2),
        Strncmp = "strncmp" (3, 3),
        Strcontains = "strcontains" (2, 2),
        Strstr = "strstr" (2, 2),
        Strlen = "strlen" (1, 1),
        Ksym = "ksym" (1, 1),
        Usym = "usym" (1, 1),
        Kaddr = "kaddr" (1, 1),
        Uaddr = "uaddr" (1, 1),
        Ntop = "ntop" (1, 2),
        Pton = "pton" (1, 1),
        Strftime = "strftime" (2, 2),
        Strerror = "strerror" (1, 1),
        /// `errno_name(e)`: an errno value's symbolic name (`ENOENT`); negative values too.
        ErrnoName = "errno_name" (1, 1),
        SyscallName = "syscall_name" (1, 1),
        SignalName = "signal_name" (1, 1),
        /// `ppid(task)`: the parent's process id of a task; bare `ppid` is the current one's.
        Ppid = "ppid" (1, 1),
        Bswap = "bswap" (1, 1),
        Getopt = "getopt" (1, 3),
        Reg = "reg" (1, 1),
        Kptr = "kptr" (1, 1),
        Uptr = "uptr" (1, 1),
        Cgroupid = "cgroupid" (1, 1),
        Buf = "buf" (1, 2),
        /// `nsecs(monotonic|boot|tai|sw_tai)`; bare `nsecs` is `Builtin::Nsecs` (boot).
        Nsecs = "nsecs" (1, 1),
        /// `pid(curr_ns|init)`, `tid(…)`: in scry's pid namespace, or the initial one.
        Pid = "pid" (1, 1),
        Tid = "tid" (1, 1),
        Macaddr = "macaddr" (1, 1),
        CgroupPath = "cgroup_path" (1, 2),
        /// `kstack(mode, depth)`; bare `kstack` is `Special::Kstack`.
        Kstack = "kstack" (0, 2),
        Ustack = "ustack" (0, 2),
        /// `strs(argv[, max])`: the strings of a NULL-terminated array of string pointers.
        Strs = "strs" (1, 2),
    }
}

functions! {
    /// Functions whose value is an aggregation: only assigned to a map (`@m[k] = count()`).
    pub enum Aggregator {
        Count = "count" (0, 0),
        Sum = "sum" (1, 1),
        Min = "min" (1, 1),
        Max = "max" (1, 1),
        Avg = "avg" (1, 1),
        Stats = "stats" (1, 1),
        /// `hist(value[, bits])`: log2 buckets.
        Hist = "hist" (1, 2),
        /// `lhist(value, min, max, step)`: linear buckets.
        Lhist = "lhist" (4, 4),
    }
}

functions! {
    /// Functions of a whole map or one of its keys: statements (`delete clear zero print`)
    /// and values (`len has_key find`, and `delete`, which says whether the key was there).
    pub enum MapFn {
        Delete = "delete" (1, 2),
        Clear = "clear" (1, 1),
        Zero = "zero" (1, 1),
        /// `print(@m[, top[, div]])`; `print(value)` of anything else is a statement too.
        Print = "print" (1, 3),
        Len = "len" (1, 1),
        HasKey = "has_key" (2, 2),
        Find = "find" (3, usize::MAX),
    }
}

/// What a call's name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callee {
    Statement(StatementFn),
    Value(ValueFn),
    Aggregation(Aggregator),
    Map(MapFn),
}

impl Callee {
    pub fn of(name: &str) -> Option<Callee> {
        None.or_else(|| StatementFn::from_name(name).map(Callee::Statement))
            .or_else(|| ValueFn::from_name(name).map(Callee::Value))
            .or_else(|| Aggregator::from_name(name).map(Callee::Aggregation))
            .or_else(|| MapFn::from_name(name).map(Callee::Map))
    }

    pub fn name(self) -> &'static str {
        match self {
            Callee::Statement(f) => f.name(),
            Callee::Value(f) => f.name(),
            Callee::Aggregation(f) => f.name(),
            Callee::Map(f) => f.name(),
        }
    }

    pub fn arity(self) -> Arity {
        match self {
            Callee::Statement(f) => f.arity(),
            Callee::Value(f) => f.arity(),
            Callee::Aggregation(f) => f.arity(),
            Callee::Map(f) => f.arity(),
        }
    }
}

/// The length of `comm` including its NUL (the kernel's TASK_COMM_LEN).
pub const COMM_LEN: u32 = 16;

/// For `arg0`…`argN`: N.
pub fn arg_index(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("arg")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether only some probe types give `name` a meaning (`func`, `retval`, `arg0`…): which
/// ones, the resolver says (`ProbeResolver::providers_of`).
pub fn probe_specific(name: &str) -> bool {
    matches!(
        Special::from_name(name),
        Some(Special::Func | Special::Retval)
    ) || arg_index(name).is_some()
}

impl Builtin {
    pub fn ty(self) -> Type {
        match self {
            Builtin::Pid | Builtin::Tid | Builtin::Cpu | Builtin::Rand | Builtin::Numaid => {
                Type::Int(IntType::U32)
            }
            Builtin::Uid
            | Builtin::Gid
            | Builtin::Nsecs
            | Builtin::Elapsed
            | Builtin::Jiffies
            | Builtin::Ncpus
            | Builtin::Cgroup
            | Builtin::Curtask => Type::Int(IntType::U64),
            Builtin::Comm => Type::Str(COMM_LEN),
        }
    }
}

/// Whether `name()` with no arguments is the builtin value `name` (`comm()`, `pid()`).
pub fn callable_value(name: &str) -> bool {
    Builtin::from_name(name).is_some()
        || matches!(
            Special::from_name(name),
            Some(
                Special::Probe
                    | Special::Probetype
                    | Special::Ppid
                    | Special::Pcomm
                    | Special::Username
                    | Special::Cpid
                    | Special::Func
                    | Special::Retval
                    | Special::Usermode
                    | Special::Config
                    | Special::Kstack
                    | Special::Ustack
            )
        )
}

/// Every identifier a user may write bare, for "did you mean" hints.
pub fn all_value_names() -> impl Iterator<Item = &'static str> {
    let special = Special::ALL
        .iter()
        .filter(|s| !matches!(s, Special::Func | Special::Retval | Special::Ctx));
    Builtin::ALL
        .iter()
        .map(|b| b.name())
        .chain(special.map(|s| s.name()))
}

/// Every function name, for "did you mean" hints and the list of functions.
pub fn all_function_names() -> impl Iterator<Item = &'static str> {
    let statements = StatementFn::ALL.iter().map(|f| f.name());
    let values = ValueFn::ALL.iter().map(|f| f.name());
    let aggregations = Aggregator::ALL.iter().map(|f| f.name());
    let maps = MapFn::ALL.iter().map(|f| f.name());
    statements.chain(values).chain(aggregations).chain(maps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_one_callee() {
        let names: Vec<&str> = all_function_names().collect();
        for n in &names {
            assert_eq!(names.iter().filter(|m| *m == n).count(), 1, "{n} twice");
            assert_eq!(Callee::of(n).map(Callee::name), Some(*n));
        }
        assert_eq!(Callee::of("nosuch"), None);
    }

    #[test]
    fn arity_reads_as_english() {
        assert_eq!(StatementFn::Exit.arity().to_string(), "at most 1 argument");
        assert_eq!(ValueFn::Strlen.arity().to_string(), "1 argument");
        assert_eq!(ValueFn::Str.arity().to_string(), "1 to 2 arguments");
        assert_eq!(
            StatementFn::Printf.arity().to_string(),
            "at least 1 argument"
        );
        assert_eq!(Aggregator::Count.arity().to_string(), "0 arguments");
    }
}
