//! Which kernel map each script map becomes: a map without keys of an aggregation that is all
//! zeros until set is a one-entry per-CPU array (its lookup inlined, nothing to insert); every
//! other map, and any map something needs to be absent or present on its own, a hash.

use scry_codegen::module::MapKind;
use scry_codegen::{compile, CompileOptions};
use scry_lang::fixture::Recorded;
use scry_lang::{check, parse, CheckOptions};

fn kind(src: &str, map: &str, options: &CompileOptions) -> MapKind {
    let ast = parse(src).unwrap();
    let typed = check(&ast, &Recorded, &CheckOptions::default()).unwrap();
    let module = compile(&typed, options).unwrap();
    let user = module
        .user_maps
        .iter()
        .find(|u| u.decl.name == map)
        .unwrap();
    let spec = &module.maps[user.map.0];
    if spec.kind == MapKind::PerCpuArray {
        assert_eq!((spec.key_size, spec.max_entries), (4, 1), "{src}");
    }
    spec.kind
}

#[test]
fn keyless_aggregations_zero_until_set_are_arrays() {
    let o = CompileOptions::default();
    for agg in [
        "count()",
        "hist(args.ret)",
        "lhist(args.ret, 0, 100, 10)",
        "min(args.ret)",
        "max(args.ret)",
        "avg(args.ret)",
        "stats(args.ret)",
    ] {
        let src = format!("tracepoint:syscalls:sys_exit_read {{ @m = {agg}; }}");
        assert_eq!(kind(&src, "@m", &o), MapKind::PerCpuArray, "{src}");
    }
}

#[test]
fn other_maps_stay_hashes() {
    let o = CompileOptions::default();
    let exit = "tracepoint:syscalls:sys_exit_read";
    for (src, want) in [
        // sum() may add zeros: all zeros is a value.
        (
            format!("{exit} {{ @m = sum(args.ret); }}"),
            MapKind::PerCpuHash,
        ),
        (
            format!("{exit} {{ @m[pid] = count(); }}"),
            MapKind::PerCpuHash,
        ),
        (
            format!("{exit} {{ @m = count(); delete(@m); }}"),
            MapKind::PerCpuHash,
        ),
        (
            format!("{exit} {{ @m = count(); zero(@m); }}"),
            MapKind::PerCpuHash,
        ),
        (format!("{exit} {{ @m = 5; }}"), MapKind::Hash),
        (
            format!("let @m = percpulruhash(10); {exit} {{ @m = count(); }}"),
            MapKind::LruPerCpuHash,
        ),
    ] {
        assert_eq!(kind(&src, "@m", &o), want, "{src}");
    }
    // An interactive session's later blocks may delete it.
    let shared = CompileOptions {
        shared: true,
        ..Default::default()
    };
    let src = format!("{exit} {{ @m = count(); }}");
    assert_eq!(kind(&src, "@m", &shared), MapKind::PerCpuHash);
}
