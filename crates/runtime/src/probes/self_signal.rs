//! `self:signal:SIGUSR1`: a program scry runs itself (as BEGIN, through `BPF_PROG_TEST_RUN` on
//! a raw tracepoint program) each time it receives SIGUSR1.

use super::{Listing, OwnedEvents, ProbeType};
use crate::features::Feature;
use crate::raw_prog::{self, LoadAs};
use crate::RuntimeError;
use scry_lang::types::{Attach, ProgramKind, ResolveError, ResolvedProbe, Runs};
use std::io;
use std::os::fd::BorrowedFd;

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
