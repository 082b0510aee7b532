//! bpftrace's text layouts: `@name[key]: value` lines, histograms with their bucket labels and
//! bars, stats records, and stacks one frame per line.

use super::value::{Entries, Histogram, Label, MapDump, Scalar, Stack, Value};
use scry_lang::types::StackMode;
use std::fmt::Write;

/// Width of a histogram's bar at its largest bucket.
const BAR_WIDTH: usize = 52;

/// A map as bpftrace prints it at exit or with `print(@m)`. An empty keyed map prints nothing.
pub fn map(dump: &MapDump) -> String {
    let mut out = String::new();
    match &dump.entries {
        Entries::Scalar(Value::Hist(h)) => {
            let _ = writeln!(out, "{}:", dump.name);
            hist(&mut out, h);
            out.push('\n');
        }
        Entries::Scalar(v) => {
            let _ = writeln!(out, "{}: {}", dump.name, value(v));
        }
        Entries::Keyed(entries) => {
            for (key, v) in entries {
                let _ = write!(out, "{}[{}]", dump.name, key_text(key));
                match v {
                    Value::Hist(h) => {
                        out.push_str(":\n");
                        hist(&mut out, h);
                        out.push('\n');
                    }
                    v => {
                        let _ = writeln!(out, ": {}", value(v));
                    }
                }
            }
        }
    }
    out
}

/// A key: its fields separated by `, ` (a tuple without its parentheses).
fn key_text(key: &[Scalar]) -> String {
    key.iter()
        .map(|s| scalar(s, 4))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value(v: &Value) -> String {
    match v {
        Value::Scalar(s) => scalar(s, 4),
        Value::Stats {
            count,
            average,
            total,
        } => format!("{{ .count = {count}, .average = {average}, .total = {total} }}"),
        Value::Hist(_) => unreachable!("histograms are printed on lines of their own"),
    }
}

/// A scalar; a stack is a newline, then one frame per line indented by `indent`.
pub fn scalar(s: &Scalar, indent: usize) -> String {
    match s {
        Scalar::Int(v) => v.to_string(),
        Scalar::UInt(v) => v.to_string(),
        Scalar::Pointer(v) => format!("0x{v:x}"),
        Scalar::Str(s) => s.clone(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Enum { name, .. } => name.clone(),
        Scalar::Stack(s) => stack(s, indent),
        Scalar::Tuple(items) => {
            let items: Vec<String> = items.iter().map(|s| scalar(s, indent)).collect();
            format!("({})", items.join(", "))
        }
        Scalar::Bytes(b) => escaped(b, false),
        Scalar::Record(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(n, v)| format!(".{n} = {}", scalar(v, indent)))
                .collect();
            format!("{{ {} }}", members.join(", "))
        }
        // bpftrace separates array elements without spaces.
        Scalar::Array(items) => {
            let items: Vec<String> = items.iter().map(|s| scalar(s, indent)).collect();
            format!("[{}]", items.join(","))
        }
        Scalar::Strings(items) => items.join(" "),
    }
}

/// `buf()` bytes as `%r` shows them: printable ASCII as is, the rest as `\xNN`; with `all`
/// (`%rx`), every byte as `\xNN`.
pub fn escaped(bytes: &[u8], all: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if !all && (b.is_ascii_graphic() || b == b' ') {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `\n` then `frame\n` for each frame, indented in bpftrace's mode (perf's and raw frames
/// carry their own layout).
pub fn stack(s: &Stack, indent: usize) -> String {
    let indent = if s.mode == StackMode::Bpftrace {
        indent
    } else {
        0
    };
    let mut out = String::from("\n");
    for f in &s.frames {
        let _ = writeln!(out, "{:indent$}{}", "", f.text(s.mode));
    }
    out
}

fn label(l: &Label) -> String {
    match l {
        Label::Int(v) => v.to_string(),
        Label::Sym(s, _) => s.clone(),
    }
}

/// Adjacent plain integers make a single-value bucket: `[1]` rather than `[1, 2)`.
fn single_value(lo: &Label, hi: &Label) -> bool {
    matches!((lo, hi), (Label::Int(a), Label::Int(b)) if a.checked_add(1) == Some(*b))
}

fn hist(out: &mut String, h: &Histogram) {
    let max = h.counts.iter().copied().max().unwrap_or(0);
    for (i, count) in h.counts.iter().enumerate() {
        let lo = if i == 0 {
            h.lower_bound.as_ref()
        } else {
            h.labels.get(i - 1)
        };
        let header = match (lo, h.labels.get(i)) {
            (None, Some(hi)) => format!("(..., {})", label(hi)),
            (Some(lo), None) => format!("[{}, ...)", label(lo)),
            (Some(lo), Some(hi)) if single_value(lo, hi) => format!("[{}]", label(lo)),
            (Some(lo), Some(hi)) => format!("[{}, {})", label(lo), label(hi)),
            (None, None) => String::new(),
        };
        let bar = if max == 0 {
            0
        } else {
            (*count as f32 / max as f32 * BAR_WIDTH as f32) as usize
        };
        let _ = writeln!(
            out,
            "{header:<16}{count:>8} |{:<BAR_WIDTH$}|",
            "@".repeat(bar)
        );
    }
}
