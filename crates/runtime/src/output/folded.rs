//! Folded stacks: a map keyed by stacks as `frame;frame;frame count` lines, root first: the
//! format FlameGraph's scripts, speedscope and inferno read, and what `-f folded` prints.
//!
//! A key's other fields (`comm`, `pid`) are the root frames, in key order; then its user stack
//! from the outermost frame in; then its kernel stack, so a system call's kernel frames sit on
//! the user frames that made it. When a key holds both kinds of stack, kernel frames carry
//! perf's `_[k]` mark, which flame graphs colour apart and do not show.

use super::text;
use super::value::{Entries, MapDump, Scalar, Stack, Value};
use super::{Printer, TextKind, TextPrinter};
use std::collections::BTreeMap;
use std::io;

/// A map folded: each distinct stack once, in name order, with its width.
#[derive(Debug, Default, PartialEq)]
pub struct Folded {
    pub lines: Vec<(String, u64)>,
    /// Keys hold both kernel and user stacks: kernel frames are marked `_[k]`.
    pub mixed: bool,
}

impl Folded {
    /// The sum of the widths: the map's total.
    pub fn total(&self) -> u64 {
        self.lines.iter().map(|(_, n)| n).sum()
    }

    /// As `-f folded` prints it: a line per stack.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (stack, n) in &self.lines {
            out.push_str(stack);
            out.push(' ');
            out.push_str(&n.to_string());
            out.push('\n');
        }
        out
    }
}

/// Why a map cannot be folded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FoldError {
    #[error("{0} is not keyed by a stack (kstack or ustack)")]
    NoStack(String),
    #[error(
        "{0}'s values are not numbers: a flame graph's widths come from count(), sum(), \
         min(), max() or integer values"
    )]
    NotNumbers(String),
}

/// What an entry of an empty stack (and no other key field) is drawn as.
pub const NO_STACK: &str = "[no stack]";

/// Folds a map keyed by one or more stacks. Entries whose value is zero or negative are left
/// out; stacks that fold to the same functions (they differ in offsets only) are added up.
pub fn fold(dump: &MapDump) -> Result<Folded, FoldError> {
    let entries = match &dump.entries {
        Entries::Keyed(e) => e,
        Entries::Scalar(_) => return Err(FoldError::NoStack(dump.name.clone())),
    };
    let Some((first, _)) = entries.first() else {
        return Ok(Folded::default());
    };
    let stacks = |key: &[Scalar]| {
        key.iter()
            .filter_map(|s| match s {
                Scalar::Stack(s) => Some(s.user),
                _ => None,
            })
            .collect::<Vec<bool>>()
    };
    let kinds = stacks(first);
    if kinds.is_empty() {
        return Err(FoldError::NoStack(dump.name.clone()));
    }
    let mixed = kinds.contains(&true) && kinds.contains(&false);
    let mut widths: BTreeMap<String, u64> = BTreeMap::new();
    for (key, value) in entries {
        let n = match value {
            Value::Scalar(Scalar::UInt(n)) => *n,
            Value::Scalar(Scalar::Int(n)) => u64::try_from(*n).unwrap_or(0),
            _ => return Err(FoldError::NotNumbers(dump.name.clone())),
        };
        if n > 0 {
            *widths.entry(line(key, mixed)).or_default() += n;
        }
    }
    Ok(Folded {
        lines: widths.into_iter().collect(),
        mixed,
    })
}

/// One key's frames, root first, joined by `;`.
fn line(key: &[Scalar], mixed: bool) -> String {
    let mut frames: Vec<String> = key
        .iter()
        .filter(|s| !matches!(s, Scalar::Stack(_)))
        .map(|s| clean(&text::scalar(s, 0)))
        .collect();
    let stacks = key.iter().filter_map(|s| match s {
        Scalar::Stack(s) => Some(s),
        _ => None,
    });
    let (user, kernel): (Vec<&Stack>, Vec<&Stack>) = stacks.partition(|s| s.user);
    for s in user.into_iter().chain(kernel) {
        let mark = if mixed && !s.user { "_[k]" } else { "" };
        frames.extend(
            s.frames
                .iter()
                .rev()
                .map(|f| format!("{}{mark}", clean(&f.function()))),
        );
    }
    if frames.is_empty() {
        frames.push(NO_STACK.to_string());
    }
    frames.join(";")
}

/// A frame as folded lines can hold it: no `;` (the separator) and no line breaks.
fn clean(frame: &str) -> String {
    let frame = frame.trim();
    if frame.is_empty() {
        return "[unknown]".to_string();
    }
    frame
        .chars()
        .map(|c| match c {
            ';' => ':',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// `-f folded`: maps keyed by stacks as folded lines, everything else as text output has it.
pub struct FoldedPrinter {
    text: TextPrinter,
}

impl FoldedPrinter {
    pub fn new(text: TextPrinter) -> Self {
        FoldedPrinter { text }
    }
}

impl Printer for FoldedPrinter {
    fn text(&mut self, kind: TextKind, text: &[u8]) -> io::Result<()> {
        self.text.text(kind, text)
    }
    fn value(&mut self, value: &Scalar) -> io::Result<()> {
        self.text.value(value)
    }
    fn event(&mut self, text: &[u8], wall_ns: i128, fields: &[(String, Scalar)]) -> io::Result<()> {
        self.text.event(text, wall_ns, fields)
    }
    fn wants_fields(&self) -> bool {
        false
    }
    fn message(
        &mut self,
        error: bool,
        location: &scry_lang::diagnostic::Location,
        message: &str,
    ) -> io::Result<()> {
        self.text.message(error, location, message)
    }
    fn helper_error(&mut self, failure: &super::HelperFailure<'_>) -> io::Result<()> {
        self.text.helper_error(failure)
    }
    fn map(&mut self, dump: &MapDump) -> io::Result<()> {
        match fold(dump) {
            Ok(folded) => self.text.out.write_all(folded.text().as_bytes()),
            Err(_) => self.text.map(dump),
        }
    }
    fn lost(&mut self, count: u64) -> io::Result<()> {
        self.text.lost(count)
    }
    fn loss_summary(&mut self, lost: u64, delivered: u64) -> io::Result<()> {
        self.text.loss_summary(lost, delivered)
    }
    fn attached(&mut self, probes: usize) -> io::Result<()> {
        self.text.attached(probes)
    }
    /// No blank lines before the maps: the output can go straight to a flame graph tool.
    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.text.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.text.finish()
    }
}
