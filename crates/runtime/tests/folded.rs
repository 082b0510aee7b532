//! Folded stacks and flame graphs from hand-built stack maps: the golden folded text
//! (`tests/golden/folded.txt`), what cannot be folded, and the SVG drawn from them.

mod snapshot;

use scry_lang::types::StackMode;
use scry_runtime::output::flamegraph::{draw, Caption, PictureError};
use scry_runtime::output::folded::{fold, FoldError, NO_STACK};
use scry_runtime::output::value::{
    DumpKind, Entries, Frame, Histogram, MapDump, Scalar, Stack, Value,
};
use snapshot::check;

/// A stack from `(function, offset)` pairs, innermost first; `None` is an unknown frame.
fn stack(user: bool, frames: &[Option<(&str, u64)>]) -> Scalar {
    Scalar::Stack(Stack {
        frames: frames
            .iter()
            .enumerate()
            .map(|(i, f)| Frame {
                ip: 0x1000 * (i as u64 + 1) + 0x7f00_0000_0000,
                symbol: f.map(|(n, o)| (n.to_string(), o)),
            })
            .collect(),
        user,
        mode: StackMode::Bpftrace,
    })
}

fn keyed(name: &str, entries: Vec<(Vec<Scalar>, i64)>) -> MapDump {
    MapDump {
        name: name.into(),
        kind: DumpKind::Map,
        entries: Entries::Keyed(
            entries
                .into_iter()
                .map(|(k, n)| (k, Value::Scalar(Scalar::Int(n))))
                .collect(),
        ),
    }
}

fn kernel_idle(offset: u64) -> Scalar {
    stack(
        false,
        &[
            Some(("default_idle", offset)),
            Some(("do_idle", 310)),
            Some(("cpu_startup_entry", 37)),
        ],
    )
}

fn dumps() -> Vec<MapDump> {
    vec![
        // Two stacks that differ in an offset only are one line, their counts added; a zero
        // count is left out.
        keyed(
            "@kernel",
            vec![
                (vec![kernel_idle(9)], 5),
                (vec![kernel_idle(20)], 2),
                (
                    vec![stack(
                        false,
                        &[Some(("clear_page_erms", 4)), None, Some(("do_idle", 1))],
                    )],
                    1,
                ),
                (vec![stack(false, &[Some(("schedule", 1))])], 0),
            ],
        ),
        // Other key fields are the roots; an empty stack with no other field has a name.
        keyed(
            "@by_comm",
            vec![
                (vec![Scalar::Str("bash".into()), kernel_idle(1)], 3),
                (
                    vec![Scalar::Str("sh;x".into()), Scalar::UInt(42), kernel_idle(1)],
                    1,
                ),
            ],
        ),
        keyed("@empty_stacks", vec![(vec![stack(false, &[])], 7)]),
        // Kernel and user stacks in one key, in either order: user frames first (below),
        // kernel frames marked `_[k]`.
        keyed(
            "@mixed",
            vec![
                (
                    vec![
                        stack(
                            false,
                            &[Some(("do_sys_openat2", 2)), Some(("entry_SYSCALL_64", 9))],
                        ),
                        stack(true, &[Some(("__open64", 40)), Some(("main", 12))]),
                        Scalar::Str("cat".into()),
                    ],
                    4,
                ),
                (
                    vec![
                        stack(false, &[]),
                        stack(true, &[Some(("main", 1))]),
                        Scalar::Str("cat".into()),
                    ],
                    6,
                ),
            ],
        ),
    ]
}

#[test]
fn folded_layout() {
    let mut out = String::new();
    for d in dumps() {
        out.push_str(&format!("# {}\n", d.name));
        out.push_str(&fold(&d).unwrap().text());
    }
    check("tests/golden/folded.txt", out);
}

#[test]
fn folded_widths_add_up_to_the_map_total() {
    for d in dumps() {
        let Entries::Keyed(entries) = &d.entries else {
            unreachable!()
        };
        let total: i64 = entries
            .iter()
            .map(|(_, v)| match v {
                Value::Scalar(Scalar::Int(n)) => *n,
                _ => 0,
            })
            .sum();
        let folded = fold(&d).unwrap();
        assert_eq!(folded.total() as i64, total, "{}", d.name);
        let read_back: u64 = folded
            .text()
            .lines()
            .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
            .sum();
        assert_eq!(read_back as i64, total, "{}", d.name);
    }
    let empty = fold(&keyed("@e", vec![(vec![stack(true, &[])], 1)])).unwrap();
    assert_eq!(empty.lines, vec![(NO_STACK.to_string(), 1)]);
}

#[test]
fn maps_without_stacks_or_numbers_are_refused() {
    let plain = keyed("@plain", vec![(vec![Scalar::Str("bash".into())], 3)]);
    assert_eq!(fold(&plain), Err(FoldError::NoStack("@plain".into())));
    let scalar = MapDump {
        name: "@n".into(),
        kind: DumpKind::Map,
        entries: Entries::Scalar(Value::Scalar(Scalar::Int(1))),
    };
    assert_eq!(fold(&scalar), Err(FoldError::NoStack("@n".into())));
    let hist = MapDump {
        name: "@h".into(),
        kind: DumpKind::Hist,
        entries: Entries::Keyed(vec![(
            vec![kernel_idle(1)],
            Value::Hist(Histogram::default()),
        )]),
    };
    assert_eq!(fold(&hist), Err(FoldError::NotNumbers("@h".into())));
    let caption = Caption {
        probes: &[],
        unit: "samples",
    };
    let empty = keyed("@none", vec![]);
    assert!(matches!(
        draw(&empty, &caption, Vec::new()),
        Err(PictureError::Empty(n)) if n == "@none"
    ));
    assert!(matches!(
        draw(&plain, &caption, Vec::new()),
        Err(PictureError::Fold(FoldError::NoStack(_)))
    ));
}

#[test]
fn a_mixed_stack_is_drawn_with_its_kernel_frames_unmarked_and_coloured_apart() {
    let dumps = dumps();
    let mixed = dumps.iter().find(|d| d.name == "@mixed").unwrap();
    let mut svg = Vec::new();
    let probes = ["tracepoint:syscalls:sys_enter_openat".to_string()];
    draw(
        mixed,
        &Caption {
            probes: &probes,
            unit: "samples",
        },
        &mut svg,
    )
    .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("@mixed: tracepoint:syscalls:sys_enter_openat"));
    assert!(svg.contains("kernel frames orange"));
    assert!(svg.contains("<title>do_sys_openat2 (4 samples"), "{svg}");
    assert!(!svg.contains("_[k]"));
    // The fill of a frame, by its title's start.
    let fill = |name: &str| {
        let at = svg.find(&format!("<title>{name} (")).unwrap();
        let rest = &svg[at..];
        let f = rest.find("fill=\"").unwrap() + 6;
        rest[f..f + rest[f..].find('"').unwrap()].to_string()
    };
    // perf's palette: kernel frames orange (no blue, green above half), user frames red.
    let rgb = |c: String| -> Vec<u32> {
        c.trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().parse().unwrap())
            .collect()
    };
    let (kernel, user) = (rgb(fill("do_sys_openat2")), rgb(fill("__open64")));
    assert!(kernel[1] > 100 && kernel[2] == 0, "kernel frame {kernel:?}");
    assert!(
        user[1] < kernel[1],
        "user frame {user:?}, kernel {kernel:?}"
    );
}
