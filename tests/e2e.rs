//! End-to-end: the built `scry` against the real kernel. Each test triggers its own event (an
//! exec, an open) and asserts on what a user would see, then checks nothing stayed loaded.

mod common;

use common::{exec, kernel, run, Running};
use std::path::PathBuf;

const EXECSNOOP: &str = r#"BEGIN { printf("PID\tEXE\n"); } tracepoint:syscalls:sys_enter_execve { printf("%d\t%s\n", pid, str(args.filename)); }"#;

/// A fresh directory for one test.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scry-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

#[test]
fn execve_one_liner_prints_header_then_each_exec() {
    if !kernel() {
        return;
    }
    // A path longer than bpftrace 0.17's 64-byte strings, to show it is not cut.
    let dir = scratch_dir("execve");
    let long =
        dir.join("a_binary_with_a_rather_long_name_to_exceed_sixty_four_characters_in_its_path");
    std::fs::copy("/bin/true", &long).expect("copy /bin/true");
    let long = long.to_str().expect("utf-8 path").to_string();
    assert!(long.len() > 64);

    let mut scry = Running::start(&["-e", EXECSNOOP]);
    scry.wait_attached();
    assert_eq!(scry.err_lines, ["Attached 2 probes"]);
    assert_eq!(
        scry.wait_line(|_| true),
        "PID\tEXE",
        "the BEGIN header comes first"
    );
    let pid = exec("/bin/true", &[]);
    scry.wait_line(|l| l == format!("{pid}\t/bin/true"));
    let pid = exec(&long, &[]);
    scry.wait_line(|l| l == format!("{pid}\t{long}"));
    assert!(scry.interrupt().success(), "Ctrl-C ends scry with status 0");
}

#[test]
fn openat_one_liner_shows_comm_and_path() {
    if !kernel() {
        return;
    }
    let dir = scratch_dir("openat");
    let path = dir.join("opened-by-cat.txt");
    std::fs::write(&path, "x").expect("write file");
    let path = path.to_str().expect("utf-8").to_string();
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }"#,
    ]);
    scry.wait_attached();
    exec("/bin/cat", &[&path]);
    scry.wait_line(|l| l == format!("cat {path}"));
    assert!(scry.interrupt().success());
}

#[test]
fn data_loc_strings_and_char_arrays_from_tracepoint_records() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:sched:sched_process_exec { printf("exec %s %d\n", args.filename, args.pid); }
           tracepoint:sched:sched_process_exit { printf("exit %s %d\n", args.comm, args.pid); }"#,
    ]);
    scry.wait_attached();
    let pid = exec("/bin/true", &[]);
    scry.wait_line(|l| l == format!("exec /bin/true {pid}"));
    scry.wait_line(|l| l == format!("exit true {pid}"));
    assert!(scry.interrupt().success());
}

#[test]
fn exit_in_a_probe_stops_and_runs_end() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_execve { printf("saw %s\n", str(args.filename)); exit(); } END { printf("end\n"); }"#,
    ]);
    scry.wait_attached();
    // Exec until scry has seen one and quit (other execs on the machine may win the race).
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let mut status = None;
    while status.is_none() && std::time::Instant::now() < deadline {
        exec("/bin/true", &[]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        status = scry.try_finish();
    }
    let status = status.expect("scry exited after exit()");
    assert!(status.success());
    let out: Vec<&String> = scry.out_lines.iter().collect();
    // Another CPU may report an exec between this probe's printf and its exit(): every line
    // before END's is one exec.
    let end = out
        .iter()
        .position(|l| *l == "end")
        .expect("END runs after exit()");
    assert!(end >= 1, "{out:?}");
    assert!(out[..end].iter().all(|l| l.starts_with("saw /")), "{out:?}");
    // Then the two blank lines that end bpftrace's output (no maps follow).
    assert_eq!(out.len(), end + 3, "nothing after exit() but END: {out:?}");
}

#[test]
fn ctrl_c_runs_end() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_execve { } END { printf("bye %d\n", 6 + 1); }"#,
    ]);
    scry.wait_attached();
    assert!(scry.interrupt().success());
    assert_eq!(scry.out_lines, ["bye 7", "", ""]);
}

#[test]
fn sigterm_runs_end() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_execve { } END { printf("terminated\n"); }"#,
    ]);
    scry.wait_attached();
    assert!(scry.signal(libc::SIGTERM).success());
    assert_eq!(scry.out_lines, ["terminated", "", ""]);
}

