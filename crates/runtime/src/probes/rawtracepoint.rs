//! `rawtracepoint:EVENT` (`rt`, also `rawtracepoint:MODULE:EVENT`): a kernel tracepoint before
//! its record is built, with the raw arguments the kernel passes to it. `args.NAME` are typed
//! from the kernel's BTF (the `btf_trace_EVENT` prototype: `args.bprm->filename`), and `arg0`…
//! are the same values as 64-bit integers. `*` globs over the events BTF describes.

use super::{glob_match, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::raw_prog::{self, LoadAs};
use crate::{btf, RuntimeError};
use scry_lang::diagnostic::nearest;
use scry_lang::types::{
    Attach, ContextField, FieldLocation, IntType, ProgramKind, ResolveError, ResolvedProbe, Runs,
    Type,
};
use std::io;
use std::os::fd::BorrowedFd;

pub struct RawTracepoint;

/// A raw tracepoint by its event's name.
#[derive(Debug, PartialEq)]
struct RawTracepointTarget(String);

/// The context: an array of 64-bit arguments.
fn fields(args: &[(String, Type)]) -> (Vec<ContextField>, Vec<ContextField>) {
    let typed = args
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| ContextField {
            name: name.clone(),
            ty: ty.clone(),
            location: FieldLocation::Word {
                offset: 8 * i as u32,
            },
            c_decl: format!("{ty} {name}"),
        })
        .collect();
    let raw = (0..args.len())
        .map(|i| ContextField {
            name: format!("arg{i}"),
            ty: Type::Int(IntType::U64),
            location: FieldLocation::Word {
                offset: 8 * i as u32,
            },
            c_decl: format!("uint64 arg{i}"),
        })
        .collect();
    (typed, raw)
}

fn no_btf() -> ResolveError {
    ResolveError {
        message: "rawtracepoint probes need the kernel's BTF, which cannot be read".into(),
        hint: Some(format!("is {} there?", btf::VMLINUX)),
    }
}

impl ProbeType for RawTracepoint {
    fn names(&self) -> &'static [&'static str] {
        &["rawtracepoint", "rt"]
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        // A module part is accepted and does not narrow the search: BTF names events uniquely.
        let event = match parts {
            [event] | [_, event] => *event,
            _ => {
                return Err(ResolveError {
                    message: "a raw tracepoint is written `rawtracepoint:EVENT`".into(),
                    hint: Some("rawtracepoint:sched_switch".into()),
                })
            }
        };
        let btf = btf::vmlinux().ok_or_else(no_btf)?;
        let events = btf.raw_tracepoints();
        let mut out = Vec::new();
        for (e, args) in events.iter().filter(|(e, _)| glob_match(event, e)) {
            let (typed, raw) = fields(args);
            let mut probe = ResolvedProbe::new(
                format!("rawtracepoint:{e}"),
                "rawtracepoint",
                ProgramKind::new("raw_tp", None, Runs::OnEvents),
                Attach::new(RawTracepointTarget(e.clone())),
            );
            probe.args = Some(typed);
            probe.values = raw;
            out.push(probe);
        }
        if out.is_empty() {
            let hint = match nearest(event, events.iter().map(|(e, _)| e.as_str())) {
                Some(n) => format!("did you mean `rawtracepoint:{n}`?"),
                None => "list them with `scry -l 'rawtracepoint:*'`".into(),
            };
            return Err(ResolveError {
                message: format!("raw tracepoint not found: rawtracepoint:{event}"),
                hint: Some(hint),
            });
        }
        Ok(out)
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        let Some(btf) = btf::vmlinux() else {
            return Ok(vec![]);
        };
        Ok(btf
            .raw_tracepoints()
            .into_iter()
            .map(|(e, args)| {
                let args = args
                    .into_iter()
                    .map(|(name, ty)| format!("{ty} {name}"))
                    .collect();
                Listing {
                    name: format!("rawtracepoint:vmlinux:{e}"),
                    args,
                }
            })
            .collect())
    }

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(LoadAs::new(raw_prog::BPF_PROG_TYPE_RAW_TRACEPOINT))
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let RawTracepointTarget(event) = super::target(target)?;
        Ok(vec![raw_prog::raw_tracepoint_open(program, Some(event))?])
    }

    fn listed_with_module(&self) -> bool {
        true
    }

    fn gives(&self, name: &str) -> bool {
        scry_lang::builtins::arg_index(name).is_some()
    }

    fn info(&self) -> Vec<Feature> {
        let loads = features::loads_empty(LoadAs::new(raw_prog::BPF_PROG_TYPE_RAW_TRACEPOINT));
        vec![Feature::new("rawtracepoint", loads)]
    }
}
