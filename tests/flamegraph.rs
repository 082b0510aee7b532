//! Flame graphs drawn from real stack maps: `--flamegraph` on a profile of a program that
//! spins in a known function (`tests/programs/spin.c`, built here with `cc`), `-f folded`
//! read back, kernel and user frames in one stack, several maps, and the errors.

mod common;

use common::{kernel, run};
use quick_xml::events::Event;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The spinning program, built once per test run, with frame pointers (leaf functions too)
/// so that its user stacks can be walked.
fn spin() -> &'static str {
    static BUILT: OnceLock<String> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = format!("{}/spin", env!("CARGO_TARGET_TMPDIR"));
        common::build_program("spin", &out, &["-O0", "-fno-omit-frame-pointer"])
    })
}

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("flamegraph-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A frame of the picture: its name, its depth as drawn (`y`), and where it starts and how
/// wide it is, in samples.
#[derive(Debug)]
struct Frame {
    name: String,
    y: u64,
    x: u64,
    width: u64,
}

/// Parses the SVG as XML (any error fails the test), and returns its title and frames.
fn frames_of(svg: &str) -> (String, Vec<Frame>) {
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut title, mut frames) = (String::new(), Vec::new());
    let (mut in_title, mut in_heading, mut name) = (false, false, String::new());
    loop {
        match reader.read_event() {
            Err(e) => panic!("the SVG is not XML at {}: {e}", reader.buffer_position()),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) if e.name().as_ref() == b"title" => in_title = true,
            Ok(Event::Start(e)) if e.name().as_ref() == b"text" => {
                in_heading = e
                    .attributes()
                    .flatten()
                    .any(|a| a.key.as_ref() == b"id" && a.value.as_ref() == b"title");
            }
            Ok(Event::Text(t)) if in_title => name = t.decode().unwrap().into_owned(),
            Ok(Event::Text(t)) if in_heading => title = t.decode().unwrap().into_owned(),
            Ok(Event::End(_)) => (in_title, in_heading) = (false, false),
            Ok(Event::Empty(e)) if e.name().as_ref() == b"rect" => {
                let attr = |key: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == key)
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                };
                let (Some(x), Some(w), Some(y)) = (attr(b"fg:x"), attr(b"fg:w"), attr(b"y")) else {
                    continue;
                };
                // "spin_hot (652 samples, 65.80%)"
                let function = name.rsplit_once(" (").map_or(name.as_str(), |(f, _)| f);
                frames.push(Frame {
                    name: function.to_string(),
                    y: y.parse().unwrap(),
                    x: x.parse().unwrap(),
                    width: w.parse().unwrap(),
                });
            }
            Ok(_) => {}
        }
    }
    (title, frames)
}

#[test]
fn a_profile_draws_the_hot_function_wider_than_its_siblings() {
    if !kernel() {
        return;
    }
    let d = dir("profile");
    let svg = d.join("spin.svg");
    let (status, stdout, stderr) = run(&[
        "--flamegraph",
        svg.to_str().unwrap(),
        "-c",
        &format!("{} 1", spin()),
        "-e",
        "profile:hz:999 /pid == cpid/ { @[ustack] = count(); }",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("Wrote {}", svg.display())),
        "{stderr}"
    );
    // The script's own output is still printed.
    assert!(stdout.contains("spin_hot+"), "{stdout}");
    let (title, frames) = frames_of(&std::fs::read_to_string(&svg).unwrap());
    assert_eq!(title, "@: profile:hz:999");
    let find = |name: &str| {
        frames
            .iter()
            .filter(|f| f.name == name)
            .max_by_key(|f| f.width)
            .unwrap_or_else(|| panic!("no frame {name} in {frames:#?}"))
    };
    let hot = find("spin_hot");
    // Its parent is the frame below it that spans it: spin, which main called.
    let parent = frames
        .iter()
        .find(|f| f.y > hot.y && f.y - hot.y == 16 && f.x <= hot.x && hot.x < f.x + f.width)
        .unwrap();
    assert_eq!(parent.name, "spin", "{frames:#?}");
    let siblings: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.y == hot.y && f.x >= parent.x && f.x < parent.x + parent.width)
        .filter(|f| !std::ptr::eq(*f, hot))
        .collect();
    assert!(
        siblings.iter().any(|f| f.name == "spin_cold"),
        "{siblings:#?}"
    );
    for s in &siblings {
        assert!(hot.width > s.width, "{hot:?} against {s:?}");
    }
}

