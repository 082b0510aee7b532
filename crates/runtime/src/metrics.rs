//! `--metrics ADDR:PORT`: the script's maps served on `/metrics` in Prometheus's text
//! exposition format while the script runs, so any script is an exporter.
//!
//! `@name` is the metric `scry_name` (`@` alone is `scry_map`); map keys are labels named
//! after their key expressions (`MapDecl::key_names`). `count()` and `sum()` are counters,
//! `min()`, `max()`, `avg()` and plain integers gauges, `stats()` a summary (`_sum`,
//! `_count`), `hist()` and `lhist()` histograms (`_bucket{le=…}`, `_sum`, `_count`). Maps of
//! other values (strings, tuples) are left out.
//!
//! The server is part of the event loop (`Session::serve_metrics`): one request is answered
//! at a time, between batches of records, reading the maps as `print` does.

use crate::output::text;
use crate::output::value::{Entries, Histogram, MapDump, Scalar, Value};
use scry_lang::typed::{Aggregate, MapDecl, MapValue};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// The longest a client may take to send its request or read the answer; the event loop
/// waits for it meanwhile.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}")]
pub struct MetricsError {
    addr: String,
    source: io::Error,
}

/// A listening socket for Prometheus's scrapes.
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Listens on `addr` (`127.0.0.1:9435`, `[::1]:9435`, `localhost:9435`), before any
    /// probe is attached: an address in use or not of this machine is an error here.
    pub fn bind(addr: &str) -> Result<MetricsServer, MetricsError> {
        let fail = |source| MetricsError {
            addr: addr.to_string(),
            source,
        };
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(fail)?.collect();
        let listener = TcpListener::bind(addrs.as_slice()).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        Ok(MetricsServer { listener })
    }

    /// The address it listens on (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Readable when a client is waiting.
    pub fn fd(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Answers every client waiting, with `body` making the exposition text when asked.
    pub fn serve(&self, body: &mut dyn FnMut() -> String) {
        while let Ok((stream, _)) = self.listener.accept() {
            // A client that misbehaves only loses its answer.
            let _ = answer(stream, body);
        }
    }
}

fn answer(mut stream: TcpStream, body: &mut dyn FnMut() -> String) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&request);
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, text) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body())
        }
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "scry: the script's maps are on /metrics\n".to_string(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: the metrics are on /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    if method != "HEAD" {
        out.push_str(&text);
    }
    stream.write_all(out.as_bytes())
}

/// The metric name of a map: `@syscalls` → `scry_syscalls`, `@` → `scry_map`.
pub fn metric_name(map: &str) -> String {
    match map.strip_prefix('@').unwrap_or(map) {
        "" => "scry_map".to_string(),
        name => format!("scry_{name}"),
    }
}

/// A Prometheus metric type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Summary,
    Histogram,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
            Kind::Histogram => "histogram",
        }
    }
}

/// One map's lines of the exposition; empty for a map of values Prometheus cannot hold.
pub fn exposition(decl: &MapDecl, dump: &MapDump) -> String {
    let name = metric_name(&decl.name);
    let (kind, what) = match &decl.value {
        MapValue::Aggregate(Aggregate::Count) => (Kind::Counter, "count()"),
        MapValue::Aggregate(Aggregate::Sum) => (Kind::Counter, "sum()"),
        MapValue::Aggregate(Aggregate::Min) => (Kind::Gauge, "min()"),
        MapValue::Aggregate(Aggregate::Max) => (Kind::Gauge, "max()"),
        MapValue::Aggregate(Aggregate::Avg) => (Kind::Gauge, "avg()"),
        MapValue::Aggregate(Aggregate::Stats) => (Kind::Summary, "stats()"),
        MapValue::Aggregate(Aggregate::Hist { .. }) => (Kind::Histogram, "hist()"),
        MapValue::Aggregate(Aggregate::Lhist(_)) => (Kind::Histogram, "lhist()"),
        MapValue::Int(_) => (Kind::Gauge, "the value"),
        MapValue::Str(_) | MapValue::Stored(_) => return String::new(),
    };
    let keys = if decl.key_names.is_empty() {
        String::new()
    } else {
        format!("[{}]", decl.key_names.join(", "))
    };
    let mut out = format!(
        "# HELP {name} {what} of {}{keys}, from scry\n# TYPE {name} {}\n",
        decl.name,
        kind.name()
    );
    let entries: Vec<(&[Scalar], &Value)> = match &dump.entries {
        Entries::Scalar(v) => vec![(&[][..], v)],
        Entries::Keyed(e) => e.iter().map(|(k, v)| (k.as_slice(), v)).collect(),
    };
    for (key, value) in entries {
        let labels: Vec<String> = decl
            .key_names
            .iter()
            .zip(key)
            .map(|(n, v)| format!("{n}=\"{}\"", label_value(&text::scalar(v, 0))))
            .collect();
        let braces = |extra: Option<String>| {
            let all: Vec<String> = labels.iter().cloned().chain(extra).collect();
            if all.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", all.join(","))
            }
        };
        match value {
            Value::Scalar(Scalar::Int(v)) => {
                let _ = writeln!(out, "{name}{} {v}", braces(None));
            }
            Value::Scalar(Scalar::UInt(v)) => {
                let _ = writeln!(out, "{name}{} {v}", braces(None));
            }
            Value::Stats { average, .. } if kind == Kind::Gauge => {
                let _ = writeln!(out, "{name}{} {average}", braces(None));
            }
            Value::Stats { count, total, .. } => {
                let _ = writeln!(out, "{name}_sum{} {total}", braces(None));
                let _ = writeln!(out, "{name}_count{} {count}", braces(None));
            }
            Value::Hist(h) => histogram(&mut out, &name, h, &braces),
            Value::Scalar(_) => {}
        }
    }
    out
}

