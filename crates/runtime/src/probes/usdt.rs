//! `usdt:BIN:[PROVIDER:]PROBE` (`U`): a statically defined probe that a program compiled in
//! with `<sys/sdt.h>`, found in the file's `.note.stapsdt`. `BIN` is a path, a library name, or
//! `*` for every file a running process has mapped (with `-p`, that process's files, and then
//! `usdt:PROBE` may leave it out); `PROVIDER` and `PROBE` take `*` wildcards. Each location of the probe in the file is a
//! uprobe; its arguments `arg0…` are read where its note says (registers, memory, constants).
//! A probe with a semaphore is attached with the kernel's uprobe reference counter, which
//! raises the semaphore in every process running the file, so guarded probes fire.

use super::{binaries, glob_match, uprobe, Listing, OwnedEvents, ProbeType};
use crate::features::Feature;
use crate::raw_prog::LoadAs;
use crate::stapsdt::{self, Location};
use crate::{ldcache, perf, symbols, RuntimeError};
use scry_lang::types::{
    Attach, ContextField, FieldLocation, IntType, ProgramKind, ResolveError, ResolvedProbe, Runs,
    Type,
};
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

pub struct Usdt;

const USAGE: &str = "usdt:/path/to/binary:provider:probe";

/// A binary named by path or library name, with its probe locations.
fn locations(bin: &str) -> Result<(String, Vec<Location>), ResolveError> {
    let path = ldcache::resolve(bin)
        .filter(|p| std::path::Path::new(p).is_file())
        .ok_or_else(|| ResolveError {
            message: format!("usdt: no executable or library `{bin}`"),
            hint: Some(format!(
                "give a path or a library name: `{USAGE}`, `usdt:libc:*`"
            )),
        })?;
    let file = std::fs::File::open(&path).map_err(|e| ResolveError {
        message: format!("usdt: cannot read {path}: {e}"),
        hint: None,
    })?;
    let locations = stapsdt::locations(file).ok_or_else(|| ResolveError {
        message: format!("usdt: {path} is not an ELF file scry can read"),
        hint: None,
    })?;
    Ok((path, locations))
}

/// The files a probe's binary part names, each with its probe locations: one binary, or for
/// `*` every file the `-p` process (without `-p`, any process) has mapped that has probes.
fn files(bin: &str, pid: Option<u32>) -> Result<Vec<(String, Vec<Location>)>, ResolveError> {
    if !binaries::is_glob(bin) {
        return Ok(vec![locations(bin)?]);
    }
    let paths = match pid {
        _ if bin != "*" => binaries::matching(bin, pid),
        Some(pid) => mapped_files(pid),
        None => {
            let pids = std::fs::read_dir("/proc")
                .map(|d| {
                    d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                        .collect::<Vec<u32>>()
                })
                .unwrap_or_default();
            let all: std::collections::BTreeSet<String> =
                pids.into_iter().flat_map(mapped_files).collect();
            all.into_iter().collect()
        }
    };
    Ok(paths
        .into_iter()
        .filter_map(|path| {
            let found = stapsdt::locations(std::fs::File::open(&path).ok()?)?;
            (!found.is_empty()).then_some((path, found))
        })
        .collect())
}

