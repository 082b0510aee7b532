//! `iter:TARGET` (`it`): a BPF iterator over kernel objects, run once, start to end, when the
//! probes are attached; the program ends when it is done. `ctx.NAME` are the iterator's
//! arguments, typed from BTF (`bpf_iter_task(meta, task)`: `ctx.task->comm`).

use super::{glob_match, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::raw_prog::{self, LoadAs};
use crate::{btf, RuntimeError};
use scry_lang::diagnostic::nearest;
use scry_lang::types::{
    Attach, ContextField, FieldLocation, ProgramKind, ResolveError, ResolvedProbe, Runs,
};
use std::io::{self, Read};
use std::os::fd::BorrowedFd;

pub struct IterProbe;

/// The iterator targets the kernel describes: each `bpf_iter_TARGET(struct bpf_iter_meta *meta,
/// …)` function (the other `bpf_iter_*` functions are kfuncs of open-coded iterators).
fn targets(btf: &btf::Btf) -> Vec<String> {
    btf.functions()
        .into_iter()
        .filter_map(|f| {
            let target = f.strip_prefix("bpf_iter_")?;
            let (params, _) = btf.function(&f)?;
            (params.first().map(|(n, _)| n.as_str()) == Some("meta")).then(|| target.to_string())
        })
        .collect()
}

impl ProbeType for IterProbe {
    fn names(&self) -> &'static [&'static str] {
        &["iter", "it"]
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let [target] = parts else {
            return Err(ResolveError {
                message: "an iterator is written `iter:TARGET`".into(),
                hint: Some("iter:task, iter:task_file, iter:task_vma".into()),
            });
        };
        let btf = btf::vmlinux().ok_or_else(|| ResolveError {
            message: "iter probes need the kernel's BTF, which cannot be read".into(),
            hint: None,
        })?;
        let Some((params, _)) = btf.function(&format!("bpf_iter_{target}")) else {
            let all = targets(btf);
            return Err(ResolveError {
                message: format!("no iterator `{target}`"),
                hint: Some(match nearest(target, all.iter().map(String::as_str)) {
                    Some(n) => format!("did you mean `iter:{n}`?"),
                    None => format!("iterators: {}", all.join(", ")),
                }),
            });
        };
        let args = params
            .into_iter()
            .enumerate()
            .map(|(i, (name, ty))| ContextField {
                c_decl: format!("{ty} {name}"),
                name,
                ty,
                location: FieldLocation::BtfWord {
                    offset: 8 * i as u32,
                },
            })
            .collect();
        // The loader reads the iterator's target from the section name.
        let program = ProgramKind::new("iter", Some(target.to_string()), Runs::ToCompletion);
        let mut probe = ResolvedProbe::new(
            format!("iter:{target}"),
            "iter",
            program,
            Attach::new(IterTarget(target.to_string())),
        );
        probe.args = Some(args);
        probe.args_as_ctx = true;
        probe.context = Some(format!("bpf_iter__{target}"));
        // After its last object the iterator runs the program once more with every object
        // NULL (the second word; the first is its `meta`), to mark the end.
        probe.ends_on_null = Some(8);
        Ok(vec![probe])
    }

    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        let Some(btf) = btf::vmlinux() else {
            return Ok(vec![]);
        };
        Ok(targets(btf)
            .into_iter()
            .filter(|t| pattern.is_none_or(|p| glob_match(p, &format!("iter:{t}"))))
            .map(|t| Listing {
                args: btf
                    .function(&format!("bpf_iter_{t}"))
                    .map(|(params, _)| params.iter().map(|(n, ty)| format!("{ty} {n}")).collect())
                    .unwrap_or_default(),
                name: format!("iter:{t}"),
            })
            .collect())
    }

    fn load_as(&self, target: &Attach) -> io::Result<LoadAs> {
        let IterTarget(target) = super::target(target)?;
        let id = btf::vmlinux()
            .and_then(|b| b.function_id(&format!("bpf_iter_{target}")))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        Ok(LoadAs::new(raw_prog::BPF_PROG_TYPE_TRACING)
            .attached_as(raw_prog::BPF_TRACE_ITER)
            .by_btf_id(id))
    }

    /// Attaching runs the iterator to its end: reading it is what makes the kernel walk the
    /// objects (what the program sends goes through the ring buffer, not this read).
    fn attach(
        &self,
        program: BorrowedFd<'_>,
        _target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let (_link, mut file) = raw_prog::iter_create(program)?;
        let mut sink = Vec::new();
        file.read_to_end(&mut sink)?;
        Ok(OwnedEvents::new())
    }

    fn info(&self) -> Vec<Feature> {
        let loads = features::loads_on_function(
            raw_prog::BPF_PROG_TYPE_TRACING,
            raw_prog::BPF_TRACE_ITER,
            "bpf_iter_task",
        );
        vec![Feature::new("iter", loads)]
    }
}

/// An iterator by its target (`task`, `task_file`…).
#[derive(Debug, PartialEq)]
struct IterTarget(String);
