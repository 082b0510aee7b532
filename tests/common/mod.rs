//! Shared pieces of the end-to-end tests: running the built `scry`, reading its output as it
//! comes, and checking that nothing it loaded stays in the kernel.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Builds `tests/programs/NAME.c` with `cc` and `flags` into `out` (a path under the test
/// target's temporary directory); returns `out`.
pub fn build_program(name: &str, out: &str, flags: &[&str]) -> String {
    let source = format!("{}/tests/programs/{name}.c", env!("CARGO_MANIFEST_DIR"));
    let cc = Command::new("cc")
        .args(flags)
        .args(["-o", out, &source])
        .output()
        .expect("run cc");
    assert!(
        cc.status.success(),
        "cc {source}: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    out.to_string()
}

pub fn scry_bin() -> &'static str {
    env!("CARGO_BIN_EXE_scry")
}

/// True when this process may load BPF programs. Without that, kernel tests skip — unless
/// `SCRY_REQUIRE_KERNEL=1` (as in CI), where they must fail instead.
pub fn kernel() -> bool {
    if scry_runtime::privileges::can_trace() {
        return true;
    }
    if std::env::var("SCRY_REQUIRE_KERNEL").as_deref() == Ok("1") {
        panic!("SCRY_REQUIRE_KERNEL=1 but this process cannot load BPF programs (run as root)");
    }
    eprintln!("skipped: needs root to load BPF programs");
    false
}

/// Installs the Debian packages a test needs that are missing: each `(path, package)` where
/// `path` is a file the package installs. A fresh machine needs nothing but the test command.
pub fn debian_packages(wanted: &[(&str, &str)]) {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(path, _)| !std::path::Path::new(path).exists())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return;
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(["-qq", "-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = |apt: &dyn Fn(&[&str]) -> bool| {
        let mut args = vec!["install", "-y", "--no-install-recommends"];
        args.extend(&missing);
        apt(&args)
    };
    // The package lists of a fresh machine are empty until an update.
    if !install(&apt) {
        assert!(apt(&["update"]), "apt-get update failed");
        assert!(install(&apt), "apt-get install {missing:?} failed");
    }
    for (path, package) in wanted {
        assert!(
            std::path::Path::new(path).exists(),
            "{package} installed, but {path} is missing"
        );
    }
}

/// Starts scry with `args`, no stdin, and its output piped back.
fn spawn(args: &[&str]) -> Child {
    Command::new(scry_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scry")
}

/// Runs scry to completion with a deadline.
pub fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let child = spawn(args);
    let pid = child.id();
    let out = wait_with_deadline(child);
    assert_no_programs_left(pid);
    out
}

/// Runs scry to completion with `input` on its standard input (a pipe) and `env` set.
pub fn run_with_input(
    args: &[&str],
    env: &[(&str, &str)],
    input: &[u8],
) -> (ExitStatus, String, String) {
    use std::io::Write;
    let mut child = Command::new(scry_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scry");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write scry's input");
    drop(stdin);
    let out = wait_with_deadline(child);
    assert_no_programs_left(pid);
    out
}

fn wait_with_deadline(child: Child) -> (ExitStatus, String, String) {
    let pid = child.id() as i32;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let out = child.wait_with_output().expect("wait for scry");
        let _ = tx.send(out);
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out,
        Err(_) => {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("scry did not finish within {TIMEOUT:?}");
        }
    };
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Reads lines from `rx` into `seen` until one satisfies `pred`; panics on timeout or exit.
fn wait_for(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    pred: impl Fn(&str) -> bool,
    what: &str,
) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                seen.push(line.clone());
                if pred(&line) {
                    return line;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("{what} did not come in time; lines so far: {seen:#?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("scry exited before {what}; lines so far: {seen:#?}")
            }
        }
    }
}

/// A scry process running in the background, its output read line by line.
pub struct Running {
    child: Option<Child>,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    pub out_lines: Vec<String>,
    pub err_lines: Vec<String>,
}

fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let mut child = spawn(args);
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        Running {
            child: Some(child),
            stdout,
            stderr,
            out_lines: Vec::new(),
            err_lines: Vec::new(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits until scry reports its probes attached; panics with what it said otherwise.
    pub fn wait_attached(&mut self) {
        let Running {
            stderr, err_lines, ..
        } = self;
        wait_for(
            stderr,
            err_lines,
            |l| l.starts_with("Attached "),
            "the Attached message",
        );
    }

    /// Waits for a stdout line satisfying `pred`, keeping every line seen in `out_lines`.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let Running {
            stdout, out_lines, ..
        } = self;
        wait_for(stdout, out_lines, pred, "the expected output")
    }

    /// Reads what is left of stdout and stderr once scry has exited (the pipes close with the
    /// process, so the readers end after the last line).
    fn collect_rest(&mut self) {
        while let Ok(l) = self.stdout.recv_timeout(TIMEOUT) {
            self.out_lines.push(l);
        }
        while let Ok(l) = self.stderr.recv_timeout(TIMEOUT) {
            self.err_lines.push(l);
        }
    }

    /// If scry has exited: its status, with the rest of its output collected.
    pub fn try_finish(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        let pid = self.pid();
        self.child = None;
        self.collect_rest();
        assert_no_programs_left(pid);
        Some(status)
    }

    /// Sends SIGINT (Ctrl-C), waits for exit, and checks nothing was left in the kernel.
    pub fn interrupt(&mut self) -> ExitStatus {
        self.signal(libc::SIGINT)
    }

    /// Sends `signal`, waits for exit, and checks nothing was left in the kernel.
    pub fn signal(&mut self, signal: i32) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid as i32, signal) };
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for scry") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("scry did not exit after Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.collect_rest();
        assert_no_programs_left(pid);
        status
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// No BPF program loaded by the scry process `pid` remains (its programs are named
/// `scry<pid in hex>_<n>`), which is what `bpftool prog list` would show.
pub fn assert_no_programs_left(pid: u32) {
    if !scry_runtime::privileges::can_trace() {
        return;
    }
    // The kernel frees some programs after their process has gone (a uprobe_multi link's
    // after an RCU grace period), and scry leaves closing hundreds of probes' events to a
    // process of its own that closes them one by one (about 40 ms each): what is still there
    // a minute later was left.
    let mut left = programs_of(pid);
    for _ in 0..3000 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = programs_of(pid);
    }
    assert!(
        left.is_empty(),
        "programs left loaded after scry exited: {left:?}"
    );
}

/// The names of the programs scry process `pid` has loaded now.
pub fn programs_of(pid: u32) -> Vec<String> {
    let prefix = format!("scry{pid:x}_");
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|p| p.name_as_str().map(String::from))
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

/// Runs `path` with `args` and returns its pid once it has finished.
pub fn exec(path: &str, args: &[&str]) -> u32 {
    let mut child = Command::new(path)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("exec {path}: {e}"));
    let pid = child.id();
    child.wait().expect("wait");
    pid
}
