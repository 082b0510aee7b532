//! Hostile sizes and bytes fail cleanly: deep nesting, huge literals, tuples and scripts,
//! random bytes, invalid UTF-8, empty scripts. Each one is an error of a few lines naming the
//! place (a long line is cut around it), exit status 1, in seconds, and never a panic or a
//! crash. None needs the kernel: each stops before anything is loaded.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than the other tests' deadline: a debug build parses 100,000 probes in ~10 s.
const DEADLINE: Duration = Duration::from_secs(90);

/// Runs scry on a script file holding `bytes`; returns its exit code and stderr.
fn run_script(name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let path = format!("{}/hostile-{name}.bt", env!("CARGO_TARGET_TMPDIR"));
    std::fs::write(&path, bytes).unwrap();
    let elf = format!("{path}.o");
    let _ = std::fs::remove_file(&elf);
    let mut child = Command::new(env!("CARGO_BIN_EXE_scry"))
        .args(["--emit-elf", &elf, &path])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scry");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("{name}: scry did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.stdout.is_empty(), "{name}: stdout {:?}", out.stdout);
    let written = std::path::Path::new(&elf).exists();
    assert_eq!(
        written,
        out.status.success(),
        "{name}: an object is written on success only"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let repeat = |s: &str, n: usize| s.repeat(n);
    vec![
        (
            "nested-parentheses",
            format!("BEGIN {{ $x = {}1{}; }}", repeat("(", 20_000), repeat(")", 20_000)).into(),
            ":1:113: error: brackets nest more than 100 deep here",
        ),
        (
            "nested-ifs",
            format!("BEGIN {{ {}{} }}", repeat("if (1) { ", 20_000), repeat("}", 20_000)).into(),
            "error: brackets nest more than 100 deep here",
        ),
        (
            "long-sum",
            format!("BEGIN {{ $x = 1{}; }}", repeat(" + 1", 100_000)).into(),
            ":1:14: error: this nests more than 200 expressions or statements deep",
        ),
        (
            "2mb-string",
            format!("BEGIN {{ printf(\"%s\\n\", \"{}\"); }}", repeat("a", 2_000_000)).into(),
            ":1:24: error: BEGIN: a value here is too far into its memory",
        ),
        (
            "100k-probes",
            (0..100_000)
                .map(|i| format!("interval:s:1 {{ @c{i} = count(); }}\n"))
                .collect::<String>()
                .into(),
            "error: the program compiles to 100000 BPF programs, more than max_bpf_progs (1024)",
        ),
        (
            "10k-tuple",
            format!("BEGIN {{ $t = ({}); print($t); }}", vec!["1"; 10_000].join(",")).into(),
            ":1:1: error: BEGIN: the program needs 80000 bytes of working memory; at most 32768 are possible",
        ),
        (
            "random-bytes",
            // A fixed sequence that is not UTF-8 at its third byte.
            (0..5000u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            "error: ",
        ),
        (
            "invalid-utf8-in-a-string",
            b"BEGIN {\n  printf(\"\xff\xfe\\n\");\n}\n".to_vec(),
            "hostile-invalid-utf8-in-a-string.bt:2:11: error: the script is not UTF-8 text (byte 0xff)",
        ),
        (
            "empty",
            Vec::new(),
            ":1:1: error: the program has no probes",
        ),
        (
            "only-comments",
            b"// nothing\n/* but\n   comments */\n".to_vec(),
            ":1:1: error: the program has no probes",
        ),
        (
            "unterminated-string",
            format!("BEGIN {{ printf(\"{}", repeat("x", 100_000)).into(),
            "error: ",
        ),
        (
            "unterminated-comment",
            format!("BEGIN {{ /* {}", repeat("x", 100_000)).into(),
            "error: ",
        ),
        (
            "nul-bytes",
            b"BEGIN { printf(\"a\0b\"); \0 }".to_vec(),
            "error: ",
        ),
    ]
}

#[test]
fn hostile_inputs_fail_cleanly() {
    for (name, bytes, wanted) in cases() {
        let (code, err) = run_script(name, &bytes);
        assert_eq!(code, Some(1), "{name}: exit status; stderr {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(err.contains(wanted), "{name}: wanted {wanted:?} in {err}");
        // A few lines, whatever the size of the input.
        assert!(err.len() < 2_000, "{name}: {} bytes of stderr", err.len());
        assert!(err.lines().count() <= 8, "{name}: {err}");
    }
}

#[test]
fn huge_but_valid_programs_compile() {
    let cases: [(&str, String); 2] = [
        (
            "long-identifier",
            format!(
                "BEGIN {{ ${} = 1; @{} = 2; }}",
                "v".repeat(1_000_000),
                "m".repeat(100_000)
            ),
        ),
        (
            "many-statements",
            format!("BEGIN {{ {} }}", "@n = @n + 1; ".repeat(2_000)),
        ),
    ];
    for (name, text) in cases {
        let (code, err) = run_script(name, text.as_bytes());
        assert_eq!(code, Some(0), "{name}: {err}");
    }
}
