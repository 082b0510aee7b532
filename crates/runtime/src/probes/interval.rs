//! `interval:UNIT:N` (alias `i`): a timer on one CPU, for periodic output.

use super::{timer, Listing, ProbeType};
use crate::RuntimeError;
use aya::programs::{Program, ProgramError};
use scry_lang::types::{ProbeTarget, ResolveError, ResolvedProbe};

pub struct Interval;

impl ProbeType for Interval {
    fn names(&self) -> &'static [&'static str] {
        &["interval", "i"]
    }

    fn resolve(&self, _provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let rate = timer::rate("interval", parts)?;
        Ok(vec![ResolvedProbe {
            name: format!("interval:{}", parts.join(":")),
            target: ProbeTarget::Interval(rate),
            args: None,
            values: Vec::new(),
            func: None,
            registers: Vec::new(),
        }])
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        Ok(vec![])
    }

    fn load(&self, program: &mut Program, _target: &ProbeTarget) -> Result<(), ProgramError> {
        timer::load(program)
    }

    fn attach(
        &self,
        program: &mut Program,
        target: &ProbeTarget,
        _pid: Option<u32>,
    ) -> Result<(), ProgramError> {
        let ProbeTarget::Interval(rate) = target else {
            unreachable!("the interval type only attaches interval probes")
        };
        let first = timer::online_cpus().first().copied().unwrap_or(0);
        timer::attach(program, *rate, &[first])
    }

    fn handles(&self, target: &ProbeTarget) -> bool {
        matches!(target, ProbeTarget::Interval(_))
    }
}
