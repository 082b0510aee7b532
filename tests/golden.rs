//! Golden disassembly: each `golden/NAME.bt` compiles to exactly `golden/NAME.dis`, and the
//! kernel's verifier accepts every program of it. `UPDATE_SNAPSHOTS=1` rewrites the `.dis`
//! files; review the diff.

mod common;

use scry_codegen::{compile, elf, CompileOptions};
use scry_lang::{check, parse, CheckOptions};
use scry_runtime::probes::KernelResolver;
use scry_runtime::Session;
use std::path::Path;

#[test]
fn golden_disassembly_loads_into_the_kernel() {
    if !common::kernel() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 4);
    let mut failures = Vec::new();
    for path in paths {
        let source = std::fs::read_to_string(&path).unwrap();
        let ast = parse(&source).unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let typed = check(&ast, &KernelResolver::default(), &CheckOptions::default())
            .unwrap_or_else(|d| panic!("{}: {d:?}", path.display()));
        let options = CompileOptions {
            name_prefix: format!("scry{:x}", std::process::id()),
            start_boot_ns: 0,
            ..Default::default()
        };
        let module = compile(&typed, &options).unwrap();
        let mut text = String::new();
        for prog in &module.programs {
            text.push_str(&format!(
                "{}:\n{}\n",
                prog.probe,
                prog.disassemble(&module.maps)
            ));
        }
        let dis = path.with_extension("dis");
        if update {
            std::fs::write(&dis, &text).unwrap();
        } else if std::fs::read_to_string(&dis).unwrap_or_default() != text {
            failures.push(format!("{}:\n{text}", dis.display()));
        }
        // The verifier must accept every golden program.
        let object = elf::write(&module).unwrap();
        let session =
            Session::load(module, &object).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        drop(session);
    }
    common::assert_no_programs_left(std::process::id());
    assert!(
        failures.is_empty(),
        "disassembly changed (UPDATE_SNAPSHOTS=1 to accept):\n{}",
        failures.join("\n")
    );
}
