//! BPF iterators: `iter:task` and `iter:task_file` walk every task (and its open files) once,
//! `ctx.NAME` typed from BTF, and scry ends when the walk does.

mod common;

use common::{kernel, run};

#[test]
fn task_iterators_walk_every_task_and_file() {
    if !kernel() {
        return;
    }
    let me = std::process::id().to_string();
    let (status, stdout, stderr) = run(&[
        "-q",
        "-e",
        r#"iter:task /ctx.task != 0 && ctx.task->tgid == $1 && ctx.task->pid == $1/ { printf("%d %d\n", ctx.task->pid, ctx.task->tgid == $1); }"#,
        &me,
    ]);
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout, format!("{me} 1\n\n\n"));
    // This test process has files open (stdin, stdout, stderr at least).
    let (status, stdout, stderr) = run(&[
        "-q",
        "-e",
        "iter:task_file /ctx.task != 0 && ctx.task->pid == $1/ { @files = count(); }",
        &me,
    ]);
    assert!(status.success(), "{stderr}");
    let files: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("@files: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(files >= 3, "{stdout}");
}

#[test]
fn iterators_are_listed_and_named() {
    if !kernel() {
        return;
    }
    let (status, stdout, _) = run(&["-lv", "iter:task_file"]);
    assert!(status.success());
    assert_eq!(
        stdout,
        "iter:task_file\n    struct bpf_iter_meta * meta\n    struct task_struct * task\n    uint32 fd\n    struct file * file\n"
    );
    let (status, _, stderr) = run(&["-e", "iter:tsk { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("no iterator `tsk`"), "{stderr}");
    assert!(stderr.contains("did you mean `iter:task`?"), "{stderr}");
}

#[test]
fn the_iterators_closing_call_runs_no_block() {
    if !kernel() {
        return;
    }
    // After the last task the kernel calls the program once more with `ctx.task` NULL; the
    // block must not see it (it printed a task of pid 0, and `@[ctx.task->pid]` counted it).
    let (status, stdout, stderr) = run(&[
        "-q",
        "-e",
        r#"iter:task { @tasks = count(); if (ctx.task == 0) { @null = count(); } @[ctx.task->pid == 0] = count(); }"#,
    ]);
    assert!(status.success(), "{stderr}");
    assert!(!stdout.contains("@null"), "{stdout}");
    assert!(!stdout.contains("@[true]"), "{stdout}");
    let tasks: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("@tasks: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(tasks > 10, "{stdout}");
}
