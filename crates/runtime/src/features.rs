//! What this kernel can do, found by asking it: tiny programs loaded (and released), perf
//! events opened, PMUs and tracefs files looked up. For `--info`, in bpftrace's wording.

use crate::btf;
use aya::programs::{FEntry, FExit, Iter, KProbe, Program, RawTracePoint};
use aya::{Btf, EbpfLoader};
use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};
use scry_codegen::insn::{encode, Helper, Insn, Reg};
use std::path::Path;

/// One facility and whether the kernel offers it.
pub struct Feature {
    pub name: &'static str,
    pub available: bool,
}

/// A relocatable object with one program named `probe` in `section`.
fn object_with(section: &str, insns: &[Insn]) -> Option<Vec<u8>> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);
    let license = obj.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    obj.append_section_data(license, b"GPL\0", 1);
    let text = obj.add_section(Vec::new(), section.as_bytes().to_vec(), SectionKind::Text);
    let code = encode(insns);
    let offset = obj.append_section_data(text, &code, 8);
    obj.add_symbol(Symbol {
        name: b"probe".to_vec(),
        value: offset,
        size: code.len() as u64,
        kind: SymbolKind::Text,
        scope: SymbolScope::Linkage,
        weak: false,
        section: SymbolSection::Section(text),
        flags: SymbolFlags::None,
    });
    obj.write().ok()
}

/// Whether a program of this section, loaded as `load` does, is accepted; it is released after.
fn loads(section: &str, insns: &[Insn], load: impl FnOnce(&mut Program) -> bool) -> bool {
    let Some(elf) = object_with(section, insns) else {
        return false;
    };
    let Ok(mut ebpf) = EbpfLoader::new().btf(None).load(&elf) else {
        return false;
    };
    ebpf.program_mut("probe").is_some_and(load)
}

fn returns_zero() -> Vec<Insn> {
    vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()]
}

/// Whether a perf event of this type and config can be opened for this process.
fn perf_event_opens(kind: u32, config: u64) -> bool {
    crate::perf::open(&crate::perf::Attr::new(kind, config), 0, -1).is_ok()
}

fn pmu(name: &str) -> bool {
    Path::new("/sys/bus/event_source/devices")
        .join(name)
        .exists()
}

/// Whether the kernel loads trampoline programs (fentry on `vfs_read`).
pub fn trampolines() -> bool {
    static YES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *YES.get_or_init(|| {
        crate::probes::aya_btf().is_ok_and(|b| {
            loads("fentry/probe", &returns_zero(), |p| {
                let p: Result<&mut FEntry, _> = p.try_into();
                p.is_ok_and(|p| p.load("vfs_read", b).is_ok())
            })
        })
    })
}

/// Every facility, probed now.
pub fn probe_kernel() -> (Vec<Feature>, Vec<Feature>) {
    let kernel_btf = crate::probes::aya_btf().ok();
    let tracing = |section: &str, load: &dyn Fn(&mut Program, &Btf) -> bool| {
        kernel_btf.is_some_and(|b| loads(section, &returns_zero(), |p| load(p, b)))
    };
    let helper_call = |helper: Helper| {
        loads(
            "kprobe/probe",
            &[
                Insn::call(helper),
                Insn::mov64_imm(Reg::R0, 0),
                Insn::exit(),
            ],
            |p| {
                let p: Result<&mut KProbe, _> = p.try_into();
                p.is_ok_and(|p| p.load().is_ok())
            },
        )
    };
    let features = vec![
        Feature {
            name: "btf",
            available: btf::vmlinux().is_some(),
        },
        Feature {
            name: "get_func_ip",
            available: helper_call(Helper::GetFuncIp),
        },
        Feature {
            name: "send_signal",
            available: loads(
                "raw_tp/probe",
                &[
                    Insn::mov64_imm(Reg::R1, 0),
                    Insn::call(Helper::SendSignal),
                    Insn::mov64_imm(Reg::R0, 0),
                    Insn::exit(),
                ],
                |p| {
                    let p: Result<&mut RawTracePoint, _> = p.try_into();
                    p.is_ok_and(|p| p.load().is_ok())
                },
            ),
        },
    ];
    let probes = vec![
        Feature {
            name: "kprobe",
            available: pmu("kprobe")
                || crate::tracefs::root().is_ok_and(|r| r.join("kprobe_events").exists()),
        },
        Feature {
            name: "uprobe",
            available: pmu("uprobe"),
        },
        Feature {
            name: "tracepoint",
            available: crate::tracefs::root().is_ok_and(|r| r.join("events").is_dir()),
        },
        Feature {
            name: "rawtracepoint",
            available: loads("raw_tp/probe", &returns_zero(), |p| {
                let p: Result<&mut RawTracePoint, _> = p.try_into();
                p.is_ok_and(|p| p.load().is_ok())
            }),
        },
        Feature {
            name: "perf_event",
            available: perf_event_opens(1, 0),
        },
        Feature {
            name: "hardware",
            available: perf_event_opens(0, 0),
        },
        Feature {
            name: "fentry",
            available: tracing("fentry/probe", &|p, b| {
                let p: Result<&mut FEntry, _> = p.try_into();
                p.is_ok_and(|p| p.load("vfs_read", b).is_ok())
            }),
        },
        Feature {
            name: "fexit",
            available: tracing("fexit/probe", &|p, b| {
                let p: Result<&mut FExit, _> = p.try_into();
                p.is_ok_and(|p| p.load("vfs_read", b).is_ok())
            }),
        },
        Feature {
            name: "iter",
            available: tracing("iter/task", &|p, b| {
                let p: Result<&mut Iter, _> = p.try_into();
                p.is_ok_and(|p| p.load("task", b).is_ok())
            }),
        },
        Feature {
            name: "watchpoint",
            available: pmu("breakpoint"),
        },
    ];
    (features, probes)
}
