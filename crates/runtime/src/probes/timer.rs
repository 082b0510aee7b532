//! What `interval` and `profile` share: their `UNIT:N` rates, and attaching a program to the
//! software `cpu-clock` perf event of some CPUs.

use aya::programs::perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent};
use aya::programs::{PerfEvent, Program, ProgramError};
use scry_lang::types::{Rate, ResolveError};

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

/// Attaches to `cpu-clock` on each of `cpus`, firing at `rate`.
pub fn attach(program: &mut Program, rate: Rate, cpus: &[u32]) -> Result<(), ProgramError> {
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
) -> Result<(), ProgramError> {
    let p: &mut PerfEvent = program.try_into()?;
    for scope in scopes {
        p.attach(config, *scope, policy, false)?;
    }
    Ok(())
}

pub fn online_cpus() -> Vec<u32> {
    aya::util::online_cpus().unwrap_or_else(|_| vec![0])
}
