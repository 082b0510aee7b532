//! `kprobe:[MODULE:]FUNC[+OFFSET]` (`k`) and `kretprobe:FUNC` (`kr`): a kernel function (a
//! `*` glob covers the functions tracefs' `available_filter_functions` lists, as bpftrace's
//! does; a name alone may be any text symbol of `/proc/kallsyms`), its arguments `arg0`…`arg5`
//! and return value read from
//! `struct pt_regs` as for uprobes. Attaching needs the kernel's kprobe support; without it (a
//! kernel built without CONFIG_KPROBES) the error says so, and names the tracepoint that carries
//! the same event where there is one.

use super::{glob_match, uprobe, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::raw_prog::{self, LoadAs};
use crate::{perf, RuntimeError};
use scry_lang::diagnostic::nearest;
use scry_lang::types::{Attach, Func, ProgramKind, ResolveError, ResolvedProbe, Runs};
use std::io;
use std::os::fd::BorrowedFd;

pub struct Kprobe {
    pub ret: bool,
}

/// A kernel function and an offset into it.
#[derive(Debug, PartialEq)]
struct KprobeTarget {
    func: String,
    offset: u64,
}

/// Kernel functions attached to at once, by a `kprobe_multi` link: a wildcard's matches.
#[derive(Debug, PartialEq)]
struct KprobeMulti {
    funcs: Vec<String>,
}

/// Whether the kernel makes `kprobe_multi` links (asked once).
fn multi_links() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(features::kprobe_multi)
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

/// A function the kernel can trace, as tracefs' `available_filter_functions` lists it.
struct Traceable {
    func: String,
    /// The module it is in; `None` for the kernel's own.
    module: Option<String>,
}

/// The functions kprobes can be placed on, sorted: tracefs' `available_filter_functions`,
/// read once. `None` where tracefs has no such list (a kernel without ftrace).
fn traceable() -> Option<&'static [Traceable]> {
    static LIST: std::sync::OnceLock<Option<Vec<Traceable>>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let root = crate::tracefs::root().ok()?;
        let text = std::fs::read_to_string(root.join("available_filter_functions")).ok()?;
        let mut out: Vec<Traceable> = text
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let func = words.next()?.to_string();
                let module = words
                    .next()
                    .and_then(|m| m.strip_prefix('[')?.strip_suffix(']'))
                    .map(String::from);
                Some(Traceable { func, module })
            })
            .collect();
        out.sort_by(|a, b| (&a.func, &a.module).cmp(&(&b.func, &b.module)));
        out.dedup_by(|a, b| a.func == b.func && a.module == b.module);
        Some(out)
    })
    .as_deref()
}

