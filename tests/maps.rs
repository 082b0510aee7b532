//! Maps end to end: every aggregation and key shape printed at exit in text and JSON, the map
//! functions, reading aggregations in a probe, lost-event reporting, and the same script through
//! bpftrace where it is installed.

mod common;

use common::{kernel, run, Running};
use std::process::{Command, Stdio};

/// Every aggregation, tuple and string keys, negative and overflow buckets.
const ALL_KINDS: &str = r#"BEGIN {
    @c = count(); @c2[1, "two"] = count(); @s["x"] = sum(5); @s["y"] = sum(-3);
    @a = avg(10); @a = avg(20); @mi = min(5); @mi = min(3); @ma = max(7);
    @st = stats(10); @st = stats(20);
    @h = hist(0); @h = hist(1); @h = hist(5); @h = hist(1000); @h = hist(2000000); @h = hist(-5);
    @l = lhist(5, 0, 100, 10); @l = lhist(55, 0, 100, 10); @l = lhist(-1, 0, 100, 10); @l = lhist(1000, 0, 100, 10);
    @hk["k"] = hist(3); @v = 5; @str = "text"; @m[5] = 1; @m[2] = 3; @m[10] = 2;
    exit();
}"#;

#[test]
fn every_aggregation_prints_like_bpftrace() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&["-e", ALL_KINDS]);
    assert!(status.success(), "{err}");
    let want = std::fs::read_to_string("tests/golden/all_kinds.txt").unwrap();
    assert_eq!(out, want);
}

#[test]
fn json_output() {
    if !kernel() {
        return;
    }
    let (status, out, err) = run(&[
        "-f",
        "json",
        "-e",
        r#"BEGIN { printf("hi \"there\"\n"); @c[1, "x"] = count(); @s = stats(3); @h = hist(3);
                   @hk["a"] = lhist(5, 0, 10, 1); @a = avg(4); @x[5] = 3; @str = "s"; exit(); }"#,
    ]);
    assert!(status.success(), "{err}");
    assert_eq!(err, "");
    let want = [
        r#"{"type": "attached_probes", "count": 1, "data": {"probes": 1}}"#,
        r#"{"type": "printf", "data": "hi \"there\"\n"}"#,
        r#"{"type": "stats", "data": {"@a": 4}}"#,
        r#"{"type": "map", "data": {"@c": {"1,x": 1}}}"#,
        r#"{"type": "hist", "data": {"@h": [{"min": 2, "max": 3, "count": 1}]}}"#,
        r#"{"type": "hist", "data": {"@hk": {"a": [{"min": 5, "max": 5, "count": 1}]}}}"#,
        r#"{"type": "stats", "data": {"@s": {"count": 1, "average": 3, "total": 3}}}"#,
        r#"{"type": "map", "data": {"@str": "s"}}"#,
        r#"{"type": "map", "data": {"@x": {"5": 3}}}"#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}

#[test]
fn map_functions_and_reads_in_probes() {
    if !kernel() {
        return;
    }
    let script = r#"BEGIN {
        @x[5] = 3; @x[7] = 1;
        printf("len %d has %d %d\n", len(@x), has_key(@x, 5), has_key(@x, 6));
        delete(@x, 5); delete(@x[7]); @x[9] = 2;
        printf("len %d missing %d\n", len(@x), @x[1]);
        @c = count(); @c = count(); @t = sum(40); @t = sum(2);
        @lo = min(9); @lo = min(4); @hi = max(4); @hi = max(9); @av = avg(3); @av = avg(6);
        printf("%d %d %d %d %d\n", @c, @t, @lo, @hi, @av);
        @name[1] = comm; printf("%s|%s|\n", @name[1], @name[2]);
        @z[1] = sum(5); zero(@z);
        @gone["a"] = 1; clear(@gone);
        @p[1] = 10; @p[2] = 20; @p[3] = 30; print(@p, 2, 10);
        exit();
    }"#;
    let (status, out, err) = run(&["-e", script]);
    assert!(status.success(), "{err}");
    let want = "len 2 has 1 0\nlen 1 missing 0\n2 42 4 9 4\nscry||\n@p[2]: 2\n@p[3]: 3\n\n\n\
                @av: 4\n@c: 2\n@hi: 9\n@lo: 4\n@name[1]: scry\n@p[1]: 10\n@p[2]: 20\n@p[3]: 30\n\
                @t: 42\n@x[9]: 2\n@z[1]: 0\n";
    assert_eq!(out, want);
}

/// A loop over a map inside a macro used as a value, itself inside printf's record: the loop's
/// callback must see the macro's variable, and the record must survive the loop.
#[test]
fn a_map_loop_inside_a_value_macro() {
    if !kernel() {
        return;
    }
    let script = r#"macro total(@m) { $s = 0; for ($kv : @m) { $s += $kv.1; } $s }
        BEGIN { @a[1] = 5; @a[2] = 7; printf("total %d of %d\n", total(@a), len(@a)); exit(); }"#;
    let (status, out, err) = run(&["-e", script]);
    assert!(status.success(), "{err}");
    assert_eq!(out.lines().next(), Some("total 12 of 2"), "{out}");
}

