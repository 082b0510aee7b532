//! The one place where the raw bytes a probe recorded become values users read: integers and
//! strings, stacks and symbols (`ksym`, `usym`), user names, error messages, syscall names,
//! network addresses, wall-clock times, cgroup paths, buffers and tuples of any of these.

mod cgroups;
mod syscalls;

use crate::object::Object;
use crate::output::value::{Frame, Scalar, Stack};
use crate::symbols::Symbolizer;
use aya::maps::StackTraceMap;
use scry_codegen::module::{FieldKind, MapId};
use scry_codegen::Module;
use scry_lang::types::{Formatted, RecordView, StackMode, View};
use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::net::{Ipv4Addr, Ipv6Addr};

const AF_INET6: u64 = 10;

/// Decodes fields, with the caches that makes cheap: symbol tables and the user database.
pub struct Renderer {
    pub symbols: Symbolizer,
    users: Option<HashMap<u32, String>>,
    cgroups: cgroups::Cgroups,
    /// CLOCK_REALTIME minus CLOCK_BOOTTIME, in ns: turns an `nsecs` time into a wall-clock one.
    boot_to_wall: i128,
    /// The text of one printf record, kept from record to record so that formatting one
    /// allocates nothing.
    pub line: Vec<u8>,
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer {
            symbols: Symbolizer::default(),
            users: None,
            cgroups: cgroups::Cgroups::default(),
            boot_to_wall: clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_BOOTTIME),
            line: Vec::new(),
        }
    }
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map_or(0, |s| u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

/// A string of capacity `cap`: the bytes up to the first NUL, or, when it filled its capacity
/// (it was truncated), all of them and `trailer`.
pub fn string(bytes: &[u8], cap: u32, trailer: &str) -> String {
    let s = bytes.get(..cap as usize).unwrap_or(bytes);
    let text = c_str(s);
    let mut out = String::from_utf8_lossy(text).into_owned();
    if text.len() == cap as usize && cap > 0 {
        out.push_str(trailer);
    }
    out
}

/// The bytes up to the first NUL (found a word at a time, not byte by byte: this runs for
/// every string of every record).
pub fn c_str(b: &[u8]) -> &[u8] {
    match std::ffi::CStr::from_bytes_until_nul(b) {
        Ok(s) => s.to_bytes(),
        Err(_) => b,
    }
}

impl Renderer {
    /// The value of a field whose bytes start at `bytes[0]`.
    pub fn value(
        &mut self,
        object: &Object,
        module: &Module,
        kind: &FieldKind,
        bytes: &[u8],
    ) -> Scalar {
        match kind {
            FieldKind::Int(ty) => {
                let v = u64_at(bytes, 0);
                if ty.signed {
                    Scalar::Int(v as i64)
                } else {
                    Scalar::UInt(v)
                }
            }
            FieldKind::Bool => Scalar::Bool(u64_at(bytes, 0) != 0),
            FieldKind::Pointer => Scalar::Pointer(u64_at(bytes, 0)),
            FieldKind::Array(view) => member(view, bytes),
            FieldKind::Enum(e) => {
                let v = u64_at(bytes, 0) as i64;
                match e.name_of(v) {
                    Some(name) => Scalar::Enum {
                        name: name.to_string(),
                        value: v,
                    },
                    None if e.int.signed => Scalar::Int(v),
                    None => Scalar::UInt(v as u64),
                }
            }
            FieldKind::Str(cap) => Scalar::Str(string(bytes, *cap, &module.str_trailer)),
            FieldKind::Stack { map, user, mode } => {
                Scalar::Stack(self.stack(object, module, *map, *user, *mode, u64_at(bytes, 0)))
            }
            FieldKind::Tuple { fields, names } => {
                let values = fields.iter().map(|f| {
                    let at = bytes.get(f.offset as usize..).unwrap_or(&[]);
                    self.value(object, module, &f.kind, at)
                });
                if names.is_empty() {
                    Scalar::Tuple(values.collect())
                } else {
                    Scalar::Record(names.iter().cloned().zip(values).collect())
                }
            }
            FieldKind::Formatted(f) => self.formatted(f, bytes),
        }
    }

    fn formatted(&mut self, kind: &Formatted, bytes: &[u8]) -> Scalar {
        let word = u64_at(bytes, 0);
        let text = match kind {
            Formatted::Ksym => self.symbols.kernel_name(word),
            Formatted::Usym => self.symbols.user_name(u64_at(bytes, 8) as u32, word),
            Formatted::Username => self.user(word as u32),
            Formatted::Timestamp { format } => {
                timestamp(format, i128::from(word) + self.boot_to_wall)
            }
            Formatted::Errno => strerror(word as i32),
            Formatted::ErrnoName => errno_name(word as i64),
            Formatted::Syscall => syscall_name(word),
            Formatted::Signal => signal_name(word as i64),
            Formatted::CgroupPath { filter } => self.cgroups.path(word, filter),
            Formatted::Function => {
                crate::symbols::function_name(word).unwrap_or_else(|| format!("0x{word:x}"))
            }
            Formatted::Inet => inet(word, bytes.get(8..24).unwrap_or(&[])),
            Formatted::Macaddr => bytes
                .iter()
                .take(6)
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
            Formatted::Buffer(cap) => {
                let len = (word as usize).min(*cap as usize);
                return Scalar::Bytes(bytes.get(8..8 + len).unwrap_or(&[]).to_vec());
            }
            Formatted::Record(view) => return record(view, bytes),
            Formatted::Strings { max, cap } => {
                let (n, cap) = ((word as u32).min(*max) as usize, *cap as usize);
                let text = |i: usize| {
                    let s = c_str(bytes.get(8 + i * cap..8 + (i + 1) * cap).unwrap_or(&[]));
                    String::from_utf8_lossy(s).into_owned()
                };
                return Scalar::Strings((0..n).map(text).collect());
            }
        };
        Scalar::Str(text)
    }

    /// A CLOCK_BOOTTIME time as wall-clock nanoseconds since the epoch.
    pub fn wall_ns(&self, boot_ns: u64) -> i128 {
        i128::from(boot_ns) + self.boot_to_wall
    }

    /// Symbolizes the stack with this id in the stack map `map` (empty when it has none).
    pub fn stack(
        &mut self,
        object: &Object,
        module: &Module,
        map: MapId,
        user: bool,
        mode: StackMode,
        raw: u64,
    ) -> Stack {
        let id = raw as u32 as i32;
        let pid = (raw >> 32) as u32;
        let trace = (id >= 0)
            .then(|| object.map(&module.maps[map.0].name))
            .flatten()
            .and_then(|m| StackTraceMap::try_from(m).ok())
            .and_then(|stacks| stacks.get(&(id as u32), 0).ok());
        // Past the first frame, each address is where a call returns to: the call is the
        // byte before it. A call that ends its function (to a function that does not return)
        // returns past the end, into the next symbol; looking up the byte before finds the
        // caller.
        let frames = trace.map_or_else(Vec::new, |trace| {
            trace
                .frames()
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let back = u64::from(i > 0 && f.ip > 0);
                    let at = f.ip - back;
                    let symbol = match mode {
                        StackMode::Raw => None,
                        _ if user => self.symbols.user_symbol(pid, at),
                        _ => self.symbols.kernel_symbol(at),
                    };
                    Frame {
                        ip: f.ip,
                        symbol: symbol.map(|(name, offset)| (name, offset + back)),
                    }
                })
                .collect()
        });
        Stack { frames, user, mode }
    }

    /// A uid's name from the user database, or the number when it has none.
    fn user(&mut self, uid: u32) -> String {
        let users = self.users.get_or_insert_with(|| {
            let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            text.lines()
                .filter_map(|l| {
                    let mut parts = l.split(':');
                    let name = parts.next()?;
                    let uid = parts.nth(1)?.parse().ok()?;
                    Some((uid, name.to_string()))
                })
                .collect()
        });
        users.get(&uid).cloned().unwrap_or_else(|| uid.to_string())
    }
}

