//! `fentry:FUNC` (`f`, `kfunc`) and `fexit:FUNC` (`fr`, `kretfunc`): a kernel function through a
//! BPF trampoline. `args.NAME` are its parameters, typed from BTF, and in fexit `retval` is its
//! return value; `*` globs over the functions BTF describes. A kernel that refuses trampolines
//! (the program load fails with EPERM) gets one error that says so and names an alternative.

use super::{glob_match, kprobe, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::raw_prog::{self, LoadAs};
use crate::{btf, RuntimeError};
use scry_lang::diagnostic::nearest;
use scry_lang::types::{
    Attach, ContextField, FieldLocation, Func, ProgramKind, ResolveError, ResolvedProbe, Runs, Type,
};
use std::io;
use std::os::fd::BorrowedFd;

pub struct Fentry {
    pub ret: bool,
}

/// A kernel function, by name.
#[derive(Debug, PartialEq)]
struct FentryTarget(String);

fn word(name: &str, ty: Type, i: usize) -> ContextField {
    ContextField {
        name: name.to_string(),
        c_decl: format!("{ty} {name}"),
        ty,
        location: FieldLocation::BtfWord {
            offset: 8 * i as u32,
        },
    }
}

impl Fentry {
    /// `BPF_TRACE_FENTRY` or `BPF_TRACE_FEXIT`.
    fn attach_type(&self) -> u32 {
        if self.ret {
            raw_prog::BPF_TRACE_FEXIT
        } else {
            raw_prog::BPF_TRACE_FENTRY
        }
    }

    fn provider(&self) -> &'static str {
        if self.ret {
            "fexit"
        } else {
            "fentry"
        }
    }

    fn probe(&self, func: &str, params: &[(String, Type)], ret: &Type) -> ResolvedProbe {
        let args: Vec<ContextField> = params
            .iter()
            .enumerate()
            .map(|(i, (n, t))| word(n, t.clone(), i))
            .collect();
        let mut values: Vec<ContextField> = (0..params.len())
            .map(|i| {
                word(
                    &format!("arg{i}"),
                    Type::Int(scry_lang::types::IntType::U64),
                    i,
                )
            })
            .collect();
        if self.ret && *ret != Type::Void {
            // fexit's context holds the arguments, then the return value.
            values.push(word("retval", ret.clone(), params.len()));
        }
        // The function is named when loading: the section only gives the program type.
        let mut probe = ResolvedProbe::new(
            format!("{}:{func}", self.provider()),
            self.provider(),
            ProgramKind::new(self.provider(), None, Runs::OnEvents),
            Attach::new(FentryTarget(func.to_string())),
        );
        probe.args = Some(args);
        probe.values = values;
        probe.func = Some(Func::Kernel(func.to_string()));
        probe
    }
}

impl ProbeType for Fentry {
    fn names(&self) -> &'static [&'static str] {
        if self.ret {
            &["fexit", "fr", "kretfunc"]
        } else {
            &["fentry", "f", "kfunc"]
        }
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let provider = self.provider();
        let pattern = match parts {
            [f] | [_, f] => *f,
            _ => {
                return Err(ResolveError {
                    message: format!("{provider} is written `{provider}:FUNCTION`"),
                    hint: Some(format!("{provider}:vfs_read")),
                })
            }
        };
        let btf = btf::vmlinux().ok_or_else(|| ResolveError {
            message: format!("{provider} probes need the kernel's BTF, which cannot be read"),
            hint: None,
        })?;
        let functions = btf.functions();
        let out: Vec<ResolvedProbe> = functions
            .iter()
            .filter(|f| glob_match(pattern, f))
            .filter_map(|f| {
                let (params, ret) = btf.function(f)?;
                Some(self.probe(f, &params, &ret))
            })
            .collect();
        if out.is_empty() {
            let hint = match nearest(pattern, functions.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{provider}:{n}`?"),
                None => "the kernel's functions are in its BTF".into(),
            };
            return Err(ResolveError {
                message: format!("no kernel function `{pattern}` in BTF"),
                hint: Some(hint),
            });
        }
        Ok(out)
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        // Listing tens of thousands of functions that cannot be attached helps nobody: only a
        // kernel that accepts trampolines lists them.
        if !crate::features::trampolines() {
            return Ok(vec![]);
        }
        let Some(btf) = btf::vmlinux() else {
            return Ok(vec![]);
        };
        Ok(btf
            .functions()
            .into_iter()
            .map(|f| Listing {
                name: format!("{}:vmlinux:{f}", self.provider()),
                args: btf
                    .function(&f)
                    .map(|(params, _)| params.iter().map(|(n, t)| format!("{t} {n}")).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    fn load_as(&self, target: &Attach) -> io::Result<LoadAs> {
        let FentryTarget(func) = super::target(target)?;
        let id = btf::vmlinux()
            .and_then(|b| b.function_id(func))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        Ok(LoadAs::new(raw_prog::BPF_PROG_TYPE_TRACING)
            .attached_as(self.attach_type())
            .by_btf_id(id))
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        _target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        Ok(vec![raw_prog::raw_tracepoint_open(program, None)?])
    }

    fn listed_with_module(&self) -> bool {
        true
    }

    fn gives(&self, name: &str) -> bool {
        super::function_gives(name, self.ret)
    }

    fn info(&self) -> Vec<Feature> {
        let loads = features::loads_on_function(
            raw_prog::BPF_PROG_TYPE_TRACING,
            self.attach_type(),
            "vfs_read",
        );
        vec![Feature::new(self.provider(), loads)]
    }

    fn load_refused(&self, target: &Attach, error: &io::Error) -> Option<(String, Option<String>)> {
        let FentryTarget(func) = super::target(target).ok()?;
        (error.raw_os_error() == Some(libc::EPERM)).then(|| {
            (
                format!(
                    "{}:{func}: the kernel refused BPF trampolines (EPERM), which fentry and fexit need",
                    self.provider()
                ),
                Some(kprobe::alternative(func, self.ret)),
            )
        })
    }
}