#[test]
fn folded_output_reads_back_to_the_map_total() {
    if !kernel() {
        return;
    }
    let (status, stdout, stderr) = run(&[
        "-f",
        "folded",
        "-c",
        // The shell forks the program (it has more to run after it): a process the command
        // started is symbolized too, after it has exited.
        &format!("sh -c '{} 0.5; true'", spin()),
        "-e",
        "profile:hz:999 /comm == \"spin\"/ { @[comm, ustack] = count(); @total = count(); }",
    ]);
    assert!(status.success(), "{stderr}");
    let mut sum = 0;
    let mut total = None;
    for line in stdout.lines() {
        if let Some(n) = line.strip_prefix("@total: ") {
            total = Some(n.parse::<u64>().unwrap());
            continue;
        }
        let (stack, n) = line.rsplit_once(' ').unwrap();
        // comm is the root frame (alone for a sample that has no user stack, as in exec).
        assert!(stack == "spin" || stack.starts_with("spin;"), "{line}");
        sum += n.parse::<u64>().unwrap();
    }
    assert!(
        stdout.lines().any(|l| l.contains(";main;spin;spin_hot ")),
        "{stdout}"
    );
    assert_eq!(Some(sum), total, "{stdout}");
}

#[test]
fn kernel_frames_sit_on_the_user_frames_and_are_marked() {
    if !kernel() {
        return;
    }
    let d = dir("mixed");
    let svg = d.join("open.svg");
    let (status, stdout, stderr) = run(&[
        "-f",
        "folded",
        "--flamegraph",
        svg.to_str().unwrap(),
        "-c",
        "cat /etc/hostname",
        "-e",
        "tracepoint:syscalls:sys_enter_openat /pid == cpid/ { @opens[kstack, ustack] = count(); }",
    ]);
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.contains("_[k]")).collect();
    assert!(!lines.is_empty(), "{stdout}");
    for line in lines {
        let (stack, _) = line.rsplit_once(' ').unwrap();
        let frames: Vec<&str> = stack.split(';').collect();
        let first_kernel = frames.iter().position(|f| f.ends_with("_[k]")).unwrap();
        // User frames first (at least the one the system call was made from), then only
        // kernel frames, up to the tracepoint's.
        assert!(first_kernel > 0, "{line}");
        assert!(
            frames[first_kernel..].iter().all(|f| f.ends_with("_[k]")),
            "{line}"
        );
    }
    let text = std::fs::read_to_string(&svg).unwrap();
    let (title, frames) = frames_of(&text);
    assert!(title.starts_with("@opens: tracepoint:syscalls:sys_enter_openat"));
    assert!(frames.iter().any(|f| f.name.contains("do_syscall_64")));
    // The mark is for colouring; the picture shows the names alone.
    assert!(!text.contains("_[k]"));
}

#[test]
fn several_maps_draw_one_file_each() {
    if !kernel() {
        return;
    }
    let d = dir("several");
    let svg = d.join("cpu.svg");
    let (status, _, stderr) = run(&[
        "-q",
        "--flamegraph",
        svg.to_str().unwrap(),
        "-c",
        &format!("{} 0.3", spin()),
        "-e",
        "profile:hz:999 /pid == cpid/ { @user[ustack] = count(); @both[kstack, ustack, pid] = count(); @n = count(); }",
    ]);
    assert!(status.success(), "{stderr}");
    let mut written: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["cpu-@both.svg", "cpu-@user.svg"]);
    for f in written {
        let (title, frames) = frames_of(&std::fs::read_to_string(d.join(&f)).unwrap());
        assert!(title.ends_with(": profile:hz:999"), "{f}: {title}");
        assert!(frames.iter().any(|f| f.name == "spin_hot"), "{f}");
    }
}

