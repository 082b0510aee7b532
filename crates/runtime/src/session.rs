//! A tracing session: load every program (the verifier runs here, before anything is attached),
//! run BEGIN, attach the probes, deliver records until `exit()` or a stop signal, then detach,
//! run END and deliver what it printed. Dropping the session releases every program, link and
//! map, on every path, including a failure half-way through attaching.

use crate::bpf_map::{map_data, possible_cpus, RawMap};
use crate::output::{format_printf, HelperFailure, Printer, TextKind};
use crate::probes::{self, ProbeType};
use crate::render::{c_str, now_ns, timestamp, Renderer};
use crate::signals::StopSignals;
use crate::{maps, RuntimeError};
use aya::maps::{MapData, RingBuf};
use aya::programs::{ProgramError, RawTracePoint, RawTracePointRunOptions, TestRun};
use aya::{Ebpf, EbpfLoader};
use scry_codegen::insn::Helper;
use scry_codegen::module::{FieldKind, MapOpKind, Program, RecordLayout, Sink};
use scry_codegen::Module;
use scry_lang::diagnostic::Location;
use scry_lang::types::Runs;
use scry_lang::MissingProbes;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd};

pub struct Session {
    /// Perf events probe types opened themselves: closing them detaches those probes (declared
    /// first, so they close before the programs are released).
    events_held: probes::OwnedEvents,
    ebpf: Ebpf,
    module: Module,
    events: RingBuf<MapData>,
    /// Records BEGIN produced, delivered once the probes are attached.
    pending: Vec<Vec<u8>>,
    exit_code: Option<i32>,
    render: Renderer,
    /// Lost records already reported.
    lost: u64,
    /// What a probe that cannot be loaded or attached is.
    missing: MissingProbes,
    /// Programs left out, by name.
    skipped: Vec<String>,
    /// Why, until `take_skipped` hands it out for warnings.
    skip_reasons: Vec<RuntimeError>,
}

/// What a session ended with.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    /// The script called `exit(code)`.
    Exit(i32),
    /// Ctrl-C or SIGTERM.
    Signal,
    /// Nothing left to wait for (a script of only BEGIN and END).
    Done,
    /// The output went away (a closed pipe).
    OutputClosed,
    /// The `-c` command exited.
    CommandExited,
}

impl Session {
    /// Loads the object and every program in it. Nothing is attached yet.
    pub fn load(module: Module, elf: &[u8]) -> Result<Session, RuntimeError> {
        Session::load_with(module, elf, MissingProbes::Error)
    }

    /// Loads, and with `missing_probes` set to warn or ignore, leaves out the probes that
    /// cannot be loaded or attached instead of failing (`take_skipped` says which and why).
    pub fn load_with(
        module: Module,
        elf: &[u8],
        missing: MissingProbes,
    ) -> Result<Session, RuntimeError> {
        // Our objects carry no BTF relocations, so the loader is given no kernel BTF. (aya 0.14's
        // `EbpfLoader::new()` has parsed it already all the same: about 18 ms, most of the time
        // a short script takes from start to exit.)
        let mut ebpf = EbpfLoader::new().btf(None).load(elf)?;
        let mut skipped = Vec::new();
        let mut skip_reasons = Vec::new();
        for prog in &module.programs {
            let p = ebpf
                .program_mut(&prog.name)
                .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
            let kind = probe_type(prog)?;
            if let Err(e) = kind.load(p, &prog.attach) {
                let error = match kind.load_refused(&prog.attach, &e) {
                    Some((reason, hint)) => RuntimeError::Unavailable {
                        probe: prog.probe.clone(),
                        attach_span: prog.attach_span,
                        reason,
                        hint,
                    },
                    None => load_error(prog, e),
                };
                if missing == MissingProbes::Error || prog.kind.runs.once() {
                    return Err(error);
                }
                skipped.push(prog.name.clone());
                skip_reasons.push(error);
            }
        }
        let map = ebpf
            .take_map(&module.maps[Module::EVENTS.0].name)
            .ok_or_else(|| RuntimeError::Missing("events".into()))?;
        let events = RingBuf::try_from(map)?;
        Ok(Session {
            events_held: Vec::new(),
            ebpf,
            module,
            events,
            pending: Vec::new(),
            exit_code: None,
            render: Renderer::default(),
            missing,
            skipped,
            skip_reasons,
            lost: 0,
        })
    }

