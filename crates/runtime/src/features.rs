//! What this kernel can do, found by asking it: tiny programs loaded (and released), perf
//! events opened, PMUs and tracefs files looked up. For `--info`, in bpftrace's wording.

use crate::btf;
use crate::raw_prog::{self, LoadAs};
use scry_codegen::insn::{encode, Alu, Helper, Insn, Reg, Size};
use scry_codegen::module::KernelField;
use std::path::Path;

/// One facility and whether the kernel offers it.
pub struct Feature {
    pub name: &'static str,
    pub available: bool,
}

impl Feature {
    pub fn new(name: &'static str, available: bool) -> Feature {
        Feature { name, available }
    }
}

/// Whether a program of these instructions loads `how`; it is released after.
pub(crate) fn loads(how: LoadAs, insns: &[Insn]) -> bool {
    raw_prog::load_code(how, "probe", &encode(insns), "GPL").is_ok()
}

/// Whether a tiny program that returns 0 loads `how`.
pub(crate) fn loads_empty(how: LoadAs) -> bool {
    loads(how, &[Insn::mov64_imm(Reg::R0, 0), Insn::exit()])
}

/// Whether a tiny program attached by BTF id to kernel function `func` loads as
/// `prog_type`/`attach_type` (trampolines and iterators need BTF).
pub(crate) fn loads_on_function(prog_type: u32, attach_type: u32, func: &str) -> bool {
    btf::vmlinux()
        .and_then(|b| b.function_id(func))
        .is_some_and(|id| {
            loads_empty(
                LoadAs::new(prog_type)
                    .attached_as(attach_type)
                    .by_btf_id(id),
            )
        })
}

/// Whether a perf event of this type and config can be opened for this process.
pub(crate) fn perf_event_opens(kind: u32, config: u64) -> bool {
    crate::perf::open(&crate::perf::Attr::new(kind, config), 0, -1).is_ok()
}

/// The result of creating a multi-probe link of `attach_type` for a kprobe program that
/// returns 0, with `target` written into the link attributes' union.
fn multi_link(attach_type: u32, target: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let code = encode(&[Insn::mov64_imm(Reg::R0, 0), Insn::exit()]);
    let prog = raw_prog::load_code(
        LoadAs::new(raw_prog::BPF_PROG_TYPE_KPROBE).attached_as(attach_type),
        "probe",
        &code,
        "GPL",
    )
    .map_err(|r| r.errno)?;
    raw_prog::link_create(prog.as_fd(), attach_type, target).map(drop)
}

/// Whether kprobe programs attach to many functions at once (`kprobe.multi`, through fprobe):
/// a link on `vfs_read` is made and closed.
pub(crate) fn kprobe_multi() -> bool {
    let symbol = b"vfs_read\0";
    let syms = [symbol.as_ptr() as u64];
    // kprobe_multi: flags, cnt, syms, addrs, cookies.
    let mut target = [0u8; 32];
    target[4..8].copy_from_slice(&1u32.to_ne_bytes());
    target[8..16].copy_from_slice(&(syms.as_ptr() as u64).to_ne_bytes());
    multi_link(raw_prog::BPF_TRACE_KPROBE_MULTI, &target).is_ok()
}

/// Whether uprobe programs attach to many offsets at once (`uprobe.multi`). Asked to attach
/// to a directory, a kernel that has them answers EBADF (not a regular file), as libbpf
/// checks.
pub(crate) fn uprobe_multi() -> bool {
    let path = b"/\0";
    let offsets = [0u64];
    // uprobe_multi: path, offsets, ref_ctr_offsets, cookies, cnt, flags, pid.
    let mut target = [0u8; 48];
    target[0..8].copy_from_slice(&(path.as_ptr() as u64).to_ne_bytes());
    target[8..16].copy_from_slice(&(offsets.as_ptr() as u64).to_ne_bytes());
    target[32..36].copy_from_slice(&1u32.to_ne_bytes());
    match multi_link(raw_prog::BPF_TRACE_UPROBE_MULTI, &target) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() == Some(libc::EBADF),
    }
}

