//! bpftrace's one-liner tutorial, lesson by lesson, against the real kernel. Each test drives
//! a workload it controls (a child with a known pid or a unique name) and checks the values
//! and layout printed, not just that something printed. Lessons 6–7 use the tracepoint forms
//! of `kprobe:vfs_read`, which this kernel lacks.

mod common;

use common::{kernel, run, Running};
use std::io::Write;
use std::process::{Command, Stdio};

/// A child that does nothing until told to: its pid is known before it does any work.
/// `go()` lets it run `command` (through `exec`, so the pid stays).
struct Held {
    child: std::process::Child,
}

impl Held {
    fn new(command: &str) -> Held {
        let child = Command::new("/bin/sh")
            .args(["-c", &format!("read _ && exec {command}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn a held child");
        Held { child }
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn go(mut self) {
        let mut stdin = self.child.stdin.take().expect("piped stdin");
        stdin.write_all(b"\n").expect("release the child");
        drop(stdin);
        assert!(self.child.wait().expect("child exits").success());
    }
}

/// A copy of a system binary under a name no other process has, for its `comm`.
fn unique_binary(original: &str, name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("scry-tutorial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::copy(original, &path).unwrap();
    path.to_str().unwrap().to_string()
}

/// The bucket lines of the histogram that follows `header` in `out`.
fn buckets<'a>(out: &'a [String], header: &str) -> Vec<&'a str> {
    let start = out
        .iter()
        .position(|l| l == header)
        .unwrap_or_else(|| panic!("no `{header}` in {out:?}"));
    out[start + 1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(String::as_str)
        .collect()
}

/// A bucket line's label and count, checking bpftrace's layout: label in 16 columns, count in
/// 8, then a 52-wide bar between pipes.
fn bucket(line: &str) -> (&str, u64) {
    assert_eq!(
        line.len(),
        16 + 8 + 2 + 52 + 1,
        "bucket line width: {line:?}"
    );
    assert!(
        line[24..].starts_with(" |") && line.ends_with('|'),
        "{line:?}"
    );
    (line[..16].trim_end(), line[16..24].trim().parse().unwrap())
}

#[test]
fn lesson_1_listing_probes() {
    if !kernel() {
        return;
    }
    let (status, out, _) = run(&["-l", "tracepoint:syscalls:sys_enter_*"]);
    assert!(status.success());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines
        .iter()
        .all(|l| l.starts_with("tracepoint:syscalls:sys_enter_")));
    assert!(lines.contains(&"tracepoint:syscalls:sys_enter_openat"));
    let events = std::fs::read_dir("/sys/kernel/tracing/events/syscalls")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("sys_enter_")
        })
        .count();
    assert_eq!(lines.len(), events);
}

#[test]
fn lesson_2_hello_world() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&["-e", r#"BEGIN { printf("hello world\n"); }"#]);
    assert!(status.success());
    assert_eq!(out, "hello world\n\n\n");
    assert_eq!(err, "Attached 1 probe\n");
}

#[test]
fn lesson_3_file_opens() {
    if !kernel() {
        return;
    }
    let path = std::env::temp_dir().join(format!("scry-lesson3-{}", std::process::id()));
    std::fs::write(&path, "x").unwrap();
    let path = path.to_str().unwrap().to_string();
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args.filename)); }"#,
    ]);
    scry.wait_attached();
    let cat = unique_binary("/bin/cat", "lesson3cat");
    assert!(Command::new(&cat)
        .arg(&path)
        .output()
        .unwrap()
        .status
        .success());
    let want = format!("lesson3cat {path}");
    scry.wait_line(|l| l == want);
    assert!(scry.interrupt().success());
}

#[test]
fn lesson_4_syscall_counts_by_process() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
    ]);
    scry.wait_attached();
    // 1000 one-byte reads and 1000 writes, plus what starting the program takes.
    let dd = unique_binary("/usr/bin/dd", "lesson4dd");
    let ok = Command::new(&dd)
        .args(["if=/dev/zero", "of=/dev/null", "bs=1", "count=1000"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(scry.interrupt().success());
    let line = scry
        .out_lines
        .iter()
        .find(|l| l.starts_with("@[lesson4dd]: "))
        .unwrap_or_else(|| panic!("{:?}", scry.out_lines));
    let n: u64 = line["@[lesson4dd]: ".len()..].parse().unwrap();
    assert!((2000..2300).contains(&n), "{line}");
    // Entries are sorted by count, smallest first.
    let counts: Vec<u64> = scry
        .out_lines
        .iter()
        .filter(|l| l.starts_with("@["))
        .map(|l| l.rsplit(": ").next().unwrap().parse().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
}

#[test]
fn lesson_5_read_size_distribution_for_a_pid() {
    if !kernel() {
        return;
    }
    let child = Held::new("/usr/bin/dd if=/dev/zero of=/dev/null bs=100 count=50");
    let script = format!(
        "tracepoint:syscalls:sys_exit_read /pid == {}/ {{ @bytes = hist(args.ret); }}",
        child.pid()
    );
    let mut scry = Running::start(&["-e", &script]);
    scry.wait_attached();
    child.go();
    assert!(scry.interrupt().success());
    let out = &scry.out_lines;
    let lines = buckets(out, "@bytes:");
    let found = lines
        .iter()
        .map(|l| bucket(l))
        .find(|(label, _)| *label == "[64, 128)");
    // dd's 50 reads of 100 bytes; the loader's reads of libraries are larger.
    assert_eq!(found, Some(("[64, 128)", 50)), "{lines:#?}");
    let full = lines
        .iter()
        .find(|l| l.starts_with("[64, 128)"))
        .unwrap()
        .to_string();
    assert_eq!(&full[24..], format!(" |{}|", "@".repeat(52)));
}

#[test]
fn lesson_6_linear_read_sizes() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        "tracepoint:syscalls:sys_exit_read { @bytes = lhist(args.ret, 0, 2000, 200); }",
    ]);
    scry.wait_attached();
    Held::new("/usr/bin/dd if=/dev/zero of=/dev/null bs=100 count=50").go();
    Held::new("/usr/bin/dd if=/dev/zero of=/dev/null bs=3000 count=5").go();
    assert!(scry.interrupt().success());
    let lines = buckets(&scry.out_lines, "@bytes:");
    let parsed: Vec<(&str, u64)> = lines.iter().map(|l| bucket(l)).collect();
    let labels: Vec<&str> = parsed.iter().map(|(l, _)| *l).collect();
    let count = |label: &str| parsed.iter().find(|(l, _)| *l == label).map(|(_, c)| *c);
    assert!(count("[0, 200)").unwrap() >= 50, "{lines:#?}");
    assert!(count("[2000, ...)").unwrap() >= 5, "{lines:#?}");
    // Every bucket between is printed, in order.
    let steps: Vec<String> = (0..2000)
        .step_by(200)
        .map(|lo| format!("[{lo}, {})", lo + 200))
        .collect();
    let first = labels.iter().position(|l| *l == "[0, 200)").unwrap();
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(labels.get(first + i), Some(&s.as_str()), "{labels:?}");
    }
}

