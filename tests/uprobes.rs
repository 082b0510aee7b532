//! uprobes and uretprobes against the real kernel, on libc's `clock_nanosleep`, which `sleep`
//! calls: arguments, `retval`, `func`, `uaddr`, wildcards, offsets, `-p` scoping, `-l`, and the
//! errors for a missing binary or function.

mod common;

use common::{kernel, run, Running};

#[test]
fn uprobe_and_uretprobe_see_arguments_and_the_return_value() {
    if !kernel() {
        return;
    }
    // clock_nanosleep(CLOCK_REALTIME = 0, flags 0, …) returns 0 after sleeping.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        "sleep 0.1",
        "-e",
        r#"uprobe:libc:clock_nanosleep /pid == cpid/ { printf("enter %s %d %d %d\n", func, arg0, arg1, uaddr("clock_nanosleep") > 0); }
           uretprobe:libc:clock_nanosleep /pid == cpid/ { printf("return %s %d\n", func, retval); }"#,
    ]);
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"enter clock_nanosleep 0 0 1"), "{stdout}");
    assert!(lines.contains(&"return clock_nanosleep 0"), "{stdout}");
}

#[test]
fn wildcards_and_offsets_name_functions_in_the_binary() {
    if !kernel() {
        return;
    }
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        "sleep 0.1",
        "-e",
        r#"uprobe:libc:clock_nanosle* /pid == cpid/ { @[probe] = count(); }
           uprobe:libc:clock_nanosleep+0 /pid == cpid/ { @plus = count(); }"#,
    ]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains(":clock_nanosleep]: 1"), "{stdout}");
    assert!(stdout.contains("@plus: 1"), "{stdout}");
}

/// Runs `script` with `-p` on a shell that execs `sleep` once released, while another
/// `sleep` runs beside it: the lines `wanted` picks must come from the shell's pid alone, and
/// one must come. Returns that pid and the line.
fn scoped_to_one_process(script: &str, wanted: impl Fn(&str) -> bool) -> (String, String) {
    let mut other = std::process::Command::new("sleep")
        .arg("0.3")
        .spawn()
        .expect("sleep");
    let mut target = std::process::Command::new("sh")
        .args(["-c", "read x; exec sleep 0.1"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sh");
    let pid = target.id().to_string();
    let mut scry = Running::start(&["-p", &pid, "-e", script]);
    scry.wait_attached();
    let links = uprobe_multi_links(scry.pid()).len();
    // Released, the shell execs sleep in its own pid: that sleep is seen, the other is not.
    drop(target.stdin.take());
    let line = scry.wait_line(&wanted);
    let _ = other.wait();
    let _ = target.wait();
    assert!(scry.interrupt().success());
    assert!(
        scry.out_lines
            .iter()
            .all(|l| l.is_empty() || l.split(' ').next() == Some(pid.as_str())),
        "{:?}",
        scry.out_lines
    );
    (pid, format!("{links} {line}"))
}

#[test]
fn pid_scopes_a_uprobe_to_one_process() {
    if !kernel() {
        return;
    }
    let script = r#"uprobe:libc:clock_nanosleep { printf("%d\n", pid); }"#;
    let (pid, line) = scoped_to_one_process(script, |l| !l.is_empty());
    assert_eq!(line, format!("0 {pid}"));
}

#[test]
fn list_shows_a_binarys_functions() {
    if !kernel() {
        return;
    }
    let (status, stdout, _) = run(&["-l", "uprobe:libc:clock_nano*"]);
    assert!(status.success());
    assert!(
        stdout.lines().any(|l| l == "uprobe:libc:clock_nanosleep"),
        "{stdout}"
    );
    let (_, stdout, _) = run(&["-lv", "uretprobe:libc:clock_nanosleep"]);
    assert_eq!(
        stdout,
        "uretprobe:libc:clock_nanosleep\n    uint64 arg0\n    uint64 arg1\n    uint64 arg2\n    uint64 arg3\n    uint64 arg4\n    uint64 arg5\n    uint64 retval\n"
    );
}

#[test]
fn missing_binaries_and_functions_are_named() {
    if !kernel() {
        return;
    }
    let (status, _, stderr) = run(&["-e", "uprobe:/no/such/bin:f { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("uprobe: /no/such/bin does not exist"),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["-e", "uprobe:libc:clock_nanoslep { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("no function `clock_nanoslep`"), "{stderr}");
    assert!(
        stderr.contains("did you mean `clock_nanosleep`?"),
        "{stderr}"
    );
    let (status, _, stderr) = run(&["-e", "uprobe:libc:malloc { $r = retval; }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("`retval` is not available in a uprobe probe"),
        "{stderr}"
    );
}

#[test]
fn reg_reads_the_probed_codes_registers() {
    if !kernel() {
        return;
    }
    // At a function's entry the instruction pointer is the function's address, and the first
    // argument is in rdi.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        "sleep 0.1",
        "-e",
        r#"uprobe:libc:clock_nanosleep /pid == cpid/ {
             printf("%d %d\n", reg("di") == arg0, (reg("ip") & 0xfff) == (uaddr("clock_nanosleep") & 0xfff));
             exit();
           }"#,
    ]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("1 1\n"), "{stdout}");
}

/// The `uprobe_multi` links of a process (`uretprobe_multi` for returns), by the count of
/// functions fdinfo shows for each: what `bpftool link` would list.
fn uprobe_multi_links(pid: u32) -> Vec<u32> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fdinfo")).expect("fdinfo");
    fds.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter(|info| {
            info.contains("link_type:\tuprobe_multi")
                || info.contains("link_type:\turetprobe_multi")
        })
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("uprobe_cnt:"))
                .and_then(|n| n.trim().parse().ok())
        })
        .collect()
}

