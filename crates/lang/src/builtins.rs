//! The names the language knows without being told: builtin values and functions, with their
//! types. The checker resolves identifiers here; hints for typos search these lists.

use crate::typed::Builtin;
use crate::types::{IntType, Type};

/// Builtin values written as bare identifiers.
pub const VALUES: &[(&str, Builtin)] = &[
    ("pid", Builtin::Pid),
    ("tid", Builtin::Tid),
    ("uid", Builtin::Uid),
    ("gid", Builtin::Gid),
    ("comm", Builtin::Comm),
    ("nsecs", Builtin::Nsecs),
    ("elapsed", Builtin::Elapsed),
    ("cpu", Builtin::Cpu),
    ("curtask", Builtin::Curtask),
    ("rand", Builtin::Rand),
    ("jiffies", Builtin::Jiffies),
    ("ncpus", Builtin::Ncpus),
    ("cgroup", Builtin::Cgroup),
];

/// Identifiers that are not in `VALUES` but mean something: `probe` and `args`.
pub const SPECIAL_VALUES: &[&str] = &[
    "probe", "args", "kstack", "ustack", "ppid", "pcomm", "username", "cpid",
];

/// Builtins only some probe types provide, and which: `arg0`…`argN` are a family.
pub fn probe_specific(name: &str) -> Option<&'static str> {
    match name {
        "func" => Some("kprobe, uprobe, fentry and fexit"),
        "retval" => Some("kretprobe, uretprobe and fexit"),
        n if n
            .strip_prefix("arg")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some("kprobe, uprobe, usdt and rawtracepoint")
        }
        _ => None,
    }
}

/// Functions, with the number of arguments they take (min, max).
pub const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("printf", 1, usize::MAX),
    ("str", 1, 2),
    ("exit", 0, 1),
    ("strncmp", 3, 3),
    ("strcontains", 2, 2),
    ("strlen", 1, 1),
    ("ksym", 1, 1),
    ("usym", 1, 1),
    ("kaddr", 1, 1),
    ("ntop", 1, 2),
    ("strftime", 2, 2),
    ("strerror", 1, 1),
    ("syscall_name", 1, 1),
    ("bswap", 1, 1),
    ("pton", 1, 1),
    ("getopt", 1, 3),
    ("reg", 1, 1),
    ("kptr", 1, 1),
    ("uptr", 1, 1),
    ("strstr", 2, 2),
    ("assert", 2, 2),
    ("cgroupid", 1, 1),
    ("uaddr", 1, 1),
    ("buf", 1, 2),
    ("time", 0, 1),
    ("join", 1, 2),
    ("cat", 1, usize::MAX),
    ("system", 1, usize::MAX),
    ("signal", 1, 1),
    ("errorf", 1, usize::MAX),
    ("warnf", 1, usize::MAX),
];

/// Functions called as statements for their effect; they have no value.
pub const STATEMENTS: &[&str] = &[
    "printf", "exit", "time", "join", "cat", "system", "signal", "errorf", "warnf", "assert",
];

/// The length of `comm` including its NUL (the kernel's TASK_COMM_LEN).
pub const COMM_LEN: u32 = 16;

pub fn value(name: &str) -> Option<Builtin> {
    VALUES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

pub fn function(name: &str) -> Option<(usize, usize)> {
    FUNCTIONS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, lo, hi)| (*lo, *hi))
}

pub fn type_of(b: Builtin) -> Type {
    match b {
        Builtin::Pid | Builtin::Tid | Builtin::Cpu | Builtin::Rand => Type::Int(IntType::U32),
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

/// Every identifier a user may write bare, for "did you mean" hints.
pub fn all_value_names() -> impl Iterator<Item = &'static str> {
    VALUES
        .iter()
        .map(|(n, _)| *n)
        .chain(SPECIAL_VALUES.iter().copied())
}

/// Every function name, for "did you mean" hints and the list of functions.
pub fn all_function_names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS
        .iter()
        .chain(crate::check::AGGREGATIONS)
        .chain(crate::check::MAP_FUNCTIONS)
        .map(|(n, ..)| *n)
        .chain(["kstack", "ustack"])
}
