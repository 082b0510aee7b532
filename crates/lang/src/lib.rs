//! scry's language: the grammar, the syntax tree, semantic analysis and diagnostics.
//!
//! `parse` turns text into an `ast::Program`; `check` turns that, plus a `ProbeResolver` that
//! describes each probe's context, into a `typed::Program` for code generation.
//!
//! Invariants: this crate does no I/O and knows nothing about the kernel (probe contexts come in
//! through `ProbeResolver`; `fixture`, for tests only, holds a few recorded ones); it never
//! panics on any input; every error carries a span, and parsing and checking report all the
//! errors they can, not just the first.

pub mod ast;
pub mod builtins;
pub mod check;
pub mod constants;
pub mod diagnostic;
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
pub mod macros;
pub mod parser;
pub mod preprocess;
pub mod printf;
pub mod typed;
pub mod types;

pub use check::{check, check_with_maps, CheckOptions, MissingProbes, Setting};
pub use diagnostic::{Diagnostic, Severity};
pub use parser::{parse, parse_statements};
