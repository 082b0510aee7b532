//! Programs loaded and linked by scry's own `bpf(2)` calls, for what aya 0.14 cannot do:
//! `kprobe_multi` and `uprobe_multi` links, whose programs the kernel accepts only when they
//! were loaded with that attach type (aya loads kprobe and uprobe programs without one). The
//! maps are still aya's: a program's map loads are pointed at their descriptors here.

use scry_codegen::insn::encode;
use scry_codegen::module::{MapId, Program};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
pub const BPF_PROG_TYPE_KPROBE: u32 = 2;
pub const BPF_TRACE_KPROBE_MULTI: u32 = 42;
pub const BPF_TRACE_UPROBE_MULTI: u32 = 48;
/// `kprobe_multi.flags` and `uprobe_multi.flags`: on return rather than on entry.
const MULTI_RETURN: u32 = 1;
/// The `src` of an `ld_imm64` whose immediate is a map's descriptor.
const PSEUDO_MAP_FD: u8 = 1;

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

/// Loads encoded instructions as a program of `prog_type` expecting `attach_type`. When the
/// kernel refuses them, they are loaded again with the verifier's log asked for.
pub(crate) fn load_code(
    prog_type: u32,
    attach_type: u32,
    name: &str,
    code: &[u8],
    license: &str,
) -> Result<OwnedFd, Refused> {
    let license = std::ffi::CString::new(license).unwrap_or_else(|_| c"GPL".into());
    let attempt = |log: Option<&mut Vec<u8>>| {
        // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level,
        // log_size, log_buf, kern_version, prog_flags, prog_name[16], prog_ifindex,
        // expected_attach_type.
        let mut attr = [0u8; 72];
        put_u32(&mut attr, 0, prog_type);
        put_u32(&mut attr, 4, (code.len() / 8) as u32);
        put_u64(&mut attr, 8, code.as_ptr() as u64);
        put_u64(&mut attr, 16, license.as_ptr() as u64);
        if let Some(buf) = log {
            put_u32(&mut attr, 24, 1);
            put_u32(&mut attr, 28, buf.len() as u32);
            put_u64(&mut attr, 32, buf.as_mut_ptr() as u64);
        }
        // The kernel takes letters, digits, `_` and `.`, 15 at most.
        let kernel_name: Vec<u8> = name
            .bytes()
            .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.')
            .take(15)
            .collect();
        attr[48..48 + kernel_name.len()].copy_from_slice(&kernel_name);
        put_u32(&mut attr, 68, attach_type);
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    attempt(None).or_else(|_| {
        let mut buf = vec![0u8; 16 << 20];
        attempt(Some(&mut buf)).map_err(|errno| {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            Refused {
                errno,
                log: String::from_utf8_lossy(&buf[..end]).into_owned(),
            }
        })
    })
}

/// Loads a compiled program, its map loads pointed at the descriptors `map_fd` gives.
pub fn load(
    prog: &Program,
    prog_type: u32,
    attach_type: u32,
    license: &str,
    map_fd: impl Fn(MapId) -> Option<RawFd>,
) -> Result<OwnedFd, Refused> {
    let refused = |what: String| Refused {
        errno: io::Error::from_raw_os_error(libc::EINVAL),
        log: what,
    };
    if !prog.subprograms.is_empty() {
        return Err(refused(format!(
            "{}: a program attached to many functions at once cannot have subprograms",
            prog.probe
        )));
    }
    let mut code = encode(&prog.insns);
    for (slot, map) in &prog.map_loads {
        let fd = map_fd(*map).ok_or_else(|| refused(format!("map {} is missing", map.0)))?;
        let at = slot * 8;
        code[at + 1] = (code[at + 1] & 0x0f) | (PSEUDO_MAP_FD << 4);
        code[at + 4..at + 8].copy_from_slice(&fd.to_ne_bytes());
    }
    load_code(prog_type, attach_type, &prog.name, &code, license)
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
