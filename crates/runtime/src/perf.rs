//! `perf_event_open` for every event a probe runs a program on: tracepoints, kprobes and
//! uprobes (through their PMUs), software, hardware and breakpoint events; and attaching a
//! program to one.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The head of `struct perf_event_attr` up to `config2` (`PERF_ATTR_SIZE_VER1`); the kernel
/// reads as much as `size` declares and takes the rest as zero.
#[repr(C)]
#[derive(Default)]
pub struct Attr {
    pub kind: u32,
    pub size: u32,
    pub config: u64,
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    pub config1: u64,
    pub config2: u64,
}

impl Attr {
    pub fn new(kind: u32, config: u64) -> Attr {
        Attr {
            kind,
            size: std::mem::size_of::<Attr>() as u32,
            config,
            ..Attr::default()
        }
    }
}

pub const TYPE_HARDWARE: u32 = 0;
pub const TYPE_SOFTWARE: u32 = 1;
pub const TYPE_TRACEPOINT: u32 = 2;
pub const TYPE_BREAKPOINT: u32 = 5;
/// `perf_event_attr` flag bits.
const FLAG_FREQ: u64 = 1 << 10;
/// `precise_ip` = 2 (bits 15 and 16), as breakpoints are opened.
const FLAG_PRECISE_IP_2: u64 = 2 << 15;
/// `PERF_SAMPLE_RAW`.
const SAMPLE_RAW: u64 = 1 << 10;

/// How often a sampling event runs its program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// Every N occurrences (or nanoseconds, for the clocks).
    Period(u64),
    /// N times a second.
    Hz(u64),
}

/// Where an event counts: one process (on any CPU), or every process on one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Process(u32),
    Cpu(u32),
}

impl Scope {
    fn pid_cpu(self) -> (i32, i32) {
        match self {
            Scope::Process(pid) => (pid as i32, -1),
            Scope::Cpu(cpu) => (-1, cpu as i32),
        }
    }
}

/// A tracepoint's event by its tracefs id. Opened on CPU 0, it runs an attached program on
/// every CPU.
pub fn tracepoint(id: u64) -> io::Result<OwnedFd> {
    let mut attr = Attr::new(TYPE_TRACEPOINT, id);
    attr.wakeup_events = 1;
    attr.sample_type = SAMPLE_RAW;
    open(&attr, -1, 0)
}

/// A sampling event of PMU `kind` (`config` being its event there), in `scope`.
pub fn sampling(kind: u32, config: u64, every: Every, scope: Scope) -> io::Result<OwnedFd> {
    let mut attr = Attr::new(kind, config);
    attr.sample_type = SAMPLE_RAW;
    attr.wakeup_events = 1;
    match every {
        Every::Period(n) => attr.sample_period = n,
        Every::Hz(n) => {
            attr.flags |= FLAG_FREQ;
            attr.sample_period = n;
        }
    }
    let (pid, cpu) = scope.pid_cpu();
    open(&attr, pid, cpu)
}

/// A hardware breakpoint (`HW_BREAKPOINT_*` type `bp_type`) on `len` bytes at `address`, in
/// `scope`, firing on each access.
pub fn breakpoint(bp_type: u32, address: u64, len: u64, scope: Scope) -> io::Result<OwnedFd> {
    let mut attr = Attr::new(TYPE_BREAKPOINT, 0);
    attr.sample_type = SAMPLE_RAW;
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    attr.flags |= FLAG_PRECISE_IP_2;
    attr.bp_type = bp_type;
    attr.config1 = address;
    attr.config2 = len;
    let (pid, cpu) = scope.pid_cpu();
    open(&attr, pid, cpu)
}

/// The `type` of a dynamic PMU (`kprobe`, `uprobe`, `breakpoint`), when the kernel has it.
pub fn pmu_type(pmu: &str) -> io::Result<u32> {
    let path = format!("/sys/bus/event_source/devices/{pmu}/type");
    std::fs::read_to_string(&path)?
        .trim()
        .parse()
        .map_err(|_| io::Error::other(format!("{path} is not a number")))
}

/// A kprobe or uprobe event through its PMU (`kprobe`, `uprobe`): on function `name` plus
/// `offset` for a kprobe, on file `name` at `offset` for a uprobe; on return when `ret`.
/// `config` carries the PMU's other fields (a uprobe's reference counter offset). In one
/// process on any CPU, or in every process (the event then fires on every CPU).
pub fn probe(
    pmu: &str,
    ret: bool,
    config: u64,
    name: &str,
    offset: u64,
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    let kind = pmu_type(pmu)?;
    let mut config = config;
    if ret {
        config |= 1 << retprobe_bit(pmu);
    }
    let name = std::ffi::CString::new(name)?;
    let mut attr = Attr::new(kind, config);
    attr.sample_period = 1;
    attr.wakeup_events = 1;
    attr.config1 = name.as_ptr() as u64;
    attr.config2 = offset;
    match pid {
        Some(pid) => open(&attr, pid as i32, -1),
        None => open(&attr, -1, 0),
    }
}

/// The `config` bit that makes a probe PMU's event a return probe (`format/retprobe` says
/// `config:0` on every kernel seen).
fn retprobe_bit(pmu: &str) -> u32 {
    std::fs::read_to_string(format!(
        "/sys/bus/event_source/devices/{pmu}/format/retprobe"
    ))
    .ok()
    .and_then(|f| f.trim().strip_prefix("config:")?.parse().ok())
    .unwrap_or(0)
}

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// `_IOW('$', 8, __u32)` and `_IO('$', 0)` from `<linux/perf_event.h>`.
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;
const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;

/// Opens an event for process `pid` (-1: every process) on `cpu` (-1: any CPU). Pointers the
/// attribute holds (`config1` of a uprobe) must be valid for the call.
pub fn open(attr: &Attr, pid: i32, cpu: i32) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a perf_event_attr head as large as the size it declares.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr as *const Attr,
            pid,
            cpu,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_PERF_EVENT`: the attach type of a program's link to a perf event.
const BPF_PERF_EVENT: u32 = 41;

/// Runs the loaded program `program` on each firing of `event`, and turns the event on.
/// Returns what keeps it attached: a BPF link to the event where the kernel makes those
/// (5.15 and later; they show in the process's fdinfo as `link_type: perf`), which holds the
/// event itself, or else the event.
pub fn attach_program(event: OwnedFd, program: BorrowedFd<'_>) -> io::Result<Vec<OwnedFd>> {
    match crate::raw_prog::link_to(program, event.as_raw_fd(), BPF_PERF_EVENT) {
        Ok(link) => Ok(vec![link]),
        Err(_) => {
            ioctl(
                &event,
                PERF_EVENT_IOC_SET_BPF,
                program.as_raw_fd() as libc::c_ulong,
            )?;
            ioctl(&event, PERF_EVENT_IOC_ENABLE, 0)?;
            Ok(vec![event])
        }
    }
}

fn ioctl(event: &OwnedFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: both requests take an integer argument, and `event` is an open perf event.
    if unsafe { libc::ioctl(event.as_raw_fd(), request, arg) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
