//! The kernel matrix: the kernels our users run, booted here under QEMU (TCG: this machine has
//! no nested KVM) with scry freshly built (optimised), running `tests/guest/matrix.sh` inside. Each guest
//! reports one `GUEST-RESULT ok|FAIL name` line per check on its serial console; a failure
//! fails the test and prints the guest's log.
//!
//! The kernels are Debian's stock cloud images (their meta packages, resolved to the current
//! version), downloaded once into the target directory's cache; QEMU, busybox and cpio are
//! installed when missing. This machine lacks kprobes and trampolines, so this is where they
//! are tested for real.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A guest that takes longer than this is stuck.
const GUEST_TIMEOUT: Duration = Duration::from_secs(600);

fn cache() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kernels");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn setup() {
    common::debian_packages(&[
        ("/usr/bin/qemu-system-x86_64", "qemu-system-x86"),
        ("/usr/bin/busybox", "busybox-static"),
        ("/usr/bin/cpio", "cpio"),
        // bpftrace's tools, which the matrix runs unchanged.
        ("/usr/sbin/tcpconnect.bt", "bpftrace"),
    ]);
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The kernel package a meta package (`linux-image-cloud-amd64`) stands for now.
fn versioned(meta: &str) -> String {
    let depends = |update: bool| {
        if update {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        }
        Command::new("apt-cache")
            .args(["depends", meta])
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("Depends: ").map(String::from))
            })
    };
    depends(false)
        .or_else(|| depends(true))
        .unwrap_or_else(|| panic!("apt-cache knows no {meta}"))
}

/// The kernel image of the package, downloaded and unpacked once.
fn kernel(meta: &str) -> (String, PathBuf) {
    let package = versioned(meta);
    let dir = cache().join(&package);
    let boot = dir.join("boot");
    if !boot.is_dir() {
        let debs = cache().join("debs");
        std::fs::create_dir_all(&debs).unwrap();
        run(Command::new("apt-get")
            .args(["download", "-qq", &package])
            .current_dir(&debs));
        let deb = std::fs::read_dir(&debs)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{package}_")))
            })
            .expect("the downloaded .deb");
        let unpacking = cache().join(format!("{package}.partial"));
        let _ = std::fs::remove_dir_all(&unpacking);
        run(Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacking));
        std::fs::rename(&unpacking, &dir).unwrap();
    }
    let vmlinuz = std::fs::read_dir(&boot)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz"))
        })
        .expect("vmlinuz in the package");
    (package, vmlinuz)
}

/// The shared libraries a binary loads, as `ldd` finds them.
fn libraries(binary: &str) -> Vec<PathBuf> {
    run(Command::new("ldd").arg(binary))
        .lines()
        .filter_map(|l| {
            let path = l
                .split("=>")
                .nth(1)
                .unwrap_or(l)
                .split_whitespace()
                .next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// scry as users run it, optimised (`--profile guest`: release without LTO), built once; under
/// TCG a debug build takes seconds to start.
fn guest_scry() -> &'static Path {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        run(Command::new(cargo)
            .args([
                "build",
                "-q",
                "--profile",
                "guest",
                "--bin",
                "scry",
                "--manifest-path",
            ])
            .arg(&manifest));
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
        target.join("guest/scry")
    })
}

