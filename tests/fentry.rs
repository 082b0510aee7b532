//! fentry and fexit: arguments typed from BTF and read from the trampoline's context (an array
//! of 64-bit words), compiled on any kernel. Where the kernel refuses trampolines, loading
//! fails with one precise error naming the tracepoint carrying the same event, exit code 1.

mod common;

use common::{kernel, run};

fn trampolines_here() -> bool {
    let (_, stdout, _) = run(&["--info"]);
    stdout.lines().any(|l| l.trim() == "fentry: yes")
}

/// What `-d` prints of a script compiled (not loaded): its programs' disassembly.
fn disassembly(script: &str) -> String {
    run(&["-d", "--emit-elf", "/dev/null", "-e", script]).2
}

#[test]
fn arguments_come_from_btf_as_context_words() {
    if !kernel() {
        return;
    }
    // vfs_read(file, buf, count, pos): `count` is the third word of the context.
    let stderr = disassembly(
        "fentry:vfs_read { printf(\"%d %d\\n\", args.count, arg2); } fexit:vfs_read { @ = hist(retval); }",
    );
    assert!(stderr.contains("fentry:vfs_read"), "{stderr}");
    assert!(stderr.contains("= *(u64 *)(r9 +16)"), "{stderr}");
    // fexit's return value follows the four arguments.
    assert!(stderr.contains("= *(u64 *)(r9 +32)"), "{stderr}");
}

#[test]
fn a_kernel_without_trampolines_gets_a_precise_error() {
    if !kernel() || trampolines_here() {
        return;
    }
    let (status, stdout, stderr) = run(&["-e", "fentry:vfs_read { @[comm] = count(); }"]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("fentry:vfs_read: the kernel refused BPF trampolines (EPERM)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("tracepoint:syscalls:sys_enter_read"),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["-e", "kretfunc:vfs_read { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("fexit:vfs_read: the kernel refused"),
        "{stderr}"
    );
}

#[test]
fn a_pointer_argument_of_unknown_space_reads_user_memory_too() {
    if !kernel() {
        return;
    }
    // do_sys_openat2(int dfd, const char __user *filename, …): gcc-built kernels' BTF does not
    // mark `__user`, so the string is read with the helper that reads either address space.
    let stderr = disassembly("fentry:do_sys_openat2 { printf(\"%s\\n\", str(args.filename)); }");
    assert!(stderr.contains("call bpf_probe_read_str#45"), "{stderr}");
    assert!(!stderr.contains("bpf_probe_read_kernel_str"), "{stderr}");
}