#[test]
fn stacks_in_printf_and_user_stacks() {
    if !kernel() {
        return;
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /tid == {tid}/ {{
               printf("k:%s|\n", kstack(2)); @u[ustack(3)] = count(); exit(); }}"#
    );
    let mut scry = Running::start(&["-e", &script]);
    scry.wait_attached();
    // A getppid from a process whose symbols are known: the test binary itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut status = None;
    while status.is_none() && std::time::Instant::now() < deadline {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() };
        std::thread::sleep(std::time::Duration::from_millis(20));
        status = scry.try_finish();
    }
    assert!(status.expect("exit() after the first getppid").success());
    let out = &scry.out_lines;
    assert_eq!(out[0], "k:");
    for frame in &out[1..3] {
        let f = frame
            .strip_prefix("        ")
            .unwrap_or_else(|| panic!("{out:?}"));
        assert!(f.contains('+'), "{out:?}");
    }
    assert_eq!(out[3], "|");
    let key = out.iter().position(|l| l == "@u[").unwrap();
    let frames: Vec<&String> = out[key + 1..]
        .iter()
        .take_while(|l| !l.starts_with("]"))
        .collect();
    assert!(!frames.is_empty() && frames.len() <= 3, "{out:?}");
    assert!(frames.iter().all(|f| f.starts_with("    ")), "{out:?}");
}

#[test]
fn a_full_ring_buffer_reports_lost_events() {
    // A record reserved in the ring at its full size.
    full_ring_counts_every_loss(
        "tracepoint:syscalls:sys_enter_getppid",
        r#"printf("%-100d\n", tid)"#,
        || {
            // SAFETY: getppid has no preconditions.
            unsafe { libc::getppid() };
        },
    );
}

#[test]
fn a_full_ring_buffer_reports_lost_records_sent_as_long_as_their_string() {
    // A record built aside and sent as far as its string reaches (`bpf_ringbuf_output`).
    full_ring_counts_every_loss(
        "tracepoint:syscalls:sys_enter_openat",
        r#"printf("%-100d %s\n", tid, str(args.filename))"#,
        || {
            // SAFETY: a NUL-terminated path; the call fails and opens nothing.
            unsafe { libc::openat(libc::AT_FDCWD, c"/nonexistent/scry-full".as_ptr(), 0) };
        },
    );
}

/// Runs `action` on `probe` for 200,000 calls of `call` from one thread, with nobody reading
/// scry's stdout until the burst is over: the pipe fills (1 MiB once scry grows it, and lines
/// of 100 bytes and more), scry blocks, the ring buffer fills, and the kernel side counts what
/// it drops. Every call is printed or counted lost.
fn full_ring_counts_every_loss(probe: &str, action: &str, call: fn()) {
    if !kernel() {
        return;
    }
    const CALLS: u64 = 200_000;
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let burst = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        go_rx.recv().unwrap();
        for _ in 0..CALLS {
            call();
        }
    });
    let tid = tid_rx.recv().unwrap();
    let script = format!("{probe} /tid == {tid}/ {{ {action}; }}");
    let mut child = Command::new(common::scry_bin())
        .args(["-e", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.starts_with("Attached"), "{line}");
    go_tx.send(()).unwrap();
    burst.join().unwrap();
    // Every event is in the ring or counted lost by now; Ctrl-C makes scry drain and stop
    // (an exit() record could itself be dropped by a full ring).
    // SAFETY: sending SIGINT to our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    let printed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count() as u64;
    let lost: u64 = rest
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Lost ")?
                .strip_suffix(" events")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(lost > 0, "printed {printed}, stderr {rest:?}");
    // And a summary at exit.
    let summary = format!("Lost {lost} events in all; {printed} were delivered.");
    assert!(
        rest.lines().any(|l| l.starts_with(&summary)),
        "{summary:?} in {rest:?}"
    );
    assert_eq!(
        printed + lost,
        CALLS,
        "every event is printed or counted lost"
    );
}

