//! Bad input gets a located message, a hint where one helps, exit status 1, and never a panic
//! or a probe left behind.

mod common;

use common::{kernel, run};

/// Runs a one-liner that must fail; returns its stderr.
fn fails(script: &str) -> String {
    let (status, out, err) = run(&["-e", script]);
    assert_eq!(
        status.code(),
        Some(1),
        "exit status 1 for {script}; stderr: {err}"
    );
    assert_eq!(out, "");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn unknown_identifier_suggests_args() {
    if !kernel() {
        return;
    }
    let err =
        fails(r#"tracepoint:syscalls:sys_enter_execve { printf("%s\n", str(argv->filename)); }"#);
    assert_eq!(
        err,
        "stdin:1:59: error: unknown identifier `argv`\n\
         tracepoint:syscalls:sys_enter_execve { printf(\"%s\\n\", str(argv->filename)); }\n\
         \x20                                                         ^^^^\n\
         \x20 hint: did you mean `args`?\n"
    );
}

#[test]
fn unknown_field_lists_the_fields() {
    if !kernel() {
        return;
    }
    let err =
        fails(r#"tracepoint:syscalls:sys_enter_execve { printf("%s\n", str(args.filenam)); }"#);
    assert!(
        err.starts_with(
            "stdin:1:64: error: tracepoint:syscalls:sys_enter_execve has no field `filenam`\n"
        ),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `filename`?"), "{err}");
    assert!(
        err.contains(
            "tracepoint:syscalls:sys_enter_execve has: __syscall_nr, filename, argv, envp"
        ),
        "{err}"
    );
}

#[test]
fn unknown_tracepoint_names_the_nearest() {
    if !kernel() {
        return;
    }
    let err = fails("tracepoint:syscalls:sys_enter_exceve { }");
    assert!(
        err.starts_with(
            "stdin:1:1: error: tracepoint not found: tracepoint:syscalls:sys_enter_exceve\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: did you mean tracepoint:syscalls:sys_enter_execve?"),
        "{err}"
    );
    let err = fails("tracepoint:nosuchcategory:* { }");
    assert!(
        err.contains("error: no tracepoint matches `tracepoint:nosuchcategory:*`"),
        "{err}"
    );
}

#[test]
fn syntax_errors_point_at_the_problem() {
    // Parsing needs no kernel: this runs anywhere.
    let (status, _, err) = run(&["-e", "BEGIN { printf(\"a\") printf(\"b\") }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.starts_with("stdin:1:21: error: syntax error: unexpected `printf`"),
        "{err}"
    );
    assert!(
        err.contains("hint: statements are separated by `;`"),
        "{err}"
    );

    let (status, _, err) = run(&["-e", "BEGIN { printf(\"\\q\"); }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.starts_with("stdin:1:17: error: unknown escape `\\q`"),
        "{err}"
    );
}

#[test]
fn errors_in_a_script_file_name_the_file_and_line() {
    // Checking a script of BEGIN and END needs no privileges: this runs anywhere.
    let path = std::env::temp_dir().join(format!("scry-test-{}-bad.bt", std::process::id()));
    std::fs::write(&path, "BEGIN {\n  printf(\"%d %s\\n\", comm, pid);\n}\n").unwrap();
    let (status, _, err) = run(&[path.to_str().unwrap()]);
    assert_eq!(status.code(), Some(1));
    let file = path.display();
    assert!(
        err.contains(&format!(
            "{file}:2:21: error: printf: %d expects an integer, but this is string[16]\n"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:2:27: error: printf: %s expects a string, but this is uint32\n"
        )),
        "{err}"
    );
}

#[test]
fn printf_argument_count_is_checked() {
    // Checking a script of BEGIN and END needs no privileges: this runs anywhere.
    let err = fails(r#"BEGIN { printf("%d %d\n", 1); }"#);
    assert!(
        err.starts_with(
            "stdin:1:20: error: printf: the format has 2 conversions but 1 argument follows\n"
        ),
        "{err}"
    );
    assert!(
        err.contains("\n                   ^^\n"),
        "the caret is under the second %d: {err}"
    );
    let err = fails(r#"BEGIN { printf("%k\n", 1); }"#);
    assert!(err.contains("unknown printf conversion `%k`"), "{err}");
}

#[test]
fn unknown_probe_types_say_which_there_are() {
    // Checking a script of BEGIN and END needs no privileges: this runs anywhere.
    let err = fails("tracepiont:syscalls:sys_enter_read { }");
    assert!(
        err.contains("error: unknown probe type `tracepiont`"),
        "{err}"
    );
    assert!(err.contains("hint: did you mean `tracepoint`?"), "{err}");
    let err = fails("zzzzzzzzzz:x { }");
    assert!(err.contains("hint: probe types: BEGIN, END,"), "{err}");
    assert!(err.contains(", usdt,"), "{err}");
}

#[test]
fn a_failed_attach_releases_the_probes_already_attached() {
    if !kernel() {
        return;
    }
    // ftrace's own events have format files but refuse BPF programs: the first probe attaches,
    // the second fails, and `run` checks that nothing stays loaded.
    let err = fails("tracepoint:syscalls:sys_enter_openat { } tracepoint:ftrace:function { }");
    assert!(
        err.starts_with("stdin:1:42: error: attaching tracepoint:ftrace:function"),
        "{err}"
    );
}

#[test]
fn without_privileges_one_clear_line() {
    if !kernel() {
        return;
    }
    // Run a copy of scry as `nobody`, which has no BPF rights.
    let dir = std::env::temp_dir().join(format!("scry-test-{}-nobody", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("scry");
    std::fs::copy(common::scry_bin(), &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(&bin)
        .args(["-e", "tracepoint:syscalls:sys_enter_execve { }"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "scry: error: scry needs root (or the CAP_BPF and CAP_PERFMON capabilities) to load BPF programs\n"
    );
}

#[test]
fn language_errors_name_the_construct_and_suggest_a_fix() {
    // Checking a script of BEGIN and END needs no privileges: this runs anywhere.
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"BEGIN { if (comm < "a") { exit(); } }"#,
            "stdin:1:13: error: strings cannot be compared with `<`",
            "hint: strings support == and !=",
        ),
        (
            "BEGIN { @h[1] = hist(1); for ($kv : @h) { } }",
            "stdin:1:37: error: @h holds hist(), which has no single value to iterate over",
            "hint: print it with `print(@h)`",
        ),
        (
            "BEGIN { @n = 1; for ($kv : @n) { } }",
            "stdin:1:28: error: @n has no keys to iterate over",
            "hint: read it directly: `@n`",
        ),
        (
            "BEGIN { break; }",
            "stdin:1:9: error: `break` outside a loop",
            "hint: use `return`",
        ),
        (
            r#"BEGIN { system("id"); }"#,
            "stdin:1:9: error: system() is unsafe",
            "hint: run scry with --unsafe",
        ),
        (
            "BEGIN { printf(\"%d\\n\", curtask->real_parnet->pid); }",
            "stdin:1:33: error: struct task_struct has no member `real_parnet`",
            "hint: did you mean `real_parent`?",
        ),
        (
            "BEGIN { $p = (struct task_struct)0; }",
            "stdin:1:15: error: cannot cast to struct task_struct",
            "hint: a struct is reached through a pointer",
        ),
        (
            "BEGIN { let $x: uint8 = 300; }",
            "stdin:1:25: error: this int64 does not fit a variable declared uint8",
            "hint: the value is out of range for uint8",
        ),
        (
            "BEGIN { $x = 1; $x = \"s\"; }",
            "stdin:1:17: error: type mismatch: $x holds int64, but this assigns string[2]",
            "hint: a variable's type is fixed",
        ),
        (
            "BEGIN { unroll(101) { } }",
            "stdin:1:16: error: unroll's count must be between 1 and 100",
            "",
        ),
        (
            "BEGIN { $s = \"ab\"; printf(\"%d\\n\", $s[5]); }",
            "stdin:1:38: error: the index 5 is out of bounds for a string[3]",
            "",
        ),
        (
            "macro m(x) { $y = x; } BEGIN { $v = m(1); }",
            "stdin:1:37: error: macro m has no value",
            "hint: end its body with an expression",
        ),
        (
            "BEGIN { printf(\"%d\\n\", retval); }",
            "stdin:1:24: error: `retval` is not available in a BEGIN probe",
            "hint: `retval` is provided by fexit, kretprobe and uretprobe probes",
        ),
        (
            "config = { max_strlen = 1 } BEGIN { }",
            "stdin:1:12: error: max_strlen takes a number from 2 to 32768",
            "",
        ),
    ];
    for (script, first, hint) in cases {
        let err = fails(script);
        assert!(err.starts_with(first), "{script}\n{err}");
        assert!(err.contains(hint), "{script}\n{err}");
    }
}

/// Inputs that once crashed scry (a stack overflow, an arithmetic overflow, an offset that
/// wrapped): each is now a located error with exit status 1. None needs the kernel.
#[test]
fn inputs_that_once_crashed_get_a_located_error() {
    let long = "a".repeat(40_000);
    let long_literal = format!("BEGIN {{ printf(\"%s\\n\", \"{long}\"); }}");
    let chain = format!("BEGIN {{ $x = {}; }}", vec!["1"; 5000].join(" + "));
    let parens = format!(
        "BEGIN {{ $x = {}1{}; }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let cases: &[(&str, &str)] = &[
        (
            &chain,
            "stdin:1:14: error: this nests more than 200 expressions or statements deep",
        ),
        (
            &parens,
            "stdin:1:113: error: brackets nest more than 100 deep here",
        ),
        (
            "#define A B\n#define B A\nBEGIN { printf(\"%d\\n\", A); }",
            "stdin:2:11: error: #define A refers to itself",
        ),
        (
            "#define A (A+1)\nBEGIN { printf(\"%d\\n\", A); }",
            "stdin:1:12: error: #define A refers to itself",
        ),
        (
            "BEGIN { @h = lhist(1, -9223372036854775807, 9223372036854775807, 1); }",
            "stdin:1:14: error: lhist may have at most 1000 buckets",
        ),
        (
            "struct foo { char a[4294967295]; char b[2]; } BEGIN { exit(); }",
            "stdin:1:14: error: a is larger than 2 GiB",
        ),
        (
            "struct foo { char a[2000000000]; char b[2000000000]; } BEGIN { exit(); }",
            "stdin:1:34: error: struct foo is larger than 2 GiB",
        ),
        (
            "BEGIN { let $a: uint64[536870912]; exit(); }",
            "stdin:1:17: error: uint64[536870912] is larger than 2 GiB",
        ),
        ("", "stdin:1:1: error: the program has no probes"),
        (
            "// only a comment\n#define X 1\n",
            "stdin:1:1: error: the program has no probes",
        ),
        (
            "BEGIN { exit(1, 2); }",
            "stdin:1:9: error: exit() takes at most 1 argument, not 2",
        ),
        (
            &long_literal,
            "stdin:1:24: error: BEGIN: a value here is too far into its memory",
        ),
    ];
    for (script, first) in cases {
        let err = fails(script);
        assert!(
            err.starts_with(first),
            "{}\n{err}",
            &script[..script.len().min(80)]
        );
    }
}

/// Each bracket is parsed once: 99 nested parentheses took 2^99 steps when `(e)` and tuples were
/// separate alternatives. Compiling needs no kernel.
#[test]
fn nesting_is_parsed_in_linear_time() {
    let script = format!(
        "BEGIN {{ printf(\"%d\\n\", {}1{}); exit(); }}",
        "(".repeat(97),
        ")".repeat(97)
    );
    let (status, _, err) = run(&["--emit-elf", "/dev/null", "-e", &script]);
    assert!(status.success(), "{err}");
}

/// A reader that stops early (`scry … 2>&1 | head`) is no crash: the error still exits 1.
#[test]
fn a_closed_stderr_is_not_a_panic() {
    use std::io::Read;
    // An error message far larger than a pipe holds: writing it meets the closed pipe.
    let script = format!("BEGIN {{ $x = {}; }}", vec!["1"; 100_000].join(" + "));
    let mut child = std::process::Command::new(common::scry_bin())
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    drop(stdin);
    let mut first = [0u8; 16];
    let mut stderr = child.stderr.take().unwrap();
    stderr.read_exact(&mut first).unwrap();
    drop(stderr);
    let status = child.wait().unwrap();
    assert_eq!(&first, b"stdin:1:14: erro");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn no_program_and_no_terminal_points_at_the_repl() {
    // `run` gives scry no terminal (stdin is /dev/null): no REPL starts by itself.
    let (status, out, err) = run(&[]);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(out, "");
    assert!(
        err.contains("no program given") && err.contains("--repl"),
        "{err}"
    );
}

#[test]
fn ctx_and_usermode_name_the_probes_that_have_them() {
    if !kernel() {
        return;
    }
    let err = fails("tracepoint:syscalls:sys_enter_read { print(ctx); }");
    assert!(
        err.starts_with("stdin:1:44: error: `ctx` is not available in tracepoint probes\n"),
        "{err}"
    );
    assert!(err.contains("hint: use `args` instead of `ctx`"), "{err}");
    let err = fails("BEGIN { print(ctx); }");
    assert!(
        err.contains("`ctx` is not available in BEGIN probes")
            && err.contains("hint: kprobe, uprobe, usdt, profile, interval, software and iter"),
        "{err}"
    );
    let err = fails("tracepoint:syscalls:sys_enter_read { print(usermode); }");
    assert!(
        err.contains("`usermode` reads the CS register, which tracepoint probes do not have"),
        "{err}"
    );
}

#[test]
fn debugf_takes_the_kernels_printf() {
    if !kernel() {
        return;
    }
    let err = fails(r#"BEGIN { debugf("%f", 1); }"#);
    assert!(
        err.starts_with("stdin:1:16: error: the kernel's printf has no conversion `f` here\n"),
        "{err}"
    );
    assert!(err.contains("hint: debugf takes %d %i %u %x %X"), "{err}");
    let err = fails(r#"BEGIN { debugf("%s", 1); }"#);
    assert!(err.contains("%s takes a string, not int64"), "{err}");
    let err = fails(r#"BEGIN { debugf("%d %d", 1); }"#);
    assert!(
        err.contains("debugf's format has 2 conversions but 1 arguments follow it"),
        "{err}"
    );
}
