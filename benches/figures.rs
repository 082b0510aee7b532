//! `cargo bench`: the figures of scry's performance targets, for scry alone or beside
//! bpftrace when it is installed: runs interleaved (scry, bpftrace, scry, …), medians, and
//! the ratio scry ÷ bpftrace. Workloads make a known number of events, and a run of scry
//! that loses any fails the benchmark. Needs root; `BENCH_ROUNDS` sets the rounds (5), `BENCH_ONLY`
//! the sections (`wanted`).
//!
//! Figures: start to exit of `BEGIN { exit(); }` (time, peak RSS); start to the first
//! `sys_enter_execve` event; in-kernel time per event of map and printf scripts (the kernel's
//! own BPF run statistics); printf lines delivered per second and user CPU per line; compile
//! time of bpftrace's execsnoop.bt; peak RSS of a tool loaded, attached and stopped; Ctrl-C
//! to the maps printed, with 360 probes.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tracer {
    Scry,
    Bpftrace,
}

impl Tracer {
    fn name(self) -> &'static str {
        match self {
            Tracer::Scry => "scry",
            Tracer::Bpftrace => "bpftrace",
        }
    }
    fn command(self) -> Command {
        let mut c = match self {
            Tracer::Scry => Command::new(env!("CARGO_BIN_EXE_scry")),
            Tracer::Bpftrace => Command::new("bpftrace"),
        };
        c.stdin(Stdio::null());
        c
    }
    /// The line that says the probes are attached, and on which stream.
    fn attached(self, line: &str) -> bool {
        match self {
            Tracer::Scry => line.starts_with("Attached "),
            Tracer::Bpftrace => line.starts_with("Attaching "),
        }
    }
}

/// A tracer running with both outputs read line by line, each line with its arrival time.
struct Running {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    count: Arc<AtomicU64>,
}

