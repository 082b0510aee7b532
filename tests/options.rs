//! Command-line options and `config` settings that change how a run goes: `-c` and `cpid`,
//! `-B`, `--no-warnings`, `-k`, `print_maps_on_exit`, `stack_mode`, `missing_probes`; and the
//! pipe standard output is, grown.

mod common;

use common::{kernel, run};

#[test]
fn command_runs_once_attached_and_ends_the_session() {
    if !kernel() {
        return;
    }
    // The command's exit is seen (its pid is cpid), END runs, and scry stops when it exits.
    let (status, stdout, stderr) = run(&[
        "-c",
        "/bin/sh -c 'echo from the command; exit 3'",
        "-e",
        r#"tracepoint:sched:sched_process_exit /pid == cpid/ { printf("exit %s %d\n", comm, args.pid == cpid); }
           END { printf("end\n"); }"#,
    ]);
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"from the command"), "{stdout}");
    assert!(lines.contains(&"exit sh 1"), "{stdout}");
    assert!(lines.contains(&"end"), "{stdout}");
}

#[test]
fn a_command_that_does_not_exist_is_an_error() {
    if !kernel() {
        return;
    }
    let (status, _, stderr) = run(&["-c", "no-such-command-here", "-e", "BEGIN { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("cannot find the command `no-such-command-here`"),
        "{stderr}"
    );
}

#[test]
fn warnings_are_printed_unless_silenced() {
    if !kernel() {
        return;
    }
    let script = r#"config = { missing_probes = "warn" }
tracepoint:no_such:event { }
BEGIN { printf("%d\n", $1); exit(); }"#;
    let (status, stdout, stderr) = run(&["-q", "-e", script]);
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout, "0\n\n\n");
    assert!(
        stderr.contains("stdin:2:1: warning: tracepoint not found: tracepoint:no_such:event; the probe is left out"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stdin:3:24: warning: $1 is not given; it reads as 0"),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["-q", "--no-warnings", "-e", script]);
    assert!(status.success());
    assert_eq!(stderr, "");
    // Without the setting, a missing probe is an error.
    let (status, _, stderr) = run(&["-q", "-e", "tracepoint:no_such:event { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("error: tracepoint not found"), "{stderr}");
}

#[test]
fn settings_for_map_printing_and_stacks() {
    if !kernel() {
        return;
    }
    let (status, stdout, stderr) = run(&[
        "-q",
        "-e",
        "config = { print_maps_on_exit = false; stack_mode = raw } BEGIN { @x = 1; printf(\"%s|\\n\", kstack(1)); exit(); }",
    ]);
    assert!(status.success(), "{stderr}");
    // A raw frame is a bare hex address; no map follows the blank lines.
    let frame = stdout.lines().nth(1).expect("a frame");
    assert!(u64::from_str_radix(frame, 16).is_ok(), "{stdout}");
    assert!(stdout.ends_with("|\n\n\n"), "{stdout}");
    // The environment overrides the script.
    let out = std::process::Command::new(common::scry_bin())
        .env("BPFTRACE_PRINT_MAPS_ON_EXIT", "true")
        .args([
            "-q",
            "-e",
            "config = { print_maps_on_exit = false } BEGIN { @x = 1; exit(); }",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\n\n@x: 1\n");
    let (status, _, stderr) = run(&["-e", "config = { stack_mode = fast } BEGIN { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("stack_mode takes one of bpftrace, perf, raw"),
        "{stderr}"
    );
}

#[test]
fn full_buffering_still_delivers_everything_at_exit() {
    if !kernel() {
        return;
    }
    for mode in ["line", "full", "none"] {
        let (status, stdout, _) = run(&[
            "-q",
            "-B",
            mode,
            "-e",
            "BEGIN { printf(\"a\\n\"); print(2); exit(); }",
        ]);
        assert!(status.success());
        assert_eq!(stdout, "a\n2\n\n\n", "-B {mode}");
    }
}

#[test]
fn a_full_map_is_reported_unless_no_warnings_and_k_reports_failed_reads() {
    if !kernel() {
        return;
    }
    // As current bpftrace: failed map updates warn by default.
    let script = "config = { max_map_keys = 1 } BEGIN { @a[1] = 1; @a[2] = 2; exit(); }";
    let (status, _, stderr) = run(&["-q", "-e", script]);
    assert!(status.success());
    assert!(
        stderr.contains("stdin:1:50-59: WARNING: Map full; can't update element. Try increasing max_map_keys config or manually setting the max entries in a map declaration e.g. `let @a = hash(5000)`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Additional Info - helper: map_update_elem, retcode: -7"),
        "{stderr}"
    );
    let (_, _, stderr) = run(&["-q", "--no-warnings", "-e", script]);
    assert!(!stderr.contains("WARNING"), "{stderr}");
    // A failed read warns with -k (and bpftrace 0.17's -kk), not without.
    let read = "BEGIN { $t = (struct task_struct *)8; printf(\"%d\\n\", $t->pid); exit(); }";
    let (_, stdout, stderr) = run(&["-q", "-e", read]);
    assert!(stdout.starts_with("0\n"), "{stdout}");
    assert!(!stderr.contains("WARNING"), "{stderr}");
    for k in ["-k", "-kk", "--warnings"] {
        let (_, stdout, stderr) = run(&["-q", k, "-e", read]);
        assert!(stdout.starts_with("0\n"), "{stdout}");
        assert!(
            stderr.contains("helper: probe_read_kernel, retcode: -"),
            "{k}: {stderr}"
        );
    }
    let (status, _, stderr) = run(&["-k", "--no-warnings", "-e", "BEGIN { exit(); }"]);
    assert!(!status.success());
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn getopt_reads_named_arguments_after_the_script() {
    if !kernel() {
        return;
    }
    let script = r#"BEGIN { printf("%d %d %s %d\n", getopt("verbose"), getopt("limit", 10, "how many"), getopt("who", "me"), $1); exit(); }"#;
    let (status, stdout, stderr) = run(&["-q", "-e", script, "--", "--verbose", "--limit=3", "7"]);
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout, "1 3 me 7\n\n\n");
    let (_, stdout, _) = run(&["-q", "-e", script]);
    assert_eq!(stdout, "0 10 me 0\n\n\n");
    let (status, _, stderr) = run(&["-q", "-e", script, "--", "--limit=many"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("--limit takes a number"), "{stderr}");
    let (status, _, stderr) = run(&["-q", "-e", script, "--", "--nope"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("unknown argument --nope: the script reads --verbose, --limit, --who"),
        "{stderr}"
    );
}

#[test]
fn missing_probes_warn_keeps_going_when_attaching_fails() {
    if !kernel() || std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        return;
    }
    // The kprobe cannot be attached on this kernel: with `warn` the rest runs, with a warning.
    let script = r#"config = { missing_probes = "warn" }
kprobe:vfs_read { @reads = count(); }
tracepoint:sched:sched_process_exit /pid == cpid/ { printf("exited\n"); }"#;
    let (status, stdout, stderr) = run(&["-c", "/bin/true", "-e", script]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("exited\n"), "{stdout}");
    assert!(
        stderr.contains("stdin:2:1: warning: kprobe:vfs_read: kprobes are not available"),
        "{stderr}"
    );
    assert!(stderr.contains("Attached 1 probe\n"), "{stderr}");
    // Nothing attachable at all is still an error.
    let (status, _, stderr) = run(&[
        "-e",
        "config = { missing_probes = \"ignore\" } kprobe:vfs_read { }",
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("no probe could be attached"), "{stderr}");
}

#[test]
fn list_with_a_program_shows_the_probes_it_would_attach() {
    if !kernel() {
        return;
    }
    let program = "tracepoint:syscalls:sys_enter_exec* { } BEGIN { }";
    let (status, stdout, stderr) = run(&["-l", "-e", program]);
    assert!(status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "tracepoint:syscalls:sys_enter_execve\ntracepoint:syscalls:sys_enter_execveat\nBEGIN\n"
    );
    // A script file, with -v its arguments.
    let script = std::env::temp_dir().join(format!("scry-list-{}.bt", std::process::id()));
    std::fs::write(&script, "tracepoint:sched:sched_process_exec { }\n").unwrap();
    let (status, stdout, stderr) = run(&["-lv", script.to_str().unwrap()]);
    let _ = std::fs::remove_file(&script);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.starts_with("tracepoint:sched:sched_process_exec\n    __data_loc char[] filename\n"),
        "{stdout}"
    );
}

#[test]
fn a_pid_that_is_not_a_process_is_an_error() {
    let (status, _, stderr) = run(&["-p", "4194304", "-e", "BEGIN { exit(); }"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("there is no process 4194304"), "{stderr}");
    let (status, _, stderr) = run(&["-p", "a1111", "-e", "BEGIN { exit(); }"]);
    assert!(!status.success());
    assert!(
        stderr.contains("failed to parse pid: `a1111` is not a decimal number"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for pid in ["4194305", "99999999999"] {
        let (status, _, stderr) = run(&["-p", pid, "-e", "BEGIN { exit(); }"]);
        assert!(!status.success());
        assert!(
            stderr.contains(&format!(
                "pid out of range: {pid} (the kernel's pids go up to 4194304)"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn cmd_is_the_long_form_of_c_and_excludes_p() {
    if !kernel() {
        return;
    }
    let (status, stdout, stderr) = run(&[
        "--cmd",
        "/bin/sh -c 'echo from the command'",
        "--usdt-file-activation",
        "-e",
        r#"END { printf("cpid set: %d\n", cpid > 0); }"#,
    ]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("from the command\ncpid set: 1\n"),
        "{stdout}"
    );
    let (status, _, stderr) = run(&["--cmd", "true", "-p", "1", "-e", "BEGIN { }"]);
    assert!(!status.success());
    assert!(
        stderr.contains("'--cmd <CMD>' cannot be used with '--pid <PID>'"),
        "{stderr}"
    );
}

#[test]
fn k_reports_a_read_of_a_missing_key() {
    if !kernel() {
        return;
    }
    let script = r#"BEGIN { @m[1] = 5; printf("%d %d\n", @m[1], @m[2]); exit(); }"#;
    let (status, stdout, stderr) = run(&["-q", "-k", "-e", script]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("5 0\n"), "{stdout}");
    assert!(
        stderr.contains(
            "stdin:1:45-50: WARNING: Can't lookup map element because it does not exist."
        ),
        "{stderr}"
    );
    // Only the missing key: the one that is there is read without a word.
    assert_eq!(stderr.matches("WARNING").count(), 1, "{stderr}");
    let (_, _, stderr) = run(&["-q", "-e", script]);
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

#[test]
fn every_bpftrace_setting_is_taken_and_an_unknown_one_lists_them() {
    if !kernel() {
        return;
    }
    let settings = r#"config = { license = "Dual BSD/GPL"; max_cat_bytes = 5; perf_rb_pages = 64;
        max_probes = 10; max_bpf_progs = 10; cache_user_symbols = PER_PID; cpp_demangle = false;
        lazy_symbolication = true; show_debug_info = false; on_stack_limit = 32;
        log_size = 100000; unstable_map_decl = enable; unstable_macro = enable;
        unstable_import = warn; unstable_tseries = error; unstable_dw_ustack = warn;
        BPFTRACE_MAX_STRLEN = 64; STACK_MODE = perf }"#;
    // cat() stops at max_cat_bytes; the programs load under the license given.
    let script =
        format!(r#"{settings} BEGIN {{ cat("/proc/sys/kernel/ostype"); printf("|\n"); exit(); }}"#);
    let (status, stdout, stderr) = run(&["-q", "-e", &script]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("Linux|\n"), "{stdout}");
    let (status, _, stderr) = run(&["-e", "config = { no_such_thing = 1 } BEGIN { }"]);
    assert!(!status.success());
    assert!(
        stderr.contains("unknown setting `no_such_thing`"),
        "{stderr}"
    );
    for name in [
        "max_probes",
        "perf_rb_pages",
        "license",
        "on_stack_limit",
        "unstable_macro",
    ] {
        assert!(stderr.contains(name), "{name} is not named in: {stderr}");
    }
}

#[test]
fn max_probes_and_max_bpf_progs_stop_a_program_before_it_loads() {
    if !kernel() {
        return;
    }
    let (status, _, stderr) = run(&[
        "-e",
        "config = { max_probes = 3 } tracepoint:syscalls:sys_enter_read* { }",
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("probes, more than max_probes (3)")
            && stderr.contains("hint: raise it with `config = { max_probes ="),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["-e", "config = { max_bpf_progs = 1 } BEGIN { } END { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("the program compiles to 2 BPF programs, more than max_bpf_progs (1)"),
        "{stderr}"
    );
}

#[test]
fn perf_rb_pages_sizes_the_ring_buffer() {
    if !kernel() {
        return;
    }
    let mut scry = common::Running::start(&[
        "-e",
        "config = { perf_rb_pages = 3 } interval:s:10 { exit(); }",
    ]);
    scry.wait_attached();
    // Rounded up to a power of two: 4 pages.
    let mut sizes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{}/fdinfo", scry.pid())).expect("fdinfo") {
        let text = std::fs::read_to_string(fd.expect("fd").path()).unwrap_or_default();
        if text.contains("map_type:\t27\n") {
            sizes.extend(
                text.lines()
                    .filter_map(|l| l.strip_prefix("max_entries:\t"))
                    .map(String::from),
            );
        }
    }
    scry.interrupt();
    assert_eq!(sizes, vec!["16384".to_string()]);
}

#[test]
fn a_pipe_on_standard_output_is_grown_for_whole_batches() {
    if !kernel() {
        return;
    }
    // scry grows the pipe it writes to, to 1 MiB, so that a batch of lines goes in one write
    // without waiting for the reader; the size is the pipe's, seen from its read end.
    let mut child = std::process::Command::new(common::scry_bin())
        .args(["-e", "BEGIN { printf(\"ready\\n\"); } END { }"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "ready\n");
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETPIPE_SZ on a pipe this process holds.
    let size = unsafe { libc::fcntl(stdout.get_ref().as_raw_fd(), libc::F_GETPIPE_SZ) };
    // SAFETY: sending SIGINT to our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(child.wait().unwrap().success());
    assert_eq!(size, 1 << 20);
}
