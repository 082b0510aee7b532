//! `comm` read from the current task (`CompileOptions::comm_from_task`): the program takes
//! `task_struct.comm`'s offset from the kernel's relocation, and the BTF it is loaded with (and
//! the ELF object's) describes that relocation. `pid` and `tid`, in a probe that read `comm` so,
//! are loads from the same task.

use scry_codegen::insn::Helper;
use scry_codegen::module::KernelField;
use scry_codegen::{compile, elf, CompileOptions};
use scry_lang::fixture::Recorded;
use scry_lang::{check, parse, CheckOptions};

fn module(src: &str, comm_from_task: bool) -> scry_codegen::Module {
    let ast = parse(src).unwrap();
    let typed = check(&ast, &Recorded, &CheckOptions::default()).unwrap();
    let options = CompileOptions {
        comm_from_task,
        ..Default::default()
    };
    compile(&typed, &options).unwrap()
}

const SCRIPT: &str =
    r#"tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { @[comm] = count(); }"#;

#[test]
fn comm_comes_from_the_task_with_its_offset_relocated() {
    let m = module(SCRIPT, true);
    let p = &m.programs[0];
    // Read once for both uses: one relocated offset, after the helper that gives the task.
    assert_eq!(p.kernel_fields.len(), 1);
    let (slot, field) = p.kernel_fields[0];
    assert_eq!(field, KernelField::TaskComm);
    // (The task's address is kept in between, for `pid` and `tid`.)
    assert_eq!(p.insns[slot - 2].imm, Helper::GetCurrentTaskBtf as i32);
    assert_eq!(
        p.insns[slot - 1].code,
        0x7b,
        "a 64-bit store of the task's address"
    );
    let dis = p.disassemble(&m.maps);
    assert!(!dis.contains("get_current_comm"), "{dis}");
    assert!(
        dis.contains(&format!("{slot:4}: r0 += 0 (offsetof(task_struct, comm))")),
        "{dis}"
    );
    let btf = elf::program_btf(p).expect("a program with a kernel field has BTF");
    assert_eq!(btf.core_relos.len(), 1);
    assert_eq!(btf.core_relos[0].insn_off, slot as u32 * 8);
    // The main function's info, without which the kernel ignores the relocations.
    assert_eq!(btf.func_info.len(), 1);
    assert_eq!(btf.func_info[0].insn_off, 0);
    // The local type the relocation names, and its member, by name in the BTF's strings.
    let text = String::from_utf8_lossy(&btf.blob);
    for name in ["task_struct", "comm", "char", "0:0"] {
        assert!(text.contains(&format!("\0{name}\0")), "{name}");
    }
    // The ELF object carries it too, for loaders such as aya.
    let object = elf::write(&m).unwrap();
    let contains = |needle: &[u8]| object.windows(needle.len()).any(|w| w == needle);
    assert!(contains(b".BTF.ext\0"));
    assert!(contains(b"\0task_struct\0"));
}

#[test]
fn without_the_option_comm_is_the_helper_call() {
    let m = module(SCRIPT, false);
    let p = &m.programs[0];
    assert!(p.kernel_fields.is_empty());
    assert!(elf::program_btf(p).is_none());
    let dis = p.disassemble(&m.maps);
    assert_eq!(dis.matches("get_current_comm").count(), 1, "{dis}");
}

#[test]
fn pid_and_tid_come_from_the_task_comm_was_read_from() {
    let m = module(
        r#"tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { @[pid, tid, comm] = count(); }"#,
        true,
    );
    let p = &m.programs[0];
    let fields: Vec<KernelField> = p.kernel_fields.iter().map(|(_, f)| *f).collect();
    assert_eq!(
        fields,
        [
            KernelField::TaskComm,
            KernelField::TaskTgid,
            KernelField::TaskPid
        ]
    );
    let dis = p.disassemble(&m.maps);
    // One helper call gives the task; the ids are loads from it, 32 bits each.
    assert_eq!(
        dis.matches("call bpf_get_current_task_btf").count(),
        1,
        "{dis}"
    );
    assert!(!dis.contains("get_current_pid_tgid"), "{dis}");
    for (slot, field) in &p.kernel_fields[1..] {
        let (_, member, _) = field.describe();
        let line = format!("{:4}: r0 += 0 (offsetof(task_struct, {member}))", slot);
        assert!(dis.contains(&line), "{line} in {dis}");
        assert_eq!(p.insns[slot + 1].code, 0x61, "a 32-bit load after {line}");
    }
    // Each relocation names a local struct whose one member has the kernel's name: `int`
    // members for the ids.
    let btf = elf::program_btf(p).unwrap();
    assert_eq!(btf.core_relos.len(), 3);
    let text = String::from_utf8_lossy(&btf.blob);
    for name in ["tgid", "pid", "int", "comm"] {
        assert!(text.contains(&format!("\0{name}\0")), "{name}");
    }
    // Without comm read once (a single use), pid is the helper's.
    let m = module(
        r#"tracepoint:syscalls:sys_enter_openat { @[pid, comm] = count(); }"#,
        true,
    );
    let dis = m.programs[0].disassemble(&m.maps);
    assert!(dis.contains("get_current_pid_tgid"), "{dis}");
}
