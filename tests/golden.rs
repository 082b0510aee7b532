//! Golden disassembly against the running kernel: each of `crates/codegen/tests/golden/*.bt`,
//! resolved through tracefs, kallsyms and ELF symbols as scry runs it, compiles to the same
//! `.dis` that the codegen crate's test gets from the recorded fixture, and the kernel's
//! verifier accepts every program of it. Each recorded probe of `scry_lang::fixture` is also
//! resolved here and must be what this kernel says.

mod common;

use scry_codegen::{compile, elf, CompileOptions};
use scry_lang::fixture::{Recorded, ATTACH_POINTS};
use scry_lang::types::{ProbeResolver, ResolvedProbe};
use scry_lang::{check, parse, CheckOptions};
use scry_runtime::probes::KernelResolver;
use scry_runtime::Session;
use std::path::Path;

#[test]
fn golden_disassembly_loads_into_the_kernel() {
    if !common::kernel() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/codegen/tests/golden");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bt"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 8);
    let mut failures = Vec::new();
    let mut with_task_comm = 0;
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
        let text = module.disassembly();
        let dis = path.with_extension("dis");
        if std::fs::read_to_string(&dis).unwrap_or_default() != text {
            failures.push(format!("{}:\n{text}", dis.display()));
        }
        // `--emit-elf`'s object of it loads with an ELF loader (aya's), and the verifier
        // accepts every golden program as scry loads it.
        let object = elf::write(&module).unwrap();
        let ebpf = aya::EbpfLoader::new()
            .btf(None)
            .load(&object)
            .unwrap_or_else(|e| panic!("{}: the ELF object: {e}", path.display()));
        drop(ebpf);
        let session = Session::load(module).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        drop(session);
        // Where the kernel relocates `task_struct.comm`, `comm` is read from the task: that
        // loads too, by scry's loader and (its CO-RE relocation applied) by aya's.
        if scry_codegen::reads_comm(&typed) && scry_runtime::features::comm_from_task() {
            let module = compile(
                &typed,
                &CompileOptions {
                    comm_from_task: true,
                    ..options.clone()
                },
            )
            .unwrap();
            assert!(module.programs.iter().any(|p| !p.kernel_fields.is_empty()));
            let object = elf::write(&module).unwrap();
            let ebpf = aya::EbpfLoader::new()
                .load(&object)
                .unwrap_or_else(|e| panic!("{}: the ELF object: {e}", path.display()));
            drop(ebpf);
            let session =
                Session::load(module).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            drop(session);
            with_task_comm += 1;
        }
    }
    // The strings, count_and_hist, execsnoop and task_ids scripts read comm; kernels from 5.17 on
    // relocate it.
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut version = release
        .split(['.', '-'])
        .map(|n| n.parse::<u32>().unwrap_or(0));
    if (version.next().unwrap_or(0), version.next().unwrap_or(0)) >= (5, 17) {
        assert!(with_task_comm >= 4, "{with_task_comm} on {release}");
    }
    common::assert_no_programs_left(std::process::id());
    assert!(
        failures.is_empty(),
        "this kernel's disassembly differs from the recorded fixture's:\n{}",
        failures.join("\n")
    );
}

/// What checking and code generation see of a probe; where it attaches is each side's own,
/// and the fixture records no registers for `reg()`.
fn seen(mut p: ResolvedProbe) -> ResolvedProbe {
    p.attach = scry_lang::types::Attach::new(());
    p.registers.clear();
    p
}

#[test]
fn the_recorded_probes_are_this_kernels() {
    if !common::kernel() {
        return;
    }
    for spec in ATTACH_POINTS {
        let (provider, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(':').collect()
        };
        let recorded = Recorded.resolve(provider, &parts).unwrap();
        let live = KernelResolver::default()
            .resolve(provider, &parts)
            .unwrap_or_else(|e| panic!("{spec}: {}", e.message));
        let recorded: Vec<_> = recorded.into_iter().map(seen).collect();
        let live: Vec<_> = live.into_iter().map(seen).collect();
        assert_eq!(recorded, live, "{spec}");
    }
}