/// An initramfs: busybox, scry and its libraries, the matrix, bpftrace's tools, and a module of
/// the kernel's (`dummy`, which has no dependencies) for the module checks.
fn initramfs(name: &str, kernel_dir: &Path) -> PathBuf {
    let root = cache().join(format!("root-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/usr/bin/busybox", root.join("bin/busybox")).unwrap();
    let scry = guest_scry();
    std::fs::copy(scry, root.join("bin/scry")).unwrap();
    for lib in libraries(scry.to_str().unwrap()) {
        let to = root.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&lib, &to).unwrap();
    }
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest");
    std::fs::copy(guest.join("init.sh"), root.join("init")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The matrix and the triggers it runs.
    for e in std::fs::read_dir(&guest).unwrap().filter_map(Result::ok) {
        let name = e.file_name();
        if name != "init.sh" && e.path().extension().is_some_and(|x| x == "sh") {
            std::fs::copy(e.path(), root.join(name)).unwrap();
        }
    }
    // A Unix stream socket read, for undump.bt: a small C program, static (the guest has no
    // C library but scry's).
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/unix_stream.c");
    run(Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(root.join("bin/unix_stream"))
        .arg(source));
    // The EDR toolkit and its workload program, for the `edr-*` checks.
    std::fs::create_dir_all(root.join("examples")).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for e in std::fs::read_dir(&examples).unwrap().filter_map(Result::ok) {
        if e.path().extension().is_some_and(|x| x == "bt") {
            std::fs::copy(e.path(), root.join("examples").join(e.file_name())).unwrap();
        }
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/edr.c");
    run(Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(root.join("bin/edr"))
        .arg(source));
    // `dummy.ko`, unpacked when the package compresses its modules.
    let module = run(Command::new("find")
        .arg(kernel_dir.join("lib/modules"))
        .args(["-name", "dummy.ko*"]));
    let module = module
        .lines()
        .next()
        .expect("dummy.ko in the kernel package");
    let unpacked = if module.ends_with(".xz") {
        Command::new("xz")
            .args(["-dc", module])
            .output()
            .expect("xz")
            .stdout
    } else {
        std::fs::read(module).unwrap()
    };
    std::fs::write(root.join("dummy.ko"), unpacked).unwrap();
    // bpftrace's tools as Debian's package installs them.
    std::fs::create_dir_all(root.join("tools")).unwrap();
    for e in std::fs::read_dir("/usr/sbin")
        .unwrap()
        .filter_map(Result::ok)
    {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "bt") {
            std::fs::copy(&path, root.join("tools").join(e.file_name())).unwrap();
        }
    }
    let image = cache().join(format!("initrd-{name}.gz"));
    run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find . | cpio -o -H newc --quiet | gzip -1 > {}",
            image.display()
        ))
        .current_dir(&root));
    image
}

/// `SCRY_GUEST_ONLY=REGEX` runs only the checks whose names match (for working on one), as
/// `scry.only=` on the guest's command line; the run then leaves docs/kernels.md unchecked.
fn only() -> Option<String> {
    std::env::var("SCRY_GUEST_ONLY")
        .ok()
        .filter(|s| !s.is_empty())
}

fn only_arg() -> String {
    only()
        .map(|r| format!(" scry.only={r}"))
        .unwrap_or_default()
}

/// Boots the kernel with the initramfs; returns the serial console's lines.
fn boot(vmlinuz: &Path, initrd: &Path) -> Vec<String> {
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            // One host thread for both vCPUs: with multi-threaded TCG a vCPU can run a stale
            // translation of code another vCPU just patched, and the kernel's live patching
            // of static keys (enabling syscall tracepoints) then dies on a leftover int3
            // ("Oops: int3" in syscall_trace_enter, seen on 6.12).
            "-accel",
            "tcg,thread=single",
            "-cpu",
            "max",
            "-m",
            "1024",
            "-smp",
            "2",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            &format!("console=ttyS0 rdinit=/init quiet panic=-1{}", only_arg()),
            "-nographic",
            "-no-reboot",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-system-x86_64");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + GUEST_TIMEOUT;
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                lines.push(format!(
                    "(the guest did not finish within {GUEST_TIMEOUT:?})"
                ));
                break;
            }
        }
    }
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    lines.extend(err.lines().map(|l| format!("qemu: {l}")));
    lines
}

/// Boots one kernel of the matrix and requires every check in it to pass.
fn matrix(meta: &str, name: &str) {
    setup();
    let (package, vmlinuz) = kernel(meta);
    let initrd = initramfs(name, &cache().join(&package));
    let started = Instant::now();
    let log = boot(&vmlinuz, &initrd);
    let results: Vec<&str> = log
        .iter()
        .filter_map(|l| l.split_once("GUEST-RESULT ").map(|(_, r)| r))
        .collect();
    // Kept for docs/kernels.md.
    std::fs::write(
        cache().join(format!("results-{name}.txt")),
        format!("{package}\n{}\n", results.join("\n")),
    )
    .unwrap();
    let failed: Vec<&&str> = results.iter().filter(|r| !r.starts_with("ok ")).collect();
    let done = log.iter().any(|l| l.contains("GUEST-DONE"));
    assert!(
        done && failed.is_empty() && !results.is_empty(),
        "{package}: {} of {} checks failed{} in {:?}; the serial log:\n{}",
        failed.len(),
        results.len(),
        if done {
            ""
        } else {
            " (the guest did not finish)"
        },
        started.elapsed(),
        log.join("\n")
    );
    record(name, &package, &results);
}