    /// The number of probes, BEGIN and END included, as bpftrace counts them.
    pub fn probe_count(&self) -> usize {
        self.module.programs.len() - self.skipped.len()
    }

    /// The probes left out so far and why, for warnings (`missing_probes = warn`).
    pub fn take_skipped(&mut self) -> Vec<RuntimeError> {
        std::mem::take(&mut self.skip_reasons)
    }

    /// Runs the BEGIN probes. Their output is held until `deliver`, so it follows the
    /// "Attached" message; returns true if BEGIN called `exit()`.
    pub fn run_begin(&mut self) -> Result<bool, RuntimeError> {
        self.run_once(Runs::AtStart)?;
        while let Some(rec) = self.events.next() {
            self.pending.push(rec.to_vec());
        }
        Ok(self
            .pending
            .iter()
            .any(|r| matches!(self.layout(r), Some(RecordLayout::Exit))))
    }

    /// Attaches every probe that is not BEGIN or END; those that can (uprobes) in process
    /// `pid` only.
    pub fn attach(&mut self, pid: Option<u32>) -> Result<(), RuntimeError> {
        let mut attached = 0;
        let mut first_failure = None;
        for prog in &self.module.programs {
            if prog.kind.runs.once() || self.skipped.contains(&prog.name) {
                continue;
            }
            let kind = probe_type(prog)?;
            let result = match kind.unavailable(&prog.attach) {
                Some((reason, hint)) => Err(RuntimeError::Unavailable {
                    probe: prog.probe.clone(),
                    attach_span: prog.attach_span,
                    reason,
                    hint,
                }),
                None => {
                    let p = self
                        .ebpf
                        .program_mut(&prog.name)
                        .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
                    kind.attach(p, &prog.attach, pid)
                        .map_err(|source| RuntimeError::Attach {
                            probe: prog.probe.clone(),
                            attach_span: prog.attach_span,
                            source,
                        })
                }
            };
            match result {
                Ok(held) => {
                    self.events_held.extend(held);
                    attached += 1
                }
                Err(e) if self.missing == MissingProbes::Error => return Err(e),
                Err(e) => {
                    first_failure.get_or_insert_with(|| e.to_string());
                    self.skipped.push(prog.name.clone());
                    self.skip_reasons.push(e);
                }
            }
        }
        if attached == 0 {
            if let Some(reason) = first_failure {
                return Err(RuntimeError::NothingAttached(reason));
            }
        }
        Ok(())
    }

    /// Delivers what BEGIN printed. Returns `Done`, or how the script stopped.
    pub fn deliver_pending(&mut self, printer: &mut dyn Printer) -> Result<Stop, RuntimeError> {
        for rec in std::mem::take(&mut self.pending) {
            if let Err(e) = self.handle(&rec, printer) {
                return io_stop(e);
            }
            if self.exit_code.is_some() {
                break;
            }
        }
        if let Err(e) = printer.flush() {
            return io_stop(e);
        }
        Ok(self.exit_code.map_or(Stop::Done, Stop::Exit))
    }

