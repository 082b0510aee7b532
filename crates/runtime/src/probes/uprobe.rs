//! `uprobe:BIN:FUNC` (`u`) and `uretprobe:BIN:FUNC` (`ur`): an instruction of an executable or
//! library. `BIN` is a path or a library name (`libc`, found as the loader finds it); `FUNC`
//! is a function (with `*` wildcards over the file's symbols), `FUNC+OFFSET`, or a `0xADDRESS`.
//! The context is the user registers (`struct pt_regs`): `arg0`…`arg5` and, on return,
//! `retval`; `func` is the function's name.

use super::{binaries, glob_match, Listing, OwnedEvents, ProbeType};
use crate::features::{self, Feature};
use crate::ldcache;
use crate::raw_prog::{self, LoadAs};
use crate::symbols::{elf_functions, ElfFunction};
use crate::{perf, RuntimeError};
use scry_lang::types::{
    Attach, ContextField, FieldLocation, Func, IntType, ProgramKind, ResolveError, ResolvedProbe,
    Runs, Type,
};
use std::io;
use std::os::fd::BorrowedFd;

pub struct Uprobe {
    pub ret: bool,
}

/// Where the x86-64 calling convention's argument registers and the return value are in
/// `struct pt_regs`.
const ARG_OFFSETS: [u32; 6] = [112, 104, 96, 88, 72, 64];
const RETVAL_OFFSET: u32 = 80;

fn register(name: &str, offset: u32) -> ContextField {
    ContextField {
        name: name.to_string(),
        ty: Type::Int(IntType::U64),
        location: FieldLocation::Word { offset },
        c_decl: format!("uint64 {name}"),
    }
}

/// Every register of x86-64's `struct pt_regs`, by the names `reg()` takes, at its offset.
const REGISTERS: [(&str, u32); 21] = [
    ("r15", 0),
    ("r14", 8),
    ("r13", 16),
    ("r12", 24),
    ("bp", 32),
    ("bx", 40),
    ("r11", 48),
    ("r10", 56),
    ("r9", 64),
    ("r8", 72),
    ("ax", 80),
    ("cx", 88),
    ("dx", 96),
    ("si", 104),
    ("di", 112),
    ("orig_ax", 120),
    ("ip", 128),
    ("cs", 136),
    ("flags", 144),
    ("sp", 152),
    ("ss", 160),
];

/// The offset in `struct pt_regs` of a register, by the name `reg()` takes.
pub(crate) fn register_offset(name: &str) -> Option<u32> {
    REGISTERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, off)| *off)
}

/// A probe whose context is the registers (`struct pt_regs`): kprobes, uprobes, USDT probes;
/// `reg()`, `usermode` and `ctx` read them.
pub(super) fn regs_context(probe: &mut ResolvedProbe) {
    probe.registers = REGISTERS
        .iter()
        .map(|(name, off)| register(name, *off))
        .collect();
    probe.context = Some("pt_regs".to_string());
}

/// The values a uprobe or kprobe offers: its arguments, and for a return probe the return value.
pub(super) fn values(ret: bool) -> Vec<ContextField> {
    let mut v: Vec<ContextField> = ARG_OFFSETS
        .iter()
        .enumerate()
        .map(|(i, off)| register(&format!("arg{i}"), *off))
        .collect();
    if ret {
        v.push(register("retval", RETVAL_OFFSET));
    }
    v
}

