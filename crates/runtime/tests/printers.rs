//! Golden tests for the map printers on hand-built values: every value kind (integers, strings,
//! stats, avg, log2 and linear histograms, booleans, tuples, buffers) and key shape (none, integer, string, tuple, stack),
//! in text and JSON. `UPDATE_SNAPSHOTS=1` rewrites `tests/golden/printers.{txt,json}`.

mod snapshot;

use scry_lang::typed::LinearBuckets;
use scry_lang::types::StackMode;
use scry_runtime::maps::{linear_histogram, log2_histogram};
use scry_runtime::output::value::{DumpKind, Entries, Frame, MapDump, Scalar, Stack, Value};
use scry_runtime::output::{json, text};
use snapshot::check;

fn frame(ip: u64, name: &str, offset: u64) -> Frame {
    Frame {
        ip,
        symbol: Some((name.into(), offset)),
    }
}

fn dumps() -> Vec<MapDump> {
    let map = |name: &str, kind, entries| MapDump {
        name: name.into(),
        kind,
        entries,
    };
    let int = |v| Value::Scalar(Scalar::Int(v));
    let mut h = vec![0u64; 65];
    for (i, c) in [(0, 1), (1, 2), (2, 3), (4, 10), (11, 1), (21, 7)] {
        h[i] = c;
    }
    let mut fine = vec![0u64; (62 << 2) + 1];
    for (i, c) in [(5, 1), (9, 2), (27, 4)] {
        fine[i] = c;
    }
    let mut lin = vec![0u64; 12];
    for (i, c) in [(0, 1), (1, 4), (6, 2), (11, 1)] {
        lin[i] = c;
    }
    let mut kilo = vec![0u64; 12];
    kilo[3] = 5;
    vec![
        map("@", DumpKind::Map, Entries::Scalar(int(-42))),
        map(
            "@s",
            DumpKind::Map,
            Entries::Scalar(Value::Scalar(Scalar::Str("a \"quoted\"\tstring".into()))),
        ),
        map(
            "@tuple",
            DumpKind::Map,
            Entries::Keyed(vec![(
                vec![Scalar::Int(1), Scalar::Str("two".into())],
                Value::Scalar(Scalar::Tuple(vec![
                    Scalar::Bool(true),
                    Scalar::Str("x y".into()),
                    Scalar::Bytes(b"a\x01".to_vec()),
                ])),
            )]),
        ),
        map(
            "@big",
            DumpKind::Map,
            Entries::Scalar(Value::Scalar(Scalar::UInt(u64::MAX))),
        ),
        map(
            "@bycomm",
            DumpKind::Map,
            Entries::Keyed(vec![
                (vec![Scalar::Str("sshd".into())], int(3)),
                (vec![Scalar::Str("bash".into())], int(12)),
            ]),
        ),
        map(
            "@tuple",
            DumpKind::Map,
            Entries::Keyed(vec![(
                vec![Scalar::UInt(1), Scalar::Str("two".into()), Scalar::Int(-3)],
                int(4),
            )]),
        ),
        map(
            "@stack",
            DumpKind::Map,
            Entries::Keyed(vec![(
                vec![Scalar::Stack(Stack {
                    frames: vec![
                        frame(0xffff_ffff_8100_0136, "do_idle", 310),
                        frame(0xffff_ffff_8100_2025, "cpu_startup_entry", 37),
                    ],
                    user: false,
                    mode: StackMode::Bpftrace,
                })],
                int(9),
            )]),
        ),
        map("@avg", DumpKind::Stats, Entries::Scalar(int(15))),
        map(
            "@stats",
            DumpKind::Stats,
            Entries::Keyed(vec![(
                vec![Scalar::Int(1)],
                Value::Stats {
                    count: 2,
                    average: 15,
                    total: 30,
                },
            )]),
        ),
        map(
            "@hist",
            DumpKind::Hist,
            Entries::Scalar(Value::Hist(log2_histogram(&h, 0))),
        ),
        map(
            "@fine",
            DumpKind::Hist,
            Entries::Keyed(vec![(
                vec![Scalar::Str("k".into())],
                Value::Hist(log2_histogram(&fine, 2)),
            )]),
        ),
        map(
            "@lhist",
            DumpKind::Hist,
            Entries::Scalar(Value::Hist(linear_histogram(
                &lin,
                LinearBuckets {
                    min: 0,
                    max: 100,
                    step: 10,
                },
            ))),
        ),
        map(
            "@kilo",
            DumpKind::Hist,
            Entries::Scalar(Value::Hist(linear_histogram(
                &kilo,
                LinearBuckets {
                    min: 0,
                    max: 10240,
                    step: 1024,
                },
            ))),
        ),
        map("@empty", DumpKind::Map, Entries::Keyed(vec![])),
    ]
}

#[test]
fn text_layouts() {
    check(
        "tests/golden/printers.txt",
        dumps().iter().map(text::map).collect(),
    );
}

#[test]
fn json_layouts() {
    check(
        "tests/golden/printers.json",
        dumps().iter().map(json::map).collect(),
    );
}
