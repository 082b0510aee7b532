//! USDT probes against the real kernel, on `tests/programs/usdt.c` built here with `cc` and
//! `<sys/sdt.h>` (Debian's systemtap-sdt-dev, installed when missing): arguments of every
//! operand kind gcc writes, semaphores, `-p` scoping, `-l`, and the errors.

mod common;

use common::{kernel, run, Running};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// One test at a time: a semaphore counts probes attached to the file in any process, and
/// `usdt:*` attaches to every running copy of the program, so tests run together would see
/// each other's probes.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The test program built optimised (`-O2`: registers, constants, `counter(%rip)`,
/// `-40(%rsp,%rdx,4)`) or not (`-O0`: `-68(%rbp)`), built once per test run.
fn target(optimised: bool) -> &'static str {
    static BUILT: OnceLock<[String; 2]> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        common::debian_packages(&[(
            "/usr/include/x86_64-linux-gnu/sys/sdt.h",
            "systemtap-sdt-dev",
        )]);
        let dir = env!("CARGO_TARGET_TMPDIR");
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs/usdt.c");
        ["-O0", "-O2"].map(|opt| {
            let out = format!("{dir}/usdt{opt}");
            let cc = Command::new("cc")
                .args([opt, "-o", &out, source])
                .output()
                .expect("run cc");
            assert!(
                cc.status.success(),
                "cc {source} failed (is <sys/sdt.h> installed? Debian: systemtap-sdt-dev):\n{}",
                String::from_utf8_lossy(&cc.stderr)
            );
            out
        })
    });
    &built[usize::from(optimised)]
}

/// Every probe of the program, printing its arguments.
fn script(bin: &str) -> String {
    format!(
        r#"usdt:{bin}:scry_test:tick {{ printf("tick %d %s %d\n", arg0, str(arg1), arg2); }}
           usdt:{bin}:mixed {{ printf("mixed %d %d %d\n", arg0, arg1, arg2); }}
           usdt:{bin}:scry_test:array {{ printf("array %d %d\n", arg0, arg1); }}
           usdt:{bin}:scry_test:guarded {{ printf("guarded %d\n", arg0); }}"#
    )
}

#[test]
fn arguments_are_read_from_registers_memory_and_constants() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    for optimised in [true, false] {
        let bin = target(optimised);
        let (status, stdout, stderr) = run(&["-q", "-c", &format!("{bin} 3"), "-e", &script(bin)]);
        assert!(status.success(), "{bin}: {stderr}");
        let lines: Vec<&str> = stdout.lines().filter(|l| !l.is_empty()).collect();
        // In the program's order; its own line (from the -c command) comes when it exits.
        let mut probes: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.starts_with("guarded fired"))
            .collect();
        probes.truncate(12);
        assert_eq!(
            probes,
            [
                "tick 0 zero 0",
                "mixed 41 0 42",
                "array 0 4",
                "guarded 0",
                "tick 1 one 1000000007",
                "mixed 42 -1 42",
                "array 1 9",
                "guarded 1",
                "tick 2 two 2000000014",
                "mixed 43 -2 42",
                "array 2 16",
                "guarded 2",
            ],
            "{bin}: {stdout}"
        );
        // Attaching the guarded probe raised its semaphore in the program.
        assert!(
            lines.contains(&"guarded fired 3 times (total 3000000026)"),
            "{bin}: {stdout}"
        );
    }
}

#[test]
fn a_semaphore_is_raised_only_while_its_probe_is_attached() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    let alone = Command::new(bin).arg("2").output().expect("run");
    assert_eq!(
        String::from_utf8_lossy(&alone.stdout),
        "guarded fired 0 times (total 1000000008)\n"
    );
    // Another probe attached leaves `guarded`'s semaphore at zero.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        &format!("{bin} 2"),
        "-e",
        &format!(r#"usdt:{bin}:scry_test:tick {{ @ticks = count(); }}"#),
    ]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("guarded fired 0 times (total 1000000008)"),
        "{stdout}"
    );
    assert!(stdout.contains("@ticks: 2"), "{stdout}");
}