pub(crate) fn pmu(name: &str) -> bool {
    Path::new("/sys/bus/event_source/devices")
        .join(name)
        .exists()
}

/// Whether programs read `comm` from the current task directly: `bpf_get_current_task_btf`
/// (Linux 5.11) and the kernel's own relocation of `task_struct.comm` (5.17), tried on a
/// tracepoint program.
pub fn comm_from_task() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(|| {
        let code = encode(&[
            Insn::call(Helper::GetCurrentTaskBtf),
            Insn::alu64_imm(Alu::Add, Reg::R0, 0),
            Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0),
            Insn::ldx(Size::DW, Reg::R1, Reg::R0, 8),
            Insn::mov64_imm(Reg::R0, 0),
            Insn::exit(),
        ]);
        raw_prog::load_with_fields(
            LoadAs::new(raw_prog::BPF_PROG_TYPE_TRACEPOINT),
            &code,
            &[(1, KernelField::TaskComm)],
        )
        .is_ok()
    })
}

/// Whether the kernel loads trampoline programs (fentry on `vfs_read`).
pub fn trampolines() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(|| {
        loads_on_function(
            raw_prog::BPF_PROG_TYPE_TRACING,
            raw_prog::BPF_TRACE_FENTRY,
            "vfs_read",
        )
    })
}

/// Every facility, probed now: the kernel's, then each probe type's.
pub fn probe_kernel() -> (Vec<Feature>, Vec<Feature>) {
    let helper_call = |helper: Helper| {
        loads(
            LoadAs::new(raw_prog::BPF_PROG_TYPE_KPROBE),
            &[
                Insn::call(helper),
                Insn::mov64_imm(Reg::R0, 0),
                Insn::exit(),
            ],
        )
    };
    let features = vec![
        Feature {
            name: "btf",
            available: btf::vmlinux().is_some(),
        },
        Feature {
            name: "get_func_ip",
            available: helper_call(Helper::GetFuncIp),
        },
        Feature {
            name: "send_signal",
            available: loads(
                LoadAs::new(raw_prog::BPF_PROG_TYPE_RAW_TRACEPOINT),
                &[
                    Insn::mov64_imm(Reg::R1, 0),
                    Insn::call(Helper::SendSignal),
                    Insn::mov64_imm(Reg::R0, 0),
                    Insn::exit(),
                ],
            ),
        },
    ];
    let probes = crate::probes::ALL.iter().flat_map(|t| t.info()).collect();
    (features, probes)
}

/// `--info`'s text: the system, scry's build (`build`, `profile`), and every facility probed
/// now, one `name: yes|no` per line.
pub fn report(build: &str, profile: &str) -> String {
    let uts = uname();
    let mut out = String::from("System\n");
    out.push_str(&format!("  OS: {} {} {}\n", uts[0], uts[1], uts[2]));
    out.push_str(&format!("  Arch: {}\n", uts[3]));
    out.push_str("Build\n");
    out.push_str(&format!("  version: {build}\n  profile: {profile}\n"));
    let (features, probes) = probe_kernel();
    let yes = |b: bool| if b { "yes" } else { "no" };
    for (title, list) in [("Kernel features", features), ("Probe types", probes)] {
        out.push_str(&format!("{title}\n"));
        for f in list {
            out.push_str(&format!("  {}: {}\n", f.name, yes(f.available)));
        }
    }
    out
}

/// The kernel's name, release and version, and the machine (`uname -srvm`).
fn uname() -> [String; 4] {
    // SAFETY: `utsname` is plain data; zeroes are a valid value to fill.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid utsname to fill.
    unsafe { libc::uname(&mut uts) };
    let field = |f: &[libc::c_char]| {
        // SAFETY: uname fills each field with a NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    [
        field(&uts.sysname),
        field(&uts.release),
        field(&uts.version),
        field(&uts.machine),
    ]
}