impl Uprobe {
    fn provider(&self) -> &'static str {
        if self.ret {
            "uretprobe"
        } else {
            "uprobe"
        }
    }

    /// The probes `spec` names in one file: a function, a glob of them, `FUNC+OFFSET`, or an
    /// address.
    fn resolve_in(&self, path: &str, spec: &str) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let provider = self.provider();
        let funcs = functions(provider, path)?;
        // `0xADDRESS`: a virtual address in the file.
        if let Some(hex) = spec.strip_prefix("0x") {
            let address = u64::from_str_radix(hex, 16).map_err(|_| ResolveError {
                message: format!("{provider}: `{spec}` is not an address"),
                hint: None,
            })?;
            let offset = file_offset(path, address).ok_or_else(|| ResolveError {
                message: format!("{provider}: {spec} is not in a loaded segment of {path}"),
                hint: None,
            })?;
            return Ok(vec![self.probe(path, spec, offset)]);
        }
        // `FUNC+OFFSET`.
        if let Some((name, off)) = spec.split_once('+') {
            let off: u64 = parse_int(off).ok_or_else(|| ResolveError {
                message: format!("{provider}: `{off}` is not an offset"),
                hint: None,
            })?;
            if self.ret {
                return Err(ResolveError {
                    message: "a uretprobe fires when a function returns: it takes no offset".into(),
                    hint: Some(format!("uretprobe:{path}:{name}")),
                });
            }
            let f = funcs
                .iter()
                .find(|f| f.name == name)
                .ok_or_else(|| not_found(provider, path, name, &funcs))?;
            return Ok(vec![self.probe(path, spec, f.file_offset + off)]);
        }
        let mut out: Vec<ResolvedProbe> = Vec::new();
        for f in funcs.iter().filter(|f| glob_match(spec, &f.name)) {
            // Aliases share an offset: one probe each place.
            let at = |p: &ResolvedProbe| p.attach.get::<UprobeTarget>().map(|t| t.offset);
            if out.iter().any(|p| at(p) == Some(f.file_offset)) {
                continue;
            }
            out.push(self.probe(path, &f.name, f.file_offset));
        }
        if out.is_empty() {
            return Err(not_found(provider, path, spec, &funcs));
        }
        Ok(out)
    }

    fn probe(&self, path: &str, func: &str, offset: u64) -> ResolvedProbe {
        let mut probe = ResolvedProbe::new(
            format!("{}:{path}:{func}", self.provider()),
            self.provider(),
            ProgramKind::new(self.provider(), None, Runs::OnEvents),
            Attach::new(UprobeTarget {
                path: path.to_string(),
                offset,
            }),
        );
        probe.values = values(self.ret);
        probe.func = Some(Func::User(func.to_string()));
        probe.binary = Some(path.to_string());
        regs_context(&mut probe);
        probe
    }
}

/// The binary a uprobe names, or a precise error.
fn binary(provider: &str, name: &str) -> Result<String, ResolveError> {
    let path = ldcache::resolve(name).ok_or_else(|| ResolveError {
        message: format!("{provider}: no executable or library `{name}`"),
        hint: Some(
            "give a path (`uprobe:/bin/bash:readline`) or a library name (`uprobe:libc:malloc`)"
                .into(),
        ),
    })?;
    if !std::path::Path::new(&path).is_file() {
        return Err(ResolveError {
            message: format!("{provider}: {path} does not exist"),
            hint: None,
        });
    }
    Ok(path)
}

fn functions(provider: &str, path: &str) -> Result<Vec<ElfFunction>, ResolveError> {
    elf_functions(path).ok_or_else(|| ResolveError {
        message: format!("{provider}: {path} is not an ELF file scry can read"),
        hint: None,
    })
}

