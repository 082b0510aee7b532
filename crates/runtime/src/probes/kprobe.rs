//! `kprobe:FUNC[+OFFSET]` (`k`) and `kretprobe:FUNC` (`kr`): a kernel function, found in
//! `/proc/kallsyms` (with `*` globs), its arguments `arg0`…`arg5` and return value read from
//! `struct pt_regs` as for uprobes. Attaching needs the kernel's kprobe support; without it (a
//! kernel built without CONFIG_KPROBES) the error says so, and names the tracepoint that carries
//! the same event where there is one.

use super::{glob_match, uprobe, Attachment, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::RuntimeError;
use aya::programs::{KProbe, Program, ProgramError};
use scry_lang::diagnostic::nearest;
use scry_lang::types::{Attach, Func, ProgramKind, ResolveError, ResolvedProbe, Runs};

pub struct Kprobe {
    pub ret: bool,
}

/// A kernel function and an offset into it.
#[derive(Debug, PartialEq)]
struct KprobeTarget {
    func: String,
    offset: u64,
}

/// Kernel functions: the text symbols of `/proc/kallsyms`, sorted, each name once.
fn kernel_functions() -> Vec<String> {
    let mut names: Vec<String> = crate::symbols::kernel_symbols()
        .iter()
        .filter(|s| s.text)
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the kernel can place kprobes: a `kprobe` PMU, or tracefs' `kprobe_events`.
fn kprobes_available() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || crate::tracefs::root().is_ok_and(|root| root.join("kprobe_events").exists())
}

/// Tracepoints that carry the events bpftrace's tools most often take from kprobes.
const EQUIVALENTS: &[(&str, bool, &str)] = &[
    ("vfs_read", false, "tracepoint:syscalls:sys_enter_read"),
    (
        "vfs_read",
        true,
        "tracepoint:syscalls:sys_exit_read (args.ret)",
    ),
    ("vfs_write", false, "tracepoint:syscalls:sys_enter_write"),
    (
        "vfs_write",
        true,
        "tracepoint:syscalls:sys_exit_write (args.ret)",
    ),
    (
        "vfs_open",
        false,
        "tracepoint:syscalls:sys_enter_openat (args.filename)",
    ),
    (
        "do_sys_openat2",
        false,
        "tracepoint:syscalls:sys_enter_openat (args.filename)",
    ),
    (
        "tcp_connect",
        false,
        "tracepoint:sock:inet_sock_set_state with args.newstate == TCP_SYN_SENT",
    ),
    (
        "inet_csk_accept",
        true,
        "tracepoint:syscalls:sys_exit_accept4",
    ),
    (
        "tcp_set_state",
        false,
        "tracepoint:sock:inet_sock_set_state",
    ),
    (
        "tcp_retransmit_skb",
        false,
        "tracepoint:tcp:tcp_retransmit_skb",
    ),
    ("oom_kill_process", false, "tracepoint:oom:mark_victim"),
    (
        "swap_readpage",
        false,
        "rawtracepoint:* (see `scry -l 'rawtracepoint:*swap*'`)",
    ),
];

impl Kprobe {
    fn provider(&self) -> &'static str {
        if self.ret {
            "kretprobe"
        } else {
            "kprobe"
        }
    }
}

