//! The language against the kernel, where a value needs a live probe or a command-line option:
//! `-p` filtering, kernel struct reads in a tracepoint, string comparison of `comm`.

mod common;

use common::{exec, kernel, Running};

#[test]
fn pid_filter_keeps_only_that_process() {
    if !kernel() {
        return;
    }
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let pid = child.id().to_string();
    let mut scry = Running::start(&[
        "-p",
        &pid,
        "-e",
        "tracepoint:syscalls:sys_enter_kill, tracepoint:sched:sched_process_exit { printf(\"%d %s\\n\", pid, comm); exit(); }",
    ]);
    scry.wait_attached();
    // Other processes exec and exit meanwhile; only the sleeper's exit may be reported.
    exec("/bin/true", &[]);
    child.kill().expect("kill sleep");
    let _ = child.wait();
    let line = scry.wait_line(|l| !l.is_empty());
    assert_eq!(line, format!("{pid} sleep"));
}

#[test]
fn strings_and_kernel_structs_in_a_tracepoint() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:sched:sched_process_exec /comm == "true" && strcontains(args.filename, "/tr")/ {
             $t = curtask;
             printf("%s %d %d %s\n", $t->comm, $t->tgid == pid, $t->real_parent->tgid == ppid, args.filename);
             exit();
           }"#,
    ]);
    scry.wait_attached();
    exec("/bin/true", &[]);
    let line = scry.wait_line(|l| !l.is_empty());
    assert!(line.starts_with("true 1 1 "), "{line}");
    assert!(line.ends_with("/true"), "{line}");
}
