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

#[test]
fn join_reads_the_argv_of_an_exec() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:syscalls:sys_enter_execve /strcontains(str(args.filename), "/true")/ {
             join(args.argv, "|");
             printf("%r\n", buf(args.filename, 5));
             exit();
           }"#,
    ]);
    scry.wait_attached();
    exec("/bin/true", &["one", "two words", ""]);
    let line = scry.wait_line(|l| !l.is_empty());
    assert_eq!(line, "/bin/true|one|two words|");
    assert_eq!(scry.wait_line(|_| true), "/bin/");
}

#[test]
fn ntop_shows_the_addresses_of_a_connection() {
    if !kernel() {
        return;
    }
    let mut scry = Running::start(&[
        "-e",
        r#"tracepoint:sock:inet_sock_set_state /args.dport == 9/ {
             printf("%s %s %s\n", ntop(args.daddr), ntop(args.daddr_v6), ntop(2, args.saddr));
             exit();
           }"#,
    ]);
    scry.wait_attached();
    // Nothing listens on port 9: the connection is refused, after its SYN_SENT transition.
    let _ = std::net::TcpStream::connect("127.0.0.1:9");
    let line = scry.wait_line(|l| !l.is_empty());
    assert_eq!(line, "127.0.0.1 ::ffff:127.0.0.1 127.0.0.1");
}

#[test]
fn truncated_strings_carry_the_trailer() {
    if !kernel() {
        return;
    }
    // max_strlen = 5: str() keeps 5 characters and marks the cut with "..", as bpftrace does;
    // an explicit length counts the NUL and is no truncation.
    let mut scry = Running::start(&[
        "-e",
        r#"config = { max_strlen = 5 }
           tracepoint:syscalls:sys_enter_execve /strcontains(str(args.filename, 5), "/bin")/ {
             printf("%s|%s|%s\n", str(args.filename), str(args.filename, 5), str(args.filename, 3));
             exit();
           }"#,
    ]);
    scry.wait_attached();
    exec("/bin/true", &[]);
    let line = scry.wait_line(|l| !l.is_empty());
    assert_eq!(line, "/bin/..|/bin|/b");
}
