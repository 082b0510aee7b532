//! `BEGIN` and `END`: programs run once, through `BPF_PROG_TEST_RUN` on a raw tracepoint
//! program, at start (before other probes attach) and at exit (after they detach).

use super::{Listing, OwnedEvents, ProbeType};
use crate::features::Feature;
use crate::raw_prog::{self, LoadAs};
use crate::RuntimeError;
use scry_lang::types::{Attach, ProgramKind, ResolveError, ResolvedProbe, Runs};
use std::io;
use std::os::fd::BorrowedFd;

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

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(LoadAs::new(raw_prog::BPF_PROG_TYPE_RAW_TRACEPOINT))
    }

    fn attach(
        &self,
        _program: BorrowedFd<'_>,
        _target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        Ok(OwnedEvents::new())
    }

    fn info(&self) -> Vec<Feature> {
        Vec::new()
    }
}