#[test]
fn lesson_7_read_latency_by_process() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        "tracepoint:syscalls:sys_enter_read { @start[tid] = nsecs; } \
         tracepoint:syscalls:sys_exit_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start, tid); }",
    ]);
    scry.wait_attached();
    let dd = unique_binary("/usr/bin/dd", "lesson7dd");
    let ok = Command::new(&dd)
        .args(["if=/dev/zero", "of=/dev/null", "bs=100", "count=50"])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    assert!(scry.interrupt().success());
    let lines = buckets(&scry.out_lines, "@ns[lesson7dd]:");
    let total: u64 = lines.iter().map(|l| bucket(l).1).sum();
    assert!((50..60).contains(&total), "{lines:#?}");
    // Latencies are positive: no negative bucket.
    assert!(
        !lines.iter().any(|l| l.starts_with("(..., 0)")),
        "{lines:#?}"
    );
}

#[test]
fn lesson_8_count_tracepoints_until_an_interval_exits() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&[
        "-e",
        "tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }",
    ]);
    assert!(status.success(), "{err}");
    let probes = std::fs::read_dir("/sys/kernel/tracing/events/sched")
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    assert_eq!(err, format!("Attached {} probes\n", probes + 1));
    let entries: Vec<(&str, u64)> = out
        .lines()
        .filter_map(|l| l.strip_prefix("@[tracepoint:sched:"))
        .map(|l| {
            let (name, n) = l.split_once("]: ").unwrap();
            (name, n.parse().unwrap())
        })
        .collect();
    let switches = entries
        .iter()
        .find(|(n, _)| *n == "sched_switch")
        .unwrap()
        .1;
    assert!(switches > 0);
    assert!(entries.windows(2).all(|w| w[0].1 <= w[1].1), "{out}");
    assert!(out.starts_with("\n\n@["), "{out:?}");
}

/// Checks map entries keyed by a kernel stack: `@[`, frames as `    symbol+offset`, `]: N`.
fn assert_stack_keys(out: &[String]) -> Vec<String> {
    let mut frames = Vec::new();
    let mut entries = 0;
    let mut in_key = false;
    for l in out {
        if l == "@[" {
            in_key = true;
            entries += 1;
        } else if let Some(n) = l.strip_prefix("]: ") {
            assert!(in_key, "{out:?}");
            assert!(n.parse::<u64>().unwrap() > 0);
            in_key = false;
        } else if in_key {
            let frame = l.strip_prefix("    ").unwrap_or_else(|| panic!("{l:?}"));
            let (sym, off) = frame
                .rsplit_once('+')
                .unwrap_or_else(|| panic!("{frame:?}"));
            assert!(!sym.is_empty() && off.parse::<u64>().is_ok(), "{frame:?}");
            frames.push(sym.to_string());
        }
    }
    assert!(entries > 0, "{out:?}");
    frames
}

#[test]
fn lesson_9_profile_kernel_stacks() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&["-e", "profile:hz:99 { @[kstack] = count(); }"]);
    scry.wait_attached();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(scry.interrupt().success());
    assert_stack_keys(&scry.out_lines);
}

#[test]
fn lesson_10_scheduler_stacks() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        "tracepoint:sched:sched_switch { @[kstack] = count(); }",
    ]);
    scry.wait_attached();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(scry.interrupt().success());
    let frames = assert_stack_keys(&scry.out_lines);
    assert!(frames.iter().any(|f| f.contains("schedule")), "{frames:?}");
}

#[test]
fn lesson_11_block_io_sizes() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        "tracepoint:block:block_rq_issue { @ = hist(args.bytes); }",
    ]);
    scry.wait_attached();
    // 64 KiB written and flushed to the root disk with O_DIRECT-free writes plus fsync.
    let path = std::env::current_dir()
        .unwrap()
        .join(format!("target/scry-lesson11-{}", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&vec![7u8; 64 * 1024]).unwrap();
    f.sync_all().unwrap();
    drop(f);
    std::fs::remove_file(&path).unwrap();
    assert!(scry.interrupt().success());
    let lines = buckets(&scry.out_lines, "@:");
    let total: u64 = lines.iter().map(|l| bucket(l).1).sum();
    assert!(total >= 1, "{lines:#?}");
}