/// The kernels of the matrix, in the order docs/kernels.md shows them.
const MATRIX: [(&str, &str); 2] = [
    ("6.1", "linux-image-cloud-amd64"),
    ("6.12", "linux-image-6.12-cloud-amd64"),
];

/// Each kernel's package and results in this run, for docs/kernels.md.
type Run = std::collections::BTreeMap<String, (String, Vec<String>)>;
static RUN: std::sync::Mutex<Run> = std::sync::Mutex::new(Run::new());

/// Once every kernel of the matrix has run: docs/kernels.md must show these results
/// (`UPDATE_KERNELS_DOC=1` writes it).
fn record(name: &str, package: &str, results: &[&str]) {
    let mut run = RUN.lock().unwrap_or_else(|e| e.into_inner());
    run.insert(
        name.to_string(),
        (
            package.to_string(),
            results.iter().map(|r| r.to_string()).collect(),
        ),
    );
    if run.len() < MATRIX.len() || only().is_some() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/kernels.md");
    let table = table(&run);
    if std::env::var("UPDATE_KERNELS_DOC").as_deref() == Ok("1") {
        let packages: Vec<String> = MATRIX
            .iter()
            .map(|(n, _)| format!("- {n}: `{}`", run[*n].0))
            .collect();
        let doc = format!(
            "# The kernels scry is tested on\n\n\
             `cargo test --test kernels` boots each kernel below under QEMU (software emulation) with\n\
             an optimised scry and runs `tests/guest/matrix.sh` in it: each check starts scry on a\n\
             probe, makes the event happen, and checks scry's output. The `tool-*` checks run\n\
             bpftrace's own tools, unchanged, as Debian's `bpftrace` package installs them; the\n\
             `edr-*` checks run scry's toolkit (`examples/`, see edr.md) on `tests/programs/edr.c`. This\n\
             machine's kernel has no kprobes and refuses BPF trampolines: the probe types that need\n\
             them are tested here. Globs of kprobes and uprobes attach by one multi link where the\n\
             kernel has them: Debian's 6.1 is built without CONFIG_FPROBE and predates uprobe_multi\n\
             (6.6), so there the `*-wildcard-link` checks expect a perf event per function.\n\n\
             The packages of the last run (Debian's stock cloud kernels; the newest version of\n\
             each series is used):\n\n{}\n\n\
             Written by `UPDATE_KERNELS_DOC=1 cargo test --test kernels`; every run checks that the\n\
             table below is still what the kernels do. `SCRY_GUEST_ONLY=REGEX` runs only the checks\n\
             whose names match (and leaves this file unchecked).\n\n{table}",
            packages.join("\n")
        );
        std::fs::write(&path, doc).unwrap();
    }
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        doc.contains(&table),
        "docs/kernels.md does not show this run's results; UPDATE_KERNELS_DOC=1 rewrites it:\n{table}"
    );
}

/// Check × kernel, with the probe type each check is about.
fn table(run: &Run) -> String {
    let mut out = String::from("| probe type | check |");
    for (n, _) in MATRIX {
        out.push_str(&format!(" {n} |"));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(MATRIX.len()));
    out.push('\n');
    let names: Vec<String> = run[MATRIX[0].0]
        .1
        .iter()
        .filter_map(|r| r.split_whitespace().nth(1).map(String::from))
        .collect();
    for check in names {
        let kind = check.split('-').next().unwrap_or("");
        out.push_str(&format!("| {kind} | {check} |"));
        for (n, _) in MATRIX {
            let status = run[n]
                .1
                .iter()
                .find(|r| r.split_whitespace().nth(1) == Some(check.as_str()))
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("—");
            out.push_str(&format!(
                " {} |",
                if status == "ok" { "works" } else { "FAILS" }
            ));
        }
        out.push('\n');
    }
    out
}

#[test]
fn debian_6_1() {
    if !common::kernel() {
        return;
    }
    matrix(MATRIX[0].1, MATRIX[0].0);
}

#[test]
fn debian_6_12() {
    if !common::kernel() {
        return;
    }
    matrix(MATRIX[1].1, MATRIX[1].0);
}