#[test]
fn a_wildcard_is_one_uprobe_multi_link_that_knows_each_function() {
    if !kernel() {
        return;
    }
    // libc's `clock_nanosleep` and its siblings, attached by one link each way.
    let script = r#"uprobe:libc:clock_* /pid == cpid/ { @[func] = count(); }
        uretprobe:libc:clock_* /pid == cpid/ { @ret[func] = retval; }"#;
    let mut scry = Running::start(&["-c", "sleep 1", "-e", script]);
    scry.wait_attached();
    let links = uprobe_multi_links(scry.pid());
    assert_eq!(links.len(), 2, "one link per attach point: {links:?}");
    assert!(links.iter().all(|&n| n > 1), "{links:?}");
    drop(scry);
    // Every function's name comes back from its cookie.
    let (status, stdout, stderr) = run(&["-c", "sleep 0.1", "-e", script]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("@[clock_nanosleep]: 1"), "{stdout}");
    assert!(stdout.contains("@ret[clock_nanosleep]: 0"), "{stdout}");
    // "Attached N probes" counts the functions, as bpftrace does.
    let attached: u32 = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("Attached ")?
                .strip_suffix(" probes")?
                .parse()
                .ok()
        })
        .expect(&stderr);
    assert!(attached > 3, "{stderr}");
}

#[test]
fn a_uprobe_multi_link_honours_pid() {
    if !kernel() {
        return;
    }
    // One uprobe_multi link, scoped by the kernel to the process.
    let script = r#"uprobe:libc:clock_* { printf("%d %s\n", pid, func); }"#;
    let (pid, line) = scoped_to_one_process(script, |l| l.ends_with(" clock_nanosleep"));
    assert_eq!(line, format!("1 {pid} clock_nanosleep"));
}

#[test]
fn attach_points_take_quoted_paths_and_positional_parameters() {
    if !kernel() {
        return;
    }
    // A program in a directory whose name has a space, named in quotes.
    let dir = std::env::temp_dir().join(format!("scry quoted {}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("hello.c");
    std::fs::write(
        &source,
        "__attribute__((noinline)) int hello(int x) { return x + 1; }\nint main(void) { return hello(41) - 42; }\n",
    )
    .unwrap();
    let bin = dir.join("hello");
    let cc = std::process::Command::new("cc")
        .arg("-O1")
        .arg("-o")
        .arg(&bin)
        .arg(&source)
        .output()
        .expect("cc");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let bin = bin.to_str().unwrap();
    let script = format!(r#"uprobe:"{bin}":hello {{ printf("%s %d\n", probe, arg0); }}"#);
    let command = format!("'{bin}'");
    let (status, stdout, stderr) = run(&["-q", "-c", &command, "-e", &script]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("uprobe:{bin}:hello 41")),
        "{stdout}"
    );
    // `$1` and `$2` in an attach point are the script's arguments.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        &command,
        "-e",
        r#"uretprobe:$1:$2 { printf("%s returns %d\n", func, retval); }"#,
        bin,
        "hello",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.lines().any(|l| l == "hello returns 42"), "{stdout}");
    let (status, _, stderr) = run(&["-e", "interval:ms:$1 { exit(); }"]);
    assert!(!status.success());
    assert!(stderr.contains("uses $1, which is not given"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
