//! Watchpoints: a hardware breakpoint on a variable of this test process, scoped with `-p`,
//! fires when the test writes the variable.

mod common;

use common::{kernel, run, Running};
use std::sync::atomic::{AtomicU64, Ordering};

static WATCHED: AtomicU64 = AtomicU64::new(0);

#[test]
fn a_write_to_the_watched_address_fires() {
    if !kernel() || !std::path::Path::new("/sys/bus/event_source/devices/breakpoint").exists() {
        return;
    }
    let address = format!("{:#x}", &WATCHED as *const AtomicU64 as u64);
    let pid = std::process::id().to_string();
    let script =
        format!("watchpoint:{address}:8:w {{ printf(\"written by %d\\n\", pid); exit(); }}");
    let mut scry = Running::start(&["-p", &pid, "-e", &script]);
    scry.wait_attached();
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let mut line = None;
    while line.is_none() && std::time::Instant::now() < deadline {
        WATCHED.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(50));
        line = scry.try_finish().map(|_| ());
    }
    assert!(line.is_some(), "scry exited after the write");
    assert_eq!(
        scry.out_lines.first().map(String::as_str),
        Some(format!("written by {pid}").as_str())
    );
}

#[test]
fn a_malformed_watchpoint_says_how_to_write_one() {
    if !kernel() {
        return;
    }
    let (status, _, stderr) = run(&["-e", "watchpoint:0x1000:3:w { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("a watchpoint is written `watchpoint:ADDRESS:LENGTH:MODE`"),
        "{stderr}"
    );
}