#[test]
fn pid_scopes_probes_and_semaphores_to_one_process() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    let (traced, other) = (start_waiting(bin, 2), start_waiting(bin, 2));
    let pid = traced.id().to_string();
    let mut scry = Running::start(&[
        "-p",
        &pid,
        "-e",
        &format!(r#"usdt:{bin}:scry_test:guarded {{ printf("%d %d\n", pid, arg0); }}"#),
    ]);
    scry.wait_attached();
    assert_eq!(
        release(traced),
        "guarded fired 2 times (total 1000000008)\n"
    );
    assert_eq!(release(other), "guarded fired 0 times (total 1000000008)\n");
    let line = scry.wait_line(|l| l.ends_with(" 1"));
    assert_eq!(line, format!("{pid} 1"));
    assert!(scry.interrupt().success());
    let seen: Vec<&String> = scry.out_lines.iter().filter(|l| !l.is_empty()).collect();
    assert_eq!(seen, [&format!("{pid} 0"), &format!("{pid} 1")]);
}

/// Starts the test program waiting for a line on stdin before it runs `n` rounds.
fn start_waiting(bin: &str, n: u32) -> std::process::Child {
    Command::new(bin)
        .args([&n.to_string(), "wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the test program")
}

/// Lets a waiting test program run, and returns what it printed.
fn release(mut p: std::process::Child) -> String {
    p.stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("release");
    let out = p.wait_with_output().expect("wait");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn without_a_binary_probes_are_found_in_running_processes() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    // `usdt:*:…`: every file some process has mapped.
    let waiting = start_waiting(bin, 2);
    let pid = waiting.id().to_string();
    let mut scry = Running::start(&[
        "-e",
        &format!(
            r#"usdt:*:scry_test:guarded /pid == {pid}/ {{ printf("%s %d\n", probe, arg0); }}"#
        ),
    ]);
    scry.wait_attached();
    assert_eq!(
        release(waiting),
        "guarded fired 2 times (total 1000000008)\n"
    );
    let line = scry.wait_line(|l| l.ends_with(" 1"));
    assert_eq!(line, format!("usdt:{bin}:scry_test:guarded 1"));
    assert!(scry.interrupt().success());

    // With -p the binary may be left out: the process's own files.
    let waiting = start_waiting(bin, 2);
    let pid = waiting.id().to_string();
    let mut scry = Running::start(&[
        "-p",
        &pid,
        "-e",
        r#"usdt:guarded { printf("%d\n", arg0); }"#,
    ]);
    scry.wait_attached();
    assert_eq!(
        release(waiting),
        "guarded fired 2 times (total 1000000008)\n"
    );
    scry.wait_line(|l| l == "1");
    assert!(scry.interrupt().success());

    // `-l 'usdt:*'` lists the probes of running processes.
    let waiting = start_waiting(bin, 1);
    let (_, stdout, _) = run(&["-l", "usdt:*"]);
    release(waiting);
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("usdt:{bin}:scry_test:guarded")),
        "{stdout}"
    );
}

#[test]
fn probe_names_the_location_and_wildcards_expand() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        &format!("{bin} 2"),
        "-e",
        &format!(r#"usdt:{bin}:scry_test:* {{ @[probe] = count(); }}"#),
    ]);
    assert!(status.success(), "{stderr}");
    for probe in ["tick", "mixed", "array", "guarded"] {
        assert!(
            stdout.contains(&format!("@[usdt:{bin}:scry_test:{probe}]: 2")),
            "{stdout}"
        );
    }
}

#[test]
fn list_shows_a_files_probes_and_their_arguments() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    let (status, stdout, _) = run(&["-l", &format!("usdt:{bin}:*")]);
    assert!(status.success());
    let expected: Vec<String> = ["tick", "mixed", "array", "guarded"]
        .iter()
        .map(|p| format!("usdt:{bin}:scry_test:{p}"))
        .collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    let (_, stdout, _) = run(&["-lv", &format!("U:{bin}:*:mixed")]);
    assert_eq!(
        stdout,
        format!("usdt:{bin}:scry_test:mixed\n    int64 arg0\n    int64 arg1\n    int64 arg2\n")
    );
}

