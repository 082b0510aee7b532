//! scry's kernel side: tracefs and its `format` files, probe types (expansion, contexts,
//! attaching), loading by scry's own `bpf(2)` calls (aya for maps it reads), the session's
//! event loop, and output.
//!
//! The one place that talks to the kernel. Knows nothing about syntax: it is handed a checked
//! program's `Module` and ELF bytes.

pub mod bpf_map;
pub mod btf;
pub mod clock;
pub mod detached;
pub mod error;
pub mod features;
pub mod format;
pub mod headers;
pub mod ldcache;
pub mod maps;
pub mod metrics;
pub mod namespaces;
pub mod object;
pub mod output;
pub mod perf;
pub mod pins;
pub mod privileges;
pub mod probes;
pub mod raw_prog;
pub mod render;
pub mod session;
pub mod signals;
pub mod stapsdt;
pub mod symbols;
pub mod tracefs;

pub use detached::Detached;
pub use error::RuntimeError;
pub use session::{ProbeStatus, Session, SetId, Stop};
