//! Addresses to names: kernel addresses through `/proc/kallsyms`, user addresses through the
//! ELF symbol tables of the files a process has mapped. Frames are `name+offset`, or hex when
//! no symbol covers the address.

use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::path::Path;

/// Symbols sorted by address.
#[derive(Default)]
struct Table {
    syms: Vec<(u64, String)>,
}

/// Past this far beyond a symbol, an address is not in it: no function is this large, and
/// the last symbol before a gap (`_einittext`) is no name for what lies in it.
const LARGEST_FUNCTION: u64 = 1 << 20;

impl Table {
    fn find(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.syms.partition_point(|(a, _)| *a <= addr);
        let (start, name) = self.syms.get(i.checked_sub(1)?)?;
        let offset = addr - start;
        (offset < LARGEST_FUNCTION).then_some((name, offset))
    }
}

/// A mapped file: where it is in the address space and how file offsets map to its addresses.
struct Mapping {
    start: u64,
    end: u64,
    offset: u64,
    path: String,
}

#[derive(Default)]
pub struct Symbolizer {
    kernel: Option<Table>,
    /// By pid: the process's file mappings, read the first time one of its stacks is printed.
    processes: HashMap<u32, Vec<Mapping>>,
    /// By path: symbols keyed by file offset.
    files: HashMap<String, Option<Table>>,
}

impl Symbolizer {
    /// `ksym()`: the name of the function holding `addr`, or hex.
    pub fn kernel_name(&mut self, addr: u64) -> String {
        name(self.kernel_find(addr), addr)
    }

    /// `usym()`: the name of the function holding `addr` in process `pid`, or hex.
    pub fn user_name(&mut self, pid: u32, addr: u64) -> String {
        name(self.user_find(pid, addr), addr)
    }

    /// The kernel function holding `addr`, and the offset in it.
    pub fn kernel_symbol(&mut self, addr: u64) -> Option<(String, u64)> {
        self.kernel_find(addr).map(|(n, o)| (n.to_string(), o))
    }

    /// The function holding `addr` in process `pid`, and the offset in it.
    pub fn user_symbol(&mut self, pid: u32, addr: u64) -> Option<(String, u64)> {
        self.user_find(pid, addr).map(|(n, o)| (n.to_string(), o))
    }

    fn kernel_find(&mut self, addr: u64) -> Option<(&str, u64)> {
        self.kernel.get_or_insert_with(kallsyms).find(addr)
    }

    fn user_find(&mut self, pid: u32, addr: u64) -> Option<(&str, u64)> {
        let maps = self.processes.entry(pid).or_insert_with(|| mappings(pid));
        let m = maps.iter().find(|m| m.start <= addr && addr < m.end)?;
        let file_off = addr - m.start + m.offset;
        // Through the process's root (it may be in a container); once it has exited, as the
        // path reads here.
        let path = format!("/proc/{pid}/root{}", m.path);
        let table = self
            .files
            .entry(m.path.clone())
            .or_insert_with(|| elf_symbols(&path).or_else(|| elf_symbols(&m.path)));
        table.as_ref()?.find(file_off)
    }
}

fn name(sym: Option<(&str, u64)>, addr: u64) -> String {
    match sym {
        Some((name, _)) => name.to_string(),
        None => format!("0x{addr:x}"),
    }
}

/// The address of a kernel symbol by name (the first, where names repeat).
pub fn kernel_address(name: &str) -> Option<u64> {
    // Built once: a glob over kprobes asks for every function it names.
    static BY_NAME: std::sync::OnceLock<std::collections::HashMap<&'static str, u64>> =
        std::sync::OnceLock::new();
    let map = BY_NAME.get_or_init(|| {
        let mut map = std::collections::HashMap::new();
        for s in kernel_symbols() {
            map.entry(s.name.as_str()).or_insert(s.address);
        }
        map
    });
    map.get(name).copied()
}

