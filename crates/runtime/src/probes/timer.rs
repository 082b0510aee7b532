//! Timers: `interval:UNIT:N` (`i`), on one CPU, for periodic output, and `profile:UNIT:N`
//! (`p`), on every online CPU, sampling what runs there (`kstack`, `ustack`, `comm`, `pid`).
//! Both are the software `cpu-clock` perf event; the perf-event plumbing here is shared with
//! the other perf-based types (counters, watchpoints).

use super::{Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::raw_prog::{self, LoadAs};
use crate::{perf, RuntimeError};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

/// `PERF_COUNT_SW_CPU_CLOCK`.
const CPU_CLOCK: u64 = 0;
use scry_lang::types::{Attach, ProgramKind, ResolveError, ResolvedProbe, Runs};

/// `interval` (one CPU) or `profile` (every CPU).
pub struct Timer {
    pub every_cpu: bool,
}

impl ProbeType for Timer {
    fn names(&self) -> &'static [&'static str] {
        if self.every_cpu {
            &["profile", "p"]
        } else {
            &["interval", "i"]
        }
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let provider = self.names()[0];
        let rate = rate(provider, parts)?;
        let mut probe = ResolvedProbe::new(
            format!("{provider}:{}", parts.join(":")),
            provider,
            perf_event_program(),
            Attach::new(rate),
        );
        perf_event_context(&mut probe);
        Ok(vec![probe])
    }

    /// One entry per unit, as bpftrace lists them: `interval:hz:`, `interval:ms:`, …
    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        Ok(["hz", "ms", "ns", "s", "us"]
            .iter()
            .map(|unit| Listing {
                name: format!("{}:{unit}:", self.names()[0]),
                args: Vec::new(),
            })
            .collect())
    }

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(perf_event_load())
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let rate: &Rate = super::target(target)?;
        let mut cpus = online_cpus();
        if !self.every_cpu {
            cpus = vec![cpus.first().copied().unwrap_or(0)];
        }
        let every = match *rate {
            Rate::PeriodNs(ns) => perf::Every::Period(ns),
            Rate::Hz(hz) => perf::Every::Hz(hz),
        };
        let scopes: Vec<perf::Scope> = cpus.into_iter().map(perf::Scope::Cpu).collect();
        attach_sampling(program, &scopes, |scope| {
            perf::sampling(perf::TYPE_SOFTWARE, CPU_CLOCK, every, scope)
        })
    }

    /// Software perf events, which every perf-based type needs (reported once).
    fn info(&self) -> Vec<Feature> {
        if self.every_cpu {
            return Vec::new();
        }
        vec![Feature::new("perf_event", features::perf_event_opens(1, 0))]
    }
}

/// How often a timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rate {
    /// Once every this many nanoseconds.
    PeriodNs(u64),
    /// This many times a second.
    Hz(u64),
}

/// A perf event program's context: `struct bpf_perf_event_data`, which begins with the
/// interrupted code's registers at `struct pt_regs`'s offsets (for `reg()` and `usermode`).
pub(super) fn perf_event_context(probe: &mut ResolvedProbe) {
    super::uprobe::regs_context(probe);
    probe.context = Some("bpf_perf_event_data".to_string());
}

/// A perf event program: the perf-based types' kind.
pub fn perf_event_program() -> ProgramKind {
    ProgramKind::new("perf_event", None, Runs::OnEvents)
}

/// Parses `s:N`, `ms:N`, `us:N` or `hz:N`.
pub fn rate(provider: &str, parts: &[&str]) -> Result<Rate, ResolveError> {
    let usage = || {
        ResolveError {
        message: format!("{provider} probes are written `{provider}:UNIT:N` or `{provider}:NUNIT`"),
        hint: Some(format!(
            "UNIT is s, ms, us, ns or hz, as in `{provider}:s:1`, `{provider}:1s` or `{provider}:hz:99`"
        )),
    }
    };
    // `interval:1s`, as current bpftrace writes it, is `interval:s:1`.
    let split;
    let (unit, n) = match parts {
        [unit, n] => (*unit, *n),
        [one] => {
            let digits = one.find(|c: char| !c.is_ascii_digit()).unwrap_or(one.len());
            split = one.split_at(digits);
            (split.1, split.0)
        }
        _ => return Err(usage()),
    };
    let n: u64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(usage)?;
    Ok(match unit {
        "s" => Rate::PeriodNs(n.saturating_mul(1_000_000_000)),
        "ms" => Rate::PeriodNs(n.saturating_mul(1_000_000)),
        "us" => Rate::PeriodNs(n.saturating_mul(1_000)),
        "ns" => Rate::PeriodNs(n),
        "hz" => Rate::Hz(n),
        _ => return Err(usage()),
    })
}

/// How the perf-based types' programs load.
pub fn perf_event_load() -> LoadAs {
    LoadAs::new(raw_prog::BPF_PROG_TYPE_PERF_EVENT)
}

/// Opens an event in each scope (`open`) and runs `program` on it.
pub fn attach_sampling(
    program: BorrowedFd<'_>,
    scopes: &[perf::Scope],
    open: impl Fn(perf::Scope) -> io::Result<OwnedFd>,
) -> io::Result<OwnedEvents> {
    let mut held = OwnedEvents::new();
    for &scope in scopes {
        held.extend(perf::attach_program(open(scope)?, program)?);
    }
    Ok(held)
}

/// Every process, on each online CPU: one perf event per CPU.
pub fn every_cpu() -> Vec<perf::Scope> {
    online_cpus().into_iter().map(perf::Scope::Cpu).collect()
}

pub fn online_cpus() -> Vec<u32> {
    aya::util::online_cpus().unwrap_or_else(|_| vec![0])
}