/// A record's members from its bytes.
fn record(view: &RecordView, bytes: &[u8]) -> Scalar {
    Scalar::Record(
        view.members
            .iter()
            .map(|(name, offset, v)| {
                let at = bytes.get(*offset as usize..).unwrap_or(&[]);
                (name.clone(), member(v, at))
            })
            .collect(),
    )
}

fn member(view: &View, bytes: &[u8]) -> Scalar {
    let raw = |n: usize| {
        let mut b = [0u8; 8];
        let n = n.min(8).min(bytes.len());
        b[..n].copy_from_slice(&bytes[..n]);
        u64::from_le_bytes(b)
    };
    match view {
        View::Int {
            bytes: n,
            signed,
            bitfield,
        } => {
            let (v, bits) = match bitfield {
                Some((shift, width)) => ((raw(8) >> shift) & ((1u64 << width) - 1), *width as u32),
                None => (raw(*n as usize), u32::from(*n) * 8),
            };
            if *signed && bits < 64 && v >> (bits - 1) & 1 == 1 {
                Scalar::Int((v | !((1u64 << bits) - 1)) as i64)
            } else if *signed {
                Scalar::Int(v as i64)
            } else {
                Scalar::UInt(v)
            }
        }
        View::Bool => Scalar::Bool(raw(1) != 0),
        View::Pointer => Scalar::Pointer(raw(8)),
        View::Str(len) => {
            let s = bytes.get(..*len as usize).unwrap_or(bytes);
            Scalar::Str(String::from_utf8_lossy(c_str(s)).into_owned())
        }
        View::Record(inner) => record(inner, bytes),
        View::Array {
            elem,
            elem_size,
            len,
        } => Scalar::Array(
            (0..*len as usize)
                .map(|i| member(elem, bytes.get(i * *elem_size as usize..).unwrap_or(&[])))
                .collect(),
        ),
        View::Opaque => Scalar::Str(String::new()),
    }
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    i128::from(crate::clock::clock_ns(clock))
}