/// Waits (up to a minute) until no BPF program of scry process `pid` is loaded any more.
fn released(pid: u32) {
    let prefix = format!("scry{pid:x}_");
    for _ in 0..600 {
        let left = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .any(|p| p.name_as_str().is_some_and(|n| n.starts_with(&prefix)));
        if !left {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(t: Tracer, args: &[&str]) -> Running {
    let mut child = t
        .command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", t.name()));
    let (tx, lines) = mpsc::channel();
    let count = Arc::new(AtomicU64::new(0));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    for (stream, counted) in [
        (Box::new(out) as Box<dyn std::io::Read + Send>, true),
        (Box::new(err), false),
    ] {
        let tx = tx.clone();
        let count = count.clone();
        std::thread::spawn(move || {
            for line in BufReader::with_capacity(1 << 16, stream).lines() {
                let Ok(line) = line else { break };
                if counted && line.starts_with("line ") {
                    count.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
    }
    Running {
        child,
        lines,
        count,
    }
}

impl Running {
    fn wait_for(&self, pred: impl Fn(&str) -> bool) -> Instant {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok((at, line)) if pred(&line) => return at,
                Ok((_, line)) => seen.push(line),
                Err(_) => panic!("the expected line did not come; lines: {seen:?}"),
            }
        }
    }
    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
    /// Waits for the exit; the child's resource usage. A tracer that is still running 10 s
    /// after a signal gets SIGINT again (bpftrace 0.17 sometimes misses the first one).
    fn finish(mut self) -> (libc::rusage, Vec<String>) {
        let exited = |pid: u32| {
            // SAFETY: an all-zero siginfo_t is valid; WNOWAIT leaves the child to wait4.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            unsafe { libc::waitid(libc::P_PID, pid, &mut info, flags) == 0 && info.si_pid() != 0 }
        };
        // Looked at every millisecond, which is the resolution of the exit figures.
        let mut waited = 0;
        while !exited(self.child.id()) && waited < 30_000 {
            std::thread::sleep(Duration::from_millis(1));
            waited += 1;
            if waited % 10_000 == 0 {
                self.signal(libc::SIGINT);
            }
        }
        let usage = wait4(&mut self.child);
        // The readers end with the pipes, after the last line.
        let mut rest = Vec::new();
        while let Ok((_, l)) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(l);
        }
        (usage, rest)
    }
}

/// Waits for a child; its resource usage (peak RSS, CPU time).
fn wait4(child: &mut Child) -> libc::rusage {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    // Reaped already: this only settles the Child.
    let _ = child.wait();
    usage
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// One line of the table: each tracer's median, the ratio, the target.
struct Figure {
    name: String,
    unit: &'static str,
    values: Vec<(Tracer, f64)>,
    target: String,
}

fn report(figures: &[Figure]) {
    println!(
        "\n{:<58} {:>12} {:>12} {:>7}  target",
        "figure", "bpftrace", "scry", "ratio"
    );
    for f in figures {
        let of = |t| f.values.iter().find(|(x, _)| *x == t).map(|(_, v)| *v);
        let show = |v: Option<f64>| match v {
            Some(v) => format!("{v:.1} {}", f.unit),
            None => "—".to_string(),
        };
        let ratio = match (of(Tracer::Scry), of(Tracer::Bpftrace)) {
            (Some(s), Some(b)) if b > 0.0 => format!("{:.2}", s / b),
            _ => "—".to_string(),
        };
        println!(
            "{:<58} {:>12} {:>12} {:>7}  {}",
            f.name,
            show(of(Tracer::Bpftrace)),
            show(of(Tracer::Scry)),
            ratio,
            f.target
        );
    }
}

/// Runs `each` for every tracer, `rounds` times, interleaved; the medians.
fn interleaved(
    tracers: &[Tracer],
    rounds: usize,
    mut each: impl FnMut(Tracer) -> Vec<f64>,
) -> Vec<Vec<(Tracer, f64)>> {
    let mut samples: Vec<Vec<Vec<f64>>> = vec![Vec::new(); tracers.len()];
    for _ in 0..rounds {
        for (i, t) in tracers.iter().enumerate() {
            let v = each(*t);
            if std::env::var_os("BENCH_SAMPLES").is_some() {
                eprintln!("{} {v:?}", t.name());
            }
            if samples[i].is_empty() {
                samples[i] = vec![Vec::new(); v.len()];
            }
            for (k, x) in v.into_iter().enumerate() {
                samples[i][k].push(x);
            }
        }
    }
    let n = samples.first().map_or(0, Vec::len);
    (0..n)
        .map(|k| {
            tracers
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, median(samples[i][k].clone())))
                .collect()
        })
        .collect()
}

/// The ids of the BPF programs loaded now.
fn program_ids() -> Vec<u32> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|p| p.id())
        .collect()
}

/// Run time and run count of the programs loaded since `before`.
fn run_stats_since(before: &[u32]) -> (u64, u64) {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| !before.contains(&p.id()))
        .filter_map(|p| {
            let fd = p.fd().ok()?;
            scry_runtime::raw_prog::run_stats(fd.as_fd())
        })
        .fold((0, 0), |(t, c), (dt, dc)| (t + dt, c + dc))
}

/// A thread named `comm` (so scripts can filter on it) running `work` `n` times.
fn generator(comm: &str, n: u64, work: fn()) -> std::thread::JoinHandle<()> {
    let name = std::ffi::CString::new(comm).unwrap();
    std::thread::spawn(move || {
        // SAFETY: PR_SET_NAME with a NUL-terminated name of at most 15 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        for _ in 0..n {
            work();
        }
    })
}

fn getppid() {
    // SAFETY: no preconditions.
    unsafe { libc::getppid() };
}