#[test]
fn same_output_as_bpftrace() {
    if !kernel() {
        return;
    }
    let Ok(bt) = Command::new("bpftrace")
        .args(["-e", ALL_KINDS])
        .stderr(Stdio::null())
        .output()
    else {
        eprintln!("bpftrace is not installed: skipping the comparison");
        return;
    };
    let theirs = String::from_utf8_lossy(&bt.stdout);
    // bpftrace 0.17 prints "Attaching N probes..." on stdout, a space after a histogram's
    // name, a blank line after avg and stats, and stats in its older layout; current bpftrace
    // (which scry follows) does not.
    let theirs: String = theirs
        .lines()
        .filter(|l| !l.starts_with("Attaching "))
        .map(|l| {
            let l = l
                .strip_suffix(": ")
                .map_or(l.to_string(), |h| format!("{h}:"));
            match l.strip_prefix("@st: count ") {
                Some(rest) => {
                    let v: Vec<&str> = rest.split(", ").collect();
                    format!(
                        "@st: {{ .count = {}, .average = {}, .total = {} }}",
                        v[0],
                        v[1].trim_start_matches("average "),
                        v[2].trim_start_matches("total ")
                    )
                }
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let theirs = theirs
        .replace("@a: 15\n\n", "@a: 15\n")
        .replace("total = 30 }\n\n", "total = 30 }\n");
    let (_, ours, _) = run(&["-e", ALL_KINDS]);
    assert_eq!(ours.trim_end(), theirs.trim_end());
}

/// Ctrl-C with hundreds of probes attached: the programs stop at once and the maps are printed,
/// and scry exits; closing the probes' events (about 40 ms each in the kernel) is left to a
/// process of scry's own, which keeps none of scry's output open (the test reads to the end of
/// both pipes) and leaves nothing loaded once done.
#[test]
fn ctrl_c_with_hundreds_of_probes_prints_the_maps_and_leaves_nothing() {
    if !kernel() {
        return;
    }
    let mut child = Command::new(common::scry_bin())
        .args([
            "-e",
            "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    let attached: usize = line
        .strip_prefix("Attached ")
        .and_then(|l| l.strip_suffix(" probes\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(attached >= 300, "{line}");
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    // SAFETY: sending SIGINT to our child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let getppid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("@[tracepoint:syscalls:sys_enter_getppid]: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(getppid.parse::<u64>().is_ok_and(|n| n >= 1), "{stdout}");
    common::assert_no_programs_left(pid);
}

/// A shell script's `scry … &` starts scry with SIGINT ignored; Ctrl-C's signal (`kill -INT`)
/// still stops it, with its maps printed.
#[test]
fn sigint_stops_scry_started_with_sigint_ignored() {
    if !kernel() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(common::scry_bin());
    command
        .args([
            "-e",
            "tracepoint:syscalls:sys_enter_getppid { @calls = count(); }",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.starts_with("Attached"), "{line}");
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    // SAFETY: sending SIGINT to our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("@calls: ")),
        "{stdout}"
    );
}

/// A thread pinned to one CPU that runs the functions it is given, one at a time.
struct Pinned {
    tid: i32,
    work: std::sync::mpsc::Sender<fn()>,
    done: std::sync::mpsc::Receiver<()>,
}

impl Pinned {
    fn on(cpu: usize) -> Pinned {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (work, work_rx) = std::sync::mpsc::channel::<fn()>();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: a zeroed cpu_set_t with one CPU set, for this thread; gettid has no
            // preconditions.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                tid_tx.send(libc::gettid()).unwrap();
            }
            while let Ok(f) = work_rx.recv() {
                f();
                let _ = done_tx.send(());
            }
        });
        Pinned {
            tid: tid_rx.recv().unwrap(),
            work,
            done,
        }
    }

    fn run(&self, f: fn()) {
        self.work.send(f).unwrap();
        self.done.recv().unwrap();
    }
}

/// Maps without keys are kept in one-entry per-CPU arrays: the CPUs' shares add up, `clear()`
/// empties them, and one never set is not printed at exit (`print()` shows its zero).
#[test]
fn keyless_aggregations_add_up_across_cpus_and_clear() {
    if !kernel() {
        return;
    }
    fn getppid_thrice() {
        for _ in 0..3 {
            // SAFETY: no preconditions.
            unsafe { libc::getppid() };
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (a, b) = (Pinned::on(0), Pinned::on(cpus - 1));
    let script = format!(
        r#"tracepoint:syscalls:sys_enter_getppid /tid == {a} || tid == {b}/ {{ @c = count(); @h = hist(5); }}
        tracepoint:syscalls:sys_enter_getppid /tid == {a}/ {{ @gone = max(1); }}
        tracepoint:syscalls:sys_enter_getppid /0/ {{ @unset = count(); }}
        tracepoint:syscalls:sys_enter_getpgid /tid == {a}/ {{ clear(@c); clear(@gone); print(@unset); printf("cleared\n"); }}"#,
        a = a.tid,
        b = b.tid
    );
    let mut scry = Running::start(&["-e", &script]);
    scry.wait_attached();
    a.run(getppid_thrice);
    b.run(getppid_thrice);
    a.run(|| {
        // SAFETY: no preconditions.
        unsafe { libc::getpgid(0) };
    });
    scry.wait_line(|l| l == "cleared");
    b.run(getppid_thrice);
    scry.interrupt();
    let out = scry.out_lines.join("\n");
    // Both CPUs' shares: 6 before the clear, 3 after; `@gone` was set only before it.
    assert!(out.contains("@unset: 0\n"), "{out}");
    assert!(out.contains("\n@c: 3"), "{out}");
    assert!(out.contains("[4, 8)                 9 |"), "{out}");
    assert!(!out.contains("@gone"), "{out}");
}
