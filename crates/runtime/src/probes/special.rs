//! `BEGIN` and `END`: programs run once, through `BPF_PROG_TEST_RUN` on a raw tracepoint
//! program, at start (before other probes attach) and at exit (after they detach).

use super::{Listing, OwnedEvents, ProbeType};
use crate::features::Feature;
use crate::RuntimeError;
use aya::programs::{Program, ProgramError, RawTracePoint};
use scry_lang::types::{Attach, ProgramKind, ResolveError, ResolvedProbe, Runs};

pub struct Special;

/// BEGIN and END attach nowhere.
#[derive(Debug, PartialEq)]
struct SpecialTarget;

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
        let (name, runs) = match provider {
            "BEGIN" | "begin" => ("BEGIN", Runs::AtStart),
            _ => ("END", Runs::AtExit),
        };
        // Run with BPF_PROG_TEST_RUN: the raw tracepoint is never attached to.
        let program = ProgramKind::new("raw_tp", None, runs);
        Ok(vec![ResolvedProbe::new(
            name,
            name,
            program,
            Attach::new(SpecialTarget),
        )])
    }

    fn resolves_unprivileged(&self) -> bool {
        true
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        Ok(vec![])
    }

    fn load(&self, program: &mut Program, _target: &Attach) -> Result<(), ProgramError> {
        load(program)
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
        unload(program)
    }

    fn info(&self) -> Vec<Feature> {
        Vec::new()
    }
}

/// Loads a program scry runs itself (`BPF_PROG_TEST_RUN` on a raw tracepoint program): BEGIN,
/// END and `self:signal`.
pub(super) fn load(program: &mut Program) -> Result<(), ProgramError> {
    let p: &mut RawTracePoint = program.try_into()?;
    p.load()
}

pub(super) fn unload(program: &mut Program) -> Result<(), ProgramError> {
    let p: &mut RawTracePoint = program.try_into()?;
    p.unload()
}