#[test]
fn missing_probes_binaries_and_arguments_are_named() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    let (status, _, stderr) = run(&["-e", &format!("usdt:{bin}:scry_test:tik {{ }}")]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains(&format!("usdt: no probe `scry_test:tik` in {bin}")),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `tick`?"), "{stderr}");

    let scry = common::scry_bin();
    let (status, _, stderr) = run(&["-e", &format!("usdt:{scry}:p {{ }}")]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("has no USDT probes"), "{stderr}");

    let (status, _, stderr) = run(&["-e", "usdt:/no/such/bin:p { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("usdt: no executable or library `/no/such/bin`"),
        "{stderr}"
    );

    // `guarded` has one argument.
    let (status, _, stderr) = run(&[
        "-e",
        &format!(r#"usdt:{bin}:scry_test:guarded {{ printf("%d\n", arg1); }}"#),
    ]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("`arg1` is beyond the arguments of usdt:"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: it has one: arg0"), "{stderr}");
}

#[test]
fn list_with_pid_shows_a_processs_uprobes_and_usdt_probes() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let bin = target(true);
    let waiting = start_waiting(bin, 1);
    let pid = waiting.id().to_string();
    let (status, stdout, stderr) = run(&["-l", "-p", &pid]);
    let listed = |name: &str| stdout.lines().any(|l| l == name);
    assert!(status.success(), "{stderr}");
    assert!(listed(&format!("usdt:{bin}:scry_test:tick")), "{stdout}");
    assert!(listed(&format!("uprobe:{bin}:main")), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("uprobe:") && l.ends_with("libc.so.6:malloc")),
        "{stdout}"
    );
    // A pattern keeps what matches.
    let (status, stdout, _) = run(&["-l", "-p", &pid, "usdt:*"]);
    assert!(status.success());
    assert!(stdout.lines().all(|l| l.starts_with("usdt:")), "{stdout}");
    assert!(stdout.lines().count() >= 4, "{stdout}");
    release(waiting);
}

#[test]
fn binaries_may_be_globs_and_star_with_p_is_the_processs_files() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let (unoptimised, optimised) = (target(false), target(true));
    let glob = optimised.replace("-O2", "-O*");
    // A glob of paths: both builds, for uprobes and USDT probes alike.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        &format!("sh -c '{unoptimised} 1; {optimised} 1'"),
        "-e",
        &format!(
            r#"uprobe:{glob}:work {{ @u[probe] = count(); }}
               usdt:{glob}:scry_test:guarded {{ @g[probe] = count(); }}"#
        ),
    ]);
    assert!(status.success(), "{stderr}");
    for bin in [unoptimised, optimised] {
        assert!(
            stdout.contains(&format!("@u[uprobe:{bin}:work]: ")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("@g[usdt:{bin}:scry_test:guarded]: 1")),
            "{stdout}"
        );
    }
    // `uprobe:*:FUNC` with -p: the files that process has mapped (the program and libc).
    let waiting = start_waiting(optimised, 1);
    let pid = waiting.id().to_string();
    let mut scry = Running::start(&[
        "-p",
        &pid,
        "-e",
        r#"uprobe:*:work { printf("%s\n", probe); exit(); }"#,
    ]);
    scry.wait_attached();
    release(waiting);
    scry.wait_line(|l| l == format!("uprobe:{optimised}:work"));
    // A glob that matches nothing says so.
    let (status, _, stderr) = run(&["-e", "uprobe:/no/such/dir/bin*:main { }"]);
    assert!(!status.success());
    assert!(
        stderr.contains("uprobe: no executable or library matches `/no/such/dir/bin*`"),
        "{stderr}"
    );
}