#[test]
fn maps_that_cannot_be_drawn_say_so_in_one_line_and_output_still_prints() {
    if !kernel() {
        return;
    }
    let d = dir("errors");
    let svg = d.join("x.svg");
    let svg = svg.to_str().unwrap();
    // No map keyed by a stack.
    let (status, stdout, stderr) = run(&[
        "--flamegraph",
        svg,
        "-e",
        "BEGIN { @x[1] = count(); exit(); }",
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("@x[1]: 1"), "{stdout}");
    assert!(
        stderr.contains(
            "scry: error: --flamegraph: no map of the script is keyed by a stack: nothing drawn"
        ),
        "{stderr}"
    );
    // A stack map of histograms, and one that stayed empty: each is named.
    let (status, stdout, stderr) = run(&[
        "--flamegraph",
        svg,
        "-e",
        "BEGIN { @h[kstack] = hist(5); if (0) { @none[ustack] = count(); } exit(); }",
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("@h["), "{stdout}");
    assert!(
        stderr.contains("scry: error: --flamegraph: @h's values are not numbers"),
        "{stderr}"
    );
    assert!(
        stderr.contains("scry: error: --flamegraph: @none holds no stacks yet"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    // A path that cannot be written.
    let (status, stdout, stderr) = run(&[
        "--flamegraph",
        "/nonexistent/dir/x.svg",
        "-e",
        "BEGIN { @[kstack] = count(); exit(); }",
    ]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.contains("]: 1"), "{stdout}");
    assert!(
        stderr.contains("scry: error: --flamegraph: cannot write /nonexistent/dir/x.svg: No such file or directory"),
        "{stderr}"
    );
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}.bt", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn offcputime_counts_a_sleep_as_time_off_the_cpu() {
    if !kernel() {
        return;
    }
    let d = dir("offcpu");
    let svg = d.join("offcpu.svg");
    let (status, stdout, stderr) = run(&[
        "-q",
        "-f",
        "folded",
        "--flamegraph",
        svg.to_str().unwrap(),
        "-c",
        "sleep 0.3",
        &example("offcputime"),
    ]);
    assert!(status.success(), "{stderr}");
    // sleep's wait in clock_nanosleep: one line, about 300,000 µs wide.
    let waits: Vec<(&str, u64)> = stdout
        .lines()
        .filter(|l| l.starts_with("sleep;") && l.contains("do_nanosleep_[k]"))
        .map(|l| {
            let (stack, n) = l.rsplit_once(' ').unwrap();
            (stack, n.parse().unwrap())
        })
        .collect();
    assert_eq!(waits.len(), 1, "{stdout}");
    assert!((290_000..1_000_000).contains(&waits[0].1), "{:?}", waits[0]);
    // The helper maps are cleared at the end: only the stacks print.
    assert!(!stdout.contains("@start"), "{stdout}");
    let (title, frames) = frames_of(&std::fs::read_to_string(&svg).unwrap());
    assert_eq!(title, "@off: tracepoint:sched:sched_switch");
    assert!(frames.iter().any(|f| f.name == "do_nanosleep"));
}

#[test]
fn profile_example_draws_the_command_it_runs() {
    if !kernel() {
        return;
    }
    let d = dir("profile-example");
    let svg = d.join("cpu.svg");
    let (status, _, stderr) = run(&[
        "--flamegraph",
        svg.to_str().unwrap(),
        "-c",
        &format!("{} 0.5", spin()),
        &example("profile"),
    ]);
    assert!(status.success(), "{stderr}");
    let (title, frames) = frames_of(&std::fs::read_to_string(&svg).unwrap());
    assert_eq!(title, "@: profile:hz:99");
    // comm is the root of the program's tower (the function spin is higher up).
    let root = frames
        .iter()
        .filter(|f| f.name == "spin")
        .max_by_key(|f| f.y)
        .unwrap();
    assert_eq!(
        frames.iter().filter(|f| f.y > root.y).count(),
        1,
        "only `all` is below"
    );
    let hot = frames.iter().find(|f| f.name == "spin_hot").unwrap();
    assert!(root.y > hot.y && root.x <= hot.x && hot.x < root.x + root.width);
}

#[test]
fn a_call_that_ends_its_function_is_named_by_its_caller() {
    if !kernel() {
        return;
    }
    // The boot CPU's idle task came from start_kernel, which x86_64_start_reservations calls
    // as its last instruction: the return address is past that function's end, at the
    // padding (`__pfx_…`) before the next one. The frame is named by the call's own byte.
    let (status, stdout, stderr) = run(&[
        "-q",
        "-f",
        "folded",
        "-e",
        // The first time the boot CPU leaves its idle task (however busy the machine is,
        // that comes once other tests end).
        "tracepoint:sched:sched_switch /args.prev_pid == 0 && cpu == 0/ { @[kstack] = count(); exit(); }
         interval:s:15 { exit(); }",
    ]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains(";start_kernel;"), "{stdout}");
    assert!(!stdout.contains("__pfx_"), "{stdout}");
}
