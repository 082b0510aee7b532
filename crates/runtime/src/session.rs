//! A tracing session: load every program (the verifier runs here, before anything is attached),
//! run BEGIN, attach the probes, deliver records until `exit()` or a stop signal, then detach,
//! run END and deliver what it printed. Dropping the session releases every program, link and
//! map, on every path, including a failure half-way through attaching.
//!
//! A session holds one or more sets of probes, each a loaded object: a script is one; the REPL
//! adds one per block typed and detaches them one by one. Sets loaded after `share_maps` share
//! maps by name, and every set's records come through the one ring buffer.

use crate::bpf_map::{map_data, possible_cpus, RawMap};
use crate::detached::Detached;
use crate::object::Object;
use crate::output::{format_printf, format_printf_into, HelperFailure, Printer, TextKind};
use crate::pins::MapPins;
use crate::probes::{self, ProbeType};
use crate::render::{c_str, now_ns, timestamp, Renderer};
use crate::signals::StopSignals;
use crate::{maps, raw_prog, RuntimeError};
use aya::maps::{MapData, RingBuf};
use scry_codegen::insn::Helper;
use scry_codegen::module::{FieldKind, MapOpKind, Program, RecordLayout, Sink};
use scry_codegen::Module;
use scry_lang::diagnostic::Location;
use scry_lang::types::Runs;
use scry_lang::MissingProbes;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// One loaded object and its programs: a script, or one block typed into the REPL.
struct ProbeSet {
    /// Perf events probe types opened themselves: closing them detaches those probes (declared
    /// first, so they close before the programs are released).
    events_held: probes::OwnedEvents,
    /// Its maps.
    object: Object,
    module: Module,
    /// Its loaded programs, by name (a detached set keeps only END's).
    programs: Vec<(String, OwnedFd)>,
    /// Programs left out, by name.
    skipped: Vec<String>,
    /// Its probes are attached (a detached set keeps its maps).
    attached: bool,
    /// Detached: what its probes still send while their events close is not shown.
    muted: bool,
    /// The maps this set created and pinned for later sets (shared sessions only).
    created_pins: Vec<String>,
}

/// Which of a session's loaded objects: the order `Session::add` loaded them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub usize);

