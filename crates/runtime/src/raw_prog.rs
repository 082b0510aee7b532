//! Programs loaded and attached by scry's own `bpf(2)` calls: every program scry loads goes
//! through `load` (its map loads pointed at the maps' descriptors, its callbacks linked, with
//! the BTF function info the kernel wants for them), and the links and runs the probe types
//! need (`link_create`, `kprobe_multi`, `uprobe_multi`, `raw_tracepoint_open`, `test_run`).
//! Nothing here reads the kernel's BTF: a probe type that attaches by BTF id finds the id
//! itself.

use scry_codegen::insn::encode;
use scry_codegen::module::{MapId, MapKind, MapSpec, Program};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
const BPF_BTF_LOAD: libc::c_long = 18;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
pub const BPF_PROG_TYPE_TRACEPOINT: u32 = 5;
pub const BPF_PROG_TYPE_PERF_EVENT: u32 = 7;
pub const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
pub const BPF_PROG_TYPE_TRACING: u32 = 26;
pub const BPF_TRACE_RAW_TP: u32 = 23;
pub const BPF_TRACE_FENTRY: u32 = 24;
pub const BPF_TRACE_FEXIT: u32 = 25;
pub const BPF_TRACE_ITER: u32 = 28;
pub const BPF_TRACE_KPROBE_MULTI: u32 = 42;
pub const BPF_TRACE_UPROBE_MULTI: u32 = 48;
/// `kprobe_multi.flags` and `uprobe_multi.flags`: on return rather than on entry.
const MULTI_RETURN: u32 = 1;
/// The `src` of an `ld_imm64` whose immediate is a map's descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// The `src` of an `ld_imm64` of the address of a map's value: the map's descriptor, then the
/// offset in the value (in the second slot's immediate).
const PSEUDO_MAP_VALUE: u8 = 2;
/// The `src` of an `ld_imm64` whose immediate is a subprogram's offset (a callback).
const PSEUDO_FUNC: u8 = 4;

/// How the kernel is to load a probe type's programs: `BPF_PROG_TYPE_*`, the expected
/// `BPF_*` attach type, and for programs attached by BTF id (fentry, iterators, BTF
/// tracepoints) that id in the kernel's BTF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadAs {
    pub prog_type: u32,
    pub attach_type: u32,
    pub attach_btf_id: u32,
}

impl LoadAs {
    pub const fn new(prog_type: u32) -> LoadAs {
        LoadAs {
            prog_type,
            attach_type: 0,
            attach_btf_id: 0,
        }
    }

    pub const fn attached_as(self, attach_type: u32) -> LoadAs {
        LoadAs {
            attach_type,
            ..self
        }
    }

    pub const fn by_btf_id(self, attach_btf_id: u32) -> LoadAs {
        LoadAs {
            attach_btf_id,
            ..self
        }
    }
}

/// `bpf(2)` with an attribute buffer; what it returns.
fn sys_bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a bpf_attr prefix of the length passed; the pointers it holds point to
    // buffers the caller keeps alive for the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len() as u32) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
}

