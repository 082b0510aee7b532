//! How printf records are laid out and sent: a record with a string a helper reads puts that
//! string last and is built in the scratch area, then sent only as far as the string reaches
//! (`bpf_ringbuf_output` with the length the read gives); any other is reserved in the ring at
//! its full size and filled in place.

use scry_codegen::module::{FieldKind, RecordLayout};
use scry_codegen::{compile, CompileOptions, Module};
use scry_lang::fixture::Recorded;
use scry_lang::{check, parse, CheckOptions};

fn module(src: &str) -> Module {
    let ast = parse(src).unwrap();
    let typed = check(&ast, &Recorded, &CheckOptions::default()).unwrap();
    compile(&typed, &CompileOptions::default()).unwrap()
}

/// The offsets and kinds of the first printf record's arguments, in argument order.
fn printf_fields(m: &Module) -> Vec<(u32, FieldKind)> {
    m.records
        .iter()
        .find_map(|r| match r {
            RecordLayout::Printf { args, .. } => {
                Some(args.iter().map(|f| (f.offset, f.kind.clone())).collect())
            }
            _ => None,
        })
        .expect("a printf record")
}

#[test]
fn the_largest_string_read_goes_last_and_the_record_is_sent_as_long_as_it() {
    let m = module(
        r#"tracepoint:syscalls:sys_enter_openat {
             printf("%s %d %s %s %d\n", str(args.filename, 8), pid, str(args.filename), comm, 5);
           }"#,
    );
    let fields = printf_fields(&m);
    let offsets: Vec<u32> = fields.iter().map(|f| f.0).collect();
    // The id, then str(…, 8), pid, comm and 5 in order; the path read at 1,024 bytes last.
    assert_eq!(offsets, [8, 24, 64, 32, 56], "{fields:?}");
    assert!(matches!(fields[2].1, FieldKind::Str(1024)), "{fields:?}");
    let dis = m.programs[0].disassemble(&m.maps);
    assert!(dis.contains("call bpf_ringbuf_output"), "{dis}");
    assert!(!dis.contains("call bpf_ringbuf_reserve"), "{dis}");
    // The length: the read's count, at least 1 (a failed read is zeroed) and at most the
    // field, past the field's offset.
    for line in [
        "if r0 s> 0x0 goto",
        "r0 = 1\n",
        "if r0 <= 0x408 goto",
        "r0 += 64",
    ] {
        assert!(dis.contains(line), "{line:?} in {dis}");
    }
}

#[test]
fn records_without_a_string_read_are_reserved_in_place() {
    for src in [
        r#"tracepoint:syscalls:sys_enter_openat { printf("%d %s\n", pid, comm); }"#,
        r#"tracepoint:syscalls:sys_enter_openat { printf("%s\n", "literal"); }"#,
    ] {
        let m = module(src);
        let dis = m.programs[0].disassemble(&m.maps);
        assert!(dis.contains("call bpf_ringbuf_reserve"), "{dis}");
        assert!(!dis.contains("call bpf_ringbuf_output"), "{dis}");
        let fields = printf_fields(&m);
        let mut offset = 8;
        for (at, kind) in &fields {
            assert_eq!(*at, offset, "{fields:?}");
            offset += kind.size();
        }
    }
}

#[test]
fn records_share_one_area_of_the_scratch_map() {
    // Ten printfs, each sent before the next is built: one area, the largest record's size.
    let body: String = (0..10)
        .map(|i| format!(r#"printf("{i} %s\n", str(args.filename));"#))
        .collect();
    let m = module(&format!(
        "tracepoint:syscalls:sys_enter_openat {{ {body} }}"
    ));
    let scratch = &m.maps[Module::SCRATCH.0];
    assert_eq!(scratch.value_size, 8 + 1032, "one area of one record");
}

#[test]
fn a_record_sent_while_another_is_built_has_an_area_of_its_own() {
    // Two printfs in the outer one's `{ …; v }` argument: each is built while the outer one
    // is, so neither may reuse its area (nor, the first done, may the second).
    let m = module(
        r#"tracepoint:syscalls:sys_enter_openat {
             printf("%s %d\n", str(args.filename), {
               printf("a %s\n", str(args.filename));
               printf("b %s\n", str(args.filename));
               7
             });
           }"#,
    );
    let scratch = &m.maps[Module::SCRATCH.0];
    let outer = 8 + 8 + 1032;
    let inner = 8 + 1032;
    assert_eq!(scratch.value_size, outer + 2 * inner);
}
