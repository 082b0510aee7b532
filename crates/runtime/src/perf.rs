//! `perf_event_open` for the events aya does not open itself: uprobes with a reference counter
//! (USDT semaphores), and the events `--info` tries.

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

/// Runs the loaded program `program` on each firing of `event`, and turns the event on.
pub fn attach_program(event: &OwnedFd, program: BorrowedFd<'_>) -> io::Result<()> {
    ioctl(
        event,
        PERF_EVENT_IOC_SET_BPF,
        program.as_raw_fd() as libc::c_ulong,
    )?;
    ioctl(event, PERF_EVENT_IOC_ENABLE, 0)
}

fn ioctl(event: &OwnedFd, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: both requests take an integer argument, and `event` is an open perf event.
    if unsafe { libc::ioctl(event.as_raw_fd(), request, arg) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