/// `bpf(2)` with an attribute buffer, for a command that returns a descriptor.
pub(crate) fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<OwnedFd> {
    let fd = sys_bpf(cmd, attr)?;
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A program's or map's name as the kernel takes it: letters, digits, `_` and `.`, 15 at most.
pub(crate) fn object_name(name: &str) -> Vec<u8> {
    name.bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
        .take(15)
        .collect()
}

fn put_u32(attr: &mut [u8], at: usize, v: u32) {
    attr[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(attr: &mut [u8], at: usize, v: u64) {
    attr[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

/// Why the kernel refused a program: the error, and the verifier's log when it had one.
#[derive(Debug)]
pub struct Refused {
    pub errno: io::Error,
    pub log: String,
}

/// A program's BTF as the kernel took it, and its func_info records.
struct FuncInfo<'a> {
    btf: BorrowedFd<'a>,
    records: &'a [scry_codegen::elf::FuncInfo],
    /// Kernel field offsets for the kernel to write in (CO-RE relocations against its BTF).
    relocations: &'a [scry_codegen::elf::CoreRelo],
}

/// Loads encoded instructions as a program loaded `how`. When the kernel refuses them, they
/// are loaded again with the verifier's log asked for.
pub(crate) fn load_code(
    how: LoadAs,
    name: &str,
    code: &[u8],
    license: &str,
) -> Result<OwnedFd, Refused> {
    load_with(how, name, code, license, None)
}

fn load_with(
    how: LoadAs,
    name: &str,
    code: &[u8],
    license: &str,
    funcs: Option<FuncInfo<'_>>,
) -> Result<OwnedFd, Refused> {
    let license = std::ffi::CString::new(license).unwrap_or_else(|_| c"GPL".into());
    let attempt = |log: Option<&mut Vec<u8>>| {
        // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
        // log_size, log_buf, kern_version, prog_flags, prog_name[16], prog_ifindex,
        // expected_attach_type, prog_btf_fd, func_info_rec_size, func_info, func_info_cnt,
        // line_info_rec_size, line_info, line_info_cnt, attach_btf_id, attach_prog_fd,
        // core_relo_cnt, fd_array, core_relos, core_relo_rec_size. A kernel older than the
        // fields it is given refuses them (E2BIG), so they are there only when used.
        let relocations = funcs.as_ref().map_or(&[][..], |f| f.relocations);
        let mut full = [0u8; 144];
        let attr = if relocations.is_empty() {
            &mut full[..112]
        } else {
            &mut full[..]
        };
        put_u32(attr, 0, how.prog_type);
        put_u32(attr, 4, (code.len() / 8) as u32);
        put_u64(attr, 8, code.as_ptr() as u64);
        put_u64(attr, 16, license.as_ptr() as u64);
        if let Some(buf) = log {
            put_u32(attr, 24, 1);
            put_u32(attr, 28, buf.len() as u32);
            put_u64(attr, 32, buf.as_mut_ptr() as u64);
        }
        let kernel_name = object_name(name);
        attr[48..48 + kernel_name.len()].copy_from_slice(&kernel_name);
        put_u32(attr, 68, how.attach_type);
        if let Some(f) = &funcs {
            put_u32(attr, 72, f.btf.as_raw_fd() as u32);
            put_u32(attr, 76, 8);
            put_u64(attr, 80, f.records.as_ptr() as u64);
            put_u32(attr, 88, f.records.len() as u32);
        }
        put_u32(attr, 108, how.attach_btf_id);
        if !relocations.is_empty() {
            put_u32(attr, 116, relocations.len() as u32);
            put_u64(attr, 128, relocations.as_ptr() as u64);
            put_u32(
                attr,
                136,
                std::mem::size_of::<scry_codegen::elf::CoreRelo>() as u32,
            );
        }
        bpf(BPF_PROG_LOAD, attr)
    };
    with_log(16 << 20, attempt)
}

/// `attempt` without a log; when the kernel refuses, again with a log buffer of `size` bytes,
/// whose text comes with the refusal.
fn with_log(
    size: usize,
    attempt: impl Fn(Option<&mut Vec<u8>>) -> io::Result<OwnedFd>,
) -> Result<OwnedFd, Refused> {
    attempt(None).or_else(|_| {
        let mut buf = vec![0u8; size];
        attempt(Some(&mut buf)).map_err(|errno| {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            Refused {
                errno,
                log: String::from_utf8_lossy(&buf[..end]).into_owned(),
            }
        })
    })
}

/// Gives the kernel a BTF blob; its descriptor.
fn load_btf(blob: &[u8]) -> Result<OwnedFd, Refused> {
    let attempt = |log: Option<&mut Vec<u8>>| {
        // BPF_BTF_LOAD: btf, btf_log_buf, btf_size, btf_log_size, btf_log_level.
        let mut attr = [0u8; 28];
        put_u64(&mut attr, 0, blob.as_ptr() as u64);
        put_u32(&mut attr, 16, blob.len() as u32);
        if let Some(buf) = log {
            put_u64(&mut attr, 8, buf.as_mut_ptr() as u64);
            put_u32(&mut attr, 20, buf.len() as u32);
            put_u32(&mut attr, 24, 1);
        }
        bpf(BPF_BTF_LOAD, &mut attr)
    };
    with_log(1 << 16, attempt).map_err(|r| Refused {
        log: format!("the kernel refused the program's BTF: {}", r.log),
        ..r
    })
}

/// Loads a compiled program loaded `how`: its map loads pointed at the descriptors `map_fd`
/// gives (a globals map's at its value), its callbacks' loads at their subprograms.
pub fn load(
    prog: &Program,
    how: LoadAs,
    license: &str,
    maps: &[MapSpec],
    map_fd: impl Fn(MapId) -> Option<RawFd>,
) -> Result<OwnedFd, Refused> {
    let refused = |what: String| Refused {
        errno: io::Error::from_raw_os_error(libc::EINVAL),
        log: what,
    };
    let mut code = encode(&prog.insns);
    for (slot, map) in &prog.map_loads {
        let fd = map_fd(*map).ok_or_else(|| refused(format!("map {} is missing", map.0)))?;
        let at = slot * 8;
        let src = match maps.get(map.0).map(|m| m.kind) {
            Some(MapKind::Globals) => PSEUDO_MAP_VALUE,
            _ => PSEUDO_MAP_FD,
        };
        code[at + 1] = (code[at + 1] & 0x0f) | (src << 4);
        code[at + 4..at + 8].copy_from_slice(&fd.to_ne_bytes());
    }
    for &(slot, sub) in &prog.func_loads {
        let start = *prog
            .subprograms
            .get(sub)
            .ok_or_else(|| refused(format!("subprogram {sub} is missing")))?;
        let at = slot * 8;
        code[at + 1] = (code[at + 1] & 0x0f) | (PSEUDO_FUNC << 4);
        let imm = start as i32 - slot as i32 - 1;
        code[at + 4..at + 8].copy_from_slice(&imm.to_ne_bytes());
    }
    load_with_btf(
        how,
        &prog.name,
        &code,
        license,
        scry_codegen::elf::program_btf(prog),
    )
}

/// Loads tracepoint code whose `fields` slots take a kernel field's offset (to find out
/// whether the kernel relocates them).
pub(crate) fn load_with_fields(
    how: LoadAs,
    code: &[u8],
    fields: &[(usize, scry_codegen::module::KernelField)],
) -> Result<OwnedFd, Refused> {
    let btf = scry_codegen::elf::code_btf("tracepoint/probe", "probe", &[], fields);
    load_with_btf(how, "probe", code, "GPL", btf)
}

fn load_with_btf(
    how: LoadAs,
    name: &str,
    code: &[u8],
    license: &str,
    btf: Option<scry_codegen::elf::ProgramBtf>,
) -> Result<OwnedFd, Refused> {
    match btf {
        None => load_with(how, name, code, license, None),
        Some(program_btf) => {
            let btf = load_btf(&program_btf.blob)?;
            let funcs = FuncInfo {
                btf: btf.as_fd(),
                records: &program_btf.func_info,
                relocations: &program_btf.core_relos,
            };
            load_with(how, name, code, license, Some(funcs))
        }
    }
}

/// `BPF_RAW_TRACEPOINT_OPEN`: attaches a raw tracepoint program to tracepoint `name`, or, with
/// no name, a program loaded by BTF id (fentry, fexit, BTF tracepoints) to its target.
pub fn raw_tracepoint_open(prog: BorrowedFd<'_>, name: Option<&str>) -> io::Result<OwnedFd> {
    let name = name
        .map(CString::new)
        .transpose()
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // raw_tracepoint: name, prog_fd.
    let mut attr = [0u8; 16];
    put_u64(&mut attr, 0, name.as_ref().map_or(0, |n| n.as_ptr() as u64));
    put_u32(&mut attr, 8, prog.as_raw_fd() as u32);
    bpf(BPF_RAW_TRACEPOINT_OPEN, &mut attr)
}

/// Runs a raw tracepoint program once, on this CPU, without context (BEGIN, END).
pub fn test_run(prog: BorrowedFd<'_>) -> io::Result<()> {
    // test: prog_fd, retval, data_size_in, data_size_out, data_in, data_out, repeat, duration,
    // ctx_size_in, ctx_size_out, ctx_in, ctx_out, flags, cpu.
    let mut attr = [0u8; 72];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    sys_bpf(BPF_PROG_TEST_RUN, &mut attr).map(drop)
}

/// An iterator program's link, and the file whose reading runs it.
pub fn iter_create(prog: BorrowedFd<'_>) -> io::Result<(OwnedFd, std::fs::File)> {
    let link = link_create(prog, BPF_TRACE_ITER, &[])?;
    // iter_create: link_fd, flags.
    let mut attr = [0u8; 8];
    put_u32(&mut attr, 0, link.as_raw_fd() as u32);
    let file = bpf(BPF_ITER_CREATE, &mut attr)?;
    Ok((link, std::fs::File::from(file)))
}

/// `BPF_LINK_CREATE` for `prog` with `attach_type`, the type's own fields (`target`) after
/// the common ones.
pub(crate) fn link_create(
    prog: BorrowedFd<'_>,
    attach_type: u32,
    target: &[u8],
) -> io::Result<OwnedFd> {
    // prog_fd, target_fd, attach_type, flags, then the union of each type's fields.
    let mut attr = [0u8; 64];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 8, attach_type);
    attr[16..16 + target.len()].copy_from_slice(target);
    bpf(BPF_LINK_CREATE, &mut attr)
}

/// `BPF_LINK_CREATE` of `prog` to the object `target_fd` (a perf event, a cgroup) with
/// `attach_type`.
pub(crate) fn link_to(
    prog: BorrowedFd<'_>,
    target_fd: RawFd,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    let mut attr = [0u8; 64];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 4, target_fd as u32);
    put_u32(&mut attr, 8, attach_type);
    bpf(BPF_LINK_CREATE, &mut attr)
}

/// A `kprobe_multi` link of `prog` on kernel functions `symbols`, each with its cookie.
pub fn kprobe_multi(
    prog: BorrowedFd<'_>,
    symbols: &[&str],
    cookies: &[u64],
    ret: bool,
) -> io::Result<OwnedFd> {
    let names: Vec<CString> = symbols
        .iter()
        .map(|s| CString::new(*s).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL)))
        .collect::<io::Result<_>>()?;
    let pointers: Vec<u64> = names.iter().map(|n| n.as_ptr() as u64).collect();
    // kprobe_multi: flags, cnt, syms, addrs, cookies.
    let mut target = [0u8; 32];
    put_u32(&mut target, 0, if ret { MULTI_RETURN } else { 0 });
    put_u32(&mut target, 4, pointers.len() as u32);
    put_u64(&mut target, 8, pointers.as_ptr() as u64);
    put_u64(&mut target, 24, cookies.as_ptr() as u64);
    link_create(prog, BPF_TRACE_KPROBE_MULTI, &target)
}