#[test]
fn begin_only_scripts_run_and_exit() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&["-e", r#"BEGIN { printf("hello world\n"); }"#]);
    assert!(status.success());
    assert_eq!(out, "hello world\n\n\n");
    assert_eq!(err, "Attached 1 probe\n");
}

#[test]
fn exit_code_and_quiet() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&[
        "-q",
        "-e",
        r#"BEGIN { printf("a\n"); exit(3); printf("never\n"); } END { printf("z\n"); }"#,
    ]);
    assert_eq!(status.code(), Some(3));
    assert_eq!(out, "a\nz\n\n\n");
    // -q leaves out "Attached"; only the warning about the printf that never runs is left.
    assert!(
        err.starts_with("stdin:1:33: warning: Unreachable statement.\n"),
        "{err}"
    );
    assert!(!err.contains("Attached"), "{err}");
}

#[test]
fn integers_variables_and_control_flow() {
    if !kernel() {
        return;
    }
    let script = r#"BEGIN {
        printf("%d %d %d %d %d %u %lu\n", 7 / 2, -7 / 2, -7 % 3, 1 << 4 | 1, 10 > 3 && 2 > 1, -1, -1);
        printf("%d %d %d %x %d\n", 2 + 3 * 4, (2 + 3) * 4, 100 - 1 - 1, 0xff & ~0xf, !0);
        $a = 5;
        if ($a > 3) { printf("big\n"); } else if ($a > 1) { printf("medium\n"); } else { printf("small\n"); }
        $s = comm;
        $a = $a * 2;
        printf("%s %d [%5s] [%-4d] %c\n", $s, $a, "ab", 7, 65);
        printf("%d %d %s\n", pid, uid, probe);
        printf("%d\n", elapsed < 10000000000 && nsecs > 0 && tid > 0);
    }"#;
    let (status, out, err) = run(&["-e", script]);
    assert!(status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // `%u` reads an unsigned int, `%lu` an unsigned long, as in C (and bpftrace).
    assert_eq!(lines[0], "3 -3 -1 17 1 4294967295 18446744073709551615");
    assert_eq!(lines[1], "14 20 98 f0 1");
    assert_eq!(lines[2], "big");
    assert_eq!(lines[3], "scry 10 [   ab] [7   ] A");
    // BEGIN runs in scry's own process.
    let pid: u32 = lines[4].split(' ').next().unwrap().parse().unwrap();
    assert!(pid > 1);
    assert_eq!(&lines[4][lines[4].find(' ').unwrap()..], " 0 BEGIN");
    assert_eq!(lines[5], "1");
}

#[test]
fn output_file_script_file_and_stdin() {
    if !kernel() {
        return;
    }
    let dir = scratch_dir("files");
    let out_file = dir.join("out.txt");
    let (status, out, _) = run(&[
        "-o",
        out_file.to_str().unwrap(),
        "-e",
        r#"BEGIN { printf("to a file\n"); }"#,
    ]);
    assert!(status.success());
    assert_eq!(out, "");
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "to a file\n\n\n"
    );

    let script = dir.join("hello.bt");
    std::fs::write(
        &script,
        "// a comment\nBEGIN {\n  printf(\"from a file\\n\");\n}\n",
    )
    .unwrap();
    let (status, out, _) = run(&[script.to_str().unwrap()]);
    assert!(status.success());
    assert_eq!(out, "from a file\n\n\n");

    let (status, out, _) =
        common::run_with_input(&["-"], &[], b"BEGIN { printf(\"from stdin\\n\"); }");
    assert!(status.success());
    assert_eq!(out, "from stdin\n\n\n");
}

#[test]
fn dry_run_attaches_then_exits() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&["--dry-run", "-e", EXECSNOOP]);
    assert!(status.success());
    assert_eq!(out, "");
    assert_eq!(err, "Attached 2 probes\n");
}

#[test]
fn emit_elf_writes_a_bpf_object() {
    if !kernel() {
        return;
    }
    let dir = scratch_dir("elf");
    let path = dir.join("execsnoop.o");
    let (status, _, err) = run(&["--emit-elf", path.to_str().unwrap(), "-e", EXECSNOOP]);
    assert!(status.success(), "{err}");
    let elf = std::fs::read(&path).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([elf[18], elf[19]]),
        247,
        "e_machine is EM_BPF"
    );
    let has = |needle: &[u8]| elf.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"tracepoint/syscalls/sys_enter_execve"));
    assert!(has(b"raw_tp/"));
    assert!(has(b"license"));
}

