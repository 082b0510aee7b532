//! A `ProbeResolver` for tests that run without a kernel (and without root): a few probes as
//! Linux 6.18 on x86-64 describes them, from its tracefs `format` files (recorded in
//! `tests/fixtures/tracefs/`) and `struct pt_regs`. The runtime's tests check these
//! descriptions against the recorded files and against the live kernel, so what is tested here
//! is what runs there.

use crate::types::{
    AddrSpace, Attach, ContextField, FieldLocation, Func, IntType, ProbeResolver, ProgramKind,
    ResolveError, ResolvedProbe, Runs, Type,
};

/// The recorded probes: BEGIN, END, `tracepoint:syscalls:sys_enter_execve`, `…sys_enter_openat`,
/// `…sys_enter_read`, `…sys_exit_read`, `tracepoint:sched:sched_process_exec` (and the glob
/// `tracepoint:*:*exec*`), `kprobe`/`kretprobe:vfs_read` and `uprobe`/`uretprobe` on libc's
/// `clock_nanosleep`.
pub struct Recorded;

/// Where a recorded probe attaches: only its name (nothing attaches it).
#[derive(Debug, PartialEq)]
pub struct RecordedTarget(pub String);

/// The libc the uprobe fixtures are in, as the runtime finds it through `ld.so.cache`.
pub const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";

fn field(name: &str, ty: Type, offset: u32, c_decl: &str) -> ContextField {
    ContextField {
        name: name.into(),
        ty,
        location: FieldLocation::Inline { offset },
        c_decl: c_decl.into(),
    }
}

fn user_ptr(pointee: Type) -> Type {
    Type::Ptr {
        pointee: Box::new(pointee),
        space: AddrSpace::User,
    }
}

fn syscall_nr() -> ContextField {
    field(
        "__syscall_nr",
        Type::Int(IntType::I32),
        8,
        "int __syscall_nr",
    )
}

fn probe(name: String, provider: &'static str, program: ProgramKind) -> ResolvedProbe {
    let attach = Attach::new(RecordedTarget(name.clone()));
    ResolvedProbe::new(name, provider, program, attach)
}

fn special(name: &'static str, runs: Runs) -> ResolvedProbe {
    probe(name.into(), name, ProgramKind::new("raw_tp", None, runs))
}

fn tracepoint(category: &str, event: &str, args: Vec<ContextField>) -> ResolvedProbe {
    let section = Some(format!("{category}/{event}"));
    let mut p = probe(
        format!("tracepoint:{category}:{event}"),
        "tracepoint",
        ProgramKind::new("tracepoint", section, Runs::OnEvents),
    );
    p.args = Some(args);
    p
}

fn execve() -> ResolvedProbe {
    let string = user_ptr(Type::Int(IntType::I8));
    let strings = user_ptr(string.clone());
    tracepoint(
        "syscalls",
        "sys_enter_execve",
        vec![
            syscall_nr(),
            field("filename", string, 16, "const char * filename"),
            field("argv", strings.clone(), 24, "const char *const * argv"),
            field("envp", strings, 32, "const char *const * envp"),
        ],
    )
}

fn openat() -> ResolvedProbe {
    tracepoint(
        "syscalls",
        "sys_enter_openat",
        vec![
            syscall_nr(),
            // `signed:0`: syscall arguments are recorded as unsigned longs.
            field("dfd", Type::Int(IntType::U64), 16, "int dfd"),
            field(
                "filename",
                user_ptr(Type::Int(IntType::I8)),
                24,
                "const char * filename",
            ),
            field("flags", Type::Int(IntType::U64), 32, "int flags"),
            field("mode", Type::Int(IntType::U64), 40, "umode_t mode"),
        ],
    )
}

fn read_enter() -> ResolvedProbe {
    tracepoint(
        "syscalls",
        "sys_enter_read",
        vec![
            syscall_nr(),
            field("fd", Type::Int(IntType::U64), 16, "unsigned int fd"),
            field("buf", user_ptr(Type::Int(IntType::I8)), 24, "char * buf"),
            field("count", Type::Int(IntType::U64), 32, "size_t count"),
        ],
    )
}

fn read_exit() -> ResolvedProbe {
    tracepoint(
        "syscalls",
        "sys_exit_read",
        vec![
            syscall_nr(),
            field("ret", Type::Int(IntType::I64), 16, "long ret"),
        ],
    )
}

