//! The C preprocessor's conditionals, as bpftrace scripts use them: `#if`, `#ifdef`, `#ifndef`,
//! `#elif`, `#else` and `#endif`. `BPFTRACE_HAVE_BTF` is defined (kernel types always come from
//! BTF), as is every `#define` in a section that is kept. Lines of sections left out, and the
//! directives themselves, become blanks of the same length, so every span still points at the
//! script as written.

/// What scry defines before the script's own `#define`s.
const PREDEFINED: &[&str] = &["BPFTRACE_HAVE_BTF"];

/// One open `#if…#endif`.
struct Section {
    /// The enclosing section is kept.
    outer: bool,
    /// A branch of this section was taken already.
    taken: bool,
    /// The current branch is kept.
    keep: bool,
}

pub fn conditionals(source: &str) -> String {
    if !source.lines().any(|l| l.trim_start().starts_with("#if")) {
        return source.to_string();
    }
    let mut defined: Vec<String> = PREDEFINED.iter().map(|s| s.to_string()).collect();
    let mut stack: Vec<Section> = Vec::new();
    let mut out = String::with_capacity(source.len());
    for line in source.split_inclusive('\n') {
        let keeping = stack.last().is_none_or(|s| s.keep);
        let text = line.trim_start();
        let (directive, rest) = match text.strip_prefix('#') {
            Some(d) => {
                let d = d.trim_start();
                let end = d
                    .find(|c: char| !c.is_ascii_alphabetic())
                    .unwrap_or(d.len());
                (&d[..end], d[end..].trim())
            }
            None => ("", ""),
        };
        let blank = match directive {
            "ifdef" | "ifndef" | "if" => {
                let cond = condition(directive, rest, &defined);
                stack.push(Section {
                    outer: keeping,
                    taken: cond,
                    keep: keeping && cond,
                });
                true
            }
            "elif" => {
                if let Some(s) = stack.last_mut() {
                    let cond = !s.taken && condition("if", rest, &defined);
                    s.taken |= cond;
                    s.keep = s.outer && cond;
                }
                true
            }
            "else" => {
                if let Some(s) = stack.last_mut() {
                    s.keep = s.outer && !s.taken;
                    s.taken = true;
                }
                true
            }
            "endif" => {
                stack.pop();
                true
            }
            "define" if keeping => {
                if let Some(name) = rest.split_whitespace().next() {
                    defined.push(name.to_string());
                }
                false
            }
            _ => !keeping,
        };
        if blank {
            out.extend(line.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Whether a conditional holds: `#ifdef X`, `#ifndef X`, and for `#if` the forms scripts use:
/// a number, `defined(X)`, `defined X`, and their negation with `!`.
fn condition(directive: &str, rest: &str, defined: &[String]) -> bool {
    let is_defined = |name: &str| defined.iter().any(|d| d == name.trim());
    match directive {
        "ifdef" => is_defined(rest),
        "ifndef" => !is_defined(rest),
        _ => {
            let (negate, expr) = match rest.strip_prefix('!') {
                Some(e) => (true, e.trim()),
                None => (false, rest),
            };
            let value = if let Some(name) = expr.strip_prefix("defined") {
                is_defined(name.trim().trim_start_matches('(').trim_end_matches(')'))
            } else {
                expr.parse::<i64>().map(|n| n != 0).unwrap_or(false)
            };
            value != negate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::conditionals;

    #[test]
    fn keeps_the_btf_branch_and_blanks_the_rest() {
        let src = "#ifndef BPFTRACE_HAVE_BTF\n#include <linux/sched.h>\n#else\n#define TASK_RUNNING 0\n#endif\nBEGIN {}\n";
        let out = conditionals(src);
        assert_eq!(out.len(), src.len());
        assert_eq!(
            out.lines().map(str::trim).collect::<Vec<_>>(),
            ["", "", "", "#define TASK_RUNNING 0", "", "BEGIN {}"]
        );
        let nested =
            "#if 0\n#ifdef X\na\n#else\nb\n#endif\n#elif defined(BPFTRACE_HAVE_BTF)\nc\n#endif\n";
        let out = conditionals(nested);
        let kept: Vec<&str> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(kept, ["c"]);
    }
}
