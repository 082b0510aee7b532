//! `profile:UNIT:N` (alias `p`): a timer on every online CPU, sampling what runs there
//! (`kstack`, `ustack`, `comm`, `pid`).

use super::{timer, Listing, ProbeType};
use crate::RuntimeError;
use aya::programs::{Program, ProgramError};
use scry_lang::types::{ProbeTarget, ResolveError, ResolvedProbe};

pub struct Profile;

impl ProbeType for Profile {
    fn names(&self) -> &'static [&'static str] {
        &["profile", "p"]
    }

    fn resolve(&self, _provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let rate = timer::rate("profile", parts)?;
        Ok(vec![ResolvedProbe {
            name: format!("profile:{}", parts.join(":")),
            target: ProbeTarget::Profile(rate),
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
        let ProbeTarget::Profile(rate) = target else {
            unreachable!("the profile type only attaches profile probes")
        };
        timer::attach(program, *rate, &timer::online_cpus())
    }

    fn handles(&self, target: &ProbeTarget) -> bool {
        matches!(target, ProbeTarget::Profile(_))
    }
}
