//! `watchpoint:ADDRESS:LENGTH:MODE` (`w`): a hardware breakpoint (the `breakpoint` PMU) that
//! fires when memory is read (`r`), written (`w`), both (`rw`) or executed (`x`). With `-p PID`
//! (or `-c`) the address is in that process; without, it is a kernel address.

use super::{timer, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::perf;
use crate::raw_prog::LoadAs;
use crate::RuntimeError;
use scry_lang::types::{Attach, ResolveError, ResolvedProbe};
use std::io;
use std::os::fd::BorrowedFd;

pub struct Watchpoint;

const READ: u8 = 1;
const WRITE: u8 = 2;
const EXECUTE: u8 = 4;

/// The thread ids of process `pid` (the process itself when they cannot be read).
fn threads(pid: u32) -> Vec<u32> {
    let tids: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    if tids.is_empty() {
        vec![pid]
    } else {
        tids
    }
}

fn usage() -> ResolveError {
    ResolveError {
        message: "a watchpoint is written `watchpoint:ADDRESS:LENGTH:MODE`".into(),
        hint: Some("watchpoint:0x7ffd1234:8:w — LENGTH 1, 2, 4 or 8; MODE r, w, rw or x".into()),
    }
}

impl ProbeType for Watchpoint {
    fn names(&self) -> &'static [&'static str] {
        &["watchpoint", "w"]
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let [address, length, mode] = parts else {
            return Err(usage());
        };
        let address = match address.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => address.parse().ok(),
        }
        .ok_or_else(usage)?;
        let length: u8 = length
            .parse()
            .ok()
            .filter(|l| matches!(l, 1 | 2 | 4 | 8))
            .ok_or_else(usage)?;
        let mode = match *mode {
            "r" => READ,
            "w" => WRITE,
            "rw" | "wr" => READ | WRITE,
            "x" => EXECUTE,
            _ => return Err(usage()),
        };
        if !std::path::Path::new("/sys/bus/event_source/devices/breakpoint").exists() {
            return Err(ResolveError {
                message: "watchpoints need the kernel's breakpoint PMU, which this machine lacks"
                    .into(),
                hint: None,
            });
        }
        Ok(vec![ResolvedProbe::new(
            format!("watchpoint:{}", parts.join(":")),
            "watchpoint",
            timer::perf_event_program(),
            Attach::new(WatchpointTarget {
                address,
                length,
                mode,
            }),
        )])
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        Ok(vec![])
    }

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(timer::perf_event_load())
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let WatchpointTarget {
            address,
            length,
            mode,
        } = super::target(target)?;
        // The modes are the kernel's HW_BREAKPOINT_R (1), _W (2), _RW (3) and _X (4); an
        // instruction breakpoint covers a long.
        let length = if *mode == EXECUTE { 8 } else { *length };
        let open = |scope| perf::breakpoint(u32::from(*mode), *address, u64::from(length), scope);
        let Some(pid) = pid else {
            return timer::attach_sampling(program, &timer::every_cpu(), open);
        };
        // A breakpoint follows one thread: each of the process's threads gets one. A thread
        // that ended since the threads were listed (ESRCH) is left out; the process itself
        // must be there.
        let mut held = OwnedEvents::new();
        for tid in threads(pid) {
            match open(perf::Scope::Process(tid)) {
                Ok(fd) => held.extend(perf::attach_program(fd, program)?),
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) && tid != pid => {}
                Err(e) => return Err(e),
            }
        }
        Ok(held)
    }

    fn info(&self) -> Vec<Feature> {
        vec![Feature::new("watchpoint", features::pmu("breakpoint"))]
    }
}

/// A hardware breakpoint on `length` bytes at `address`; `mode` is `READ`, `WRITE`, both, or
/// `EXECUTE`.
#[derive(Debug, PartialEq)]
struct WatchpointTarget {
    address: u64,
    length: u8,
    mode: u8,
}
