//! Golden disassembly, without a kernel: each `golden/NAME.bt`, checked against the recorded
//! probes of `scry_lang::fixture`, compiles to exactly `golden/NAME.dis`. `UPDATE_SNAPSHOTS=1`
//! rewrites the `.dis` files; review the diff. (The root package's `tests/golden.rs` compiles
//! the same scripts against the running kernel, requires the same text, and loads them.)

use scry_codegen::{compile, CompileOptions};
use scry_lang::fixture::Recorded;
use scry_lang::{check, parse, CheckOptions};
use std::path::{Path, PathBuf};

/// The golden scripts, in name order.
fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn golden_disassembly() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok();
    let paths = cases();
    assert!(paths.len() >= 8, "the golden scripts are there");
    let mut failures = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(&path).unwrap();
        let ast = parse(&source).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let typed = check(&ast, &Recorded, &CheckOptions::default())
            .unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let options = CompileOptions {
            name_prefix: "golden".into(),
            start_boot_ns: 0,
            ..Default::default()
        };
        let module = compile(&typed, &options).unwrap();
        let text = module.disassembly();
        let dis = path.with_extension("dis");
        if update {
            std::fs::write(&dis, &text).unwrap();
        } else if std::fs::read_to_string(&dis).unwrap_or_default() != text {
            failures.push(format!("{}:\n{text}", dis.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "disassembly changed (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        failures.join("\n")
    );
}
