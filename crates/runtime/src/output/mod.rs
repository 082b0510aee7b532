//! Output: turns decoded records into what the user reads. `Printer` is the one interface; the
//! text printer writes bpftrace's layouts. Knows nothing about probes or the kernel.

mod printf;

pub use printf::format_printf;

use std::io::{self, Write};

pub trait Printer {
    /// Text produced by `printf`.
    fn printf(&mut self, text: &[u8]) -> io::Result<()>;
    /// Called after each batch of records, so a reader on a pipe sees lines as they happen.
    fn flush(&mut self) -> io::Result<()>;
}

/// bpftrace's text output.
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
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