/// A `uprobe_multi` link of `prog` on offsets of the file at `path`, each with its cookie, in
/// process `pid` only when given.
pub fn uprobe_multi(
    prog: BorrowedFd<'_>,
    path: &str,
    offsets: &[u64],
    cookies: &[u64],
    ret: bool,
    pid: Option<u32>,
) -> io::Result<OwnedFd> {
    let path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // uprobe_multi: path, offsets, ref_ctr_offsets, cookies, cnt, flags, pid.
    let mut target = [0u8; 44];
    put_u64(&mut target, 0, path.as_ptr() as u64);
    put_u64(&mut target, 8, offsets.as_ptr() as u64);
    put_u64(&mut target, 24, cookies.as_ptr() as u64);
    put_u32(&mut target, 32, offsets.len() as u32);
    put_u32(&mut target, 36, if ret { MULTI_RETURN } else { 0 });
    put_u32(&mut target, 40, pid.unwrap_or(0));
    link_create(prog, BPF_TRACE_UPROBE_MULTI, &target)
}

/// How many times a program has run (counted while run statistics are enabled).
pub fn run_count(prog: BorrowedFd<'_>) -> Option<u64> {
    run_stats(prog).map(|(_, count)| count)
}

/// The nanoseconds a program has run in all, and how many times (both counted while
/// `kernel.bpf_stats_enabled` is 1).
pub fn run_stats(prog: BorrowedFd<'_>) -> Option<(u64, u64)> {
    // struct bpf_prog_info, up to run_time_ns (at byte 192) and run_cnt (at byte 200).
    let mut info = [0u8; 208];
    // BPF_OBJ_GET_INFO_BY_FD: bpf_fd, info_len, info.
    let mut attr = [0u8; 16];
    put_u32(&mut attr, 0, prog.as_raw_fd() as u32);
    put_u32(&mut attr, 4, info.len() as u32);
    put_u64(&mut attr, 8, info.as_mut_ptr() as u64);
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr).ok()?;
    let word = |at: usize| u64::from_ne_bytes(info[at..at + 8].try_into().unwrap_or([0; 8]));
    Some((word(192), word(200)))
}
