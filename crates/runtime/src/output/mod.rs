//! Output: turns decoded records and maps into what the user reads. `Printer` is the one
//! interface, with three implementations: bpftrace's text layouts, its NDJSON (`-f json`), and
//! text with stack maps folded (`-f folded`); and maps keyed by stacks drawn as flame graphs.
//! Knows nothing about probes or the kernel.

pub mod flamegraph;
pub mod folded;
pub mod json;
mod printf;
pub mod text;
pub mod value;

pub use printf::{format_printf, format_printf_into};

use scry_lang::diagnostic::Location;
use std::io::{self, Write};
use value::{MapDump, Scalar};

/// Writes to stderr; a closed stderr (`scry … 2>&1 | head`) drops the text instead of
/// panicking, as `eprint!` would.
pub fn to_stderr(text: &str) {
    use std::io::Write as _;
    let _ = io::stderr().write_all(text.as_bytes());
}

/// A helper that failed at run time, where, and why.
pub struct HelperFailure<'a> {
    pub location: &'a Location,
    pub helper: &'a str,
    pub retcode: i64,
    pub message: &'a str,
}

/// Where a piece of text output comes from; JSON output names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextKind {
    Printf,
    /// `time()`
    Time,
    /// `cat()`: a file's contents.
    Cat,
    /// `join()`: ends with a newline in text output.
    Join,
    /// `system()`: the command's output.
    System,
}

impl TextKind {
    fn json_type(self) -> &'static str {
        match self {
            TextKind::Printf => "printf",
            TextKind::Time => "time",
            TextKind::Cat => "cat",
            TextKind::Join => "join",
            TextKind::System => "syscall",
        }
    }
}

pub trait Printer: Send {
    /// Text produced by `printf`, `time`, `cat`, `join` or `system`.
    fn text(&mut self, kind: TextKind, text: &[u8]) -> io::Result<()>;
    /// `print(value)`.
    fn value(&mut self, value: &Scalar) -> io::Result<()>;
    /// `emit()`: the text its format made, the wall-clock time (ns since the epoch) it
    /// happened, and its named fields; only the fields when `wants_fields`, else only the text.
    fn event(&mut self, text: &[u8], wall_ns: i128, fields: &[(String, Scalar)]) -> io::Result<()>;
    /// Whether `event` needs the fields (JSON) rather than the text: each event is decoded
    /// only into what is printed.
    fn wants_fields(&self) -> bool;
    /// `errorf` or `warnf`.
    fn message(&mut self, error: bool, location: &Location, message: &str) -> io::Result<()>;
    /// A helper call failed at run time (`-k`).
    fn helper_error(&mut self, failure: &HelperFailure<'_>) -> io::Result<()>;
    /// A map, at exit or from `print(@m)`.
    fn map(&mut self, dump: &MapDump) -> io::Result<()>;
    /// Records the kernel dropped because the ring buffer was full.
    fn lost(&mut self, count: u64) -> io::Result<()>;
    /// At exit, when records were lost: how many in all, and how many were delivered.
    fn loss_summary(&mut self, lost: u64, delivered: u64) -> io::Result<()>;
    /// The probes are attached.
    fn attached(&mut self, probes: usize) -> io::Result<()>;
    /// The event loop is over; the maps follow.
    fn end(&mut self) -> io::Result<()>;
    /// Called after each batch of records, so a reader on a pipe sees lines as they happen.
    fn flush(&mut self) -> io::Result<()>;
    /// Called once at the end: everything reaches the output, whatever the buffering.
    fn finish(&mut self) -> io::Result<()>;
}

/// When output reaches its destination (`-B`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Buffering {
    /// After each batch of records, so a reader on a pipe sees lines as they happen.
    #[default]
    Line,
    /// When the buffer fills, and at the end.
    Full,
    /// After every write.
    None,
}

/// The output stream, flushed as `Buffering` says.
struct Out {
    out: Box<dyn Write + Send>,
    buffering: Buffering,
}