fn is_traceable(func: &str) -> Option<bool> {
    let list = traceable()?;
    Some(list.binary_search_by(|t| t.func.as_str().cmp(func)).is_ok())
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
        // A wildcard covers the functions the kernel can trace (as bpftrace's does), in the
        // module named if one is; a name alone may be any kernel function.
        let module = match parts {
            [m, _] if *m != "vmlinux" && *m != "kernel" => Some(*m),
            _ => None,
        };
        let functions: Vec<(String, Option<String>)> = match traceable() {
            Some(list) if pattern.contains('*') || module.is_some() => list
                .iter()
                .filter(|t| module.is_none_or(|m| t.module.as_deref() == Some(m)))
                .filter(|t| module.is_some() || t.module.is_none())
                .map(|t| (t.func.clone(), t.module.clone()))
                .collect(),
            _ => kernel_functions().into_iter().map(|f| (f, None)).collect(),
        };
        let mut out: Vec<ResolvedProbe> = Vec::new();
        for (f, m) in functions.iter().filter(|(f, _)| glob_match(pattern, f)) {
            if out
                .last()
                .is_some_and(|p| p.name.ends_with(&format!(":{f}")))
            {
                continue;
            }
            let name = match m {
                Some(m) => format!("{provider}:{m}:{f}"),
                None => format!("{provider}:{f}"),
            };
            let mut probe = ResolvedProbe::new(
                name,
                self.provider(),
                ProgramKind::new(self.provider(), None, Runs::OnEvents),
                Attach::new(KprobeTarget {
                    func: f.clone(),
                    offset,
                }),
            );
            probe.values = uprobe::values(self.ret);
            probe.func = Some(Func::Kernel(f.clone()));
            uprobe::regs_context(&mut probe);
            out.push(probe);
        }
        let functions: Vec<String> = functions.into_iter().map(|(f, _)| f).collect();
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

    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        // Only what can be attached is listed: the functions the kernel can trace.
        if !kprobes_available() {
            return Ok(vec![]);
        }
        let provider = self.provider();
        let names: Vec<String> = match traceable() {
            Some(list) => list
                .iter()
                .map(|t| match &t.module {
                    Some(m) => format!("{provider}:{m}:{}", t.func),
                    None => format!("{provider}:{}", t.func),
                })
                .collect(),
            None => kernel_functions()
                .into_iter()
                .map(|f| format!("{provider}:{f}"))
                .collect(),
        };
        let mut names: Vec<String> = names
            .into_iter()
            .filter(|n| {
                pattern.is_none_or(|p| glob_match(p, n) || glob_match(p, &without_module(n)))
            })
            .collect();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|name| Listing { name, args: vec![] })
            .collect())
    }

    fn attach_refused(
        &self,
        target: &Attach,
        _error: &io::Error,
    ) -> Option<(String, Option<String>)> {
        let KprobeTarget { func, .. } = super::target(target).ok()?;
        if is_traceable(func)? {
            return None;
        }
        Some((
            format!(
                "{}:{func}: the kernel cannot probe `{func}`: it is not in tracefs' available_filter_functions (an __init, notrace or inlined function)",
                self.provider()
            ),
            Some(format!(
                "the functions that can be probed: scry -l 'kprobe:*{func}*'"
            )),
        ))
    }

    /// A wildcard's functions, attached by one `kprobe_multi` link where the kernel makes
    /// them (bpftrace does the same); `func` is then the cookie each function is attached
    /// with, its address. Functions named with their module are attached one by one.
    fn join(&self, name: String, probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        let mut funcs = Vec::new();
        for p in probes {
            let t: &KprobeTarget = p.attach.get()?;
            if t.offset != 0 || p.name.matches(':').count() != 1 {
                return None;
            }
            funcs.push(t.func.clone());
        }
        if !multi_links() {
            return None;
        }
        let mut probe = ResolvedProbe::new(
            name,
            self.provider(),
            ProgramKind::new(self.provider(), None, Runs::OnEvents),
            Attach::new(KprobeMulti { funcs }),
        );
        probe.values = uprobe::values(self.ret);
        probe.func = Some(Func::Attached { kernel: true });
        uprobe::regs_context(&mut probe);
        Some(probe)
    }

    fn probe_count(&self, target: &Attach) -> usize {
        target.get::<KprobeMulti>().map_or(1, |m| m.funcs.len())
    }

    fn load_as(&self, target: &Attach) -> io::Result<LoadAs> {
        let how = LoadAs::new(raw_prog::BPF_PROG_TYPE_KPROBE);
        Ok(match target.get::<KprobeMulti>() {
            Some(_) => how.attached_as(raw_prog::BPF_TRACE_KPROBE_MULTI),
            None => how,
        })
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        _pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        if let Some(KprobeMulti { funcs }) = target.get() {
            let names: Vec<&str> = funcs.iter().map(String::as_str).collect();
            let cookies: Vec<u64> = names
                .iter()
                .map(|f| crate::symbols::kernel_address(f).unwrap_or(0))
                .collect();
            return Ok(vec![raw_prog::kprobe_multi(
                program, &names, &cookies, self.ret,
            )?]);
        }
        let KprobeTarget { func, offset } = super::target(target)?;
        let event = perf::probe("kprobe", self.ret, 0, func, *offset, None)?;
        perf::attach_program(event, program)
    }

    fn gives(&self, name: &str) -> bool {
        super::function_gives(name, self.ret)
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

/// `kprobe:mod:func` as `kprobe:func`, so a pattern without the module matches it.
fn without_module(name: &str) -> String {
    let parts: Vec<&str> = name.splitn(3, ':').collect();
    match parts[..] {
        [p, _, f] => format!("{p}:{f}"),
        _ => name.to_string(),
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