    /// Delivers records until `exit()`, a stop signal, the output closing, or `command` (a
    /// pidfd) becoming readable as its process exits.
    pub fn deliver(
        &mut self,
        printer: &mut dyn Printer,
        signals: &StopSignals,
        command: Option<BorrowedFd<'_>>,
    ) -> Result<Stop, RuntimeError> {
        let stop = self.deliver_pending(printer)?;
        if stop != Stop::Done {
            return Ok(stop);
        }
        loop {
            if let Err(e) = self.drain(printer).and_then(|_| printer.flush()) {
                return io_stop(e);
            }
            if let Some(code) = self.exit_code {
                return Ok(Stop::Exit(code));
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.events.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: signals.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: command.map_or(-1, |c| c.as_raw_fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of three pollfds (a negative fd is skipped).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(RuntimeError::Io {
                    context: "waiting for events",
                    source: e,
                });
            }
            if fds[1].revents != 0 && signals.take() {
                if let Err(e) = self.drain(printer).and_then(|_| printer.flush()) {
                    return io_stop(e);
                }
                return Ok(Stop::Signal);
            }
            if fds[2].revents != 0 {
                if let Err(e) = self.drain(printer).and_then(|_| printer.flush()) {
                    return io_stop(e);
                }
                return Ok(Stop::CommandExited);
            }
        }
    }

    /// Detaches every probe, runs END, delivers what it printed, and prints the maps (unless
    /// `print_maps` is off).
    pub fn finish(
        &mut self,
        printer: &mut dyn Printer,
        print_maps: bool,
    ) -> Result<(), RuntimeError> {
        self.events_held.clear();
        for prog in &self.module.programs {
            if prog.kind.runs == Runs::AtExit {
                continue;
            }
            if let (Some(p), Some(kind)) =
                (self.ebpf.program_mut(&prog.name), probes::of(prog.provider))
            {
                // One that never loaded (left out under missing_probes) has nothing to undo.
                let _ = kind.unload(p);
            }
        }
        // After exit(), what other CPUs recorded behind it is not shown: the program had
        // stopped. (A stop by signal delivered everything before coming here.)
        if self.exit_code.is_some() {
            while self.events.next().is_some() {}
        }
        self.run_once(Runs::AtExit)?;
        self.exit_code = None;
        self.drain(printer)
            .and_then(|_| printer.end())
            .and_then(|_| {
                if print_maps {
                    self.print_maps(printer)
                } else {
                    Ok(())
                }
            })
            .and_then(|_| printer.finish())
            .or_else(|e| {
                if e.kind() == io::ErrorKind::BrokenPipe {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|source| RuntimeError::Io {
                context: "writing output",
                source,
            })
    }

    /// Runs the BEGIN (`AtStart`) or END (`AtExit`) programs.
    fn run_once(&mut self, which: Runs) -> Result<(), RuntimeError> {
        for prog in self.module.programs.iter().filter(|p| p.kind.runs == which) {
            let p = self
                .ebpf
                .program(&prog.name)
                .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
            let run = |p: &aya::programs::Program| -> Result<(), ProgramError> {
                let raw: &RawTracePoint = p.try_into()?;
                raw.test_run(RawTracePointRunOptions::new()).map(drop)
            };
            run(p).map_err(|source| RuntimeError::Run {
                probe: prog.probe.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn drain(&mut self, printer: &mut dyn Printer) -> io::Result<()> {
        // Records are formatted in place, straight out of the ring.
        let Session {
            ebpf,
            events,
            module,
            exit_code,
            render,
            ..
        } = self;
        let mut out = Handler {
            ebpf,
            module,
            render,
            exit_code,
        };
        while out.exit_code.is_none() {
            let Some(rec) = events.next() else { break };
            out.handle(&rec, printer)?;
        }
        self.report_lost(printer)
    }

    /// Reports records dropped since the last report.
    fn report_lost(&mut self, printer: &mut dyn Printer) -> io::Result<()> {
        let spec = &self.module.maps[Module::LOST.0];
        let Some(data) = self.ebpf.map(&spec.name).and_then(map_data) else {
            return Ok(());
        };
        let lost = RawMap::new(data, spec.key_size, spec.value_size, true);
        let total: u64 = lost.lookup(&[0; 4]).map_or(0, |v| {
            v.chunks(8)
                .take(possible_cpus())
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .sum()
        });
        if total > self.lost {
            printer.lost(total - self.lost)?;
            self.lost = total;
        }
        Ok(())
    }

    /// Prints every non-empty map in name order, as bpftrace does at exit.
    fn print_maps(&mut self, printer: &mut dyn Printer) -> io::Result<()> {
        let mut order: Vec<usize> = (0..self.module.user_maps.len()).collect();
        order.sort_by(|a, b| {
            self.module.user_maps[*a]
                .decl
                .name
                .cmp(&self.module.user_maps[*b].decl.name)
        });
        for i in order {
            let map = &self.module.user_maps[i];
            if let Some(d) = maps::dump(&self.ebpf, &self.module, &mut self.render, map, 0, 1) {
                printer.map(&d)?;
            }
        }
        Ok(())
    }

    fn layout(&self, rec: &[u8]) -> Option<&RecordLayout> {
        layout(&self.module, rec)
    }

    fn handle(&mut self, rec: &[u8], printer: &mut dyn Printer) -> io::Result<()> {
        Handler {
            ebpf: &self.ebpf,
            module: &self.module,
            render: &mut self.render,
            exit_code: &mut self.exit_code,
        }
        .handle(rec, printer)
    }
}

fn layout<'m>(module: &'m Module, rec: &[u8]) -> Option<&'m RecordLayout> {
    let id = u64::from_le_bytes(rec.get(..8)?.try_into().ok()?);
    module.records.get(usize::try_from(id).ok()?)
}

/// What handling a record needs: the maps it may read and where `exit()` leaves its code.
struct Handler<'a> {
    ebpf: &'a Ebpf,
    module: &'a Module,
    render: &'a mut Renderer,
    exit_code: &'a mut Option<i32>,
}

impl Handler<'_> {
    fn handle(&mut self, rec: &[u8], printer: &mut dyn Printer) -> io::Result<()> {
        let word = |off: usize| {
            rec.get(off..off + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        match layout(self.module, rec) {
            Some(RecordLayout::Printf { format, args, sink }) => {
                let (ebpf, module, render) = (self.ebpf, self.module, &mut *self.render);
                let mut decode =
                    |kind: &FieldKind, bytes: &[u8]| render.value(ebpf, module, kind, bytes);
                let text = format_printf(format, args, rec, &mut decode);
                match sink {
                    Sink::Output => printer.text(TextKind::Printf, &text),
                    Sink::Cat => cat(&text, printer),
                    Sink::System => system(&text, printer),
                    Sink::Message {
                        error, location, ..
                    } => {
                        let location = location.clone().unwrap_or_else(unknown_location);
                        printer.message(*error, &location, &String::from_utf8_lossy(&text))
                    }
                }
            }
            Some(RecordLayout::HelperError {
                helper, location, ..
            }) => {
                let retcode = word(8) as i64;
                let message = match (helper, retcode) {
                    (Helper::MapUpdateElem, -7) => {
                        "Map full; can't update element. Try increasing max_map_keys".to_string()
                    }
                    _ => crate::render::strerror(-retcode as i32),
                };
                printer.helper_error(&HelperFailure {
                    location: location.as_ref().unwrap_or(&unknown_location()),
                    helper: helper.name(),
                    retcode,
                    message: &message,
                })
            }
            Some(RecordLayout::Print(field)) => {
                let bytes = rec.get(field.offset as usize..).unwrap_or(&[]);
                let v = self
                    .render
                    .value(self.ebpf, self.module, &field.kind, bytes);
                printer.value(&v)
            }
            Some(RecordLayout::Time(format)) => {
                printer.text(TextKind::Time, timestamp(format, now_ns()).as_bytes())
            }
            Some(RecordLayout::Join { sep, max, cap }) => {
                let n = (word(8) as u32).min(*max) as usize;
                let cap = *cap as usize;
                let parts: Vec<&[u8]> = (0..n)
                    .map(|i| c_str(rec.get(16 + i * cap..16 + (i + 1) * cap).unwrap_or(&[])))
                    .collect();
                printer.text(TextKind::Join, &parts.join(sep.as_bytes()))
            }
            Some(RecordLayout::Exit) => {
                *self.exit_code = Some(word(8) as i64 as i32);
                Ok(())
            }
            Some(RecordLayout::MapOp { map, op }) => {
                let map = &self.module.user_maps[*map];
                match op {
                    MapOpKind::Clear => maps::clear(self.ebpf, self.module, map),
                    MapOpKind::Zero => maps::zero(self.ebpf, self.module, map),
                    MapOpKind::Print => {
                        let top = word(8) as usize;
                        if let Some(d) =
                            maps::dump(self.ebpf, self.module, self.render, map, top, word(16))
                        {
                            printer.map(&d)?;
                        }
                    }
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

/// For records whose location was never filled in (a module compiled without `locate`).
fn unknown_location() -> Location {
    Location {
        file: "stdin".into(),
        line: 0,
        col: 0,
        end_col: 0,
    }
}

/// The most of a file `cat()` prints, as bpftrace's `max_cat_bytes`.
const MAX_CAT_BYTES: u64 = 10240;

/// `cat(path)`: the file's first bytes; a file that cannot be read is reported on stderr.
fn cat(path: &[u8], printer: &mut dyn Printer) -> io::Result<()> {
    let path = String::from_utf8_lossy(path).into_owned();
    let mut text = Vec::new();
    match std::fs::File::open(&path).and_then(|f| f.take(MAX_CAT_BYTES).read_to_end(&mut text)) {
        Ok(_) => printer.text(TextKind::Cat, &text),
        Err(e) => {
            crate::output::to_stderr(&format!("cat: cannot read {path}: {e}\n"));
            Ok(())
        }
    }
}

/// `system(command)`: runs it with `sh -c` and prints what it wrote to stdout and stderr.
fn system(command: &[u8], printer: &mut dyn Printer) -> io::Result<()> {
    let command = String::from_utf8_lossy(command).into_owned();
    printer.flush()?;
    match std::process::Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(out) => {
            let mut text = out.stdout;
            text.extend_from_slice(&out.stderr);
            printer.text(TextKind::System, &text)
        }
        Err(e) => {
            crate::output::to_stderr(&format!("system: cannot run sh -c {command:?}: {e}\n"));
            Ok(())
        }
    }
}

/// A closed pipe ends the session quietly; other write errors are errors.
fn io_stop(e: io::Error) -> Result<Stop, RuntimeError> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(Stop::OutputClosed)
    } else {
        Err(RuntimeError::Io {
            context: "writing output",
            source: e,
        })
    }
}

fn load_error(prog: &Program, e: ProgramError) -> RuntimeError {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let insn_span = failing_insn(&log).and_then(|slot| prog.span_at(slot));
            RuntimeError::Verifier {
                probe: prog.probe.clone(),
                attach_span: prog.attach_span,
                insn_span,
                errno: io_error,
                log,
            }
        }
        source => RuntimeError::Load {
            probe: prog.probe.clone(),
            attach_span: prog.attach_span,
            source,
        },
    }
}

/// The instruction the verifier stopped at: the last `N: (op) …` line of its log.
fn failing_insn(log: &str) -> Option<usize> {
    log.lines().rev().find_map(|l| {
        let (n, rest) = l.split_once(": (")?;
        let _ = rest;
        n.trim().parse().ok()
    })
}

/// The probe type whose program this is.
fn probe_type(prog: &Program) -> Result<&'static dyn ProbeType, RuntimeError> {
    probes::of(prog.provider).ok_or(RuntimeError::NoProbeType(prog.provider))
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_instruction() {
        let log =
            "0: R1=ctx() R10=fp0\n0: (bf) r9 = r1\n1: (bf) r0 = r2\nR2 !read_ok\nprocessed 2 insns";
        assert_eq!(super::failing_insn(log), Some(1));
    }
}
