//! The running session behind the prompt: the `Session` and its printer under one lock, a thread
//! that delivers records as they come, and the output path that puts them above the line being
//! typed (rustyline's external printer).

use rustyline::ExternalPrinter;
use scry_runtime::output::folded::FoldedPrinter;
use scry_runtime::output::{Buffering, JsonPrinter, Printer, TextPrinter};
use scry_runtime::signals::StopSignals;
use scry_runtime::{Session, SetId};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Where the REPL's output goes: above the prompt while one is shown, straight to the terminal
/// otherwise.
pub type Screen = Arc<Mutex<Box<dyn ExternalPrinter + Send>>>;

/// The session and what prints its records.
pub struct Live {
    pub session: Session,
    pub printer: Box<dyn Printer>,
    screen: Screen,
    /// Each block's set and id, to say which block exited.
    pub block_ids: Vec<(SetId, usize)>,
}

/// The output formats `:format` switches between: the command line's.
pub use crate::cli::Format;

impl Live {
    pub fn new(session: Session, screen: Screen, format: Format) -> Live {
        Live {
            session,
            printer: printer(&screen, format),
            screen,
            block_ids: Vec::new(),
        }
    }

    pub fn set_format(&mut self, format: Format) {
        let _ = self.printer.flush();
        self.printer = printer(&self.screen, format);
    }

    /// From now on output goes straight to standard output (the line editor is gone).
    pub fn write_directly(&mut self) {
        *self.screen.lock().unwrap_or_else(|e| e.into_inner()) = Box::new(Plain);
    }

    /// Prints text through the same path as the records, so the two never interleave.
    pub fn say(&mut self, text: &str) {
        let _ = self.printer.flush();
        let mut screen = ScreenWriter::new(self.screen.clone());
        let _ = screen.write_all(text.as_bytes());
        let _ = screen.flush();
    }

    /// Delivers what is waiting; a set that called `exit()` is detached (its program stopped,
    /// as a script's does).
    pub fn drain(&mut self) {
        let _ = self.session.drain(self.printer.as_mut());
        while let Some((set, _code)) = self.session.take_exit() {
            let detached = self.session.detach(set);
            std::thread::spawn(move || drop(detached));
            if let Some((_, id)) = self.block_ids.iter().find(|(s, _)| *s == set) {
                let id = *id;
                self.say(&format!("block {id} called exit(): detached\n"));
            }
            let _ = self.session.drain(self.printer.as_mut());
        }
        let _ = self.printer.flush();
    }
}

/// Output when standard input is not a terminal: straight to standard output.
pub struct Plain;

impl ExternalPrinter for Plain {
    fn print(&mut self, msg: String) -> rustyline::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(msg.as_bytes())?;
        Ok(out.flush()?)
    }
}

fn printer(screen: &Screen, format: Format) -> Box<dyn Printer> {
    let out = Box::new(ScreenWriter::new(screen.clone()));
    match format {
        Format::Text => Box::new(TextPrinter::new(out, Buffering::Line)),
        Format::Json => Box::new(JsonPrinter::new(out, Buffering::Line)),
        Format::Folded => Box::new(FoldedPrinter::new(TextPrinter::new(out, Buffering::Line))),
    }
}

/// Collects output and hands whole lines to the screen when flushed.
pub struct ScreenWriter {
    screen: Screen,
    pending: Vec<u8>,
}

impl ScreenWriter {
    pub fn new(screen: Screen) -> ScreenWriter {
        ScreenWriter {
            screen,
            pending: Vec::new(),
        }
    }
}

impl Write for ScreenWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // A line still being written (printf without "\n") waits for its end.
        let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let text: Vec<u8> = self.pending.drain(..=end).collect();
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        screen
            .print(text)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

impl Drop for ScreenWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            self.pending.push(b'\n');
            let _ = self.flush();
        }
    }
}

/// The lock, even after a panic elsewhere (the session is still the one to clean up).
pub fn lock(live: &Mutex<Live>) -> MutexGuard<'_, Live> {
    live.lock().unwrap_or_else(|e| e.into_inner())
}

/// The thread that delivers records while the prompt waits for typing, and ends the session
/// cleanly on SIGTERM; SIGUSR1 runs the `self:signal:SIGUSR1` blocks.
pub struct Delivery {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Delivery {
    pub fn start(
        live: Arc<Mutex<Live>>,
        term: StopSignals,
        on_term: impl FnOnce() + Send + 'static,
    ) -> Delivery {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut on_term = Some(on_term);
            while !stopping.load(Ordering::SeqCst) {
                let events = lock(&live).session.events_fd().unwrap_or(-1);
                let mut fds = [
                    libc::pollfd {
                        fd: events,
                        events: libc::POLLIN,
                        revents: 0,
                    },
                    libc::pollfd {
                        fd: term.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                // SAFETY: two valid pollfds; a negative fd is skipped. The timeout picks up a
                // ring buffer that the first block created meanwhile, and the stop flag.
                unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
                match (fds[1].revents != 0).then(|| term.take_signal()).flatten() {
                    // `self:signal:SIGUSR1` blocks run; what they print is drained below.
                    Some(libc::SIGUSR1) => {
                        let mut live = lock(&live);
                        if let Err(e) = live.session.run_signal_probes() {
                            scry_runtime::output::to_stderr(&format!("scry: {e}\n"));
                        }
                    }
                    Some(_) => {
                        if let Some(f) = on_term.take() {
                            f();
                        }
                        return;
                    }
                    None => {}
                }
                lock(&live).drain();
            }
        });
        Delivery {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
