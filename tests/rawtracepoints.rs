//! Raw tracepoints against the real kernel: arguments typed from BTF (`args.bprm->filename`),
//! `argN`, listing with their types, and the error for a missing event.

mod common;

use common::{exec, kernel, run, Running};

#[test]
fn typed_arguments_reach_kernel_structs() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"rt:sched_process_exec /comm == "true"/ {
             printf("%s %d %d\n", str(args.bprm->filename), args.old_pid == pid, arg1 == args.old_pid);
             exit();
           }"#,
    ]);
    scry.wait_attached();
    exec("/bin/true", &[]);
    let line = scry.wait_line(|l| !l.is_empty());
    assert_eq!(line, "/bin/true 1 1");
}

#[test]
fn list_shows_the_arguments_with_their_types() {
    if !kernel() {
        return;
    }
    let (status, stdout, _) = run(&["-lv", "rawtracepoint:sched_process_exec"]);
    assert!(status.success());
    assert_eq!(
        stdout,
        "rawtracepoint:vmlinux:sched_process_exec\n    struct task_struct * p\n    int32 old_pid\n    struct linux_binprm * bprm\n"
    );
    let (_, stdout, _) = run(&["-l", "rt:sched_process_*"]);
    assert!(
        stdout
            .lines()
            .any(|l| l == "rawtracepoint:vmlinux:sched_process_fork"),
        "{stdout}"
    );
}

#[test]
fn a_missing_event_is_named_with_the_closest() {
    if !kernel() {
        return;
    }
    let (status, _, stderr) = run(&["-e", "rawtracepoint:sched_proces_exec { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("raw tracepoint not found: rawtracepoint:sched_proces_exec"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `rawtracepoint:sched_process_exec`?"),
        "{stderr}"
    );
}
