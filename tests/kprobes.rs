//! kprobes and kretprobes: resolved against the kernel's functions and compiled like uprobes
//! (`pt_regs` arguments, golden disassembly in `crates/codegen/tests/golden/kprobe_args.dis`). On a kernel
//! without kprobe support, attaching fails with one precise error that names the missing
//! facility and the tracepoint carrying the same event, exit code 1, and nothing left loaded.

mod common;

use common::{kernel, run};

fn kprobes_here() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
}

#[test]
fn a_kernel_without_kprobes_gets_a_precise_error() {
    if !kernel() || kprobes_here() {
        return;
    }
    let (status, stdout, stderr) = run(&["-e", "kprobe:vfs_read { @[comm] = count(); }"]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("kprobe:vfs_read: kprobes are not available: this kernel was built without CONFIG_KPROBES"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: the same event: tracepoint:syscalls:sys_enter_read"),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["-e", "kretprobe:inet_csk_accept { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("tracepoint:syscalls:sys_exit_accept4"),
        "{stderr}"
    );
}

#[test]
fn kprobes_resolve_against_the_kernels_functions() {
    if !kernel() {
        return;
    }
    let (status, _, stderr) = run(&["-e", "kprobe:vfs_rea { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("no kernel function `vfs_rea`"), "{stderr}");
    assert!(
        stderr.contains("did you mean `kprobe:vfs_read`?"),
        "{stderr}"
    );
    // The program is still built: --emit-elf writes it with its kprobe section.
    let path = std::env::temp_dir().join(format!("scry-kprobe-{}.o", std::process::id()));
    let (status, _, stderr) = run(&[
        "--emit-elf",
        path.to_str().unwrap(),
        "-e",
        "kprobe:vfs_read { printf(\"%s %d\\n\", func, arg2); }",
    ]);
    assert!(status.success(), "{stderr}");
    let elf = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(elf.windows(7).any(|w| w == b"kprobe/"), "a kprobe section");
}

#[test]
fn func_in_a_kprobe_is_a_kernel_symbol() {
    if !kernel() {
        return;
    }
    // As bpftrace types it: a map may hold both `ksym(addr)` and `func` (xfsdist.bt does).
    let (status, _, stderr) = run(&[
        "--emit-elf",
        "/dev/null",
        "-e",
        "BEGIN { @name[0] = ksym(0); } kprobe:vfs_read { @name[tid] = func; printf(\"%s\\n\", func); }",
    ]);
    assert!(status.success(), "{stderr}");
}
