//! Output: turns decoded records and maps into what the user reads. `Printer` is the one
//! interface, with two implementations: bpftrace's text layouts and its NDJSON (`-f json`).
//! Knows nothing about probes or the kernel.

pub mod json;
mod printf;
pub mod text;
pub mod value;

pub use printf::format_printf;

use std::io::{self, Write};
use value::MapDump;

pub trait Printer {
    /// Text produced by `printf`.
    fn printf(&mut self, text: &[u8]) -> io::Result<()>;
    /// A map, at exit or from `print(@m)`.
    fn map(&mut self, dump: &MapDump) -> io::Result<()>;
    /// Records the kernel dropped because the ring buffer was full.
    fn lost(&mut self, count: u64) -> io::Result<()>;
    /// The probes are attached.
    fn attached(&mut self, probes: usize) -> io::Result<()>;
    /// The event loop is over; the maps follow.
    fn end(&mut self) -> io::Result<()>;
    /// Called after each batch of records, so a reader on a pipe sees lines as they happen.
    fn flush(&mut self) -> io::Result<()>;
}

/// bpftrace's text output: messages about the run go to stderr.
pub struct TextPrinter {
    out: Box<dyn Write>,
}

impl TextPrinter {
    pub fn new(out: Box<dyn Write>) -> Self {
        TextPrinter { out }
    }
}

impl Printer for TextPrinter {
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.out.write_all(text)
    }
    fn map(&mut self, dump: &MapDump) -> io::Result<()> {
        self.out.write_all(text::map(dump).as_bytes())
    }
    fn lost(&mut self, count: u64) -> io::Result<()> {
        eprintln!("Lost {count} events");
        Ok(())
    }
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        eprintln!(
            "Attached {probes} probe{}",
            if probes == 1 { "" } else { "s" }
        );
        Ok(())
    }
    fn end(&mut self) -> io::Result<()> {
        self.out.write_all(b"\n\n")
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// NDJSON: every message is a record on the output.
pub struct JsonPrinter {
    out: Box<dyn Write>,
}

impl JsonPrinter {
    pub fn new(out: Box<dyn Write>) -> Self {
        JsonPrinter { out }
    }
}

impl Printer for JsonPrinter {
    fn printf(&mut self, text: &[u8]) -> io::Result<()> {
        self.out
            .write_all(json::printf(&String::from_utf8_lossy(text)).as_bytes())
    }
    fn map(&mut self, dump: &MapDump) -> io::Result<()> {
        self.out.write_all(json::map(dump).as_bytes())
    }
    fn lost(&mut self, count: u64) -> io::Result<()> {
        self.out.write_all(json::lost(count).as_bytes())
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
}