/// A session holds a descriptor for each program and probe (hundreds for a wildcard): the
/// soft limit on open files (1024 by default) is raised to the hard one, as bpftrace does.
fn raise_open_files_limit() {
    // SAFETY: getrlimit and setrlimit with a valid rlimit to fill and to read.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// One probe of a set, for `:probes`.
pub struct ProbeStatus {
    /// As written: `tracepoint:syscalls:sys_enter_openat`.
    pub probe: String,
    /// How many times its program ran, when the kernel counts (`Session::count_runs`).
    pub runs: Option<u64>,
}

pub struct Session {
    /// Every object loaded, in order; a detached one stays for its maps.
    sets: Vec<ProbeSet>,
    /// The ring buffer every set's records come through (taken from the first set).
    events: Option<RingBuf<MapData>>,
    /// Where maps are pinned to be shared with later sets (`share_maps`).
    pins: Option<MapPins>,
    /// Held while the kernel counts program runs (`count_runs`).
    run_stats: Option<std::os::fd::OwnedFd>,
    /// Records BEGIN produced, delivered once the probes are attached.
    pending: Vec<Vec<u8>>,
    exit_code: Option<i32>,
    /// The set whose `exit()` that was.
    exit_set: Option<SetId>,
    render: Renderer,
    /// Lost records already reported.
    lost: u64,
    /// When the count of lost records was last read.
    lost_read: Option<std::time::Instant>,
    /// `finish` is delivering the last records: the lost count is read every time.
    finishing: bool,
    /// Records delivered from the ring buffer so far.
    delivered: u64,
    /// `--metrics`: answered in the event loop.
    metrics: Option<crate::metrics::MetricsServer>,
    /// What a probe that cannot be loaded or attached is.
    missing: MissingProbes,
    /// Why probes were left out, until `take_skipped` hands it out for warnings.
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
    /// A session with nothing loaded yet. With `missing` set to warn or ignore, `add` leaves
    /// out the probes that cannot be loaded or attached instead of failing (`take_skipped` says
    /// which and why).
    pub fn new(missing: MissingProbes) -> Session {
        raise_open_files_limit();
        Session {
            sets: Vec::new(),
            events: None,
            pins: None,
            run_stats: None,
            pending: Vec::new(),
            exit_code: None,
            exit_set: None,
            render: Renderer::default(),
            lost: 0,
            lost_read: None,
            finishing: false,
            delivered: 0,
            metrics: None,
            missing,
            skip_reasons: Vec::new(),
        }
    }

    /// Loads the module's maps and every program in it. Nothing is attached yet.
    pub fn load(module: Module) -> Result<Session, RuntimeError> {
        Session::load_with(module, MissingProbes::Error)
    }

    /// A session of one object (a script), loaded (`SetId(0)`).
    pub fn load_with(module: Module, missing: MissingProbes) -> Result<Session, RuntimeError> {
        let mut session = Session::new(missing);
        session.add(module)?;
        Ok(session)
    }

    /// Objects added from now on share their maps by kernel name with those before them
    /// (modules compiled with `CompileOptions::shared`). Call before starting threads.
    pub fn share_maps(&mut self) -> Result<(), RuntimeError> {
        if self.pins.is_none() {
            self.pins = Some(MapPins::private().map_err(|source| RuntimeError::Io {
                context: "making a private bpffs for shared maps",
                source,
            })?);
        }
        Ok(())
    }

    /// Has the kernel count how often each program runs, for `probe_status`.
    pub fn count_runs(&mut self) {
        if self.run_stats.is_none() {
            self.run_stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).ok();
        }
    }

    /// Loads another module beside those loaded already; the verifier runs here. Nothing of it
    /// stays loaded if this fails. Nothing is attached yet.
    pub fn add(&mut self, module: Module) -> Result<SetId, RuntimeError> {
        let pinned_before = self.pins.as_ref().map(MapPins::names).unwrap_or_default();
        let result = self.load_set(module);
        if result.is_err() {
            if let Some(pins) = &self.pins {
                pins.unpin_all_but(&pinned_before);
            }
        }
        let mut set = result?;
        if let Some(pins) = &self.pins {
            set.created_pins = pins
                .names()
                .into_iter()
                .filter(|n| !pinned_before.contains(n))
                .collect();
        }
        self.sets.push(set);
        Ok(SetId(self.sets.len() - 1))
    }

    /// Undoes the last `add` (BEGIN or attaching it failed): its probes are detached, its
    /// programs released, and the maps it created unpinned. Any other set is only detached.
    pub fn discard(&mut self, set: SetId) {
        drop(self.detach(set));
        if set.0 + 1 == self.sets.len() {
            if let Some(s) = self.sets.pop() {
                if let Some(pins) = &self.pins {
                    let keep: Vec<String> = pins
                        .names()
                        .into_iter()
                        .filter(|n| !s.created_pins.contains(n))
                        .collect();
                    pins.unpin_all_but(&keep);
                }
            }
        }
    }

    fn load_set(&mut self, module: Module) -> Result<ProbeSet, RuntimeError> {
        let mut object = Object::create(&module, self.pins.as_ref())?;
        let mut skipped = Vec::new();
        let mut programs = Vec::new();
        for prog in &module.programs {
            let kind = probe_type(prog)?;
            let unavailable = |e: &io::Error| {
                kind.load_refused(&prog.attach, e)
                    .map(|(reason, hint)| RuntimeError::Unavailable {
                        probe: prog.probe.clone(),
                        attach_span: prog.attach_span,
                        reason,
                        hint,
                    })
            };
            let loaded = match kind.load_as(&prog.attach) {
                Err(e) => Err(unavailable(&e).unwrap_or(RuntimeError::Load {
                    probe: prog.probe.clone(),
                    attach_span: prog.attach_span,
                    source: e,
                })),
                Ok(how) => {
                    raw_prog::load(prog, how, &module.license, &module.maps, |id| object.fd(id))
                        .map(|fd| programs.push((prog.name.clone(), fd)))
                        .map_err(|refused| {
                            unavailable(&refused.errno)
                                .unwrap_or_else(|| refused_error(prog, refused))
                        })
                }
            };
            if let Err(error) = loaded {
                if self.missing == MissingProbes::Error || prog.kind.runs.once() {
                    return Err(error);
                }
                skipped.push(prog.name.clone());
                self.skip_reasons.push(error);
            }
        }
        if self.events.is_none() {
            let map = object
                .take_map(&module.maps[Module::EVENTS.0].name)
                .ok_or_else(|| RuntimeError::Missing("events".into()))?;
            self.events = Some(RingBuf::try_from(map)?);
        }
        Ok(ProbeSet {
            events_held: Vec::new(),
            object,
            module,
            programs,
            skipped,
            attached: false,
            muted: false,
            created_pins: Vec::new(),
        })
    }

    /// The number of probes, BEGIN and END included, as bpftrace counts them.
    pub fn probe_count(&self) -> usize {
        self.sets
            .iter()
            .flat_map(|s| {
                s.module
                    .programs
                    .iter()
                    .filter(|p| !s.skipped.contains(&p.name))
                    .map(|p| probes::of(p.provider).map_or(1, |k| k.probe_count(&p.attach)))
            })
            .sum()
    }

    /// The probes left out so far and why, for warnings (`missing_probes = warn`).
    pub fn take_skipped(&mut self) -> Vec<RuntimeError> {
        std::mem::take(&mut self.skip_reasons)
    }

    /// The sets whose probes are attached, in order.
    pub fn attached_sets(&self) -> Vec<SetId> {
        (0..self.sets.len())
            .filter(|&i| self.sets[i].attached)
            .map(SetId)
            .collect()
    }

    /// Each probe of a set (BEGIN and END left out), with its run count.
    pub fn probe_status(&self, set: SetId) -> Vec<ProbeStatus> {
        let Some(s) = self.sets.get(set.0) else {
            return Vec::new();
        };
        s.module
            .programs
            .iter()
            .filter(|p| !p.kind.runs.once() && !s.skipped.contains(&p.name))
            .map(|p| ProbeStatus {
                probe: p.probe.clone(),
                runs: self.run_stats.as_ref().and_then(|_| {
                    let (_, fd) = s.programs.iter().find(|(n, _)| *n == p.name)?;
                    raw_prog::run_count(fd.as_fd())
                }),
            })
            .collect()
    }

    /// Runs a set's BEGIN probes. Their output is held until `deliver`, so it follows the
    /// "Attached" message; returns true if BEGIN called `exit()`.
    pub fn run_begin(&mut self, set: SetId) -> Result<bool, RuntimeError> {
        self.run_once(set, Runs::AtStart)?;
        if let Some(events) = &mut self.events {
            while let Some(rec) = events.next() {
                self.pending.push(rec.to_vec());
            }
        }
        Ok(self.pending.iter().any(|r| {
            matches!(
                record_layout(&self.sets, r).map(|(_, _, l)| l),
                Some(RecordLayout::Exit)
            )
        }))
    }

    /// Attaches a set's probes that are not BEGIN or END; those that can (uprobes) in process
    /// `pid` only. On failure nothing of the set stays attached.
    pub fn attach(&mut self, set: SetId, pid: Option<u32>) -> Result<(), RuntimeError> {
        let missing = self.missing;
        let s = self
            .sets
            .get_mut(set.0)
            .ok_or_else(|| RuntimeError::Missing(format!("probe set {}", set.0)))?;
        let mut attached = 0;
        let mut first_failure = None;
        let mut failed = None;
        for prog in &s.module.programs {
            if prog.kind.runs.once() || s.skipped.contains(&prog.name) {
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
                    let (_, fd) = s
                        .programs
                        .iter()
                        .find(|(n, _)| *n == prog.name)
                        .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
                    let attached = kind.attach(fd.as_fd(), &prog.attach, pid);
                    attached.map_err(|source| match kind.attach_refused(&prog.attach, &source) {
                        Some((reason, hint)) => RuntimeError::Unavailable {
                            probe: prog.probe.clone(),
                            attach_span: prog.attach_span,
                            reason,
                            hint,
                        },
                        None => RuntimeError::Attach {
                            probe: prog.probe.clone(),
                            attach_span: prog.attach_span,
                            source,
                        },
                    })
                }
            };
            match result {
                Ok(held) => {
                    s.events_held.extend(held);
                    attached += 1
                }
                Err(e) if missing == MissingProbes::Error => {
                    failed = Some(e);
                    break;
                }
                Err(e) => {
                    first_failure.get_or_insert_with(|| e.to_string());
                    s.skipped.push(prog.name.clone());
                    self.skip_reasons.push(e);
                }
            }
        }
        s.attached = true;
        if failed.is_none() && attached == 0 {
            failed = first_failure.map(RuntimeError::NothingAttached);
        }
        if let Some(e) = failed {
            drop(self.detach(set));
            return Err(e);
        }
        Ok(())
    }

    /// Stops a set's probes: its programs return at once from now on, and the perf events and
    /// links it held close when the returned value is dropped (or `release`d). Its maps stay.
    pub fn detach(&mut self, set: SetId) -> Detached {
        let Some(s) = self.sets.get_mut(set.0) else {
            return Detached(Vec::new());
        };
        s.attached = false;
        s.muted = true;
        // The programs return at once from now on, however long their events take to close.
        let stop = &s.module.maps[Module::STOP.0];
        if let Some(data) = s.object.map(&stop.name).and_then(map_data) {
            let _ = RawMap::new(data, stop.key_size, stop.value_size, false)
                .update(&0u32.to_ne_bytes(), &1u64.to_ne_bytes());
        }
        let held = std::mem::take(&mut s.events_held);
        // The programs go (END's stay, to run at exit): the kernel frees each once its last
        // perf event or link is closed.
        let module = &s.module;
        s.programs.retain(|(name, _)| {
            module
                .programs
                .iter()
                .any(|p| p.name == *name && p.kind.runs == Runs::AtExit)
        });
        Detached(held)
    }

    /// The ring buffer's fd, readable when records wait (for a poll loop of the caller's own).
    pub fn events_fd(&self) -> Option<RawFd> {
        self.events.as_ref().map(|e| e.as_raw_fd())
    }

    /// Delivers what BEGIN printed. Returns `Done`, or how the script stopped.
    pub fn deliver_pending(&mut self, printer: &mut dyn Printer) -> Result<Stop, RuntimeError> {
        for rec in std::mem::take(&mut self.pending) {
            self.delivered += 1;
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
        // Records may wait without having woken us (the programs wake the reader at most
        // once per clock tick or two per CPU, `WAKE_TICKS`): after a wakeup, look again a
        // little later, until a look finds nothing. The long timeout only covers a record
        // committed just as a look found nothing.
        let recent = LOOK_AGAIN_MS;
        let mut timeout = recent;
        loop {
            let before = self.delivered;
            if let Err(e) = self.drain(printer).and_then(|_| printer.flush()) {
                return io_stop(e);
            }
            if let Some(code) = self.exit_code {
                return Ok(Stop::Exit(code));
            }
            if self.delivered == before && timeout == recent {
                timeout = IDLE_LOOK_MS;
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.events_fd().unwrap_or(-1),
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
                libc::pollfd {
                    fd: self.metrics.as_ref().map_or(-1, |m| m.fd()),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            // SAFETY: `fds` is a valid array of four pollfds (a negative fd is skipped).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
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
            match (fds[1].revents != 0)
                .then(|| signals.take_signal())
                .flatten()
            {
                // SIGUSR1 runs the `self:signal:SIGUSR1` probes; what they print follows.
                Some(libc::SIGUSR1) => {
                    self.run_signal_probes()?;
                    continue;
                }
                Some(_) => {
                    if let Err(e) = self.drain(printer).and_then(|_| printer.flush()) {
                        return io_stop(e);
                    }
                    return Ok(Stop::Signal);
                }
                None => {}
            }
            if fds[2].revents != 0 {
                if let Err(e) = self.drain(printer).and_then(|_| printer.flush()) {
                    return io_stop(e);
                }
                return Ok(Stop::CommandExited);
            }
            if fds[3].revents != 0 {
                self.answer_scrapes();
            }
            if fds[0].revents != 0 {
                timeout = recent;
            }
        }
    }

    /// Runs the `self:signal:SIGUSR1` probes of every attached set, once: scry received the
    /// signal. What they print is delivered with the other records.
    pub fn run_signal_probes(&mut self) -> Result<(), RuntimeError> {
        for i in 0..self.sets.len() {
            if self.sets[i].attached {
                self.run_once(SetId(i), Runs::OnSignal)?;
            }
        }
        Ok(())
    }

    /// Which set called `exit()`, and with what code; taking it lets the session go on (the
    /// REPL).
    pub fn take_exit(&mut self) -> Option<(SetId, i32)> {
        let code = self.exit_code.take()?;
        Some((self.exit_set.take().unwrap_or(SetId(0)), code))
    }

    /// Detaches every probe, runs END, delivers what it printed, and prints the maps (unless
    /// `print_maps` is off).
    pub fn finish(
        &mut self,
        printer: &mut dyn Printer,
        print_maps: bool,
    ) -> Result<(), RuntimeError> {
        self.finishing = true;
        // Stopped at once, released once END has run and the maps are printed.
        let mut detached = Vec::new();
        for i in 0..self.sets.len() {
            let muted = self.sets[i].muted;
            detached.push(self.detach(SetId(i)));
            self.sets[i].muted = muted;
        }
        // After exit(), what other CPUs recorded behind it is not shown: the program had
        // stopped. (A stop by signal delivered everything before coming here.) What detached
        // sets sent while their events closed is not shown either.
        let before_end = if self.exit_code.is_some() {
            if let Some(events) = &mut self.events {
                while events.next().is_some() {}
            }
            Ok(())
        } else {
            self.drain(printer)
        };
        for s in &mut self.sets {
            s.muted = false;
        }
        for i in 0..self.sets.len() {
            self.run_once(SetId(i), Runs::AtExit)?;
        }
        self.exit_code = None;
        let printed = before_end
            .and_then(|_| self.drain(printer))
            .and_then(|_| printer.end())
            .and_then(|_| {
                if print_maps {
                    self.print_maps(printer)
                } else {
                    Ok(())
                }
            })
            .and_then(|_| {
                if self.lost > 0 {
                    printer.loss_summary(self.lost, self.delivered)?;
                }
                printer.finish()
            })
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
            });
        // All is printed (and flushed): what remains is closing the probes' events.
        for d in detached {
            d.release();
        }
        printed
    }

    /// Runs a set's BEGIN (`AtStart`) or END (`AtExit`) programs.
    fn run_once(&mut self, set: SetId, which: Runs) -> Result<(), RuntimeError> {
        let Some(s) = self.sets.get(set.0) else {
            return Ok(());
        };
        for prog in s.module.programs.iter().filter(|p| p.kind.runs == which) {
            let (_, fd) = s
                .programs
                .iter()
                .find(|(n, _)| *n == prog.name)
                .ok_or_else(|| RuntimeError::Missing(prog.name.clone()))?;
            raw_prog::test_run(fd.as_fd()).map_err(|source| RuntimeError::Run {
                probe: prog.probe.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Delivers the records waiting in the ring buffer (up to an `exit()`), and reports
    /// records lost since the last report.
    pub fn drain(&mut self, printer: &mut dyn Printer) -> io::Result<()> {
        // Records are formatted in place, straight out of the ring.
        let Session {
            sets,
            events,
            exit_code,
            exit_set,
            render,
            delivered,
            ..
        } = self;
        if let Some(events) = events {
            while exit_code.is_none() {
                let Some(rec) = events.next() else { break };
                *delivered += 1;
                let from = handle(sets, render, exit_code, &rec, printer)?;
                if exit_code.is_some() {
                    *exit_set = from;
                }
            }
        }
        self.report_lost(printer)
    }

    /// Reports records dropped since the last report. The count is read (a `bpf(2)` call) at
    /// most every `LOST_EVERY` while records stream in; `finish` reads it at the end.
    fn report_lost(&mut self, printer: &mut dyn Printer) -> io::Result<()> {
        const LOST_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
        let now = std::time::Instant::now();
        if self.lost_read.is_some_and(|at| now - at < LOST_EVERY) && !self.finishing {
            return Ok(());
        }
        self.lost_read = Some(now);
        let Some(first) = self.sets.first() else {
            return Ok(());
        };
        let spec = &first.module.maps[Module::LOST.0];
        let Some(data) = first.object.map(&spec.name).and_then(map_data) else {
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

    /// The names of the session's maps, in name order.
    pub fn map_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .sets
            .iter()
            .flat_map(|s| s.module.user_maps.iter().map(|m| m.decl.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Prints one map (`@n`) as `print(@n)` does, read through the first set that has it;
    /// false if the session has no such map.
    pub fn print_map(&mut self, name: &str, printer: &mut dyn Printer) -> io::Result<bool> {
        let Session { sets, render, .. } = self;
        let Some((s, map)) = first_with_map(sets, name) else {
            return Ok(false);
        };
        if let Some(d) = maps::dump(&s.object, &s.module, render, map, 0, 1, false) {
            printer.map(&d)?;
        }
        Ok(true)
    }

    /// The maps keyed by a stack (`kstack`, `ustack`), in name order: what `--flamegraph`
    /// draws.
    pub fn stack_maps(&self) -> Vec<String> {
        let stacked = |m: &scry_codegen::module::UserMap| {
            m.keys
                .iter()
                .any(|k| matches!(k.kind, FieldKind::Stack { .. }))
        };
        self.map_names()
            .into_iter()
            .filter(|n| first_with_map(&self.sets, n).is_some_and(|(_, m)| stacked(m)))
            .collect()
    }

    /// Draws the map `name` (`@n`) as a flame graph on `out`, titled with the probes that use
    /// it; `None` if the session has no such map.
    pub fn flame_graph(
        &mut self,
        name: &str,
        out: impl io::Write,
    ) -> Option<Result<(), crate::output::flamegraph::PictureError>> {
        use crate::output::flamegraph::{draw, Caption};
        use scry_lang::typed::{Aggregate, MapValue};
        let Session { sets, render, .. } = self;
        let (s, map) = first_with_map(sets, name)?;
        let dump = maps::dump(&s.object, &s.module, render, map, 0, 1, false)?;
        let mut probes: Vec<String> = Vec::new();
        for set in sets.iter() {
            let Some(m) = set.module.user_maps.iter().find(|m| m.decl.name == name) else {
                continue;
            };
            for p in &set.module.programs {
                if p.map_loads.iter().any(|(_, id)| *id == m.map) && !probes.contains(&p.probe) {
                    probes.push(p.probe.clone());
                }
            }
        }
        let unit = match map.decl.value {
            MapValue::Aggregate(Aggregate::Count) => "samples",
            MapValue::Aggregate(Aggregate::Sum) => "total",
            _ => "value",
        };
        Some(draw(
            &dump,
            &Caption {
                probes: &probes,
                unit,
            },
            out,
        ))
    }

    /// Serves the maps on `server` (`--metrics`) while records are delivered.
    pub fn serve_metrics(&mut self, server: crate::metrics::MetricsServer) {
        self.metrics = Some(server);
    }

    /// Answers the Prometheus scrapes waiting, each with every map as it is now.
    fn answer_scrapes(&mut self) {
        let Some(server) = self.metrics.take() else {
            return;
        };
        server.serve(&mut || self.metrics_text());
        self.metrics = Some(server);
    }

    /// Every map in Prometheus's text exposition format, in name order.
    pub fn metrics_text(&mut self) -> String {
        let mut out = String::new();
        for name in self.map_names() {
            let Session { sets, render, .. } = self;
            let Some((s, map)) = first_with_map(sets, &name) else {
                continue;
            };
            if let Some(d) = maps::dump(&s.object, &s.module, render, map, 0, 1, true) {
                out.push_str(&crate::metrics::exposition(&map.decl, &d));
            }
        }
        out
    }

    /// Prints every non-empty map in name order, as bpftrace does at exit.
    fn print_maps(&mut self, printer: &mut dyn Printer) -> io::Result<()> {
        for name in self.map_names() {
            self.print_map(&name, printer)?;
        }
        Ok(())
    }

    fn handle(&mut self, rec: &[u8], printer: &mut dyn Printer) -> io::Result<()> {
        let from = handle(
            &self.sets,
            &mut self.render,
            &mut self.exit_code,
            rec,
            printer,
        )?;
        if self.exit_code.is_some() && self.exit_set.is_none() {
            self.exit_set = from;
        }
        Ok(())
    }
}

/// How long the event loop waits, with nothing delivered lately, before looking at the ring
/// buffer anyway.
const IDLE_LOOK_MS: i32 = 1000;

/// How long after delivering records the event loop looks again for those that came without
/// waking it.
const LOOK_AGAIN_MS: i32 = 6;

/// The first set that has the map `name` (`@n`), and the map: maps of the same name are one
/// map, shared between sets.
fn first_with_map<'s>(
    sets: &'s [ProbeSet],
    name: &str,
) -> Option<(&'s ProbeSet, &'s scry_codegen::module::UserMap)> {
    sets.iter().find_map(|s| {
        let map = s.module.user_maps.iter().find(|m| m.decl.name == name)?;
        Some((s, map))
    })
}

/// The set a record came from, and its layout.
fn record_layout<'s>(
    sets: &'s [ProbeSet],
    rec: &[u8],
) -> Option<(SetId, &'s ProbeSet, &'s RecordLayout)> {
    let id = u64::from_le_bytes(rec.get(..8)?.try_into().ok()?);
    sets.iter()
        .enumerate()
        .find_map(|(i, s)| s.module.record(id).map(|layout| (SetId(i), s, layout)))
}

/// Handles one record; says which set it came from.
fn handle(
    sets: &[ProbeSet],
    render: &mut Renderer,
    exit_code: &mut Option<i32>,
    rec: &[u8],
    printer: &mut dyn Printer,
) -> io::Result<Option<SetId>> {
    let Some((id, set, layout)) = record_layout(sets, rec) else {
        return Ok(None);
    };
    if set.muted {
        return Ok(None);
    }
    Handler {
        object: &set.object,
        module: &set.module,
        render,
        exit_code,
    }
    .handle(layout, rec, printer)?;
    Ok(Some(id))
}

/// What handling a record needs: the maps it may read and where `exit()` leaves its code.
struct Handler<'a> {
    object: &'a Object,
    module: &'a Module,
    render: &'a mut Renderer,
    exit_code: &'a mut Option<i32>,
}

impl Handler<'_> {
    fn handle(
        &mut self,
        layout: &RecordLayout,
        rec: &[u8],
        printer: &mut dyn Printer,
    ) -> io::Result<()> {
        let word = |off: usize| {
            rec.get(off..off + 8)
                .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        match layout {
            RecordLayout::Printf { format, args, sink } => {
                let (object, module, render) = (self.object, self.module, &mut *self.render);
                let mut text = std::mem::take(&mut render.line);
                text.clear();
                let mut decode =
                    |kind: &FieldKind, bytes: &[u8]| render.value(object, module, kind, bytes);
                let trailer = Some(module.str_trailer.as_str());
                format_printf_into(&mut text, format, args, rec, trailer, &mut decode);
                let written = match sink {
                    Sink::Output => printer.text(TextKind::Printf, &text),
                    Sink::Cat => cat(&text, self.module.max_cat_bytes, printer),
                    Sink::System => system(&text, printer),
                    Sink::Message {
                        error, location, ..
                    } => {
                        let location = location.clone().unwrap_or_else(unknown_location);
                        printer.message(*error, &location, &String::from_utf8_lossy(&text))
                    }
                };
                self.render.line = text;
                written
            }
            RecordLayout::Event {
                format,
                names,
                args,
            } => {
                let (object, module, render) = (self.object, self.module, &mut *self.render);
                let mut decode =
                    |kind: &FieldKind, bytes: &[u8]| render.value(object, module, kind, bytes);
                let (text, fields) = if printer.wants_fields() {
                    let fields: Vec<(String, crate::output::value::Scalar)> = names
                        .iter()
                        .zip(args)
                        .map(|(name, field)| {
                            let bytes = rec.get(field.offset as usize..).unwrap_or(&[]);
                            (name.clone(), decode(&field.kind, bytes))
                        })
                        .collect();
                    (Vec::new(), fields)
                } else {
                    (format_printf(format, args, rec, &mut decode), Vec::new())
                };
                let wall_ns = render.wall_ns(word(8));
                printer.event(&text, wall_ns, &fields)
            }
            RecordLayout::HelperError {
                helper, location, ..
            } => {
                let retcode = word(8) as i64;
                let message = match (helper, retcode) {
                    (Helper::MapLookupElem, _) => {
                        "Can't lookup map element because it does not exist.".to_string()
                    }
                    (Helper::MapUpdateElem, -7) => {
                        "Map full; can't update element. Try increasing max_map_keys config or manually setting the max entries in a map declaration e.g. `let @a = hash(5000)`".to_string()
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
            RecordLayout::Print(field) => {
                let bytes = rec.get(field.offset as usize..).unwrap_or(&[]);
                let v = self
                    .render
                    .value(self.object, self.module, &field.kind, bytes);
                printer.value(&v)
            }
            RecordLayout::Time(format) => {
                printer.text(TextKind::Time, timestamp(format, now_ns()).as_bytes())
            }
            RecordLayout::Join { sep, max, cap } => {
                let n = (word(8) as u32).min(*max) as usize;
                let cap = *cap as usize;
                let parts: Vec<&[u8]> = (0..n)
                    .map(|i| c_str(rec.get(16 + i * cap..16 + (i + 1) * cap).unwrap_or(&[])))
                    .collect();
                printer.text(TextKind::Join, &parts.join(sep.as_bytes()))
            }
            RecordLayout::Exit => {
                *self.exit_code = Some(word(8) as i64 as i32);
                Ok(())
            }
            RecordLayout::MapOp { map, op } => {
                let map = &self.module.user_maps[*map];
                match op {
                    MapOpKind::Clear => maps::clear(self.object, self.module, map),
                    MapOpKind::Zero => maps::zero(self.object, self.module, map),
                    MapOpKind::Print => {
                        let top = word(8) as usize;
                        if let Some(d) = maps::dump(
                            self.object,
                            self.module,
                            self.render,
                            map,
                            top,
                            word(16),
                            true,
                        ) {
                            printer.map(&d)?;
                        }
                    }
                }
                Ok(())
            }
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

/// `cat(path)`: the file's first `limit` bytes; a file that cannot be read is reported on
/// stderr.
fn cat(path: &[u8], limit: u64, printer: &mut dyn Printer) -> io::Result<()> {
    let path = String::from_utf8_lossy(path).into_owned();
    let mut text = Vec::new();
    match std::fs::File::open(&path).and_then(|f| f.take(limit).read_to_end(&mut text)) {
        Ok(_) => printer.text(TextKind::Cat, &text),
        // Worded as bpftrace words it.
        Err(e) => {
            let reason = e
                .raw_os_error()
                .map_or_else(|| e.to_string(), crate::render::strerror);
            crate::output::to_stderr(&format!("ERROR: failed to open file '{path}' ({reason})\n"));
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

/// A program the kernel refused.
fn refused_error(prog: &Program, refused: raw_prog::Refused) -> RuntimeError {
    let insn_span = failing_insn(&refused.log).and_then(|slot| prog.span_at(slot));
    RuntimeError::Verifier {
        probe: prog.probe.clone(),
        attach_span: prog.attach_span,
        insn_span,
        errno: refused.errno,
        log: refused.log,
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

// The REPL delivers records on a thread of its own while its prompt loads more sets.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Session>();
};

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_failing_instruction() {
        let log =
            "0: R1=ctx() R10=fp0\n0: (bf) r9 = r1\n1: (bf) r0 = r2\nR2 !read_ok\nprocessed 2 insns";
        assert_eq!(super::failing_insn(log), Some(1));
    }
}
