//! Everything that can stop scry, rendered for a person: located diagnostics with the source
//! line and a caret, kernel errors with the verifier's words, and one-line usage errors.

use scry_codegen::CompileError;
use scry_lang::diagnostic::{render_all, Diagnostic, Severity};
use scry_runtime::RuntimeError;

pub struct Failure {
    text: String,
}

/// How many lines of the verifier's log to show: the end is where the reason is.
const VERIFIER_TAIL: usize = 12;

impl Failure {
    pub fn render(&self) -> &str {
        &self.text
    }

    pub fn plain(message: impl AsRef<str>) -> Failure {
        Failure {
            text: format!("scry: error: {}\n", message.as_ref()),
        }
    }

    pub fn diagnostics(diags: Vec<Diagnostic>, file: &str, source: &str) -> Failure {
        Failure {
            text: render_all(&diags, file, source),
        }
    }

    pub fn compile(e: CompileError, file: &str, source: &str) -> Failure {
        Failure {
            text: Diagnostic::error(e.span(), e.to_string()).render(file, source),
        }
    }

    pub fn runtime(e: RuntimeError, file: &str, source: &str) -> Failure {
        Failure {
            text: render_runtime(&e, Severity::Error, file, source),
        }
    }
}

/// A kernel-side problem that does not stop scry (a probe left out under
/// `missing_probes = warn`), rendered as a warning.
pub fn warning(e: &RuntimeError, file: &str, source: &str) -> String {
    render_runtime(e, Severity::Warning, file, source)
}

/// A kernel-side problem with its location in the script where it has one, the verifier's
/// last words or the chain of causes.
fn render_runtime(e: &RuntimeError, severity: Severity, file: &str, source: &str) -> String {
    let Some(span) = e.span() else {
        let label = match severity {
            Severity::Warning => "warning",
            Severity::Error | Severity::Note => "error",
        };
        return format!("scry: {label}: {e}\n");
    };
    let mut error = Diagnostic::new(severity, span, e.to_string());
    if let RuntimeError::Unavailable {
        hint: Some(hint), ..
    } = e
    {
        error = error.with_hint(hint.clone());
    }
    let mut diags = vec![error];
    let mut tail = String::new();
    match e {
        RuntimeError::Verifier { insn_span, log, .. } => {
            if let Some(at) = insn_span {
                diags.push(Diagnostic::note(
                    *at,
                    "the verifier stopped at code generated for this",
                ));
            }
            let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
            tail.push_str("verifier log (last lines):\n");
            for l in &lines[lines.len().saturating_sub(VERIFIER_TAIL)..] {
                tail.push_str(&format!("  {l}\n"));
            }
        }
        RuntimeError::Attach { source, .. } => {
            let mut inner: Option<&dyn std::error::Error> = std::error::Error::source(source);
            while let Some(cause) = inner {
                tail.push_str(&format!("  caused by: {cause}\n"));
                inner = cause.source();
            }
        }
        _ => {}
    }
    render_all(&diags, file, source) + &tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use scry_lang::ast::Span;

    #[test]
    fn verifier_errors_show_the_probe_the_code_and_the_log_tail() {
        let source = "BEGIN { printf(\"%d\\n\", pid); }";
        let log = (0..20)
            .map(|i| format!("line {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        let e = RuntimeError::Verifier {
            probe: "BEGIN".into(),
            attach_span: Span::new(0, 5),
            insn_span: Some(Span::new(8, 28)),
            errno: std::io::Error::from_raw_os_error(libc::EACCES),
            log,
        };
        let text = Failure::runtime(e, "stdin", source).render().to_string();
        assert!(text.starts_with("stdin:1:1: error: the kernel's verifier rejected the program for BEGIN: Permission denied (os error 13)\n"), "{text}");
        assert!(
            text.contains("stdin:1:9: note: the verifier stopped at code generated for this\n"),
            "{text}"
        );
        assert!(
            text.contains("verifier log (last lines):\n  line 8\n"),
            "{text}"
        );
        assert!(text.ends_with("  line 19\n"), "{text}");
        assert!(!text.contains("line 7\n"), "{text}");
    }

    #[test]
    fn warnings_carry_their_severity() {
        let source = "kprobe:vfs_read { }";
        let e = RuntimeError::Verifier {
            probe: "kprobe:vfs_read".into(),
            attach_span: Span::new(0, 15),
            insn_span: None,
            errno: std::io::Error::from_raw_os_error(libc::EACCES),
            log: String::new(),
        };
        let text = warning(&e, "stdin", source);
        assert!(
            text.starts_with("stdin:1:1: warning: the kernel's verifier rejected"),
            "{text}"
        );
        assert!(!text.contains(": error:"), "{text}");
    }
}