/// The wall-clock time now, in ns since the epoch.
pub fn now_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// `strftime` in local time, with bpftrace's `%f` (microseconds) added.
pub fn timestamp(format: &str, wall_ns: i128) -> String {
    let secs = wall_ns.div_euclid(1_000_000_000);
    let micros = wall_ns.rem_euclid(1_000_000_000) / 1000;
    let format = format.replace("%f", &format!("{micros:06}"));
    let Ok(cformat) = CString::new(format) else {
        return String::new();
    };
    let t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is valid; localtime_r fills it from a valid time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&t, &mut tm) };
    let mut buf = vec![0u8; 256];
    // SAFETY: `buf` has the length passed; the format is NUL-terminated; `tm` is initialized.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cformat.as_ptr(), &tm) };
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

/// An errno value's name (`ENOENT` for 2 or -2) as the C library knows it; the number when
/// it has none.
fn errno_name(e: i64) -> String {
    extern "C" {
        fn strerrorname_np(errnum: libc::c_int) -> *const libc::c_char;
    }
    let n = e.unsigned_abs();
    if n == 0 || n > 4095 {
        return e.to_string();
    }
    // SAFETY: glibc's strerrorname_np returns a static NUL-terminated string, or NULL.
    let name = unsafe { strerrorname_np(n as libc::c_int) };
    if name.is_null() {
        return e.to_string();
    }
    // SAFETY: checked non-NULL above.
    unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned()
}

/// The C library's message for an errno value.
/// A signal's description as the C library gives it (`Interrupt`); `N/A` past the signals
/// there are, as bpftrace shows it.
fn signal_name(sig: i64) -> String {
    if !(0..=64).contains(&sig) {
        return "N/A".to_string();
    }
    // SAFETY: strsignal returns a NUL-terminated string (or NULL), read at once.
    let text = unsafe { libc::strsignal(sig as i32) };
    if text.is_null() {
        return "N/A".to_string();
    }
    // SAFETY: checked non-NULL above; strsignal's strings are NUL-terminated.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

pub fn strerror(e: i32) -> String {
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: the buffer and its length match; the XSI strerror_r writes a NUL-terminated message.
    let rc = unsafe { libc::strerror_r(e, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {e}");
    }
    // SAFETY: strerror_r succeeded, so `buf` holds a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn syscall_name(nr: u64) -> String {
    let table: &[&str] = if cfg!(target_arch = "x86_64") {
        syscalls::X86_64
    } else {
        &[]
    };
    match usize::try_from(nr).ok().and_then(|i| table.get(i)) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => nr.to_string(),
    }
}

/// An address family and its address bytes as text.
fn inet(family: u64, addr: &[u8]) -> String {
    if family == AF_INET6 {
        let mut b = [0u8; 16];
        b[..addr.len().min(16)].copy_from_slice(&addr[..addr.len().min(16)]);
        Ipv6Addr::from(b).to_string()
    } else {
        let mut b = [0u8; 4];
        b[..addr.len().min(4)].copy_from_slice(&addr[..addr.len().min(4)]);
        Ipv4Addr::from(b).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_table_lookups() {
        assert_eq!(strerror(2), "No such file or directory");
        assert_eq!(syscall_name(59), "execve");
        assert_eq!(syscall_name(100_000), "100000");
        assert_eq!(inet(2, &[127, 0, 0, 1]), "127.0.0.1");
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(inet(10, &v6), "::1");
    }

    #[test]
    fn timestamps_take_microseconds() {
        let t = timestamp("%Y %f", 1_000_000_123_456);
        assert!(t.ends_with(" 000123"), "{t}");
    }
}
