//! `tracepoint:category:event` (alias `t`): static kernel tracepoints from tracefs, with `args`
//! typed from each event's `format` file.

use super::{glob_match, Listing, OwnedEvents, ProbeType};
use crate::features::Feature;
use crate::raw_prog::{self, LoadAs};
use crate::{format, perf, tracefs, RuntimeError};
use scry_lang::diagnostic::edit_distance;
use scry_lang::types::{
    Attach, ContextField, ProgramKind, ResolveError, ResolvedProbe, Runs, Type,
};
use std::io;
use std::os::fd::BorrowedFd;

pub struct Tracepoint;

/// A tracepoint by its tracefs category and event.
#[derive(Debug, PartialEq)]
struct TracepointTarget {
    category: String,
    event: String,
}

fn tracefs_error(e: tracefs::TracefsError) -> ResolveError {
    ResolveError {
        message: e.to_string(),
        hint: None,
    }
}

impl ProbeType for Tracepoint {
    fn names(&self) -> &'static [&'static str] {
        &["tracepoint", "t"]
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let [category, event] = parts else {
            return Err(ResolveError {
                message: "a tracepoint is named `tracepoint:CATEGORY:EVENT`".into(),
                hint: Some("for example `tracepoint:syscalls:sys_enter_openat`; list them with `scry -l 'tracepoint:*'`".into()),
            });
        };
        let root = tracefs::root().map_err(tracefs_error)?;
        let wanted: Vec<(String, String)> = if category.contains('*') || event.contains('*') {
            let all = if category.contains('*') {
                tracefs::events(root, |c| glob_match(category, c), |e| glob_match(event, e))
                    .map_err(tracefs_error)?
            } else {
                tracefs::events_of(root, category, |e| glob_match(event, e))
            };
            let matched: Vec<_> = all
                .into_iter()
                .filter(|(c, e)| glob_match(category, c) && glob_match(event, e))
                .collect();
            if matched.is_empty() {
                return Err(ResolveError {
                    message: format!("no tracepoint matches `tracepoint:{category}:{event}`"),
                    hint: Some("list them with `scry -l 'tracepoint:*'`".into()),
                });
            }
            matched
        } else {
            vec![(category.to_string(), event.to_string())]
        };
        let mut out = Vec::new();
        for (category, event) in wanted {
            let Some(text) = tracefs::format(root, &category, &event).map_err(tracefs_error)?
            else {
                return Err(not_found(root, &category, &event));
            };
            let mut args = format::parse(&text, format::pointer_space(&category));
            enum_fields(&mut args);
            // The loader reads the event from the section name.
            let section = Some(format!("{category}/{event}"));
            let mut probe = ResolvedProbe::new(
                format!("tracepoint:{category}:{event}"),
                "tracepoint",
                ProgramKind::new("tracepoint", section, Runs::OnEvents),
                Attach::new(TracepointTarget { category, event }),
            );
            probe.args = Some(args);
            out.push(probe);
        }
        Ok(out)
    }

    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        let root = tracefs::root()?;
        let mut out = Vec::new();
        for (category, event) in tracefs::events(root, |_| true, |_| true)? {
            let name = format!("tracepoint:{category}:{event}");
            // Only the events listed have their format files read.
            if pattern.is_some_and(|p| !super::glob_match(p, &name)) {
                continue;
            }
            let args = match tracefs::format(root, &category, &event)? {
                Some(text) => format::parse(&text, format::pointer_space(&category))
                    .into_iter()
                    .map(|f| f.c_decl)
                    .collect(),
                None => vec![],
            };
            out.push(Listing { name, args });
        }
        Ok(out)
    }

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(LoadAs::new(raw_prog::BPF_PROG_TYPE_TRACEPOINT))
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let TracepointTarget { category, event } = super::target(target)?;
        let root = tracefs::root().map_err(io::Error::other)?;
        let id = tracefs::id(root, category, event)?;
        let fd = perf::tracepoint(id)?;
        perf::attach_program(fd, program)
    }

    fn info(&self) -> Vec<Feature> {
        let events = tracefs::root().is_ok_and(|r| r.join("events").is_dir());
        vec![Feature::new("tracepoint", events)]
    }
}

/// "not found", with the closest existing tracepoints as the hint.
fn not_found(root: &std::path::Path, category: &str, event: &str) -> ResolveError {
    let wanted = format!("{category}:{event}");
    let mut near: Vec<(usize, String)> = tracefs::events(root, |_| true, |_| true)
        .unwrap_or_default()
        .into_iter()
        .map(|(c, e)| {
            let name = format!("{c}:{e}");
            (edit_distance(&wanted, &name), name)
        })
        .filter(|(d, _)| *d <= wanted.len() / 3 + 1)
        .collect();
    near.sort();
    // Only the closest few: a list of distant names is noise.
    if let Some(best) = near.first().map(|(d, _)| *d) {
        near.retain(|(d, _)| *d <= best + 1);
    }
    near.truncate(3);
    let hint = if near.is_empty() {
        format!("list the tracepoints with `scry -l 'tracepoint:{category}:*'`")
    } else {
        let names: Vec<String> = near
            .into_iter()
            .map(|(_, n)| format!("tracepoint:{n}"))
            .collect();
        format!("did you mean {}?", names.join(" or "))
    };
    ResolveError {
        message: format!("tracepoint not found: tracepoint:{category}:{event}"),
        hint: Some(hint),
    }
}

/// Fields declared `enum NAME field` take the kernel's enum from BTF, so they print by
/// enumerator name (at the field's own size: the record may keep the value narrower).
fn enum_fields(args: &mut [ContextField]) {
    // BTF is read only for a format that has an enum field.
    let mut btf = None;
    for f in args {
        let Type::Int(int) = f.ty else {
            continue;
        };
        let words: Vec<&str> = f.c_decl.split_whitespace().collect();
        let [kind, name, _field] = words.as_slice() else {
            continue;
        };
        if *kind != "enum" {
            continue;
        }
        let Some(btf) = *btf.get_or_insert_with(crate::btf::vmlinux) else {
            return;
        };
        if let Some(mut e) = btf.enumeration(name) {
            e.int = int;
            f.ty = Type::Enum(Box::new(e));
        }
    }
}