/// The files process `pid` has mapped, by paths this process can open (through the process's
/// root when it sees another filesystem).
pub(super) fn mapped_files(pid: u32) -> Vec<String> {
    let mut paths: Vec<String> = symbols::mapped_paths(pid)
        .into_iter()
        .map(|p| {
            if std::path::Path::new(&p).is_file() {
                p
            } else {
                format!("/proc/{pid}/root{p}")
            }
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// `arg0…`: the location's arguments, all `int64` as bpftrace types them, each widened from
/// its own size and signedness.
fn values(args: &[scry_lang::types::UsdtArg]) -> Vec<ContextField> {
    args.iter()
        .enumerate()
        .map(|(i, arg)| ContextField {
            name: format!("arg{i}"),
            ty: Type::Int(IntType::I64),
            location: FieldLocation::Usdt(*arg),
            c_decl: format!("int64 arg{i}"),
        })
        .collect()
}

impl ProbeType for Usdt {
    fn names(&self) -> &'static [&'static str] {
        &["usdt", "U"]
    }

    fn resolve(
        &self,
        _provider: &str,
        parts: &[&str],
        pid: Option<u32>,
    ) -> Result<Vec<ResolvedProbe>, ResolveError> {
        let (bin, provider, probe) = match parts {
            // With -p the binary may be left out, as in bpftrace: the process's files.
            [probe] if pid.is_some() => ("*", "*", *probe),
            [bin, probe] => (*bin, "*", *probe),
            [bin, provider, probe] => (*bin, *provider, *probe),
            _ => {
                return Err(ResolveError {
                    message: "a USDT probe is written usdt:BINARY:[PROVIDER:]PROBE".into(),
                    hint: Some(format!(
                        "{USAGE}; `usdt:*:PROBE` looks in every running process (with -p, in that process)"
                    )),
                })
            }
        };
        let bin = if bin.is_empty() { "*" } else { bin };
        let files = files(bin, pid)?;
        let mut out = Vec::new();
        for (path, all) in &files {
            for loc in all
                .iter()
                .filter(|l| glob_match(provider, &l.provider) && glob_match(probe, &l.name))
            {
                let name = format!("usdt:{path}:{}:{}", loc.provider, loc.name);
                let args = loc.args.as_ref().map_err(|arg| ResolveError {
                    message: format!(
                        "{name}: scry cannot read argument {arg} (the note says `{}`)",
                        loc.spec
                    ),
                    hint: None,
                })?;
                let mut probe = ResolvedProbe::new(
                    name,
                    "usdt",
                    ProgramKind::new("uprobe", None, Runs::OnEvents),
                    Attach::new(UsdtTarget {
                        path: path.clone(),
                        offset: loc.offset,
                        semaphore: loc.semaphore,
                    }),
                );
                probe.values = values(args);
                probe.binary = Some(path.clone());
                uprobe::regs_context(&mut probe);
                out.push(probe);
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        let wanted = if provider == "*" {
            probe.to_string()
        } else {
            format!("{provider}:{probe}")
        };
        Err(match files.as_slice() {
            [(path, all)] if bin != "*" => {
                let near =
                    scry_lang::diagnostic::nearest(probe, all.iter().map(|l| l.name.as_str()));
                ResolveError {
                    message: if all.is_empty() {
                        format!("usdt: {path} has no USDT probes (no .note.stapsdt section)")
                    } else {
                        format!("usdt: no probe `{wanted}` in {path}")
                    },
                    hint: Some(match near {
                        _ if all.is_empty() => {
                            "USDT probes are compiled in with <sys/sdt.h> (DTRACE_PROBE, STAP_PROBE)"
                                .to_string()
                        }
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("list its probes with `scry -l 'usdt:{bin}:*'`"),
                    }),
                }
            }
            _ => ResolveError {
                message: match pid {
                    Some(pid) => {
                        format!("usdt: no probe `{wanted}` in the files process {pid} has mapped")
                    }
                    None => {
                        format!("usdt: no probe `{wanted}` in the files of any running process")
                    }
                },
                hint: Some("name the binary: usdt:/path/to/binary:provider:probe".into()),
            },
        })
    }

    fn list(&self, pattern: Option<&str>) -> Result<Vec<Listing>, RuntimeError> {
        // Only a pattern that names a binary, or `*` for every running process, can be
        // listed: `usdt:/usr/bin/python3:*`, `usdt:*`.
        let Some(bin) = pattern
            .and_then(|p| p.strip_prefix("usdt:"))
            .and_then(|rest| rest.split(':').next())
        else {
            return Ok(vec![]);
        };
        let Ok(files) = files(bin, None) else {
            return Ok(vec![]);
        };
        let mut out: Vec<Listing> = Vec::new();
        for (path, loc) in files
            .iter()
            .flat_map(|(p, all)| all.iter().map(move |l| (p, l)))
        {
            // The pattern is matched against this name: the binary as the user wrote it.
            let shown = if bin == "*" { path } else { bin };
            let name = format!("usdt:{shown}:{}:{}", loc.provider, loc.name);
            if out.iter().any(|l| l.name == name) {
                continue;
            }
            let args = values(loc.args.as_deref().unwrap_or_default());
            out.push(Listing {
                name,
                args: args.into_iter().map(|a| a.c_decl).collect(),
            });
        }
        Ok(out)
    }

    fn load_as(&self, _target: &Attach) -> io::Result<LoadAs> {
        Ok(uprobe::load_as(false))
    }

    fn attach(
        &self,
        program: BorrowedFd<'_>,
        target: &Attach,
        pid: Option<u32>,
    ) -> io::Result<OwnedEvents> {
        let UsdtTarget {
            path,
            offset,
            semaphore,
        } = super::target(target)?;
        let event = open_uprobe(path, *offset, *semaphore, pid)?;
        perf::attach_program(event, program)
    }

    fn gives(&self, name: &str) -> bool {
        scry_lang::builtins::arg_index(name).is_some()
    }

    /// USDT probes are uprobes: `uprobe` says whether they work.
    fn info(&self) -> Vec<Feature> {
        Vec::new()
    }
}

/// One location of a USDT probe: its offset in the file, and its semaphore's file offset when
/// it has one (the kernel counts attached probes there, which turns the probe on).
#[derive(Debug, PartialEq)]
struct UsdtTarget {
    path: String,
    offset: u64,
    semaphore: Option<u64>,
}

/// Where the uprobe PMU puts the reference counter's offset in `config`
/// (`/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset` says `config:32-63`).
const REF_CTR_OFFSET_SHIFT: u32 = 32;

/// Opens a uprobe perf event at `offset` in `path`, counting attached probes at the semaphore
/// `semaphore` (a file offset) when there is one, in process `pid` or in every process.
fn open_uprobe(
    path: &str,
    offset: u64,
    semaphore: Option<u64>,
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    if semaphore.is_some()
        && !std::path::Path::new("/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset")
            .exists()
    {
        return Err(io::Error::other(
            "this kernel's uprobes have no reference counter, which USDT semaphores need",
        ));
    }
    let config = semaphore.unwrap_or(0) << REF_CTR_OFFSET_SHIFT;
    perf::probe("uprobe", false, config, path, offset, pid)
}
