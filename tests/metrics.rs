//! `--metrics`: a script's maps as a Prometheus exporter. One test scrapes scry with a real
//! Prometheus server (Debian's `prometheus`, installed when missing) and asks its HTTP API
//! for the values a known workload gives; others read `/metrics` directly and check the
//! errors.

mod common;

use common::{kernel, run, Running};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One test at a time: each counts the workload's opens, which the others would add to.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `GET path` on `addr` with HTTP/1.0; the status line and the body.
fn get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// Starts scry serving its maps on a port the kernel picks; its address.
fn serve(script: &str) -> (Running, String) {
    let mut scry = Running::start(&["--metrics", "127.0.0.1:0", "-e", script]);
    scry.wait_attached();
    let line = scry
        .err_lines
        .iter()
        .find_map(|l| l.strip_prefix("Serving metrics on http://"))
        .expect("the address served")
        .to_string();
    let addr = line.strip_suffix("/metrics").unwrap().to_string();
    (scry, addr)
}

/// Runs the EDR workload program's `open` on a missing path `n` times: one openat2 and one
/// openat each, from a process named `edr`.
fn opens(n: usize) {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let edr = BUILT.get_or_init(|| {
        // The comm is the file name: built as `edr` in a directory of its own.
        let dir = format!("{}/metrics-bin", env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(&dir).unwrap();
        common::build_program("edr", &format!("{dir}/edr"), &["-O2"])
    });
    for _ in 0..n {
        let ok = Command::new(edr)
            .args(["open", "/nonexistent-metrics"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

const SCRIPT: &str = r#"tracepoint:syscalls:sys_enter_openat2 /comm == "edr"/ {
    @opens[comm] = count();
    @size = hist(args.usize);
    @largest = max(args.usize);
  }"#;

#[test]
fn metrics_are_served_in_prometheus_text_format() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    let (mut scry, addr) = serve(SCRIPT);
    opens(3);
    let (status, body) = get(&addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    // openat2's size argument is sizeof(struct open_how), 24: the bucket [16, 32).
    for line in [
        "# TYPE scry_opens counter",
        "scry_opens{comm=\"edr\"} 3",
        "# TYPE scry_size histogram",
        "scry_size_bucket{le=\"31\"} 3",
        "scry_size_bucket{le=\"+Inf\"} 3",
        "scry_size_sum 72",
        "scry_size_count 3",
        "# TYPE scry_largest gauge",
        "scry_largest 24",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} in:\n{body}");
    }
    let (status, _) = get(&addr, "/nothing");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    // Scrapes do not disturb the script: its maps print at exit as ever.
    assert!(scry.interrupt().success());
    assert!(scry.out_lines.iter().any(|l| l == "@opens[edr]: 3"));
}

#[test]
fn metrics_address_errors_are_one_line_and_attach_nothing() {
    if !kernel() {
        return;
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, out, err) = run(&["--metrics", &addr, "-e", SCRIPT]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        err,
        format!(
            "scry: error: cannot serve metrics on {addr}: Address already in use (os error 98)\n"
        )
    );
    assert_eq!(out, "");
    // An address of no interface here.
    let (status, _, err) = run(&["--metrics", "192.0.2.1:9435", "-e", SCRIPT]);
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        err,
        "scry: error: cannot serve metrics on 192.0.2.1:9435: Cannot assign requested address (os error 99)\n"
    );
    // The REPL has no script to serve.
    let (status, _, err) = run(&["--metrics", "127.0.0.1:0", "--repl"]);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--metrics serves a script's maps"), "{err}");
    let (status, _, err) = run(&["--metrics", "9435", "-e", SCRIPT]);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("cannot serve metrics on 9435: invalid socket address"),
        "{err}"
    );
}

/// Percent-encodes a PromQL query for a URL.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of an instant query, once Prometheus has it.
fn query(prometheus: &str, q: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if TcpStream::connect(prometheus).is_ok() {
            let (_, body) = get(prometheus, &format!("/api/v1/query?query={}", encode(q)));
            last = body.clone();
            if let Ok(v) = serde_json::from_str::<Value>(&body) {
                if let Some(value) = v["data"]["result"][0]["value"][1].as_str() {
                    if value == want {
                        return value.to_string();
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{q}: Prometheus did not get {want}; last answer: {last}");
}

#[test]
fn a_prometheus_server_scrapes_a_counter_and_a_histogram_bucket() {
    if !kernel() {
        return;
    }
    let _serial = serial();
    common::debian_packages(&[("/usr/bin/prometheus", "prometheus")]);
    let (mut scry, addr) = serve(SCRIPT);
    let dir = format!(
        "{}/prometheus-{}",
        env!("CARGO_TARGET_TMPDIR"),
        std::process::id()
    );
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!("{dir}/prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: scry\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let web = format!("127.0.0.1:{port}");
    let prometheus = Command::new("prometheus")
        .args([
            &format!("--config.file={config}"),
            &format!("--storage.tsdb.path={dir}/data"),
            &format!("--web.listen-address={web}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Kill(prometheus);
    opens(4);
    assert_eq!(
        query(&web, r#"scry_opens{comm="edr",job="scry"}"#, "4"),
        "4"
    );
    assert_eq!(query(&web, r#"scry_size_bucket{le="31"}"#, "4"), "4");
    assert_eq!(query(&web, "scry_size_sum", "96"), "96");
    assert!(scry.interrupt().success());
    let _ = std::fs::remove_dir_all(&dir);
}