impl ProbeType for Uprobe {
    fn names(&self) -> &'static [&'static str] {
        if self.ret {
            &["uretprobe", "ur"]
        } else {
            &["uprobe", "u"]
        }
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let provider = self.provider();
        let [bin, spec] = parts else {
            return Err(ResolveError {
                message: format!("{provider} needs a binary and a function: {provider}:BIN:FUNC"),
                hint: Some(format!("{provider}:/bin/bash:readline")),
            });
        };
        if !binaries::is_glob(bin) {
            return self.resolve_in(&binary(provider, bin)?, spec);
        }
        let paths = binaries::matching(bin, pid);
        if paths.is_empty() {
            return Err(ResolveError {
                message: format!("{provider}: no executable or library matches `{bin}`"),
                hint: Some(if pid.is_some() {
                    "with -p, the glob is matched against the files the process has mapped".into()
                } else {
                    "the glob matches ELF files in its directory; `*` alone needs -p PID".into()
                }),
            });
        }
        let mut out = Vec::new();
        for path in &paths {
            // A file without the function is skipped: the glob names several.
            if let Ok(found) = self.resolve_in(path, spec) {
                out.extend(found);
            }
        }
        if out.is_empty() {
            return Err(ResolveError {
                message: format!(
                    "{provider}: none of the {} files `{bin}` matches has `{spec}`",
                    paths.len()
                ),
                hint: None,
            });
        }
        Ok(out)
    }

    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        // Only a pattern that names a binary can be listed: `uprobe:/bin/bash:*`.
        let Some(rest) = pattern.and_then(|p| p.strip_prefix(&format!("{}:", self.provider())))
        else {
            return Ok(vec![]);
        };
        let Some((bin, _)) = rest.rsplit_once(':') else {
            return Ok(vec![]);
        };
        let Some(path) = ldcache::resolve(bin) else {
            return Ok(vec![]);
        };
        let mut names: Vec<String> = elf_functions(&path)
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.name)
            .collect();
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|n| Listing {
                // The pattern is matched against this name: the binary as the user wrote it.
                name: format!("{}:{bin}:{n}", self.provider()),
                args: values(self.ret).into_iter().map(|v| v.c_decl).collect(),
            })
            .collect())
    }

    /// A wildcard's functions, attached by one `uprobe_multi` link where the kernel makes
    /// them (bpftrace does the same); `func` is then told by the cookie each is attached with.
    fn join(&self, name: String, probes: &[ResolvedProbe]) -> Option<ResolvedProbe> {
        let mut offsets = Vec::new();
        let mut funcs = Vec::new();
        for p in probes {
            let t: &UprobeTarget = p.attach.get()?;
            if p.binary != probes[0].binary {
                return None;
            }
            offsets.push(t.offset);
            funcs.push(p.func.as_ref()?.name().to_string());
        }
        let path = probes[0].binary.clone()?;
        if !multi_links() {
            return None;
        }
        let mut probe = ResolvedProbe::new(
            name,
            self.provider(),
            ProgramKind::new(self.provider(), None, Runs::OnEvents),
            Attach::new(UprobeMulti {
                path: path.clone(),
                offsets,
                funcs,
            }),
        );
        probe.values = values(self.ret);
        probe.func = Some(Func::Attached { kernel: false });
        probe.binary = Some(path);
        regs_context(&mut probe);
        Some(probe)
    }

    fn probe_count(&self, target: &Attach) -> usize {
        target.get::<UprobeMulti>().map_or(1, |m| m.offsets.len())
    }

    fn load_as(&self, target: &Attach) -> io::Result<LoadAs> {
        Ok(load_as(target.get::<UprobeMulti>().is_some()))
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        if let Some(UprobeMulti {
            path,
            offsets,
            funcs,
        }) = target.get()
        {
            let cookies = crate::symbols::function_cookies(funcs);
            let link = raw_prog::uprobe_multi(program, path, offsets, &cookies, self.ret, pid)?;
            return Ok(vec![link]);
        }
        let UprobeTarget { path, offset } = super::target(target)?;
        let event = perf::probe("uprobe", self.ret, 0, path, *offset, pid)?;
        perf::attach_program(event, program)
    }

    fn gives(&self, name: &str) -> bool {
        super::function_gives(name, self.ret)
    }

    /// uprobe and uprobe_multi (reported once, by the entry type).
    fn info(&self) -> Vec<Feature> {
        if self.ret {
            return Vec::new();
        }
        vec![
            Feature::new("uprobe", features::pmu("uprobe")),
            Feature::new("uprobe_multi", features::uprobe_multi()),
        ]
    }
}

/// Functions of one file attached to at once, by a `uprobe_multi` link: a wildcard's matches.
#[derive(Debug, PartialEq)]
struct UprobeMulti {
    path: String,
    offsets: Vec<u64>,
    /// Each offset's function, for `func`.
    funcs: Vec<String>,
}

/// Whether the kernel makes `uprobe_multi` links (asked once).
fn multi_links() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(features::uprobe_multi)
}

/// An instruction of a file, by its offset in the file.
#[derive(Debug, PartialEq)]
struct UprobeTarget {
    path: String,
    offset: u64,
}

/// How uprobe programs load (USDT probes are uprobes too): as kprobe programs, expecting a
/// `uprobe_multi` link when `multi`.
pub(super) fn load_as(multi: bool) -> LoadAs {
    let how = LoadAs::new(raw_prog::BPF_PROG_TYPE_KPROBE);
    if multi {
        how.attached_as(raw_prog::BPF_TRACE_UPROBE_MULTI)
    } else {
        how
    }
}

/// `16`, `0x10`.
fn parse_int(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The file offset of a virtual address, through the file's loadable segments.
fn file_offset(path: &str, address: u64) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    crate::symbols::file_offset(&object::File::parse(&*data).ok()?, address)
}

/// The address of a symbol in a binary, for `uaddr()`.
pub fn symbol_address(path: &str, name: &str) -> Option<u64> {
    let data = std::fs::read(path).ok()?;
    crate::symbols::symbol_address(&object::File::parse(&*data).ok()?, name)
}

fn not_found(provider: &str, path: &str, name: &str, funcs: &[ElfFunction]) -> ResolveError {
    let near = scry_lang::diagnostic::nearest(name, funcs.iter().map(|f| f.name.as_str()));
    ResolveError {
        message: format!("{provider}: no function `{name}` in {path}"),
        hint: Some(match near {
            Some(n) => format!("did you mean `{n}`?"),
            None => format!("list its functions with `scry -l '{provider}:{path}:*'`"),
        }),
    }
}
