//! scry's code generator: a checked `typed::Program` in, a `Module` of eBPF programs, map
//! definitions and record layouts out (which the runtime loads itself), and the ELF object
//! `--emit-elf` writes.
//!
//! Invariants: no aya types and no I/O here; everything is testable without root. Every
//! instruction carries the source span that produced it, so verifier errors can point at the
//! script.

pub mod asm;
pub mod elf;
pub mod insn;
pub mod lower;
pub mod module;

pub use lower::{compile, reads_comm, CompileError, CompileOptions};
pub use module::Module;