/// `_bucket{le=…}` lines, cumulative, for the buckets from the lowest to the highest that
/// has a count, then `+Inf`, `_sum` and `_count`. Values are integers, so a bucket
/// `[4, 8)` is `le="7"`.
fn histogram(
    out: &mut String,
    name: &str,
    h: &Histogram,
    braces: &dyn Fn(Option<String>) -> String,
) {
    let mut cumulative = 0u64;
    for (i, count) in h.counts.iter().enumerate() {
        cumulative += count;
        // The last bucket may be open-ended (past the last label): `+Inf` counts it.
        if let Some(upper) = h.labels.get(i) {
            let le = format!("le=\"{}\"", upper.value() - 1);
            let _ = writeln!(out, "{name}_bucket{} {cumulative}", braces(Some(le)));
        }
    }
    let inf = "le=\"+Inf\"".to_string();
    let _ = writeln!(out, "{name}_bucket{} {cumulative}", braces(Some(inf)));
    let _ = writeln!(out, "{name}_sum{} {}", braces(None), h.sum);
    let _ = writeln!(out, "{name}_count{} {cumulative}", braces(None));
}

/// A label value with `\`, `"` and newlines escaped.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::value::{DumpKind, Label};
    use scry_lang::types::{IntType, Type};

    fn decl(name: &str, value: MapValue, key_names: &[&str]) -> MapDecl {
        MapDecl {
            name: name.into(),
            keys: key_names.iter().map(|_| Type::Int(IntType::U64)).collect(),
            value,
            counted: false,
            storage: None,
            key_names: key_names.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn counters_have_their_keys_as_labels() {
        let d = decl(
            "@syscalls",
            MapValue::Aggregate(Aggregate::Count),
            &["comm", "pid"],
        );
        let dump = MapDump {
            name: "@syscalls".into(),
            kind: DumpKind::Map,
            entries: Entries::Keyed(vec![
                (
                    vec![Scalar::Str("a \"q\"".into()), Scalar::UInt(7)],
                    Value::Scalar(Scalar::UInt(3)),
                ),
                (
                    vec![Scalar::Str("bash".into()), Scalar::UInt(1)],
                    Value::Scalar(Scalar::UInt(10)),
                ),
            ]),
        };
        assert_eq!(
            exposition(&d, &dump),
            "# HELP scry_syscalls count() of @syscalls[comm, pid], from scry\n\
             # TYPE scry_syscalls counter\n\
             scry_syscalls{comm=\"a \\\"q\\\"\",pid=\"7\"} 3\n\
             scry_syscalls{comm=\"bash\",pid=\"1\"} 10\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        // hist(): [4, 8) once, [8, 16) never, [16, 32) twice; 5 + 20 + 30 = 55.
        let d = decl("@", MapValue::Aggregate(Aggregate::Hist { bits: 0 }), &[]);
        let dump = MapDump {
            name: "@".into(),
            kind: DumpKind::Hist,
            entries: Entries::Scalar(Value::Hist(Histogram {
                lower_bound: Some(Label::Int(4)),
                labels: vec![Label::Int(8), Label::Int(16), Label::Int(32)],
                counts: vec![1, 0, 2],
                sum: 55,
            })),
        };
        assert_eq!(
            exposition(&d, &dump),
            "# HELP scry_map hist() of @, from scry\n\
             # TYPE scry_map histogram\n\
             scry_map_bucket{le=\"7\"} 1\n\
             scry_map_bucket{le=\"15\"} 1\n\
             scry_map_bucket{le=\"31\"} 3\n\
             scry_map_bucket{le=\"+Inf\"} 3\n\
             scry_map_sum 55\n\
             scry_map_count 3\n"
        );
    }

    #[test]
    fn averages_are_gauges_and_stats_summaries() {
        let stats = Value::Stats {
            count: 4,
            average: 5,
            total: 20,
        };
        let dump = MapDump {
            name: "@x".into(),
            kind: DumpKind::Stats,
            entries: Entries::Scalar(stats),
        };
        let avg = exposition(&decl("@x", MapValue::Aggregate(Aggregate::Avg), &[]), &dump);
        assert!(avg.ends_with("# TYPE scry_x gauge\nscry_x 5\n"), "{avg}");
        let s = exposition(
            &decl("@x", MapValue::Aggregate(Aggregate::Stats), &[]),
            &dump,
        );
        assert!(
            s.ends_with("# TYPE scry_x summary\nscry_x_sum 20\nscry_x_count 4\n"),
            "{s}"
        );
        let strings = exposition(&decl("@s", MapValue::Str(16), &[]), &dump);
        assert_eq!(strings, "");
    }
}