impl Out {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        if self.buffering == Buffering::None {
            self.out.flush()?;
        }
        Ok(())
    }
    /// The end of a batch of records.
    fn flush(&mut self) -> io::Result<()> {
        match self.buffering {
            Buffering::Full => Ok(()),
            _ => self.out.flush(),
        }
    }
    /// Before writing to stderr, so the two streams keep their order; and at the end.
    fn flush_now(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// bpftrace's text output: messages about the run go to stderr.
pub struct TextPrinter {
    out: Out,
}

impl TextPrinter {
    pub fn new(out: Box<dyn Write + Send>, buffering: Buffering) -> Self {
        TextPrinter {
            out: Out { out, buffering },
        }
    }
}

impl Printer for TextPrinter {
    fn text(&mut self, kind: TextKind, text: &[u8]) -> io::Result<()> {
        self.out.write_all(text)?;
        if kind == TextKind::Join {
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }
    fn value(&mut self, value: &Scalar) -> io::Result<()> {
        self.out
            .write_all(format!("{}\n", text::scalar(value, 8)).as_bytes())
    }
    fn event(&mut self, text: &[u8], _: i128, _: &[(String, Scalar)]) -> io::Result<()> {
        self.out.write_all(text)
    }
    fn wants_fields(&self) -> bool {
        false
    }
    fn message(&mut self, error: bool, location: &Location, message: &str) -> io::Result<()> {
        // In order with the output before it.
        self.out.flush_now()?;
        let level = if error { "ERROR" } else { "WARNING" };
        to_stderr(&format!("{location}: {level}: {message}\n"));
        Ok(())
    }
    fn helper_error(&mut self, f: &HelperFailure<'_>) -> io::Result<()> {
        self.out.flush_now()?;
        to_stderr(&format!(
            "{}: WARNING: {}\nAdditional Info - helper: {}, retcode: {}\n",
            f.location, f.message, f.helper, f.retcode
        ));
        Ok(())
    }
    fn map(&mut self, dump: &MapDump) -> io::Result<()> {
        self.out.write_all(text::map(dump).as_bytes())
    }
    fn lost(&mut self, count: u64) -> io::Result<()> {
        self.out.flush_now()?;
        to_stderr(&format!("Lost {count} events\n"));
        Ok(())
    }
    fn loss_summary(&mut self, lost: u64, delivered: u64) -> io::Result<()> {
        self.out.flush_now()?;
        to_stderr(&format!(
            "Lost {lost} events in all; {delivered} were delivered. A larger ring buffer \
             (config perf_rb_pages) or fewer events (a predicate) keeps them.\n"
        ));
        Ok(())
    }
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        to_stderr(&format!(
            "Attached {probes} probe{}\n",
            if probes == 1 { "" } else { "s" }
        ));
        Ok(())
    }
    fn end(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n\n")
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush_now()
    }
}

/// NDJSON: every message is a record on the output.
pub struct JsonPrinter {
    out: Out,
}

impl JsonPrinter {
    pub fn new(out: Box<dyn Write + Send>, buffering: Buffering) -> Self {
        JsonPrinter {
            out: Out { out, buffering },
        }
    }
}

impl Printer for JsonPrinter {
    fn text(&mut self, kind: TextKind, text: &[u8]) -> io::Result<()> {
        let text = String::from_utf8_lossy(text);
        self.out
            .write_all(json::text(kind.json_type(), &text).as_bytes())
    }
    fn value(&mut self, value: &Scalar) -> io::Result<()> {
        self.out.write_all(json::value_record(value).as_bytes())
    }
    fn event(&mut self, _: &[u8], wall_ns: i128, fields: &[(String, Scalar)]) -> io::Result<()> {
        self.out.write_all(json::event(wall_ns, fields).as_bytes())
    }
    fn wants_fields(&self) -> bool {
        true
    }
    fn message(&mut self, error: bool, location: &Location, message: &str) -> io::Result<()> {
        self.out
            .write_all(json::message(error, location, message).as_bytes())
    }
    fn helper_error(&mut self, f: &HelperFailure<'_>) -> io::Result<()> {
        self.out.write_all(json::helper_error(f).as_bytes())
    }
    fn map(&mut self, dump: &MapDump) -> io::Result<()> {
        self.out.write_all(json::map(dump).as_bytes())
    }
    fn lost(&mut self, count: u64) -> io::Result<()> {
        self.out.write_all(json::lost(count).as_bytes())
    }
    fn loss_summary(&mut self, lost: u64, delivered: u64) -> io::Result<()> {
        self.out
            .write_all(json::loss_summary(lost, delivered).as_bytes())
    }
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.out.write_all(json::attached(probes).as_bytes())
    }
    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush_now()
    }
}