impl ProbeType for Kprobe {
    fn names(&self) -> &'static [&'static str] {
        if self.ret {
            &["kretprobe", "kr"]
        } else {
            &["kprobe", "k"]
        }
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        _pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let provider = self.provider();
        // `kprobe:MODULE:FUNC` names the function the same way: kallsyms names are unique.
        let spec = match parts {
            [f] | [_, f] => *f,
            _ => {
                return Err(ResolveError {
                    message: format!("a {provider} is written `{provider}:FUNCTION`"),
                    hint: Some(format!("{provider}:vfs_read")),
                })
            }
        };
        let (pattern, offset) = match spec.split_once('+') {
            Some((f, off)) if !self.ret => {
                let off = off.parse().map_err(|_| ResolveError {
                    message: format!("{provider}: `{off}` is not an offset"),
                    hint: None,
                })?;
                (f, off)
            }
            Some(_) => {
                return Err(ResolveError {
                    message: "a kretprobe fires when a function returns: it takes no offset".into(),
                    hint: None,
                })
            }
            None => (spec, 0),
        };
        let functions = kernel_functions();
        let out: Vec<ResolvedProbe> = functions
            .iter()
            .filter(|f| glob_match(pattern, f))
            .map(|f| {
                let mut probe = ResolvedProbe::new(
                    format!("{provider}:{f}"),
                    self.provider(),
                    ProgramKind::new(self.provider(), None, Runs::OnEvents),
                    Attach::new(KprobeTarget {
                        func: f.clone(),
                        offset,
                    }),
                );
                probe.values = uprobe::values(self.ret);
                probe.func = Some(Func::Kernel(f.clone()));
                probe.registers = uprobe::registers();
                probe
            })
            .collect();
        if out.is_empty() {
            let hint = match nearest(pattern, functions.iter().map(String::as_str)) {
                Some(n) => format!("did you mean `{provider}:{n}`?"),
                None => "kernel functions are listed in /proc/kallsyms".into(),
            };
            return Err(ResolveError {
                message: format!("no kernel function `{pattern}`"),
                hint: Some(hint),
            });
        }
        Ok(out)
    }

    fn list(&self, _pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        // Only what can be attached is listed.
        if !kprobes_available() {
            return Ok(vec![]);
        }
        Ok(kernel_functions()
            .into_iter()
            .map(|f| Listing {
                name: format!("{}:{f}", self.provider()),
                args: vec![],
            })
            .collect())
    }

    fn load(&self, program: &mut Program, _target: &Attach) -> Result<(), ProgramError> {
        let p: &mut KProbe = program.try_into()?;
        p.load()
    }

    fn attach(
        &self,
        program: &mut Program,
        target: &Attach,
        _pid: Option<u32>,
    ) -> Result<OwnedEvents, ProgramError> {
        let KprobeTarget { func, offset } = super::target(target)?;
        let p: &mut KProbe = program.try_into()?;
        let id = p.attach(func, *offset)?;
        Ok(vec![Attachment::link(p.take_link(id)?)])
    }

    fn gives(&self, name: &str) -> bool {
        super::function_gives(name, self.ret)
    }

    fn unload(&self, program: &mut Program) -> Result<(), ProgramError> {
        let p: &mut KProbe = program.try_into()?;
        p.unload()
    }

    /// kprobe and kprobe_multi (reported once, by the entry type).
    fn info(&self) -> Vec<Feature> {
        if self.ret {
            return Vec::new();
        }
        vec![
            Feature::new("kprobe", kprobes_available()),
            Feature::new("kprobe_multi", features::kprobe_multi()),
        ]
    }

    fn unavailable(&self, target: &Attach) -> Option<(String, Option<String>)> {
        if kprobes_available() {
            return None;
        }
        let KprobeTarget { func, .. } = super::target(target).ok()?;
        let reason = format!(
            "{}:{func}: kprobes are not available: this kernel was built without CONFIG_KPROBES (no kprobe PMU in /sys/bus/event_source/devices, no kprobe_events in tracefs)",
            self.provider()
        );
        Some((reason, Some(alternative(func, self.ret))))
    }
}

/// What carries the same event as a probe on kernel function `func` (or its return).
pub(super) fn alternative(func: &str, ret: bool) -> String {
    match EQUIVALENTS.iter().find(|(f, r, _)| *f == func && *r == ret) {
        Some((_, _, alt)) => format!("the same event: {alt}"),
        None => format!(
            "tracepoints and raw tracepoints carry most kernel events: `scry -l '*{}*'`",
            func.trim_start_matches("__x64_sys_")
                .trim_start_matches("do_")
        ),
    }
}
