//! The runtime's errors. Kernel errors keep the kernel's words (errno, verifier log) and the
//! script location they belong to, for the binary to render.

use crate::tracefs::TracefsError;
use scry_lang::ast::Span;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("scry needs root (or the CAP_BPF and CAP_PERFMON capabilities) to load BPF programs")]
    NoPrivileges,
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    /// `-l` asked for probes this machine cannot have, and why.
    #[error("{0}")]
    Listing(String),
    #[error("creating the BPF map {name}: {source}")]
    MapCreate { name: String, source: io::Error },
    #[error("the kernel's verifier rejected the program for {probe}: {errno}")]
    Verifier {
        probe: String,
        /// The attach point as written.
        attach_span: Span,
        /// The script code that produced the instruction the verifier stopped at, when known.
        insn_span: Option<Span>,
        errno: io::Error,
        log: String,
    },
    #[error("loading the program for {probe}: {source}")]
    Load {
        probe: String,
        attach_span: Span,
        source: io::Error,
    },
    #[error("attaching {probe}: {source}")]
    Attach {
        probe: String,
        attach_span: Span,
        source: io::Error,
    },
    /// The kernel lacks what this probe type needs.
    #[error("{reason}")]
    Unavailable {
        probe: String,
        attach_span: Span,
        reason: String,
        hint: Option<String>,
    },
    #[error("running {probe}: {source}")]
    Run { probe: String, source: io::Error },
    #[error("no probe could be attached; the first failure: {0}")]
    NothingAttached(String),
    #[error("the BPF object has no map or program named `{0}`")]
    Missing(String),
    #[error("no probe type `{0}` loads these programs")]
    NoProbeType(&'static str),
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: io::Error,
    },
}

impl RuntimeError {
    /// The span of the script this error is about, if any.
    pub fn span(&self) -> Option<Span> {
        match self {
            RuntimeError::Verifier { attach_span, .. }
            | RuntimeError::Load { attach_span, .. }
            | RuntimeError::Attach { attach_span, .. }
            | RuntimeError::Unavailable { attach_span, .. } => Some(*attach_span),
            _ => None,
        }
    }
}

impl From<aya::maps::MapError> for RuntimeError {
    fn from(e: aya::maps::MapError) -> Self {
        RuntimeError::Io {
            context: "opening the event ring buffer",
            source: io::Error::other(e),
        }
    }
}
