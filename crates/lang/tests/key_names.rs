//! The names the checker gives map keys, which `--metrics` uses as Prometheus labels: a key
//! expression's own name where it has one, `keyN` otherwise.

use scry_lang::check::{check, CheckOptions};
use scry_lang::fixture::Recorded;

fn key_names(source: &str, map: &str) -> Vec<String> {
    let ast = scry_lang::parse(source).unwrap();
    let program = check(&ast, &Recorded, &CheckOptions::default()).unwrap();
    program
        .maps
        .iter()
        .find(|m| m.name == map)
        .unwrap_or_else(|| panic!("no map {map}"))
        .key_names
        .clone()
}

#[test]
fn keys_are_named_after_their_expressions() {
    let source = r#"tracepoint:syscalls:sys_enter_openat {
        $dir = args.dfd;
        @opens[comm, pid, $dir, args.flags] = count();
        @calls[syscall_name(args.__syscall_nr), comm] = count();
        @tuple[(tid, cpu)] = count();
        @twice[comm, comm] = count();
        @scalar = count();
        @stack[kstack] = count();
      }"#;
    assert_eq!(key_names(source, "@opens"), ["comm", "pid", "dir", "flags"]);
    assert_eq!(key_names(source, "@calls"), ["key0", "comm"]);
    assert_eq!(key_names(source, "@tuple"), ["tid", "cpu"]);
    assert_eq!(key_names(source, "@twice"), ["comm", "key1"]);
    assert!(key_names(source, "@scalar").is_empty());
    assert_eq!(key_names(source, "@stack"), ["kstack"]);
}
