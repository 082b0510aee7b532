//! `self:signal:SIGUSR1`: a program scry runs itself (as BEGIN, through `BPF_PROG_TEST_RUN` on
//! a raw tracepoint program) each time it receives SIGUSR1.

use super::{Listing, OwnedEvents, ProbeType};
use crate::features::Feature;
use crate::RuntimeError;
use aya::programs::{Program, ProgramError};
use scry_lang::types::{Attach, ProgramKind, ResolveError, ResolvedProbe, Runs};

pub struct SelfSignal;

/// A signal to scry attaches nowhere.
#[derive(Debug, PartialEq)]
struct SelfTarget;

const NAME: &str = "self:signal:SIGUSR1";

impl ProbeType for SelfSignal {
    fn names(&self) -> &'static [&'static str] {
        &["self"]
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        if parts != ["signal", "SIGUSR1"] {
            return Err(ResolveError {
                message: format!("no probe `self:{}`", parts.join(":")),
                hint: Some(format!("the self probe is `{NAME}`")),
            });
        }
        Ok(vec![ResolvedProbe::new(
            NAME,
            "self",
            ProgramKind::new("raw_tp", None, Runs::OnSignal),
            Attach::new(SelfTarget),
        )])
    }

    fn resolves_unprivileged(&self) -> bool {
        true
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        Ok(vec![Listing {
            name: NAME.to_string(),
            args: vec![],
        }])
    }

    fn load(&self, program: &mut Program, _target: &Attach) -> Result<(), ProgramError> {
        super::special::load(program)
    }

    fn attach(
        &self,
        _program: &mut Program,
        _target: &Attach,
        _pid: Option<u32>,
    ) -> Result<OwnedEvents, ProgramError> {
        Ok(OwnedEvents::new())
    }

    fn unload(&self, program: &mut Program) -> Result<(), ProgramError> {
        super::special::unload(program)
    }

    fn info(&self) -> Vec<Feature> {
        Vec::new()
    }
}
