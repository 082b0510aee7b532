//! A tracing session: load every program (the verifier runs here, before anything is attached),
//! run BEGIN, attach the probes, deliver records until `exit()` or a stop signal, then detach,
//! run END and deliver what it printed. Dropping the session releases every program, link and
//! map, on every path, including a failure half-way through attaching.

use crate::bpf_map::{map_data, possible_cpus, RawMap};
use crate::output::{format_printf, Printer};
use crate::probes;
use crate::signals::StopSignals;
use crate::symbols::Symbolizer;
use crate::{maps, RuntimeError};
use aya::maps::{MapData, RingBuf};
use aya::programs::{ProgramError, RawTracePoint, RawTracePointRunOptions, TestRun};
use aya::{Ebpf, EbpfLoader};
use scry_codegen::module::{FieldKind, MapOpKind, Program, RecordLayout};
use scry_codegen::Module;
use scry_lang::types::ProbeTarget;
use std::io;
use std::os::fd::AsRawFd;

pub struct Session {
    ebpf: Ebpf,
    module: Module,
    events: RingBuf<MapData>,
    /// Records BEGIN produced, delivered once the probes are attached.
    pending: Vec<Vec<u8>>,
    exit_code: Option<i32>,
    symbols: Symbolizer,
    /// Lost records already reported.
    lost: u64,
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
}

impl Session {
    /// Loads the object and every program in it. Nothing is attached yet.
    pub fn load(module: Module, elf: &[u8]) -> Result<Session, RuntimeError> {
        // Our objects carry no BTF relocations: skip parsing the kernel's BTF.
        let mut ebpf = EbpfLoader::new().btf(None).load(elf)?;
        for prog in &module.programs {
            let p = ebpf
                .program_mut(&prog.name)
                .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
            probes::for_target(&prog.target)
                .load(p)
                .map_err(|e| load_error(prog, e))?;
        }
        let map = ebpf
            .take_map(&module.maps[Module::EVENTS.0].name)
            .ok_or_else(|| RuntimeError::Missing("events".into()))?;
        let events = RingBuf::try_from(map)?;
        Ok(Session {
            ebpf,
            module,
            events,
            pending: Vec::new(),
            exit_code: None,
            symbols: Symbolizer::default(),
            lost: 0,
        })
    }

    /// The number of probes, BEGIN and END included, as bpftrace counts them.
    pub fn probe_count(&self) -> usize {
        self.module.programs.len()
    }

    /// Runs the BEGIN probes. Their output is held until `deliver`, so it follows the
    /// "Attached" message; returns true if BEGIN called `exit()`.
    pub fn run_begin(&mut self) -> Result<bool, RuntimeError> {
        self.run_once(|t| *t == ProbeTarget::Begin)?;
        while let Some(rec) = self.events.next() {
            self.pending.push(rec.to_vec());
        }
        Ok(self
            .pending
            .iter()
            .any(|r| matches!(self.layout(r), Some(RecordLayout::Exit))))
    }

    /// Attaches every probe that is not BEGIN or END.
    pub fn attach(&mut self) -> Result<(), RuntimeError> {
        for prog in &self.module.programs {
            if matches!(prog.target, ProbeTarget::Begin | ProbeTarget::End) {
                continue;
            }
            let p = self
                .ebpf
                .program_mut(&prog.name)
                .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
            probes::for_target(&prog.target)
                .attach(p, &prog.target)
                .map_err(|source| RuntimeError::Attach {
                    probe: prog.probe.clone(),
                    attach_span: prog.attach_span,
                    source,
                })?;
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

    /// Delivers records until `exit()`, a stop signal, or the output closing.
    pub fn deliver(
        &mut self,
        printer: &mut dyn Printer,
        signals: &StopSignals,
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
            ];
            // SAFETY: `fds` is a valid array of two pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
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
        }
    }

    /// Detaches every probe, runs END, delivers what it printed, and prints the maps.
    pub fn finish(&mut self, printer: &mut dyn Printer) -> Result<(), RuntimeError> {
        let names: Vec<String> = self
            .module
            .programs
            .iter()
            .filter(|p| p.target != ProbeTarget::End)
            .map(|p| p.name.clone())
            .collect();
        for name in names {
            if let Some(p) = self.ebpf.program_mut(&name) {
                probes::detach(p);
            }
        }
        self.run_once(|t| *t == ProbeTarget::End)?;
        self.exit_code = None;
        self.drain(printer)
            .and_then(|_| printer.end())
            .and_then(|_| self.print_maps(printer))
            .and_then(|_| printer.flush())
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

    fn run_once(&mut self, which: impl Fn(&ProbeTarget) -> bool) -> Result<(), RuntimeError> {
        for prog in self.module.programs.iter().filter(|p| which(&p.target)) {
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
            symbols,
            ..
        } = self;
        let mut out = Handler {
            ebpf,
            module,
            symbols,
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
            if let Some(d) = maps::dump(&self.ebpf, &self.module, &mut self.symbols, map, 0, 1) {
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
            symbols: &mut self.symbols,
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
    symbols: &'a mut Symbolizer,
    exit_code: &'a mut Option<i32>,
}

impl Handler<'_> {
    fn handle(&mut self, rec: &[u8], printer: &mut dyn Printer) -> io::Result<()> {
        let word = |off: usize| {
            rec.get(off..off + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        match layout(self.module, rec) {
            Some(RecordLayout::Printf { format, args }) => {
                let (ebpf, module, symbols) = (self.ebpf, self.module, &mut *self.symbols);
                let mut stack = |kind: FieldKind, raw: u64| match kind {
                    FieldKind::Stack { map, user } => {
                        maps::stack(ebpf, module, symbols, map, user, raw)
                    }
                    _ => Vec::new(),
                };
                printer.printf(&format_printf(format, args, rec, &mut stack))
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
                            maps::dump(self.ebpf, self.module, self.symbols, map, top, word(16))
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

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_instruction() {
        let log =
            "0: R1=ctx() R10=fp0\n0: (bf) r9 = r1\n1: (bf) r0 = r2\nR2 !read_ok\nprocessed 2 insns";
        assert_eq!(super::failing_insn(log), Some(1));
    }
}