/// The user functions that probes attached to many at once run for, by the index their
/// cookie holds (`Formatted::Function`): every loaded set's, for as long as scry runs. A name
/// has one index, so `@[func]` has one key per function whichever link counted it.
#[derive(Default)]
struct Functions {
    names: Vec<String>,
    index: std::collections::HashMap<String, u64>,
}

static FUNCTIONS: std::sync::Mutex<Option<Functions>> = std::sync::Mutex::new(None);

/// The cookies of functions for `Formatted::Function`: each name's index in the table,
/// added when new.
pub fn function_cookies(names: &[String]) -> Vec<u64> {
    let mut table = FUNCTIONS.lock().unwrap_or_else(|e| e.into_inner());
    let table = table.get_or_insert_with(Functions::default);
    names
        .iter()
        .map(|n| {
            if let Some(&i) = table.index.get(n) {
                return i;
            }
            let i = table.names.len() as u64;
            table.names.push(n.clone());
            table.index.insert(n.clone(), i);
            i
        })
        .collect()
}

/// A function by the cookie `function_cookies` gave it.
pub fn function_name(cookie: u64) -> Option<String> {
    let table = FUNCTIONS.lock().unwrap_or_else(|e| e.into_inner());
    let names = &table.as_ref()?.names;
    names.get(usize::try_from(cookie).ok()?).cloned()
}

/// One line of `/proc/kallsyms`.
pub struct KernelSymbol {
    pub address: u64,
    /// Code (`t`, `T`, `w`, `W`) rather than data.
    pub text: bool,
    pub name: String,
}

/// `/proc/kallsyms`, read and parsed once for what needs the kernel's own functions: `kaddr`,
/// and the functions kprobes attach to.
pub fn kernel_symbols() -> &'static [KernelSymbol] {
    static SYMBOLS: std::sync::OnceLock<Vec<KernelSymbol>> = std::sync::OnceLock::new();
    SYMBOLS.get_or_init(read_kallsyms)
}

fn read_kallsyms() -> Vec<KernelSymbol> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let address = u64::from_str_radix(parts.next()?, 16).ok()?;
            let kind = parts.next()?;
            Some(KernelSymbol {
                address,
                text: matches!(kind, "t" | "T" | "w" | "W"),
                name: parts.next()?.to_string(),
            })
        })
        .collect()
}

/// The code symbols for stacks and `ksym`, read when the first is symbolized rather than
/// shared with `kernel_symbols`: by then the kernel lists scry's own programs (a BEGIN
/// block's stack holds one) and modules loaded since scry started.
fn kallsyms() -> Table {
    let mut syms: Vec<(u64, String)> = read_kallsyms()
        .into_iter()
        .filter(|s| s.text && s.address != 0)
        .map(|s| (s.address, s.name))
        .collect();
    syms.sort();
    Table { syms }
}

/// The paths of the files process `pid` has mapped, as that process sees them.
pub fn mapped_paths(pid: u32) -> Vec<String> {
    mappings(pid).into_iter().map(|m| m.path).collect()
}

/// The mappings of processes that may exit before their stacks are printed, as last read
/// while they ran (`keep_mappings`).
static KEPT: std::sync::Mutex<Option<HashMap<u32, String>>> = std::sync::Mutex::new(None);

/// How often a kept process's mappings are read again: every millisecond at first, to see
/// the libraries of a command that runs for only a few, then every `KEEP_LATER`; and never
/// more often than keeps the reading under 2% of a CPU (a process with thousands of mappings
/// takes milliseconds to read).
const KEEP_FIRST: std::time::Duration = std::time::Duration::from_millis(1);
const KEEP_LATER: std::time::Duration = std::time::Duration::from_millis(20);
/// How many reads are `KEEP_FIRST` apart.
const KEEP_FIRST_READS: u32 = 100;
/// The pause after a round of reads is at least this many times the round's time.
const KEEP_COST_FACTOR: u32 = 50;