fn exec() -> ResolvedProbe {
    tracepoint(
        "sched",
        "sched_process_exec",
        vec![
            ContextField {
                name: "filename".into(),
                ty: Type::Str(0),
                location: FieldLocation::DataLoc { offset: 8 },
                c_decl: "__data_loc char[] filename".into(),
            },
            field("pid", Type::Int(IntType::I32), 12, "pid_t pid"),
            field("old_pid", Type::Int(IntType::I32), 16, "pid_t old_pid"),
        ],
    )
}

/// `arg0`…`arg5` and, for return probes, `retval`: x86-64's argument registers in
/// `struct pt_regs` (di, si, dx, cx, r8, r9; ax).
fn register_values(ret: bool) -> Vec<ContextField> {
    let word = |name: String, offset| ContextField {
        c_decl: format!("uint64 {name}"),
        name,
        ty: Type::Int(IntType::U64),
        location: FieldLocation::Word { offset },
    };
    let mut v: Vec<ContextField> = [112, 104, 96, 88, 72, 64]
        .into_iter()
        .enumerate()
        .map(|(i, off)| word(format!("arg{i}"), off))
        .collect();
    if ret {
        v.push(word("retval".into(), 80));
    }
    v
}

fn kprobe(ret: bool) -> ResolvedProbe {
    let provider = if ret { "kretprobe" } else { "kprobe" };
    let mut p = probe(
        format!("{provider}:vfs_read"),
        provider,
        ProgramKind::new(provider, None, Runs::OnEvents),
    );
    p.values = register_values(ret);
    p.func = Some(Func::Kernel("vfs_read".into()));
    p.context = Some("pt_regs".into());
    p
}

fn uprobe(ret: bool) -> ResolvedProbe {
    let provider = if ret { "uretprobe" } else { "uprobe" };
    let mut p = probe(
        format!("{provider}:{LIBC}:clock_nanosleep"),
        provider,
        ProgramKind::new(provider, None, Runs::OnEvents),
    );
    p.values = register_values(ret);
    p.func = Some(Func::User("clock_nanosleep".into()));
    p.binary = Some(LIBC.into());
    p.context = Some("pt_regs".into());
    p
}

impl ProbeResolver for Recorded {
    fn resolve(&self, provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let found = match (provider, parts) {
            ("BEGIN", []) => vec![special("BEGIN", Runs::AtStart)],
            ("END", []) => vec![special("END", Runs::AtExit)],
            ("tracepoint", ["syscalls", "sys_enter_execve"]) => vec![execve()],
            ("tracepoint", ["syscalls", "sys_enter_openat"]) => vec![openat()],
            ("tracepoint", ["syscalls", "sys_enter_read"]) => vec![read_enter()],
            ("tracepoint", ["syscalls", "sys_exit_read"]) => vec![read_exit()],
            ("tracepoint", ["sched", "sched_process_exec"]) => vec![exec()],
            ("tracepoint", ["*", "*exec*"]) => vec![exec(), execve()],
            ("kprobe", ["vfs_read"]) => vec![kprobe(false)],
            ("kretprobe", ["vfs_read"]) => vec![kprobe(true)],
            ("uprobe", ["libc", "clock_nanosleep"]) => vec![uprobe(false)],
            ("uretprobe", ["libc", "clock_nanosleep"]) => vec![uprobe(true)],
            _ => {
                return Err(ResolveError {
                    message: format!("{provider}:{} is not recorded", parts.join(":")),
                    hint: None,
                })
            }
        };
        Ok(found)
    }
}

/// Every recorded attach point, as written, for tests that compare them with the kernel's.
pub const ATTACH_POINTS: &[&str] = &[
    "BEGIN",
    "END",
    "tracepoint:syscalls:sys_enter_execve",
    "tracepoint:syscalls:sys_enter_openat",
    "tracepoint:syscalls:sys_enter_read",
    "tracepoint:syscalls:sys_exit_read",
    "tracepoint:sched:sched_process_exec",
    "kprobe:vfs_read",
    "kretprobe:vfs_read",
    "uprobe:libc:clock_nanosleep",
    "uretprobe:libc:clock_nanosleep",
];
