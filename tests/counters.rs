//! Software and hardware perf counters: a software event counted in a command's own process,
//! default counts in the probe's name, and the precise error where the machine has no hardware
//! counters.

mod common;

use common::{kernel, run};

#[test]
fn software_events_fire_in_the_process_that_causes_them() {
    if !kernel() {
        return;
    }
    // Every page fault of the command (period 1), which touches fresh memory as it starts.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        "/bin/true",
        "-e",
        "s:page-faults:1 /pid == cpid/ { @faults = count(); } software:cs { @names[probe] = 1; }",
    ]);
    assert!(status.success(), "{stderr}");
    let faults: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("@faults: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(faults > 10, "{stdout}");
}

#[test]
fn probe_names_are_as_written_with_the_default_count() {
    if !kernel() {
        return;
    }
    // task-clock (default count 1) fires as soon as the command runs.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-c",
        "/bin/true",
        "-e",
        "software:task-clock /pid == cpid/ { @[probe] = count(); } s:faults:7 /pid == cpid/ { @[probe] = count(); }",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("@[software:task-clock:1]: "), "{stdout}");
    // An alias keeps its name, as bpftrace's `probe` does (`software:cpu:100000` too).
    assert!(stdout.contains("@[software:faults:7]: "), "{stdout}");
}

#[test]
fn hardware_events_say_when_there_is_no_pmu() {
    if !kernel() {
        return;
    }
    let has_pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu").exists();
    let (status, _, stderr) = run(&["-q", "--dry-run", "-e", "hardware:cycles:100000 { }"]);
    if has_pmu {
        assert!(status.success(), "{stderr}");
    } else {
        assert_eq!(status.code(), Some(1));
        assert!(
            stderr
                .contains("hardware:cpu-cycles: this machine has no hardware performance counters"),
            "{stderr}"
        );
    }
    let (status, _, stderr) = run(&["-e", "software:nope { }"]);
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("unknown software event `nope`"), "{stderr}");
}

#[test]
fn listing_hardware_events_says_why_there_are_none() {
    if !kernel() {
        return;
    }
    let has_pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu").exists();
    let (status, stdout, stderr) = run(&["-l", "hardware:*"]);
    if has_pmu {
        assert!(status.success(), "{stderr}");
        assert!(stdout.lines().any(|l| l == "hardware:cycles"), "{stdout}");
    } else {
        assert_eq!(status.code(), Some(1));
        assert!(
            stderr.contains("no hardware performance counters"),
            "{stderr}"
        );
        // Listing everything leaves them out without a word.
        let (status, stdout, _) = run(&["-l", "*"]);
        assert!(status.success());
        assert!(!stdout.contains("hardware:"), "hardware events listed");
    }
}
