//! Probe sets added to and removed from a running session (what the REPL is built on): a later
//! set reads and writes the maps of an earlier one by name, records of every set come through
//! the one ring buffer, a detached set stops while its maps stay, and a set that fails to load
//! leaves nothing behind.

use scry_codegen::{compile, CompileOptions};
use scry_lang::typed::MapDecl;
use scry_lang::{check_with_maps, parse, CheckOptions};
use scry_runtime::output::{Buffering, TextPrinter};
use scry_runtime::probes::KernelResolver;
use scry_runtime::{Session, SetId};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

/// A session's blocks, compiled as the REPL compiles them: each knows the maps before it.
struct Blocks {
    maps: Vec<MapDecl>,
    records: u32,
    prefix: String,
}

impl Blocks {
    /// Blocks whose programs' names start with `prefix`.
    fn new(prefix: String) -> Blocks {
        Blocks {
            maps: Vec::new(),
            records: 0,
            prefix,
        }
    }

    fn add(&mut self, session: &mut Session, text: &str) -> Result<SetId, String> {
        let ast = parse(text).unwrap();
        let typed = check_with_maps(
            &ast,
            &KernelResolver::default(),
            &CheckOptions::default(),
            &self.maps,
        )
        .unwrap_or_else(|d| panic!("{text}: {d:?}"));
        let options = CompileOptions {
            name_prefix: self.prefix.clone(),
            first_record: self.records,
            shared: true,
            ncpus: scry_runtime::bpf_map::possible_cpus() as u32,
            ..Default::default()
        };
        let module = compile(&typed, &options).unwrap();
        let records = module.records.len() as u32;
        let set = session.add(module).map_err(|e| e.to_string())?;
        self.maps = typed.maps;
        self.records += records;
        Ok(set)
    }
}

/// The tests count this process's links: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn kernel() -> bool {
    if scry_runtime::privileges::can_trace() {
        return true;
    }
    assert_ne!(
        std::env::var("SCRY_REQUIRE_KERNEL").as_deref(),
        Ok("1"),
        "SCRY_REQUIRE_KERNEL=1 needs root"
    );
    false
}

fn getppid(times: usize) {
    for _ in 0..times {
        // SAFETY: no arguments, no memory.
        unsafe { libc::getppid() };
    }
}

fn loaded_with_prefix(prefix: &str) -> usize {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| n.starts_with(prefix)))
        .count()
}

#[test]
fn sets_share_maps_and_detach_alone() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = format!("sets{:x}", std::process::id());
    let mut blocks = Blocks::new(prefix.clone());
    let out = Captured::default();
    let mut printer = TextPrinter::new(Box::new(out.clone()), Buffering::Line);
    let mut session = Session::new(Default::default());
    session.share_maps().unwrap();
    let me = std::process::id();

    let counting = blocks
        .add(
            &mut session,
            &format!("tracepoint:syscalls:sys_enter_getppid /pid == {me}/ {{ @n = count(); @last = 7; }}"),
        )
        .unwrap();
    session.attach(counting, None).unwrap();
    getppid(3);

    // A later set reads both maps by name, and its record ids follow the first set's.
    let reading = blocks
        .add(
            &mut session,
            "BEGIN { printf(\"last=%d\\n\", @last); print(@n); @last = 9; }",
        )
        .unwrap();
    session.run_begin(reading).unwrap();
    session.deliver_pending(&mut printer).unwrap();
    assert_eq!(out.take(), "last=7\n@n: 3\n");

    // Detached, the first set counts no more; its map stays.
    drop(session.detach(counting));
    getppid(2);
    assert!(session.print_map("@n", &mut printer).unwrap());
    assert_eq!(out.take(), "@n: 3\n");

    // A set that fails to load (its second new map is too big to create) leaves nothing
    // loaded, and its first new map unpinned: not shared with a later block.
    let pinned = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let before = (loaded_with_prefix(&prefix), pinned("/sys/fs/bpf"));
    let bad =
        "let @z = lruhash(4000000000); tracepoint:syscalls:sys_enter_getppid { @y = 1; @z = 2; }";
    let error = blocks.add(&mut session, bad).unwrap_err();
    assert!(error.contains("m3_z"), "{error}");
    assert_eq!((loaded_with_prefix(&prefix), pinned("/sys/fs/bpf")), before);
    assert_eq!(session.map_names(), vec!["@last", "@n"]);

    session.finish(&mut printer, true).unwrap();
    assert_eq!(out.take(), "\n\n@last: 9\n@n: 3\n");
    drop(session);
    assert_eq!(loaded_with_prefix(&prefix), 0);
}

/// What keeps probes attached that this process holds open: BPF links (aya attaches a
/// tracepoint's perf event through one) and perf events.
fn attachments() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|l| {
            let l = l.to_string_lossy();
            l.contains("bpf_link") || l.contains("perf_event")
        })
        .count()
}

#[test]
fn detaching_leaves_the_closing_to_whoever_drops_it() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut blocks = Blocks::new(format!("det{:x}", std::process::id()));
    let mut session = Session::new(Default::default());
    session.share_maps().unwrap();
    let base = attachments();
    let set = blocks
        .add(
            &mut session,
            "tracepoint:syscalls:sys_enter_get* { @[probe] = count(); }",
        )
        .unwrap();
    session.attach(set, None).unwrap();
    let attached = attachments() - base;
    assert!(attached >= 10, "{attached} tracepoints attached");
    // Detached at once; the events close only when `Detached` goes (the REPL drops it on a
    // thread of its own, so the prompt never waits for the kernel).
    let detached = session.detach(set);
    assert_eq!(attachments() - base, attached);
    assert!(session.attached_sets().is_empty());
    drop(detached);
    assert_eq!(attachments(), base);
}

#[test]
fn a_detached_set_stops_before_its_events_close() {
    if !kernel() {
        return;
    }
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut blocks = Blocks::new(format!("stop{:x}", std::process::id()));
    let out = Captured::default();
    let mut printer = TextPrinter::new(Box::new(out.clone()), Buffering::Line);
    let mut session = Session::new(Default::default());
    let me = std::process::id();
    let set = blocks
        .add(
            &mut session,
            &format!("tracepoint:syscalls:sys_enter_getppid /pid == {me}/ {{ @n = count(); }}"),
        )
        .unwrap();
    session.attach(set, None).unwrap();
    getppid(3);
    // The probe is still attached while `detached` is held, but its program counts no more.
    let detached = session.detach(set);
    getppid(4);
    assert!(session.print_map("@n", &mut printer).unwrap());
    assert_eq!(out.take(), "@n: 3\n");
    drop(detached);
}
