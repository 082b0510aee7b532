//! Probe types. Each type is one module implementing `ProbeType`: it expands an attach point
//! (wildcards included) into probes, each with its program kind, its context and a target of
//! the type's own (`Attach`) that only it reads; it lists what it offers for `-l`, says what
//! `--info` reports of it, and loads, attaches and unloads its programs. Adding a type is one
//! file plus one line in `ALL`.

mod binaries;
mod counter;
mod fentry;
mod iter;
mod kprobe;
mod rawtracepoint;
mod self_signal;
mod special;
mod timer;
mod tracepoint;
mod uprobe;
mod usdt;
mod watchpoint;

pub(crate) use uprobe::register_offset;

use crate::raw_prog::LoadAs;
use crate::RuntimeError;
use scry_lang::diagnostic::nearest;
use scry_lang::types::{Attach, ProbeResolver, ResolveError, ResolvedProbe};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

pub trait ProbeType: Sync {
    /// The provider names as users write them (`tracepoint`), and short aliases (`t`). Its
    /// probes' `ResolvedProbe::provider` is one of them, in full.
    fn names(&self) -> &'static [&'static str];
    /// Expands `provider:parts…` into the probes it names; `pid` is the `-p` process, whose
    /// mapped files USDT probes without a binary are looked up in.
    fn resolve(
        &self,
        provider: &str,
        parts: &[&str],
        pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError>;
    /// The probes of this type `-l` prints, with their argument declarations for `-lv`: every
    /// one, or for types that cannot enumerate everything (uprobes), those the pattern names.
    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError>;
    /// How the kernel is to load the program for `target` (`raw_prog::load` loads it; the
    /// verifier runs then).
    fn load_as(&self, target: &Attach) -> io::Result<LoadAs>;
    /// Attaches a loaded program to its target, in process `pid` only when given and the type
    /// can scope itself (others rely on the program's own pid filter). BEGIN and END are never
    /// attached: they are run. Returns the perf events and links it made, which the caller
    /// keeps open for as long as the probe is to stay attached.
    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        pid: Option<u32>,
    ) -> io::Result<OwnedEvents>;
    /// One probe for all of `probes`, what one attach point expanded to, where the kernel
    /// attaches them at once (a multi link): see `ProbeResolver::join`.
    fn join(&self, _name: String, _probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        None
    }
    /// How many probes a target stands for, as "Attached N probes" counts them: a multi
    /// link's functions.
    fn probe_count(&self, _target: &Attach) -> usize {
        1
    }
    /// The facilities `--info` reports for this type, each probed now (none for types that
    /// need nothing of their own).
    fn info(&self) -> Vec<crate::features::Feature>;
    /// Whether its probes give the bare name `name` a meaning (`func`, `retval`, `arg0`…).
    fn gives(&self, _name: &str) -> bool {
        false
    }
    /// Whether resolving its attach points reads only what any user may (BEGIN and END read
    /// nothing); the others read tracefs, kallsyms or binaries, which need privileges.
    fn resolves_unprivileged(&self) -> bool {
        false
    }
    /// Whether `-l` names carry the kernel module, as bpftrace lists them
    /// (`rawtracepoint:vmlinux:sched_switch`): a pattern without one matches any module.
    fn listed_with_module(&self) -> bool {
        false
    }
    /// What a failure to attach means, when the kernel refuses this target for a known reason
    /// (a function kprobes cannot be placed on): the reason and what to do instead.
    fn attach_refused(
        &self,
        _target: &Attach,
        _error: &io::Error,
    ) -> Option<(String, Option<String>)> {
        None
    }
    /// What a failure to load a program of this type means, when it means the kernel lacks a
    /// facility: the reason and what to use instead.
    fn load_refused(
        &self,
        _target: &Attach,
        _error: &io::Error,
    ) -> Option<(String, Option<String>)> {
        None
    }
    /// Why `target` cannot be attached on this kernel (and what to use instead), when the
    /// kernel lacks the facility. Asked before attaching.
    fn unavailable(&self, _target: &Attach) -> Option<(String, Option<String>)> {
        None
    }
}

/// What attaching a probe gave: perf events and links, each closed to detach it. Held apart
/// from the program, so a set's probes can be closed on another thread (closing a perf event
/// waits for an RCU grace period, so hundreds take seconds).
pub type OwnedEvents = Vec<OwnedFd>;

/// One probe as `-l`/`-lv` shows it.
pub struct Listing {
    pub name: String,
    pub args: Vec<String>,
}

/// Every probe type scry knows, in `-l` order.
pub static ALL: &[&dyn ProbeType] = &[
    &special::Special,
    &self_signal::SelfSignal,
    &tracepoint::Tracepoint,
    &rawtracepoint::RawTracepoint,
    &timer::Timer { every_cpu: false },
    &timer::Timer { every_cpu: true },
    &counter::Counter { hardware: false },
    &counter::Counter { hardware: true },
    &fentry::Fentry { ret: false },
    &fentry::Fentry { ret: true },
    &kprobe::Kprobe { ret: false },
    &kprobe::Kprobe { ret: true },
    &iter::IterProbe,
    &uprobe::Uprobe { ret: false },
    &uprobe::Uprobe { ret: true },
    &usdt::Usdt,
    &watchpoint::Watchpoint,
];

/// The type that resolved a probe, by its provider's name.
pub fn of(provider: &str) -> Option<&'static dyn ProbeType> {
    ALL.iter().copied().find(|t| t.names().contains(&provider))
}

/// What probes on a function give: `func`, `argN`, and on return `retval`.
pub(crate) fn function_gives(name: &str, ret: bool) -> bool {
    use scry_lang::builtins::{arg_index, Special};
    match Special::from_name(name) {
        Some(Special::Func) => true,
        Some(Special::Retval) => ret,
        _ => arg_index(name).is_some(),
    }
}