fn read_devnull() {
    thread_local! {
        static NULL: std::fs::File = std::fs::File::open("/dev/null").unwrap();
    }
    NULL.with(|f| {
        use std::os::fd::AsRawFd;
        let mut b = [0u8; 1];
        // SAFETY: a valid fd and buffer.
        unsafe { libc::read(f.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
    });
}

fn open_missing() {
    // SAFETY: a NUL-terminated path.
    unsafe { libc::openat(libc::AT_FDCWD, c"/nonexistent/scry-bench".as_ptr(), 0) };
}

/// The workload's events in the lines figure; a quarter of them in the in-kernel ones.
const EVENTS: u64 = 200_000;

fn main() {
    if !scry_runtime::privileges::can_trace() {
        eprintln!("the benchmark needs root (it loads BPF programs)");
        std::process::exit(1);
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let mut tracers = vec![Tracer::Scry];
    if Command::new("bpftrace")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        tracers.push(Tracer::Bpftrace);
    } else {
        eprintln!("bpftrace is not installed: scry's figures only");
    }
    let stats_before = std::fs::read_to_string(STATS)
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut figures = Vec::new();
    let mut lost_any = false;

    if wanted("start") {
        // Start to exit, and peak RSS.
        let medians = interleaved(&tracers, rounds, |t| {
            let t0 = Instant::now();
            let mut child = t
                .command()
                .args(["-e", "BEGIN { exit(); }"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let usage = wait4(&mut child);
            vec![
                t0.elapsed().as_secs_f64() * 1e3,
                usage.ru_maxrss as f64 / 1024.0,
            ]
        });
        figures.push(Figure {
            name: "start→exit, BEGIN { exit(); }".into(),
            unit: "ms",
            values: medians[0].clone(),
            target: "≤ 0.025".into(),
        });
        figures.push(Figure {
            name: "  peak RSS".into(),
            unit: "MiB",
            values: medians[1].clone(),
            target: "≤ 0.10".into(),
        });
    }

    if wanted("first") {
        // Start to the first exec event, with a program executed every millisecond meanwhile.
        let stop = Arc::new(AtomicBool::new(false));
        let execs = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = Command::new("/bin/true").status();
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let medians = interleaved(&tracers, rounds, |t| {
            let t0 = Instant::now();
            let r = start(
                t,
                &[
                    "-e",
                    r#"tracepoint:syscalls:sys_enter_execve { printf("first\n"); exit(); }"#,
                ],
            );
            let at = r.wait_for(|l| l == "first");
            r.finish();
            vec![(at - t0).as_secs_f64() * 1e3]
        });
        stop.store(true, Ordering::Relaxed);
        execs.join().unwrap();
        figures.push(Figure {
            name: "start→first sys_enter_execve event".into(),
            unit: "ms",
            values: medians[0].clone(),
            target: "≤ 0.25".into(),
        });
    }

    if wanted("kernel") {
        // In-kernel time per event of map scripts and printf, from the kernel's statistics (on
        // only here: they cost a clock read per program run).
        let stats = Stats::enable(&stats_before);
        type Case = (&'static str, &'static str, fn(), &'static str);
        let kernel_cases: [Case; 4] = [
            (
                "in-kernel ns/event @[comm] = count() (raw_syscalls)",
                r#"tracepoint:raw_syscalls:sys_enter /comm == "scrybench"/ { @[comm] = count(); }"#,
                getppid,
                "≤ 0.5",
            ),
            (
                "in-kernel ns/event @ = hist(args->ret) (sys_exit_read)",
                r#"tracepoint:syscalls:sys_exit_read /comm == "scrybench"/ { @ = hist(args->ret); }"#,
                read_devnull,
                "≤ 0.4",
            ),
            (
                "in-kernel ns/event @[pid, comm] = count()",
                r#"tracepoint:raw_syscalls:sys_enter /comm == "scrybench"/ { @[pid, comm] = count(); }"#,
                getppid,
                "≤ 0.5",
            ),
            (
                "in-kernel ns/event printf(pid, comm, str(filename))",
                r#"tracepoint:syscalls:sys_enter_openat /comm == "scrybench"/ { printf("line %d %s %s\n", pid, comm, str(args->filename)); }"#,
                open_missing,
                "≤ 0.1",
            ),
        ];
        for (name, script, work, target) in kernel_cases {
            let medians = interleaved(&tracers, rounds, |t| {
                let before = program_ids();
                let r = start(t, &["-e", script]);
                r.wait_for(|l| t.attached(l));
                generator("scrybench", EVENTS / 4, work).join().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                let (ns, runs) = run_stats_since(&before);
                r.signal(libc::SIGINT);
                r.finish();
                // The predicate filters every other process's events out: time per event of the
                // workload's, the programs' whole time divided by their own events'.
                vec![ns as f64 / runs.max(1) as f64]
            });
            figures.push(Figure {
                name: name.into(),
                unit: "ns",
                values: medians[0].clone(),
                target: target.into(),
            });
        }

        drop(stats);
    }

    // The lines workload alone, untraced: what no tracer can deliver faster than.
    let mut untraced = None;
    if wanted("lines") {
        let mut rates: Vec<f64> = (0..rounds)
            .map(|_| {
                let t0 = Instant::now();
                generator("scrybench", EVENTS, open_missing).join().unwrap();
                EVENTS as f64 / t0.elapsed().as_secs_f64() / 1e3
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        untraced = Some(rates[rates.len() / 2]);
        // printf lines delivered: 200k openat as fast as possible; user CPU per line.
        let medians = interleaved(&tracers, rounds, |t| {
            let r = start(
                t,
                &[
                    "-e",
                    r#"tracepoint:syscalls:sys_enter_openat /comm == "scrybench"/ { printf("line %d %s %s\n", pid, comm, str(args->filename)); }"#,
                ],
            );
            r.wait_for(|l| t.attached(l));
            let cpu0 = proc_cpu(r.child.id());
            let t0 = Instant::now();
            generator("scrybench", EVENTS, open_missing).join().unwrap();
            // Until the lines stop coming.
            let mut last = (r.count.load(Ordering::Relaxed), Instant::now());
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let n = r.count.load(Ordering::Relaxed);
                if n == last.0 {
                    break;
                }
                last = (n, Instant::now());
            }
            let cpu = proc_cpu(r.child.id()) - cpu0;
            let lines = last.0;
            let took = (last.1 - t0).as_secs_f64();
            r.signal(libc::SIGINT);
            let (_, rest) = r.finish();
            let lost: u64 = rest
                .iter()
                .filter_map(|l| {
                    l.strip_prefix("Lost ")?
                        .split_whitespace()
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .max()
                .unwrap_or(0);
            if t == Tracer::Scry && (lost > 0 || lines < EVENTS) {
                eprintln!("scry lost events: {lines} of {EVENTS} lines, {lost} reported lost");
                lost_any = true;
            }
            vec![lines as f64 / took / 1e3, cpu / lines.max(1) as f64 * 1e6]
        });
        figures.push(Figure {
            name: "printf lines delivered, 200k openat as fast as possible".into(),
            unit: "k/s",
            values: medians[0].clone(),
            target: "≥ 5×, 0 lost".into(),
        });
        figures.push(Figure {
            name: "  user CPU per delivered line".into(),
            unit: "µs",
            values: medians[1].clone(),
            target: "≤ 0.1".into(),
        });
    }

    if wanted("compile") {
        // Compile only: bpftrace's execsnoop.bt.
        let execsnoop = "/usr/sbin/execsnoop.bt";
        if std::path::Path::new(execsnoop).exists() {
            let medians = interleaved(&tracers, rounds, |t| {
                let t0 = Instant::now();
                let ok = t
                    .command()
                    .args(["--emit-elf", "/dev/null", execsnoop])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(ok.success(), "{} --emit-elf {execsnoop}", t.name());
                vec![t0.elapsed().as_secs_f64() * 1e3]
            });
            figures.push(Figure {
                name: "compile only, bpftrace's execsnoop.bt".into(),
                unit: "ms",
                values: medians[0].clone(),
                target: "≤ 0.02".into(),
            });
            // Peak RSS of a tool loaded, attached and stopped.
            let medians = interleaved(&tracers, rounds, |t| {
                let r = start(t, &["/usr/sbin/syscount.bt"]);
                r.wait_for(|l| t.attached(l));
                r.signal(libc::SIGINT);
                let (usage, _) = r.finish();
                vec![usage.ru_maxrss as f64 / 1024.0]
            });
            figures.push(Figure {
                name: "peak RSS running a tool (syscount.bt: load, attach, exit)".into(),
                unit: "MiB",
                values: medians[0].clone(),
                target: "≤ 0.10".into(),
            });
        }
    }

    if wanted("ctrl-c") {
        // Ctrl-C to the maps printed, and to exit, with every syscall's enter tracepoint.
        let medians = interleaved(&tracers, rounds.min(3), |t| {
            let r = start(
                t,
                &[
                    "-e",
                    "tracepoint:syscalls:sys_enter_* { @[probe] = count(); }",
                ],
            );
            r.wait_for(|l| t.attached(l));
            std::thread::sleep(Duration::from_millis(200));
            let t0 = Instant::now();
            r.signal(libc::SIGINT);
            let maps = r.wait_for(|l| l.starts_with("@["));
            let pid = r.child.id();
            r.finish();
            let exited = t0.elapsed().as_secs_f64() * 1e3;
            // scry leaves closing the probes' events to a process of its own: the next run waits
            // until they are gone, so it does not attach while they are closed.
            released(pid);
            vec![(maps - t0).as_secs_f64() * 1e3, exited]
        });
        figures.push(Figure {
            name: "Ctrl-C → maps printed, sys_enter_* (360 probes)".into(),
            unit: "ms",
            values: medians[0].clone(),
            target: "≤ 1 s".into(),
        });
        figures.push(Figure {
            name: "  Ctrl-C → exit".into(),
            unit: "ms",
            values: medians[1].clone(),
            target: "≤ 2 s".into(),
        });
    }

    println!(
        "\n{} rounds, medians; ratio = scry ÷ bpftrace; {}",
        rounds,
        machine()
    );
    report(&figures);
    if let Some(rate) = untraced {
        let bpftrace = figures
            .iter()
            .find(|f| f.name.starts_with("printf lines delivered"))
            .and_then(|f| f.values.iter().find(|(t, _)| *t == Tracer::Bpftrace));
        let ratio = bpftrace.map_or(String::new(), |(_, b)| {
            format!(", {:.2}× bpftrace's delivered rate", rate / b)
        });
        println!(
            "\nThe lines workload alone, untraced: {rate:.1} k/s{ratio}, the most any tracer can deliver."
        );
    }
    if lost_any {
        eprintln!("\nFAILED: scry lost events");
        std::process::exit(1);
    }
}

/// Whether `BENCH_ONLY` (a comma-separated list of start, first, kernel, lines, compile,
/// ctrl-c) names this section of the figures; without it, every section runs.
fn wanted(section: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

/// `kernel.bpf_stats_enabled` on while it lives, back to what it was after, also on a panic.
struct Stats(String);

impl Stats {
    fn enable(before: &str) -> Stats {
        std::fs::write(STATS, "1").expect("enable BPF statistics");
        Stats(before.to_string())
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        let _ = std::fs::write(STATS, &self.0);
    }
}

const STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// A process's CPU time (user + system, all threads) in seconds, from /proc.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `after` starts at field 3.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz
}

/// The date, kernel and CPU, for the record.
fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("Linux {}, {cpus} × {cpu}", kernel.trim())
}
