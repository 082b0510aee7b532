//! Map access by raw `bpf(2)` commands on a map's fd: keys and values as bytes, whatever
//! their layout. aya's typed maps need the key and value types at compile time; scry's maps
//! are laid out by the script.

use aya::maps::{Map, MapData};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

/// The `bpf_attr` layout of the map element commands.
#[repr(C)]
struct ElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value_or_next: u64,
    flags: u64,
}

/// A map seen as bytes.
pub struct RawMap {
    fd: RawFd,
    pub key_size: usize,
    /// Bytes of a value as userspace reads it: for per-CPU maps, every possible CPU's value,
    /// each padded to 8 bytes.
    pub value_size: usize,
}

/// The map data behind the map kinds scry creates.
pub fn map_data(map: &Map) -> Option<&MapData> {
    match map {
        Map::HashMap(m)
        | Map::PerCpuHashMap(m)
        | Map::LruHashMap(m)
        | Map::PerCpuLruHashMap(m)
        | Map::Array(m)
        | Map::PerCpuArray(m)
        | Map::StackTraceMap(m)
        | Map::RingBuf(m) => Some(m),
        _ => None,
    }
}

impl RawMap {
    pub fn new(data: &MapData, key_size: u32, value_size: u32, per_cpu: bool) -> RawMap {
        let value_size = if per_cpu {
            value_size.next_multiple_of(8) as usize * possible_cpus()
        } else {
            value_size as usize
        };
        RawMap {
            fd: data.fd().as_fd().as_raw_fd(),
            key_size: key_size as usize,
            value_size,
        }
    }

    fn call(&self, cmd: libc::c_long, key: u64, value: u64, flags: u64) -> io::Result<()> {
        let attr = ElemAttr {
            map_fd: self.fd as u32,
            _pad: 0,
            key,
            value_or_next: value,
            flags,
        };
        // SAFETY: `attr` is a valid bpf_attr prefix for the element commands; the key and
        // value pointers point to buffers of the map's key and value sizes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                &attr as *const ElemAttr,
                std::mem::size_of::<ElemAttr>() as u32,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Every key, in the map's order.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut next = vec![0u8; self.key_size.max(1)];
        let mut prev: Option<Vec<u8>> = None;
        // A bounded walk: a map changing under us cannot make it loop forever.
        for _ in 0..1_000_000 {
            let key_ptr = prev.as_ref().map_or(0, |k| k.as_ptr() as u64);
            if self
                .call(BPF_MAP_GET_NEXT_KEY, key_ptr, next.as_mut_ptr() as u64, 0)
                .is_err()
            {
                break;
            }
            out.push(next.clone());
            prev = Some(next.clone());
        }
        out
    }

    pub fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut value = vec![0u8; self.value_size];
        self.call(
            BPF_MAP_LOOKUP_ELEM,
            key.as_ptr() as u64,
            value.as_mut_ptr() as u64,
            0,
        )
        .ok()?;
        Some(value)
    }

    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.call(
            BPF_MAP_UPDATE_ELEM,
            key.as_ptr() as u64,
            value.as_ptr() as u64,
            0,
        )
    }

    pub fn delete(&self, key: &[u8]) -> io::Result<()> {
        self.call(BPF_MAP_DELETE_ELEM, key.as_ptr() as u64, 0, 0)
    }
}

/// The number of possible CPUs: per-CPU values come in this many copies.
pub fn possible_cpus() -> usize {
    aya::util::nr_cpus().unwrap_or(1)
}