/// Reads the mappings of `pid` and of the processes it starts, in the background for as long
/// as they run, so that their user stacks can still be symbolized once they have exited: a
/// `-c` command has, most often, by the time the maps are printed (and `sh -c '…'` has
/// started the program that matters). Mappings are kept only once a process runs another
/// program than scry (a command not yet past its exec has scry's).
pub fn keep_mappings(pid: u32) {
    let own = std::fs::read_link("/proc/self/exe").ok();
    std::thread::spawn(move || {
        let mut watched = vec![pid];
        for read in 0.. {
            let started = thread_cpu_time();
            watched.retain(|&p| keep(p, own.as_deref()));
            if watched.is_empty() {
                break;
            }
            for p in watched.clone() {
                for child in children(p) {
                    if !watched.contains(&child) {
                        watched.push(child);
                    }
                }
            }
            let base = if read < KEEP_FIRST_READS {
                KEEP_FIRST
            } else {
                KEEP_LATER
            };
            // The reading's cost is the CPU time it took, not the time it was waiting for a
            // CPU on a busy machine.
            let cost = thread_cpu_time().saturating_sub(started);
            std::thread::sleep(base.max(cost * KEEP_COST_FACTOR));
        }
    });
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> std::time::Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `t` is.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Keeps `pid`'s mappings as they are now; false once it has exited (a zombie's are empty).
fn keep(pid: u32, own: Option<&Path>) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    if text.is_empty() {
        return false;
    }
    if exe.is_some() && exe.as_deref() != own {
        KEPT.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(pid, text);
    }
    true
}

/// The processes `pid`'s main thread has started and that still run.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn mappings(pid: u32) -> Vec<Mapping> {
    let mut text = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    if text.is_empty() {
        let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = kept.as_ref().and_then(|k| k.get(&pid)) {
            text = t.clone();
        }
    }
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (start, end) = parts.next()?.split_once('-')?;
            let _perms = parts.next()?;
            let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
            let _dev = parts.next()?;
            let _inode = parts.next()?;
            let path = parts.next()?;
            if !path.starts_with('/') {
                return None;
            }
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset,
                path: path.to_string(),
            })
        })
        .collect()
}

/// A function (or other code symbol) defined in an ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfFunction {
    pub name: String,
    /// Its virtual address, as the symbol table gives it.
    pub address: u64,
    /// Where its code is in the file: what uprobes attach to.
    pub file_offset: u64,
}

/// The code symbols an ELF file defines (symbol table and dynamic symbols), sorted by file
/// offset; aliases (several names at one offset) are all there, each name once.
pub fn elf_functions(path: &str) -> Option<Vec<ElfFunction>> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let mut out: Vec<ElfFunction> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.is_definition() && s.address() != 0)
        .filter_map(|s| {
            let address = s.address();
            let file_offset = file_offset(&file, address)?;
            Some(ElfFunction {
                name: s.name().ok()?.to_string(),
                address,
                file_offset,
            })
        })
        .collect();
    out.sort_by(|a, b| a.file_offset.cmp(&b.file_offset).then(a.name.cmp(&b.name)));
    out.dedup();
    Some(out)
}

/// The file offset of a virtual address of an ELF file, through the loadable segment whose
/// file-backed part holds it.
pub fn file_offset<'d, R: object::ReadRef<'d>>(
    file: &object::File<'d, R>,
    address: u64,
) -> Option<u64> {
    file.segments().find_map(|s| {
        let (start, size) = s.file_range();
        (s.address() <= address && address < s.address() + size)
            .then(|| address - s.address() + start)
    })
}

/// The address of a symbol an ELF file defines, as its symbol tables give it.
pub fn symbol_address<'d, R: object::ReadRef<'d>>(
    file: &object::File<'d, R>,
    name: &str,
) -> Option<u64> {
    file.symbols()
        .chain(file.dynamic_symbols())
        .find(|s| s.is_definition() && s.name() == Ok(name))
        .map(|s| s.address())
}

/// Function symbols of an ELF file, keyed by file offset.
fn elf_symbols(path: &str) -> Option<Table> {
    let mut syms: Vec<(u64, String)> = elf_functions(path)?
        .into_iter()
        .map(|f| (f.file_offset, f.name))
        .collect();
    syms.dedup_by_key(|(off, _)| *off);
    Some(Table { syms })
}
