//! `--info`: scry's build and what the kernel offers, each facility probed for real.

mod common;

use common::{kernel, run};

#[test]
fn info_reports_each_facility_from_the_kernel() {
    if !kernel() {
        return;
    }
    let (status, stdout, stderr) = run(&["--info"]);
    assert!(status.success(), "{stderr}");
    let value = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
            .to_string()
    };
    assert!(value("version").starts_with("scry "), "{stdout}");
    for name in [
        "btf",
        "get_func_ip",
        "send_signal",
        "kprobe",
        "uprobe",
        "kprobe_multi",
        "uprobe_multi",
        "tracepoint",
        "rawtracepoint",
        "perf_event",
        "hardware",
        "fentry",
        "fexit",
        "iter",
        "watchpoint",
    ] {
        let v = value(name);
        assert!(v == "yes" || v == "no", "{name}: {v}");
    }
    // What the rest of the test suite relies on is there; what the machine lacks is said.
    for name in ["btf", "uprobe", "tracepoint", "rawtracepoint", "perf_event"] {
        assert_eq!(value(name), "yes", "{name}");
    }
    let pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu").exists();
    assert_eq!(value("hardware"), if pmu { "yes" } else { "no" });
    let kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists();
    assert_eq!(value("kprobe"), if kprobes { "yes" } else { "no" });
    // Multi-uprobe links came in Linux 6.6.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut version = release
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap(), version.next().unwrap());
    if (major, minor) >= (6, 6) {
        assert_eq!(value("uprobe_multi"), "yes", "{release}");
    }
}
