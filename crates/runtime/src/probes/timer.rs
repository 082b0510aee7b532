//! Timers: `interval:UNIT:N` (`i`), on one CPU, for periodic output, and `profile:UNIT:N`
//! (`p`), on every online CPU, sampling what runs there (`kstack`, `ustack`, `comm`, `pid`).
//! Both are the software `cpu-clock` perf event; the perf-event plumbing here is shared with
//! the other perf-based types (counters, watchpoints).

use super::{Attachment, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::RuntimeError;
use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::{PerfEvent, Program, ProgramError};
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

    fn load(&self, program: &mut Program, _target: &Attach) -> Result<(), ProgramError> {
        load(program)
    }

    fn attach(
        &self,
        program: &mut Program,
        target: &Attach,
        _pid: Option<u32>,
    ) -> Result<OwnedEvents, ProgramError> {
        let rate: &Rate = super::target(target)?;
        let mut cpus = online_cpus();
        if !self.every_cpu {
            cpus = vec![cpus.first().copied().unwrap_or(0)];
        }
        attach(program, *rate, &cpus)
    }

    fn unload(&self, program: &mut Program) -> Result<(), ProgramError> {
        unload(program)
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

pub fn load(program: &mut Program) -> Result<(), ProgramError> {
    let p: &mut PerfEvent = program.try_into()?;
    p.load()
}

pub fn unload(program: &mut Program) -> Result<(), ProgramError> {
    let p: &mut PerfEvent = program.try_into()?;
    p.unload()
}

/// Attaches to `cpu-clock` on each of `cpus`, firing at `rate`.
pub fn attach(
    program: &mut Program,
    rate: Rate,
    cpus: &[u32],
) -> Result<OwnedEvents, ProgramError> {
    let policy = match rate {
        Rate::PeriodNs(ns) => SamplePolicy::Period(ns),
        Rate::Hz(hz) => SamplePolicy::Frequency(hz),
    };
    let scopes: Vec<PerfEventScope> = cpus
        .iter()
        .map(|&cpu| PerfEventScope::AllProcessesOneCpu { cpu })
        .collect();
    attach_counter(
        program,
        PerfEventConfig::Software(SoftwareEvent::CpuClock),
        policy,
        &scopes,
    )
}

/// Attaches to a perf event in each scope (one per CPU, or one process), sampling as `policy`
/// says.
pub fn attach_counter(
    program: &mut Program,
    config: PerfEventConfig,
    policy: SamplePolicy,
    scopes: &[PerfEventScope],
) -> Result<OwnedEvents, ProgramError> {
    let p: &mut PerfEvent = program.try_into()?;
    let mut held = OwnedEvents::new();
    for scope in scopes {
        let id = p.attach(config, *scope, policy, false)?;
        held.push(Attachment::link(p.take_link(id)?));
    }
    Ok(held)
}

/// Every process, on each online CPU: one perf event per CPU.
pub fn every_cpu() -> Vec<PerfEventScope> {
    online_cpus()
        .into_iter()
        .map(|cpu| PerfEventScope::AllProcessesOneCpu { cpu })
        .collect()
}

pub fn online_cpus() -> Vec<u32> {
    aya::util::online_cpus().unwrap_or_else(|_| vec![0])
}
