//! A program the verifier rejects comes back as `RuntimeError::Verifier` with the kernel's log,
//! the probe it belongs to, and the script span of the instruction it stopped at.

use scry_codegen::insn::{Insn, Reg};
use scry_codegen::module::{MapKind, MapSpec, Program};
use scry_codegen::Module;
use scry_lang::ast::Span;
use scry_lang::types::{Attach, ProgramKind, Runs};
use scry_runtime::{RuntimeError, Session};

#[test]
fn verifier_rejection_is_located() {
    if !scry_runtime::privileges::can_trace() {
        assert_ne!(
            std::env::var("SCRY_REQUIRE_KERNEL").as_deref(),
            Ok("1"),
            "SCRY_REQUIRE_KERNEL=1 needs root"
        );
        return;
    }
    // r0 = r2 reads a register nothing wrote: the verifier refuses it at slot 1.
    let insns = vec![
        Insn::mov64_reg(Reg::R9, Reg::R1),
        Insn::mov64_reg(Reg::R0, Reg::R2),
        Insn::exit(),
    ];
    let module = Module {
        programs: vec![Program {
            name: format!("scry{:x}_bad", std::process::id()),
            probe: "BEGIN".into(),
            provider: "BEGIN",
            kind: ProgramKind::new("raw_tp", None, Runs::AtStart),
            // BEGIN reads nothing of its target.
            attach: Attach::new(()),
            spans: vec![Span::new(0, 5), Span::new(8, 20), Span::new(0, 5)],
            insns,
            map_loads: vec![],
            subprograms: vec![],
            func_loads: vec![],
            kernel_fields: vec![],
            attach_span: Span::new(0, 5),
        }],
        maps: vec![MapSpec {
            name: "scry_events".into(),
            kind: MapKind::RingBuf,
            key_size: 0,
            value_size: 0,
            max_entries: 4096,
        }],
        records: vec![],
        first_record: 0,
        user_maps: vec![],
        stack_mode: Default::default(),
        str_trailer: String::new(),
        license: "GPL".into(),
        max_cat_bytes: 10240,
    };
    match Session::load(module) {
        Err(RuntimeError::Verifier {
            probe,
            insn_span,
            log,
            errno,
            ..
        }) => {
            assert_eq!(probe, "BEGIN");
            assert_eq!(insn_span, Some(Span::new(8, 20)));
            assert!(log.contains("R2 !read_ok"), "{log}");
            assert_eq!(errno.raw_os_error(), Some(libc::EACCES));
        }
        Err(other) => panic!("expected a verifier error, got {other}"),
        Ok(_) => panic!("the verifier accepted a read of an unwritten register"),
    }
}
