//! `BEGIN` and `END`: programs run once, through `BPF_PROG_TEST_RUN` on a raw tracepoint
//! program, at start (before other probes attach) and at exit (after they detach).

use super::{Listing, OwnedEvents, ProbeType};
use crate::RuntimeError;
use aya::programs::{Program, ProgramError, RawTracePoint};
use scry_lang::types::{ProbeTarget, ResolveError, ResolvedProbe};

pub struct Special;

impl ProbeType for Special {
    fn names(&self) -> &'static [&'static str] {
        &["BEGIN", "END", "begin", "end"]
    }

    fn resolve(
        &self,
        provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        if !parts.is_empty() {
            return Err(ResolveError {
                message: format!("{provider} takes no arguments"),
                hint: Some(format!("write `{provider} {{ … }}`")),
            });
        }
        let (name, target) = match provider {
            "BEGIN" | "begin" => ("BEGIN", ProbeTarget::Begin),
            _ => ("END", ProbeTarget::End),
        };
        Ok(vec![ResolvedProbe {
            name: name.to_string(),
            target,
            args: None,
            values: Vec::new(),
            func: None,
            registers: Vec::new(),
        }])
    }

    fn resolves_unprivileged(&self) -> bool {
        true
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        Ok(vec![])
    }

    fn load(&self, program: &mut Program, _target: &ProbeTarget) -> Result<(), ProgramError> {
        let p: &mut RawTracePoint = program.try_into()?;
        p.load()
    }

    fn attach(
        &self,
        _program: &mut Program,
        _target: &ProbeTarget,
        _pid: Option<u32>,
    ) -> Result<OwnedEvents, ProgramError> {
        Ok(OwnedEvents::new())
    }

    fn handles(&self, target: &ProbeTarget) -> bool {
        matches!(target, ProbeTarget::Begin | ProbeTarget::End)
    }
}