/// The target a probe type made for itself in `resolve`, back from its `Attach`.
pub(crate) fn target<T: 'static>(attach: &Attach) -> io::Result<&T> {
    attach
        .get::<T>()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Whether resolving an attach point of this provider needs privileges (an unknown provider
/// does not: its error needs nothing from the kernel).
pub fn resolving_needs_privileges(provider: &str) -> bool {
    of(provider).is_some_and(|t| !t.resolves_unprivileged())
}

/// Resolves attach points against this machine's kernel, and kernel types against its BTF
/// (read on first use).
#[derive(Default)]
pub struct KernelResolver {
    /// The `-p` process.
    pub pid: Option<u32>,
}

impl KernelResolver {
    fn btf(&self) -> Option<&'static crate::btf::Btf> {
        crate::btf::vmlinux()
    }
}

impl ProbeResolver for KernelResolver {
    fn record(
        &self,
        kind: scry_lang::types::RecordKind,
        name: &str,
    ) -> Option<scry_lang::types::Type> {
        self.btf()?.record(kind, name)
    }
    fn members(
        &self,
        kind: scry_lang::types::RecordKind,
        name: &str,
    ) -> Option<Vec<scry_lang::types::Member>> {
        self.btf()?.members(kind, name)
    }
    fn enum_value(&self, name: &str) -> Option<i64> {
        self.btf()?.enum_value(name)
    }
    fn enumeration(&self, name: &str) -> Option<scry_lang::types::EnumType> {
        self.btf()?.enumeration(name)
    }
    fn enum_of(&self, enumerator: &str) -> Option<scry_lang::types::EnumType> {
        self.btf()?.enum_of(enumerator)
    }
    fn kernel_symbol(&self, name: &str) -> Option<u64> {
        crate::symbols::kernel_address(name)
    }

    fn user_symbol(&self, path: &str, name: &str) -> Option<u64> {
        uprobe::symbol_address(path, name)
    }

    /// A cgroup v2 directory's id is its kernfs node id, which is its inode number.
    fn cgroup_id(&self, path: &str) -> Result<u64, String> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| format!("{path}: {e}"))?;
        if !meta.is_dir() {
            return Err(format!("{path} is not a cgroup directory"));
        }
        Ok(meta.ino())
    }

    fn providers_of(&self, name: &str) -> Vec<&'static str> {
        ALL.iter()
            .filter(|t| t.gives(name))
            .map(|t| t.names()[0])
            .collect()
    }

    fn join(&self, name: String, probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        of(probes.first()?.provider)?.join(name, probes)
    }

    fn resolve(&self, provider: &str, parts: &[&str]) -> Result<Vec<ResolvedProbe>, ResolveError> {
        if let Some(t) = of(provider) {
            return t.resolve(provider, parts, self.pid);
        }
        let known = ALL.iter().flat_map(|t| t.names().iter().copied());
        Err(ResolveError {
            message: format!("unknown probe type `{provider}`"),
            hint: Some(match nearest(provider, known) {
                Some(n) => format!("did you mean `{n}`?"),
                None => {
                    // Every provider by its full name (the short aliases are two letters at most).
                    let names: Vec<&str> = ALL
                        .iter()
                        .flat_map(|t| t.names().iter().copied())
                        .filter(|n| n.len() > 2)
                        .collect();
                    format!("probe types: {}", names.join(", "))
                }
            }),
        })
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Lists every probe matching `pattern` (a glob over the full name; a short provider alias such
/// as `t:` is expanded first).
pub fn list(pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
    let pattern = pattern.map(expand_alias);
    // A pattern that names its probe type lists that type alone.
    let provider = pattern
        .as_deref()
        .and_then(|p| p.split_once(':'))
        .map(|(p, _)| p)
        .filter(|p| !p.contains('*'));
    let mut out = Vec::new();
    for t in ALL {
        if provider.is_some_and(|p| !t.names().contains(&p)) {
            continue;
        }
        for l in t.list(pattern.as_deref())? {
            if pattern.as_deref().is_none_or(|p| glob_match(p, &l.name)) {
                out.push(l);
            }
        }
    }
    Ok(out)
}

/// `-l -p PID`: the uprobes and USDT probes of every file process `pid` has mapped, those
/// matching `pattern` (a glob over the full name) when one is given.
pub fn list_process(pid: u32, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
    let pattern = pattern.map(expand_alias);
    let mut out = Vec::new();
    for path in usdt::mapped_files(pid) {
        out.extend(uprobe::Uprobe { ret: false }.list(Some(&format!("uprobe:{path}:*")))?);
        out.extend(usdt::Usdt.list(Some(&format!("usdt:{path}:*")))?);
    }
    out.retain(|l| pattern.as_deref().is_none_or(|p| glob_match(p, &l.name)));
    Ok(out)
}

/// The pattern with its provider's full name (`t:` is `tracepoint:`), and `*:` for the module
/// where the type lists one and the pattern has none.
fn expand_alias(pattern: &str) -> String {
    if let Some((provider, rest)) = pattern.split_once(':') {
        if let Some(t) = of(provider) {
            let module = if t.listed_with_module() && !rest.contains(':') {
                "*:"
            } else {
                ""
            };
            return format!("{}:{module}{rest}", t.names()[0]);
        }
    }
    pattern.to_string()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("sys_enter_exec*", "sys_enter_execve"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match(
            "*sleep*",
            "tracepoint:syscalls:sys_enter_nanosleep"
        ));
        assert!(!glob_match("sched", "sched_switch"));
    }
}
