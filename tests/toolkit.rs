//! The EDR toolkit in `examples/`, run as a user runs it: each test starts a tool, causes
//! the events it reports (with `tests/programs/edr.c`, built here with `cc`, or programs of
//! the system), and checks the row of each event in text and its object with `-f json`.

mod common;

use common::{kernel, Running};
use serde_json::Value;
use std::process::Command;
use std::sync::OnceLock;

/// The workload program, built once per test run.
fn edr() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = format!("{}/edr", env!("CARGO_TARGET_TMPDIR"));
        common::build_program("edr", &out, &["-O2"])
    })
}

/// Runs the workload with `args`; its pid and what it printed.
fn workload(args: &[&str]) -> (u32, String) {
    let child = Command::new(edr())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run edr");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for edr");
    (pid, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn tool(name: &str) -> String {
    format!("{}/examples/{name}.bt", env!("CARGO_MANIFEST_DIR"))
}

/// Starts a tool (`json` for `-f json`) with named options, once its probes are attached.
fn start(name: &str, json: bool, options: &[&str]) -> Running {
    let path = tool(name);
    let mut args = Vec::new();
    if json {
        args.extend(["-f", "json"]);
    }
    args.push(path.as_str());
    if !options.is_empty() {
        args.push("--");
        args.extend(options);
    }
    let mut scry = Running::start(&args);
    if json {
        scry.wait_line(|l| l.starts_with(r#"{"type": "attached_probes""#));
    } else {
        scry.wait_attached();
    }
    scry
}

/// The columns of a text row.
fn columns(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Waits for a text row whose columns satisfy `pred`.
fn row(scry: &mut Running, pred: impl Fn(&[&str]) -> bool) -> Vec<String> {
    let line = scry.wait_line(|l| pred(&columns(l)));
    columns(&line).into_iter().map(String::from).collect()
}

/// Waits for an event record whose data satisfies `pred`; checks the record's shape.
fn event(scry: &mut Running, pred: impl Fn(&Value) -> bool) -> Value {
    let line = scry.wait_line(|l| {
        serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == "event" && pred(&v["data"]))
    });
    let v: Value = serde_json::from_str(&line).unwrap();
    let time = v["time"].as_str().expect("an event has a time");
    assert!(
        time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339 time: {time}"
    );
    v["data"].clone()
}

/// The JSON events a finished run printed.
fn events(scry: &Running) -> Vec<Value> {
    scry.out_lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "event")
        .map(|v| v["data"].clone())
        .collect()
}

/// `HH:MM:SS`.
fn is_clock(s: &str) -> bool {
    s.len() == 8 && s.as_bytes()[2] == b':' && s.as_bytes()[5] == b':'
}

fn header(scry: &mut Running, first: &str) {
    let line = scry.wait_line(|_| true);
    assert!(line.starts_with(first), "the header first: {line}");
}

#[test]
fn execsnoop_shows_execs_with_arguments_and_failures() {
    if !kernel() {
        return;
    }
    let mut scry = start("execsnoop", false, &[]);
    header(&mut scry, "TIME     PID     PPID    UID    COMM");
    let echo = common::exec("/bin/echo", &["scry-execsnoop", "two words"]);
    let (failed, _) = workload(&["exec-missing"]);
    let (failed_at, _) = workload(&["execveat-missing"]);
    let r = row(&mut scry, |c| c.contains(&"scry-execsnoop"));
    let me = std::process::id().to_string();
    assert!(is_clock(&r[0]), "{r:?}");
    assert_eq!(
        r[1..],
        [
            &echo.to_string(),
            &me,
            "0",
            "echo",
            "0",
            "/bin/echo",
            "scry-execsnoop",
            "two",
            "words"
        ],
    );
    let r = row(&mut scry, |c| {
        c.get(1) == Some(&failed.to_string().as_str()) && c.contains(&"/nonexistent/scry-edr-test")
    });
    assert_eq!(
        r[1..],
        [
            &failed.to_string(),
            &me,
            "0",
            "edr",
            "-2",
            "/nonexistent/scry-edr-test",
            "never"
        ]
    );
    // execveat(2) too.
    let r = row(&mut scry, |c| c.contains(&"/nonexistent/scry-edr-execveat"));
    let want = [&failed_at.to_string(), &me, "0", "edr", "-2"];
    assert_eq!(r[1..6], want);
    assert_eq!(r[6..], ["/nonexistent/scry-edr-execveat", "at"]);
    assert!(scry.interrupt().success());

    // --failed: the successful exec is not reported.
    let mut scry = start("execsnoop", true, &["--failed"]);
    common::exec("/bin/echo", &["scry-execsnoop-ok"]);
    let (failed, _) = workload(&["exec-missing"]);
    let e = event(&mut scry, |d| d["pid"] == failed);
    assert_eq!(e["ppid"], std::process::id());
    assert_eq!(e["uid"], 0);
    assert_eq!(e["comm"], "edr");
    assert_eq!(e["ret"], -2);
    assert_eq!(
        e["argv"],
        serde_json::json!(["/nonexistent/scry-edr-test", "never"])
    );
    assert!(scry.interrupt().success());
    assert!(
        events(&scry).iter().all(|e| e["ret"] != 0),
        "{:?}",
        scry.out_lines
    );
}

#[test]
fn exitsnoop_shows_exit_codes_signals_and_age() {
    if !kernel() {
        return;
    }
    let mut scry = start("exitsnoop", false, &[]);
    header(&mut scry, "TIME     PID     PPID    COMM");
    let (pid, _) = workload(&["exit", "7"]);
    let mut sleeper = Command::new("sleep").arg("10").spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    let me = std::process::id().to_string();
    let r = row(&mut scry, |c| c.get(1) == Some(&pid.to_string().as_str()));
    assert!(is_clock(&r[0]));
    assert_eq!(r[2..6], [me.as_str(), "edr", "7", "0"]);
    let r = row(&mut scry, |c| {
        c.get(1) == Some(&sleeper.id().to_string().as_str())
    });
    assert_eq!(r[3..6], ["sleep", "0", "9"]);
    let age: u64 = r[6].parse().unwrap();
    assert!((150..5000).contains(&age), "lived about 200 ms: {r:?}");
    assert!(scry.interrupt().success());

    // --failed --name: only edr's failing exit.
    let mut scry = start("exitsnoop", true, &["--failed", "--name=edr"]);
    let (ok, _) = workload(&["exit", "0"]);
    let (pid, _) = workload(&["exit", "3"]);
    let e = event(&mut scry, |d| d["pid"] == pid);
    assert_eq!(e["code"], 3);
    assert_eq!(e["signal"], 0);
    assert_eq!(e["comm"], "edr");
    assert!(e["age_ms"].is_u64());
    assert!(scry.interrupt().success());
    // Only failures (other tests' edr processes may fail meanwhile), and not the exit 0.
    let events = events(&scry);
    assert!(
        events
            .iter()
            .all(|e| e["pid"] != ok && (e["code"] != 0 || e["signal"] != 0)),
        "{:?}",
        scry.out_lines
    );
}

#[test]
fn opensnoop_shows_descriptors_errors_flags_and_paths() {
    if !kernel() {
        return;
    }
    let mut scry = start("opensnoop", false, &["--name=edr"]);
    header(&mut scry, "TIME     PID     COMM");
    let (pid, out) = workload(&["open", "/etc/hostname"]);
    assert_eq!(out, "openat2 3\nopenat 4\nopen 5\n");
    let (missing, _) = workload(&["open", "/nonexistent-scry"]);
    // openat2 with O_CLOEXEC (02000000), then openat with no flags.
    let r = row(&mut scry, |c| c.last() == Some(&"/etc/hostname"));
    assert!(is_clock(&r[0]));
    assert_eq!(
        r[1..],
        [
            &pid.to_string(),
            "edr",
            "3",
            "0",
            "02000000",
            "/etc/hostname"
        ]
    );
    let r = row(&mut scry, |c| c.last() == Some(&"/etc/hostname"));
    assert_eq!(r[3..], ["4", "0", "00000000", "/etc/hostname"]);
    // open(2), with O_NONBLOCK (04000).
    let r = row(&mut scry, |c| c.last() == Some(&"/etc/hostname"));
    assert_eq!(r[3..], ["5", "0", "00004000", "/etc/hostname"]);
    let r = row(&mut scry, |c| c.last() == Some(&"/nonexistent-scry"));
    assert_eq!(
        r[1..],
        [
            &missing.to_string(),
            "edr",
            "-1",
            "ENOENT",
            "02000000",
            "/nonexistent-scry"
        ]
    );
    assert!(scry.interrupt().success());
    assert!(
        scry.out_lines
            .iter()
            .skip(1)
            .all(|l| l.is_empty() || l.contains(" edr ")),
        "only edr's opens: {:?}",
        scry.out_lines
    );

    let mut scry = start("opensnoop", true, &["--failed", "--name=edr"]);
    workload(&["open", "/etc/hostname"]);
    let (missing, _) = workload(&["open", "/nonexistent-scry"]);
    let e = event(&mut scry, |d| {
        d["pid"] == missing && d["path"] == "/nonexistent-scry"
    });
    assert_eq!(e["fd"], -1);
    assert_eq!(e["err"], "ENOENT");
    assert_eq!(e["flags"], 0o2000000);
    assert!(scry.interrupt().success());
    assert!(events(&scry).iter().all(|e| e["fd"] == -1));
}

/// Runs `edr tcp ADDR`: its pid, the listener's port and the client's.
fn tcp_session(addr: &str) -> (u32, u16, u16) {
    let (pid, out) = workload(&["tcp", addr]);
    let ports: Vec<u16> = out
        .split_whitespace()
        .skip(1)
        .map(|p| p.parse().unwrap())
        .collect();
    (pid, ports[0], ports[1])
}

#[test]
fn tcpconnect_shows_the_connecting_process_ipv4_and_ipv6() {
    if !kernel() {
        return;
    }
    let mut scry = start("tcpconnect", false, &["--name=edr"]);
    header(&mut scry, "TIME     PID     COMM");
    for (addr, ip) in [("127.0.0.1", "4"), ("::1", "6")] {
        let (pid, listen, client) = tcp_session(addr);
        let r = row(&mut scry, |c| {
            c.get(8) == Some(&listen.to_string().as_str())
        });
        assert!(is_clock(&r[0]));
        let (listen, client) = (listen.to_string(), client.to_string());
        assert_eq!(
            r[1..],
            [
                &pid.to_string(),
                "edr",
                ip,
                addr,
                &client,
                "→",
                addr,
                &listen,
                "ok"
            ]
        );
    }
    assert!(scry.interrupt().success());

    let mut scry = start("tcpconnect", true, &["--name=edr"]);
    let (pid, listen, client) = tcp_session("::1");
    let e = event(&mut scry, |d| d["dport"] == listen);
    assert_eq!(e["pid"], pid);
    assert_eq!(e["comm"], "edr");
    assert_eq!(e["ip"], 6);
    assert_eq!(e["saddr"], "::1");
    assert_eq!(e["sport"], client);
    assert_eq!(e["daddr"], "::1");
    assert_eq!(e["result"], "ok");
    assert!(scry.interrupt().success());
}

#[test]
fn tcpaccept_shows_the_accepting_process_ipv4_and_ipv6() {
    if !kernel() {
        return;
    }
    let mut scry = start("tcpaccept", false, &["--name=edr"]);
    header(&mut scry, "TIME     PID     COMM");
    for (addr, ip) in [("127.0.0.1", "4"), ("::1", "6")] {
        let (pid, listen, client) = tcp_session(addr);
        let r = row(&mut scry, |c| {
            c.get(5) == Some(&listen.to_string().as_str())
        });
        assert!(is_clock(&r[0]));
        let (listen, client) = (listen.to_string(), client.to_string());
        assert_eq!(
            r[1..],
            [
                &pid.to_string(),
                "edr",
                ip,
                addr,
                &listen,
                "←",
                addr,
                &client
            ]
        );
    }
    assert!(scry.interrupt().success());

    let mut scry = start("tcpaccept", true, &[]);
    let (pid, listen, client) = tcp_session("127.0.0.1");
    let e = event(&mut scry, |d| d["lport"] == listen);
    assert_eq!(e["pid"], pid);
    assert_eq!(e["comm"], "edr");
    assert_eq!(e["ip"], 4);
    assert_eq!(e["laddr"], "127.0.0.1");
    assert_eq!(e["raddr"], "127.0.0.1");
    assert_eq!(e["rport"], client);
    assert!(scry.interrupt().success());
}

#[test]
fn tcplife_shows_both_ends_with_bytes_and_duration() {
    if !kernel() {
        return;
    }
    let mut scry = start("tcplife", false, &[]);
    header(&mut scry, "TIME     PID     COMM");
    let (pid, listen, client) = tcp_session("127.0.0.1");
    let (listen, client) = (listen.to_string(), client.to_string());
    // The client's end: 1000 bytes sent, 300 received (the kernel counts the SYN and the
    // FIN in its sequence space, one byte each).
    let r = row(&mut scry, |c| c.get(5) == Some(&client.as_str()));
    assert!(is_clock(&r[0]));
    assert_eq!(
        r[1..8],
        [
            &pid.to_string(),
            "edr",
            "4",
            "127.0.0.1",
            &client,
            "127.0.0.1",
            &listen
        ]
    );
    let (tx, rx): (u64, u64) = (r[8].parse().unwrap(), r[9].parse().unwrap());
    assert!(
        (1000..=1002).contains(&tx) && (300..=302).contains(&rx),
        "{r:?}"
    );
    // The server's end, closed by the same process.
    let r = row(&mut scry, |c| {
        c.get(5) == Some(&listen.as_str()) && c.get(7) == Some(&client.as_str())
    });
    assert_eq!(r[1..3], [pid.to_string().as_str(), "edr"]);
    let (tx, rx): (u64, u64) = (r[8].parse().unwrap(), r[9].parse().unwrap());
    assert!(
        (300..=302).contains(&tx) && (1000..=1002).contains(&rx),
        "{r:?}"
    );
    assert!(scry.interrupt().success());

    let mut scry = start("tcplife", true, &[]);
    let (pid, listen, _) = tcp_session("::1");
    let e = event(&mut scry, |d| d["rport"] == listen);
    assert_eq!(e["pid"], pid);
    assert_eq!(e["ip"], 6);
    assert_eq!(e["laddr"], "::1");
    assert!(e["tx_bytes"]
        .as_u64()
        .is_some_and(|b| (1000..=1002).contains(&b)));
    assert!(e["ms"].is_u64());
    assert!(scry.interrupt().success());
}

#[test]
fn tcpretrans_shows_a_retransmitted_syn() {
    if !kernel() {
        return;
    }
    for json in [false, true] {
        let mut scry = start("tcpretrans", json, &[]);
        let (_, out) = workload(&["retrans"]);
        let port: u16 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        if json {
            let e = event(&mut scry, |d| d["rport"] == port);
            assert_eq!(e["ip"], 4);
            assert_eq!(e["raddr"], "127.0.0.1");
            assert_eq!(e["state"], "SYN_SENT");
        } else {
            let r = row(&mut scry, |c| c.get(6) == Some(&port.to_string().as_str()));
            assert!(is_clock(&r[0]));
            assert_eq!(r[1..3], ["4", "127.0.0.1"]);
            assert_eq!(r[4..], ["→", "127.0.0.1", &port.to_string(), "SYN_SENT"]);
        }
        assert!(scry.interrupt().success());
    }
}

#[test]
fn capable_shows_granted_and_denied_capabilities() {
    if !kernel() {
        return;
    }
    let mut scry = start("capable", false, &["--name=edr"]);
    header(&mut scry, "TIME     PID     COMM");
    let (pid, _) = workload(&["setuid"]);
    let pid = pid.to_string();
    let r = row(&mut scry, |c| {
        c.get(1) == Some(&pid.as_str()) && c.get(5) == Some(&"CAP_SETUID")
    });
    assert!(is_clock(&r[0]));
    assert_eq!(
        r[1..],
        [pid.as_str(), "edr", "0", "7", "CAP_SETUID", "allow"]
    );
    let r = row(&mut scry, |c| {
        c.get(1) == Some(&pid.as_str()) && c.get(5) == Some(&"CAP_KILL")
    });
    assert_eq!(
        r[1..],
        [pid.as_str(), "edr", "65534", "5", "CAP_KILL", "deny"]
    );
    assert!(scry.interrupt().success());

    let mut scry = start("capable", true, &["--name=edr", "--denied"]);
    let (pid, _) = workload(&["setuid"]);
    let e = event(&mut scry, |d| d["pid"] == pid);
    assert_eq!(e["name"], "CAP_KILL");
    assert_eq!(e["cap"], 5);
    assert_eq!(e["uid"], 65534);
    assert_eq!(e["result"], "deny");
    assert!(scry.interrupt().success());
    assert!(events(&scry).iter().all(|e| e["result"] == "deny"));
}

#[test]
fn killsnoop_shows_signals_sent_and_their_results() {
    if !kernel() {
        return;
    }
    let mut scry = start("killsnoop", false, &[]);
    header(&mut scry, "TIME     PID     COMM");
    let (pid, out) = workload(&["kill"]);
    let child = out.split_whitespace().nth(1).unwrap().to_string();
    let pid = pid.to_string();
    let r = row(&mut scry, |c| {
        c.get(1) == Some(&pid.as_str()) && c.get(3) == Some(&"15")
    });
    assert!(is_clock(&r[0]));
    assert_eq!(
        r[1..],
        [pid.as_str(), "edr", "15", "Terminated", &child, "0"]
    );
    // Signal 0 to a pid that does not exist: ESRCH.
    let r = row(&mut scry, |c| {
        c.get(1) == Some(&pid.as_str()) && c.get(3) == Some(&"0")
    });
    assert_eq!(r[r.len() - 2..], ["999999", "-3"]);
    assert!(scry.interrupt().success());

    let mut scry = start("killsnoop", true, &["--failed"]);
    let (pid, _) = workload(&["kill"]);
    let e = event(&mut scry, |d| d["pid"] == pid);
    assert_eq!(e["comm"], "edr");
    assert_eq!(e["sig"], 0);
    assert_eq!(e["target"], 999999);
    assert_eq!(e["ret"], -3);
    assert!(scry.interrupt().success());
    assert!(events(&scry).iter().all(|e| e["ret"] != 0));
}

#[test]
fn setuids_shows_uid_changes() {
    if !kernel() {
        return;
    }
    for json in [false, true] {
        let mut scry = start("setuids", json, &[]);
        let (pid, _) = workload(&["setuid"]);
        if json {
            let e = event(&mut scry, |d| d["pid"] == pid);
            assert_eq!(e["comm"], "edr");
            assert_eq!(e["uid"], 0);
            assert_eq!(e["call"], "setresuid");
            assert_eq!(
                (&e["ruid"], &e["euid"], &e["suid"]),
                (&65534.into(), &65534.into(), &(-1).into())
            );
            assert_eq!(e["ret"], 0);
        } else {
            let pid = pid.to_string();
            let r = row(&mut scry, |c| c.get(1) == Some(&pid.as_str()));
            assert!(is_clock(&r[0]));
            assert_eq!(
                r[1..],
                [
                    pid.as_str(),
                    "edr",
                    "0",
                    "setresuid",
                    "65534",
                    "65534",
                    "-1",
                    "0"
                ]
            );
        }
        assert!(scry.interrupt().success());
    }
}

#[test]
fn syscount_counts_by_syscall_and_by_process() {
    if !kernel() {
        return;
    }
    // Each `edr open` makes exactly one openat2 call, which nothing else here makes; other
    // tests run edr meanwhile, so this one runs a copy by another name.
    let counted = format!("{}/edrcount", env!("CARGO_TARGET_TMPDIR"));
    std::fs::copy(edr(), &counted).unwrap();
    let mut scry = start("syscount", false, &["--name=edrcount", "--top=100"]);
    for _ in 0..3 {
        let ok = Command::new(&counted)
            .args(["open", "/etc/hostname"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
    }
    assert!(scry.interrupt().success());
    assert!(
        scry.out_lines.iter().any(|l| l == "@syscalls[openat2]: 3"),
        "{:?}",
        scry.out_lines
    );

    let mut scry = start("syscount", true, &["--name=edr", "--proc"]);
    let (pid, _) = workload(&["open", "/etc/hostname"]);
    assert!(scry.interrupt().success());
    let map = scry
        .out_lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "map")
        .expect("a map record");
    let count = &map["data"]["@by_process"][format!("{pid},edr")];
    assert!(count.as_u64().is_some_and(|n| n > 10), "{map}");
}

#[test]
fn bashreadline_shows_lines_typed_into_an_interactive_bash() {
    if !kernel() {
        return;
    }
    for json in [false, true] {
        let mut scry = start("bashreadline", json, &[]);
        // bash reads its commands with readline only on a terminal: `script` gives it one.
        let mut typing = Command::new("script")
            .args(["-q", "-c", "bash --norc --noprofile -i", "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run script (util-linux)");
        {
            use std::io::Write;
            let mut stdin = typing.stdin.take().unwrap();
            stdin.write_all(b"echo scry-typed  line\nexit\n").unwrap();
        }
        if json {
            let e = event(&mut scry, |d| d["command"] == "echo scry-typed  line");
            assert_eq!(e["uid"], 0);
            assert!(e["pid"].is_u64());
        } else {
            let line = scry.wait_line(|l| l.ends_with("echo scry-typed  line"));
            let c = columns(&line);
            assert!(is_clock(c[0]) && c[2] == "0", "{line}");
        }
        typing.wait().unwrap();
        assert!(scry.interrupt().success());
    }
}
