//! `debugf(format, args…)`: a line for the kernel's trace pipe (`/sys/kernel/tracing/trace_pipe`),
//! written by `bpf_trace_printk`. The format is checked against what the kernel's own
//! printf takes (`bpf_bprintf_prepare`), which would otherwise drop the line at run time.

use super::*;
use crate::ast::{self, ExprKind as A, Span};
use crate::typed::StmtKind;

/// The most arguments the kernel's `bpf_trace_vprintk` takes.
pub const DEBUGF_MAX_ARGS: usize = 12;

/// What a conversion of the kernel's printf reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conversion {
    Int,
    Str,
}

/// The conversions of a trace_printk format, as the kernel parses it: flags `0+- `, a width,
/// then `%d %i %u %x %X` (with `l` or `ll`), `%c`, `%s` or `%p`.
fn conversions(format: &[u8]) -> Result<Vec<Conversion>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| format.get(i).copied().unwrap_or(0);
    while i < format.len() {
        let c = format[i];
        if !(c.is_ascii_graphic() || c.is_ascii_whitespace() || c == b' ') {
            return Err(format!(
                "the kernel's printf takes printable ASCII only, not byte 0x{c:02x}"
            ));
        }
        if c != b'%' {
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            i += 2;
            continue;
        }
        i += 1;
        while matches!(at(i), b'0' | b'+' | b'-' | b' ') {
            i += 1;
        }
        while at(i).is_ascii_digit() {
            i += 1;
        }
        let conversion = match at(i) {
            b's' => Conversion::Str,
            b'c' | b'p' => Conversion::Int,
            _ => {
                let mut longs = 0;
                while at(i) == b'l' && longs < 2 {
                    longs += 1;
                    i += 1;
                }
                if !matches!(at(i), b'd' | b'i' | b'u' | b'x' | b'X') {
                    let found = match at(i) {
                        0 => "the end of the format".to_string(),
                        other => format!("`{}`", other as char),
                    };
                    return Err(format!(
                        "the kernel's printf has no conversion {found} here"
                    ));
                }
                Conversion::Int
            }
        };
        out.push(conversion);
        i += 1;
    }
    Ok(out)
}

impl Checker<'_> {
    pub(super) fn debugf(&mut self, args: &[ast::Expr], span: Span) -> Option<StmtKind> {
        let A::Str { value: format, .. } = &args[0].kind else {
            let d = self.error(args[0].span, "debugf's format must be a string literal");
            self.diags.push(d);
            return None;
        };
        let wanted = match conversions(format) {
            Ok(c) => c,
            Err(message) => {
                let d = self.error(args[0].span, message).with_hint(
                    "debugf takes %d %i %u %x %X (with l or ll), %c, %s and %p, with flags 0 + - and a width",
                );
                self.diags.push(d);
                return None;
            }
        };
        let given = &args[1..];
        if wanted.len() != given.len() {
            let d = self.error(
                span,
                format!(
                    "debugf's format has {} conversions but {} arguments follow it",
                    wanted.len(),
                    given.len()
                ),
            );
            self.diags.push(d);
            return None;
        }
        if given.len() > DEBUGF_MAX_ARGS {
            let d = self
                .error(
                    given[DEBUGF_MAX_ARGS].span,
                    format!("debugf takes at most {DEBUGF_MAX_ARGS} arguments after its format"),
                )
                .with_hint("the kernel's bpf_trace_vprintk takes no more");
            self.diags.push(d);
            return None;
        }
        let mut values = Vec::new();
        for (conversion, a) in wanted.iter().zip(given) {
            let v = match conversion {
                Conversion::Int => self.scalar(a, "this debugf conversion")?,
                Conversion::Str => {
                    let v = self.expr(a)?;
                    if !v.ty.is_str() {
                        let d = self
                            .error(a.span, format!("%s takes a string, not {}", v.ty))
                            .with_hint("a pointer to one is read with str()");
                        self.diags.push(d);
                        return None;
                    }
                    v
                }
            };
            values.push(v);
        }
        Some(StmtKind::Debugf {
            format: format.clone(),
            args: values,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_the_kernels() {
        use Conversion::*;
        assert_eq!(
            conversions(b"%d %-5lu %08llx %s %c %p 100%%\n"),
            Ok(vec![Int, Int, Int, Str, Int, Int])
        );
        assert!(conversions(b"%f")
            .unwrap_err()
            .contains("no conversion `f`"));
        assert!(conversions(b"%lld%")
            .unwrap_err()
            .contains("the end of the format"));
        assert!(conversions(b"%lllx").is_err());
        assert!(conversions("é".as_bytes()).is_err());
    }
}
