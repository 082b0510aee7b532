//! `fentry:FUNC` (`f`, `kfunc`) and `fexit:FUNC` (`fr`, `kretfunc`): a kernel function through a
//! BPF trampoline. `args.NAME` are its parameters, typed from BTF, and in fexit `retval` is its
//! return value; `*` globs over the functions BTF describes. A kernel that refuses trampolines
//! (the program load fails with EPERM) gets one error that says so and names an alternative.

use super::{aya_btf, glob_match, kprobe, Attachment, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::{btf, RuntimeError};
use aya::programs::{FEntry, FExit, Program, ProgramError};
use scry_lang::diagnostic::nearest;
use scry_lang::types::{
    Attach, ContextField, FieldLocation, Func, ProgramKind, ResolveError, ResolvedProbe, Runs, Type,
};

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

    fn load(&self, program: &mut Program, target: &Attach) -> Result<(), ProgramError> {
        let FentryTarget(func) = super::target(target)?;
        let btf = aya_btf()?;
        if self.ret {
            let p: &mut FExit = program.try_into()?;
            p.load(func, btf)
        } else {
            let p: &mut FEntry = program.try_into()?;
            p.load(func, btf)
        }
    }

    fn attach(
        &self,
        program: &mut Program,
        _target: &Attach,
        _pid: Option<u32>,
    ) -> Result<OwnedEvents, ProgramError> {
        if self.ret {
            let p: &mut FExit = program.try_into()?;
            let id = p.attach()?;
            Ok(vec![Attachment::link(p.take_link(id)?)])
        } else {
            let p: &mut FEntry = program.try_into()?;
            let id = p.attach()?;
            Ok(vec![Attachment::link(p.take_link(id)?)])
        }
    }

    fn listed_with_module(&self) -> bool {
        true
    }

    fn gives(&self, name: &str) -> bool {
        super::function_gives(name, self.ret)
    }

    fn unload(&self, program: &mut Program) -> Result<(), ProgramError> {
        if self.ret {
            let p: &mut FExit = program.try_into()?;
            p.unload()
        } else {
            let p: &mut FEntry = program.try_into()?;
            p.unload()
        }
    }

    fn info(&self) -> Vec<Feature> {
        let loads = features::loads_with_btf(&format!("{}/probe", self.provider()), |p, btf| {
            if self.ret {
                let p: Result<&mut FExit, _> = p.try_into();
                p.is_ok_and(|p| p.load("vfs_read", btf).is_ok())
            } else {
                let p: Result<&mut FEntry, _> = p.try_into();
                p.is_ok_and(|p| p.load("vfs_read", btf).is_ok())
            }
        });
        vec![Feature::new(self.provider(), loads)]
    }

    fn load_refused(
        &self,
        target: &Attach,
        error: &ProgramError,
    ) -> Option<(String, Option<String>)> {
        let FentryTarget(func) = super::target(target).ok()?;
        let ProgramError::LoadError { io_error, .. } = error else {
            return None;
        };
        (io_error.raw_os_error() == Some(libc::EPERM)).then(|| {
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