#[test]
fn debug_prints_ast_and_disassembly() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&["-d", "-e", r#"BEGIN { printf("%d\n", pid + 1); }"#]);
    assert!(status.success());
    assert!(out.trim().parse::<u32>().is_ok(), "prints pid + 1: {out}");
    assert!(
        err.contains("AST:\nprobe BEGIN\n  printf(\"%d\\n\", (pid + 1))\n"),
        "{err}"
    );
    assert!(err.contains("call bpf_get_current_pid_tgid#14"), "{err}");
    assert!(err.contains("call bpf_ringbuf_reserve#131"), "{err}");
}

#[test]
fn list_tracepoints_with_globs_and_arguments() {
    if !kernel() {
        return;
    }
    let (status, out, _) = run(&["-l", "tracepoint:syscalls:sys_enter_exec*"]);
    assert!(status.success());
    assert_eq!(
        out,
        "tracepoint:syscalls:sys_enter_execve\ntracepoint:syscalls:sys_enter_execveat\n"
    );

    // The short alias works as in bpftrace, and -lv shows arguments as bpftrace prints them.
    let (status, out, _) = run(&["-lv", "t:syscalls:sys_enter_execve"]);
    assert!(status.success());
    assert_eq!(
        out,
        "tracepoint:syscalls:sys_enter_execve\n    int __syscall_nr\n    const char * filename\n    const char *const * argv\n    const char *const * envp\n"
    );

    let (_, out, _) = run(&["-l"]);
    let tracepoints = out.lines().filter(|l| l.starts_with("tracepoint:")).count();
    assert!(tracepoints > 500, "every tracepoint is listed");
    assert!(
        out.lines().any(|l| l.starts_with("rawtracepoint:")),
        "and raw tracepoints"
    );
    assert!(
        out.lines().any(|l| l == "software:cpu-clock"),
        "and software events"
    );
    let providers = [
        "self:",
        "tracepoint:",
        "rawtracepoint:",
        "software:",
        "hardware:",
        "kprobe:",
        "kretprobe:",
        "fentry:",
        "fexit:",
        "iter:",
        "interval:",
        "profile:",
    ];
    assert!(out
        .lines()
        .all(|l| providers.iter().any(|p| l.starts_with(p))));

    // Timers are listed by unit, as bpftrace lists them.
    let (_, out, _) = run(&["-l", "i:*"]);
    assert_eq!(
        out,
        "interval:hz:\ninterval:ms:\ninterval:ns:\ninterval:s:\ninterval:us:\n"
    );
    let (_, out, _) = run(&["-l", "profile:hz*"]);
    assert_eq!(out, "profile:hz:\n");
}

#[test]
fn every_example_loads_and_attaches() {
    if !kernel() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "bt") {
            let (status, _, err) = run(&["--dry-run", path.to_str().unwrap()]);
            assert!(status.success(), "{}: {err}", path.display());
            assert!(err.starts_with("Attached "), "{}: {err}", path.display());
            n += 1;
        }
    }
    assert!(n >= 2);
}

#[test]
fn list_shows_a_kernel_struct() {
    if !kernel() {
        return;
    }
    let (status, stdout, _) = run(&["-l", "struct path"]);
    assert!(status.success());
    assert_eq!(
        stdout,
        "struct path {\n    struct vfsmount * mnt;  // offset 0\n    struct dentry * dentry;  // offset 8\n};\n"
    );
    let (status, _, stderr) = run(&["-l", "struct no_such_thing"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("no struct no_such_thing in the kernel's BTF"),
        "{stderr}"
    );
}

#[test]
fn self_signal_probes_run_on_each_sigusr1() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"self:signal:SIGUSR1 { printf("usr1 %d\n", @n); @n++; }"#,
    ]);
    scry.wait_attached();
    for want in ["usr1 0", "usr1 1"] {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(scry.pid() as i32, libc::SIGUSR1) };
        assert_eq!(scry.wait_line(|l| l.starts_with("usr1")), want);
    }
    assert!(scry.interrupt().success());
    assert!(
        scry.out_lines.iter().any(|l| l == "@n: 2"),
        "{:?}",
        scry.out_lines
    );
    // Only SIGUSR1 is a self probe.
    let (status, _, stderr) = run(&["-e", "self:signal:SIGUSR2 { }"]);
    assert!(!status.success());
    assert!(
        stderr.contains("the self probe is `self:signal:SIGUSR1`"),
        "{stderr}"
    );
}
