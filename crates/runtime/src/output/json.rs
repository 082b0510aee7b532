//! bpftrace's JSON output (`-f json`): one `{"type": …, "data": …}` object per line, with its
//! spacing (`", "` between members, `","` between array elements).

use super::value::{DumpKind, Entries, Histogram, MapDump, Scalar, Value};
use scry_lang::diagnostic::Location;
use std::fmt::Write;

/// A JSON string, escaped as bpftrace escapes it.
pub fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An integer; one a double cannot hold exactly is a string, as RFC 8259 advises.
fn int(v: i128) -> String {
    if (v as f64) as i128 == v {
        v.to_string()
    } else {
        string(&v.to_string())
    }
}

pub fn attached(n: usize) -> String {
    format!("{{\"type\": \"attached_probes\", \"count\": {n}, \"data\": {{\"probes\": {n}}}}}\n")
}

pub fn lost(n: u64) -> String {
    format!("{{\"type\": \"lost_events\", \"count\": {n}, \"data\": {{\"events\": {n}}}}}\n")
}

/// At exit, when records were lost: the run's totals.
pub fn loss_summary(lost: u64, delivered: u64) -> String {
    format!(
        "{{\"type\": \"lost_events_summary\", \"data\": {{\"lost\": {lost}, \"delivered\": {delivered}}}}}\n"
    )
}

/// A map record; an empty keyed map prints nothing.
pub fn map(dump: &MapDump) -> String {
    if dump.is_empty() {
        return String::new();
    }
    let kind = match dump.kind {
        DumpKind::Map => "map",
        DumpKind::Stats => "stats",
        DumpKind::Hist => "hist",
    };
    let body = match &dump.entries {
        Entries::Scalar(v) => value(v),
        Entries::Keyed(entries) => {
            let members: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}: {}", string(&key(k)), value(v)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
    };
    format!(
        "{{\"type\": \"{kind}\", \"data\": {{{}: {body}}}}}\n",
        string(&dump.name)
    )
}

/// A key as a JSON member name: fields joined by `,`, without spaces.
fn key(k: &[Scalar]) -> String {
    let text: Vec<String> = k.iter().map(|s| super::text::scalar(s, 4)).collect();
    text.join(",").replace(' ', "")
}

fn scalar(s: &Scalar) -> String {
    match s {
        Scalar::Int(v) => int(i128::from(*v)),
        Scalar::UInt(v) | Scalar::Pointer(v) => int(i128::from(*v)),
        Scalar::Str(s) => string(s),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Enum { value, .. } => int(i128::from(*value)),
        Scalar::Stack(..) | Scalar::Bytes(_) => string(&super::text::scalar(s, 4)),
        Scalar::Tuple(items) | Scalar::Array(items) => {
            let items: Vec<String> = items.iter().map(scalar).collect();
            format!("[{}]", items.join(","))
        }
        Scalar::Record(members) => {
            let members: Vec<String> = members
                .iter()
                .map(|(n, v)| format!("{}: {}", string(n), scalar(v)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
        Scalar::Strings(items) => {
            let items: Vec<String> = items.iter().map(|s| string(s)).collect();
            format!("[{}]", items.join(", "))
        }
    }
}

/// An `emit()` event: its time (RFC 3339, UTC, in nanoseconds) and its named fields.
pub fn event(wall_ns: i128, fields: &[(String, Scalar)]) -> String {
    let members: Vec<String> = fields
        .iter()
        .map(|(n, v)| format!("{}: {}", string(n), scalar(v)))
        .collect();
    format!(
        "{{\"type\": \"event\", \"time\": \"{}\", \"data\": {{{}}}}}\n",
        rfc3339(wall_ns),
        members.join(", ")
    )
}

/// `2026-12-01T16:35:59.123456789Z`: nanoseconds since the epoch as a UTC date and time.
pub fn rfc3339(wall_ns: i128) -> String {
    let secs = wall_ns.div_euclid(1_000_000_000) as i64;
    let nanos = wall_ns.rem_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `print(value)`.
pub fn value_record(s: &Scalar) -> String {
    format!("{{\"type\": \"value\", \"data\": {}}}\n", scalar(s))
}

/// Text from `printf`, `time`, `cat`, `join` and `system`, under its record type.
pub fn text(kind: &str, text: &str) -> String {
    format!("{{\"type\": \"{kind}\", \"data\": {}}}\n", string(text))
}

/// A helper that failed at run time.
pub fn helper_error(f: &super::HelperFailure<'_>) -> String {
    format!(
        "{{\"type\": \"helper_error\", \"msg\": {}, \"helper\": {}, \"retcode\": {}, \"filename\": {}, \"line\": {}, \"col\": {}}}\n",
        string(f.message),
        string(f.helper),
        f.retcode,
        string(&f.location.file),
        f.location.line,
        f.location.col
    )
}

/// `errorf`/`warnf`: the message and where the call is.
pub fn message(error: bool, loc: &Location, msg: &str) -> String {
    format!(
        "{{\"type\": \"{}\", \"msg\": {}, \"filename\": {}, \"line\": {}, \"col\": {}}}\n",
        if error { "errorf" } else { "warnf" },
        string(msg),
        string(&loc.file),
        loc.line,
        loc.col
    )
}

fn value(v: &Value) -> String {
    match v {
        Value::Scalar(s) => scalar(s),
        Value::Stats {
            count,
            average,
            total,
        } => format!("{{\"count\": {count}, \"average\": {average}, \"total\": {total}}}"),
        Value::Hist(h) => hist(h),
    }
}

/// Buckets as `{"min": a, "max": b, "count": c}`, `max` inclusive; the underflow bucket has
/// no `min` and an open-ended one no `max`.
fn hist(h: &Histogram) -> String {
    let buckets: Vec<String> = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let mut b = String::from("{");
            let lo = if i == 0 {
                h.lower_bound.as_ref()
            } else {
                h.labels.get(i - 1)
            };
            if let Some(lo) = lo {
                let _ = write!(b, "\"min\": {}, ", lo.value());
            }
            if let Some(hi) = h.labels.get(i) {
                let _ = write!(b, "\"max\": {}, ", hi.value() - 1);
            }
            let _ = write!(b, "\"count\": {count}}}");
            b
        })
        .collect();
    format!("[{}]", buckets.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        // 2026-12-01 16:40:00.710299688 UTC, and a leap day.
        assert_eq!(
            rfc3339(1_796_143_200_710_299_688),
            "2026-12-01T16:40:00.710299688Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
    }

    #[test]
    fn events_and_loss_summaries_are_records() {
        let fields = vec![
            ("pid".to_string(), Scalar::UInt(7)),
            (
                "argv".to_string(),
                Scalar::Strings(vec!["ls".into(), "-l \"x\"".into()]),
            ),
        ];
        assert_eq!(
            event(0, &fields),
            "{\"type\": \"event\", \"time\": \"1970-01-01T00:00:00.000000000Z\", \"data\": {\"pid\": 7, \"argv\": [\"ls\", \"-l \\\"x\\\"\"]}}\n"
        );
        assert_eq!(
            loss_summary(3, 10),
            "{\"type\": \"lost_events_summary\", \"data\": {\"lost\": 3, \"delivered\": 10}}\n"
        );
    }
}
