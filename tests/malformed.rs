//! Every malformed program gets a located error and exit status 1: a table of programs, each
//! with the line and column its first error points at and the error's message. Syntax,
//! constants, functions and their arguments, type conflicts between assignments to one map,
//! unknown names, operand types, control flow, unsafe functions, settings, probe specs, probe
//! arguments and printf formats. Each is checked as a user runs it (`scry -e`), before
//! anything is loaded.

mod common;

use common::{kernel, run};

/// `(program, "LINE:COL", message)`.
const MALFORMED: &[(&str, &str, &str)] = &[
    (r##"BEGIN { printf("hi\n") "##, "1:23", "unexpected end of the program"),
    (r##"BEGIN { printf("hi\n"); "##, "1:24", "unexpected end of the program"),
    (r##"BEGIN printf("hi\n"); }"##, "1:7", "syntax error: unexpected `printf`; expected `/predicate/` or `{`"),
    (r##"BEGIN { $x = ; }"##, "1:14", "syntax error: unexpected `;`"),
    (r##"BEGIN { $x = 1 +; }"##, "1:17", "syntax error: unexpected `;`; expected an expression"),
    (r##"BEGIN { @x[1 = 2; }"##, "1:14", "syntax error: unexpected `=`; expected `.field` or an operator"),
    (r##"BEGIN { if (1) }"##, "1:9", "`if` needs a block after it"),
    (r##"BEGIN { else { } }"##, "1:14", "syntax error: unexpected `{`; expected `.field` or an operator"),
    (r##"BEGIN { for ($i : 0..) { } }"##, "1:22", "syntax error: unexpected `)`"),
    (r##"BEGIN { while () { } }"##, "1:18", "syntax error: unexpected `{`; expected `.field` or an operator"),
    (r##"BEGIN { $x = (1, ; }"##, "1:18", "syntax error: unexpected `;`"),
    (r##"BEGIN { $x = "abc; }"##, "1:14", "syntax error: unexpected `\"`"),
    (r##"BEGIN { $x = 'a'; }"##, "1:14", "syntax error: unexpected `'`"),
    (r##"BEGIN { $x = 1 1; }"##, "1:16", "syntax error: unexpected `1`; expected `.field` or an operator"),
    (r##"BEGIN { @x = count() count(); }"##, "1:22", "syntax error: unexpected `count`; expected `.field` or an operator"),
    (r##"BEGIN { return 1 2; }"##, "1:16", "syntax error: unexpected `1`; expected `.field` or an operator"),
    (r##"BEGIN { } }"##, "1:11", "syntax error: unexpected `}`; expected a probe such as `tracepoint:syscalls:sys_enter_openat` or end of input"),
    (r##"{ printf("x"); }"##, "1:1", "syntax error: unexpected `{`"),
    (r##"BEGIN { $x = 0x; }"##, "1:14", "syntax error: unexpected `0x`"),
    (r##"BEGIN { $x = 99999999999999999999999; }"##, "1:14", "integer literal does not fit in 64 bits"),
    (r##"BEGIN { $x = 1 / 0; }"##, "1:18", "`/` by zero"),
    (r##"BEGIN { $x = 5 % 0; }"##, "1:18", "`%` by zero"),
    (r##"BEGIN { $x = 1 << 64; }"##, "1:19", "a shift by 64: values have 64 bits"),
    (r##"BEGIN { $x = 1 >> 70; }"##, "1:19", "a shift by 70: values have 64 bits"),
    (r##"BEGIN { $a = (1, 2); $b = $a.5; }"##, "1:30", "a (int64, int64) has no element `5`"),
    (r##"BEGIN { $a = (1, 2); $b = $a.2; }"##, "1:30", "a (int64, int64) has no element `2`"),
    (r##"BEGIN { foo(); }"##, "1:9", "unknown function `foo`"),
    (r##"BEGIN { printf(); }"##, "1:9", "printf() takes at least 1 argument, not 0"),
    (r##"BEGIN { printf(1); }"##, "1:16", "printf's format must be a string literal"),
    (r##"BEGIN { printf("%d\n"); }"##, "1:17", "printf: the format has 1 conversion but 0 arguments follow"),
    (r##"BEGIN { printf("%d %d\n", 1); }"##, "1:20", "printf: the format has 2 conversions but 1 argument follows"),
    (r##"BEGIN { printf("%d\n", 1, 2); }"##, "1:27", "printf: 2 arguments but the format has only 1 conversion"),
    (r##"BEGIN { printf("%q\n", 1); }"##, "1:17", "unknown printf conversion `%q`"),
    (r##"BEGIN { printf("%d\n", "str"); }"##, "1:24", "printf: %d expects an integer, but this is string[4]"),
    (r##"BEGIN { printf("%s\n", 1, 2); }"##, "1:27", "printf: 2 arguments but the format has only 1 conversion"),
    (r##"BEGIN { printf("%", 1); }"##, "1:17", "incomplete printf conversion at the end of the format"),
    (r##"BEGIN { printf("\q"); }"##, "1:17", "unknown escape `\\q`"),
    (r##"BEGIN { print(); }"##, "1:9", "print() of a value takes 1 argument, not 0"),
    (r##"BEGIN { print(1, 2, 3, 4); }"##, "1:9", "print() of a value takes 1 argument, not 4"),
    (r##"BEGIN { exit("x"); }"##, "1:14", "exit's code must be an integer, but this is string[2]"),
    (r##"BEGIN { exit(1, 2); }"##, "1:9", "exit() takes at most 1 argument, not 2"),
    (r##"BEGIN { @x = count(1); }"##, "1:14", "count() takes 0 arguments, not 1"),
    (r##"BEGIN { @x = sum(); }"##, "1:14", "sum() takes 1 argument, not 0"),
    (r##"BEGIN { @x = sum("a"); }"##, "1:18", "sum's argument must be an integer, but this is string[2]"),
    (r##"BEGIN { @x = hist(); }"##, "1:14", "hist() takes 1 to 2 arguments, not 0"),
    (r##"BEGIN { @x = lhist(1); }"##, "1:14", "lhist() takes 4 arguments, not 1"),
    (r##"BEGIN { @x = lhist(1, 0, 10, 0); }"##, "1:14", "lhist's step must be positive"),
    (r##"BEGIN { @x = lhist(1, 10, 0, 1); }"##, "1:14", "lhist's max must be greater than its min"),
    (r##"BEGIN { @x = avg(comm); }"##, "1:18", "avg's argument must be an integer, but this is string[16]"),
    (r##"BEGIN { @x = 1; @x = "str"; }"##, "1:22", "type mismatch: @x holds int64, but this assigns string[4]"),
    (r##"BEGIN { @x[1] = 1; @x["a"] = 1; }"##, "1:30", "@x is keyed by an integer, but this uses a string"),
    (r##"BEGIN { @x[1] = 1; @x[1, 2] = 1; }"##, "1:31", "@x is keyed by an integer, but this uses (an integer, an integer)"),
    (r##"BEGIN { @x = count(); @x = 1; }"##, "1:28", "type mismatch: @x holds count(), but this assigns int64"),
    (r##"BEGIN { @x = count(); @x = hist(1); }"##, "1:28", "type mismatch: @x holds count(), but this assigns hist()"),
    (r##"BEGIN { @x[1] = 1; @x = 1; }"##, "1:25", "@x is keyed by an integer, but this uses nothing (a scalar map)"),
    (r##"BEGIN { $x = 1; $x = "str"; }"##, "1:17", "type mismatch: $x holds int64, but this assigns string[4]"),
    (r##"BEGIN { $y = $undefined + 1; }"##, "1:14", "unknown variable `$undefined`"),
    (r##"BEGIN { $x = nosuchbuiltin; }"##, "1:14", "unknown identifier `nosuchbuiltin`"),
    (r##"BEGIN { $x = args.filename; }"##, "1:14", "`args` is not available in BEGIN probes"),
    (r##"BEGIN { $x = retval; }"##, "1:14", "`retval` is not available in a BEGIN probe"),
    (r##"BEGIN { $x = arg0; }"##, "1:14", "`arg0` is not available in a BEGIN probe"),
    (r##"BEGIN { $x = func; }"##, "1:14", "`func` is not available in a BEGIN probe"),
    (r##"BEGIN { delete(@nomap[1]); }"##, "1:16", "unknown map `@nomap`"),
    (r##"BEGIN { $x = @undefined_map + 1; }"##, "1:14", "unknown map `@undefined_map`"),
    (r##"BEGIN { clear(1); }"##, "1:15", "clear() takes a map"),
    (r##"BEGIN { zero(@x, 1); @x = 1; }"##, "1:9", "zero() takes 1 argument, not 2"),
    (r##"BEGIN { $x = str(); }"##, "1:14", "str() takes 1 to 2 arguments, not 0"),
    (r##"BEGIN { $x = str(1, 2, 3); }"##, "1:14", "str() takes 1 to 2 arguments, not 3"),
    (r##"BEGIN { $x = ksym(); }"##, "1:14", "ksym() takes 1 argument, not 0"),
    (r##"BEGIN { $x = strncmp("a", "b"); }"##, "1:14", "strncmp() takes 3 arguments, not 2"),
    (r##"BEGIN { $x = "a" + 1; }"##, "1:14", "an operand of `+` must be an integer, but this is string[2]"),
    (r##"BEGIN { $x = "a" - "b"; }"##, "1:14", "an operand of `-` must be an integer, but this is string[2]"),
    (r##"BEGIN { $x = !"a"; }"##, "1:15", "the operand of `!` must be an integer, but this is string[2]"),
    (r##"BEGIN { $x = -"a"; }"##, "1:15", "the operand of `-` must be an integer, but this is string[2]"),
    (r##"BEGIN { $x = comm * 2; }"##, "1:14", "an operand of `*` must be an integer, but this is string[16]"),
    (r##"BEGIN { $x = (1, 2) + 1; }"##, "1:14", "an operand of `+` must be an integer, but this is (int64, int64)"),
    (r##"BEGIN { $x = 1; $x++; $y = $x.field; }"##, "1:31", "int64 has no fields"),
    (r##"BEGIN { $x = *1; }"##, "1:15", "`*` reads through a pointer, but this is int64"),
    (r##"BEGIN { $x = curtask->nosuchmember; }"##, "1:23", "struct task_struct has no member `nosuchmember`"),
    (r##"BEGIN { $x = (struct nosuchstruct *)0; }"##, "1:15", "unknown type `struct nosuchstruct`"),
    (r##"BEGIN { $x = sizeof(struct nosuchstruct); }"##, "1:21", "unknown type `struct nosuchstruct`"),
    (r##"BEGIN { $x = (int8)"a"; }"##, "1:20", "cannot cast string[2] to int8"),
    (r##"BEGIN { break; }"##, "1:9", "`break` outside a loop"),
    (r##"BEGIN { continue; }"##, "1:9", "`continue` outside a loop"),
    (r##"BEGIN { $a = (1, 2); $a[0] = 1; }"##, "1:28", "syntax error: unexpected `=`; expected `.field` or an operator"),
    (r##"BEGIN { $a = (1, 2); $b = $a[5]; }"##, "1:30", "a tuple's index must be a constant within its length"),
    (r##"BEGIN { $i = 0; unroll(1000) { $i++; } }"##, "1:24", "unroll's count must be between 1 and 100"),
    (r##"BEGIN { unroll(0) { } }"##, "1:16", "unroll's count must be between 1 and 100"),
    (r##"BEGIN { for ($kv : @nomap) { } }"##, "1:20", "unknown map `@nomap`"),
    (r##"BEGIN { system("ls"); }"##, "1:9", "system() is unsafe: it acts on the system, not just observes it"),
    (r##"BEGIN { signal("KILL"); }"##, "1:9", "signal() is unsafe: it acts on the system, not just observes it"),
    (r##"BEGIN { signal("NOSUCH"); }"##, "1:9", "signal() is unsafe: it acts on the system, not just observes it"),
    (r##"BEGIN { config = { nosuch = 1 }; }"##, "1:16", "syntax error: unexpected `=`; expected `.field` or an operator"),
    (r##"config = { max_map_keys = "a" } BEGIN { }"##, "1:12", "max_map_keys takes a number from 1 to 16777216"),
    (r##"config = { nosuch_key = 1 } BEGIN { }"##, "1:12", "unknown setting `nosuch_key`"),
    (r##"config = { stack_mode = nosuch } BEGIN { }"##, "1:12", "stack_mode takes one of bpftrace, perf, raw"),
    (r##"tracepoint:syscalls:sys_enter_nosuchcall { }"##, "1:1", "tracepoint not found: tracepoint:syscalls:sys_enter_nosuchcall"),
    (r##"tracepoint:nosuchcategory:foo { }"##, "1:1", "tracepoint not found: tracepoint:nosuchcategory:foo"),
    (r##"tracepoint:syscalls { }"##, "1:1", "a tracepoint is named `tracepoint:CATEGORY:EVENT`"),
    (r##"tracepoint:syscalls:sys_enter_openat:extra { }"##, "1:1", "a tracepoint is named `tracepoint:CATEGORY:EVENT`"),
    (r##"nosuchprovider:foo { }"##, "1:1", "unknown probe type `nosuchprovider`"),
    (r##"kprobe: { }"##, "1:1", "no kernel function ``"),
    (r##"uprobe:/nonexistent/binary:func { }"##, "1:1", "uprobe: /nonexistent/binary does not exist"),
    (r##"uprobe:/bin/sh { }"##, "1:1", "uprobe needs a binary and a function: uprobe:BIN:FUNC"),
    (r##"interval:x:1 { }"##, "1:1", "interval probes are written `interval:UNIT:N` or `interval:NUNIT`"),
    (r##"interval:s:abc { }"##, "1:1", "interval probes are written `interval:UNIT:N` or `interval:NUNIT`"),
    (r##"interval:s:0 { }"##, "1:1", "interval probes are written `interval:UNIT:N` or `interval:NUNIT`"),
    (r##"profile:hz:0 { }"##, "1:1", "profile probes are written `profile:UNIT:N` or `profile:NUNIT`"),
    (r##"profile:hz:-5 { }"##, "1:1", "profile probes are written `profile:UNIT:N` or `profile:NUNIT`"),
    (r##"tracepoint:syscalls:sys_enter_openat { $x = args.nosuchfield; }"##, "1:50", "tracepoint:syscalls:sys_enter_openat has no field `nosuchfield`"),
    (r##"tracepoint:syscalls:sys_enter_openat { $x = args->nosuchfield; }"##, "1:51", "tracepoint:syscalls:sys_enter_openat has no field `nosuchfield`"),
    (r##"tracepoint:syscalls:sys_enter_openat { $x = retval; }"##, "1:45", "`retval` is not available in a tracepoint probe"),
    (r##"tracepoint:syscalls:sys_enter_openat /"str"/ { }"##, "1:39", "a predicate must be an integer, but this is string[4]"),
    (r##"BEGIN /1 { }"##, "1:10", "syntax error: unexpected `{`; expected `.field` or an operator"),
    (r##"BEGIN { @x = kstack(5, 6, 7); }"##, "1:14", "kstack() takes 0 to 2 arguments, not 3"),
    (r##"BEGIN { @x = kstack(nosuchmode); }"##, "1:21", "unknown stack mode `nosuchmode`"),
    (r##"BEGIN { @x = kstack(1000); }"##, "1:21", "a stack depth is between 1 and 127"),
    (r##"BEGIN { $x = ntop(1, 2, 3); }"##, "1:14", "ntop() takes 1 to 2 arguments, not 3"),
    (r##"BEGIN { $x = strftime(1, 2); }"##, "1:23", "strftime's format must be a string literal"),
    (r##"BEGIN { $x = getopt(); }"##, "1:14", "getopt() takes 1 to 3 arguments, not 0"),
    (r##"BEGIN { #define X( }"##, "1:9", "syntax error: unexpected `#`; expected `{` or a statement"),
    (r##"#include"##, "1:1", "the program has no probes"),
    (r##"BEGIN { $x = 1 ? 2; }"##, "1:19", "syntax error: unexpected `;`; expected `.field` or an operator"),
    (r##"BEGIN { $x = 1 ? 2 : "a"; }"##, "1:14", "the branches of `?:` have different types: int64 and string[2]"),
    (r##"BEGIN { $x = 1s + "a"; }"##, "1:19", "an operand of `+` must be an integer, but this is string[2]"),
];

#[test]
fn every_malformed_program_gets_a_located_error() {
    if !kernel() {
        return;
    }
    assert!(MALFORMED.len() >= 80);
    let elf = format!("{}/malformed.o", env!("CARGO_TARGET_TMPDIR"));
    let mut wrong = Vec::new();
    for (program, at, message) in MALFORMED {
        let (status, stdout, stderr) = run(&["--emit-elf", &elf, "-e", program]);
        let first = format!("stdin:{at}: error: {message}\n");
        let located = stderr.starts_with(&first)
            // The source line follows, then a caret under the place.
            && stderr.lines().nth(2).is_some_and(|l| l.trim_start().starts_with('^'));
        if status.code() != Some(1) || !stdout.is_empty() || !located || stderr.contains("panicked")
        {
            wrong.push(format!(
                "{program}\n  wanted (exit 1) {first}  got (exit {:?}) {stderr}",
                status.code()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
